"""FP8 (e4m3) quantization with DeepGEMM's scaling, and the block-scaled FP8 GEMM ``fp8_gemm_nt``.

Scales follow DeepGEMM: ``scale = max(amax, 1e-4) / 448`` per group, the group being 1x128 for
activations (per token) and 128x128 for weights (per block); ``x ~ x_fp8 * scale``.

``fp8_gemm_nt(a, sfa, b, sfb)`` computes ``(a * sfa) @ (b * sfb)^T`` with a [M, K] per-token scaled
and b [N, K] per-block scaled. Each 128-wide K block's product is accumulated by the tensor cores
in fp32 and scaled there (``sfa`` per row times the one ``sfb`` of the block's 128 columns) before
it is added to the fp32 accumulator, so the inputs are never dequantized.
"""

from __future__ import annotations

import torch
from tiledsl.kernels._knobs import Launch
from tiledsl.kernels._split import buffers, check_split, choose, store_split
from tiledsl.kernels._validate import FLOAT_DTYPES, FP8_DTYPES, Validator, cdiv

import tiledsl as td

FP8_MAX = 448.0  # largest finite float8_e4m3fn
AMAX_FLOOR = 1e-4  # keeps an all-zero group's scale positive
SCALE_BLOCK = 128  # the K (and, for b, N) width one scale covers

# --- quantization ------------------------------------------------------------------------------


@td.kernel
def per_token_cast_kernel(x: td.Tensor, x_fp8: td.Tensor, sf: td.Tensor, GROUP: td.constexpr,
                          BM: td.constexpr = td.auto):
    """Rows of x in groups of GROUP columns: one scale per (row, group)."""
    M, K = x.shape
    with td.grid(td.cdiv(M, BM), td.cdiv(K, GROUP)) as (i, g):
        t = td.load(x, (i * BM, g * GROUP), (BM, GROUP)).to(td.float32)  # past the edge: 0
        amax = td.maximum(td.max(td.abs(t), axis=1), AMAX_FLOOR)
        td.store(x_fp8, (i * BM, g * GROUP), (t * (FP8_MAX / amax)[:, None]).to(x_fp8.dtype))
        td.store(sf, (i * BM, g), (amax / FP8_MAX)[:, None])  # a column of sf


@td.kernel
def per_block_cast_kernel(w: td.Tensor, w_fp8: td.Tensor, sf: td.Tensor, BLOCK: td.constexpr):
    """BLOCK x BLOCK blocks of w: one scale per block."""
    N, K = w.shape
    with td.grid(td.cdiv(N, BLOCK), td.cdiv(K, BLOCK)) as (i, j):
        t = td.load(w, (i * BLOCK, j * BLOCK), (BLOCK, BLOCK)).to(td.float32)
        amax = td.maximum(td.max(td.max(td.abs(t), axis=1), axis=0), AMAX_FLOOR)
        td.store(w_fp8, (i * BLOCK, j * BLOCK), (t * (FP8_MAX / amax)).to(w_fp8.dtype))
        td.store(sf, (i, j), amax / FP8_MAX)


def _check_cast_input(v: Validator, x: torch.Tensor, group: int, default: int) -> None:
    v.tensor("x", x, dtypes=FLOAT_DTYPES, ndim=2)
    if group != default:  # the GEMMs read one scale per 128 columns
        raise v.fail(f"group size {group} is not supported", f"use {default} (DeepGEMM's scale block)")


def per_token_cast_to_fp8(x: torch.Tensor, group: int = 128, *, backend: str | None = None):
    """``(x_fp8 [M, K] e4m3, scales [M, ceil(K/group)] fp32)`` with one scale per row and group of
    ``group`` columns: ``scale = max(amax, 1e-4) / 448``, ``x_fp8 = x * (448 / max(amax, 1e-4))``."""
    v = Validator("per_token_cast_to_fp8")
    _check_cast_input(v, x, group, SCALE_BLOCK)
    M, K = x.shape
    x_fp8 = torch.empty(M, K, dtype=torch.float8_e4m3fn, device=x.device)
    sf = torch.empty(M, cdiv(K, group), dtype=torch.float32, device=x.device)
    if x.numel():
        per_token_cast_kernel(x, x_fp8, sf, GROUP=group, backend=backend)
    return x_fp8, sf


def per_token_cast_to_fp8_ref(x: torch.Tensor, group: int = 128):
    """Torch reference (DeepGEMM's ``per_token_cast_to_fp8``, ragged K padded with zeros)."""
    M, K = x.shape
    xp = torch.nn.functional.pad(x.float(), (0, cdiv(K, group) * group - K)).view(M, cdiv(K, group), group)
    amax = xp.abs().amax(dim=2).clamp(min=AMAX_FLOOR)
    q = (xp * _inverse_scale(amax).unsqueeze(2)).to(torch.float8_e4m3fn).flatten(1)[:, :K]
    return q.contiguous(), amax / FP8_MAX


