"""The IR interpreter (backend="ir"): scheduled tile programs and level-1 dataflow on CPU tensors.

Kernels are written two ways: by hand with `tiledsl.ir.Builder` (the `KB` helper below), which
pins down exactly which ops run, and as real `@td.kernel` functions through the front end.
"""

from __future__ import annotations

import contextlib
import itertools

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import kernels_for_tests as K
from tiledsl.dtypes import DType
from tiledsl.errors import ArgumentError, InterpreterError
from tiledsl.interp import RULES, run
from tiledsl.interp.control import launch_order
from tiledsl.interp.threads import source_lane
from tiledsl.ir import Block, Builder, Function, Knob, Op, Param, ParamKind, Space, Type, Value, verify

FAST = settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
I32 = DType.i32


class KB:
    """A terse IR builder for tests: params, constants, ops, grid/loop/if/threads regions."""

    def __init__(self, name: str = "k"):
        self.b = Builder()
        self.name = name
        self.params: list[Param] = []
        self.knobs: list[Knob] = []

    def tensor(self, name: str, dtype: DType, rank: int, kind=ParamKind.TENSOR) -> Value:
        v = self.b.fresh(name, Type(dtype, tuple(f"{name}.{i}" for i in range(rank)), Space.GLOBAL))
        self.params.append(Param(v, kind))
        return v

    def scalar(self, name: str, dtype: DType) -> Value:
        v = self.b.fresh(name, Type(dtype))
        self.params.append(Param(v, ParamKind.SCALAR))
        return v

    def c(self, value, dtype: DType | None = None) -> Value:
        attrs = {"value": value} if dtype is None else {"value": value, "dtype": dtype}
        return self.b.value(Op.CONST, (), attrs)

    def op(self, op: Op, *xs, **attrs) -> Value:
        return self.b.value(op, xs, attrs)

    def do(self, op: Op, *xs, **attrs) -> None:
        self.b.emit(op, xs, attrs)

    def cdiv(self, x: Value, n: int) -> Value:
        return self.op(Op.FLOORDIV, self.op(Op.ADD, x, self.c(n - 1)), self.c(n))

    @contextlib.contextmanager
    def grid(self, *sizes: Value):
        pids = tuple(self.b.fresh(f"pid{i}", Type(I32)) for i in range(len(sizes)))
        with self.b.block(pids) as out:
            yield pids if len(pids) > 1 else pids[0]
        self.b.emit(Op.GRID, sizes, regions=(out[0],))

    @contextlib.contextmanager
    def threads(self, count: int):
        tid = self.b.fresh("tid", Type(I32))
        with self.b.block((tid,)) as out:
            yield tid
        self.b.emit(Op.THREADS, (), {"count": count}, regions=(out[0],))

    def loop(self, start, stop, inits, body, step=None, stages=None) -> tuple[Value, ...]:
        """``for iv in range(start, stop, step)`` carrying `inits`; `body(iv, *carried)` returns
        the next carried values."""
        iv = self.b.fresh("iv", Type(I32))
        carried = tuple(self.b.fresh("acc", v.type) for v in inits)
        with self.b.block((iv, *carried)) as out:
            self.b.emit(Op.YIELD, tuple(body(iv, *carried) or ()))
        ops = (self.c(start) if isinstance(start, int) else start,
               self.c(stop) if isinstance(stop, int) else stop, step or self.c(1), *inits)
        return self.b.emit(Op.FOR, ops, {"stages": stages}, regions=(out[0],)).results

    def if_(self, cond, then, other, types=()) -> tuple[Value, ...]:
        regions = []
        for fn in (then, other):
            with self.b.block() as out:
                self.b.emit(Op.YIELD, tuple(fn() or ()))
            regions.append(out[0])
        return self.b.emit(Op.IF, (cond,), {}, regions=tuple(regions), result_types=tuple(types)).results

    def ret(self, *values) -> None:
        self.b.emit(Op.RETURN, values)

    def fn(self, stage: str | None = "scheduled") -> Function:
        assume = tuple(sorted(self.b.unifier.assumptions))
        attrs = (("assume", assume),) if assume else ()
        f = Function(self.name, tuple(self.params), tuple(self.knobs), Block((), self.b.top()), attrs=attrs)
        return verify(f, stage) if stage else f


