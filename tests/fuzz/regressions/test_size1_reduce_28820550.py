"""Fuzzer finding (raw), written by tests/fuzz/run.py.

ir raised KeyError: 1
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:size1-reduce"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor):
    return td.argmax(a0, 0)
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a0):
    return torch.argmax(a0, dim=0)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'bfloat16',
                          'kind': 'tensor',
                          'layout': 'strided',
                          'nan': False,
                          'seed': 1,
                          'shape': [1, 2]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['axis', 'leaf-f', 'rank2', 'red-argmax']})


def test_fuzz_size1_reduce_28820550():
    check_case_dict(CASE)
