"""Fuzzer finding (error-split), written by tests/fuzz/run.py.

ir, triton raised ScheduleError but eager ran: kern: reductions over different axes in one kernel
  File "/tmp/tiledsl-fuzz-mamxus4m/fz_kernel_4.py", line 6, column 12
    return td.sum(td.max(a, axis=0, keepdims=True), axis=1)
           ^
hint: write this kernel at level 2 (td.grid / td.load / td.store) and leave its knobs as td.auto
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:l1-chained-reduce"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a: td.Tensor):
    return td.sum(td.max(a, axis=0, keepdims=True), axis=1)
'''
REF = '''\
import torch


def ref(a):
    return torch.sum(torch.amax(a, dim=0, keepdim=True), dim=1)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float32', 'kind': 'tensor', 'layout': 'contig', 'seed': 1, 'shape': [3, 8]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['reduce']})


def test_fuzz_l1_chained_reduce_a8990616():
    check_case_dict(CASE)
