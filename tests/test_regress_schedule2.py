"""Regressions of the scheduler, the passes and the IR interpreter (round 2), each checked against
torch computed here, on backend="ir", "eager" and "triton" (Triton's CPU interpreter; f32/f16).

Constexpr arguments are passed by keyword throughout.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

import tiledsl as td
from tests.test_regress_schedule import r_argmax, r_argmin, r_max, r_min, r_sum
from tiledsl.dtypes import DType
from tiledsl.schedule.identity import IDENTITY, reduction_identity

HAS_TRITON = importlib.util.find_spec("triton") is not None
_TRITON = pytest.param("triton", marks=pytest.mark.skipif(not HAS_TRITON, reason="needs triton"))
BACKENDS = ["ir", "eager", _TRITON]
TRITON_DTYPES = (torch.float32, torch.float16)  # what the Triton interpreter runs faithfully


# --- kernels ---------------------------------------------------------------------------------------------
@td.kernel
def r_prod(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.prod(x, axis=axis, keepdims=keep)


REDUCE = {"sum": r_sum, "prod": r_prod, "max": r_max, "min": r_min, "argmax": r_argmax, "argmin": r_argmin}


def _run(kernel, *args, backend: str, **kw):
    return kernel(*args, backend=backend, **kw)


# --- 1. the identity of every reduction kind for every dtype, at a ragged edge ----------------------------
DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool, torch.float16,
          torch.bfloat16, torch.float32, torch.float8_e4m3fn, torch.float8_e5m2]
_FP8 = (torch.float8_e4m3fn, torch.float8_e5m2)


def _extremes(dt: torch.dtype) -> tuple[float, float] | tuple[int, int]:
    if dt is torch.bool:
        return 0, 1
    if dt in _FP8:
        return (-448.0, 448.0) if dt is torch.float8_e4m3fn else (-57344.0, 57344.0)
    if dt.is_floating_point:
        return float(torch.finfo(dt).min), float(torch.finfo(dt).max)
    return torch.iinfo(dt).min, torch.iinfo(dt).max


def _data(kind: str, dt: torch.dtype, shape: tuple[int, ...], axis: int) -> torch.Tensor:
    """Values that expose a wrong identity: columns near the low end of the dtype's range and
    columns near its high end (a max whose padding is above the low values, a min whose padding is
    below the high ones), and a column holding only the extreme itself (argmax/argmin ties with
    the padding: the first index must win)."""
    g = torch.Generator().manual_seed(hash((kind, str(dt), shape)) % 1000)
    if dt is torch.bool:
        x = torch.rand(shape, generator=g) > 0.5
        x.select(1 - axis if len(shape) == 2 else -1, 0).fill_(True)
        x.select(1 - axis if len(shape) == 2 else -1, 1).fill_(False)
        return x
    lo, hi = _extremes(dt)
    if kind in ("sum", "prod"):  # stay exact: small values (prod near 1)
        base = torch.randint(-3, 4, shape, generator=g).double()
        if kind == "prod":
            base = torch.where(base == 0, 1.0, base).clamp(-2, 2) if not dt.is_floating_point else \
                1 + base / 8
        if dt == torch.uint8:
            base = base.abs()
        return base.to(dt)
    u = torch.rand(shape, generator=g, dtype=torch.float64)
    span = (hi - lo) if not dt.is_floating_point else min(hi - lo, 200.0)
    low = (lo if not dt.is_floating_point else -100.0) + u * span / 4
    high = (hi if not dt.is_floating_point else 100.0) - u * span / 4
    other = 1 - axis if len(shape) == 2 else len(shape) - 1
    idx = torch.arange(shape[other]).reshape([-1 if d == other else 1 for d in range(len(shape))])
    x = torch.where(idx % 2 == 0, low, high)
    x = x.round() if not dt.is_floating_point else x
    x = x.to(dt)
    x.select(other, 0).fill_(lo if kind in ("max", "argmax") else hi)
    return x


def _ref(kind: str, x: torch.Tensor, axis: int, keep: bool) -> torch.Tensor:
    dt = x.dtype
    if dt is torch.bool and kind in ("sum", "prod"):  # as torch: counted (multiplied) in int64
        return {"sum": torch.sum, "prod": torch.prod}[kind](x.long(), axis, keepdim=keep)
    if dt is torch.bool:
        w = x.to(torch.int32)
        fn = {"max": torch.amax, "min": torch.amin,
              "argmax": torch.argmax, "argmin": torch.argmin}[kind]
        r = fn(w, axis, keepdim=keep)
        return r.to(torch.int32) if kind.startswith("arg") else r.bool()
    if dt in _FP8:  # fp8 is a storage type: its reductions run and return in f32
        x, dt = x.float(), torch.float32
    w = x.double() if dt.is_floating_point else x.long()
    fn = {"sum": torch.sum, "prod": torch.prod, "max": torch.amax, "min": torch.amin,
          "argmax": torch.argmax, "argmin": torch.argmin}[kind]
    r = fn(w, axis, keepdim=keep)
    return r.to(torch.int32) if kind.startswith("arg") else r.to(dt)


RAGGED = [((5, 12), 0), ((3, 7, 5), 1)]
CHUNKED = ((2, 20000), 1)  # a row longer than one pass: the chunked loop with a ragged last chunk


def _identity_cases() -> list:
    """kind x dtype x ragged shape on ir and eager; f32/f16 on triton (no prod there; max/min of
    the ints and bool too); the chunked loop on ir for every dtype (argmax/argmin of such rows are rejected by design)."""
    out = []
    for kind in REDUCE:
        for dt in DTYPES:
            for shape_axis in RAGGED:
                out.append((kind, dt, shape_axis, "ir"))
                if shape_axis is RAGGED[0]:  # eager is the oracle elsewhere: one shape here
                    out.append((kind, dt, shape_axis, "eager"))
                ints_on_triton = not dt.is_floating_point and kind in ("max", "min") and shape_axis is RAGGED[0]
                if (dt in TRITON_DTYPES and kind != "prod") or ints_on_triton:
                    out.append(pytest.param(kind, dt, shape_axis, "triton", marks=_TRITON.marks))
            if not kind.startswith("arg"):
                out.append((kind, dt, CHUNKED, "ir"))
                if dt is torch.float32 and kind != "prod":
                    out.append(pytest.param(kind, dt, CHUNKED, "triton", marks=_TRITON.marks))
    return out


@pytest.mark.parametrize(("kind", "dt", "shape_axis", "backend"), _identity_cases(), ids=str)
def test_reduction_identity_at_ragged_edge(kind, dt, shape_axis, backend):
    shape, axis = shape_axis
    x = _data(kind, dt, shape, axis)
    got = _run(REDUCE[kind], x, axis=axis, keep=True, backend=backend)
    want = _ref(kind, x, axis, True)
    assert got.dtype == want.dtype and got.shape == want.shape
    if dt in _FP8 or dt in (torch.float16, torch.bfloat16):
        torch.testing.assert_close(got.float(), want.float(), rtol=0.07 if dt in _FP8 else 0.01, atol=0.0,
                                   equal_nan=True)
    else:
        assert torch.equal(got, want), (got, want)


def test_issue_repros_uint8_max_and_bool_min():
    torch.manual_seed(1)
    a = torch.randint(0, 255, (5, 12), dtype=torch.uint8)
    assert torch.equal(r_max(a, axis=0, keep=True, backend="ir"), a.amax(0, keepdim=True))
    torch.manual_seed(0)
    b = torch.rand(5, 12) > 0.3
    b[:, 3] = True  # a column of all True: its min is True
    assert torch.equal(r_min(b, axis=0, keep=True, backend="ir"), b.amin(0, keepdim=True))


def test_identity_table_is_an_identity():
    """Every entry combined with the dtype's extremes, 0 and 1 leaves them unchanged."""
    combine = {"sum": lambda a, b: a + b, "prod": lambda a, b: a * b, "max": max, "min": min,
               "argmax": max, "argmin": min}
    bool_combine = {"sum": lambda a, b: a or b, "prod": lambda a, b: a and b}
    for kind, row in IDENTITY.items():
        assert set(row) == set(DType), kind
        for dt in DType:
            lo, hi = (-1e300, 1e300) if dt is DType.f64 else _extremes(dt.to_torch())
            ident = reduction_identity(kind, dt)
            fn = bool_combine.get(kind, combine[kind]) if dt is DType.i1 else combine[kind]
            for v in (lo, hi, 0, 1):
                v = bool(v) if dt is DType.i1 else v
                assert fn(v, ident) == v and fn(ident, v) == v, (kind, dt, v)


