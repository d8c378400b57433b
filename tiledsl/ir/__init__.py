"""The IR: one op enum grouped by level (`ops`), frozen nodes (`nodes`), shape rules (`infer`),
a builder, a verifier, and the textual form (`text`: `print_ir` / `parse_ir`)."""

from tiledsl.ir.builder import Builder
from tiledsl.ir.infer import Unifier, infer
from tiledsl.ir.nodes import (
                              Attr,
                              Block,
                              Dim,
                              Function,
                              Inst,
                              Knob,
                              Loc,
                              Param,
                              ParamKind,
                              Space,
                              Sym,
                              Type,
                              Value,
                              walk,
)
from tiledsl.ir.ops import Group, Op
from tiledsl.ir.text import parse_ir, print_ir
from tiledsl.ir.verify import STAGES, verify

__all__ = ["Attr", "Block", "Builder", "Dim", "Function", "Group", "Inst", "Knob", "Loc", "Op",
           "Param", "ParamKind", "STAGES", "Space", "Sym", "Type", "Unifier", "Value", "infer",
           "parse_ir", "print_ir", "verify", "walk"]
