"""Every op that can reach an executor has a rule there (or is refused by it on purpose).

The op table (`tiledsl.ir.optable.OPS`) declares each op once; the IR interpreter, the Triton and
TileLang lowerings, eager mode and the cost model each register their rule per op beside their own
code. These tests fail when an op is added to the table and one of them is forgotten (before, a
forgotten cost weight silently defaulted to 1 and a forgotten emission rule was a KeyError at
lowering), and when the table and the tables derived from it disagree.
"""

from __future__ import annotations

import pytest
from tiledsl.lowering.tilelang import rules as tilelang_rules
from tiledsl.lowering.triton import reductions as triton_reductions
from tiledsl.lowering.triton import rules as triton_rules

from tiledsl.dtypes import DType
from tiledsl.eager import ops as eager_ops
from tiledsl.eager import values as eager_values
from tiledsl.interp import RULES as IR_RULES
from tiledsl.interp import compute as ir_compute
from tiledsl.ir import schema
from tiledsl.ir.infer import RULES as TYPE_RULES
from tiledsl.ir.ops import Group, Op
from tiledsl.ir.optable import (
    ANY,
    BACKENDS,
    BINARY,
    ELEMENTWISE,
    FLOAT,
    INT,
    LOGIC,
    NUMERIC,
    OPS,
    REDUCE_KINDS,
    SCAN_KINDS,
    UNARY,
    UNARY_RULE,
    fold_const,
    fold_int,
    public_names,
    split_window,
)
from tiledsl.language import BUILTINS
from tiledsl.schedule import analysis
from tiledsl.schedule.identity import IDENTITY

EXECUTORS = {
    "ir": IR_RULES,
    "triton": triton_rules.KERNEL_RULES,
    "tilelang": tilelang_rules.RULES,
}
assert set(EXECUTORS) == set(BACKENDS)


def _missing(backend: str) -> list[str]:
    rules = EXECUTORS[backend]
    return sorted(op.ir_name for op, d in OPS.items() if d.reaches(backend) and op not in rules)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_op_that_reaches_a_backend_has_its_rule(backend):
    assert not _missing(backend), f"{backend} has no rule for these ops: {_missing(backend)}"


@pytest.mark.parametrize("backend", ["triton", "tilelang"])
def test_backends_have_no_rules_for_ops_they_refuse(backend):
    """An op declared unsupported by a backend must not have a half-working rule there."""
    refused = [op for op, d in OPS.items() if backend in d.unsupported]
    assert not [op for op in refused if op in EXECUTORS[backend]]


def test_the_interpreter_computes_each_elementwise_op_on_the_dtypes_it_takes():
    """`interp.compute` picks its float or int table by operand dtype: an op that takes floats
    needs a float rule, one that takes ints (or bools) an int rule."""
    for op in ELEMENTWISE:
        dtypes = OPS[op].dtypes
        if dtypes in (ANY, NUMERIC, FLOAT):
            assert op in ir_compute.FLOAT_FNS, f"no float rule for {op.ir_name} in interp/compute.py"
        if dtypes in (ANY, NUMERIC, INT, LOGIC):
            assert op in ir_compute.INT_FNS, f"no int rule for {op.ir_name} in interp/compute.py"


def test_eager_mode_computes_each_elementwise_op():
    """Eager mode keys its own implementations by the op's IR name (its only read of the table)."""
    floats = set(eager_values._UNARY) | set(eager_values._FLOAT_BIN)
    ints = set(eager_values._UNARY) | set(eager_values._INT_BIN) | {"not"}
    for op in ELEMENTWISE:
        dtypes = OPS[op].dtypes
        if dtypes in (ANY, NUMERIC, FLOAT):
            assert op.ir_name in floats, f"eager mode cannot compute {op.ir_name} on floats"
        if dtypes in (ANY, NUMERIC, INT, LOGIC) and op not in UNARY:
            assert op.ir_name in ints, f"eager mode cannot compute {op.ir_name} on ints"
    for op in BINARY:
        assert op.ir_name in eager_values._PY, f"eager mode cannot fold {op.ir_name} on Python numbers"
    # eager mode imports nothing of the compiler: its builtin names are checked here instead
    assert set(eager_ops.UNARY_BUILTINS) == set(public_names(UNARY_RULE))


def test_every_public_op_name_is_a_builtin_everywhere():
    """A td.<name> that builds an op is a language marker, an eager builtin and a front-end
    handler (the front end reads the names from the table)."""
    from tiledsl.eager.run import BUILTINS as EAGER
    from tiledsl.frontend.builtins import HANDLERS

    for name in public_names():
        assert name in BUILTINS, f"td.{name} is not declared in tiledsl/language.py"
        assert name in EAGER, f"eager mode has no td.{name}"
        assert name in HANDLERS, f"the front end has no handler for td.{name}"