# --- GEMM ------------------------------------------------------------------------------------------------
def gemm_ir(dt: DType, out_dt: DType, BM=16, BN=16, BK=16, stages=2) -> Function:
    """Level-2 GEMM with explicit tiles, as the scheduler would leave it."""
    k = KB("gemm")
    a, b = k.tensor("a", dt, 2), k.tensor("b", dt, 2)
    c = k.tensor("c", out_dt, 2)
    M, Kd, N = k.op(Op.DIM, a, axis=0), k.op(Op.DIM, a, axis=1), k.op(Op.DIM, b, axis=1)
    with k.grid(k.cdiv(M, BM), k.cdiv(N, BN)) as (i, j):
        om, on = k.op(Op.MUL, i, k.c(BM)), k.op(Op.MUL, j, k.c(BN))
        acc0 = k.op(Op.FULL, shape=(BM, BN), value=0.0, dtype=DType.f32)

        def body(kk, acc):
            ok = k.op(Op.MUL, kk, k.c(BK))
            ta = k.op(Op.LOAD, a, om, ok, shape=(BM, BK))
            tb = k.op(Op.LOAD, b, ok, on, shape=(BK, BN))
            return [k.op(Op.DOT, ta, tb, acc)]
        (acc,) = k.loop(0, k.cdiv(Kd, BK), [acc0], body, stages=stages)
        k.do(Op.STORE, c, om, on, k.op(Op.CAST, acc, dtype=out_dt), shape=(BM, BN))
    return k.fn()


TOL = {DType.f32: (1e-4, 1e-4), DType.f16: (2e-3, 2e-3), DType.bf16: (1.6e-2, 1e-2)}


def _gemm_check(dt: DType, M: int, N: int, Kd: int, out_dt: DType | None = None):
    out_dt = out_dt or dt
    torch.manual_seed(M * 1000 + N * 10 + Kd)
    a = torch.randn(M, Kd).to(dt.to_torch())
    b = torch.randn(Kd, N).to(dt.to_torch())
    c = torch.full((M, N), float("nan"), dtype=out_dt.to_torch())
    run(gemm_ir(dt, out_dt), [a, b, c])
    ref = (a.float() @ b.float()).to(out_dt.to_torch())
    rtol, atol = TOL.get(out_dt, (1e-5, 1e-5))
    torch.testing.assert_close(c.float(), ref.float(), rtol=rtol, atol=atol * Kd ** 0.5)


@pytest.mark.parametrize("dt", [DType.f32, DType.f16, DType.bf16])
def test_gemm_ragged_77x45x130(dt):
    _gemm_check(dt, 77, 45, 130)


def test_gemm_fp8_e4m3_inputs_accumulate_exactly_in_f32():
    torch.manual_seed(1)
    a = torch.randn(77, 130).to(torch.float8_e4m3fn)
    b = torch.randn(130, 45).to(torch.float8_e4m3fn)
    c = torch.empty(77, 45)
    run(gemm_ir(DType.f8e4m3, DType.f32), [a, b, c])
    # fp8 products are exact in f32; only the summation order differs
    torch.testing.assert_close(c, a.float() @ b.float(), rtol=1e-5, atol=1e-4)


@FAST
@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 40), st.sampled_from([DType.f32, DType.bf16]))
def test_gemm_any_shape(M, N, Kd, dt):
    _gemm_check(dt, M, N, Kd)


def test_gemm_is_fast_enough():
    """77x45x130 with 16x16x16 tiles: 45 programs x 9 steps; per-op overhead must stay small."""
    import time

    a, b, c = torch.randn(77, 130), torch.randn(130, 45), torch.empty(77, 45)
    fn = gemm_ir(DType.f32, DType.f32)
    run(fn, [a, b, c])
    t0 = time.perf_counter()
    run(fn, [a, b, c])
    assert time.perf_counter() - t0 < 1.0


def test_frontend_gemm_runs_with_explicit_tiles():
    a, b = torch.randn(37, 50, dtype=torch.bfloat16), torch.randn(50, 21, dtype=torch.bfloat16)
    c = torch.empty(37, 21, dtype=torch.bfloat16)
    fn = K.matmul.ir(a, b, c, BM=16, BN=16, BK=16)  # stages stays a knob: a hint the interpreter ignores
    run(fn, [a, b, c])
    torch.testing.assert_close(c.float(), (a.float() @ b.float()).bfloat16().float(), rtol=1.6e-2, atol=5e-2)


def test_auto_tile_shapes_say_to_schedule_first():
    a, b, c = torch.randn(8, 8), torch.randn(8, 8), torch.empty(8, 8)
    fn = K.matmul.ir(a, b, c)
    with pytest.raises(InterpreterError, match="schedule"):
        run(fn, [a, b, c])


