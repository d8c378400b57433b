"""Semantics regressions (issue 9, round 3): dtype promotion against torch, level-1 matrix-vector
products, Python-number constants next to f16/bf16 tiles, runtime float scalars. Every oracle is
torch computed here."""

from __future__ import annotations

import itertools

import pytest
import torch

import tiledsl as td
from tiledsl.dtypes import _TORCH_NAME, DType, promote


def _torch(dt: DType) -> torch.dtype:
    return getattr(torch, _TORCH_NAME[dt])


def test_promote_matches_torch_and_is_symmetric():
    """Every pair of dtypes: symmetric, and torch.promote_types where torch defines it (u8 with
    i8 was i8 or u8 by argument order; torch gives i16)."""
    for a, b in itertools.product(DType, DType):
        assert promote(a, b) is promote(b, a), (a, b)
        try:
            want = torch.promote_types(_torch(a), _torch(b))
        except RuntimeError:  # torch defines no promotion of fp8 with other types (tiledsl: storage)
            assert a.is_fp8 or b.is_fp8
            continue
        assert _torch(promote(a, b)) == want, (a, b)


@td.kernel
def add2(a: td.Tensor, b: td.Tensor):
    return a + b


@pytest.mark.parametrize("backend", ["eager", "ir", "triton"])
def test_u8_plus_i8_is_i16_as_torch(backend):
    a = torch.tensor([0, 200, 255, 7], dtype=torch.uint8)
    b = torch.tensor([-128, 100, 127, -7], dtype=torch.int8)
    for x, y in ((a, b), (b, a)):
        got = add2(x, y, backend=backend)
        assert got.dtype == torch.int16 and torch.equal(got, x + y)


# --- level-1 a @ b with a size-1 axis (known.py `l1-matvec`: ir/triton raised ScheduleError) ---

@td.kernel
def matmul1(a: td.Tensor, b: td.Tensor):
    return a @ b


MATVEC_SHAPES = [((16, 8), (8, 1)), ((1, 8), (8, 16)), ((1, 1), (1, 1)), ((5, 1), (1, 7)),
                 ((1, 300), (300, 1)), ((37, 200), (200, 1))]


@pytest.mark.parametrize("backend", ["ir", "triton", "eager"])
@pytest.mark.parametrize("dt", [torch.float32, torch.float16, torch.bfloat16, torch.float64], ids=str)
def test_level1_matvec_matches_torch(dt, backend):
    g = torch.Generator().manual_seed(3)
    for sa, sb in MATVEC_SHAPES:
        a, b = torch.randn(sa, generator=g).to(dt), torch.randn(sb, generator=g).to(dt)
        want = (a.double() @ b.double())  # accumulated exactly, rounded once below
        got = matmul1(a, b, backend=backend)
        assert got.dtype == dt and got.shape == want.shape
        tol = 1e-6 if dt is torch.float64 else 2e-5 if dt is torch.float32 else 0
        # f16/bf16: accumulated in f32 and rounded once, so within one ulp of the exact result
        ulp = torch.finfo(dt).eps * want.abs().clamp_min(1)
        assert bool(((got.double() - want).abs() <= (ulp if tol == 0 else tol * want.abs().clamp_min(1))).all()), \
            (sa, sb)


@pytest.mark.parametrize("backend", ["ir", "eager"])
@pytest.mark.parametrize("sa,sb", [((16, 8), (1, 4)), ((16, 1), (8, 4)), ((16, 8), (9, 1))])
def test_level1_matmul_inner_size_mismatch_is_an_error(sa, sb, backend):
    with pytest.raises(td.KernelTypeError, match=r"matmul inner sizes differ: \(") as e:
        matmul1(torch.randn(sa), torch.randn(sb), backend=backend)
    assert "return a @ b" in str(e.value) and "hint:" in str(e.value)
    assert "in this call)" in str(e.value) or backend == "eager"  # the sizes that differ


# --- f16/bf16 times / over a number or a scalar: f32 with the scalar's own value, one rounding ---

@td.kernel
def scale_rt(x: td.Tensor, s: float, k: int):
    return x * s, x / s, k * x


@td.kernel
def scale_tile(x: td.Tensor, out: td.Tensor, B: td.constexpr):
    with td.grid(td.cdiv(x.shape[0], B)) as p:
        m = p * B + td.arange(0, B) < x.shape[0]
        t = td.load(x, (p * B,), (B,), mask=m, other=0)
        td.store(out, (p * B,), t * 0.1 + t / 3.0, mask=m)


def _lowp(dt) -> torch.Tensor:
    g = torch.Generator().manual_seed(11)
    return (torch.randn(2000, generator=g) * 5).to(dt)


@pytest.mark.parametrize("backend", ["ir", "triton", "eager"])
@pytest.mark.parametrize("dt", [torch.float16, torch.bfloat16], ids=str)
def test_runtime_scalar_mul_div_round_once_like_torch(dt, backend):
    x = _lowp(dt)
    outs = scale_rt(x, 0.1, 2049, backend=backend)
    for got, want in zip(outs, (x * 0.1, x / 0.1, 2049 * x)):  # torch: f32 opmath, scalar unrounded
        assert got.dtype == dt and torch.equal(got, want)


