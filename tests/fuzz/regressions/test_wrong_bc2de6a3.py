"""Fuzzer finding (wrong), written by tests/fuzz/run.py.

eager: max error 0.40625 (tol 0.002, scale 57.8); first bad: 49.84375 vs 50.125; ir: max error 0.40625 (tol 0.002, scale 57.8); first bad: 49.84375 vs 50.125; triton: max error 0.40625 (tol 0.002, sca
"""

import pytest

from tests.fuzz.harness import check_case_dict

SIGNATURE = "wrong|eager+ir+triton|L1|float16|value"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor):
    u = td.max(td.prod((td.sigmoid(td.sqrt(td.abs(a0))) * 0.2 + 0.9), 0, keepdims=True), 0, keepdims=False)
    v = u
    v = td.abs(v)
    return v + u
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a0):
    u = torch.amax(torch.prod((torch.sigmoid(torch.sqrt(torch.abs(a0))) * 0.2 + 0.9), dim=0, keepdim=True), dim=0)
    v = u
    v = torch.abs(v)
    return v + u
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float16',
                          'kind': 'tensor',
                          'layout': 'T',
                          'nan': False,
                          'seed': 34388,
                          'shape': [64, 17]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['alias', 'axis', 'leaf-f', 'multi-call', 'rank2', 'red-max', 'red-prod', 'sqrt']})


@pytest.mark.xfail(strict=True, reason="eager, ir and triton agree with each other; torch differs by 0.8% on a 64-row f16 product: part of it (about 0.1%) is `f16 * 0.2`, which torch computes with 0.2 unrounded where the language rounds it to f16 (open, see tests/test_regress_triton2.py); the rest is not analysed yet")
def test_fuzz_wrong_bc2de6a3():
    check_case_dict(CASE)
