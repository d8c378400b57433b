"""Fuzzer finding (rejects-valid), written by tests/fuzz/run.py.

all backends raised ScheduleError: kern: reductions over different axes in one kernel
  File "/tmp/tiledsl-fuzz-f0vmqc3h/fz_kernel_4214.py", line 6, column 12
    return td.min(td.min(a0, axis=-1, keepdims=True), -1, keepdims=True)
           ^
hint: write this kernel at level 2 (td.grid / td.load / td.store) and leave its knobs as td.auto
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:l1-multi-reduce"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor):
    return td.min(td.min(a0, axis=-1, keepdims=True), -1, keepdims=True)
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a0):
    return torch.amin(torch.amin(a0, dim=-1, keepdim=True), dim=-1, keepdim=True)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float16',
                          'kind': 'tensor',
                          'layout': 'strided',
                          'nan': False,
                          'seed': 12032,
                          'shape': [3]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['axis-neg', 'leaf-f', 'rank1', 'red-min']})


def test_fuzz_l1_multi_reduce_b5166c1c():
    check_case_dict(CASE)