def test_the_cost_model_prices_every_op_that_reaches_it():
    """Every MATH op has its ALU weight (there is no default any more); every other scheduled op
    has a handler or is declared unpriced."""
    math_ops = {op for op in Op if op.group is Group.MATH}
    assert math_ops == set(analysis.ALU_WEIGHT), \
        f"ops without a cost weight: {sorted(o.ir_name for o in math_ops - set(analysis.ALU_WEIGHT))}"
    scheduled = {op for op, d in OPS.items() if d.reaches("tilelang") or d.reaches("triton") or d.owned}
    covered = set(analysis._HANDLERS) | analysis.UNPRICED | math_ops
    assert scheduled <= covered, f"unpriced and undeclared: {sorted(o.ir_name for o in scheduled - covered)}"


def test_every_reduction_kind_has_its_rule():
    kinds = set(REDUCE_KINDS)
    assert set(ir_compute.REDUCE_FNS) == kinds
    assert set(triton_reductions.REDUCE_RULES) == kinds
    assert tilelang_rules.REDUCE_KINDS | tilelang_rules.REFUSED_REDUCE_KINDS == kinds
    assert set(eager_ops.REDUCE_T) == kinds and set(eager_ops.REDUCTIONS) == kinds
    assert set(IDENTITY) == kinds
    assert set(SCAN_KINDS) <= set(ir_compute.SCAN_FNS)
    for k in REDUCE_KINDS.values():
        assert (k.combine is None) is (k.combine_bool is None) is k.index


def test_derived_tables_agree_with_the_op_table():
    assert set(schema.ARITY) == set(Op) and set(TYPE_RULES) == set(Op)
    for op, d in OPS.items():
        assert schema.ARITY[op] == d.arity
        assert schema.ATTRS.get(op, {}) == dict(d.attrs)
    assert UNARY | BINARY == ELEMENTWISE and not UNARY & BINARY
    assert all(OPS[op].arity == (1, 1) for op in UNARY) and all(OPS[op].arity == (2, 2) for op in BINARY)


def test_one_folding_rule_for_ir_integers():
    """`fold_int` (cleanup, the cost model, the TileLang emitter) folds as the GPU computes: a
    zero divisor or an out-of-range shift is left alone, results wrap to the dtype's width;
    `fold_const` (the front end) keeps Python's rules, errors included."""
    assert fold_int(Op.FLOORDIV, (7, 0), DType.i32) is None and fold_int(Op.MOD, (7, 0)) is None
    assert fold_int(Op.FLOORDIV, (-7, 2), DType.i32) == -4 and fold_int(Op.MOD, (-7, 2), DType.i32) == 1
    assert fold_int(Op.ADD, (2**31 - 1, 1), DType.i32) == -(2**31)
    assert fold_int(Op.MUL, (200, 2), DType.u8) == 144
    assert fold_int(Op.ADD, (2**31 - 1, 1)) == 2**31  # no dtype: unbounded (sizes, trip counts)
    assert fold_int(Op.SHL, (1, 40), DType.i32) is None and fold_int(Op.SHL, (1, 4), DType.i32) == 16
    assert fold_int(Op.LT, (1, 2), DType.i1) is True
    assert fold_int(Op.DIV, (1, 2), DType.f32) is None and fold_int(Op.EXP2, (1,)) is None
    assert fold_const(Op.DIV, 1, 4) == 0.25 and fold_const(Op.POW, 2, -1) == 0.5
    with pytest.raises(ZeroDivisionError):
        fold_const(Op.FLOORDIV, 1, 0)


def test_effects_and_windows_are_read_from_the_table():
    from tiledsl.ir.optable import NEVER_MERGED, PINNED, WRITES_MEMORY

    assert WRITES_MEMORY == {Op.STORE, Op.ATOMIC, Op.COPY}
    assert PINNED == {Op.STORE, Op.ATOMIC, Op.COPY, Op.BARRIER, Op.LAYOUT, Op.RETURN, Op.YIELD, Op.GRID,
                      Op.THREADS, Op.WARP_ROLE, Op.FOR, Op.IF}
    assert {Op.LOAD, Op.ATOMIC, Op.ALLOC, Op.ALLOC_LOCAL, Op.SHUFFLE} <= NEVER_MERGED
    assert not NEVER_MERGED & ELEMENTWISE
    w = split_window(["t", "i", "j", "v", "m"], 2, True)
    assert (w.tensor, w.offsets, w.value, w.mask) == ("t", ("i", "j"), "v", "m")
    w = split_window(["t", "i", "m"], 1, True)
    assert (w.offsets, w.value, w.mask) == (("i",), None, "m")
