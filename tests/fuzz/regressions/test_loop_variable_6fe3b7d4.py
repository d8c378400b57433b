"""Fuzzer finding (rejects-valid), written by tests/fuzz/run.py.

all backends raised FrontendError: name 'q' is not defined
  File "/tmp/tiledsl-fuzz-f0vmqc3h/fz_kernel_2354.py", line 9, column 15
    c0 = c0 + q
              ^
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:loop-variable"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a1: td.Tensor):
    c0 = 1.0
    q = 0
    for q in range(3):
        c0 = c0 + 1
    c0 = c0 + q
    return a1
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a1):
    c0 = 1.0
    q = 0
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


def test_fuzz_loop_variable_6fe3b7d4():
    check_case_dict(CASE)