# --- 2. a reduction over all axes of a tile rounds once ----------------------------------------------------
@td.kernel
def tile_sum_all(x: td.Tensor, out: td.Tensor, M: td.constexpr, N: td.constexpr):
    with td.grid(1) as (p,):
        t = td.load(x, (0, 0), shape=(M, N))
        td.store(out, (0,), td.sum(t))


@td.kernel
def tile_prod_all_keep(x: td.Tensor, out: td.Tensor, M: td.constexpr, N: td.constexpr):
    with td.grid(1) as (p,):
        t = td.load(x, (0, 0), shape=(M, N))
        td.store(out, (0, 0), td.prod(t, keepdims=True))


def _rounds_twice_differs(kind: str, dt: torch.dtype, shape=(4, 8)) -> torch.Tensor:
    """Data whose all-axes reduction rounded once differs from the same rounded after each axis."""
    op = torch.sum if kind == "sum" else torch.prod
    for seed in range(1000):
        g = torch.Generator().manual_seed(seed)
        x = (torch.rand(shape, generator=g) / 16 if kind == "sum" else 1 + torch.rand(shape, generator=g) / 16)
        x = x.to(dt)
        once = op(x.float()).to(dt)
        twice = op(op(x.float(), 1).to(dt).float()).to(dt)
        if once != twice:
            return x
    raise AssertionError("no data found")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", [torch.float16, torch.bfloat16], ids=str)