# --- loads: masks, other, gathers, dropped axes ---------------------------------------------------------
def _window_kernel(n_rows: int, n_cols: int, other: float, gather: bool, limit: bool) -> Function:
    """out[r, c] = x[row(r), off_c + c] for c < limit else other (rows gathered or a block)."""
    k = KB("window")
    x = k.tensor("x", DType.f32, 2)
    rows = k.tensor("rows", I32, 1)
    out = k.tensor("out", DType.f32, 2)
    off_r, off_c, lim = k.scalar("off_r", I32), k.scalar("off_c", I32), k.scalar("lim", I32)
    with k.grid(k.c(1)):
        attrs = {"shape": (n_rows, n_cols), "other": other}
        if gather:
            idx = k.op(Op.LOAD, rows, k.c(0), shape=(n_rows,))
            first = idx
        else:
            first = off_r
        ops = [x, first, off_c]
        if limit:
            ops.append(k.op(Op.EXPAND_DIMS, k.op(Op.LT, k.op(Op.ARANGE, start=0, end=n_cols), lim), axis=0))
            attrs["masked"] = True
        tile = k.op(Op.LOAD, *ops, **attrs)
        k.do(Op.STORE, out, k.c(0), k.c(0), tile, shape=(n_rows, n_cols))
    return k.fn()


def _window_ref(x, rows, off_c, n_cols, other, lim):
    out = torch.full((len(rows), n_cols), other)
    for r, xr in enumerate(rows.tolist()):
        for c in range(n_cols):
            xc = off_c + c
            if 0 <= xr < x.shape[0] and 0 <= xc < x.shape[1] and c < lim:
                out[r, c] = x[xr, xc]
    return out


@FAST
@given(st.integers(-6, 12), st.integers(-6, 12), st.integers(0, 9), st.booleans(), st.booleans(),
       st.sampled_from([0.0, -1.0, float("-inf")]))
def test_load_masks_edges_and_other(off_r, off_c, lim, gather, limit, other):
    x = torch.arange(7 * 9, dtype=torch.float32).reshape(7, 9)
    rows = torch.tensor([3, -1, 6, 7, 3], dtype=torch.int32) if gather else torch.zeros(5, dtype=torch.int32)
    out = torch.zeros(5, 8)
    run(_window_kernel(5, 8, other, gather, limit), [x, rows, out, off_r, off_c, lim])
    want_rows = rows if gather else torch.arange(off_r, off_r + 5)
    ref = _window_ref(x, want_rows, off_c, 8, other, lim if limit else 8)
    assert torch.equal(out, ref)


def test_load_dropped_axis_and_scalar_load():
    k = KB()
    x = k.tensor("x", DType.f16, 3)
    out = k.tensor("out", DType.f16, 1)
    s = k.tensor("s", DType.f16, 1)
    with k.grid(k.c(1)):
        row = k.op(Op.LOAD, x, k.c(1), k.c(2), k.c(0), shape=(None, None, 4))  # x[1, 2, 0:4]
        k.do(Op.STORE, out, k.c(0), row, shape=(4,))
        one = k.op(Op.LOAD, x, k.c(0), k.c(5), k.c(0), shape=(None, None, None))  # out of bounds -> 0
        k.do(Op.STORE, s, k.c(0), one, shape=(None,))
    x_ = torch.randn(2, 3, 4).half()
    out_, s_ = torch.zeros(4).half(), torch.full((1,), 7.0).half()
    run(k.fn(), [x_, out_, s_])
    assert torch.equal(out_, x_[1, 2]) and s_.item() == 0.0


def test_store_skips_out_of_bounds_and_masked_elements():
    """Window rows 4p..4p+3, columns -2..1 of a 6x3 tensor; window column 3 (x column 1) masked."""
    k = KB()
    y = k.tensor("y", DType.i32, 2)
    with k.grid(k.c(2)) as p:
        tile = k.op(Op.FULL, shape=(4, 4), value=5, dtype=I32)
        mask = k.op(Op.NE, k.op(Op.EXPAND_DIMS, k.op(Op.ARANGE, start=0, end=4), axis=0), k.c(3))
        k.do(Op.STORE, y, k.op(Op.MUL, p, k.c(4)), k.c(-2), tile, mask, shape=(4, 4), masked=True)
    y_ = torch.zeros(6, 3, dtype=torch.int32)
    run(k.fn(), [y_])
    want = torch.zeros(6, 3, dtype=torch.int32)
    want[:, 0] = 5
    assert torch.equal(y_, want)


# --- atomics -------------------------------------------------------------------------------------------------
def _histogram_ir(block: int) -> Function:
    k = KB("hist")
    vals, hist = k.tensor("vals", I32, 1), k.tensor("hist", I32, 1)
    n = k.op(Op.DIM, vals, axis=0)
    with k.grid(k.cdiv(n, block)) as p:
        off = k.op(Op.MUL, p, k.c(block))
        pos = k.op(Op.ADD, k.op(Op.ARANGE, start=0, end=block), off)
        valid = k.op(Op.LT, pos, n)
        v = k.op(Op.LOAD, vals, off, shape=(block,), other=-1)  # padding lanes hit no bin
        ones = k.op(Op.FULL, shape=(block,), value=1, dtype=I32)
        k.op(Op.ATOMIC, hist, v, ones, valid, kind="add", shape=(block,), masked=True)
    return k.fn()


