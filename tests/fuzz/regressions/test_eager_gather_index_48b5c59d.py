"""Fuzzer finding (error-split), written by tests/fuzz/run.py.

eager raised KernelTypeError but ir, triton ran: index 3 is out of range for axis 0 of size 3
  File "/tmp/tiledsl-fuzz-mamxus4m/fz_kernel_0.py", line 6, column 12
    return x[idx]
           ^
"""


from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:eager-gather-index"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(x: td.Tensor, idx: td.Tensor):
    return x[idx]
'''
REF = '''\
import torch


def _take(x, idx, axis):
    n = x.shape[axis]
    i = idx.long()
    ok = (i >= -n) & (i < n)
    g = x.index_select(axis, torch.where(ok, i % max(n, 1), 0))
    shape = [1] * x.dim()
    shape[axis] = -1
    return torch.where(ok.view(shape), g, torch.zeros((), dtype=x.dtype))


def ref(x, idx):
    return _take(x, idx, 0)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float32', 'kind': 'tensor', 'layout': 'contig', 'seed': 5, 'shape': [3]},
                         {'dtype': 'int32',
                          'hi': 5,
                          'kind': 'tensor',
                          'layout': 'contig',
                          'lo': -5,
                          'seed': 3,
                          'shape': [5]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['gather-l1']})


def test_fuzz_eager_gather_index_48b5c59d():
    check_case_dict(CASE)
