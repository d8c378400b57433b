"""Regressions of the scheduler, the passes and the IR interpreter, each checked against torch
computed here (backend="ir", and backend="triton" through Triton's CPU interpreter).

Constexpr arguments are passed by keyword throughout.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

import tiledsl as td

HAS_TRITON = importlib.util.find_spec("triton") is not None
BACKENDS = ["ir", pytest.param("triton", marks=pytest.mark.skipif(not HAS_TRITON, reason="needs triton"))]


# --- kernels ---------------------------------------------------------------------------------------------
@td.kernel
def softmax(x: td.Tensor) -> td.Tensor:
    e = td.exp(x - td.max(x, axis=-1, keepdims=True))
    return e / td.sum(e, axis=-1, keepdims=True)


@td.kernel
def layernorm(x: td.Tensor, w: td.Tensor, b: td.Tensor) -> td.Tensor:
    xf = x.to(td.float32)
    mean = td.sum(xf, axis=-1, keepdims=True) / x.shape[-1]
    d = xf - mean
    var = td.sum(d * d, axis=-1, keepdims=True) / x.shape[-1]
    y = d * td.rsqrt(var + 1e-5) * w.to(td.float32) + b.to(td.float32)
    return y.to(x.dtype)


@td.kernel
def r_sum(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.sum(x, axis=axis, keepdims=keep)


@td.kernel
def r_max(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.max(x, axis=axis, keepdims=keep)


@td.kernel
def r_min(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.min(x, axis=axis, keepdims=keep)


@td.kernel
def r_argmax(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.argmax(x, axis=axis, keepdims=keep)


@td.kernel
def r_argmin(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.argmin(x, axis=axis, keepdims=keep)


REDUCE = {"sum": r_sum, "max": r_max, "min": r_min, "argmax": r_argmax, "argmin": r_argmin}
_TORCH_REDUCE = {"sum": torch.sum, "max": torch.amax, "min": torch.amin, "argmax": torch.argmax,
                 "argmin": torch.argmin}


def _layernorm_ref(x, w, b):
    n = x.shape[-1]
    return torch.nn.functional.layer_norm(x.float(), (n,), w.float(), b.float(), 1e-5).to(x.dtype)


# --- 1. reductions over size-1 axes and over every axis ---------------------------------------------------
SHAPES = [(7,), (1,), (5, 1), (1, 7), (5, 7), (1, 1), (3, 4, 5), (3, 1, 5), (1, 4, 1), (2, 3, 1)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", ["sum", "max", "min", "argmax", "argmin"])
def test_reduce_over_every_axis_and_size_one_axes(backend, shape, kind):
    gen = torch.Generator().manual_seed(len(shape) * 31 + shape[-1])
    x = torch.randn(shape, generator=gen)
    for axis in range(len(shape)):
        for keep in (True, False):
            if len(shape) == 1 and not keep:
                continue  # a 0-d result: a scalar, which a level-1 kernel does not return
            got = REDUCE[kind](x, axis=axis, keep=keep, backend=backend)
            ref = _TORCH_REDUCE[kind](x, axis, keepdim=keep)
            assert got.shape == ref.shape, (axis, keep)
            torch.testing.assert_close(got.to(ref.dtype), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(5, 1), (1, 1), (1, 9), (3, 4, 1), (2, 1, 6)], ids=str)
def test_softmax_and_layernorm_over_size_one_rows(backend, shape):
    x = torch.randn(shape)
    torch.testing.assert_close(softmax(x, backend=backend), torch.softmax(x, -1))
    w, b = torch.randn(shape[-1:]), torch.randn(shape[-1:])
    torch.testing.assert_close(layernorm(x, w, b, backend=backend), _layernorm_ref(x, w, b),
                               rtol=1e-5, atol=1e-5)


# --- 2. f16/bf16 transcendentals and sums compute in f32 and round once (torch's rule) ---------------------
@td.kernel
def row_sum(x: td.Tensor) -> td.Tensor:
    return td.sum(x, axis=-1, keepdims=True)


@td.kernel
def unary_tiles(x: td.Tensor, e: td.Tensor, lg: td.Tensor, th: td.Tensor, BLOCK: td.constexpr = td.auto):
    with td.grid(td.cdiv(x.shape[0], BLOCK)) as i:
        t = td.load(x, (i * BLOCK,), (BLOCK,))
        td.store(e, (i * BLOCK,), td.exp(t))
        td.store(lg, (i * BLOCK,), td.log(td.abs(t) + 1.0))
        td.store(th, (i * BLOCK,), td.tanh(t))


@td.kernel
def tile_row_sum(x: td.Tensor, out: td.Tensor, BLOCK: td.constexpr = td.auto):
    with td.grid(x.shape[0]) as i:
        acc = td.zeros((BLOCK,), x.dtype)
        for k in range(0, td.cdiv(x.shape[1], BLOCK)):
            acc += td.load(x, (i, k * BLOCK), (None, BLOCK))
        td.store(out, (i,), td.sum(acc, 0))


LOW = [torch.float16, torch.bfloat16]


def _backend_low(backend: str, dtype: torch.dtype) -> list:
    """(backend, dtype) cases. Triton's interpreter builds round every 16-bit result as the type
    says (these were xfails while its bf16 arithmetic and an unrounded f16 `x - tl.max(x)` were
    wrong)."""
    marks = [pytest.mark.skipif(backend == "triton" and not HAS_TRITON, reason="needs triton")]
    return pytest.param(backend, dtype, marks=marks, id=f"{backend}-{str(dtype)[6:]}")


LOW_CASES = [_backend_low(b, d) for b in ("ir", "triton") for d in LOW]


def _ulps(dtype: torch.dtype) -> float:
    return {torch.float16: 2.0 ** -10, torch.bfloat16: 2.0 ** -7}[dtype]


def _close(got, ref, dtype, ulps=1.0):
    """Within `ulps` units in the last place of `dtype` (relative), after torch's own rounding."""
    torch.testing.assert_close(got.float(), ref.float(), rtol=ulps * _ulps(dtype), atol=1e-6)