@FAST
@given(st.lists(st.integers(0, 5), min_size=1, max_size=70), st.sampled_from([4, 16]))
def test_atomic_histogram_with_repeated_indices(values, block):
    vals = torch.tensor(values, dtype=torch.int32)
    hist = torch.zeros(6, dtype=torch.int32)
    run(_histogram_ir(block), [vals, hist])
    assert torch.equal(hist, torch.bincount(vals.long(), minlength=6).int())


@pytest.mark.parametrize("kind,olds,final", [
    ("add", [0.0, 1.0, 3.0, 0.0], [6.0, 4.0]),
    ("max", [0.0, 1.0, 2.0, 0.0], [3.0, 4.0]),
    ("xchg", [0.0, 1.0, 2.0, 0.0], [3.0, 4.0]),
])
def test_atomic_repeated_indices_apply_in_order_and_return_old_values(kind, olds, final):
    k = KB()
    dst, old = k.tensor("dst", DType.f32, 1), k.tensor("old", DType.f32, 1)
    with k.grid(k.c(1)):
        idx = k.op(Op.CAST, k.op(Op.GE, k.op(Op.ARANGE, start=0, end=4), k.c(3)), dtype=I32)  # 0,0,0,1
        v = k.op(Op.ADD, k.op(Op.CAST, k.op(Op.ARANGE, start=0, end=4), dtype=DType.f32), k.c(1.0))
        got = k.op(Op.ATOMIC, dst, idx, v, kind=kind, shape=(4,))
        k.do(Op.STORE, old, k.c(0), got, shape=(4,))
    dst_, old_ = torch.zeros(2), torch.zeros(4)
    run(k.fn(), [dst_, old_])
    assert old_.tolist() == olds and dst_.tolist() == final


def test_atomic_bf16_add_rounds_each_step():
    k = KB()
    dst = k.tensor("dst", DType.bf16, 1)
    with k.grid(k.c(1)):
        idx = k.op(Op.MUL, k.op(Op.ARANGE, start=0, end=8), k.c(0))  # all lanes hit element 0
        k.op(Op.ATOMIC, dst, idx, k.op(Op.FULL, shape=(8,), value=1.0, dtype=DType.bf16), kind="add", shape=(8,))
    d = torch.full((1,), 256.0, dtype=torch.bfloat16)
    run(k.fn(), [d])
    assert d.item() == 256.0  # 256 + 1 rounds back to 256 in bf16 every time


# --- reductions, scans, casts, int math ----------------------------------------------------------------------
@pytest.mark.parametrize("dt", [DType.f32, DType.f16, DType.i32])
def test_scan_is_an_inclusive_prefix_sum(dt):
    k = KB()
    x, y = k.tensor("x", dt, 2), k.tensor("y", dt, 2)
    with k.grid(k.c(1)):
        t = k.op(Op.LOAD, x, k.c(0), k.c(0), shape=(4, 8))
        k.do(Op.STORE, y, k.c(0), k.c(0), k.op(Op.SCAN, t, kind="sum", axis=1), shape=(4, 8))
    x_ = (torch.rand(4, 8) * 10).to(dt.to_torch())
    y_ = torch.zeros_like(x_)
    run(k.fn(), [x_, y_])
    assert torch.equal(y_, torch.cumsum(x_.double(), 1).to(x_.dtype))


def test_bf16_sum_accumulates_in_f32():
    k = KB()
    x, y = k.tensor("x", DType.bf16, 1), k.tensor("y", DType.bf16, 1)
    with k.grid(k.c(1)):
        t = k.op(Op.LOAD, x, k.c(0), shape=(512,))
        k.do(Op.STORE, y, k.c(0), k.op(Op.TILE_REDUCE, t, kind="sum", axis=0), shape=(None,))
    x_ = torch.ones(512, dtype=torch.bfloat16)
    y_ = torch.zeros(1, dtype=torch.bfloat16)
    run(k.fn(), [x_, y_])
    assert y_.item() == 512.0  # a bf16 running sum would stall at 256


