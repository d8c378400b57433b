"""Fuzzer finding (raw), written by tests/fuzz/run.py.

triton raised InterpreterError: AttributeError("'NoneType' object has no attribute 'dtype'")
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:triton-pow"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor, s: float):
    return ((s ** 2) + a0)
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a0, s):
    return ((torch.as_tensor(s) ** 2) + a0)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float32',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': False,
                          'seed': 3,
                          'shape': [3, 8, 5]},
                         {'kind': 'num', 'value': 0.5}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['leaf-n', 'rank3', 'square']})


def test_fuzz_triton_pow_4877c7c5():
    check_case_dict(CASE)
