"""Valid kernels that the argument cases call with bad arguments."""

import tiledsl as td


@td.kernel
def add_one(x: td.Tensor, y: td.Tensor, n: int, BM: td.constexpr = td.auto):
    with td.grid(td.cdiv(n, BM)) as p:
        r = p * BM + td.arange(0, BM)
        td.store(y, (p * BM,), td.load(x, (p * BM,), (BM,), mask=r < n) + 1.0, mask=r < n)


@td.kernel
def scale(x: td.Tensor, alpha: float) -> td.Tensor:
    return x * alpha


@td.kernel
def rows(x: td.Tensor, y: td.Tensor, BN: td.constexpr):
    M, N = x.shape
    with td.grid(M) as r:
        c = td.arange(0, BN)
        td.store(y, (r, 0), td.load(x, (r, 0), (1, BN), mask=(c < N)[None, :]), mask=(c < N)[None, :])
