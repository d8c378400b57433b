"""Dense GEMM: ``gemm(a, b) = a @ b`` for fp32 / fp16 / bf16 ``a [M, K]``, ``b [K, N]``.

The kernel is the language's canonical level-2 GEMM: a grid of (BM, BN) output tiles, each
accumulating in fp32 over a software-pipelined K loop; every block size, the pipeline depth and
the warp count are left to the scheduler. Ragged edges are masked by the tile loads.
"""

from __future__ import annotations

import torch
from tiledsl.kernels._knobs import Launch, scheduled_knobs
from tiledsl.kernels._validate import FLOAT_DTYPES, Validator

import tiledsl as td


@td.kernel
def gemm_kernel(a: td.Tensor, b: td.Tensor, c: td.Tensor,
                BM: td.constexpr = td.auto, BN: td.constexpr = td.auto, BK: td.constexpr = td.auto,
                SPLIT_K: td.constexpr = 1):
    """c = a @ b with fp32 accumulation; c may have another dtype than a and b.

    SPLIT_K > 1 (or ``td.auto``: the scheduler's choice) splits the K loop over SPLIT_K programs
    per output tile, each adding its fp32 partial sum into c atomically: c must then be fp32 and
    zero-filled (`gemm` passes such a workspace and rounds it once into the output). SPLIT_K = 1,
    the default, is the plain kernel: the split axis and its arithmetic fold away."""
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN), SPLIT_K) as (i, j, s):
        per = td.cdiv(K, BK * SPLIT_K)  # K tiles of one split (cdiv(cdiv(K, BK), SPLIT_K))
        acc = td.zeros((BM, BN), td.float32)
        for kk in td.pipelined(per, stages=td.auto):
            k = s * per + kk  # tiles past K's end read as zeros
            acc += td.dot(td.load(a, (i * BM, k * BK), (BM, BK)),
                          td.load(b, (k * BK, j * BN), (BK, BN)))
        if SPLIT_K == 1:
            td.store(c, (i * BM, j * BN), acc.to(c.dtype))
        else:
            td.atomic_add(c, (i * BM, j * BN), acc)


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
    c = torch.empty(a.shape[0], b.shape[1], dtype=out_dtype, device=device)
    if c.numel() == 0:
        return c
    if a.shape[1] == 0:  # an empty sum: the kernel would have no K tile to run
        return c.zero_()
    launch = gemm_launch(a, b, c, **knobs)
    launch.run(backend)
    if launch.args[2] is not c:  # split K: the fp32 workspace, rounded once
        c.copy_(launch.args[2])
    return c


def gemm_launch(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, **knobs) -> Launch:
    """The kernel call `gemm` makes: every knob left to the scheduler unless given. Where the
    scheduler splits K (`split_k`: few output tiles over a long K), the call adds fp32 partial sums
    into a zero-filled fp32 workspace, the launch's third argument, that `gemm` then rounds once
    into c (with an fp32 c, c itself). Arguments may be meta tensors (compiling only)."""
    split = split_k(a, b, c, **knobs)
    if split == 1:
        return Launch(gemm_kernel, (a, b, c), knobs)
    ws = c.zero_() if c.dtype == torch.float32 else torch.zeros(c.shape, dtype=torch.float32, device=c.device)
    return Launch(gemm_kernel, (a, b, ws), {**knobs, "SPLIT_K": split})


def split_k(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, **knobs) -> int:
    """The split factor of the call: the given ``SPLIT_K``, else the scheduler's choice for the
    kernel writing an fp32 workspace, with the other given knobs (1: the plain kernel). Scheduling
    only, once per shape (`scheduled_knobs` caches it)."""
    if knobs.get("SPLIT_K") is not None and knobs["SPLIT_K"] is not td.auto:
        return int(knobs["SPLIT_K"])
    fixed = {k: v for k, v in knobs.items() if isinstance(v, int) and k != "SPLIT_K"}
    ws = torch.empty(c.shape, dtype=torch.float32, device="meta")
    return scheduled_knobs(gemm_kernel, (a, b, ws), SPLIT_K=td.auto, **fixed)["SPLIT_K"]


def gemm_ref(a: torch.Tensor, b: torch.Tensor, *, out_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Torch reference: the product in fp32, rounded once to ``out_dtype``."""
    return (a.float() @ b.float()).to(out_dtype or a.dtype)