@pytest.mark.parametrize("kind", ["sum", "max", "min", "prod", "argmax", "argmin"])
def test_level1_reduce_kinds(kind):
    k = KB()
    x = k.tensor("x", DType.f32, 2)
    k.ret(k.op(Op.REDUCE, x, kind=kind, axis=-1, keepdims=False))
    x_ = torch.randn(3, 5)
    (got,) = run(k.fn("ir"), [x_])
    ref = {"sum": x_.sum(-1), "max": x_.amax(-1), "min": x_.amin(-1), "prod": x_.prod(-1),
           "argmax": x_.argmax(-1).int(), "argmin": x_.argmin(-1).int()}[kind]
    torch.testing.assert_close(got, ref)


@pytest.mark.parametrize("target,top", [(DType.f8e4m3, 448.0), (DType.f8e5m2, 57344.0)])
def test_cast_to_fp8_saturates(target, top):
    k = KB()
    x = k.tensor("x", DType.f32, 1)
    k.ret(k.op(Op.CAST, x, dtype=target))
    x_ = torch.tensor([1.0, -3.5, 1e6, -1e9, float("inf"), float("-inf"), float("nan")])
    (got,) = run(k.fn("ir"), [x_])
    assert got.dtype == target.to_torch()
    f = got.float()
    assert f[:6].tolist() == [1.0, -3.5, top, -top, top, -top] and torch.isnan(f[6])


def test_int_floordiv_and_mod_follow_python():
    k = KB()
    a, b = k.tensor("a", I32, 1), k.tensor("b", I32, 1)
    k.ret(k.op(Op.FLOORDIV, a, b), k.op(Op.MOD, a, b))
    a_ = torch.tensor([7, -7, 7, -7, 5], dtype=torch.int32)
    b_ = torch.tensor([2, 2, -2, -2, 0], dtype=torch.int32)
    q, r = run(k.fn("ir"), [a_, b_])
    assert q.tolist() == [3, -4, -4, 3, 0] and r.tolist() == [1, 1, -1, -1, 0]
    assert q.dtype == torch.int32


def test_f16_math_rounds_back_to_f16():
    k = KB()
    x = k.tensor("x", DType.f16, 1)
    k.ret(k.op(Op.EXP, x), k.op(Op.ADD, x, x))
    x_ = torch.tensor([0.1, 12.0, 2.0], dtype=torch.float16)
    e, s = run(k.fn("ir"), [x_])
    assert e.dtype == torch.float16 and torch.equal(e, torch.exp(x_.float()).half())
    assert torch.isinf(e[1]) and not torch.isinf(torch.exp(x_.float()))[1]  # e**12 overflows f16


# --- level 1 ---------------------------------------------------------------------------------------------------
@FAST
@given(st.integers(1, 9), st.integers(1, 40), st.sampled_from([torch.float32, torch.bfloat16]))
def test_level1_softmax_from_the_front_end(rows, cols, dtype):
    x = (torch.randn(rows, cols) * 4).to(dtype)
    (got,) = run(K.softmax.ir(x), [x])
    assert got.dtype == dtype and got.shape == x.shape
    tol = 1e-6 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(got.float(), torch.softmax(x.float(), -1), rtol=tol, atol=tol)


def test_level1_matmul_gather_and_shapes():
    k = KB()
    x, idx, w = k.tensor("x", DType.bf16, 2), k.tensor("idx", I32, 1), k.tensor("w", DType.bf16, 2)
    g = k.op(Op.GATHER, x, idx, axis=0)
    y = k.op(Op.MATMUL, g, w)
    k.ret(k.op(Op.TRANSPOSE, y, perm=(1, 0)), k.op(Op.RESHAPE, x, shape=("x.1", "x.0")))
    x_, w_ = torch.randn(5, 8).bfloat16(), torch.randn(8, 3).bfloat16()
    idx_ = torch.tensor([4, 0, 4], dtype=torch.int32)
    yt, r = run(k.fn("ir"), [x_, idx_, w_])
    torch.testing.assert_close(yt, (x_[idx_.long()].float() @ w_.float()).bfloat16().T)
    assert torch.equal(r, x_.reshape(8, 5))


def test_level1_gather_out_of_range_is_a_clear_error():
    k = KB()
    x, idx = k.tensor("x", DType.f32, 1), k.tensor("idx", I32, 1)
    k.ret(k.op(Op.GATHER, x, idx, axis=0))
    with pytest.raises(InterpreterError, match="out of range"):
        run(k.fn("ir"), [torch.zeros(3), torch.tensor([0, 3], dtype=torch.int32)])


