"""Fuzzer finding (rejects-valid), written by tests/fuzz/run.py.

all backends raised FrontendError: float 0.0 has no attribute 'to'
  File "/tmp/tiledsl-fuzz-f0vmqc3h/fz_kernel_964.py", line 19, column 34
    td.store(out, (i * BM,), acc.to(out.dtype), mask=r < M)
                             ^
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:number-carry"
SOURCE = '''\
import tiledsl as td

NEG_INF = float("-inf")
POS_INF = float("inf")


@td.kernel
def kern(x0: td.Tensor, out: td.Tensor, BM: td.constexpr, BN: td.constexpr):
    M, N = x0.shape
    with td.grid(td.cdiv(M, BM)) as i:
        r = i * BM + td.arange(0, BM)
        acc = 0.0
        for c0 in range(0, N, BN):
            c = c0 + td.arange(0, BN)
            mask = (r[:, None] < M) & (c[None, :] < N)
            t0 = td.load(x0, (i * BM, c0), (BM, BN), mask=mask, other=0)
            v = td.where(mask, t0, 0.0)
            acc = acc + td.sum(v, axis=-1)
        td.store(out, (i * BM,), acc.to(out.dtype), mask=r < M)
'''
REF = '''\
import torch

NEG_INF = float("-inf")
POS_INF = float("inf")


def _t(a, like):
    return a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=like.dtype)


def ref(x0, out, BM, BN):
    M, N = x0.shape
    acc = 0.0
    for c0 in range(0, N, BN):
        t0 = x0[:, c0:c0 + BN]
        v = t0
        acc = acc + torch.sum(v, dim=-1)
    out.copy_(torch.broadcast_to(torch.as_tensor(acc).to(out.dtype), out.shape))
    return out
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'bfloat16',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': False,
                          'seed': 65536,
                          'shape': [33, 5]},
                         {'dtype': 'bfloat16',
                          'fill': -7.0,
                          'kind': 'tensor',
                          'layout': 'contig',
                          'seed': 1,
                          'shape': [33]},
                         {'cx': True, 'kind': 'num', 'value': 64}],
                'kwargs': {'BN': {'kind': 'num', 'value': 32}}}],
     'casts': [],
     'level': 2,
     'outputs': [1],
     'tags': ['acc-number', 'axis-1', 'cx-positional', 'leaf-f', 'mask-cmp-bcast', 'reduce', 'reduce-sum']})


def test_fuzz_number_carry_568044a0():
    check_case_dict(CASE)
