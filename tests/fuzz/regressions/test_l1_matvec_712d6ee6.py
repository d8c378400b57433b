"""Fuzzer finding (error-split), written by tests/fuzz/run.py.

ir, triton raised ScheduleError but eager ran: kern: a matmul with a size-1 axis (a matrix-vector product)
  File "/tmp/tiledsl-fuzz-mamxus4m/fz_kernel_2.py", line 6, column 12
    return a @ b
           ^
hint: write this kernel at level 2 (td.grid / td.load / td.store) and leave its knobs as td.auto
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:l1-matvec"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a: td.Tensor, b: td.Tensor):
    return a @ b
'''
REF = '''\
import torch


def ref(a, b):
    return (a.double() @ b.double()).to(a.dtype)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float32', 'kind': 'tensor', 'layout': 'contig', 'seed': 1, 'shape': [16, 8]},
                         {'dtype': 'float32', 'kind': 'tensor', 'layout': 'contig', 'seed': 2, 'shape': [8, 1]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['matmul-l1']})


def test_fuzz_l1_matvec_712d6ee6():
    check_case_dict(CASE)