# --- buffers and control flow ---------------------------------------------------------------------------------
def test_buffers_copy_and_snapshot_reads():
    """COPY writes into a buffer; a value read from it earlier keeps the old contents."""
    k = KB()
    x, y, z = k.tensor("x", DType.f32, 2), k.tensor("y", DType.f32, 2), k.tensor("z", DType.f32, 2)
    with k.grid(k.c(1)):
        buf = k.op(Op.ALLOC, shape=(4, 4), dtype=DType.f32, space="shared")
        k.do(Op.COPY, x, buf, k.c(0), k.c(1), shape=(4, 4))  # x[0:4, 1:5], column 4 padded with 0
        first = k.op(Op.CAST, buf, dtype=DType.f32)
        k.do(Op.COPY, k.op(Op.FULL, shape=(4, 4), value=2.0, dtype=DType.f32), buf)
        k.do(Op.STORE, y, k.c(0), k.c(0), first, shape=(4, 4))
        k.do(Op.COPY, buf, z, k.c(-1), k.c(0), shape=(4, 4))  # row -1 skipped
    x_ = torch.randn(4, 4)
    y_, z_ = torch.zeros(4, 4), torch.zeros(4, 4)
    run(k.fn(), [x_, y_, z_])
    assert torch.equal(y_[:, :3], x_[:, 1:]) and torch.equal(y_[:, 3], torch.zeros(4))
    assert torch.equal(z_[:3], torch.full((3, 4), 2.0)) and torch.equal(z_[3], torch.zeros(4))


def test_fresh_buffers_are_undefined_not_zero():
    k = KB()
    y = k.tensor("y", DType.f32, 2)
    with k.grid(k.c(1)):
        buf = k.op(Op.ALLOC, shape=(2, 2), dtype=DType.f32, space="fragment")
        k.do(Op.STORE, y, k.c(0), k.c(0), k.op(Op.LOAD, buf, k.c(0), k.c(0), shape=(2, 2)), shape=(2, 2))
    y_ = torch.zeros(2, 2)
    run(k.fn(), [y_])
    assert torch.isnan(y_).all()


def test_loops_ifs_and_scalar_params():
    """sum over i < n of (i if i is even else -1), with a stepped loop and an if with results."""
    k = KB()
    out = k.tensor("out", I32, 1)
    n = k.scalar("n", I32)
    with k.grid(k.c(1)):
        def body(i, acc):
            even = k.op(Op.EQ, k.op(Op.MOD, i, k.c(2)), k.c(0))
            (v,) = k.if_(even, lambda: [i], lambda: [k.c(-1)], types=(Type(I32),))
            return [k.op(Op.ADD, acc, v)]
        (total,) = k.loop(k.c(0), n, [k.c(0)], body, step=k.c(1), stages=3)
        k.do(Op.STORE, out, k.c(0), total, shape=(None,))
    o = torch.zeros(1, dtype=torch.int32)
    run(k.fn(), [o, 7])
    assert o.item() == sum(i if i % 2 == 0 else -1 for i in range(7))


@pytest.mark.parametrize("sizes,group_m", [((3, 4), None), ((5, 3), 2), ((2, 3, 2), None), ((4, 3, 2), 3)])
def test_grid_runs_programs_in_launch_order(sizes, group_m):
    """An atomic ticket per program records the order programs ran in: every program exactly
    once, axis 0 fastest (or Triton's grouped order with group_m)."""
    k = KB()
    ticket, order = k.tensor("ticket", I32, 1), k.tensor("order", I32, len(sizes))
    pids = tuple(k.b.fresh(f"p{i}", Type(I32)) for i in range(len(sizes)))
    with k.b.block(pids) as body:
        t = k.op(Op.ATOMIC, ticket, k.c(0), k.c(1), kind="add", shape=(None,))
        k.do(Op.STORE, order, *pids, t, shape=(None,) * len(sizes))
    k.b.emit(Op.GRID, tuple(k.c(n) for n in sizes), {"group_m": group_m} if group_m else {},
             regions=(body[0],))
    tk, o = torch.zeros(1, dtype=torch.int32), torch.full(sizes, -1, dtype=torch.int32)
    run(k.fn(), [tk, o])
    seq = sorted((int(o[ids]), ids) for ids in itertools.product(*map(range, sizes)))
    assert [n for n, _ in seq] == list(range(o.numel()))
    assert [ids for _, ids in seq] == launch_order(list(sizes), group_m)
    assert [ids for _, ids in seq][:2] == [(0,) * len(sizes), (1,) + (0,) * (len(sizes) - 1)]


# --- threads ----------------------------------------------------------------------------------------------------
def test_warp_shuffle_reduction_from_the_front_end():
    x = torch.randn(100)
    out = torch.zeros(4)
    run(K.warp_sum.ir(x, out), [x, out])
    torch.testing.assert_close(out, torch.nn.functional.pad(x, (0, 28)).view(4, 32).sum(1))


@pytest.mark.parametrize("mode,lane,width", [("xor", 3, 32), ("down", 1, 8), ("up", 2, 8),
                                             ("idx", 5, 16), ("down", 4, 32), ("xor", 8, 8)])
