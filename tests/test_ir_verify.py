"""The verifier: one test per invariant, each building an IR that breaks it (by hand or by
editing the text of a valid one) and checking what the VerifyError says."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings

from tests.strategies import functions
from tiledsl.dtypes import DType
from tiledsl.errors import VerifyError
from tiledsl.ir import (
    Block,
    Builder,
    Function,
    Inst,
    Knob,
    Loc,
    Op,
    Param,
    Space,
    Sym,
    Type,
    parse_ir,
    verify,
)

X = Type(DType.f32, ("x.0", "x.1"), Space.GLOBAL)


def gemm_text(bm: str = "64", stages: str = "2", static: bool = False) -> str:
    """A small level-2 kernel, valid at stage "ir"; with `static` its tile shapes are ints, as
    after scheduling, and it is valid at every stage."""
    text = f"""\
func @k(%x: global<f32[x.0,x.1]>, %y: global<f32[y.0,y.1]>) knobs(BM={bm}, stages={stages}, num_warps=4) {{
  %m = dim %x {{axis=0}} : i32
  %c0 = const {{value=0}} : i32
  %c1 = const {{value=1}} : i32
  grid %m ^(%pid: i32) {{
    %acc = full {{shape=(#BM, 16), value=0.0, dtype=f32}} : tile<f32[BM,16]>
    %r = for %c0, %c1, %c1, %acc {{stages=#stages}} : tile<f32[BM,16]> ^(%i: i32, %a: tile<f32[BM,16]>) {{
      %t = load %x, %pid, %i {{shape=(#BM, 16), masked=false}} : tile<f32[BM,16]>
      %s = add %a, %t : tile<f32[BM,16]>
      yield %s
    }}
    store %y, %pid, %c0, %r {{shape=(#BM, 16), masked=false}}
  }}
}}
"""
    return text.replace("#BM", "64").replace("[BM,", "[64,") if static else text


def fails(fn: Function, stage: str, message: str) -> str:
    with pytest.raises(VerifyError) as info:
        verify(fn, stage)
    assert message in str(info.value), str(info.value)
    return str(info.value)


def edited(old: str, new: str, **knobs) -> Function:
    text = gemm_text(**knobs)
    assert old in text
    return parse_ir(text.replace(old, new, 1))


def with_body(*insts: Inst, params=(), knobs=(), attrs=()) -> Function:
    return Function("k", tuple(params), tuple(knobs), Block((), tuple(insts)), attrs=attrs)


def test_the_base_kernel_is_valid_at_every_stage():
    fn = parse_ir(gemm_text(static=True))
    for stage in ("ir", "scheduled", "triton", "tilelang"):
        assert verify(fn, stage) is fn


def test_unknown_stage():
    fails(parse_ir(gemm_text()), "ptx", "unknown stage 'ptx'")


# --- SSA -----------------------------------------------------------------------------------------


def test_use_before_def():
    b = Builder()
    x = b.fresh("x", X)
    later = b.fresh("n", Type(DType.i32))
    use = Inst(Op.ADD, (b.fresh("s", Type(DType.i32)),), (later, later))
    define = Inst(Op.DIM, (later,), (x,), (("axis", 0),), loc=Loc("k.py", 4, 2))
    msg = fails(with_body(use, define, params=(Param(x),)), "ir", "operand %n is not defined before this use")
    assert msg.startswith("k: add: ")


def test_value_defined_in_a_region_is_not_visible_after_it():
    fn = parse_ir(gemm_text())
    grid = fn.body.insts[3]
    loop, store = grid.regions[0].insts[1:3]
    inner = loop.regions[0].insts[1].result  # %s, defined in the loop body
    store2 = dataclasses.replace(store, operands=(*store.operands[:3], inner))
    fails(replace_in_grid(fn, store, store2), "ir", "store: operand %s is not defined before this use")


def replace_in_grid(fn: Function, old: Inst, new: Inst) -> Function:
    """`fn` with the inst `old` of its (only) grid body replaced by `new`."""
    grid = fn.body.insts[3]
    body = grid.regions[0]
    insts = tuple(new if i is old else i for i in body.insts)
    grid2 = dataclasses.replace(grid, regions=(Block(body.args, insts),))
    return dataclasses.replace(fn, body=Block((), (*fn.body.insts[:3], grid2)))


def test_double_definition():
    b = Builder()
    x = b.fresh("x", X)
    n = b.fresh("n", Type(DType.i32))
    dims = [Inst(Op.DIM, (n,), (x,), (("axis", ax),), loc=Loc("k.py", 3 + ax)) for ax in (0, 1)]
    msg = fails(with_body(*dims, params=(Param(x),)), "ir", "value %n is defined twice")
    assert "(at k.py:4:0)" in msg


def test_operand_type_must_match_its_definition():
    fn = parse_ir(gemm_text())
    store = fn.body.insts[3].regions[0].insts[2]
    wrong = dataclasses.replace(store.operands[3], type=Type(DType.f16, (64, 16), Space.TILE))
    store2 = dataclasses.replace(store, operands=(*store.operands[:3], wrong))
    fails(replace_in_grid(fn, store, store2), "ir", "operand %r is used as tile<f16[64,16]> but defined as tile<f32[BM,16]>")


# --- types ---------------------------------------------------------------------------------------


def test_result_type_against_the_op_rule():
    fails(edited("%m = dim %x {axis=0} : i32", "%m = dim %x {axis=0} : i64"), "ir",
          "dim: results typed (i64), the op rule gives (i32)")


def test_op_rule_errors_are_reported():
    fails(edited("%s = add %a, %t", "%s = add %a, %i"), "ir", "add operands differ in dtype: f32 and i32")


def test_shape_names_an_undeclared_knob():
    fails(edited("full {shape=(#BM, 16)", "full {shape=(#BN, 16)"), "ir", "attr names knob 'BN'")
    fails(edited("%x: global<f32[x.0,x.1]>", "%x: global<f32[BQ,x.1]>"), "ir",
          "names 'BQ', which is neither a knob nor a tensor size")


def test_unequal_runtime_sizes_need_an_assumption():
    b = Builder()
    x = b.fresh("x", Type(DType.f32, ("x.0",), Space.GLOBAL))
    y = b.fresh("y", Type(DType.f32, ("y.0",), Space.GLOBAL))
    s = b.emit(Op.ADD, (x, y))
    assert b.unifier.assumptions == {("x.0", "y.0")}
    fn = with_body(s, params=(Param(x), Param(y)))
    fails(fn, "ir", "sizes x.0 and y.0 are not known to be equal")
    assert verify(dataclasses.replace(fn, attrs=(("assume", (("x.0", "y.0"),)),)))
    # the pair may be written in either order
    assert verify(dataclasses.replace(fn, attrs=(("assume", (("y.0", "x.0"),)),)))


# --- regions -------------------------------------------------------------------------------------


def test_for_carried_type_mismatch():
    fails(edited("^(%i: i32, %a: tile<f32[BM,16]>)", "^(%i: i32, %a: tile<f16[BM,16]>)"), "ir",
          "for: carried types (tile<f16[BM,16]>) / results (tile<f32[BM,16]>) differ from inits "
          "(tile<f32[BM,16]>)")


def test_for_result_type_mismatch():
    fails(edited("{stages=#stages} : tile<f32[BM,16]>", "{stages=#stages} : tile<f16[BM,16]>"), "ir",
          "for: carried types (tile<f32[BM,16]>) / results (tile<f16[BM,16]>) differ from inits")


def test_for_body_needs_iv_and_carried_args():
    fails(edited("%a: tile<f32[BM,16]>)", "%a: tile<f32[BM,16]>, %b: i32)"), "ir",
          "loop body must take the induction variable and each carried value")


def test_for_induction_variable_must_be_an_int_scalar():
    fails(edited("^(%i: i32,", "^(%i: f32,"), "ir", "induction variable must be an integer scalar")


def test_yield_missing():
    fails(edited("      yield %s\n", ""), "ir", "for: region does not end in yield")


def test_yield_before_the_end():
    fails(edited("      yield %s\n", "      yield %s\n      %z = add %s, %s : tile<f32[BM,16]>\n"), "ir",
          "region does not end in yield")
    fails(edited("      yield %s\n", "      yield %s\n      yield %s\n"), "ir", "yield before the end of its region")


def test_yield_outside_for_or_if():
    fails(edited("masked=false}\n  }\n}", "masked=false}\n    yield\n  }\n}"), "ir",
          "yield: yield may only end the region of a for or an if")


def test_if_yields_must_match_results():
    text = gemm_text().replace("  grid %m", """\
  %c = lt %c0, %c1 : i1
  %v = if %c : i32 {
    yield %c0
  } {
    yield %c
  }
  grid %m""")
    fails(parse_ir(text), "ir", "if: region yields (i1) but the op produces (i32)")


def test_region_counts():
    fn = parse_ir(gemm_text().replace("  grid %m", "  %c = lt %c0, %c1 : i1\n  if %c {\n    yield\n  }\n  grid %m"))
    fails(fn, "ir", "if: takes 2 region(s), has 1")
    fails(edited("    store %y", "    barrier {\n    }\n    store %y"), "ir", "barrier: takes 0 region(s), has 1")


def test_grid_body_takes_one_id_per_axis():
    fails(edited("grid %m ^(%pid: i32)", "grid %m, %m ^(%pid: i32)"), "ir",
          "grid body must take one program id per grid axis")


# --- stages --------------------------------------------------------------------------------------


def test_dataflow_op_at_scheduled():
    b = Builder()
    x = b.fresh("x", X)
    s = b.emit(Op.REDUCE, (x,), {"kind": "sum", "axis": 1, "keepdims": False})
    fn = with_body(s, params=(Param(x),))
    assert verify(fn, "ir")
    fails(fn, "scheduled", "reduce: dataflow ops may not remain at stage scheduled")


def test_whole_tensor_value_at_scheduled():
    b = Builder()
    x = b.fresh("x", X)
    fn = with_body(b.emit(Op.EXP, (x,)), params=(Param(x),))
    fails(fn, "scheduled", "whole-tensor value %exp remains after scheduling")


def test_auto_knob_at_scheduled():
    fn = parse_ir(gemm_text(bm="auto", static=True))
    assert verify(fn, "ir")
    fails(fn, "scheduled", "knob BM is still auto at stage scheduled")


def test_symbolic_tile_shape_at_scheduled():
    # a knob with a value is fine in attrs, but after scheduling types must be static ints
    b = Builder()
    t = b.emit(Op.FULL, (), {"shape": (Sym("BM"),), "value": 0.0, "dtype": DType.f32})
    pid = b.fresh("pid", Type(DType.i32))
    m = b.emit(Op.CONST, (), {"value": 4})
    grid = Inst(Op.GRID, (), (m.result,), (), (Block((pid,), (t,)),))
    fn = with_body(m, grid, knobs=(Knob("BM", 64),))
    assert verify(fn, "ir")
    fails(fn, "scheduled", "type tile<f32[BM]> is not static after scheduling")


def test_thread_op_at_triton():
    text = gemm_text(static=True).replace("    store %y", "    threads {count=128} ^(%tid: i32) {\n      barrier\n    }\n    store %y")
    fn = parse_ir(text)
    for stage in ("ir", "scheduled", "tilelang"):
        assert verify(fn, stage)
    fails(fn, "triton", "threads: thread ops may not remain at stage triton")


def test_tile_op_outside_grid_at_scheduled():
    b = Builder()
    fn = with_body(b.emit(Op.ARANGE, (), {"start": 0, "end": 16}))
    assert verify(fn, "ir")
    fails(fn, "scheduled", "arange: tile op outside a grid")


def test_thread_op_outside_threads_at_scheduled():
    text = gemm_text(static=True).replace("    store %y", "    %l = alloc_local {shape=(4,), dtype=f32} : local<f32[4]>\n    store %y")
    fn = parse_ir(text)
    assert verify(fn, "ir")
    fails(fn, "scheduled", "alloc_local: thread op outside a thread region")


# --- random valid functions stay valid -------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(functions(scheduled=True))
def test_random_scheduled_functions_verify(fn):
    assert verify(fn, "scheduled") is fn
