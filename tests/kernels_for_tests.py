"""Kernels shared by tests: the canonical GEMM and softmax from the design brief, and probes of
the constructs the reference kernels need (paged online softmax, block-scaled FP8, grouped GEMM,
dispatch with counters, split-K with atomic accumulation, a level-3 warp reduction and a level-3
warp-specialized GEMM)."""

import tiledsl as td
from tiledsl.demo import matmul, softmax  # noqa: F401 - the brief's GEMM and softmax, shared with the demo
from tiledsl.dtypes import DType
from tiledsl.specs import TensorSpec as T

NEG_INF = float("-inf")


@td.kernel
def matmul_l1(a: td.Tensor, b: td.Tensor) -> td.Tensor:
    return a @ b


@td.kernel
def paged_decode(q: td.Tensor, kv: td.Tensor, block_table: td.Tensor, seqlens: td.Tensor,
                 out: td.Tensor, scale: float, D: td.constexpr, DV: td.constexpr,
                 PAGE: td.constexpr = 16, BH: td.constexpr = td.auto):
    """Decode attention over a paged cache with an online softmax.
    q [B, H, D], kv [blocks, PAGE, D] (V = first DV dims), block_table [B, max_blocks].
    The page loop's trip count depends on seqlens; the cost model prices it at the table's
    width (`expect=`), the most pages a sequence can have. Pipelined: on TileLang the full pages
    are whole-page copies (TMA) and the masked last page is peeled off the loop."""
    B, H, _ = q.shape
    with td.grid(B, td.cdiv(H, BH)) as (b, hb):
        qt = td.load(q, (b, hb * BH, 0), (None, BH, D))
        n = td.load(seqlens, (b,))
        m = td.full((BH,), NEG_INF, td.float32)
        l = td.zeros((BH,), td.float32)
        acc = td.zeros((BH, DV), td.float32)
        for j in td.pipelined(td.cdiv(n, PAGE), expect=block_table.shape[1]):
            blk = td.load(block_table, (b, j))
            pos = j * PAGE + td.arange(0, PAGE)
            valid = pos < n
            k = td.load(kv, (blk, 0, 0), (None, PAGE, D), mask=valid[:, None])
            s = td.dot(qt, k.T) * scale
            s = td.where(valid[None, :], s, NEG_INF)
            m_new = td.maximum(m, td.max(s, axis=1))
            p = td.exp(s - m_new[:, None])
            alpha = td.exp(m - m_new)
            l = l * alpha + td.sum(p, axis=1)
            v = td.load(kv, (blk, 0, 0), (None, PAGE, DV), mask=valid[:, None])
            acc = acc * alpha[:, None] + td.dot(p.to(v.dtype), v)
            m = m_new
        td.store(out, (b, hb * BH, 0), (acc / l[:, None]).to(out.dtype))


@td.kernel
def fp8_gemm_nt(a: td.Tensor, sfa: td.Tensor, b: td.Tensor, sfb: td.Tensor, c: td.Tensor,
                BM: td.constexpr = td.auto, BN: td.constexpr = td.auto, BK: td.constexpr = 128):
    """(a * sfa) @ (b * sfb).T with 1x128 scales on a and 128x128 scales on b, f32 accumulation."""
    M, K = a.shape
    N = b.shape[0]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(K, BK)):
            at = td.load(a, (i * BM, k * BK), (BM, BK))
            bt = td.load(b, (j * BN, k * BK), (BN, BK))
            sa = td.load(sfa, (i * BM, k), (BM, None))
            sb = td.load(sfb, ((j * BN) // 128, k))
            acc += td.dot(at, bt.T) * (sa[:, None] * sb)
        td.store(c, (i * BM, j * BN), acc.to(c.dtype))


@td.kernel
def grouped_gemm_masked(a: td.Tensor, b: td.Tensor, masked_m: td.Tensor, c: td.Tensor,
                        BM: td.constexpr = td.auto, BN: td.constexpr = td.auto, BK: td.constexpr = td.auto):
    """a [G, M_max, K] @ b[g].T for rows < masked_m[g]; b [G, N, K]."""
    G, M_max, K = a.shape
    N = b.shape[1]
    with td.grid(G, td.cdiv(M_max, BM), td.cdiv(N, BN)) as (g, i, j):
        m = td.load(masked_m, (g,))
        if i * BM < m:
            acc = td.zeros((BM, BN), td.float32)
            for k in td.pipelined(td.cdiv(K, BK)):
                at = td.load(a, (g, i * BM, k * BK), (None, BM, BK))
                bt = td.load(b, (g, j * BN, k * BK), (None, BN, BK))
                acc += td.dot(at, bt.T)
            rows = i * BM + td.arange(0, BM)
            td.store(c, (g, i * BM, j * BN), acc.to(c.dtype), mask=(rows < m)[:, None])


@td.kernel
def dispatch_rows(x: td.Tensor, topk_idx: td.Tensor, expert_start: td.Tensor, counters: td.Tensor,
                  out: td.Tensor, out_index: td.Tensor, H: td.constexpr):
    """Scatter each token's row to a slot of each of its experts (slots from atomic counters)."""
    T, TOPK = topk_idx.shape
    with td.grid(T) as t:
        row = td.load(x, (t, 0), (None, H))
        for k in range(TOPK):
            e = td.load(topk_idx, (t, k))
            if e >= 0:
                slot = td.atomic_add(counters, (e,), 1)
                dst = td.load(expert_start, (e,)) + slot
                td.store(out, (dst, 0), row)
                td.store(out_index, (t, k), dst)


@td.kernel
def splitk_gemm(a: td.Tensor, b: td.Tensor, c: td.Tensor, BM: td.constexpr = td.auto,
                BN: td.constexpr = td.auto, BK: td.constexpr = td.auto,
                SPLIT_K: td.constexpr = td.auto):
    """c += a @ b (c f32, zeroed by the caller), the K loop split over SPLIT_K programs per tile
    that add their partial sums atomically. K tiles past the end read as zeros."""
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN), SPLIT_K) as (i, j, s):
        per = td.cdiv(td.cdiv(K, BK), SPLIT_K)
        acc = td.zeros((BM, BN), td.float32)
        for kk in td.pipelined(per):
            k = s * per + kk
            acc += td.dot(td.load(a, (i * BM, k * BK), (BM, BK)), td.load(b, (k * BK, j * BN), (BK, BN)))
        td.atomic_add(c, (i * BM, j * BN), acc)


