"""The language probes run through the IR interpreter (backend="ir") and the Triton backend (in
Triton's interpreter on CPU tensors) and match torch.

Each probe exercises a construct a reference kernel needs: paged online-softmax attention,
block-scaled FP8 accumulation, grouped GEMM with per-group row ranges, scatter with atomic
counters, split-K with atomic accumulation, and a level-3 warp-shuffle reduction."""

import pytest
import torch

from tests import kernels_for_tests as K

BACKENDS = pytest.mark.parametrize("backend", ["ir", "triton"])


@BACKENDS
def test_paged_decode_matches_torch_and_ignores_nan_beyond_seqlen(backend):
    torch.manual_seed(0)
    B, H, D, DV, PAGE, NB = 3, 20, 64, 32, 16, 12
    q = torch.randn(B, H, D)
    kv = torch.randn(NB, PAGE, D)
    block_table = torch.randperm(NB, dtype=torch.int32)[: B * 4].reshape(B, 4)
    seqlens = torch.tensor([20, 64, 1], dtype=torch.int32)
    for b in range(B):  # poison slots past the sequence end: they must never be read
        n = int(seqlens[b])
        for j in range(4):
            lo = max(0, n - j * PAGE)
            if lo < PAGE:
                kv[block_table[b, j], lo:] = float("nan")
    out = torch.empty(B, H, DV)
    K.paged_decode(q, kv, block_table, seqlens, out, 0.125, D=D, DV=DV, PAGE=PAGE, BH=16, backend=backend)
    for b in range(B):
        n = int(seqlens[b])
        rows = kv[block_table[b].long()].reshape(-1, D)[:n]
        p = torch.softmax(q[b] @ rows.T * 0.125, dim=-1)
        torch.testing.assert_close(out[b], p @ rows[:, :DV], atol=1e-4, rtol=1e-4)


@BACKENDS
def test_fp8_block_scaled_gemm_matches_torch(backend):
    torch.manual_seed(0)
    M, N, Kd = 40, 136, 256
    a = torch.randn(M, Kd).to(torch.float8_e4m3fn)
    b = torch.randn(N, Kd).to(torch.float8_e4m3fn)
    sfa = torch.rand(M, Kd // 128) + 0.5
    sfb = torch.rand((N + 127) // 128, Kd // 128) + 0.5
    c = torch.empty(M, N, dtype=torch.bfloat16)
    K.fp8_gemm_nt(a, sfa, b, sfb, c, BM=16, BN=64, backend=backend)
    A = a.float() * sfa.repeat_interleave(128, dim=1)
    Bf = b.float() * sfb.repeat_interleave(128, dim=0)[:N].repeat_interleave(128, dim=1)
    torch.testing.assert_close(c.float(), (A @ Bf.T).bfloat16().float(), atol=0.1, rtol=0.02)


@BACKENDS
def test_grouped_gemm_masked_rows(backend):
    torch.manual_seed(0)
    G, Mmax, N, Kd = 3, 40, 24, 32
    a, b = torch.randn(G, Mmax, Kd), torch.randn(G, N, Kd)
    masked_m = torch.tensor([5, 0, 40], dtype=torch.int32)
    c = torch.full((G, Mmax, N), 7.0)
    K.grouped_gemm_masked(a, b, masked_m, c, BM=16, BN=16, BK=16, backend=backend)
    for g in range(G):
        m = int(masked_m[g])
        torch.testing.assert_close(c[g, :m], a[g, :m] @ b[g].T, atol=1e-4, rtol=1e-4)
        assert (c[g, m:] == 7.0).all()  # rows past masked_m untouched


@BACKENDS
def test_dispatch_with_atomic_counters_places_every_copy(backend):
    torch.manual_seed(0)
    T, TOPK, E, H = 12, 2, 4, 64
    x = torch.randn(T, H)
    topk = torch.randint(-1, E, (T, TOPK), dtype=torch.int32)
    counts = torch.stack([(topk == e).sum() for e in range(E)]).int()
    start = torch.cumsum(counts, 0).int() - counts
    counters = torch.zeros(E, dtype=torch.int32)
    out = torch.zeros(int(counts.sum()), H)
    out_index = torch.full((T, TOPK), -1, dtype=torch.int32)
    K.dispatch_rows(x, topk, start, counters, out, out_index, H=H, backend=backend)
    assert torch.equal(counters, counts)
    seen = set()
    for t in range(T):
        for k in range(TOPK):
            e = int(topk[t, k])
            if e < 0:
                assert out_index[t, k] == -1
                continue
            r = int(out_index[t, k])
            assert start[e] <= r < start[e] + counts[e] and r not in seen
            seen.add(r)
            assert torch.equal(out[r], x[t])


@BACKENDS
def test_split_k_with_atomic_accumulation(backend):
    torch.manual_seed(0)
    a, b = torch.randn(70, 300), torch.randn(300, 50)
    c = torch.zeros(70, 50)
    # 10 K tiles over 3 splits: the last split runs past K and must add nothing
    K.splitk_gemm(a, b, c, BM=16, BN=16, BK=32, SPLIT_K=3, backend=backend)
    torch.testing.assert_close(c, a @ b, atol=1e-4, rtol=1e-4)


def test_level3_warp_shuffle_sum():
    x = torch.randn(96)
    out = torch.empty(3)
    K.warp_sum(x, out, backend="ir")
    torch.testing.assert_close(out, x.reshape(3, 32).sum(1), atol=1e-5, rtol=1e-5)
