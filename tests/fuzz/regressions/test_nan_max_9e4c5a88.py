"""Fuzzer finding (wrong), written by tests/fuzz/run.py.

triton: NaN positions differ at [0, 0]: 1.3642578125 vs nan
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:nan-max"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a2: td.Tensor):
    return td.max(td.minimum(a2, a2), 0, keepdims=True)
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a2):
    return torch.amax(torch.minimum(a2, a2), dim=0, keepdim=True)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float16',
                          'kind': 'tensor',
                          'layout': 'T',
                          'nan': True,
                          'seed': 12308,
                          'shape': [5, 5]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['axis', 'leaf-f', 'minimum', 'multi-call', 'rank3', 'red-max']})


def test_fuzz_nan_max_9e4c5a88():
    check_case_dict(CASE)
