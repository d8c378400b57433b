"""Fuzzer finding (wrong), written by tests/fuzz/run.py.

triton: exact values differ at [2]: 3 vs 0
"""


from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:triton-atomic-old-masked"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(x: td.Tensor, idx: td.Tensor, out: td.Tensor, old: td.Tensor, B: td.constexpr):
    with td.grid(1) as p:
        m = td.arange(0, B) < x.shape[0]
        v = td.load(x, (0,), (B,), mask=m, other=0)
        b = td.load(idx, (0,), (B,), mask=m, other=0)
        prev = td.atomic_max(out, (b,), v, mask=m & (v > 0))
        td.store(old, (0,), prev, mask=m)
'''
REF = '''\
import torch


def ref(x, idx, out, old, B):
    keep = x > 0
    before = out.clone()
    i, v = idx[keep].long(), x[keep]
    out.scatter_reduce_(0, i, v, "amax")
    old.copy_(torch.where(keep, before[idx.long()], torch.zeros((), dtype=x.dtype)))
    return out, old
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'int32', 'kind': 'tensor', 'layout': 'contig', 'seed': 462, 'shape': [8]},
                         {'dtype': 'int32',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'perm': True,
                          'seed': 7,
                          'shape': [8]},
                         {'dtype': 'int32',
                          'fill': -5,
                          'kind': 'tensor',
                          'layout': 'contig',
                          'seed': 1,
                          'shape': [8]},
                         {'dtype': 'int32',
                          'fill': -9,
                          'kind': 'tensor',
                          'layout': 'contig',
                          'seed': 1,
                          'shape': [8]}],
                'kwargs': {'B': {'kind': 'num', 'value': 8}}}],
     'casts': [],
     'level': 2,
     'outputs': [2, 3],
     'tags': ['atomic', 'atomic-max', 'atomic-distinct']})


def test_fuzz_triton_atomic_old_masked_4320b10c():
    check_case_dict(CASE)
