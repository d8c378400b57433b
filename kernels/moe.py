"""FP8 MoE dispatch (quantize + permute into expert-contiguous rows) and combine.

`moe_dispatch_fp8` lays tokens out for the contiguous grouped GEMM
(`m_grouped_fp8_gemm_nt_contiguous`): every expert's rows start at a multiple of `block_m`, the
rows of one expert are in (token, k) order, padding rows hold zeros with `m_indices == -1`.

Kernels (T tokens, E experts, NB = cdiv(T, BT) token blocks):

1. `_count_kernel`   grid (NB,): histogram of the block's expert ids -> hist[NB, E] (atomics).
2. `_block_prefix_kernel` grid (E/32,): per expert, exclusive prefix of hist over the blocks
   (a cumsum down 64-block tiles) and the count.
3. `_expert_offsets_kernel` grid (1,): block_m-aligned start of each expert (prefix over experts)
   and M_pad.
4. host: reads M_pad (one sync: the output size is data-dependent) and allocates the outputs.
5. `_fill_kernel`    grid (E,): m_indices of each expert's rows, zeros in its padding rows.
6. `_scatter_kernel` grid (NB, H/1024): each token's destination rows (start + block prefix + rank
   in the block, the rank by comparing the block's ids: deterministic, no atomics), then per 1x128
   group the FP8 quantization and the stores to every destination row.

Passes over the tokens: kernel 1 reads topk_idx once; kernel 5 reads topk_idx again and x once
(the only pass over the payload), writing x_fp8/scales once per copy. Kernels 2, 3 and 5 touch
only per-block/per-expert counters and padding rows.
"""

from __future__ import annotations

import torch
from tiledsl.kernels._knobs import Launch

import tiledsl as td
from tiledsl.errors import ArgumentError

FP8_MAX = 448.0
AMAX_EPS = 1e-4
GROUP = 128


def _next_pow2(n: int) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


# ---------------------------------------------------------------------------------------------
# kernels
# ---------------------------------------------------------------------------------------------

@td.kernel
def _count_kernel(topk_flat: td.Tensor, hist: td.Tensor, T: int, E: int,
                  TOPK: td.constexpr, TP: td.constexpr, BT: td.constexpr):
    """hist[b, e] = number of (t, k) in token block b with topk_idx[t, k] == e."""
    nb = td.cdiv(T, BT)
    with td.grid(nb) as b:
        i = td.arange(0, BT * TP)
        t = b * BT + i // TP
        k = i % TP
        ok = (t < T) & (k < TOPK)
        e = td.load(topk_flat, (t * TOPK + k,), (BT * TP,), mask=ok, other=-1)
        valid = ok & (e >= 0) & (e < E)
        ones = td.full((BT * TP,), 1, td.int32)
        td.atomic_add(hist, (b * E + e,), ones, mask=valid)


@td.kernel
def _block_prefix_kernel(hist: td.Tensor, block_off: td.Tensor, counts: td.Tensor,
                         CB: td.constexpr, EB: td.constexpr):
    """block_off[b, e] = sum_{b' < b} hist[b', e] and counts[e] = sum_b hist[b, e] (hist [NB, E]).

    Program p owns experts [p*EB, (p+1)*EB) and walks the blocks CB at a time with a prefix sum
    down each column, so the serial chain is cdiv(NB, CB) steps, not NB."""
    NB, E = hist.shape
    with td.grid(td.cdiv(E, EB)) as p:
        run = td.zeros((EB,), td.int32)
        for c in range(td.cdiv(NB, CB)):
            h = td.load(hist, (c * CB, p * EB), (CB, EB))
            td.store(block_off, (c * CB, p * EB), td.cumsum(h, 0) - h + run[None, :])
            run = run + td.sum(h, 0)
        td.store(counts, (p * EB,), run)