@td.kernel
def warp_sum(x: td.Tensor, out: td.Tensor):
    """Level 3: each block sums 32 values with warp shuffles."""
    N = x.shape[0]
    with td.grid(td.cdiv(N, 32)) as pid:
        with td.threads(32) as tid:
            v = td.load(x, (pid * 32 + tid,))
            for s in (16, 8, 4, 2, 1):
                v = v + td.shfl_xor(v, s)
            if tid == 0:
                td.store(out, (pid,), v)


@td.kernel
def ws_gemm(a: td.Tensor, b: td.Tensor, c: td.Tensor, BM: td.constexpr = td.auto,
            BN: td.constexpr = td.auto, BK: td.constexpr = td.auto):
    """Level 3: a producer warp group copies the operand tiles into shared memory, the consumer
    warp groups multiply them into an accumulator fragment updated in place."""
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        a_s = td.alloc_shared((BM, BK), a.dtype)
        b_s = td.alloc_shared((BK, BN), b.dtype)
        acc = td.alloc_fragment((BM, BN), td.float32)
        td.copy(td.zeros((BM, BN), td.float32), acc)
        for k in td.pipelined(td.cdiv(K, BK), stages=2):
            with td.producer():
                td.copy(a, a_s, (i * BM, k * BK))
                td.copy(b, b_s, (k * BK, j * BN))
            with td.consumer():
                acc += td.dot(a_s, b_s)
        td.store(c, (i * BM, j * BN), acc.to(c.dtype))


def check_gemm_on_gpu(kernel, m: int, n: int, k: int, backend: str) -> None:
    """Run a (a, b, c) GEMM kernel on random bf16 CUDA tensors and compare with torch."""
    import torch

    a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
    c = torch.empty(m, n, device="cuda", dtype=torch.bfloat16)
    kernel(a, b, c, backend=backend)
    ref = a.float() @ b.float()
    assert (c.float() - ref).abs().max().item() <= 2e-2 * ref.abs().max().item()


# Serving-sized argument specs of each probe, for ahead-of-time compiles for Hopper (both backends):
# name -> (kernel, specs, keyword arguments).
HOPPER_CASES = {
    "paged_decode": (paged_decode, (T((4, 16, 128), DType.bf16), T((64, 16, 128), DType.bf16),
                                    T((4, 8), DType.i32), T((4,), DType.i32),
                                    T((4, 16, 128), DType.bf16), 0.1), dict(D=128, DV=128)),
    "grouped_gemm": (grouped_gemm_masked, (T((4, 256, 512), DType.bf16), T((4, 512, 512), DType.bf16),
                                           T((4,), DType.i32), T((4, 256, 512), DType.bf16)), {}),
    "fp8_gemm_nt": (fp8_gemm_nt, (T((512, 1024), DType.f8e4m3), T((512, 8), DType.f32),
                                  T((512, 1024), DType.f8e4m3), T((4, 8), DType.f32),
                                  T((512, 512), DType.bf16)), {}),
    "splitk": (splitk_gemm, (T((256, 8192), DType.bf16), T((8192, 256), DType.bf16),
                             T((256, 256), DType.f32)), {}),
    "dispatch": (dispatch_rows, (T((128, 1024), DType.bf16), T((128, 8), DType.i32), T((64,), DType.i32),
                                 T((64,), DType.i32), T((1024, 1024), DType.bf16), T((128, 8), DType.i32)),
                 dict(H=1024)),
}


@td.kernel
def two_page_loads(kv: td.Tensor, q: td.Tensor, out: td.Tensor, n: int, COLS: td.constexpr):
    """K and V read from one page of `kv` (rows masked by `n`); with COLS, V is masked by columns
    too (another mask: its own load). The TileLang lowering keeps V as K's region exactly when
    the masks match, and the cost model charges it so (tests/test_shared_pages.py,
    tests/test_tilelang_parity.py)."""
    with td.grid(1):
        rows = td.arange(0, 64)
        k = td.load(kv, (0, 0), (64, 128), mask=(rows < n)[:, None])
        vmask = (rows < n)[:, None] & (td.arange(0, 64) < 32)[None, :] if COLS else (rows < n)[:, None]
        v = td.load(kv, (0, 0), (64, 64), mask=vmask)
        s = td.dot(td.load(q, (0, 0), (64, 128)), k.T)
        td.store(out, (0, 0), td.dot(s.to(td.bfloat16), v))