def test_tile_sum_over_all_axes_rounds_once(backend, dt):
    if backend == "triton" and dt not in TRITON_DTYPES:
        pytest.skip("Triton's interpreter: f32/f16 only")
    x = _rounds_twice_differs("sum", dt)
    out = torch.zeros(1, dtype=dt)
    tile_sum_all(x, out, M=4, N=8, backend=backend)
    assert out[0] == x.float().sum().to(dt), (out, x.float().sum().to(dt))


@pytest.mark.parametrize("backend", ["ir", "eager"])
@pytest.mark.parametrize("dt", [torch.float16, torch.bfloat16], ids=str)
def test_tile_prod_over_all_axes_rounds_once(backend, dt):
    x = _rounds_twice_differs("prod", dt)
    out = torch.zeros(1, 1, dtype=dt)
    tile_prod_all_keep(x, out, M=4, N=8, backend=backend)
    assert out[0, 0] == x.float().prod().to(dt), (out, x.float().prod().to(dt))


@td.kernel
def tile_sum_twice(x: td.Tensor, out: td.Tensor, M: td.constexpr, N: td.constexpr):
    with td.grid(1) as (p,):
        t = td.load(x, (0, 0), shape=(M, N))
        td.store(out, (0,), td.sum(td.sum(t, axis=1)))


@pytest.mark.parametrize("backend", ["ir", "eager"])
def test_two_written_reductions_round_twice(backend):
    """Two reductions the user wrote are two ops: each rounds (torch's x.sum(1).sum())."""
    x = _rounds_twice_differs("sum", torch.float16)
    out = torch.zeros(1, dtype=torch.float16)
    tile_sum_twice(x, out, M=4, N=8, backend=backend)
    assert out[0] == x.float().sum(1).half().float().sum().half()


# --- 3. level-1 kernels with several reductions -------------------------------------------------------------
@td.kernel
def chain_same_axis(x: td.Tensor, ax: td.constexpr):
    m = td.max(x, axis=ax, keepdims=True)
    return td.sum(x - m, axis=ax)


@td.kernel
def two_independent(x: td.Tensor, ax: td.constexpr):
    return td.max(x, axis=ax), td.sum(x, axis=ax)


@td.kernel
def reduce_of_reduce(x: td.Tensor, ax: td.constexpr):
    return td.min(td.min(x, axis=ax, keepdims=True), ax, keepdims=True)


@td.kernel
def two_tensors_same_axis(x: td.Tensor, y: td.Tensor, ax: td.constexpr):
    return td.sum(x, axis=ax) + td.max(y, axis=ax)


@td.kernel
def chain_other_axes(x: td.Tensor):
    return td.sum(td.max(x, axis=-3, keepdims=True), axis=-1)


@td.kernel
def reduce_then_broadcast(a: td.Tensor, b: td.Tensor):
    return td.max(a, 1, keepdims=True) / (1.0 + td.abs(b))


@td.kernel
def stats(x: td.Tensor):
    m = td.max(x, axis=1, keepdims=True)
    s = td.sum(td.exp(x - m), axis=1, keepdims=True)
    return td.sum(x * s, axis=1), m, x * 2


MULTI = {
    "chain_same_axis": (chain_same_axis, 1, lambda x, ax: (x - x.amax(ax, keepdim=True)).sum(ax)),
    "two_independent": (two_independent, 1, lambda x, ax: (x.amax(ax), x.sum(ax))),
    "reduce_of_reduce": (reduce_of_reduce, 1, lambda x, ax: x.amin(ax, keepdim=True)),
    "two_tensors_same_axis": (two_tensors_same_axis, 2, lambda x, y, ax: x.sum(ax) + y.amax(ax)),
}