@pytest.mark.parametrize(("backend", "dtype"), LOW_CASES)
@pytest.mark.parametrize("cols", [64, 1000, 20000])
def test_low_precision_softmax_matches_torch_op_by_op(backend, dtype, cols):
    """The kernel's own ops evaluated by torch in `dtype`: `x - max` and `e / s` round once each,
    exp and the sum compute in f32 and round once."""
    gen = torch.Generator().manual_seed(cols)
    x = (torch.randn(3, cols, generator=gen) * 3).to(dtype)
    e = torch.exp(x - x.amax(-1, keepdim=True))
    ref = e / e.sum(-1, keepdim=True)
    _close(softmax(x, backend=backend), ref, dtype)


@pytest.mark.parametrize(("backend", "dtype"), LOW_CASES)
def test_low_precision_layernorm_matches_torch(backend, dtype):
    x = torch.randn(6, 300).to(dtype)
    w, b = torch.randn(300).to(dtype), torch.randn(300).to(dtype)
    _close(layernorm(x, w, b, backend=backend), _layernorm_ref(x, w, b), dtype)


@pytest.mark.parametrize(("backend", "dtype"), LOW_CASES)
def test_low_precision_sum_accumulates_in_f32(backend, dtype):
    """Sums of 4096 values (one pass) and of 200000 (a loop over chunks, whose running total was
    kept in the narrow dtype, several ulps off): torch sums in f32 and rounds once."""
    x = (torch.rand(2, 4096) + 0.5).to(dtype)
    _close(row_sum(x, backend=backend), x.sum(-1, keepdim=True), dtype)
    v = 1.03125 if dtype is torch.bfloat16 else 0.2578125  # exact in the dtype; fp16 stays finite
    x = torch.full((2, 200_000), v, dtype=dtype)
    _close(row_sum(x, backend=backend), x.sum(-1, keepdim=True), dtype)


@pytest.mark.parametrize(("backend", "dtype"), LOW_CASES)
def test_low_precision_tile_transcendentals_round_once(backend, dtype):
    x = (torch.randn(1000) * 4).to(dtype)
    e, lg, th = (torch.empty_like(x) for _ in range(3))
    unary_tiles(x, e, lg, th, backend=backend)
    _close(e, torch.exp(x), dtype)
    _close(lg, torch.log(torch.abs(x) + 1.0), dtype)
    _close(th, torch.tanh(x), dtype)


