"""Regressions of the scheduler, the passes and the IR interpreter (round 2), each checked against
torch computed here, on backend="ir", "eager" and "triton" (Triton's CPU interpreter; f32/f16).

Constexpr arguments are passed by keyword throughout.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

import tiledsl as td
from tiledsl.dtypes import DType
from tiledsl.schedule.identity import IDENTITY, reduction_identity

HAS_TRITON = importlib.util.find_spec("triton") is not None
_TRITON = pytest.param("triton", marks=pytest.mark.skipif(not HAS_TRITON, reason="needs triton"))
BACKENDS = ["ir", "eager", _TRITON]
TRITON_DTYPES = (torch.float32, torch.float16)  # what the Triton interpreter runs faithfully


# --- kernels ---------------------------------------------------------------------------------------------
@td.kernel
def r_sum(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.sum(x, axis=axis, keepdims=keep)


@td.kernel
def r_prod(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.prod(x, axis=axis, keepdims=keep)


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
    if dt is torch.bool:  # a bool sum is "any", a bool prod "all" (the result keeps the dtype)
        w = x.to(torch.int32)
        fn = {"sum": torch.amax, "prod": torch.amin, "max": torch.amax, "min": torch.amin,
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
    """kind x dtype x ragged shape on ir and eager; f32/f16 on triton (no prod there); the chunked
    loop on ir for every dtype (argmax/argmin of such rows are rejected by design)."""
    out = []
    for kind in REDUCE:
        for dt in DTYPES:
            for shape_axis in RAGGED:
                out.append((kind, dt, shape_axis, "ir"))
                if shape_axis is RAGGED[0]:  # eager is the oracle elsewhere: one shape here
                    out.append((kind, dt, shape_axis, "eager"))
                if dt in TRITON_DTYPES and kind != "prod":
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
