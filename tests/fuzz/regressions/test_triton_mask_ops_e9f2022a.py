"""Fuzzer finding (error-split), written by tests/fuzz/run.py.

triton raised BackendError but ir ran: value name 'not' cannot be used in generated Triton code: it must be an ASCII identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64 characters, no leading '__', not a P
hint: rename it
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:triton-mask-ops"
SOURCE = '''\
import tiledsl as td

NEG_INF = float("-inf")
POS_INF = float("inf")


@td.kernel
def kern(x0: td.Tensor, x2: td.Tensor, out: td.Tensor, BM: td.constexpr, BN: td.constexpr):
    M, N = out.shape
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        r = i * BM + td.arange(0, BM)
        c = j * BN + td.arange(0, BN)
        t0 = td.load(x0, (i * BM, j * BN), (BM, BN))
        t2 = td.load(x2, (i * BM,), (BM,))[:, None]
        v0 = t0
        td.store(out, (i * BM, j * BN), v0.to(out.dtype), mask=(~(t2 > 1)))
'''
REF = '''\
import torch

NEG_INF = float("-inf")
POS_INF = float("inf")


def _t(a, like):
    return a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=like.dtype)


def ref(x0, x2, out, BM, BN):
    M, N = out.shape
    t0 = x0
    t2 = x2[:, None]
    v0 = t0
    out.copy_(torch.where(torch.broadcast_to((~(t2 > 1)), (M, N)), torch.broadcast_to(v0.to(out.dtype), (M, N)), out))
    return out
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float32',
                          'kind': 'tensor',
                          'layout': 'T',
                          'nan': False,
                          'seed': 1020,
                          'shape': [5, 64]},
                         {'dtype': 'float16',
                          'kind': 'tensor',
                          'layout': 'strided',
                          'nan': False,
                          'seed': 7111,
                          'shape': [5]},
                         {'dtype': 'bfloat16',
                          'fill': -7.0,
                          'kind': 'tensor',
                          'layout': 'T',
                          'seed': 1,
                          'shape': [5, 64]},
                         {'cx': True, 'kind': 'num', 'value': 64}],
                'kwargs': {'BN': {'kind': 'num', 'value': 32}}}],
     'casts': [],
     'level': 2,
     'outputs': [2],
     'tags': ['cx-positional', 'leaf-f', 'map', 'mask-none', 'store-cond']})


def test_fuzz_triton_mask_ops_e9f2022a():
    check_case_dict(CASE)
