"""MoE grouped GEMMs with DeepGEMM's interfaces: every group ``g`` multiplies its rows of ``a`` by
its own ``b[g]^T`` (``b [G, N, K]``, the NT layout), in bf16 or in block-scaled FP8.

Contiguous layout (``m_grouped_*_contiguous``): ``a [M_sum, K]`` holds the groups' rows one after
another, each group starting at a multiple of 128 rows; ``m_indices [M_sum]`` gives each row's
group, ``-1`` for padding rows. One program computes a BM-row block, BM a divisor of 128 that the
scheduler picks (``td.auto(divides=128)``), so a block never straddles two groups; it reads its
block's group id and skips the block when it is padding, so no tensor-core work is spent there.

Masked layout (``m_grouped_*_masked``): ``a [G, M_max, K]`` where only the first ``masked_m[g]``
rows of group ``g`` are defined; blocks past ``masked_m[g]`` are skipped. ``expected_m`` (the
typical ``masked_m``) is the M the block sizes are chosen for: the cost model schedules the kernel
as if each group had ``expected_m`` rows, since ``M_max`` is only an upper bound.

Output rows that are padding (contiguous) or past ``masked_m[g]`` (masked) are unspecified.
Checks that read index values (the range and layout of ``m_indices``, the range of ``masked_m``)
run for CPU tensors only: on CUDA they would synchronize with the device on every call, so there
the caller is trusted, as DeepGEMM trusts it.
"""

from __future__ import annotations

import torch
from tiledsl.kernels._knobs import Launch, scheduled_knobs
from tiledsl.kernels._validate import FP8_DTYPES, INDEX_DTYPES, Validator, cdiv
from tiledsl.kernels.fp8 import SCALE_BLOCK, check_fp8_operand, dequantize

import tiledsl as td

M_ALIGN = 128  # group starts in the contiguous layout (DeepGEMM's m alignment)
BF16 = (torch.bfloat16,)

# --- kernels -----------------------------------------------------------------------------------


@td.kernel
def grouped_contiguous_kernel(a: td.Tensor, b: td.Tensor, m_indices: td.Tensor, c: td.Tensor,
                              BM: td.constexpr = td.auto(divides=128), BN: td.constexpr = td.auto,
                              BK: td.constexpr = td.auto):
    """c[r] = a[r] @ b[m_indices[r]]^T. BM divides the 128-row group alignment, so a block holds
    one group's rows, or that group's padding only (then its first row is -1)."""
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        g = td.load(m_indices, (i * BM,))  # the block's group; -1: the whole block is padding
        if g >= 0:
            acc = td.zeros((BM, BN), td.float32)
            for k in td.pipelined(td.cdiv(K, BK), stages=td.auto):
                at = td.load(a, (i * BM, k * BK), (BM, BK))
                bt = td.load(b, (g, j * BN, k * BK), (None, BN, BK))
                acc += td.dot(at, bt.T)
            td.store(c, (i * BM, j * BN), acc.to(c.dtype))


