"""Fuzzer finding (wrong), written by tests/fuzz/run.py.

triton: NaN positions differ at [1]: nan vs 2.015625
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:positional-constexpr"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor, C: td.constexpr):
    return (C + a0)
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a0, C):
    return (torch.as_tensor(C) + a0)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'bfloat16',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': False,
                          'seed': 328,
                          'shape': [64]},
                         {'cx': True, 'kind': 'num', 'value': 3}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['cx-positional', 'leaf-n', 'multi-call', 'rank1']})


def test_fuzz_positional_constexpr_81a40132():
    check_case_dict(CASE)
