"""Fuzzer finding (raw), written by tests/fuzz/run.py.

triton raised InterpreterError: AttributeError("'float' object has no attribute 'to'")
"""

import pytest

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
    out = x.dtype if x.dtype.is_floating_point else torch.float32
    return torch.softmax(torch.as_tensor(x).float(), dim=dim).to(out)


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
