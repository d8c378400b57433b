"""Knob roles are declared on the IR, never guessed from a knob's name by the scheduler; IR dims
are told apart and size symbols built and split in one place (`tiledsl.ir.dims`)."""

from __future__ import annotations

import pytest

from tests.kernels_for_tests import splitk_gemm
from tiledsl.dtypes import DType
from tiledsl.errors import ScheduleError
from tiledsl.ir.dims import is_knob_dim, is_size_sym, size_sym, split_size_sym
from tiledsl.ir.nodes import Function
from tiledsl.ir.text import parse_ir, print_ir
from tiledsl.schedule import roles
from tiledsl.schedule.roles import knob_roles
from tiledsl.specs import TensorSpec

SPECS = (TensorSpec((64, 4096), DType.bf16), TensorSpec((4096, 64), DType.bf16), TensorSpec((64, 64), DType.f32))


def _without_declared_roles(fn: Function) -> Function:
    attrs = tuple((k, v) for k, v in fn.attrs if k != roles.ATTR)
    return Function(fn.name, fn.params, fn.knobs, fn.body, fn.loc, attrs)


def test_the_front_end_declares_the_role_of_a_knob_used_only_in_arithmetic():
    fn = splitk_gemm.ir(*SPECS)
    assert roles.declared(fn) == {"SPLIT_K": "split"}
    assert {k.name: k.role for k in knob_roles(fn)}["SPLIT_K"] == "split"
    # the declaration is part of the IR: its text form carries it
    assert roles.declared(parse_ir(print_ir(fn))) == {"SPLIT_K": "split"}


def test_the_scheduler_does_not_read_meaning_into_a_name():
    # SPLIT_K is used only in a grid size: without the declaration nothing says what it is for
    fn = _without_declared_roles(splitk_gemm.ir(*SPECS))
    with pytest.raises(ScheduleError, match="cannot tell what knob 'SPLIT_K'"):
        knob_roles(fn)
    # a declaration, whatever the knob's name, is what counts
    renamed = Function(fn.name, fn.params, fn.knobs, fn.body, fn.loc, fn.attrs + roles.attr({"SPLIT_K": "group"}))
    assert {k.name: k.role for k in knob_roles(renamed)}["SPLIT_K"] == "group"


def test_num_warps_is_the_warp_count_by_the_irs_own_rule():
    fn = splitk_gemm.ir(*SPECS)
    assert {k.name: k.role for k in knob_roles(fn)}["num_warps"] == "warps"


def test_dims_are_told_apart_in_one_place():
    assert size_sym("x", 1) == "x.1" and split_size_sym("x.1") == ("x", 1)
    assert split_size_sym("a.b.12") == ("a.b", 12)  # the parameter name may hold dots
    assert is_size_sym("x.0") and not is_size_sym("BM") and not is_size_sym(64)
    assert is_knob_dim("BM") and not is_knob_dim("x.0") and not is_knob_dim(1)