def _inverse_scale(amax: torch.Tensor) -> torch.Tensor:
    """``448 / amax`` correctly rounded, as the kernels compute it: torch evaluates ``number /
    tensor`` as ``number * (1 / tensor)``, rounding twice (DeepGEMM's reference does that), which
    moves a few quantized values by one fp8 step."""
    return torch.full_like(amax, FP8_MAX) / amax


def per_block_cast_to_fp8(w: torch.Tensor, block: int = 128, *, backend: str | None = None):
    """``(w_fp8 [N, K] e4m3, scales [ceil(N/block), ceil(K/block)] fp32)``, one scale per
    ``block x block`` block."""
    v = Validator("per_block_cast_to_fp8")
    _check_cast_input(v, w, block, SCALE_BLOCK)
    N, K = w.shape
    w_fp8 = torch.empty(N, K, dtype=torch.float8_e4m3fn, device=w.device)
    sf = torch.empty(cdiv(N, block), cdiv(K, block), dtype=torch.float32, device=w.device)
    if w.numel():
        per_block_cast_kernel(w, w_fp8, sf, BLOCK=block, backend=backend)
    return w_fp8, sf


def per_block_cast_to_fp8_ref(w: torch.Tensor, block: int = 128):
    """Torch reference (DeepGEMM's ``per_block_cast_to_fp8``)."""
    N, K = w.shape
    nb, kb = cdiv(N, block), cdiv(K, block)
    wp = torch.zeros(nb * block, kb * block, dtype=torch.float32, device=w.device)
    wp[:N, :K] = w.float()
    view = wp.view(nb, block, kb, block)
    amax = view.abs().amax(dim=(1, 3), keepdim=True).clamp(min=AMAX_FLOOR)
    q = (view * _inverse_scale(amax)).to(torch.float8_e4m3fn).view(nb * block, kb * block)[:N, :K]
    return q.contiguous(), (amax / FP8_MAX).view(nb, kb)


