"""Fuzzer finding (raw), written by tests/fuzz/run.py.

triton raised InterpreterError: ValueError('Unsupported data type')
"""


from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:triton-atomic-xchg-float"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(x: td.Tensor, idx: td.Tensor, out: td.Tensor, old: td.Tensor, B: td.constexpr):
    with td.grid(1) as p:
        m = td.arange(0, B) < x.shape[0]
        v = td.load(x, (0,), (B,), mask=m, other=0)
        b = td.load(idx, (0,), (B,), mask=m, other=0)
        prev = td.atomic_xchg(out, (b,), v, mask=m)
        td.store(old, (0,), prev, mask=m)
'''
REF = '''\
import torch


def ref(x, idx, out, old, B):
    keep = torch.ones_like(x, dtype=torch.bool)
    before = out.clone()
    i, v = idx[keep].long(), x[keep]
    out.index_copy_(0, i, v)
    old.copy_(torch.where(keep, before[idx.long()], torch.zeros((), dtype=x.dtype)))
    return out, old
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float32', 'kind': 'tensor', 'layout': 'contig', 'seed': 3, 'shape': [4]},
                         {'dtype': 'int32',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'perm': True,
                          'seed': 7,
                          'shape': [4]},
                         {'dtype': 'float32',
                          'fill': -7,
                          'kind': 'tensor',
                          'layout': 'contig',
                          'seed': 1,
                          'shape': [4]},
                         {'dtype': 'float32',
                          'fill': -9,
                          'kind': 'tensor',
                          'layout': 'contig',
                          'seed': 1,
                          'shape': [4]}],
                'kwargs': {'B': {'kind': 'num', 'value': 4}}}],
     'casts': [],
     'level': 2,
     'outputs': [2, 3],
     'tags': ['atomic', 'atomic-xchg', 'atomic-distinct']})


def test_fuzz_triton_atomic_xchg_float_d9c52d21():
    check_case_dict(CASE)
