"""Backend capability records (`tiledsl.capabilities`) and the legality pass
(`tiledsl.passes.legality`): each refusal names the construct, its kernel line and the backends
that take it; the records agree with what each backend emits; non-power-of-two tiles run where a
backend can hold them (the IR interpreter, TileLang) and are refused by Triton alone."""

from __future__ import annotations

import dataclasses
import inspect
import sys

import pytest
import torch

import tiledsl as td
from tiledsl.capabilities import ANY, IR, RECORDS, TILELANG, TRITON, capabilities
from tiledsl.dtypes import DType
from tiledsl.errors import CapabilityError, ScheduleError
from tiledsl.ir.nodes import Inst, walk
from tiledsl.ir.ops import Op
from tiledsl.passes import legality
from tiledsl.specs import TensorSpec


def _line(marker: str) -> int:
    src, _ = inspect.findsource(sys.modules[__name__])
    return next(n + 1 for n, s in enumerate(src) if marker in s and "_line(" not in s)


def _refused(kernel, args, backend: str, **kw) -> CapabilityError:
    with pytest.raises(CapabilityError) as e:
        kernel.compile(*args, backend=backend, target="h100", **kw)
    return e.value


def _check(err: CapabilityError, construct: str, marker: str, backend: str, takers: tuple[str, ...]) -> None:
    msg = str(err)
    line = _line(marker)
    assert err.construct.startswith(construct) and msg.startswith(construct), msg
    assert err.loc is not None and err.loc.line == line, msg
    assert f"at line {line} of " in msg and marker in msg  # the kernel's own line is shown
    assert err.backend == backend and err.takers == takers, (err.backend, err.takers)
    for t in takers:
        assert f"backend='{t}'" in msg
    assert f"backend='{backend}'" not in msg.split("hint:")[1]


# --- kernels using one construct each ------------------------------------------------------------------
@td.kernel
def warp_sum(x: td.Tensor, out: td.Tensor):
    with td.grid(1) as pid:
        with td.threads(32) as tid:  # CAP-threads
            v = td.load(x, (tid,))
            td.store(out, (tid,), v + td.shfl_xor(v, 16))


@td.kernel
def row_argmax(x: td.Tensor, out: td.Tensor):
    with td.grid(x.shape[0]) as i:
        v = td.load(x, (i, 0), (None, 64))
        td.store(out, (i,), td.argmax(v, axis=0))  # CAP-argmax


@td.kernel
def swap(x: td.Tensor, out: td.Tensor):
    with td.grid(1) as i:
        td.atomic_xchg(out, (0,), td.load(x, (0,), (64,)))  # CAP-xchg


@td.kernel
def f16_atomic_max(x: td.Tensor, out: td.Tensor):
    with td.grid(1) as i:
        td.atomic_max(out, (0,), td.load(x, (0,), (64,)))  # CAP-f16max


@td.kernel
def old_values(x: td.Tensor, out: td.Tensor, old: td.Tensor):
    with td.grid(1) as i:
        prev = td.atomic_add(out, (0,), td.load(x, (0,), (64,)))  # CAP-old
        td.store(old, (0,), prev)


@td.kernel
def int_gemm(a: td.Tensor, b: td.Tensor, c: td.Tensor):
    with td.grid(1) as i:
        acc = td.dot(td.load(a, (0, 0), (16, 16)), td.load(b, (0, 0), (16, 16)))  # CAP-intdot
        td.store(c, (0, 0), acc)


@td.kernel
def wide_rows(x: td.Tensor, out: td.Tensor, D: td.constexpr = 576, BM: td.constexpr = 4):
    """A 576-wide tile (MLA's head size): not a power of two."""
    with td.grid(td.cdiv(x.shape[0], BM)) as (i,):
        t = td.load(x, (i * BM, 0), (BM, D))  # CAP-576
        m = td.max(t, axis=1)
        td.store(out, (i * BM, 0), (t - m[:, None]) * 0.5)


def _cpu(*shapes, dtype=torch.float32):
    return [torch.zeros(s, dtype=dtype) for s in shapes]


def test_thread_level_on_triton():
    err = _refused(warp_sum, _cpu(32, 32), "triton")
    _check(err, "td.threads", "# CAP-threads", "triton", ("tilelang", "ir", "eager"))
    assert "thread level" in str(err)


def test_capability_error_is_public():
    """``except td.CapabilityError`` catches a refusal (it is re-exported beside the other errors)."""
    assert td.CapabilityError is CapabilityError and "CapabilityError" in td.__all__
    assert issubclass(td.CapabilityError, td.BackendError)
    with pytest.raises(td.CapabilityError):
        warp_sum.compile(*_cpu(32, 32), backend="triton", target="h100")


def test_argmax_on_tilelang_names_triton_and_the_cpu_backends():
    err = _refused(row_argmax, [torch.zeros(8, 64), torch.zeros(8, dtype=torch.int32)], "tilelang")
    _check(err, "td.argmax", "# CAP-argmax", "tilelang", ("triton", "ir", "eager"))
    assert "has no argmax reduction (it has max, min, prod, sum)" in str(err)


def test_atomic_xchg_on_tilelang():
    err = _refused(swap, _cpu(64, 64), "tilelang")
    _check(err, "td.atomic_xchg", "# CAP-xchg", "tilelang", ("triton", "ir", "eager"))


def test_f16_atomic_max_on_triton():
    err = _refused(f16_atomic_max, _cpu(64, 64, dtype=torch.float16), "triton")
    _check(err, "td.atomic_max on float16 tensors", "# CAP-f16max", "triton", ("tilelang", "ir", "eager"))