def test_shuffle_modes_keep_own_value_out_of_segment(mode, lane, width):
    k = KB()
    out = k.tensor("out", I32, 1)
    with k.grid(k.c(1)):
        with k.threads(64) as tid:
            v = k.op(Op.MUL, tid, k.c(10))
            got = k.op(Op.SHUFFLE, v, k.c(lane), mode=mode, width=width)
            k.do(Op.STORE, out, tid, got, shape=(None,))
    o = torch.zeros(64, dtype=torch.int32)
    run(k.fn(), [o])
    for t in range(64):
        w, l = t - t % 32, t % 32
        seg = l - l % width
        j = {"xor": l ^ lane, "down": l + lane, "up": l - lane, "idx": seg + lane % width}[mode]
        inside = seg <= j < seg + width if mode != "xor" else j < seg + width
        assert o[t].item() == 10 * (w + j if inside else t), (t, o[t])


def test_shuffle_source_lane_past_the_last_thread_is_own_value():
    assert source_lane("down", 30, 4, 32, 32) == 30
    assert source_lane("down", 30, 1, 32, 32) == 31


def test_barrier_orders_shared_memory_between_threads():
    """Each thread writes its slot, then after a barrier reads its neighbour's."""
    k = KB()
    out = k.tensor("out", I32, 1)
    with k.grid(k.c(2)) as p:
        smem = k.op(Op.ALLOC, shape=(8,), dtype=I32, space="shared")
        with k.threads(8) as tid:
            k.do(Op.STORE, smem, tid, k.op(Op.ADD, k.op(Op.MUL, tid, tid), p), shape=(None,))
            k.do(Op.BARRIER)
            nb = k.op(Op.MOD, k.op(Op.ADD, tid, k.c(1)), k.c(8))
            got = k.op(Op.LOAD, smem, nb, shape=(None,))
            k.do(Op.STORE, out, k.op(Op.ADD, k.op(Op.MUL, p, k.c(8)), tid), got, shape=(None,))
    o = torch.zeros(16, dtype=torch.int32)
    run(k.fn(), [o])
    assert o.tolist() == [((t + 1) % 8) ** 2 + p for p in range(2) for t in range(8)]


def test_barrier_in_divergent_code_is_an_error():
    k = KB()
    with k.grid(k.c(1)):
        with k.threads(4) as tid:
            def then():
                k.do(Op.BARRIER)
            k.if_(k.op(Op.LT, tid, k.c(2)), then, lambda: None)
    with pytest.raises(InterpreterError, match="finished while the others wait"):
        run(k.fn(), [])


def test_warp_roles_run_in_program_order():
    k = KB()
    out = k.tensor("out", DType.f32, 1)
    with k.grid(k.c(1)):
        buf = k.op(Op.ALLOC, shape=(4,), dtype=DType.f32, space="shared")
        with k.b.block() as prod:
            k.do(Op.COPY, k.op(Op.FULL, shape=(4,), value=3.0, dtype=DType.f32), buf)
        k.b.emit(Op.WARP_ROLE, (), {"role": "producer"}, regions=(prod[0],))
        with k.b.block() as cons:
            k.do(Op.STORE, out, k.c(0), k.op(Op.LOAD, buf, k.c(0), shape=(4,)), shape=(4,))
        k.b.emit(Op.WARP_ROLE, (), {"role": "consumer"}, regions=(cons[0],))
        k.do(Op.LAYOUT, buf, swizzle=128)
    o = torch.zeros(4)
    run(k.fn(), [o])
    assert o.tolist() == [3.0] * 4


# --- front-end kernels that mix features -------------------------------------------------------------------------
def test_fp8_block_scaled_gemm_from_the_front_end():
    torch.manual_seed(0)
    M, N, Kd = 20, 140, 200
    a, b = torch.randn(M, Kd).to(torch.float8_e4m3fn), torch.randn(N, Kd).to(torch.float8_e4m3fn)
    sfa = torch.rand(M, 2) + 0.5
    sfb = torch.rand(2, 2) + 0.5
    c = torch.empty(M, N, dtype=torch.bfloat16)
    run(K.fp8_gemm_nt.ir(a, sfa, b, sfb, c, BM=16, BN=32), [a, sfa, b, sfb, c])
    A = a.float() * sfa.repeat_interleave(128, 1)[:, :Kd]
    B = b.float() * sfb.repeat_interleave(128, 0)[:N].repeat_interleave(128, 1)[:, :Kd]
    torch.testing.assert_close(c.float(), (A @ B.T).bfloat16().float(), rtol=1.6e-2, atol=1e-1)