@td.kernel
def grouped_fp8_contiguous_kernel(a: td.Tensor, sfa: td.Tensor, b: td.Tensor, sfb: td.Tensor,
                                  m_indices: td.Tensor, c: td.Tensor,
                                  BM: td.constexpr = td.auto(divides=128),
                                  BN: td.constexpr = td.auto(divides=128), BK: td.constexpr = 128):
    """The contiguous grouped GEMM on FP8 operands with 1x128 (a) and 128x128 (b) scales applied
    to each K block's fp32 product. BK is the scale block and BN divides it (one scale of b per
    tile and K step); BM divides the group alignment as in `grouped_contiguous_kernel`."""
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        g = td.load(m_indices, (i * BM,))
        if g >= 0:
            acc = td.zeros((BM, BN), td.float32)
            for k in td.pipelined(td.cdiv(K, BK), stages=td.auto):
                at = td.load(a, (i * BM, k * BK), (BM, BK))
                bt = td.load(b, (g, j * BN, k * BK), (None, BN, BK))
                sa = td.load(sfa, (i * BM, k), (BM, None))
                sb = td.load(sfb, (g, (j * BN) // 128, k))
                acc += td.dot(at, bt.T) * (sa[:, None] * sb)
            td.store(c, (i * BM, j * BN), acc.to(c.dtype))


@td.kernel
def grouped_masked_kernel(a: td.Tensor, b: td.Tensor, masked_m: td.Tensor, c: td.Tensor,
                          BM: td.constexpr = td.auto, BN: td.constexpr = td.auto,
                          BK: td.constexpr = td.auto):
    """c[g, r] = a[g, r] @ b[g]^T for the blocks that hold a row r < masked_m[g]."""
    G, M_max, K = a.shape
    N = b.shape[1]
    with td.grid(G, td.cdiv(M_max, BM), td.cdiv(N, BN)) as (g, i, j):
        m = td.load(masked_m, (g,))
        if i * BM < m:
            acc = td.zeros((BM, BN), td.float32)
            for k in td.pipelined(td.cdiv(K, BK), stages=td.auto):
                at = td.load(a, (g, i * BM, k * BK), (None, BM, BK))
                bt = td.load(b, (g, j * BN, k * BK), (None, BN, BK))
                acc += td.dot(at, bt.T)
            td.store(c, (g, i * BM, j * BN), acc.to(c.dtype))


@td.kernel
def grouped_fp8_masked_kernel(a: td.Tensor, sfa: td.Tensor, b: td.Tensor, sfb: td.Tensor,
                              masked_m: td.Tensor, c: td.Tensor, BM: td.constexpr = td.auto,
                              BN: td.constexpr = td.auto(divides=128), BK: td.constexpr = 128):
    """The masked grouped GEMM on FP8 operands, scales as in `grouped_fp8_contiguous_kernel`."""
    G, M_max, K = a.shape
    N = b.shape[1]
    with td.grid(G, td.cdiv(M_max, BM), td.cdiv(N, BN)) as (g, i, j):
        m = td.load(masked_m, (g,))
        if i * BM < m:
            acc = td.zeros((BM, BN), td.float32)
            for k in td.pipelined(td.cdiv(K, BK), stages=td.auto):
                at = td.load(a, (g, i * BM, k * BK), (None, BM, BK))
                bt = td.load(b, (g, j * BN, k * BK), (None, BN, BK))
                sa = td.load(sfa, (g, i * BM, k), (None, BM, None))
                sb = td.load(sfb, (g, (j * BN) // 128, k))
                acc += td.dot(at, bt.T) * (sa[:, None] * sb)
            td.store(c, (g, i * BM, j * BN), acc.to(c.dtype))


# --- validation --------------------------------------------------------------------------------


def _check_b(v: Validator, b: torch.Tensor, K: int, dtypes) -> tuple[int, int]:
    v.tensor("b", b, dtypes=dtypes, ndim=3)
    v.equal("b.shape[2] (K of b)", b.shape[2], K, "b is [G, N, K] with the K of a (the NT layout)")
    return b.shape[0], b.shape[1]


def _check_fp8_scales(v: Validator, sfa: torch.Tensor, a_rows: tuple[int, ...], sfb: torch.Tensor,
                      G: int, N: int, K: int) -> None:
    kb = cdiv(K, SCALE_BLOCK)
    v.shape("sfa", sfa, (*a_rows, kb), "one scale per row of a and 128 columns")
    v.shape("sfb", sfb, (G, cdiv(N, SCALE_BLOCK), kb), "one scale per group and 128x128 block of b")


def _check_m_indices(v: Validator, m_indices: torch.Tensor, M: int, G: int) -> None:
    v.tensor("m_indices", m_indices, dtypes=INDEX_DTYPES, ndim=1)
    v.shape("m_indices", m_indices, (M,), "one group id per row of a")
    v.multiple("M_sum (a.shape[0])", M, M_ALIGN, "groups start at multiples of 128 rows")
    if m_indices.is_cuda:  # reading the values would synchronize: trust the caller, as DeepGEMM does
        return
    v.index_range("m_indices", m_indices, -1, G - 1)
    blocks = m_indices.view(-1, M_ALIGN).long()
    first = blocks[:, :1]
    # each 128-row block holds one group's rows followed by padding (-1), or padding only
    ok = ((blocks == first) | ((blocks == -1) & (first >= 0))).all(dim=1)
    if not bool(ok.all()):
        bad = int((~ok).nonzero()[0, 0])
        raise v.fail(f"rows {bad * M_ALIGN}..{bad * M_ALIGN + M_ALIGN - 1} of m_indices mix groups or start "
                     "with padding", "each group's rows must start at a multiple of 128 and be "
                     "followed only by its padding rows (-1)")


def _check_masked(v: Validator, masked_m: torch.Tensor, expected_m: int, G: int, M_max: int) -> None:
    v.tensor("masked_m", masked_m, dtypes=INDEX_DTYPES, ndim=1)
    v.shape("masked_m", masked_m, (G,), "one row count per group")
    if not isinstance(expected_m, int) or isinstance(expected_m, bool) or expected_m < 1:
        raise v.fail(f"expected_m must be a positive int, got {expected_m!r}",
                     "pass the typical number of rows per group (e.g. the mean of masked_m)")
    if not masked_m.is_cuda:
        v.index_range("masked_m", masked_m, 0, M_max)


# --- public entry points -----------------------------------------------------------------------


def m_grouped_gemm_nt_contiguous(a: torch.Tensor, b: torch.Tensor, m_indices: torch.Tensor, *,
                                 backend: str | None = None, **knobs) -> torch.Tensor:
    """bf16 ``out[r] = a[r] @ b[m_indices[r]]^T`` for ``a [M_sum, K]``, ``b [G, N, K]``;
    ``out [M_sum, N]`` bf16, padding rows (``m_indices == -1``) unspecified."""
    v = Validator("m_grouped_gemm_nt_contiguous")
    v.tensor("a", a, dtypes=BF16, ndim=2)
    M, K = a.shape
    G, N = _check_b(v, b, K, BF16)
    _check_m_indices(v, m_indices, M, G)
    c = torch.empty(M, N, dtype=torch.bfloat16, device=v.same_device(a=a, b=b, m_indices=m_indices))
    if c.numel():
        contiguous_launch(a, b, m_indices, c, **knobs).run(backend)
    return c


def m_grouped_fp8_gemm_nt_contiguous(a: torch.Tensor, sfa: torch.Tensor, b: torch.Tensor,
                                     sfb: torch.Tensor, m_indices: torch.Tensor, *,
                                     backend: str | None = None, **knobs) -> torch.Tensor:
    """FP8 ``out[r] = (a[r] * sfa[r]) @ (b[g] * sfb[g])^T`` with ``g = m_indices[r]``; scales as in
    `fp8_gemm_nt` (``sfb [G, ceil(N/128), ceil(K/128)]``); ``out [M_sum, N]`` bf16."""
    v = Validator("m_grouped_fp8_gemm_nt_contiguous")
    check_fp8_operand(v, "a", a, "sfa", sfa, 2)
    M, K = a.shape
    G, N = _check_b(v, b, K, FP8_DTYPES)
    v.tensor("sfb", sfb, dtypes=(torch.float32,), ndim=3)
    _check_fp8_scales(v, sfa, (M,), sfb, G, N, K)
    _check_m_indices(v, m_indices, M, G)
    _no_knob(v, knobs, "BK", SCALE_BLOCK)
    c = torch.empty(M, N, dtype=torch.bfloat16,
                    device=v.same_device(a=a, sfa=sfa, b=b, sfb=sfb, m_indices=m_indices))
    if c.numel():
        fp8_contiguous_launch(a, sfa, b, sfb, m_indices, c, **knobs).run(backend)
    return c


def m_grouped_gemm_nt_masked(a: torch.Tensor, b: torch.Tensor, masked_m: torch.Tensor, expected_m: int,
                             *, backend: str | None = None, **knobs) -> torch.Tensor:
    """bf16 ``out[g, r] = a[g, r] @ b[g]^T`` for ``r < masked_m[g]``; ``a [G, M_max, K]``,
    ``b [G, N, K]`` → ``out [G, M_max, N]`` bf16 (other rows unspecified)."""
    v = Validator("m_grouped_gemm_nt_masked")
    v.tensor("a", a, dtypes=BF16, ndim=3)
    G, M_max, K = a.shape
    Gb, N = _check_b(v, b, K, BF16)
    v.equal("b.shape[0] (groups of b)", Gb, G, "a and b have one entry per group")
    _check_masked(v, masked_m, expected_m, G, M_max)
    c = torch.empty(G, M_max, N, dtype=torch.bfloat16, device=v.same_device(a=a, b=b, masked_m=masked_m))
    if c.numel() and K:
        masked_launch(a, b, masked_m, c, expected_m, **knobs).run(backend)
    return c


def m_grouped_fp8_gemm_nt_masked(a: torch.Tensor, sfa: torch.Tensor, b: torch.Tensor, sfb: torch.Tensor,
                                 masked_m: torch.Tensor, expected_m: int, *, backend: str | None = None,
                                 **knobs) -> torch.Tensor:
    """FP8 masked grouped GEMM: ``sfa [G, M_max, ceil(K/128)]``, ``sfb [G, ceil(N/128), ceil(K/128)]``."""
    v = Validator("m_grouped_fp8_gemm_nt_masked")
    check_fp8_operand(v, "a", a, "sfa", sfa, 3)
    G, M_max, K = a.shape
    Gb, N = _check_b(v, b, K, FP8_DTYPES)
    v.equal("b.shape[0] (groups of b)", Gb, G, "a and b have one entry per group")
    v.tensor("sfb", sfb, dtypes=(torch.float32,), ndim=3)
    _check_fp8_scales(v, sfa, (G, M_max), sfb, G, N, K)
    _check_masked(v, masked_m, expected_m, G, M_max)
    _no_knob(v, knobs, "BK", SCALE_BLOCK)
    c = torch.empty(G, M_max, N, dtype=torch.bfloat16,
                    device=v.same_device(a=a, sfa=sfa, b=b, sfb=sfb, masked_m=masked_m))
    if c.numel() and K:
        fp8_masked_launch(a, sfa, b, sfb, masked_m, c, expected_m, **knobs).run(backend)
    return c


# --- the kernel calls the wrappers make ----------------------------------------------------------
# The layout's constraints are the kernels' own (`td.auto(divides=128)` on BM for the group
# alignment, on BN for the scale block; BK fixed at the scale block): the scheduler picks the
# rest, and an explicit knob that breaks a constraint is an ArgumentError naming it.


def contiguous_launch(a, b, m_indices, c, **knobs) -> Launch:
    return Launch(grouped_contiguous_kernel, (a, b, m_indices, c), knobs)


def fp8_contiguous_launch(a, sfa, b, sfb, m_indices, c, **knobs) -> Launch:
    return Launch(grouped_fp8_contiguous_kernel, (a, sfa, b, sfb, m_indices, c), knobs)


def masked_launch(a, b, masked_m, c, expected_m: int, **knobs) -> Launch:
    """Block sizes and warps scheduled for expected_m rows per group (M_max only bounds the grid);
    the pipeline depth is left to the call's own schedule (it cannot be passed by name)."""
    args = (a, b, masked_m, c)
    steer = scheduled_knobs(grouped_masked_kernel, args, expected_m, **knobs)
    return Launch(grouped_masked_kernel, args, {**{k: steer[k] for k in ("BM", "BN", "BK", "num_warps")},
                                                **knobs})


def fp8_masked_launch(a, sfa, b, sfb, masked_m, c, expected_m: int, **knobs) -> Launch:
    args = (a, sfa, b, sfb, masked_m, c)
    steer = scheduled_knobs(grouped_fp8_masked_kernel, args, expected_m, **knobs)
    return Launch(grouped_fp8_masked_kernel, args, {**{k: steer[k] for k in ("BM", "BN", "num_warps")},
                                                    **knobs})


def _no_knob(v: Validator, knobs: dict, name: str, fixed: int) -> None:
    """`name` is fixed by the layout (the scale block); only that value is accepted."""
    if knobs.get(name, fixed) != fixed:
        raise v.fail(f"{name}={knobs[name]}: the layout fixes {name} at {fixed}", f"leave {name} out")
    knobs.pop(name, None)


# --- torch references --------------------------------------------------------------------------


def m_grouped_gemm_nt_contiguous_ref(a, b, m_indices):
    """Per-row reference in fp32; padding rows give 0."""
    out = torch.zeros(a.shape[0], b.shape[1], dtype=torch.float32, device=a.device)
    for g in range(b.shape[0]):
        rows = m_indices == g
        out[rows] = a[rows].float() @ b[g].float().T
    return out.bfloat16()


def m_grouped_fp8_gemm_nt_contiguous_ref(a, sfa, b, sfb, m_indices):
    A = dequantize(a, sfa, 1, SCALE_BLOCK)
    B = torch.stack([dequantize(b[g], sfb[g], SCALE_BLOCK, SCALE_BLOCK) for g in range(b.shape[0])])
    return m_grouped_gemm_nt_contiguous_ref(A, B, m_indices)


def m_grouped_gemm_nt_masked_ref(a, b, masked_m, expected_m=None):
    """Reference in fp32; rows past masked_m[g] give 0."""
    G, M_max, _ = a.shape
    out = torch.zeros(G, M_max, b.shape[1], dtype=torch.float32, device=a.device)
    for g in range(G):
        m = int(masked_m[g])
        out[g, :m] = a[g, :m].float() @ b[g].float().T
    return out.bfloat16()


def m_grouped_fp8_gemm_nt_masked_ref(a, sfa, b, sfb, masked_m, expected_m=None):
    A = torch.stack([dequantize(a[g], sfa[g], 1, SCALE_BLOCK) for g in range(a.shape[0])])
    B = torch.stack([dequantize(b[g], sfb[g], SCALE_BLOCK, SCALE_BLOCK) for g in range(b.shape[0])])
    return m_grouped_gemm_nt_masked_ref(A, B, masked_m)