@td.kernel
def _expert_offsets_kernel(counts: td.Tensor, starts: td.Tensor, m_pad: td.Tensor,
                           BLOCK_M: td.constexpr, EP: td.constexpr):
    """starts[e] = sum_{e' < e} round_up(counts[e'], BLOCK_M); m_pad[0] = the total."""
    with td.grid(1) as _p:
        c = td.load(counts, (0,), (EP,))
        aligned = (c + (BLOCK_M - 1)) // BLOCK_M * BLOCK_M
        td.store(starts, (0,), td.cumsum(aligned, 0) - aligned)
        td.store(m_pad, (0,), td.sum(aligned, 0))


@td.kernel
def _fill_kernel(counts: td.Tensor, starts: td.Tensor, m_indices: td.Tensor, x_fp8: td.Tensor,
                 scales: td.Tensor, H: int, BLOCK_M: td.constexpr, BR: td.constexpr):
    """m_indices over each expert's rows (-1 in padding rows); zeros in padding rows' data."""
    E = counts.shape[0]
    with td.grid(E) as e:
        c = td.load(counts, (e,))
        s = td.load(starts, (e,))
        padded = (c + (BLOCK_M - 1)) // BLOCK_M * BLOCK_M
        r = td.arange(0, BR)
        for j in range(td.cdiv(padded, BR)):
            local = j * BR + r
            val = td.where(local < c, e, -1).to(td.int32)
            td.store(m_indices, (s + local,), val, mask=local < padded)
        n_pad = padded - c
        zq = td.zeros((BR, GROUP), td.float8_e4m3)
        zs = td.zeros((BR,), td.float32)
        for j in range(td.cdiv(n_pad, BR)):
            rows = s + c + j * BR + r
            rm = (j * BR + r) < n_pad
            for g in range(td.cdiv(H, GROUP)):
                td.store(x_fp8, (rows, g * GROUP), zq, mask=rm[:, None])
                td.store(scales, (rows, g), zs, mask=rm)


@td.kernel
def _scatter_kernel(x: td.Tensor, topk_flat: td.Tensor, starts: td.Tensor, block_off: td.Tensor,
                    x_fp8: td.Tensor, scales: td.Tensor, out_index: td.Tensor, E: int,
                    TOPK: td.constexpr, TP: td.constexpr, BT: td.constexpr, GCH: td.constexpr = 8):
    """Destination rows of the block's (t, k) copies, then FP8-quantize x once and store each copy.

    Program (b, h) handles tokens [b*BT, (b+1)*BT) and 1x128 groups [h*GCH, (h+1)*GCH): the second
    axis gives a bandwidth-bound launch enough programs; each recomputes the (cheap) destinations.
    Groups past H read zeros and their stores fall outside x_fp8/scales, so they are skipped.
    T and H are x's shape (not runtime scalars) so the cost model sees the grid."""
    T, H = x.shape
    nb = td.cdiv(T, BT)
    with td.grid(nb, td.cdiv(H, GROUP * GCH)) as (b, h):
        i = td.arange(0, BT * TP)
        t = b * BT + i // TP
        k = i % TP
        ok = (t < T) & (k < TOPK)
        e = td.load(topk_flat, (t * TOPK + k,), (BT * TP,), mask=ok, other=-1)
        valid = ok & (e >= 0) & (e < E)
        # rank of copy i among the block's earlier copies (flat (t, k) order) of the same expert
        same = (e[:, None] == e[None, :]) & (i[None, :] < i[:, None]) & valid[None, :]
        rank = td.sum(same.to(td.int32), 1)
        base = td.load(starts, (e,), (BT * TP,), mask=valid, other=0) \
            + td.load(block_off, (b * E + e,), (BT * TP,), mask=valid, other=0)
        dst = td.where(valid, base + rank, -1).to(td.int32)
        td.store(out_index, (t * TOPK + k,), dst, mask=ok & (h == 0))
        dst2 = td.reshape(dst, (BT, TP))
        kk = td.arange(0, TP)
        for gg in range(GCH):
            g = h * GCH + gg
            xt = td.load(x, (b * BT, g * GROUP), (BT, GROUP)).to(td.float32)
            amax = td.maximum(td.max(td.abs(xt), 1), AMAX_EPS)
            q = (xt * (FP8_MAX / amax)[:, None]).to(td.float8_e4m3)
            sc = amax / FP8_MAX
            for j in range(TOPK):
                # column j of dst2 (a masked row reduction: tiles have no column indexing)
                d = td.max(td.where(kk[None, :] == j, dst2, -1), 1)
                td.store(x_fp8, (d, g * GROUP), q, mask=(d >= 0)[:, None])
                td.store(scales, (d, g), sc, mask=d >= 0)