def _close(got, want, dt):
    got, want = (got if isinstance(got, tuple) else (got,)), (want if isinstance(want, tuple) else (want,))
    assert len(got) == len(want)
    tol = 2e-2 if dt is torch.float16 else 1e-4
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        torch.testing.assert_close(g.float(), w.float(), rtol=tol, atol=tol * 4)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", TRITON_DTYPES, ids=str)
@pytest.mark.parametrize("shape_axis", [((5, 17), 1), ((17, 5), 0), ((3, 4, 5), 1), ((3, 20000), 1)], ids=str)
@pytest.mark.parametrize("name", list(MULTI))
def test_two_reductions_over_one_axis(backend, dt, shape_axis, name):
    """Reductions over the same axis: chained, returned together, of a reduction, of two tensors
    whose sizes nothing says are equal; in one pass and chunked (a 20000-element row)."""
    shape, ax = shape_axis
    kernel, n, ref = MULTI[name]
    if backend != "ir" and shape[ax] > 10000 and dt is torch.float16:
        pytest.skip("the chunked loop: f32 here is enough")
    g = torch.Generator().manual_seed(7)
    args = [torch.randn(shape, generator=g).to(dt) for _ in range(n)]
    got = kernel(*args, ax=ax, backend=backend)
    want = ref(*[a.float() for a in args], ax)
    want = tuple(w.to(dt) for w in want) if isinstance(want, tuple) else want.to(dt)
    _close(got, want, dt)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reductions_over_different_axes_in_one_pass(backend):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 5, 7, generator=g)
    _close(chain_other_axes(x, backend=backend), x.amax(0, keepdim=True).sum(-1), torch.float32)
    # the fuzzer's "rank 4" case: a (5, 17) reduction broadcast against (2, 5, 17)
    a, b = torch.randn(5, 17, generator=g), torch.randn(2, 5, 17, generator=g)
    _close(reduce_then_broadcast(a, b, backend=backend), a.amax(1, keepdim=True) / (1 + b.abs()), torch.float32)
    y = torch.randn(6, 33, generator=g)
    m = y.amax(1, keepdim=True)
    s = torch.exp(y - m).sum(1, keepdim=True)
    _close(stats(y, backend=backend), ((y * s).sum(1), m, y * 2), torch.float32)


@td.kernel
def chain_long_rows(x: td.Tensor):
    return td.sum(td.max(x, axis=1), axis=0)


@td.kernel
def five_sizes(a: td.Tensor, b: td.Tensor):
    return td.max(a, 1, keepdims=True) / (1.0 + td.abs(b))


def test_unsupported_multi_reductions_say_what_and_how():
    with pytest.raises(td.ScheduleError) as e:
        chain_long_rows(torch.randn(3, 20000), backend="ir")
    msg = str(e.value)
    assert "x.shape[1], x.shape[0]" in msg and "one reduced axis at a time" in msg
    assert "td.sum(td.max(x, axis=1), axis=0)" in msg  # the kernel's line
    assert "level 2" in msg and "loop over chunks" in msg  # the hint
    assert "different axes in one kernel" not in msg and "rank" not in msg
    with pytest.raises(td.ScheduleError) as e:
        five_sizes(torch.randn(5, 17), torch.randn(2, 3, 5, 17), backend="ir")
    msg = str(e.value)
    assert "4 sizes besides the reduced one" in msg and "b.shape[0]" in msg and "at most 3" in msg


# --- 5. level-1 code carrying a number through a runtime loop or branch (found by the fuzzer) --------------
@td.kernel
def number_loop(a0: td.Tensor, n: int):
    c0 = 1.0
    for q in range(n):
        c0 = c0 * 0.5 + 1.0
    if n > 2:
        c0 = c0 + 10.0
    return td.max(c0 + a0, axis=1)


@td.kernel
def number_loop_var(a0: td.Tensor):
    c0 = 1.0
    for q in range(3):
        c0 = c0 * 0.5 + q
    return c0 + a0


def _number_loop_ref(x: torch.Tensor, n: int) -> torch.Tensor:
    c0 = 1.0
    for _ in range(n):
        c0 = c0 * 0.5 + 1.0
    if n > 2:
        c0 = c0 + 10.0
    return (c0 + x).amax(1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_level1_number_through_runtime_loop_and_branch(backend):
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    for n in (0, 2, 3):
        torch.testing.assert_close(number_loop(x, n, backend=backend), _number_loop_ref(x, n))


@pytest.mark.parametrize("backend", ["ir", "eager"])  # Triton: FINDINGS.md 13 (q.to on a Python int)
def test_level1_number_from_loop_variable(backend):
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(number_loop_var(x, backend=backend), x + 2.625)
