"""td.exp2, td.log2, td.sin, td.cos: the elementwise ops that go through the op table's path
alone (the table, the language file, one rule per executor), on every backend, against torch.

f16/bf16 compute in f32 and round once (`passes/numerics.py`): the reference is torch in f32
rounded once to the input's dtype. Eager mode and the IR interpreter compute exactly that; Triton's
interpreter computes the f32 value with numpy, so its result may sit one f32 ulp away (after the
16-bit rounding: one 16-bit ulp on a nearly tied value). TileLang needs a GPU to run: its program
text is checked for the call (and the f32 detour of 16-bit inputs).

Also here: TileLang's emission-time folding of a zero divisor (a raw ZeroDivisionError before the
one folding rule of the op table).
"""

from __future__ import annotations

import re

import pytest
import torch

import tiledsl as td
from tiledsl.dtypes import DType
from tiledsl.ir import Block, Builder, Function, Knob, Loc, Op, Param, ParamKind, Space, Type, verify
from tiledsl.specs import TensorSpec

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

N = 256
_DT = {torch.float32: DType.f32, torch.float16: DType.f16, torch.bfloat16: DType.bf16}
# one rounding of a nearly tied value: an ulp of the result's dtype, relative
_ULP = {torch.float32: 4e-6, torch.float16: 1e-3, torch.bfloat16: 8e-3}
_OPS = {"exp2": torch.exp2, "log2": torch.log2, "sin": torch.sin, "cos": torch.cos}


@td.kernel
def four_ops(x, e, lg, s, c, BLOCK: td.constexpr = 128):
    with td.grid(td.cdiv(x.shape[0], BLOCK)) as pid:
        offs = pid * BLOCK
        t = td.load(x, (offs,), (BLOCK,))
        td.store(e, (offs,), td.exp2(t))
        td.store(lg, (offs,), td.log2(t))
        td.store(s, (offs,), td.sin(t))
        td.store(c, (offs,), td.cos(t))


@td.kernel
def level1_exp2(x):
    return td.exp2(x)


def _input(dt: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(11)
    x = torch.randn(N, generator=g) * 4.0
    x[:10] = torch.tensor([0.0, -0.0, 1.0, 0.5, -1.0, 100.0, -200.0, float("inf"), float("-inf"), float("nan")])
    return x.to(dt)


def _ref(name: str, x: torch.Tensor) -> torch.Tensor:
    return _OPS[name](x.float()).to(x.dtype)


def _check(got: torch.Tensor, ref: torch.Tensor, rel: float, what: str) -> None:
    assert got.dtype == ref.dtype, what
    g, r = got.double(), ref.double()
    assert torch.equal(g.isnan(), r.isnan()), f"{what}: NaN positions differ"
    fin = ~r.isnan()
    assert torch.equal(g[fin].isinf(), r[fin].isinf()) and torch.equal(g[fin][r[fin].isinf()], r[fin][r[fin].isinf()]), \
        f"{what}: infinities differ"
    fin &= ~r.isinf()
    err = ((g - r).abs() / r.abs().clamp(min=1.0))[fin]
    assert float(err.max()) <= rel, f"{what}: off by {float(err.max())} (relative)"


@pytest.mark.parametrize("backend", ["eager", "ir", "triton"])
@pytest.mark.parametrize("dt", [torch.float32, torch.float16, torch.bfloat16])
def test_exp2_log2_sin_cos_match_torch(backend, dt):
    x = _input(dt)
    outs = [torch.empty_like(x) for _ in _OPS]
    four_ops(x, *outs, backend=backend)
    # eager and the interpreter round torch's own f32 value: bit-for-bit; Triton within an ulp
    rel = 0.0 if backend != "triton" else _ULP[dt]
    for (name, _), got in zip(_OPS.items(), outs):
        _check(got, _ref(name, x), rel, f"{name} on {dt} ({backend})")


@pytest.mark.parametrize("backend", ["eager", "ir", "triton"])
def test_level1_exp2_rounds_once_from_f32(backend):
    """A 16-bit exp2 computed in 16 bits would round its argument's product first: the f32
    detour is what makes these agree exactly with torch's f32 value rounded once."""
    x = _input(torch.bfloat16)
    got = level1_exp2(x, backend=backend)
    _check(got, _ref("exp2", x), 0.0 if backend != "triton" else _ULP[torch.bfloat16], backend)


@pytest.mark.parametrize("dt, dtype", [(DType.f32, "float32"), (DType.f16, "float16"), (DType.bf16, "bfloat16")])
def test_tilelang_emits_each_call(dt, dtype):
    specs = [TensorSpec((N,), dt) for _ in range(5)]
    src = four_ops.compile(*specs, backend="tilelang", target="h100").code("tilelang")
    for name in _OPS:
        if dt is DType.f32:
            assert f"T.{name}(" in src, name
        else:  # computed in f32 (the numerics pass casts the input up), rounded once to 16 bits
            assert re.search(rf'T\.cast\(T\.{name}\([^()]*\), "{dtype}"\)', src), name
            assert '"float32")' in src


# --- TileLang: a zero divisor is not folded at emission time ---------------------------------------

def _const(b: Builder, v):
    return b.value(Op.CONST, (), {"value": v}, hint="c")


def _divide_by_zero_ir(op: Op) -> Function:
    """out[i] = x[i] + (7 // 0) (or 7 % 0): scheduled IR with both operands constant, as the
    scheduler leaves it (cleanup does not fold a zero divisor either)."""
    b = Builder()
    x = Param(b.fresh("x", Type(DType.i32, ("x.0",), Space.GLOBAL)), ParamKind.TENSOR)
    y = Param(b.fresh("out", Type(DType.i32, ("x.0",), Space.GLOBAL)), ParamKind.OUTPUT)
    pid = b.fresh("pid", Type(DType.i32))
    with b.block((pid,)) as body:
        off = b.value(Op.MUL, (pid, _const(b, 16)))
        t = b.value(Op.LOAD, (x.value, off), {"shape": (16,)})
        q = b.value(op, (_const(b, 7), _const(b, 0)), hint="q")
        b.emit(Op.STORE, (y.value, off, b.value(Op.ADD, (t, q))), {"shape": (16,)})
    b.emit(Op.GRID, (_const(b, 1),), regions=body)
    fn = Function("div0", (x, y), (Knob("num_warps", 4),), Block((), b.top()), Loc("by_hand.py", 1))
    return verify(fn, "tilelang")


@pytest.mark.parametrize("op, call", [(Op.FLOORDIV, "T.floordiv"), (Op.MOD, "T.floormod")])
def test_tilelang_leaves_a_zero_divisor_to_the_gpu(op, call):
    """Was a raw ZeroDivisionError from the TileLang emitter's own folding table (the other three
    folding tables guarded the divisor); the one folding rule leaves the division in the program."""
    from tiledsl.lowering.tilelang import BACKEND

    from tiledsl.targets import get_target

    lowered = BACKEND.lower(_divide_by_zero_ir(op), (TensorSpec((16,), DType.i32),) * 2, get_target("h100"))
    assert f"{call}(7, 0)" in lowered.source