@pytest.mark.parametrize(("backend", "dtype"), LOW_CASES)
def test_low_precision_tile_sum_of_narrow_accumulator(backend, dtype):
    """A level-2 tile sum of a narrow tile: the tile reduction itself sums in f32 (the explicit
    `acc +=` in the narrow dtype rounds per add, as the kernel says)."""
    x = (torch.rand(3, 64) + 0.5).to(dtype)
    out = torch.empty(3, dtype=dtype)
    tile_row_sum(x, out, BLOCK=64, backend=backend)
    _close(out, x.sum(-1), dtype)


# --- 6. interpreter semantics: //, % of negatives, NaN in reductions, casts ------------------------------
@td.kernel
def floordiv_mod(a: td.Tensor, b: td.Tensor):
    return a // b, a % b


@td.kernel
def cast_to(x: td.Tensor, dt: td.constexpr) -> td.Tensor:
    return x.to(dt)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.float32])
def test_floordiv_and_mod_follow_python(backend, dtype):
    a = torch.tensor([[-7, 7, -7, 7, 0, -1, 9, -9]], dtype=dtype)
    b = torch.tensor([[2, -2, -2, 2, 3, 5, -4, -4]], dtype=dtype)
    q, r = floordiv_mod(a, b, backend=backend)
    torch.testing.assert_close(q, a // b)
    torch.testing.assert_close(r, a % b)
    # the documented meaning, checked against Python itself
    assert q.tolist() == [[x // y for x, y in zip(*a.tolist(), *b.tolist())]]
    assert r.tolist() == [[x % y for x, y in zip(*a.tolist(), *b.tolist())]]


NAN = float("nan")


TRITON_NAN = pytest.param("triton", marks=[  # NaN-propagating max/argmax (was an xfail)
    pytest.mark.skipif(not HAS_TRITON, reason="needs triton")])


@pytest.mark.parametrize("backend", ["ir", TRITON_NAN])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_nan_propagates_through_max_min_and_arg_reductions(backend, dtype):
    x = torch.tensor([[1.0, NAN, 5.0, NAN], [3.0, 2.0, 1.0, 0.0], [NAN, 9.0, -9.0, 1.0]], dtype=dtype)
    for kind, ref in (("max", x.amax(1)), ("min", x.amin(1)), ("argmax", x.argmax(1)), ("argmin", x.argmin(1))):
        got = REDUCE[kind](x, axis=1, keep=False, backend=backend)
        torch.testing.assert_close(got.to(ref.dtype), ref, equal_nan=True, msg=kind)


@pytest.mark.parametrize("backend", ["ir"])
def test_fp8_e4m3_cast_saturates_as_torch(backend):
    x = torch.tensor([[1000.0, -1000.0, float("inf"), NAN, 448.0, 464.0, 0.3]])
    got = cast_to(x, dt=td.float8_e4m3, backend=backend)
    torch.testing.assert_close(got.float(), x.to(torch.float8_e4m3fn).float(), equal_nan=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_to_int_truncates_toward_zero(backend):
    x = torch.tensor([[2.7, -2.7, 0.5, -0.5, 1e9, -1e9]])
    torch.testing.assert_close(cast_to(x, dt=td.int32, backend=backend), x.to(torch.int32))


# --- 5. the random-IR property test found: a tile mask on a scalar access was accepted ---------------------
def test_a_mask_must_broadcast_to_the_window():
    """The strategy built ``atomic x[c] (scalar) mask=tile<i1[1]>``; the shape rule accepted it and
    the interpreter crashed in torch (`expand` of [1] to []). The rule now rejects it."""
    from tiledsl.dtypes import DType
    from tiledsl.errors import TypeCheckError
    from tiledsl.ir import Builder, Op, Space, Type

    b = Builder()
    x = b.fresh("x", Type(DType.i32, ("x.0",), Space.GLOBAL))
    c = b.value(Op.CONST, (), {"value": 0})
    ok = b.value(Op.ARANGE, (), {"start": 0, "end": 1})
    m = b.value(Op.LT, (ok, c))
    with pytest.raises(TypeCheckError, match="does not match the"):
        b.emit(Op.ATOMIC, (x, c, c, m), {"shape": (None,), "kind": "add", "masked": True})
    with pytest.raises(TypeCheckError, match="does not match the"):
        b.emit(Op.LOAD, (x, c, m), {"shape": (None,), "masked": True})
    b.emit(Op.LOAD, (x, c, m), {"shape": (1,), "masked": True})  # a [1] mask on a [1] window is fine


# --- 4. schedule errors point at the offending line, not the kernel's def ------------------------------------
@td.kernel
def gemm_tiles(a: td.Tensor, b: td.Tensor, c: td.Tensor, BM: td.constexpr = td.auto,
               BN: td.constexpr = td.auto, BK: td.constexpr = td.auto):
    with td.grid(td.cdiv(a.shape[0], BM), td.cdiv(b.shape[1], BN)) as (i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(a.shape[1], BK), stages=td.auto):
            acc += td.dot(td.load(a, (i * BM, k * BK), (BM, BK)), td.load(b, (k * BK, j * BN), (BK, BN)))
        td.store(c, (i * BM, j * BN), acc.to(c.dtype))


@td.kernel
def four_sizes(a: td.Tensor, b: td.Tensor, c: td.Tensor, d: td.Tensor) -> td.Tensor:
    ab = a[:, None] + b[None, :]
    abc = ab[:, :, None] + c[None, None, :]
    return abc[:, :, :, None] + d[None, None, None, :]


@td.kernel
def mystery_knob(x: td.Tensor, y: td.Tensor, FOO: td.constexpr = td.auto):
    with td.grid(x.shape[0]) as i:
        n = i * FOO
        td.store(y, (i,), td.load(x, (n,), None))


@td.kernel
def matvec(a: td.Tensor, v: td.Tensor) -> td.Tensor:
    return a @ v


def _error_line(call) -> int:
    from tiledsl.errors import ScheduleError

    with pytest.raises(ScheduleError) as e:
        call()
    assert e.value.loc is not None, str(e.value)
    return e.value.loc.line


def _source_line(marker: str) -> int:
    import inspect
    import sys

    src, _ = inspect.findsource(sys.modules[__name__])
    return next(n + 1 for n, s in enumerate(src) if marker in s and "_source_line" not in s)


def test_explicit_values_that_do_not_fit_point_at_their_use():
    a, b, c = torch.randn(512, 512), torch.randn(512, 512), torch.empty(512, 512)
    line = _error_line(lambda: gemm_tiles.compile(a, b, c, BM=256, BN=256, BK=256, backend="ir"))
    assert line == _source_line("acc = td.zeros((BM, BN), td.float32)")  # registers: the biggest tile


def test_too_many_sizes_points_at_the_line_bringing_the_fourth():
    xs = [torch.randn(n) for n in (2, 3, 4, 5)]
    line = _error_line(lambda: four_sizes(*xs, backend="ir"))
    assert line == _source_line("return abc[:, :, :, None] + d[None, None, None, :]")


def test_knob_without_a_role_points_at_its_use():
    x, y = torch.randn(8), torch.empty(8)
    line = _error_line(lambda: mystery_knob(x, y, backend="ir"))
    assert line == _source_line("n = i * FOO")


def test_matvec_runs():  # was refused (pointing at the matmul); it is a product and a row sum now
    a, v = torch.randn(6, 4), torch.randn(4, 1)
    torch.testing.assert_close(matvec(a, v, backend="ir"), a @ v)


# --- 3. level-1 gathers: x[idx] and td.take(x, idx, axis) ---------------------------------------------------
@td.kernel
def take(x: td.Tensor, idx: td.Tensor, axis: td.constexpr) -> td.Tensor:
    return td.take(x, idx, axis=axis)


@td.kernel
def index_rows(x: td.Tensor, idx: td.Tensor) -> td.Tensor:
    return x[idx]


@td.kernel
def embed_scale_sum(w: td.Tensor, idx: td.Tensor, s: td.Tensor):
    e = w[idx] * s
    return e, td.sum(e, axis=-1, keepdims=True)


@td.kernel
def take_argmax_rows(x: td.Tensor, y: td.Tensor) -> td.Tensor:
    return td.take(y, td.argmax(x, axis=1), axis=0)


def _take_ref(x, idx, axis):
    """torch's x.index_select with negative indices counting from the end and out-of-range rows
    reading 0 (the documented rule)."""
    n = x.shape[axis]
    i = idx.long()
    i = torch.where(i < 0, i + n, i)
    ok = (i >= 0) & (i < n)
    out = x.index_select(axis, torch.where(ok, i, 0))
    shape = [1] * x.dim()
    shape[axis] = -1
    return torch.where(ok.reshape(shape), out, torch.zeros((), dtype=x.dtype))


IDX_DTYPES = [torch.int32, torch.int64, torch.int16, torch.int8, torch.uint8]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(37,), (37, 5), (6, 37), (3, 37, 4), (1, 37)], ids=str)
@pytest.mark.parametrize("idx_dtype", IDX_DTYPES, ids=str)
def test_take_along_every_axis_matches_torch(backend, shape, idx_dtype):
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(shape, generator=gen)
    for axis in range(len(shape)):
        n = shape[axis]
        idx = torch.randint(0, n, (23,), generator=gen).to(idx_dtype)
        got = take(x, idx, axis=axis, backend=backend)
        torch.testing.assert_close(got, x.index_select(axis, idx.long()), rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_indices_count_from_the_end_and_out_of_range_reads_zero(backend):
    x = torch.randn(5, 3)
    idx = torch.tensor([0, -1, -5, 4, 5, -6, 100, -100])
    torch.testing.assert_close(index_rows(x, idx, backend=backend), _take_ref(x, idx, 0), rtol=0, atol=0)
    torch.testing.assert_close(index_rows(x, idx[:4], backend=backend), x[idx[:4]], rtol=0, atol=0)  # torch's x[idx]
    y = torch.randn(2, 5)
    torch.testing.assert_close(take(y, idx, axis=1, backend=backend), _take_ref(y, idx, 1), rtol=0, atol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rows", [1, 7, 300])
def test_gather_fuses_with_elementwise_and_reductions(backend, rows):
    w = torch.randn(50, 33)
    idx = torch.randint(0, 50, (rows,))
    s = torch.randn(33)
    e, tot = embed_scale_sum(w, idx, s, backend=backend)
    torch.testing.assert_close(e, w[idx] * s)
    torch.testing.assert_close(tot, (w[idx] * s).sum(-1, keepdim=True), rtol=1e-5, atol=1e-5)
    x, y = torch.randn(9, 4), torch.randn(4, 6)
    torch.testing.assert_close(take_argmax_rows(x, y, backend=backend), y[x.argmax(1)], rtol=0, atol=0)


def test_unscheduled_gathers_name_the_level2_way():
    from tiledsl.errors import ScheduleError

    @td.kernel
    def take2d(x: td.Tensor, idx: td.Tensor) -> td.Tensor:
        return td.take(x, idx, axis=0)

    with pytest.raises(ScheduleError, match="2-D index tensor") as e:
        take2d(torch.randn(5, 3), torch.zeros(2, 2, dtype=torch.int64), backend="ir")
    assert "level 2" in str(e.value)


# --- 7. data-dependent loop trip counts and warps in the cost model ------------------------------------------
def test_data_dependent_trip_count_is_priced_as_its_expected_count(monkeypatch):
    """The decode loop runs `cdiv(seqlen, PAGE)` times, a loaded value: priced at its `expect=`
    (the block table's width, 8 pages), not 1 (was: 1, then UNKNOWN_TRIPS whatever the table),
    so the loop's dots and loads dominate the estimate as they do at run time."""
    from tests.kernels_for_tests import paged_decode
    from tiledsl.dtypes import DType
    from tiledsl.passes.pipeline import schedule
    from tiledsl.schedule import analysis
    from tiledsl.specs import TensorSpec

    assert analysis.UNKNOWN_TRIPS == 64
    sp = (TensorSpec((4, 16, 128), DType.bf16), TensorSpec((64, 16, 128), DType.bf16),
          TensorSpec((4, 8), DType.i32), TensorSpec((4,), DType.i32), TensorSpec((4, 16, 128), DType.bf16), 0.1)
    fn = paged_decode.ir(*sp, D=128, DV=128, num_warps=1, BH=16)
    est = schedule(fn, sp, "h100").estimate
    monkeypatch.setattr(analysis, "UNKNOWN_TRIPS", 1)
    assert schedule(fn, sp, "h100").estimate == est  # the hint, not the default, prices it
    # per iteration: q k^T (16x16x128) and p v (16x128x16) per program, 4 x 1 programs, 8 pages
    assert est.flops == 8 * 4 * 2 * (2 * 16 * 16 * 128)
