"""Eager mode (`backend="eager"`): every construct of docs/language.md, the canonical kernels and
the language probes, each checked against torch computed here (never through another backend);
print, pdb hooks and tracebacks at the user's lines; the runtime hooks."""

from __future__ import annotations

import pytest
import torch

import tiledsl as td
from tests import kernels_for_tests as K

E = "eager"
INF = float("inf")


def r16(t: torch.Tensor, dt=torch.float16) -> torch.Tensor:
    """Round to a 16-bit float and back: what one eager op on 16-bit floats does to its f32 result."""
    return t.to(dt).float()


def line_of(fn, mark: str) -> int:
    import inspect

    lines, first = inspect.getsourcelines(fn.fn if hasattr(fn, "fn") else fn)
    return first + next(i for i, text in enumerate(lines) if mark in text)


# --- canonical kernels and probes ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float8_e4m3fn])
def test_gemm_ragged_all_dtypes(dtype):
    torch.manual_seed(0)
    a, b = torch.randn(77, 130).to(dtype), torch.randn(130, 45).to(dtype)
    out_dt = torch.float32 if dtype == torch.float8_e4m3fn else dtype
    c = torch.full((77, 45), float("nan"), dtype=out_dt)
    K.matmul(a, b, c, backend=E, BM=16, BN=32, BK=16)
    ref = (a.float() @ b.float()).to(out_dt)
    tol = {torch.float32: 1e-4, torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float8_e4m3fn: 1e-4}[dtype]
    torch.testing.assert_close(c.float(), ref.float(), rtol=tol, atol=1e-3 * 130 ** 0.5)


def test_gemm_auto_knobs_take_the_eager_default():
    a, b = torch.randn(40, 70), torch.randn(70, 33)
    c = torch.empty(40, 33)
    K.matmul(a, b, c, backend=E)  # BM, BN, BK left as td.auto: 32 each
    torch.testing.assert_close(c, a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float8_e4m3fn])
def test_level1_softmax(dtype):
    x = (torch.randn(37, 77) * 3).to(dtype)
    y = K.softmax(x, backend=E)
    # fp8 is a storage type: exp of it computes in f32 and gives f32
    assert y.dtype == (torch.float32 if dtype == torch.float8_e4m3fn else dtype)
    tol = 1e-5 if y.dtype == torch.float32 else 1e-2
    torch.testing.assert_close(y.float(), torch.softmax(x.float(), -1).to(y.dtype).float(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float8_e4m3fn])
def test_level1_matmul(dtype):
    a, b = torch.randn(45, 70).to(dtype), torch.randn(70, 33).to(dtype)
    c = K.matmul_l1(a, b, backend=E)
    assert c.dtype == (torch.float32 if dtype == torch.float8_e4m3fn else dtype)  # fp8 products in f32
    torch.testing.assert_close(c.float(), (a.float() @ b.float()).to(c.dtype).float(), rtol=1.6e-2, atol=1e-2)


def test_paged_decode_ignores_nan_beyond_seqlen():
    torch.manual_seed(0)
    B, H, D, DV, PAGE, NB = 3, 20, 64, 32, 16, 12
    q, kv = torch.randn(B, H, D), torch.randn(NB, PAGE, D)
    table = torch.randperm(NB, dtype=torch.int32)[: B * 4].reshape(B, 4)
    seqlens = torch.tensor([20, 64, 1], dtype=torch.int32)
    for b in range(B):
        n = int(seqlens[b])
        for j in range(4):
            lo = max(0, n - j * PAGE)
            if lo < PAGE:
                kv[table[b, j], lo:] = float("nan")
    out = torch.empty(B, H, DV)
    K.paged_decode(q, kv, table, seqlens, out, 0.125, D=D, DV=DV, PAGE=PAGE, BH=16, backend=E)
    for b in range(B):
        rows = kv[table[b].long()].reshape(-1, D)[: int(seqlens[b])]
        p = torch.softmax(q[b] @ rows.T * 0.125, dim=-1)
        torch.testing.assert_close(out[b], p @ rows[:, :DV], atol=1e-4, rtol=1e-4)


