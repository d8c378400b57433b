"""The textual IR: print/parse round trips (property-tested), a golden print, and parse errors
that carry the line and column of the problem."""

from __future__ import annotations

import dataclasses
import time

import pytest
from hypothesis import HealthCheck, given, settings

from tests.strategies import attr_values, functions
from tiledsl.dtypes import DType
from tiledsl.errors import ParseError, VerifyError
from tiledsl.ir import (
    Block,
    Builder,
    Function,
    Knob,
    Loc,
    Op,
    Param,
    ParamKind,
    Space,
    Sym,
    Type,
    Value,
    parse_ir,
    print_ir,
    verify,
    walk,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


def roundtrip(fn: Function) -> str:
    text = print_ir(fn)
    back = parse_ir(text)
    assert back == fn
    assert print_ir(back) == text
    return text


# --- property tests ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(functions())
def test_roundtrip_random_functions(fn):
    verify(fn, "ir")
    roundtrip(fn)


@FAST
@given(functions(scheduled=True))
def test_roundtrip_scheduled_functions(fn):
    verify(fn, "scheduled")
    roundtrip(fn)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(functions(levels=("tile",), scheduled=True))
def test_tile_only_functions_pass_the_triton_stage(fn):
    verify(fn, "triton")
    roundtrip(fn)


@settings(max_examples=150, deadline=None)
@given(attr_values())
def test_every_attr_kind_roundtrips(value):
    fn = small_function()
    fn = dataclasses.replace(fn, attrs=(("extra", value), ("nested", (value, (value,)))))
    roundtrip(fn)


def test_strategies_cover_every_op():
    seen: set[Op] = set()

    @settings(max_examples=300, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(functions())
    def collect(fn):
        seen.update(inst.op for inst in walk(fn.body))

    collect()
    assert set(Op) - seen == set()


# --- hand-written functions ----------------------------------------------------------------------


def small_function() -> Function:
    """x[i] * alpha for a 1-D tensor, tile size a knob, with one loop and locations."""
    b = Builder()
    x = b.fresh("x", Type(DType.f32, ("x.0",), Space.GLOBAL))
    alpha = b.fresh("alpha", Type(DType.f32))
    n = b.value(Op.DIM, [x], {"axis": 0}, hint="n", loc=Loc("k.py", 3, 4))
    pid = b.fresh("pid", Type(DType.i32))
    with b.block((pid,)) as grid:
        t = b.value(Op.LOAD, [x, pid], {"shape": (Sym("BLOCK"),), "masked": False}, hint="t")
        c0 = b.value(Op.CONST, [], {"value": 0}, hint="c0")
        c1 = b.value(Op.CONST, [], {"value": 1}, hint="c1")
        i, acc = b.fresh("i", Type(DType.i32)), b.fresh("acc", t.type)
        with b.block((i, acc)) as body:
            y = b.value(Op.MUL, [acc, alpha], hint="y", loc=Loc("my k.py", 7, 8))
            b.emit(Op.YIELD, [y])
        r = b.emit(Op.FOR, [c0, c1, c1, t], {"stages": Sym("stages")}, regions=body, hint="r").result
        b.emit(Op.STORE, [x, pid, r], {"shape": (Sym("BLOCK"),), "masked": False})
    b.emit(Op.GRID, [n], regions=grid)
    return Function("scale", (Param(x), Param(alpha, ParamKind.SCALAR)),
                    (Knob("BLOCK"), Knob("stages", 2), Knob("num_warps")), Block((), b.top()))


GOLDEN = """\
func @scale(%x: global<f32[x.0]>, %alpha: f32 scalar) knobs(BLOCK=auto, stages=2, num_warps=auto) {
  %n = dim %x {axis=0} : i32  loc("k.py":3:4)
  grid %n ^(%pid: i32) {
    %t = load %x, %pid {shape=(#BLOCK,), masked=false} : tile<f32[BLOCK]>
    %c0 = const {value=0} : i32
    %c1 = const {value=1} : i32
    %r = for %c0, %c1, %c1, %t {stages=#stages} : tile<f32[BLOCK]> ^(%i: i32, %acc: tile<f32[BLOCK]>) {
      %y = mul %acc, %alpha : tile<f32[BLOCK]>  loc("my k.py":7:8)
      yield %y
    }
    store %x, %pid, %r {shape=(#BLOCK,), masked=false}
  }
}
"""


def test_golden_print():
    fn = verify(small_function())
    assert print_ir(fn) == GOLDEN
    roundtrip(fn)


def test_parser_rebuilds_typed_values():
    fn = parse_ir(GOLDEN)
    insts = list(walk(fn.body))
    mul = next(i for i in insts if i.op is Op.MUL)
    assert mul.operands[1] == Value("alpha", Type(DType.f32))
    assert mul.operands[0].type == Type(DType.f32, ("BLOCK",), Space.TILE)


def test_comments_blank_lines_and_missing_final_newline_are_accepted():
    text = "// a kernel\n\n" + GOLDEN.replace("    %c0 =", "    // zero\n\n    %c0 =").rstrip("\n") + "  // end"
    assert parse_ir(text) == small_function()


def test_odd_names_are_quoted_and_roundtrip():
    fn = small_function()
    x = fn.params[0].value
    odd = Value("x y", Type(DType.f32, ("x y.0", "64", 1), Space.GLOBAL))
    fn = dataclasses.replace(fn, name="my kernel", params=(*fn.params, Param(odd, ParamKind.OUTPUT)),
                             knobs=(*fn.knobs, Knob("loc", 3), Knob("auto", None)),
                             loc=Loc('dir "q"/\\k.py', 1, 0),
                             attrs=(("true", True), ("with space", -0.0), ("s", "a\"b\\c\n\té"),
                                    ("inf", (float("inf"), float("-inf"), 1e300, 5e-324)),
                                    ("none", (None, (), ((1,),), DType.bf16, Sym("auto")))))
    assert x.name == "x"
    text = roundtrip(fn)
    assert '%"x y": global<f32["x y.0","64",1]> output' in text
    assert text.startswith('func @"my kernel"(')
    assert 'knobs(BLOCK=auto, stages=2, num_warps=auto, "loc"=3, "auto"=auto)' in text


def test_nan_attrs_print_and_parse():
    fn = dataclasses.replace(small_function(), attrs=(("v", float("nan")),))
    back = parse_ir(print_ir(fn))
    assert back.attrs[0][1] != back.attrs[0][1]  # nan is not equal to itself; it still reads back


def test_unprintable_attr_is_a_clear_error():
    fn = dataclasses.replace(small_function(), attrs=(("perm", [1, 0]),))
    with pytest.raises(TypeError, match="no textual form"):
        print_ir(fn)


def test_type_mismatch_parses_and_the_verifier_rejects_it():
    fn = parse_ir(golden_with("%c1 = const {value=1} : i32", "%c1 = const {value=1} : i64"))
    assert fn.body.insts[1].regions[0].insts[2].result.type == Type(DType.i64)
    with pytest.raises(VerifyError, match=r"const: results typed \(i64\), the op rule gives \(i32\)"):
        verify(fn)


# --- parse errors --------------------------------------------------------------------------------


def error_of(text: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_ir(text)
    return info.value


def golden_with(old: str, new: str) -> str:
    assert old in GOLDEN
    return GOLDEN.replace(old, new, 1)


@pytest.mark.parametrize("text, line, col, message", [
    # a bad token: a stray ')' where the operands continue
    (golden_with("%n = dim %x {axis=0}", "%n = dim %x) {axis=0}"), 2, 14, "unexpected ')'"),
    # a character no token starts with
    (golden_with("%c0 = const", "%c0 = const ?"), 5, 17, "unexpected character '?'"),
    (golden_with("%c0 = const", "%c0 = konst"), 5, 11, "unknown op 'konst'"),
    (golden_with("%y = mul %acc, %alpha", "%y = mul %acc, %beta"), 8, 22, "%beta is not defined"),
    # a value defined in a region is not visible after it
    (golden_with("store %x, %pid, %r", "store %x, %pid, %y"), 11, 21, "%y is not defined"),
    (golden_with("%c1 = const", "%c0 = const"), 6, 5, "%c0 is defined twice"),
    (golden_with("tile<f32[BLOCK]> ^(", "tile<f33[BLOCK]> ^("), 7, 56, "unknown dtype 'f33'"),
    (golden_with("%t = load %x, %pid {shape=(#BLOCK,), masked=false} : tile<",
                 "%t = load %x, %pid {shape=(#BLOCK,), masked=false} : tiles<"), 4, 58, "unknown memory space"),
    (golden_with("masked=false} : tile<f32[BLOCK]>\n", "masked=fals} : tile<f32[BLOCK]>\n"), 4, 49,
     "unknown attr word 'fals'"),
    (golden_with("%alpha: f32 scalar", "%alpha: f32 scaler"), 1, 47, "unknown parameter kind"),
    (golden_with("BLOCK=auto", "BLOCK=big"), 1, 67, "integer or auto"),
    (golden_with("%c1 = const {value=1} : i32", "%c1 = const {value=1}"), 6, 11, "1 results but 0 result types"),
    (golden_with('loc("k.py":3:4)', 'loc("k\\q.py":3:4)'), 2, 35, "bad string"),
    # an inst split over two lines: the newline ends `%n = dim`, the next line is no inst
    (golden_with("%n = dim %x {axis=0}", "%n = dim\n  %x {axis=0}"), 3, 6, "unexpected '{'; expected ',', '='"),
    (golden_with("%n = dim %x {axis=0} : i32", "%n = dim %x {axis=0,\n} : i32"), 2, 23,
     "unexpected end of the line"),
    (GOLDEN[: GOLDEN.index("    store")], 10, 6, "unexpected end of the text"),
    ("", 1, 1, "expected 'func'"),
])
def test_parse_errors_carry_line_and_column(text, line, col, message):
    err = error_of(text)
    assert (err.line, err.column) == (line, col), str(err)
    assert message in str(err)
    assert f"line {line}, column {col}" in str(err)


def test_parse_error_shows_the_line_with_a_caret():
    err = error_of(golden_with("%c0 = const", "%c0 = konst"))
    lines = str(err).splitlines()
    assert lines[1].strip() == "%c0 = konst {value=0} : i32"
    assert lines[2].index("^") == lines[1].index("konst")


# --- speed ---------------------------------------------------------------------------------------


def chain_function(n: int) -> Function:
    """A grid whose body is a chain of `n` tile ops (loads, math, a reduction, a store)."""
    b = Builder()
    x = b.fresh("x", Type(DType.f16, ("x.0", "x.1"), Space.GLOBAL))
    size = b.value(Op.DIM, [x], {"axis": 0}, hint="m", loc=Loc("k.py", 1))
    pid = b.fresh("pid", Type(DType.i32))
    with b.block((pid,)) as grid:
        t = b.value(Op.LOAD, [x, pid, pid], {"shape": (64, 64), "masked": False}, loc=Loc("k.py", 2, 4))
        t = b.value(Op.CAST, [t], {"dtype": DType.f32})
        for i in range(n - 8):
            op = (Op.EXP, Op.ADD, Op.MUL, Op.MAXIMUM)[i % 4]
            t = b.value(op, [t] if op is Op.EXP else [t, t], loc=Loc("k.py", 10 + i, 8))
        s = b.value(Op.TILE_REDUCE, [t], {"kind": "sum", "axis": 1, "keepdims": True})
        s = b.value(Op.CAST, [b.value(Op.BROADCAST_TO, [s], {"shape": (64, 64)})], {"dtype": DType.f16})
        b.emit(Op.STORE, [x, pid, pid, s], {"shape": (64, 64), "masked": False})
    b.emit(Op.GRID, [size], regions=grid)
    return Function("chain", (Param(x),), (Knob("num_warps", 4),), Block((), b.top()))


def test_print_and_parse_100_insts_is_fast():
    fn = verify(chain_function(100))
    assert sum(1 for _ in walk(fn.body)) == 100
    roundtrip(fn)  # builds the parser once
    start = time.perf_counter()
    for _ in range(10):
        parse_ir(print_ir(fn))
    per_call = (time.perf_counter() - start) / 10
    print(f"print+parse of 100 insts: {per_call * 1e3:.1f} ms")
    assert per_call < 0.25


# --- IR from the front end -----------------------------------------------------------------------


@pytest.mark.parametrize("name, make", [
    ("matmul auto", lambda K, torch: K.matmul.ir(torch.randn(8, 4), torch.randn(4, 8), torch.empty(8, 8))),
    ("matmul fixed", lambda K, torch: K.matmul.ir(torch.randn(8, 4), torch.randn(4, 8), torch.empty(8, 8),
                                                  BM=16, BN=32, BK=8)),
    ("softmax", lambda K, torch: K.softmax.ir(torch.randn(4, 8))),
])
def test_frontend_kernels_roundtrip(name, make):
    torch = pytest.importorskip("torch")
    from tests import kernels_for_tests as K

    fn = verify(make(K, torch))
    text = roundtrip(fn)
    assert text.startswith(f"func @{fn.name}(")
    assert "loc(" in text and "demo.py" in text
