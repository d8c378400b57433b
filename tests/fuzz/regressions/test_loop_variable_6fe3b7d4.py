"""Fuzzer finding (rejects-valid), written by tests/fuzz/run.py.

all backends raised FrontendError: name 'q' is not defined
  File "/tmp/tiledsl-fuzz-f0vmqc3h/fz_kernel_2354.py", line 9, column 15
    c0 = c0 + q
              ^
"""

import pytest

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:loop-variable"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a1: td.Tensor):
    c0 = 1.0
    for q in range(3):
        c0 = c0 + 1
    c0 = c0 + q
    return a1
'''
REF = '''\
import torch


def _softmax(x, dim):
    out = x.dtype if x.dtype.is_floating_point else torch.float32
    return torch.softmax(torch.as_tensor(x).float(), dim=dim).to(out)


def ref(a1):
    c0 = 1.0
    for q in range(3):
        c0 = c0 + 1
    c0 = c0 + q
    return a1
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'int8',
                          'kind': 'tensor',
                          'layout': 'strided',
                          'nan': False,
                          'seed': 391,
                          'shape': [17, 17]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['const-loop', 'leaf-i', 'loopvar-after', 'rank2']})


@pytest.mark.xfail(strict=True, reason="loop variables: not defined after the loop; reassigning one in the body changes the iteration")
def test_fuzz_loop_variable_6fe3b7d4():
    check_case_dict(CASE)