def test_fp8_block_scaled_gemm():
    torch.manual_seed(0)
    M, N, Kd = 40, 136, 256
    a, b = torch.randn(M, Kd).to(torch.float8_e4m3fn), torch.randn(N, Kd).to(torch.float8_e4m3fn)
    sfa, sfb = torch.rand(M, Kd // 128) + 0.5, torch.rand((N + 127) // 128, Kd // 128) + 0.5
    c = torch.empty(M, N, dtype=torch.bfloat16)
    K.fp8_gemm_nt(a, sfa, b, sfb, c, BM=16, BN=64, backend=E)
    A = a.float() * sfa.repeat_interleave(128, dim=1)
    Bf = b.float() * sfb.repeat_interleave(128, dim=0)[:N].repeat_interleave(128, dim=1)
    torch.testing.assert_close(c.float(), (A @ Bf.T).bfloat16().float(), atol=0.1, rtol=0.02)


def test_grouped_gemm_masked_rows():
    torch.manual_seed(0)
    G, Mmax, N, Kd = 3, 40, 24, 32
    a, b = torch.randn(G, Mmax, Kd), torch.randn(G, N, Kd)
    masked_m = torch.tensor([5, 0, 40], dtype=torch.int32)
    c = torch.full((G, Mmax, N), 7.0)
    K.grouped_gemm_masked(a, b, masked_m, c, BM=16, BN=16, BK=16, backend=E)
    for g in range(G):
        m = int(masked_m[g])
        torch.testing.assert_close(c[g, :m], a[g, :m] @ b[g].T, atol=1e-4, rtol=1e-4)
        assert (c[g, m:] == 7.0).all()


def test_dispatch_with_atomic_counters():
    torch.manual_seed(0)
    T, TOPK, NE, H = 12, 2, 4, 64
    x = torch.randn(T, H)
    topk = torch.randint(-1, NE, (T, TOPK), dtype=torch.int32)
    counts = torch.stack([(topk == e).sum() for e in range(NE)]).int()
    start = torch.cumsum(counts, 0).int() - counts
    counters = torch.zeros(NE, dtype=torch.int32)
    out, out_index = torch.zeros(int(counts.sum()), H), torch.full((T, TOPK), -1, dtype=torch.int32)
    K.dispatch_rows(x, topk, start, counters, out, out_index, H=H, backend=E)
    assert torch.equal(counters, counts)
    # programs run in order and each atomic returns the old count: slots fill in token order
    for e in range(NE):
        toks = [(t, k) for t in range(T) for k in range(TOPK) if topk[t, k] == e]
        for n, (t, k) in enumerate(toks):
            assert out_index[t, k] == start[e] + n and torch.equal(out[start[e] + n], x[t])
    assert (out_index[topk < 0] == -1).all()


def test_split_k_with_atomic_accumulation():
    a, b = torch.randn(70, 300), torch.randn(300, 50)
    c = torch.zeros(70, 50)
    K.splitk_gemm(a, b, c, BM=16, BN=16, BK=32, SPLIT_K=3, backend=E)
    torch.testing.assert_close(c, a @ b, atol=1e-4, rtol=1e-4)


def test_level3_warp_shuffle_sum():
    x = torch.randn(100)
    out = torch.zeros(4)
    K.warp_sum(x, out, backend=E)
    torch.testing.assert_close(out, torch.nn.functional.pad(x, (0, 28)).view(4, 32).sum(1), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_warp_specialized_gemm_ragged(dtype):
    a, b = torch.randn(70, 45).to(dtype), torch.randn(45, 38).to(dtype)
    c = torch.empty(70, 38, dtype=dtype)
    K.ws_gemm(a, b, c, BM=32, BN=16, BK=16, backend=E, num_warps=12)
    torch.testing.assert_close(c.float(), (a.float() @ b.float()).to(dtype).float(), rtol=2e-3, atol=2e-3)


# --- level 1 -----------------------------------------------------------------------------------------
@td.kernel
def l1_math(x: td.Tensor, y: td.Tensor):
    a = td.exp(x) * y + td.sqrt(td.abs(x)) - td.maximum(x, y) / 2
    b = td.where(x > y, td.tanh(x), td.sigmoid(y)) + td.erf(x) * td.log(td.abs(y) + 1) ** 2
    c = td.rsqrt(td.abs(x) + 1) + td.exp2(y) - td.log2(td.abs(x) + 2) + td.sin(x) * td.cos(y)
    d = td.floor(x * 3) + td.ceil(y * 3) + td.minimum(x, -y) + abs(y) + (-x)
    return a, b, c, d


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_level1_elementwise_math_rounds_once_per_op(dtype):
    torch.manual_seed(1)
    x, y = torch.randn(6, 7).to(dtype), torch.randn(7).to(dtype)

    def R(t):  # one op: computed in f32, rounded to the dtype
        return r16(t, dtype) if dtype != torch.float32 else t

    xf, yf = x.float(), y.float()
    a = R(R(R(R(xf.exp()) * yf) + R(R(xf.abs()).sqrt())) - R(R(torch.maximum(xf, yf)) / 2))
    b = R(torch.where(xf > yf, R(xf.tanh()), R(yf.sigmoid()))
          + R(R(xf.erf()) * R(R(R(R(yf.abs()) + 1).log()) ** 2)))
    c = R(R(R(R(R(xf.abs()) + 1).rsqrt()) + R(torch.exp2(yf))) - R(R(R(xf.abs()) + 2).log2()))
    c = R(c + R(R(xf.sin()) * R(yf.cos())))
    d = R(R(R(R(R(xf * 3).floor()) + R(R(yf * 3).ceil())) + R(torch.minimum(xf, -yf))) + yf.abs())
    d = R(d + (-xf))
    got = l1_math(x, y, backend=E)
    for g, want in zip(got, (a, b, c, d)):
        assert g.dtype == dtype and g.shape == (6, 7)
        torch.testing.assert_close(g.float(), want, rtol=0, atol=0, equal_nan=True)


@td.kernel
def l1_weak(h: td.Tensor, i: td.Tensor, i8: td.Tensor):
    return h * 0.1, i + 1.5, i8 + 1000, i / 2, i ** 2, h + i, (i > 3) & (i < 9)


def test_python_numbers_are_weakly_typed():
    h = torch.randn(20).half()
    i = torch.arange(-5, 15, dtype=torch.int32)
    i8 = torch.tensor([1, -100, 27], dtype=torch.int8)
    a, b, c, d, e, f, g = l1_weak(h, i, i8, backend=E)
    assert a.dtype == torch.float16 and torch.equal(a, (h.float() * 0.1).half())  # torch: f32, 0.1 unrounded
    assert b.dtype == torch.float32 and torch.equal(b, i.float() + 1.5)
    assert c.dtype == torch.int8 and torch.equal(c, i8 + torch.tensor(1000).to(torch.int8))  # wraps
    assert d.dtype == torch.float32 and torch.equal(d, i.float() / 2)  # / on ints is float division
    assert e.dtype == torch.float32 and torch.equal(e, i.float() ** 2)
    assert g.dtype == torch.bool and torch.equal(g, (i > 3) & (i < 9))
    assert f.dtype == torch.float16  # float wins over int


@td.kernel
def l1_intdiv(a: td.Tensor, b: td.Tensor):
    return a // b, a % b, a << 2, a >> 1, a ^ b, a | b, ~a


def test_integer_floor_division_and_modulo_follow_python_zero_divisor_gives_zero():
    a = torch.tensor([-7, 7, -7, 7, 5, -9, 0], dtype=torch.int32)
    b = torch.tensor([2, -2, -2, 2, 0, 4, 3], dtype=torch.int32)
    q, r, sl, sr, x, o, n = l1_intdiv(a, b, backend=E)
    want_q = [x // y if y else 0 for x, y in zip(a.tolist(), b.tolist())]
    want_r = [x % y if y else 0 for x, y in zip(a.tolist(), b.tolist())]
    assert q.tolist() == want_q and r.tolist() == want_r and q.dtype == torch.int32
    assert sl.tolist() == [v << 2 for v in a.tolist()] and sr.tolist() == [v >> 1 for v in a.tolist()]
    assert torch.equal(x, a ^ b) and torch.equal(o, a | b) and torch.equal(n, ~a)


@td.kernel
def l1_float_floordiv(a: td.Tensor, b: td.Tensor):
    return a // b, a % b


def test_float_floor_division_and_modulo_follow_python():
    a = torch.tensor([-7.5, 7.5, 1.0, -0.5], dtype=torch.float64)
    b = torch.tensor([2.0, -2.0, 0.1, 0.3], dtype=torch.float64)
    q, r = l1_float_floordiv(a, b, backend=E)
    assert q.tolist() == [x // y for x, y in zip(a.tolist(), b.tolist())]
    assert r.tolist() == pytest.approx([x % y for x, y in zip(a.tolist(), b.tolist())])


@td.kernel
def l1_reduce(x: td.Tensor):
    return (td.sum(x, axis=1), td.max(x, axis=0, keepdims=True), td.min(x, axis=-1),
            td.prod(x, axis=0), td.argmax(x, axis=1), td.argmin(x, axis=0), td.sum(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_level1_reductions_round_once_and_propagate_nan(dtype):
    torch.manual_seed(2)
    x = torch.randn(5, 40).to(dtype)
    x[2, 7] = float("nan")
    s, mx, mn, p, am, an, tot = l1_reduce(x, backend=E)
    xf = x.float()
    torch.testing.assert_close(s.float(), xf.sum(1).to(dtype).float(), rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(mx.float(), xf.amax(0, keepdim=True), equal_nan=True)
    torch.testing.assert_close(mn.float(), xf.amin(-1), equal_nan=True)
    torch.testing.assert_close(p.float(), xf.prod(0).to(dtype).float(), equal_nan=True)
    assert am.dtype == torch.int32 and am[2] == 7 and torch.equal(am.long(), xf.argmax(1))  # the NaN's index
    assert torch.equal(an.long(), xf.argmin(0))
    assert torch.isnan(mx[0, 7]) and torch.isnan(mn[2]) and torch.isnan(tot.float()).item()
    assert tot.shape == () and tot.dtype == dtype


@td.kernel
def l1_cast(x: td.Tensor):
    return x.to(td.float8_e4m3), td.cast(x, td.int32), td.float16(x), x.to(td.bool_)


def test_casts_saturate_to_fp8_and_truncate_to_int():
    x = torch.tensor([1000.0, -1e6, 1.7, -2.7, 0.0, float("nan")])
    f8, i, h, b = l1_cast(x, backend=E)
    assert f8.dtype == torch.float8_e4m3fn
    assert f8.float()[:4].tolist() == [448.0, -448.0, torch.tensor(1.7).to(torch.float8_e4m3fn).float().item(),
                                       torch.tensor(-2.7).to(torch.float8_e4m3fn).float().item()]
    assert torch.isnan(f8.float()[5])
    assert i[:5].tolist() == [1000, -1000000, 1, -2, 0] and h.dtype == torch.float16
    assert b.tolist() == [True, True, True, True, False, True]


@td.kernel
def l1_gather(x: td.Tensor, idx: td.Tensor):
    return x[idx], td.take(x, idx, 1), td.matmul(x, x.T), td.dot(x, x.T)


def test_level1_gathers_and_products():
    x = torch.randn(4, 5)
    idx = torch.tensor([[3, 0], [1, 1]], dtype=torch.int32)
    g0, g1, mm, dd = l1_gather(x, idx, backend=E)
    assert torch.equal(g0, x[idx.long()]) and torch.equal(g1, x[:, idx.long()])
    torch.testing.assert_close(mm, x @ x.T)
    torch.testing.assert_close(dd, x @ x.T)


def test_level1_gather_follows_the_guide_at_the_edges():
    """Negative indices count from the end; indices outside [-n, n) read 0 (language guide)."""
    x = torch.randn(4, 5)
    idx = torch.tensor([4, -1, -4, -5, 0], dtype=torch.int32)
    rows, cols, _, _ = l1_gather(x, idx, backend=E)
    torch.testing.assert_close(rows, torch.stack([torch.zeros(5), x[3], x[0], torch.zeros(5), x[0]]))
    torch.testing.assert_close(cols, torch.stack([x[:, 4], x[:, 4], x[:, 1], x[:, 0], x[:, 0]], 1))


@td.kernel
def l1_returns_input(x: td.Tensor):
    return x


def test_outputs_never_alias_arguments():
    x = torch.randn(3)
    y = l1_returns_input(x, backend=E)
    assert torch.equal(y, x) and y.data_ptr() != x.data_ptr()


# --- level 2: memory --------------------------------------------------------------------------------------
@td.kernel
def load_forms(x: td.Tensor, idx: td.Tensor, o1: td.Tensor, o2: td.Tensor, o3: td.Tensor, o4: td.Tensor):
    with td.grid(1) as p:
        td.store(o1, (0, 0), td.load(x, (2, 3), (4, 8), other=-1.0))  # ragged block
        rows = td.load(idx, (0,), (4,))
        td.store(o2, (0,), td.load(x, (rows, 1), (4, None)))  # gather rows, drop the column axis
        m = td.arange(0, 8) < 5
        td.store(o3, (0,), td.load(x, (p + 1, -2), (None, 8), mask=m, other=7.0))  # negative offset
        td.store(o4, (0,), td.load(x, (1, 2)))  # a scalar


def test_load_blocks_gathers_dropped_axes_masks_and_edges():
    x = torch.arange(30.0).reshape(5, 6)
    idx = torch.tensor([4, -1, 0, 9], dtype=torch.int32)
    o1, o2, o3, o4 = torch.zeros(4, 8), torch.zeros(4), torch.zeros(8), torch.zeros(1)
    load_forms(x, idx, o1, o2, o3, o4, backend=E)
    want1 = torch.full((4, 8), -1.0)
    want1[:3, :3] = x[2:5, 3:6]
    assert torch.equal(o1, want1)
    assert o2.tolist() == [x[4, 1].item(), 0.0, x[0, 1].item(), 0.0]  # out of bounds reads other=0
    cols = list(range(-2, 6))
    assert o3.tolist() == [x[1, c].item() if 0 <= c < 6 and k < 5 else 7.0 for k, c in enumerate(cols)]
    assert o4.item() == x[1, 2].item()


@td.kernel
def store_forms(y: td.Tensor, z: td.Tensor, idx: td.Tensor, w: td.Tensor):
    with td.grid(2) as p:
        td.store(y, (p * 4 - 1, 3), td.full((4, 4), 1.0, td.float32) * (p + 1))  # both edges
        r = td.load(idx, (0,), (5,))
        td.store(z, (r,), td.arange(0, 5).to(td.float32) + p * 10, mask=td.arange(0, 5) != 3)
        td.store(w, (p, 1), 5.0)  # a Python number takes the tensor's dtype


def test_store_skips_out_of_bounds_and_masked_lanes_and_last_repeated_index_wins():
    y, z, w = torch.zeros(6, 5), torch.full((6,), -1.0), torch.zeros(2, 3)
    idx = torch.tensor([1, 1, 7, 2, -3], dtype=torch.int32)
    store_forms(y, z, idx, w, backend=E)
    want = torch.zeros(6, 5)
    want[0:3, 3:5] = 1.0
    want[3:6, 3:5] = 2.0
    assert torch.equal(y, want)
    assert z.tolist() == [-1.0, 11.0, -1.0, -1.0, -1.0, -1.0]  # lane 3 masked; lanes 0, 1 hit z[1]: the last wins
    assert w[:, 1].tolist() == [5.0, 5.0]


@td.kernel
def atomics(c: td.Tensor, idx: td.Tensor, old: td.Tensor, mx: td.Tensor, h: td.Tensor):
    with td.grid(1) as p:
        r = td.load(idx, (0,), (4,))
        td.store(old, (0,), td.atomic_add(c, (r,), td.arange(1, 5)))
        a = td.atomic_max(mx, (0,), 5)
        b = td.atomic_min(mx, (1,), -5)
        x = td.atomic_xchg(mx, (2,), 42)
        td.store(old, (4,), a + b * 100 + x * 10000)
        td.atomic_add(h, (0,), td.full((3,), 0.3, td.float16))


def test_atomics_return_old_values_and_apply_repeats_in_order():
    c = torch.tensor([10, 20, 30], dtype=torch.int32)
    idx = torch.tensor([1, 1, 5, 0], dtype=torch.int32)
    old, mx = torch.zeros(5, dtype=torch.int32), torch.tensor([7, 3, 9], dtype=torch.int32)
    h = torch.zeros(3, dtype=torch.float16)
    atomics(c, idx, old, mx, h, backend=E)
    assert c.tolist() == [14, 23, 30] and old[:4].tolist() == [20, 21, 0, 10]  # out of bounds: skipped, old 0
    assert mx.tolist() == [7, -5, 42] and old[4].item() == 7 + 3 * 100 + 9 * 10000
    assert torch.equal(h, torch.full((3,), 0.3, dtype=torch.float16))


@td.kernel
def buffers(x: td.Tensor, y: td.Tensor, B: td.constexpr = td.auto):
    N = x.shape[0]
    with td.grid(td.cdiv(N, B)) as p:
        s = td.alloc_shared((B,), x.dtype)
        td.annotate_layout(s, swizzle=64)
        td.copy(x, s, (p * B,))  # elements past the edge read 0
        f = td.alloc_fragment((B,), td.float32)
        td.copy(s, f)  # cast to the buffer's dtype
        snap = f.to(td.float32)
        f += 1.0
        f *= 2
        f -= snap - snap
        td.copy(f.to(y.dtype), y, (p * B,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_buffers_copy_and_in_place_updates(dtype):
    x = torch.randn(70).to(dtype)
    y = torch.zeros(70, dtype=dtype)
    buffers(x, y, backend=E)  # B: td.auto, 32 in eager mode (3 programs, the last one ragged)
    assert torch.equal(y, ((x.float() + 1) * 2).to(dtype))


@td.kernel
def fresh_buffer(y: td.Tensor):
    with td.grid(1) as p:
        td.store(y, (0,), td.load(td.alloc_fragment((4,), td.float32), (0,), (4,)))


def test_fresh_buffers_are_not_zero():
    y = torch.zeros(4)
    fresh_buffer(y, backend=E)
    assert torch.isnan(y).all()


# --- level 2: tile compute ------------------------------------------------------------------------------------
@td.kernel
def dots(a: td.Tensor, b: td.Tensor, i8: td.Tensor, f8a: td.Tensor, f8b: td.Tensor,
         o32: td.Tensor, o16: td.Tensor, oi: td.Tensor, o8: td.Tensor):
    with td.grid(1) as p:
        at, bt = td.load(a, (0, 0), (8, 16)), td.load(b, (0, 0), (16, 4))
        acc = td.dot(at, bt)  # f32 accumulation
        acc = td.dot(at, bt, acc)
        td.store(o32, (0, 0), acc)
        td.store(o16, (0, 0), td.dot(at, bt, out_dtype=td.float16))  # rounded once
        it = td.load(i8, (0, 0), (8, 16))
        td.store(oi, (0, 0), td.dot(it, td.trans(it)))  # int8 -> i32
        td.store(o8, (0, 0), td.dot(td.load(f8a, (0, 0), (8, 16)), td.load(f8b, (0, 0), (16, 4))))


def test_dot_accumulates_in_f32_i32_and_takes_fp8():
    torch.manual_seed(3)
    a, b = torch.randn(8, 16).half(), torch.randn(16, 4).half()
    i8 = torch.randint(-128, 127, (8, 16), dtype=torch.int8)
    f8a, f8b = torch.randn(8, 16).to(torch.float8_e4m3fn), torch.randn(16, 4).to(torch.float8_e5m2)
    o32, o16 = torch.zeros(8, 4), torch.zeros(8, 4, dtype=torch.float16)
    oi, o8 = torch.zeros(8, 8, dtype=torch.int32), torch.zeros(8, 4)
    dots(a, b, i8, f8a, f8b, o32, o16, oi, o8, backend=E)
    ref = a.float() @ b.float()
    torch.testing.assert_close(o32, 2 * ref)
    assert torch.equal(o16, ref.half())
    assert torch.equal(oi, i8.int() @ i8.int().T)
    torch.testing.assert_close(o8, f8a.float() @ f8b.float())


@td.kernel
def tile_reduce(x: td.Tensor, s: td.Tensor, m: td.Tensor, am: td.Tensor, cs: td.Tensor, tot: td.Tensor):
    with td.grid(1) as p:
        t = td.load(x, (0, 0), (4, 8))
        td.store(s, (0,), td.sum(t, axis=1))
        td.store(m, (0, 0), td.max(t, 0, True))
        td.store(am, (0,), td.argmax(t, axis=1))
        td.store(cs, (0, 0), td.cumsum(t, axis=1))
        td.store(tot, (0,), td.sum(t))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_tile_reductions_and_scans(dtype):
    torch.manual_seed(4)
    x = torch.randn(4, 8).to(dtype)
    x[1, 5] = float("nan")
    s, m, am = torch.zeros(4, dtype=dtype), torch.zeros(1, 8, dtype=dtype), torch.zeros(4, dtype=torch.int32)
    cs, tot = torch.zeros(4, 8, dtype=dtype), torch.zeros(1, dtype=dtype)
    tile_reduce(x, s, m, am, cs, tot, backend=E)
    xf = x.float()
    torch.testing.assert_close(s.float(), xf.sum(1).to(dtype).float(), rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(m.float(), xf.amax(0, keepdim=True), equal_nan=True)
    assert am.tolist() == xf.argmax(1).tolist() and am[1] == 5
    torch.testing.assert_close(cs.float(), xf.cumsum(1).to(dtype).float(), rtol=0, atol=0, equal_nan=True)
    assert torch.isnan(tot).all()


@td.kernel
def shapes(x: td.Tensor, o1: td.Tensor, o2: td.Tensor, o3: td.Tensor, o4: td.Tensor):
    with td.grid(1) as p:
        r = td.load(x, (0,), (4,))
        outer = r[:, None] * r[None, :]  # (4, 4)
        td.store(o1, (0, 0), outer.T + td.trans(outer))
        td.store(o2, (0, 0), td.reshape(td.broadcast_to(td.expand_dims(r, 0), (2, 4)), (4, 2)))
        t3 = td.reshape(td.arange(0, 24).to(td.float32), (2, 3, 4))
        td.store(o3, (0, 0, 0), td.trans(t3, 2, 0, 1))
        assert outer.shape == (4, 4) and outer.dtype == td.float32 and outer.ndim == 2
        td.store(o4, (0,), r[:])


def test_shape_ops():
    x = torch.arange(1.0, 5.0)
    o1, o2, o3, o4 = torch.zeros(4, 4), torch.zeros(4, 2), torch.zeros(4, 2, 3), torch.zeros(4)
    shapes(x, o1, o2, o3, o4, backend=E)
    assert torch.equal(o1, 2 * torch.outer(x, x))
    assert torch.equal(o2, x.expand(2, 4).reshape(4, 2))
    assert torch.equal(o3, torch.arange(24.0).reshape(2, 3, 4).permute(2, 0, 1))
    assert torch.equal(o4, x)


@td.func
def scaled(t, s):
    return t * s + 1


@td.func
def clamp01(t):
    return max(min(t, 1.0), 0.0)  # Python's min/max on values: elementwise


@td.kernel
def control(x: td.Tensor, y: td.Tensor, flags: td.Tensor, n: int, B: td.constexpr, MODE: td.constexpr = 1):
    N = x.shape[0]
    with td.grid(td.cdiv(N, B)) as p:
        t = td.load(x, (p * B,), (B,))
        if MODE == 1:  # compile time
            t = scaled(t, 2.0)
        if p % 2 == 0:  # a runtime branch on a scalar
            t = -t
        acc = td.zeros((B,), td.float32)
        for k in range(n):  # runtime bound; k is an i32 scalar
            acc = acc + t * k.to(td.float32)
        for s in (1, 2):  # unrolled tuple: Python ints
            acc = acc + s
        for k in td.pipelined(2, stages=3):
            acc = acc + 0.5
        pos = 0.0 <= acc < 100.0  # chained comparison on tiles: elementwise and
        acc = acc if acc > 0 else 0.0  # a tile condition selects elementwise
        td.store(y, (p * B,), clamp01(acc / 100.0) + pos.to(td.float32))
        if not (p != 0):
            # a compile-time condition picks one side lazily: the other is never evaluated
            td.store(flags, (0,), td.load(flags, (0,)) + 1 if MODE >= 0 else td.no_such_builtin(t))


def test_control_flow_helpers_and_python_semantics():
    torch.manual_seed(5)
    x = torch.randn(20) * 3
    y, flags = torch.zeros(20), torch.zeros(1, dtype=torch.int32)
    control(x, y, flags, 4, 8, backend=E)  # B positional
    want = []
    for i, v in enumerate(x.tolist()):
        t = torch.tensor(v * 2 + 1)
        t = -t if (i // 8) % 2 == 0 else t
        acc = t * (0 + 1 + 2 + 3) + 3 + 1.0
        pos = 1.0 if 0 <= acc < 100 else 0.0
        acc = max(acc, 0.0)
        want.append(min(max(acc / 100.0, 0.0), 1.0) + pos)
    torch.testing.assert_close(y, torch.tensor(want), rtol=1e-6, atol=1e-6)
    assert flags.item() == 1
    y2 = torch.zeros(20)
    control(x, y2, flags, 0, B=8, MODE=0, backend=E)  # keywords
    torch.testing.assert_close(y2, torch.full((20,), 0.04 + 1.0))  # no loop trips: acc = 3 + 1.0


@td.kernel
def scalars(x: td.Tensor, y: td.Tensor, n: int, scale: float):
    R, C = x.shape
    with td.grid(R) as r:
        v = td.load(x, (r, 0))  # a scalar read from a tensor
        c = v * scale + n + C
        td.store(y, (r,), c)
        td.store(y, (r + R,), (r * 1.5).to(y.dtype))  # a pid is an i32 scalar: * 1.5 gives f32


def test_scalars_shapes_and_program_ids():
    x = torch.randn(3, 5)
    y = torch.zeros(6)
    scalars(x, y, 2, 0.5, backend=E)
    torch.testing.assert_close(y[:3], x[:, 0] * 0.5 + 2 + 5)
    assert y[3:].tolist() == [0.0, 1.5, 3.0]


@td.kernel
def constructors(y: td.Tensor, yi: td.Tensor, yb: td.Tensor):
    with td.grid(1) as p:
        td.store(y, (0,), td.zeros(4) + td.full(4, 2.5, td.float32))  # int shapes, zeros' f32 default
        td.store(yi, (0,), td.arange(4) * 2 + td.full((4,), 2.0, td.int32))  # arange(n); an integral float
        td.store(yb, (0,), td.full((4,), 3, td.bool_))


def test_constructor_forms():
    y, yi, yb = torch.zeros(4), torch.zeros(4, dtype=torch.int32), torch.zeros(4, dtype=torch.bool)
    constructors(y, yi, yb, backend=E)
    assert y.tolist() == [2.5] * 4 and yi.tolist() == [2, 4, 6, 8] and yb.all()


@td.kernel
def int_extremes(a: td.Tensor, b: td.Tensor):
    return td.max(a, axis=0, keepdims=True), td.min(b, axis=0, keepdims=True), td.sum(b, axis=0)


def test_reductions_of_uint8_and_bool_over_ragged_axes():
    torch.manual_seed(1)
    a = torch.randint(0, 255, (5, 12), dtype=torch.uint8)
    b = torch.rand(5, 12) > 0.3
    mx, mn, s = int_extremes(a, b, backend=E)
    assert torch.equal(mx, a.amax(0, keepdim=True)) and torch.equal(mn, b.amin(0, keepdim=True))
    assert s.dtype == torch.int64 and torch.equal(s, b.sum(0))  # a sum of bools counts, as torch's


@td.kernel
def scale_by(x: td.Tensor, y: td.Tensor, S: td.constexpr):
    with td.grid(1) as p:
        td.store(y, (0,), td.load(x, (0,), (4,)) * S)


def test_constexprs_passed_positionally_are_used_as_given_on_every_call():
    x = torch.ones(4)
    for s in (2, 3, 2.5):
        y = torch.zeros(4)
        scale_by(x, y, s, backend=E)
        assert y.tolist() == [float(s)] * 4