@pytest.mark.parametrize("backend", ["ir", "triton", "eager"])
@pytest.mark.parametrize("dt", [torch.float16, torch.bfloat16], ids=str)
def test_tile_times_number_rounds_once_like_torch(dt, backend):
    x = _lowp(dt)
    out = torch.empty_like(x)
    scale_tile(x, out, 128, backend=backend)
    assert torch.equal(out, x * 0.1 + x / 3.0)


@td.kernel
def prod0(x: td.Tensor):
    return td.prod(x, axis=0)


@pytest.mark.parametrize("backend", ["ir", "triton", "eager"])
def test_f16_prod_multiplies_in_f32_and_rounds_once(backend):
    """The finding test_wrong_bc2de6a3: torch's CPU prod of f16 accumulates in f16 (layout-
    dependent order); the language multiplies in f32 and rounds once."""
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(64, 17, generator=g) * 0.2 + 0.9).half()
    want = x.float().prod(0).half()
    for arg in (x, x.t().contiguous().t()):
        # f32 products in another order may round to the neighbouring f16: one ulp at most
        torch.testing.assert_close(prod0(arg, backend=backend), want, rtol=2**-10, atol=0)


# --- runtime float arguments: f64 values that adapt like Python numbers (were f32 scalars) ---

@td.kernel
def scale64(x: td.Tensor, s: float):
    return x * s


@td.kernel
def weak_mix(x: td.Tensor, i: td.Tensor, h: td.Tensor, s: float):
    return i * s, h * s, (s * 2.0 + 1.0) * x, x + s, i + (s > 0.05)


@td.kernel
def weak_tile(x: td.Tensor, y: td.Tensor, s: float, B: td.constexpr):
    with td.grid(td.cdiv(x.shape[0], B)) as p:
        m = p * B + td.arange(0, B) < x.shape[0]
        t = td.load(x, (p * B,), (B,), mask=m, other=0)
        td.store(y, (p * B,), t * s + s / 3.0, mask=m)


@pytest.mark.parametrize("backend", ["ir", "triton", "eager"])
def test_runtime_float_times_f64_tensor_is_exact_like_torch(backend):
    x = torch.linspace(-3, 3, 64, dtype=torch.float64)
    assert torch.equal(scale64(x, 0.1, backend=backend), x * 0.1)  # torch: the Python float, unrounded
    for s in (1e-300, -0.0, 2.0**60 + 1, 1 / 3):  # words of every kind (Triton gets the bits in two ints)
        assert torch.equal(scale64(x, s, backend=backend), x * s), s
    y = torch.empty_like(x)
    weak_tile(x, y, 0.1, 32, backend=backend)
    assert torch.equal(y, x * 0.1 + 0.1 / 3.0)


@pytest.mark.parametrize("backend", ["ir", "triton", "eager"])
def test_runtime_float_is_weak_like_a_python_number(backend):
    """With an int tensor it gives f32 (not f64), with f16 it keeps f16, among numbers it is a double."""
    x = torch.linspace(-3, 3, 64, dtype=torch.float64)
    i = torch.arange(64, dtype=torch.int32)
    h = torch.linspace(-3, 3, 64).half()
    got = weak_mix(x, i, h, 0.1, backend=backend)
    want = (i * 0.1, h * 0.1, (0.1 * 2.0 + 1.0) * x, x + 0.1, i + (0.1 > 0.05))
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and torch.equal(g, w)


@td.kernel
def full_i8(y: td.Tensor, V: td.constexpr):
    with td.grid(1) as p:
        td.store(y, (0,), td.full((4,), V, dtype=td.int8))


@pytest.mark.parametrize("backend", ["ir", "triton", "eager"])
def test_full_of_a_constant_outside_a_narrow_int_is_an_error_as_torch(backend):
    with pytest.raises(RuntimeError):
        torch.full((4,), 300, dtype=torch.int8)  # torch refuses it too (eager wrapped it to 44)
    y = torch.zeros(4, dtype=torch.int8)
    with pytest.raises(td.KernelTypeError, match=r"300 does not fit in i8") as e:
        full_i8(y, 300, backend=backend)
    assert "td.full((4,), V, dtype=td.int8)" in str(e.value) and "hint:" in str(e.value)
    full_i8(y, 127, backend=backend)
    assert y.tolist() == [127] * 4


@td.kernel
def converted_float(i: td.Tensor, s: float):
    return s.to(td.float64) * i, td.cast(s, td.float64) * i, s * i


@pytest.mark.parametrize("backend", ["ir", "triton", "eager"])
def test_a_converted_runtime_float_is_typed(backend):
    """`s.to(td.float64)` is a typed f64 scalar (torch: a 0-dim f64 tensor), `s` alone weak."""
    i = torch.arange(8, dtype=torch.int32)
    got = converted_float(i, 0.1, backend=backend)
    s64 = torch.tensor(0.1, dtype=torch.float64)
    for g, w in zip(got, (s64 * i, s64 * i, 0.1 * i)):
        assert g.dtype == w.dtype and torch.equal(g, w)