def test_tile_atomic_old_values_on_tilelang():
    err = _refused(old_values, _cpu(64, 64, 64), "tilelang")
    _check(err, "a tile td.atomic_add whose old values are used", "# CAP-old", "tilelang",
           ("triton", "ir", "eager"))


def test_integer_dot_on_triton():
    args = [torch.zeros(16, 16, dtype=torch.int32)] * 2 + [torch.zeros(16, 16, dtype=torch.int32)]
    err = _refused(int_gemm, args, "triton")
    _check(err, "td.dot on int32 operands", "# CAP-intdot", "triton", ("tilelang", "ir", "eager"))
    assert "tl.dot does not take int32" in str(err)


def test_a_construct_no_backend_takes_says_so():
    """A max scan (IR text can spell one) is refused everywhere; the hint does not point elsewhere."""
    fn = wide_rows.ir(*_cpu((8, 576), (8, 576)))
    red = next(i for i in walk(fn.body) if i.op is Op.TILE_REDUCE)
    scan = dataclasses.replace(red, op=Op.SCAN, attrs=(("kind", "max"), ("axis", 1)))
    facts = legality.facts_of(fn)
    for caps in RECORDS.values():
        assert legality.problem(scan, caps, facts)[0] == "a max scan"
    assert legality.takers(scan, facts, "ir") == ()
    assert legality.takers_hint(()).startswith("no backend takes it")


# --- non-power-of-two tiles ----------------------------------------------------------------------------
def test_576_wide_tile_runs_on_ir_against_torch():
    x = torch.randn(10, 576)
    out = torch.empty_like(x)
    wide_rows(x, out, backend="ir")
    torch.testing.assert_close(out, (x - x.amax(dim=1, keepdim=True)) * 0.5)


def test_576_wide_tile_with_an_auto_block_runs_on_ir():
    x = torch.randn(37, 576)
    out = torch.empty_like(x)
    wide_rows(x, out, backend="ir", BM=td.auto)
    torch.testing.assert_close(out, (x - x.amax(dim=1, keepdim=True)) * 0.5)


def test_576_wide_tile_is_refused_by_triton_naming_the_tile_and_line():
    x = torch.randn(10, 576)
    for bm in (4, td.auto):  # an explicit block and one the scheduler would choose
        with pytest.raises(CapabilityError) as e:
            wide_rows(x, torch.empty_like(x), backend="triton", BM=bm)
        _check(e.value, "a tile of shape", "# CAP-576", "triton", ("tilelang", "ir", "eager"))
        assert "576" in str(e.value) and "power of two" in str(e.value)


@pytest.mark.slow
def test_576_wide_tile_lowers_to_tilelang_cuda():
    """TileLang's own lowering to CUDA C needs no GPU (and no nvcc)."""
    pytest.importorskip("tilelang")
    from tiledsl.lowering.tilelang import build

    from tiledsl.targets import get_target

    specs = (TensorSpec((10, 576), DType.f32),) * 2
    ck = wide_rows.compile(*specs, backend="tilelang", target="h100", num_warps=1)
    src = ck.code("tilelang")
    assert 'T.alloc_fragment((4, 576), "float32")' in src and "T.reduce_max" in src
    cuda, _, _ = build.lower_to_cuda(ck.lowered.source, ck.lowered.entry, get_target("h100"))
    assert "__global__" in cuda


def test_a_schedule_for_no_backend_keeps_every_backends_tile_rules():
    from tiledsl.passes.pipeline import schedule

    specs = (TensorSpec((10, 576), DType.f32),) * 2
    fn = wide_rows.ir(*specs)
    with pytest.raises(ScheduleError, match="power of two"):
        schedule(fn, specs, "h100")
    assert schedule(fn, specs, "h100", backend="ir").schedule["BM"] == 4
    assert ANY.pow2_tiles and not IR.pow2_tiles and not TILELANG.pow2_tiles and TRITON.pow2_tiles


# --- the records agree with the backends ---------------------------------------------------------------
def test_records_match_the_backends_emission_tables():
    from tiledsl.lowering.tilelang import memory as tl_memory
    from tiledsl.lowering.triton.reductions import REDUCE_RULES

    assert TRITON.reduce_kinds == set(REDUCE_RULES)
    assert TILELANG.reduce_kinds == set(tl_memory.REDUCE_FN) | {"prod"}  # prod: a serial product
    assert set(TILELANG.atomics) == set(tl_memory._ATOMIC_FN)
    from tiledsl.ir.optable import ATOMIC_KINDS, REDUCE_KINDS

    assert IR.reduce_kinds == set(REDUCE_KINDS) and set(IR.atomics) == set(ATOMIC_KINDS)
    assert capabilities(None) is ANY and capabilities("triton") is TRITON
    with pytest.raises(ValueError, match="unknown backend"):
        capabilities("cuda")


def test_hand_built_ir_meets_the_same_check_in_each_backend():
    """Backends check the IR they are given with the same rules (no second, different error)."""
    from tiledsl.lowering.triton.module import generate

    specs = (TensorSpec((10, 576), DType.f32),) * 2
    fn = wide_rows.compile(*specs, backend="ir").fn  # scheduled for ir: a (4, 576) tile
    with pytest.raises(CapabilityError, match="power of two") as e:
        generate(fn)
    assert e.value.takers == ("tilelang", "ir", "eager")


def test_every_thread_op_has_a_user_facing_name():
    thread_ops = {op for op in Op if op.group.value == "thread"}
    assert thread_ops <= set(legality._THREAD_NAMES)
    assert all(isinstance(legality._RULES.get(op), type(legality._thread)) for op in thread_ops)
    assert Inst  # (imported for the IR types above)
