"""Knob constraints: ``td.auto(divides=..., multiple_of=..., min=..., max=...)``. The scheduler
enumerates only values that meet them, an explicit value that breaks one is an ArgumentError, and
eager mode runs with a value that meets them."""

from __future__ import annotations

import pytest
import torch

import tiledsl as td
from tiledsl.errors import ArgumentError
from tiledsl.schedule.constraints import allowed
from tiledsl.specs import TensorSpec

F32 = td.float32


@td.kernel
def _add(x: td.Tensor, y: td.Tensor, BLOCK: td.constexpr = td.auto(divides=64)):
    (N,) = x.shape
    with td.grid(td.cdiv(N, BLOCK)) as (i,):
        td.store(y, (i * BLOCK,), td.load(x, (i * BLOCK,), (BLOCK,)) + 1.0)


@td.kernel
def _gemm(a: td.Tensor, b: td.Tensor, c: td.Tensor, BM: td.constexpr = td.auto(multiple_of=64, max=128),
          BN: td.constexpr = td.auto(min=64), BK: td.constexpr = td.auto(divides="BN")):
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(K, BK), stages=td.auto):
            acc += td.dot(td.load(a, (i * BM, k * BK), (BM, BK)), td.load(b, (k * BK, j * BN), (BK, BN)))
        td.store(c, (i * BM, j * BN), acc.to(c.dtype))


def _specs(*shapes, dtype=td.float16):
    return tuple(TensorSpec(s, dtype) for s in shapes)


def test_constraints_are_recorded_and_filter_candidates():
    ck = _add.compile(*_specs((4096,), (4096,), dtype=F32), backend="ir", target="h100")
    assert 64 % ck.schedule.as_dict()["BLOCK"] == 0
    assert allowed("B", {"B": (("divides", 128),)}, (16, 32, 64, 128, 256, 512)) == (16, 32, 64, 128)
    assert allowed("B", {"B": (("multiple_of", 64), ("max", 256))}, (16, 32, 64, 128, 256, 512)) == (64, 128, 256)
    assert allowed("B", {"B": (("min", 64),)}, (16, 32, 64, 128)) == (64, 128)


def test_enumeration_honours_every_form():
    ck = _gemm.compile(*_specs((1024, 1024), (1024, 1024), (1024, 1024)), backend="ir", target="h100")
    v = ck.schedule.as_dict()
    assert v["BM"] % 64 == 0 and v["BM"] <= 128 and v["BN"] >= 64 and v["BN"] % v["BK"] == 0


def test_enumeration_never_proposes_a_violating_value():
    from tiledsl.schedule import space

    seen = []
    real = space.evaluate

    def spy(fn, knobs, values, *a, **kw):
        seen.append(dict(values))
        return real(fn, knobs, values, *a, **kw)

    space.evaluate = spy
    try:
        _gemm.compile(*_specs((512, 768), (768, 640), (512, 640)), backend="ir", target="h100")
    finally:
        space.evaluate = real
    assert seen
    for v in seen:
        assert v["BM"] in (64, 128) and v["BN"] >= 64 and v["BN"] % v["BK"] == 0, v


@pytest.mark.parametrize("knobs, words", [({"BLOCK": 128}, "must divide 64"), ({"BLOCK": 48}, "must divide 64")])
def test_explicit_violation_is_an_argument_error(knobs, words):
    with pytest.raises(ArgumentError, match=rf"BLOCK={knobs['BLOCK']} {words}.*td.auto\(divides=64\)"):
        _add.compile(*_specs((4096,), (4096,), dtype=F32), backend="ir", target="h100", **knobs)


def test_explicit_violation_of_a_knob_bound():
    with pytest.raises(ArgumentError, match=r"BK=128 must divide BN \(= 64\)"):
        _gemm.compile(*_specs((256, 256), (256, 256), (256, 256)), backend="ir", target="h100", BN=64, BK=128)


def test_explicit_value_that_meets_it_is_used():
    ck = _add.compile(*_specs((4096,), (4096,), dtype=F32), backend="ir", target="h100", BLOCK=32)
    assert ck.schedule.as_dict()["BLOCK"] == 32


def test_bad_constraint_spelling():
    with pytest.raises(ArgumentError, match="positive int"):
        td.auto(divides=0)
    assert td.auto() is td.auto


@pytest.mark.parametrize("backend", ["eager", "ir"])
def test_runs_match_torch(backend):
    x = torch.randn(1000)
    y = torch.empty_like(x)
    _add(x, y, backend=backend)
    torch.testing.assert_close(y, x + 1.0)


