"""Fuzzer finding (raw), written by tests/fuzz/run.py.

triton raised InterpreterError: AssertionError("cannot cast [[4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4]/n [4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4]/n [4
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:triton-int-to-fp8"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor, C: td.constexpr):
    return td.max(((td.where((a0 < 0), C, C)).to(td.float8_e5m2).to(td.float32) * a0), 1)
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a0, C):
    return torch.amax(((torch.where((a0 < 0), torch.as_tensor(C), torch.as_tensor(C))).to(torch.float8_e5m2).to(torch.float32) * a0), dim=1)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float16',
                          'kind': 'tensor',
                          'layout': 'strided',
                          'nan': False,
                          'seed': 16586,
                          'shape': [5, 17]}],
                'kwargs': {'C': {'kind': 'num', 'value': 4}}}],
     'casts': ['float32', 'float8_e5m2'],
     'level': 1,
     'outputs': [],
     'tags': ['axis', 'cast-fp8', 'cmp', 'leaf-f', 'leaf-n', 'mul', 'multi-call', 'rank2', 'red-max', 'where']})


def test_fuzz_triton_int_to_fp8_0458b40c():
    check_case_dict(CASE)
