"""Fuzzer finding (raw), written by tests/fuzz/run.py.

triton raised InterpreterError: AttributeError("'float' object has no attribute 'to'")
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:triton-scalar-cast"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a1: td.Tensor, s: float, k: int):
    return td.argmin(td.where(((a1 >= -3) ^ (a1 > 0)), td.tanh(td.tanh(s)), (td.cast(s, td.float16) + k)), axis=0, keepdims=True)
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a1, s, k):
    return torch.argmin(torch.where(((a1 >= -3) ^ (a1 > 0)), torch.tanh(torch.tanh(torch.as_tensor(s))), (torch.as_tensor(torch.as_tensor(s)).to(torch.float16) + torch.as_tensor(k))), dim=0, keepdim=True)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'int8',
                          'kind': 'tensor',
                          'layout': 'strided',
                          'nan': False,
                          'seed': 322,
                          'shape': [5]},
                         {'kind': 'num', 'value': 0.5}, {'kind': 'num', 'value': 1}],
                'kwargs': {}}],
     'casts': ['float16'],
     'level': 1,
     'outputs': [],
     'tags': ['axis', 'cast-number', 'cmp', 'leaf-i', 'leaf-n', 'mask-xor', 'mixed-int-float', 'rank1',
              'red-argmin', 'tanh', 'where']})


def test_fuzz_triton_scalar_cast_fb07f78b():
    check_case_dict(CASE)