def test_eager_default_meets_the_constraint():
    from tiledsl.schedule.constraints import satisfying

    assert satisfying(td.auto, 32) == 32
    assert satisfying(td.auto(divides=16), 32) == 16
    assert satisfying(td.auto(multiple_of=64), 32) == 64
    assert satisfying(td.auto(min=128, max=256), 32) == 128


# --- the FP8 block-scaled GEMM: BN by constraint, and the scaled product's registers -------------

DSV3 = (4096, 7168, 2048)


def _fp8_specs(m, n, k):
    f8, f32 = td.float8_e4m3, td.float32
    return (TensorSpec((m, k), f8), TensorSpec((m, -(-k // 128)), f32), TensorSpec((n, k), f8),
            TensorSpec((-(-n // 128), -(-k // 128)), f32), TensorSpec((m, n), td.bfloat16))


def test_fp8_gemm_picks_bn_dividing_128_by_constraint_alone():
    from tiledsl.kernels.fp8 import fp8_gemm_nt_kernel

    v = fp8_gemm_nt_kernel.compile(*_fp8_specs(*DSV3), backend="ir", target="h100").schedule.as_dict()
    assert 128 % v["BN"] == 0 and v["BK"] == 128
    with pytest.raises(ArgumentError, match=r"BN=256 must divide 128"):
        fp8_gemm_nt_kernel.compile(*_fp8_specs(*DSV3), backend="ir", target="h100", BN=256)


@pytest.mark.parametrize("bm, warps", [(256, 8), (128, 4)])
def test_scaled_product_counts_as_a_second_accumulator(bm, warps):
    """acc += dot(a, b) * scale keeps the dot's fp32 tile live beside acc: at BM=256/8 warps and
    BM=128/4 warps that is 2 x 128 registers a thread, which ptxas spills (255 registers, 128 and
    148 B of spill stores, Triton 3.x for sm_90a), so the model must refuse these points."""
    from tiledsl.kernels.fp8 import fp8_gemm_nt_kernel

    from tiledsl.errors import ScheduleError

    with pytest.raises(ScheduleError, match=r"registers: about 289 per thread"):
        fp8_gemm_nt_kernel.compile(*_fp8_specs(*DSV3), backend="ir", target="h100", BM=bm, BN=128,
                                   num_warps=warps)


def test_fp8_default_schedule_does_not_spill():
    pytest.importorskip("triton")
    from tiledsl.kernels.fp8 import fp8_gemm_nt_kernel

    ck = fp8_gemm_nt_kernel.compile(*_fp8_specs(*DSV3), backend="triton", target="h100")
    r = ck.report
    if r.registers is None:
        pytest.skip("no ptxas statistics on this machine")
    assert r.spill_stores == 0 and r.spill_loads == 0 and r.uses_wgmma
    # the model's estimate is within 10% of ptxas here (161 predicted, 162 reported)
    assert abs(ck.scheduled.estimate.regs_per_thread - r.registers) <= 0.1 * r.registers


def test_violation_hint_lists_the_allowed_values_and_where_they_are_declared():
    """Not the generic argument hint: the values the constraint allows and its kernel line."""
    import inspect

    from tiledsl.kernels import grouped

    a = torch.randn(256, 128, dtype=torch.bfloat16)
    b = torch.randn(2, 64, 128, dtype=torch.bfloat16)
    with pytest.raises(ArgumentError, match="BM=96 must divide 128") as e:
        grouped.m_grouped_gemm_nt_contiguous(a, b, torch.zeros(256, dtype=torch.int32), BM=96)
    src = inspect.getsource(grouped).splitlines()
    line = 1 + next(n for n, s in enumerate(src) if "BM: td.constexpr = td.auto(divides=128)" in s)
    assert e.value.hint.startswith("BM may be 1, 2, 4, 8, 16, 32, 64, 128;")
    assert f"grouped.py:{line} (`BM: td.constexpr = td.auto(divides=128)" in e.value.hint
    assert "pass one argument per kernel parameter" not in str(e.value)


@pytest.mark.parametrize("knobs, listed", [
    ({"BM": 192}, "BM may be 64, 128;"),  # multiple_of=64, max=128
    ({"BN": 32}, "BN may be any value >= 64;"),  # min=64
    ({"BN": 96, "BK": 64}, "BK may be 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 96;"),  # divides="BN"
])
def test_violation_hint_for_each_form(knobs, listed):
    with pytest.raises(ArgumentError) as e:
        _gemm.compile(*_specs((256, 256), (256, 256), (256, 256)), backend="ir", target="h100", **knobs)
    assert e.value.hint.startswith(listed), e.value.hint
    assert "test_knob_constraints.py:" in e.value.hint
