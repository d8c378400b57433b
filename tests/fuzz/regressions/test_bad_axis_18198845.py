"""Fuzzer finding (accepts-invalid), written by tests/fuzz/run.py.

the oracle raised IndexError: Dimension out of range (expected to be in range of [-1, 0], but got 1), but ir, triton ran
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:bad-axis"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a2: td.Tensor):
    return td.sum(a2, 1, keepdims=True)
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a2):
    return torch.sum(a2, dim=1, keepdim=True)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'bfloat16',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': False,
                          'seed': 2,
                          'shape': [8]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['axis', 'bad-axis', 'leaf-f', 'rank1', 'red-sum']})


def test_fuzz_bad_axis_18198845():
    check_case_dict(CASE)