@td.kernel
def _quantize_kernel(x: td.Tensor, x_fp8: td.Tensor, scales: td.Tensor, T: int, H: int,
                     BT: td.constexpr):
    """Per-token 1x128 FP8 quantization in place of the rows (used by ep_dispatch before sending)."""
    with td.grid(td.cdiv(T, BT)) as b:
        rows = b * BT + td.arange(0, BT)
        for g in range(td.cdiv(H, GROUP)):
            xt = td.load(x, (b * BT, g * GROUP), (BT, GROUP)).to(td.float32)
            amax = td.maximum(td.max(td.abs(xt), 1), AMAX_EPS)
            td.store(x_fp8, (b * BT, g * GROUP), (xt * (FP8_MAX / amax)[:, None]).to(td.float8_e4m3))
            td.store(scales, (rows, g), amax / FP8_MAX)


@td.kernel
def _combine_kernel(y: td.Tensor, index_flat: td.Tensor, w_flat: td.Tensor, out: td.Tensor,
                    TOPK: td.constexpr, BT: td.constexpr, BN: td.constexpr):
    """out[t] = sum_k w[t, k] * y[index[t, k]] over index >= 0, in k order, f32 accumulation."""
    T, N = out.shape
    with td.grid(td.cdiv(T, BT), td.cdiv(N, BN)) as (b, n):
        rows = b * BT + td.arange(0, BT)
        acc = td.zeros((BT, BN), td.float32)
        for k in range(TOPK):
            idx = td.load(index_flat, (rows * TOPK + k,), (BT,), mask=rows < T, other=-1)
            w = td.load(w_flat, (rows * TOPK + k,), (BT,), mask=idx >= 0, other=0).to(td.float32)
            yt = td.load(y, (idx, n * BN), (BT, BN), mask=(idx >= 0)[:, None], other=0).to(td.float32)
            acc = acc + w[:, None] * yt
        td.store(out, (b * BT, n * BN), acc.to(out.dtype))


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------

_FLOAT_IN = (torch.float32, torch.float16, torch.bfloat16)
_INT_IN = (torch.int32, torch.int64)


def _check_x(name: str, x: torch.Tensor) -> tuple[int, int]:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.dtype not in _FLOAT_IN:
        raise ArgumentError(f"{name}(): x must be a 2-D float32/float16/bfloat16 tensor [T, H], got "
                            f"{_describe(x)}; reshape the tokens to [T, H]")
    T, H = x.shape
    if H % GROUP != 0:
        raise ArgumentError(f"{name}(): hidden size {H} is not a multiple of {GROUP} (FP8 scales are "
                            f"per 1x{GROUP} group); pad the hidden dimension to a multiple of {GROUP}")
    return T, H


def _describe(v) -> str:
    if isinstance(v, torch.Tensor):
        return f"a {v.dtype} tensor of shape {tuple(v.shape)}"
    return f"{type(v).__name__} {v!r}"


