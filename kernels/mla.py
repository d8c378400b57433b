"""DeepSeek MLA decode attention over a paged latent KV cache, with FlashMLA's interface.

`mla_decode(q, kv_cache, block_table, cache_seqlens, head_dim_v=512, softmax_scale=None,
causal=False)` -> `(out [b, s_q, h_q, head_dim_v], lse [b, h_q, s_q] fp32)`.

Structure (the way FlashMLA does it):

* The query heads that share one KV head (`G = h_q // h_kv` of them, times `s_q` query positions)
  are the rows of one tile: row `r = s * G + g` is query position `s`, head `kv_head * G + g`. A
  program takes `BM` of those rows, so each latent page of the cache is loaded once for `BM` query
  heads and used twice: its first 512 dims are the "nope" part of K *and* all of V, its last 64
  dims the rope part of K. QK is `q[:, :512] @ c.T + q[:, 512:] @ k_pe.T`, PV is `p @ c`.
* `mla_split_kv` (pass 1): grid `(row blocks, b * h_kv, splits)`; each program walks its share of
  the sequence's pages through the block table, `BN` keys per step (`BN` divides the 64-token
  page; the scheduler picks it: on Hopper 32 at h_q = 128, which keeps Triton's main loop free of
  spills beside the 64x512 fp32 accumulator), with an fp32 online softmax, and writes a partial
  output and the partial log-sum-exp of its split (`-inf` for a split with no key).
* `mla_combine` (pass 2): merges the splits of each row with the usual log-sum-exp weights.
  With one split, pass 1 writes the final output and LSE itself (`+inf` for an empty row) and pass
  2 is skipped.

Masking: slots at or past `cache_seqlens[b]` are never read (masked loads), so they may hold NaN;
with `causal`, query `s` of `s_q` sees keys `< seqlen - s_q + s + 1` (FlashMLA's convention). A row
that sees no key gets `out = 0`, `lse = +inf`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tiledsl.kernels._knobs import Launch

import tiledsl as td
from tiledsl.errors import ArgumentError

PAGE_SIZE = 64
HEAD_DIM = 576
HEAD_DIM_V = 512
NEG_INF = float("-inf")
POS_INF = float("inf")
MIN_PAGES_PER_SPLIT = 2  # a split shorter than this costs more in its partial write than it saves


@td.kernel
def mla_split_kv(q: td.Tensor, kv: td.Tensor, block_table: td.Tensor, seqlens: td.Tensor,
                 o_part: td.Tensor, lse_part: td.Tensor, scale: float, empty_lse: float,
                 h_kv: int, groups: int, s_q: int, causal: int,
                 DV: td.constexpr = 512, DR: td.constexpr = 64, PAGE: td.constexpr = 64,
                 BM: td.constexpr = 64, BN: td.constexpr = td.auto(divides="PAGE", min=16, max=32),
                 STAGES: td.constexpr = td.auto, EXPECT_PAGES: td.constexpr = 0):
    """Pass 1. q [b * h_kv, R, DV + DR] (R = s_q * groups rows per KV head), kv [blocks, PAGE,
    h_kv, DV + DR], o_part [b * h_kv, splits, R, DV], lse_part [b * h_kv, splits, R].

    BN (keys per step) is at most 32: with 64 query rows, the 64x512 fp32 output accumulator
    already takes 128 registers a thread, and ptxas spills inside the loop at 64 keys a step
    (255 registers, 296 B of spills for h100), which the cost model's register estimate does
    not yet foresee; 32 keeps the loop free of spills. At 32, ptxas still uses 255 registers and
    spills 8 B outside the loop (two scalars live across it): beside the accumulator's 128 it
    keeps the 36 shared-memory descriptors of q's 16-wide K steps (72 registers, which the cost
    model now counts: 237 predicted). No knob removes them at a price worth paying (checked for
    sm_90a: STAGES 1/2/4 keep 4-16 B, 16 warps spill 400 B, BN=16 with STAGES=2 has none but
    is priced 1.8x slower).

    EXPECT_PAGES only prices the loop: the pages the cost model expects a sequence to have (the
    host's `expected_pages`), 0 for the block table's width (the most a sequence can have)."""
    BH, R, _ = q.shape
    NSPLIT = o_part.shape[1]
    # row blocks vary fastest in launch order: the programs that share a KV head's pages run
    # together, so the second one finds the pages in L2 (HBM reads each page once)
    # (the grid's sizes come from tensor shapes: the cost model sees them at compile time)
    with td.grid(td.cdiv(R, BM), BH, NSPLIT) as (rb, bh, sp):
        b = bh // h_kv
        hk = bh % h_kv
        n = td.load(seqlens, (b,))
        # causal: row r (query position r // groups) sees keys < n - s_q + r // groups + 1
        rows = rb * BM + td.arange(0, BM)
        limit = n - causal * (s_q - 1 - rows // groups)
        pages = td.cdiv(n, PAGE)
        per = td.cdiv(pages, NSPLIT)
        first = sp * per
        last = td.minimum(first + per, pages)
        q_c = td.load(q, (bh, rb * BM, 0), (None, BM, DV))
        q_r = td.load(q, (bh, rb * BM, DV), (None, BM, DR))
        m = td.full((BM,), NEG_INF, td.float32)
        l = td.zeros((BM,), td.float32)
        acc = td.zeros((BM, DV), td.float32)
        # BN keys per step: a page in one step or in PAGE // BN steps; a split walks its share
        # of the expected pages (the trip count the cost model prices: it depends on seqlens)
        steps = PAGE // BN
        expected = EXPECT_PAGES if EXPECT_PAGES > 0 else block_table.shape[1]
        for jj in td.pipelined((last - first) * steps, stages=STAGES, expect=td.cdiv(expected, NSPLIT) * steps):
            j = first + jj // steps
            off = (jj % steps) * BN
            blk = td.load(block_table, (b, j))
            pos = j * PAGE + off + td.arange(0, BN)
            valid = pos < n
            # the latent keys: K's first DV dims and all of V, loaded once for BM query heads
            c = td.load(kv, (blk, off, hk, 0), (None, BN, None, DV), mask=valid[:, None])
            k_r = td.load(kv, (blk, off, hk, DV), (None, BN, None, DR), mask=valid[:, None])
            s = (td.dot(q_c, c.T) + td.dot(q_r, k_r.T)) * scale
            s = td.where(pos[None, :] < limit[:, None], s, NEG_INF)
            m_new = td.maximum(m, td.max(s, axis=1))
            # a row with no key so far keeps m = -inf: subtract 0 then, not -inf (no NaN)
            m_use = td.where(m_new == NEG_INF, 0.0, m_new)
            p = td.exp(s - m_use[:, None])
            alpha = td.exp(m - m_use)
            l = l * alpha + td.sum(p, axis=1)
            acc = acc * alpha[:, None] + td.dot(p.to(kv.dtype), c)
            m = m_new
        seen = l > 0.0
        out = td.where(seen[:, None], acc / td.where(seen, l, 1.0)[:, None], 0.0)
        lse = td.where(seen, m + td.log(td.where(seen, l, 1.0)), empty_lse)
        td.store(o_part, (bh, sp, rb * BM, 0), out.to(o_part.dtype))
        td.store(lse_part, (bh, sp, rb * BM), lse)


@td.kernel
def mla_combine(o_part: td.Tensor, lse_part: td.Tensor, out: td.Tensor, lse: td.Tensor,
                DV: td.constexpr = 512, BM: td.constexpr = 16):
    """Pass 2. o_part [BH, splits, R, DV] fp32, lse_part [BH, splits, R] -> out [BH, R, DV],
    lse [BH, R] (+inf where no split saw a key)."""
    BH, NSPLIT, R = lse_part.shape
    with td.grid(BH, td.cdiv(R, BM)) as (bh, rb):
        m = td.full((BM,), NEG_INF, td.float32)
        for sp in range(NSPLIT):
            m = td.maximum(m, td.load(lse_part, (bh, sp, rb * BM), (None, None, BM)))
        m_use = td.where(m == NEG_INF, 0.0, m)
        total = td.zeros((BM,), td.float32)
        acc = td.zeros((BM, DV), td.float32)
        for sp in range(NSPLIT):
            w = td.exp(td.load(lse_part, (bh, sp, rb * BM), (None, None, BM)) - m_use)
            total = total + w
            acc = acc + w[:, None] * td.load(o_part, (bh, sp, rb * BM, 0), (None, None, BM, DV))
        seen = total > 0.0
        o = td.where(seen[:, None], acc / td.where(seen, total, 1.0)[:, None], 0.0)
        td.store(out, (bh, rb * BM, 0), o.to(out.dtype))
        td.store(lse, (bh, rb * BM), td.where(seen, m_use + td.log(td.where(seen, total, 1.0)), POS_INF))


# --- host side -------------------------------------------------------------------------------------

def rows_per_tile(rows: int) -> int:
    """BM: 64 query rows per program as FlashMLA (one KV page feeds 64 heads), fewer, a power of
    two of at least 16 (the smallest tensor-core tile), when a KV head has fewer rows."""
    return min(64, max(16, 1 << max(0, rows - 1).bit_length()))


def num_splits(batch: int, h_kv: int, row_blocks: int, max_pages: int, sms: int) -> int:
    """Splits of each sequence: as many as fill the SMs once without a partial second wave
    (`sms // programs`), at least 1, and no more than leave `MIN_PAGES_PER_SPLIT` pages to each
    split of the longest sequence the block table can hold (`max_pages`, its width: no device sync
    to read the lengths). b=128, h_q=128 on 132 SMs: 256 programs already, 1 split; b=16: 4."""
    programs = batch * h_kv * row_blocks
    return max(1, min(sms // programs, max(1, max_pages // MIN_PAGES_PER_SPLIT)))


def _sms(device: torch.device, target) -> int:
    from tiledsl.targets import get_target

    if target is not None:
        return get_target(target).sms
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return get_target("h200").sms


def _fail(msg: str, hint: str) -> None:
    raise ArgumentError(f"mla_decode: {msg}\nhint: {hint}")


def _validate(q, kv_cache, block_table, cache_seqlens, head_dim_v, check_indices: bool) -> int | None:
    """Raise `ArgumentError` for bad inputs; the longest sequence's length when the checks read
    the lengths on the host (`check_indices`), else None."""
    for name, t in (("q", q), ("kv_cache", kv_cache), ("block_table", block_table),
                    ("cache_seqlens", cache_seqlens)):
        if not isinstance(t, torch.Tensor):
            _fail(f"{name} must be a torch.Tensor, got {type(t).__name__}", "pass torch tensors")
    if q.dim() != 4 or kv_cache.dim() != 4:
        _fail(f"q must be [b, s_q, h_q, d] and kv_cache [num_blocks, {PAGE_SIZE}, h_kv, d]; got "
              f"q {tuple(q.shape)}, kv_cache {tuple(kv_cache.shape)}", "add the missing axes with view()")
    b, s_q, h_q, d = q.shape
    _, page, h_kv, d_kv = kv_cache.shape
    if d != HEAD_DIM or d_kv != HEAD_DIM or head_dim_v != HEAD_DIM_V:
        _fail(f"head dims must be d = {HEAD_DIM} (q and kv_cache) and head_dim_v = {HEAD_DIM_V}; "
              f"got q {d}, kv_cache {d_kv}, head_dim_v {head_dim_v}",
              "MLA decode takes DeepSeek's 512 latent + 64 rope dims, as FlashMLA")
    if page != PAGE_SIZE:
        _fail(f"the cache page size must be {PAGE_SIZE}, got {page}", "allocate kv_cache as "
              f"[num_blocks, {PAGE_SIZE}, h_kv, {HEAD_DIM}]")
    if h_kv < 1 or h_q % h_kv:
        _fail(f"h_q ({h_q}) must be a multiple of h_kv ({h_kv})", "query heads share KV heads in groups")
    if s_q < 1:
        _fail(f"s_q must be at least 1, got {s_q}", "decode at least one query token")
    if q.dtype not in (torch.bfloat16, torch.float16) or kv_cache.dtype != q.dtype:
        _fail(f"q and kv_cache must both be bfloat16 or both float16; got {q.dtype}, {kv_cache.dtype}",
              "cast them to one of those dtypes")
    if block_table.dtype != torch.int32 or block_table.dim() != 2 or block_table.shape[0] != b:
        _fail(f"block_table must be int32 [b={b}, max_blocks]; got {block_table.dtype} "
              f"{tuple(block_table.shape)}", "build it with dtype=torch.int32")
    if cache_seqlens.dtype != torch.int32 or tuple(cache_seqlens.shape) != (b,):
        _fail(f"cache_seqlens must be int32 [b={b}]; got {cache_seqlens.dtype} "
              f"{tuple(cache_seqlens.shape)}", "build it with dtype=torch.int32")
    devices = {t.device for t in (q, kv_cache, block_table, cache_seqlens)}
    if len(devices) != 1:
        _fail(f"all tensors must be on one device; got {sorted(map(str, devices))}", "move them with .to(device)")
    return _check_indices(kv_cache.shape[0], block_table, cache_seqlens) if check_indices else None


def _check_indices(num_blocks: int, block_table: torch.Tensor, cache_seqlens: torch.Tensor) -> int:
    """Data-dependent checks (a device sync on a GPU): lengths within the table, used pages within
    the cache. Returns the longest length (0 for an empty batch)."""
    cap = block_table.shape[1] * PAGE_SIZE
    lens = cache_seqlens.cpu()
    if lens.numel() and (int(lens.min()) < 0 or int(lens.max()) > cap):
        _fail(f"cache_seqlens must lie in [0, {cap}] (block_table width {block_table.shape[1]} x "
              f"{PAGE_SIZE}); got {lens.tolist()}", "widen block_table or shorten the sequences")
    used = torch.arange(block_table.shape[1]) < ((lens + PAGE_SIZE - 1) // PAGE_SIZE)[:, None]
    pages = block_table.cpu()[used]
    if pages.numel() and (int(pages.min()) < 0 or int(pages.max()) >= num_blocks):
        _fail(f"block_table entries of used pages must lie in [0, {num_blocks}); got "
              f"[{int(pages.min())}, {int(pages.max())}]", "entries past a sequence's last page are not read")
    return int(lens.max()) if lens.numel() else 0


def expected_pages(block_table: torch.Tensor, cache_seqlens: torch.Tensor, max_seqlen: int | None = None) -> int:
    """EXPECT_PAGES of the split pass: the pages the cost model prices a sequence at.

    The longest sequence's pages (its programs end the kernel, and the split count is set for
    it), rounded up to a power of two and capped at the block table's width, so one table shape
    compiles at most log2(width) + 2 variants; the length is `max_seqlen` when the caller has
    read it, else read from `cache_seqlens` when it is on the CPU. A CUDA tensor is not read (a
    device sync), nor a meta tensor: then the table's width (the most pages a sequence can have,
    which the shape already keys the compile cache by)."""
    width = max(1, block_table.shape[1])
    if max_seqlen is None and cache_seqlens.device.type == "cpu" and cache_seqlens.numel():
        max_seqlen = int(cache_seqlens.max())
    if max_seqlen is None:
        return width
    pages = max(1, -(-max_seqlen // PAGE_SIZE))
    return min(width, 1 << (pages - 1).bit_length())


def mla_decode(q: torch.Tensor, kv_cache: torch.Tensor, block_table: torch.Tensor,
               cache_seqlens: torch.Tensor, head_dim_v: int = HEAD_DIM_V,
               softmax_scale: float | None = None, causal: bool = False, *,
               backend: str | None = None, target=None, num_splits_override: int | None = None,
               check_indices: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """MLA decode attention (FlashMLA's `flash_mla_with_kvcache` semantics), see the module doc.

    `backend`/`target` as for any kernel; `num_splits_override` fixes the split count (tests);
    `check_indices=False` skips the data-dependent checks of the lengths and block table (they
    read the tensors on the host, a device sync on a GPU)."""
    max_seqlen = _validate(q, kv_cache, block_table, cache_seqlens, head_dim_v, check_indices)
    plan = decode_launches(q, kv_cache, block_table, cache_seqlens, softmax_scale, causal,
                           target=target, num_splits_override=num_splits_override, max_seqlen=max_seqlen)
    for launch in plan.launches:
        launch.run(backend, target)
    b, s_q, h_q, _ = q.shape
    h_kv = kv_cache.shape[2]
    groups = h_q // h_kv
    out = plan.out_rows.view(b, h_kv, s_q, groups, head_dim_v).transpose(1, 2).reshape(b, s_q, h_q, head_dim_v)
    lse = plan.lse_rows.view(b, h_kv, s_q, groups).permute(0, 1, 3, 2).reshape(b, h_q, s_q)
    return out, lse


@dataclass(frozen=True)
class DecodePlan:
    """The kernel calls of one `mla_decode` (the split pass, then the combine when there are
    several splits) and the row-major outputs they fill ([b * h_kv, rows, DV] and [b * h_kv, rows])."""

    launches: tuple[Launch, ...]
    out_rows: torch.Tensor
    lse_rows: torch.Tensor


def decode_launches(q: torch.Tensor, kv_cache: torch.Tensor, block_table: torch.Tensor,
                    cache_seqlens: torch.Tensor, softmax_scale: float | None = None,
                    causal: bool = False, *, target=None,
                    num_splits_override: int | None = None, max_seqlen: int | None = None) -> DecodePlan:
    """The calls `mla_decode` makes for these (validated) inputs; meta tensors work too (only
    shapes and dtypes are read), which is how `tiledsl dump`/`bench` compile them ahead of time.
    `max_seqlen`: the longest length when the caller has read it (`expected_pages`)."""
    b, s_q, h_q, d = q.shape
    h_kv = kv_cache.shape[2]
    groups = h_q // h_kv
    rows = s_q * groups
    dv = HEAD_DIM_V
    scale = float(softmax_scale) if softmax_scale is not None else d ** -0.5
    bm = rows_per_tile(rows)
    splits = num_override_or_rule(num_splits_override, b, h_kv, math.ceil(rows / bm),
                                  block_table.shape[1], _sms(q.device, target))
    # rows of one KV head contiguous: [b, s_q, h_kv, G, d] -> [b, h_kv, s_q * G, d] (a view when
    # s_q == 1 or h_kv == 1, a copy of q otherwise, as FlashMLA)
    q_rows = q.reshape(b, s_q, h_kv, groups, d).transpose(1, 2).reshape(b * h_kv, rows, d)
    out_rows = torch.empty(b * h_kv, rows, dv, dtype=q.dtype, device=q.device)
    lse_rows = torch.empty(b * h_kv, rows, dtype=torch.float32, device=q.device)
    knobs = dict(DV=dv, DR=d - dv, PAGE=PAGE_SIZE, BM=bm,
                 EXPECT_PAGES=expected_pages(block_table, cache_seqlens, max_seqlen))
    args = (q_rows, kv_cache, block_table, cache_seqlens)
    runtime = (h_kv, groups, s_q, int(bool(causal)))
    if splits == 1:
        split = Launch(mla_split_kv, (*args, out_rows.view(b * h_kv, 1, rows, dv), lse_rows.view(b * h_kv, 1, rows),
                                     scale, POS_INF, *runtime), knobs)
        return DecodePlan((split,), out_rows, lse_rows)
    o_part = torch.empty(b * h_kv, splits, rows, dv, dtype=torch.float32, device=q.device)
    lse_part = torch.empty(b * h_kv, splits, rows, dtype=torch.float32, device=q.device)
    split = Launch(mla_split_kv, (*args, o_part, lse_part, scale, NEG_INF, *runtime), knobs)
    combine = Launch(mla_combine, (o_part, lse_part, out_rows, lse_rows), dict(DV=dv, BM=min(16, bm)))
    return DecodePlan((split, combine), out_rows, lse_rows)


def num_override_or_rule(override: int | None, batch: int, h_kv: int, row_blocks: int,
                         max_pages: int, sms: int) -> int:
    if override is not None:
        if int(override) < 1:
            _fail(f"num_splits_override must be at least 1, got {override}", "pass None for the rule")
        return int(override)
    return num_splits(batch, h_kv, row_blocks, max_pages, sms)


def mla_decode_ref(q: torch.Tensor, kv_cache: torch.Tensor, block_table: torch.Tensor,
                   cache_seqlens: torch.Tensor, head_dim_v: int = HEAD_DIM_V,
                   softmax_scale: float | None = None, causal: bool = False
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch reference: gather each sequence's keys, softmax in fp32, one sequence at a time (on
    the tensors' device)."""
    b, s_q, h_q, d = q.shape
    h_kv = kv_cache.shape[2]
    groups = h_q // h_kv
    scale = softmax_scale if softmax_scale is not None else d ** -0.5
    dev = q.device
    out = torch.zeros(b, s_q, h_q, head_dim_v, dtype=torch.float32, device=dev)
    lse = torch.full((b, h_q, s_q), POS_INF, dtype=torch.float32, device=dev)
    lens = cache_seqlens.tolist()
    for i in range(b):
        n = lens[i]
        if n == 0:
            continue
        pages = block_table[i, : (n + PAGE_SIZE - 1) // PAGE_SIZE].long()
        keys = kv_cache[pages].float().reshape(-1, h_kv, d)[:n]  # [n, h_kv, d]
        keys = keys.repeat_interleave(groups, dim=1).transpose(0, 1)  # [h_q, n, d]
        scores = torch.einsum("shd,hnd->hsn", q[i].float(), keys) * scale  # [h_q, s_q, n]
        if causal:
            seen = n - s_q + torch.arange(s_q, device=dev)[:, None] + 1  # keys < seen per query
            scores = scores.masked_fill(torch.arange(n, device=dev)[None, :] >= seen, NEG_INF)
        row_lse = torch.logsumexp(scores, dim=-1)  # [h_q, s_q]
        p = torch.exp(scores - row_lse[..., None]).nan_to_num(0.0)  # rows with no key: all 0
        out[i] = torch.einsum("hsn,hnv->shv", p, keys[..., :head_dim_v])
        lse[i] = torch.where(torch.isneginf(row_lse), POS_INF, row_lse)
    return out.to(q.dtype), lse