def test_dispatch_with_atomic_counters_from_the_front_end():
    torch.manual_seed(3)
    T, TOPK, H, E = 9, 2, 8, 4
    x = torch.randn(T, H)
    topk = torch.randint(-1, E, (T, TOPK), dtype=torch.int32)
    counts = torch.stack([(topk == e).sum() for e in range(E)])
    start = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)[:-1]]).int()
    counters = torch.zeros(E, dtype=torch.int32)
    out, oi = torch.zeros(T * TOPK, H), torch.full((T, TOPK), -1, dtype=torch.int32)
    run(K.dispatch_rows.ir(x, topk, start, counters, out, oi, H=H), [x, topk, start, counters, out, oi])
    assert torch.equal(counters, counts.int())
    for t in range(T):
        for kk in range(TOPK):
            if topk[t, kk] >= 0:
                e = int(topk[t, kk])
                assert start[e] <= oi[t, kk] < start[e] + counts[e] and torch.equal(out[oi[t, kk]], x[t])
    assert len({int(v) for v in oi[topk >= 0]}) == int((topk >= 0).sum())  # distinct slots


# --- structure and arguments --------------------------------------------------------------------------------------
def test_every_op_has_an_interpreter_rule():
    assert set(RULES) == set(Op)


def test_bad_arguments_are_argument_errors():
    fn = gemm_ir(DType.f32, DType.f32)
    a, b, c = torch.randn(4, 3), torch.randn(3, 5), torch.empty(4, 5)
    with pytest.raises(ArgumentError, match="takes 3 arguments"):
        run(fn, [a, b])
    with pytest.raises(ArgumentError, match="must be f32"):
        run(fn, [a.half(), b, c])
    with pytest.raises(ArgumentError, match="rank 2"):
        run(fn, [a, b, torch.empty(20)])
    k = KB()
    x, y = k.tensor("x", DType.f32, 1), k.tensor("y", DType.f32, 1)
    k.ret(k.op(Op.ADD, x, y))  # broadcasting two runtime sizes: assumed equal, checked per call
    with pytest.raises(ArgumentError, match="must match"):
        run(k.fn("ir"), [torch.zeros(3), torch.zeros(4)])


# --- whole pipeline and random IR ---------------------------------------------------------------------------------
def _scheduler_available() -> bool:
    try:
        from tiledsl.passes.pipeline import schedule  # noqa: F401
    except ImportError:
        return False
    return True


needs_scheduler = pytest.mark.skipif(not _scheduler_available(), reason="tiledsl.schedule not built yet")


@needs_scheduler
def test_kernel_call_with_backend_ir_runs_the_scheduled_program():
    a, b, c = torch.randn(77, 130), torch.randn(130, 45), torch.empty(77, 45)
    K.matmul(a, b, c, backend="ir")
    torch.testing.assert_close(c, a @ b, rtol=1e-4, atol=1e-4)
    x = torch.randn(5, 70)
    torch.testing.assert_close(K.softmax(x, backend="ir"), torch.softmax(x, -1))


def _random_args(fn: Function, n: int) -> list:
    gen = torch.Generator().manual_seed(n)
    sizes: dict[str, int] = {}
    args = []
    for p in fn.params:
        t = p.value.type
        if p.kind is ParamKind.SCALAR:
            args.append(2 if t.dtype.is_int else 0.5)
            continue
        shape = tuple(d if isinstance(d, int) else sizes.setdefault(d, n) for d in t.shape)
        x = torch.randn(shape, generator=gen) * 3
        args.append(x.to(t.dtype.to_torch()) if t.dtype.is_float else x.long().to(t.dtype.to_torch()))
    return args


@settings(suppress_health_check=list(HealthCheck))  # examples, seed, shrinking: the profile (conftest.py)
@given(st.data(), st.integers(1, 4))
def test_random_scheduled_programs_run_deterministically(data, n):
    """Any valid scheduled IR runs (or stops with an InterpreterError that names a real fault of
    the program), and running it twice on equal inputs gives equal outputs (undefined buffer
    contents included: they are a fixed NaN / marker pattern, not memory garbage)."""
    from tests.strategies import functions

    fn = data.draw(functions(scheduled=True, max_depth=2))
    outs = []
    for _ in range(2):
        args = _random_args(fn, n)
        try:
            run(fn, args)
        except InterpreterError as e:
            assert any(s in str(e) for s in ("loop step is 0", "diverged", "finished while")), e
            return
        outs.append([a for a in args if isinstance(a, torch.Tensor)])
    for x, y in zip(*outs):
        assert torch.equal(x.view(torch.uint8) if x.dtype != torch.bool else x,
                           y.view(torch.uint8) if y.dtype != torch.bool else y)