def _check_topk(name: str, topk_idx: torch.Tensor, T: int, num_experts: int) -> None:
    if not isinstance(topk_idx, torch.Tensor) or topk_idx.dim() != 2 or topk_idx.dtype not in _INT_IN:
        raise ArgumentError(f"{name}(): topk_idx must be a 2-D int32/int64 tensor [T, topk], got "
                            f"{_describe(topk_idx)}")
    if topk_idx.shape[0] != T:
        raise ArgumentError(f"{name}(): topk_idx has {topk_idx.shape[0]} rows but x has {T} tokens; "
                            "pass one row of expert ids per token")
    if isinstance(num_experts, bool) or not isinstance(num_experts, int) or num_experts < 1:
        raise ArgumentError(f"{name}(): num_experts must be a positive int, got {num_experts!r}")
    if topk_idx.numel():
        lo, hi = int(topk_idx.min()), int(topk_idx.max())  # one host sync; the sizes need one anyway
        if lo < -1 or hi >= num_experts:
            raise ArgumentError(f"{name}(): topk_idx holds expert ids in [{lo}, {hi}] but must be in "
                                f"[-1, {num_experts}) (-1 means no expert); check num_experts")


def _same_device(name: str, *ts: torch.Tensor) -> None:
    devs = {t.device for t in ts}
    if len(devs) > 1:
        raise ArgumentError(f"{name}(): tensors are on different devices ({sorted(map(str, devs))}); "
                            "move them to one device")


