"""Fuzzer finding (wrong), written by tests/fuzz/run.py.

triton: NaN positions differ at [2, 0, 0]: nan vs 1.9375
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:triton-bf16"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor):
    return (a0 - -1.25)
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a0):
    return (a0 - -1.25)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'bfloat16',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': False,
                          'seed': 339,
                          'shape': [5, 1, 2]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['leaf-f', 'num-sub', 'pynum', 'rank3']})


def test_fuzz_triton_bf16_abc99b7a():
    check_case_dict(CASE)
