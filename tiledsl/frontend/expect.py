"""`expect=` of `td.range` / `td.pipelined`: the trip count the cost model assumes for a loop
whose bounds depend on data, as the FOR inst's ``expect`` attr (`tiledsl.ir.trips`).

The front end evaluates the keyword like any expression; what it gives is made into the attr:
a Python int, a knob, or a runtime scalar computed only from numbers, knobs and tensor sizes
(``x.shape[1]``, ``td.cdiv(PAGES, o.shape[1]) * (PAGE // BN)``), which is read back from the
instructions that computed it. Anything else (a float, a negative number, a tile, a value loaded
from memory, a program id, a loop variable, a runtime ``int`` parameter) is a `KernelTypeError`
at the loop's line: the hint must not depend on data, and a runtime parameter's value does not
key the compile cache, so one call's value would price every later call.
"""

from __future__ import annotations

from tiledsl.errors import KernelTypeError
from tiledsl.frontend.values import KnobRef, describe
from tiledsl.ir.nodes import Attr, Inst, Space, Value
from tiledsl.ir.ops import Op
from tiledsl.ir.trips import EXPECT_OPS

HINT = ("expect= takes an int >= 0, a constexpr or knob, a tensor size (x.shape[i]) or arithmetic "
        "(+ - * // % td.cdiv td.minimum td.maximum) of those; e.g. expect=block_table.shape[1]")
_OP_NAMES = {op: name for name, op in EXPECT_OPS.items()}


def expect_attr(low, x) -> Attr:
    """The ``expect`` attr for the front-end value `x` (see the module doc)."""
    if isinstance(x, bool) or (not isinstance(x, (int, KnobRef, Value))):
        raise low.error(KernelTypeError, f"expect= must be an integer trip count, got {describe(x)}", HINT)
    if isinstance(x, int):
        if x < 0:
            raise low.error(KernelTypeError, f"expect= must be at least 0, got {x}", HINT)
        return x
    if isinstance(x, KnobRef):
        return x.sym
    if x.type.space is not Space.SCALAR or not x.type.dtype.is_int:
        raise low.error(KernelTypeError, f"expect= must be an integer scalar, got {describe(x)}", HINT)
    return _Reader(low).read(x)


class _Reader:
    """Reads a scalar back into an expression from the insts that computed it."""

    def __init__(self, low):
        self.low = low
        self.defs: dict[str, Inst] = {}
        for insts in low.builder._blocks:  # the open blocks: what is in scope at the loop
            for inst in insts:
                for r in inst.results:
                    self.defs[r.name] = inst

    def read(self, v: Value) -> Attr:
        inst = self.defs.get(v.name)
        if inst is None:
            raise self._runtime(v, "a runtime value (a parameter, program id or loop variable)")
        if inst.op is Op.CONST:
            val = inst.attr("value")
            if isinstance(val, bool) or not isinstance(val, int) and not hasattr(val, "name"):
                raise self._runtime(v, f"the constant {val!r}")
            return val
        if inst.op is Op.DIM:
            return inst.operands[0].type.shape[inst.attr("axis")]
        if inst.op is Op.CAST and inst.operands[0].type.dtype.is_int:
            return self.read(inst.operands[0])
        name = _OP_NAMES.get(inst.op)
        if name is not None and len(inst.operands) == 2:
            return (name, self.read(inst.operands[0]), self.read(inst.operands[1]))
        what = "a value loaded from memory" if inst.op is Op.LOAD else f"the result of `{inst.op.value[1]}`"
        raise self._runtime(v, what)

    def _runtime(self, v: Value, what: str) -> KernelTypeError:
        return self.low.error(KernelTypeError, f"expect= must not depend on runtime data: it uses `{v.name}`, "
                              f"{what}", HINT)