def moe_dispatch_fp8(x: torch.Tensor, topk_idx: torch.Tensor, num_experts: int, block_m: int = 128,
                     *, backend: str | None = None):
    """Quantize tokens to FP8 (1x128 groups) and lay them out expert-contiguously.

    Returns `(x_fp8 [M_pad, H] e4m3, scales fp32 [M_pad, H/128], m_indices int32 [M_pad],
    output_index int32 [T, topk])`. `M_pad = sum_e round_up(count_e, block_m)` (data-dependent:
    the counts are computed first and read by the host once). Expert e's rows start at
    `sum_{e' < e} round_up(count_e', block_m)`; within an expert rows are in (token, k) order;
    padding rows hold zeros and `m_indices == -1`. `output_index[t, k]` is the row of copy
    (t, k), -1 where `topk_idx[t, k] == -1`. Quantization (DeepGEMM's per_token_cast_to_fp8):
    `amax = max(max|x_group|, 1e-4)`, `x_fp8 = (x * (448 / amax)).to(e4m3)`, `scale = amax / 448`.
    """
    name = "moe_dispatch_fp8"
    T, H = _check_x(name, x)
    _check_topk(name, topk_idx, T, num_experts)
    _same_device(name, x, topk_idx)
    if isinstance(block_m, bool) or not isinstance(block_m, int) or block_m < 1:
        raise ArgumentError(f"{name}(): block_m must be a positive int, got {block_m!r}")
    E, topk, dev = num_experts, topk_idx.shape[1], x.device
    kw = {"backend": backend} if backend else {}
    x = x.contiguous()
    flat = topk_idx.to(torch.int32).contiguous().view(-1)
    TP = _next_pow2(max(topk, 1))
    BT = max(1, 128 // TP)
    NB = -(-T // BT)
    i32 = {"dtype": torch.int32, "device": dev}
    hist = torch.zeros(max(NB, 1) * E, **i32)
    if T and topk:
        _count_kernel(flat, hist, T, E, TOPK=topk, TP=TP, BT=BT, **kw)
    block_off = torch.empty(max(NB, 1), E, **i32)
    EP = _next_pow2(E)
    counts = torch.zeros(EP, **i32)  # padded to a power of two: the expert prefix is one tile
    starts, m_pad = torch.empty(EP, **i32), torch.empty(1, **i32)
    _block_prefix_kernel(hist.view(-1, E), block_off, counts, CB=64, EB=min(32, EP), **kw)
    _expert_offsets_kernel(counts, starts, m_pad, BLOCK_M=block_m, EP=EP, **kw)
    counts, starts = counts[:E], starts[:E]
    M = int(m_pad.item())
    x_fp8 = torch.empty(M, H, dtype=torch.float8_e4m3fn, device=dev)
    scales = torch.empty(M, H // GROUP, dtype=torch.float32, device=dev)
    m_indices = torch.empty(M, **i32)
    output_index = torch.full((T, topk), -1, **i32)
    if M:
        _fill_kernel(counts, starts, m_indices, x_fp8, scales, H, BLOCK_M=block_m, BR=32, **kw)
    if T and topk and M:
        scatter_launch(x, flat, starts, block_off, x_fp8, scales, output_index, E).run(backend)
    return x_fp8, scales, m_indices, output_index


def scatter_launch(x: torch.Tensor, flat: torch.Tensor, starts: torch.Tensor, block_off: torch.Tensor,
                   x_fp8: torch.Tensor, scales: torch.Tensor, output_index: torch.Tensor, E: int) -> Launch:
    """The payload pass of `moe_dispatch_fp8` (kernel 6: destinations, quantization, stores)."""
    H, topk = x.shape[1], output_index.shape[1]
    TP = _next_pow2(max(topk, 1))
    return Launch(_scatter_kernel, (x, flat, starts, block_off.view(-1), x_fp8, scales, output_index.view(-1), E),
                  dict(TOPK=topk, TP=TP, BT=max(1, 128 // TP), GCH=min(8, H // GROUP)))


def dispatch_launch(x: torch.Tensor, topk_idx: torch.Tensor, num_experts: int, block_m: int = 128) -> Launch:
    """`scatter_launch` with buffers sized for the most padding (every expert's last block one row
    full), for compiling ahead of time from shapes alone (meta tensors work)."""
    (T, H), topk, E, dev = x.shape, topk_idx.shape[1], num_experts, x.device
    TP = _next_pow2(max(topk, 1))
    NB = max(1, -(-T // max(1, 128 // TP)))
    M = -(-(T * topk + E * (block_m - 1)) // block_m) * block_m
    i32 = {"dtype": torch.int32, "device": dev}
    return scatter_launch(x, torch.empty(T * topk, **i32), torch.empty(E, **i32), torch.empty(NB, E, **i32),
                          torch.empty(M, H, dtype=torch.float8_e4m3fn, device=dev),
                          torch.empty(M, H // GROUP, dtype=torch.float32, device=dev),
                          torch.empty(T, topk, **i32), E)


def moe_combine(y: torch.Tensor, output_index: torch.Tensor, topk_weights: torch.Tensor,
                *, backend: str | None = None) -> torch.Tensor:
    """`out[t] = sum_k topk_weights[t, k] * y[output_index[t, k]]` over `output_index >= 0`.

    f32 accumulation in k order; the result has y's dtype (float32/float16/bfloat16)."""
    name = "moe_combine"
    if not isinstance(y, torch.Tensor) or y.dim() != 2 or y.dtype not in _FLOAT_IN:
        raise ArgumentError(f"{name}(): y must be a 2-D float32/float16/bfloat16 tensor [M, N], got "
                            f"{_describe(y)}")
    if not isinstance(output_index, torch.Tensor) or output_index.dim() != 2 \
            or output_index.dtype not in _INT_IN:
        raise ArgumentError(f"{name}(): output_index must be a 2-D int32/int64 tensor [T, topk], got "
                            f"{_describe(output_index)}")
    if not isinstance(topk_weights, torch.Tensor) or topk_weights.shape != output_index.shape \
            or topk_weights.dtype not in _FLOAT_IN:
        raise ArgumentError(f"{name}(): topk_weights must be a float tensor of output_index's shape "
                            f"{tuple(output_index.shape)}, got {_describe(topk_weights)}")
    _same_device(name, y, output_index, topk_weights)
    T, topk = output_index.shape
    if output_index.numel():
        lo, hi = int(output_index.min()), int(output_index.max())
        if lo < -1 or hi >= y.shape[0]:
            raise ArgumentError(f"{name}(): output_index holds rows in [{lo}, {hi}] but y has "
                                f"{y.shape[0]} rows (-1 means none); pass the index moe_dispatch_fp8 "
                                "returned with the matching y")
    N = y.shape[1]
    out = torch.empty(T, N, dtype=y.dtype, device=y.device)
    if T == 0 or N == 0:
        return out
    if topk == 0:
        return out.zero_()
    combine_launch(y.contiguous(), output_index.to(torch.int32).contiguous(), topk_weights.contiguous(),
                   out).run(backend)
    return out


def combine_launch(y: torch.Tensor, output_index: torch.Tensor, topk_weights: torch.Tensor,
                   out: torch.Tensor) -> Launch:
    """The kernel call of `moe_combine` (contiguous int32 index and contiguous weights)."""
    topk, N = output_index.shape[1], y.shape[1]
    return Launch(_combine_kernel, (y, output_index.view(-1), topk_weights.view(-1), out),
                  dict(TOPK=topk, BT=16, BN=min(128, _next_pow2(N))))


def per_token_quant_fp8(x: torch.Tensor, *, backend: str | None = None):
    """(x_fp8 [T, H], scales [T, H/128]) with moe_dispatch_fp8's quantization (private helper of ep)."""
    T, H = _check_x("ep_dispatch", x)
    x_fp8 = torch.empty(T, H, dtype=torch.float8_e4m3fn, device=x.device)
    scales = torch.empty(T, H // GROUP, dtype=torch.float32, device=x.device)
    if T:
        kw = {"backend": backend} if backend else {}
        _quantize_kernel(x.contiguous(), x_fp8, scales, T, H, BT=16, **kw)
    return x_fp8, scales


# ---------------------------------------------------------------------------------------------
# torch references (independent of the kernels)
# ---------------------------------------------------------------------------------------------

def quant_fp8_ref(x: torch.Tensor):
    """DeepGEMM's per_token_cast_to_fp8 on [T, H]."""
    T, H = x.shape
    xf = x.float().view(T, H // GROUP, GROUP)
    amax = xf.abs().amax(-1).clamp(min=AMAX_EPS)
    # 448 / amax correctly rounded, as the kernel divides: torch evaluates `number / tensor` as
    # number * (1 / tensor), rounding twice, which moves a few codes by one fp8 step
    inv = torch.full_like(amax, FP8_MAX) / amax
    return (xf * inv[..., None]).to(torch.float8_e4m3fn).view(T, H), amax / FP8_MAX


def moe_dispatch_fp8_ref(x: torch.Tensor, topk_idx: torch.Tensor, num_experts: int,
                         block_m: int = 128):
    """Loop-based reference of moe_dispatch_fp8 (same layout, same bytes)."""
    T, H = x.shape
    q, s = quant_fp8_ref(x)
    counts = [int((topk_idx == e).sum()) for e in range(num_experts)]
    padded = [-(-c // block_m) * block_m for c in counts]
    starts = [sum(padded[:e]) for e in range(num_experts)]
    M = sum(padded)
    x_fp8 = torch.zeros(M, H, dtype=torch.float8_e4m3fn)
    scales = torch.zeros(M, H // GROUP)
    m_indices = torch.full((M,), -1, dtype=torch.int32)
    output_index = torch.full(tuple(topk_idx.shape), -1, dtype=torch.int32)
    fill = list(starts)
    for t in range(T):
        for k in range(topk_idx.shape[1]):
            e = int(topk_idx[t, k])
            if e < 0:
                continue
            r = fill[e]
            fill[e] += 1
            x_fp8[r], scales[r], m_indices[r], output_index[t, k] = q[t], s[t], e, r
    return x_fp8, scales, m_indices, output_index


def moe_combine_ref(y: torch.Tensor, output_index: torch.Tensor, topk_weights: torch.Tensor):
    T, topk = output_index.shape
    acc = torch.zeros(T, y.shape[1])
    for k in range(topk):
        idx = output_index[:, k].long()
        ok = idx >= 0
        rows = torch.where(ok[:, None], y.float()[idx.clamp(min=0)], 0.0)
        acc = acc + topk_weights[:, k].float()[:, None] * rows
    return acc.to(y.dtype)
