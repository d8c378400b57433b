"""Dense GEMM: ``gemm(a, b) = a @ b`` for fp32 / fp16 / bf16 ``a [M, K]``, ``b [K, N]``.

`gemm_kernel` is the language's canonical level-2 GEMM: a grid of (BM, BN) output tiles, each
accumulating in fp32 over a software-pipelined K loop; every block size, the pipeline depth and
the warp count are left to the scheduler. Ragged edges are masked by the tile loads.
`gemm_splitk_kernel` splits the K loop over several programs per tile for shapes with few output
tiles and a long K, reducing the partial sums in the kernel (the split that finishes last sums
them in a fixed order); `gemm` launches it where the scheduler chooses a split.
"""

from __future__ import annotations

import torch
from tiledsl.kernels._knobs import Launch
from tiledsl.kernels._split import buffers, check_split, choose, store_split
from tiledsl.kernels._validate import FLOAT_DTYPES, Validator

import tiledsl as td


@td.kernel
def gemm_kernel(a: td.Tensor, b: td.Tensor, c: td.Tensor,
                BM: td.constexpr = td.auto, BN: td.constexpr = td.auto, BK: td.constexpr = td.auto):
    """c = a @ b with fp32 accumulation, rounded once to c's dtype."""
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(K, BK), stages=td.auto):
            acc += td.dot(td.load(a, (i * BM, k * BK), (BM, BK)),
                          td.load(b, (k * BK, j * BN), (BK, BN)))
        td.store(c, (i * BM, j * BN), acc.to(c.dtype))


@td.kernel
def gemm_splitk_kernel(a: td.Tensor, b: td.Tensor, c: td.Tensor, ws: td.Tensor, counts: td.Tensor,
                       BM: td.constexpr = td.auto, BN: td.constexpr = td.auto, BK: td.constexpr = td.auto,
                       SPLIT_K: td.constexpr = td.auto):
    """c = a @ b with the K loop split over SPLIT_K programs per output tile (``td.auto``: the
    scheduler's choice, 1 included), reduced in the kernel (`kernels/_split.py` `store_split`:
    the last split of a tile sums the fp32 partials in ``ws [SPLIT_K, M, N]`` in split order;
    ``counts``, one int32 per output tile, is zero on entry and left zero). SPLIT_K = 1 is the
    plain kernel: the split axis, ws and counts fold away."""
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN), SPLIT_K) as (i, j, s):
        per = td.cdiv(K, BK * SPLIT_K)  # K tiles of one split (cdiv(cdiv(K, BK), SPLIT_K))
        acc = td.zeros((BM, BN), td.float32)
        for kk in td.pipelined(per, stages=td.auto):
            k = s * per + kk  # tiles past K's end read as zeros
            acc += td.dot(td.load(a, (i * BM, k * BK), (BM, BK)),
                          td.load(b, (k * BK, j * BN), (BK, BN)))
        store_split(c, ws, counts, acc, i, j, s, BM, BN, SPLIT_K)


def gemm(a: torch.Tensor, b: torch.Tensor, *, out_dtype: torch.dtype | None = None,
         backend: str | None = None, **knobs) -> torch.Tensor:
    """``a @ b`` for ``a [M, K]`` and ``b [K, N]`` of one dtype (fp32, fp16 or bf16), accumulated in
    fp32 and rounded once to ``out_dtype`` (default: the inputs' dtype). CUDA tensors run compiled
    code, CPU tensors an interpreter (``backend="ir"`` or ``"triton"``). ``knobs`` (BM, BN, BK,
    SPLIT_K, num_warps) override the scheduler's choice."""
    v = Validator("gemm")
    v.tensor("a", a, dtypes=FLOAT_DTYPES, ndim=2)
    v.tensor("b", b, dtypes=FLOAT_DTYPES, ndim=2)
    if a.dtype != b.dtype:
        raise v.fail(f"a is {a.dtype} but b is {b.dtype}", "cast both to one dtype")
    v.equal("b.shape[0] (K of b)", b.shape[0], a.shape[1], "b must be [K, N] for a [M, K]")
    out_dtype = out_dtype or a.dtype
    if out_dtype not in FLOAT_DTYPES:
        raise v.fail(f"out_dtype {out_dtype} is not supported", "use torch.float32, float16 or bfloat16")
    device = v.same_device(a=a, b=b)
    check_split(v, knobs)
    c = torch.empty(a.shape[0], b.shape[1], dtype=out_dtype, device=device)
    if c.numel() == 0:
        return c
    if a.shape[1] == 0:  # an empty sum: the kernel would have no K tile to run
        return c.zero_()
    gemm_launch(a, b, c, **knobs).run(backend)
    return c


def gemm_launch(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, **knobs) -> Launch:
    """The kernel call `gemm` makes: every knob left to the scheduler unless given. Where the
    scheduler splits K (`split_k`: few output tiles over a long K), the split kernel with an fp32
    workspace of the partial sums and the stream's tile counters (`kernels/_split.py`). Arguments
    may be meta tensors (compiling only)."""
    split, knobs = split_k(a, b, c, **knobs)
    if split == 1:
        return Launch(gemm_kernel, (a, b, c), knobs)
    return Launch(gemm_splitk_kernel, (a, b, c, *buffers(knobs, c)), knobs)


def split_k(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, **knobs) -> tuple[int, dict]:
    """The split factor of the call and the knobs to launch with (`kernels/_split.py` `choose`)."""
    return choose(gemm_splitk_kernel, (a, b), c, knobs)


def gemm_ref(a: torch.Tensor, b: torch.Tensor, *, out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Torch reference: the product in fp32, rounded once to ``out_dtype``."""
    return (a.float() @ b.float()).to(out_dtype or a.dtype)