def dequantize(x_fp8: torch.Tensor, sf: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """fp32 ``x_fp8 * scale`` where each scale covers ``rows x cols`` elements (1x128 or 128x128)."""
    M, K = x_fp8.shape
    s = sf.repeat_interleave(rows, dim=0)[:M].repeat_interleave(cols, dim=1)[:, :K]
    return x_fp8.float() * s


# --- block-scaled GEMM -------------------------------------------------------------------------


@td.kernel
def fp8_gemm_nt_kernel(a: td.Tensor, sfa: td.Tensor, b: td.Tensor, sfb: td.Tensor, c: td.Tensor,
                       BM: td.constexpr = td.auto, BN: td.constexpr = td.auto(divides=128),
                       BK: td.constexpr = 128):
    """c = (a * sfa) @ (b * sfb)^T. BK must be the scale block (128) and BN must divide it, so one
    K step reads one scale per row of a and one scale for all BN columns of b."""
    M, K = a.shape
    N = b.shape[0]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(K, BK), stages=td.auto):
            at = td.load(a, (i * BM, k * BK), (BM, BK))
            bt = td.load(b, (j * BN, k * BK), (BN, BK))
            sa = td.load(sfa, (i * BM, k), (BM, None))  # one scale per row for this K block
            sb = td.load(sfb, ((j * BN) // 128, k))  # one scale for the whole (BN, BK) tile of b
            acc += td.dot(at, bt.T) * (sa[:, None] * sb)
        td.store(c, (i * BM, j * BN), acc.to(c.dtype))


@td.kernel
def fp8_gemm_nt_splitk_kernel(a: td.Tensor, sfa: td.Tensor, b: td.Tensor, sfb: td.Tensor, c: td.Tensor,
                              ws: td.Tensor, counts: td.Tensor,
                              BM: td.constexpr = td.auto, BN: td.constexpr = td.auto(divides=128),
                              BK: td.constexpr = 128, SPLIT_K: td.constexpr = td.auto):
    """`fp8_gemm_nt_kernel` with its K blocks split over SPLIT_K programs per output tile
    (``td.auto``: the scheduler's choice, 1 included), reduced in the kernel
    (`kernels/_split.py` `store_split`: the last split of a tile sums the fp32 partials in
    ``ws [SPLIT_K, M, N]`` in split order; ``counts``, one int32 per output tile, is zero on entry
    and left zero). SPLIT_K = 1 is the plain kernel."""
    M, K = a.shape
    N = b.shape[0]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN), SPLIT_K) as (i, j, s):
        per = td.cdiv(K, BK * SPLIT_K)  # K blocks of one split
        acc = td.zeros((BM, BN), td.float32)
        for kk in td.pipelined(per, stages=td.auto):
            k = s * per + kk  # blocks past K's end read as zeros (operands and scales)
            at = td.load(a, (i * BM, k * BK), (BM, BK))
            bt = td.load(b, (j * BN, k * BK), (BN, BK))
            sa = td.load(sfa, (i * BM, k), (BM, None))
            sb = td.load(sfb, ((j * BN) // 128, k))
            acc += td.dot(at, bt.T) * (sa[:, None] * sb)
        store_split(c, ws, counts, acc, i, j, s, BM, BN, SPLIT_K)


def check_fp8_operand(v: Validator, name: str, x: torch.Tensor, sname: str, sf: torch.Tensor,
                      ndim: int) -> None:
    """An e4m3 operand and its fp32 scales, both contiguous with the right number of axes."""
    v.tensor(name, x, dtypes=FP8_DTYPES, ndim=ndim)
    v.tensor(sname, sf, dtypes=(torch.float32,), ndim=ndim)


def fp8_gemm_nt(a: torch.Tensor, sfa: torch.Tensor, b: torch.Tensor, sfb: torch.Tensor,
                out_dtype: torch.dtype = torch.bfloat16, *, backend: str | None = None,
                **knobs) -> torch.Tensor:
    """``(a * sfa) @ (b * sfb)^T`` for e4m3 ``a [M, K]`` with per-token scales ``sfa [M, ceil(K/128)]``
    and e4m3 ``b [N, K]`` with block scales ``sfb [ceil(N/128), ceil(K/128)]``; fp32 accumulation,
    output ``out_dtype`` (bf16 by default). ``knobs`` (BM, BN, SPLIT_K, num_warps) override the
    scheduler; BN must divide 128 and BK is fixed at 128 (one scale per 128 columns). Few output
    tiles over a long K are split over several programs per tile and reduced in the kernel, in a
    fixed order (the same bits on every run)."""
    v = Validator("fp8_gemm_nt")
    check_fp8_operand(v, "a", a, "sfa", sfa, 2)
    check_fp8_operand(v, "b", b, "sfb", sfb, 2)
    (M, K), N = a.shape, b.shape[0]
    v.equal("b.shape[1] (K of b)", b.shape[1], K, "a is [M, K] and b is [N, K] (the NT layout)")
    v.shape("sfa", sfa, (M, cdiv(K, SCALE_BLOCK)), "one scale per row and 128 columns of a")
    v.shape("sfb", sfb, (cdiv(N, SCALE_BLOCK), cdiv(K, SCALE_BLOCK)), "one scale per 128x128 block of b")
    if out_dtype not in FLOAT_DTYPES:
        raise v.fail(f"out_dtype {out_dtype} is not supported", "use torch.bfloat16 (or float16/float32)")
    _reject_scale_knobs(v, knobs)
    check_split(v, knobs)
    device = v.same_device(a=a, sfa=sfa, b=b, sfb=sfb)
    c = torch.empty(M, N, dtype=out_dtype, device=device)
    if c.numel() == 0:
        return c
    if K == 0:
        return c.zero_()
    fp8_gemm_nt_launch(a, sfa, b, sfb, c, **knobs).run(backend)
    return c


def fp8_gemm_nt_launch(a, sfa, b, sfb, c, **knobs) -> Launch:
    """The kernel call `fp8_gemm_nt` makes: the kernel's knob constraints (BN divides the 128-wide
    scale block, BK is it) and the cost model (which counts the scaled product's fp32 tile beside
    the accumulator, so it never picks a point that spills) choose the rest unless given. Where
    the scheduler splits the K blocks (few output tiles over a long K, as the GEMM's `split_k`),
    the split kernel with its workspace and the stream's tile counters."""
    split, knobs = choose(fp8_gemm_nt_splitk_kernel, (a, sfa, b, sfb), c, knobs)
    if split == 1:
        return Launch(fp8_gemm_nt_kernel, (a, sfa, b, sfb, c), knobs)
    return Launch(fp8_gemm_nt_splitk_kernel, (a, sfa, b, sfb, c, *buffers(knobs, c)), knobs)


def _reject_scale_knobs(v: Validator, knobs: dict) -> None:
    """BK is tied to the 128-wide scale blocks (BN's constraint, divides 128, is the kernel's)."""
    if "BK" in knobs and knobs["BK"] != SCALE_BLOCK:
        raise v.fail(f"BK={knobs['BK']}: the scale blocks are 128 wide, so BK is fixed at 128", "leave BK out")
    knobs.pop("BK", None)


def fp8_gemm_nt_ref(a: torch.Tensor, sfa: torch.Tensor, b: torch.Tensor, sfb: torch.Tensor,
                    out_dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    """Torch reference: dequantize both operands to fp32, multiply, round once."""
    A = dequantize(a, sfa, 1, SCALE_BLOCK)
    B = dequantize(b, sfb, SCALE_BLOCK, SCALE_BLOCK)
    return (A @ B.T).to(out_dtype)


def calc_diff(x: torch.Tensor, y: torch.Tensor) -> float:
    """DeepGEMM's accuracy measure ``1 - 2 * sum(x*y) / sum(x*x + y*y)`` in fp64: 0 for equal
    tensors, about half the mean squared relative error otherwise (0 when both are all zero)."""
    x, y = x.double(), y.double()
    denom = (x * x + y * y).sum()
    return 0.0 if denom == 0 else float(1 - 2 * (x * y).sum() / denom)
