"""Fuzzer finding (rejects-valid), written by tests/fuzz/run.py.

all backends raised FrontendError: name 'q' is not defined
  File "/tmp/tiledsl-fuzz-f0vmqc3h/fz_kernel_1180.py", line 20, column 19
    v1 = v0 + q + w
              ^
"""


from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:triton-scalar-cast"
SOURCE = '''\
import tiledsl as td

NEG_INF = float("-inf")
POS_INF = float("inf")


@td.kernel
def kern(x0: td.Tensor, x2: td.Tensor, out: td.Tensor, n: int, BM: td.constexpr, BN: td.constexpr, K: td.constexpr):
    M, N = out.shape
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        r = i * BM + td.arange(0, BM)
        c = j * BN + td.arange(0, BN)
        mask = (r < M)[:, None] & (c < N)[None, :]
        t0 = td.load(x0, (i * BM, j * BN), (BM, BN), mask=mask, other=0)
        t2 = td.load(x2, (i * BM,), (BM,))[:, None]
        v0 = (t2.to(td.float32) + t0.to(td.float32))
        w = 0.0
        q = 0
        for q in range(n + 1):
            w = w + v0 * 0.25
        v1 = v0 + q + w
        z = 0
        for q in range(K):
            q += 3
            z = z + q
        v2 = v1 + z
        td.store(out, (i * BM, j * BN), v2.to(out.dtype), mask=mask)
'''
REF = '''\
import torch

NEG_INF = float("-inf")
POS_INF = float("inf")


def _t(a, like):
    return a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=like.dtype)


def ref(x0, x2, out, n, BM, BN, K):
    M, N = out.shape
    t0 = x0
    t2 = x2[:, None]
    v0 = (t2.to(torch.float32) + t0.to(torch.float32))
    w = 0.0
    q = 0
    for q in range(n + 1):
        w = w + v0 * 0.25
    v1 = v0 + q + w
    z = 0
    for q in range(K):
        q += 3
        z = z + q
    v2 = v1 + z
    out.copy_(torch.where(torch.broadcast_to(torch.ones((M, N), dtype=torch.bool), (M, N)), torch.broadcast_to(v2.to(out.dtype), (M, N)), out))
    return out
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float8_e4m3',
                          'kind': 'tensor',
                          'layout': 'strided',
                          'nan': False,
                          'seed': 106,
                          'shape': [2, 1]},
                         {'dtype': 'float8_e5m2',
                          'kind': 'tensor',
                          'layout': 'strided',
                          'nan': False,
                          'seed': 65535,
                          'shape': [2]},
                         {'dtype': 'bfloat16',
                          'fill': -7.0,
                          'kind': 'tensor',
                          'layout': 'contig',
                          'seed': 1,
                          'shape': [2, 1]},
                         {'kind': 'num', 'value': 2}, {'cx': True, 'kind': 'num', 'value': 8},
                         {'cx': True, 'kind': 'num', 'value': 2}, {'cx': True, 'kind': 'num', 'value': 2}],
                'kwargs': {}}],
     'casts': ['float32'],
     'level': 2,
     'outputs': [2],
     'tags': ['cx-positional', 'fp8-in', 'loopvar-after', 'loopvar-reassign', 'map', 'mask-and', 'range-K',
              'range-n']})


def test_fuzz_loop_variable_f2a53999():
    check_case_dict(CASE)
