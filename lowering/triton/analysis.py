"""Facts the Triton lowering needs before it writes a line (what Triton can take at all is its
capability record, `tiledsl.capabilities.TRITON`, checked by `tiledsl.passes.legality`).

- `nonneg_values`: which integer values are known to be >= 0, so masks can drop the ``>= 0`` half
  and ``//`` / ``%`` can use Triton's C-style operators (equal to Python's on non-negative ints).
  Index arithmetic is in the IR's i32 (a DIM is i32), so sums and products of non-negative
  indices stay below 2**31 as long as sizes do; casts that can wrap and ``abs`` (of INT_MIN) are
  not trusted.
- `offsets_need_int64`: whether element offsets into a tensor (index * stride summed over axes)
  can leave the int32 range, from the shapes and strides the kernel is compiled for.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tiledsl.ir.nodes import Block, Function, Inst, Sym
from tiledsl.ir.ops import Op

INT32_MAX = 2**31 - 1


def offsets_need_int64(shape: tuple, spec=None) -> bool:
    """True when an element offset into a tensor of IR `shape` can exceed int32.

    With the call's `spec` (a `TensorSpec`: shape and strides) the largest offset is known:
    sum((size - 1) * |stride|). Without one, static sizes bound a contiguous tensor; a runtime
    size is unbounded, so 64-bit it is.
    """
    shape_ = getattr(spec, "shape", None)
    if shape_ is not None and len(shape_) == len(shape):
        strides = spec.effective_strides
        return sum((max(d, 1) - 1) * abs(s) for d, s in zip(shape_, strides)) >= INT32_MAX
    if all(isinstance(d, int) for d in shape):
        return math.prod(max(d, 1) for d in shape) >= INT32_MAX
    return True


def resolve(attr, knobs: dict[str, int]):
    """An attr with knob references (`Sym`) replaced by the knobs' values."""
    if isinstance(attr, Sym):
        return knobs[attr.name]
    if isinstance(attr, tuple):
        return tuple(resolve(a, knobs) for a in attr)
    return attr


# --- non-negativity: one rule per op; a rule sees the inst and the set of known names ----------

def _all(inst: Inst, known: set[str]) -> bool:
    return all(v.name in known for v in inst.operands)


def _first(inst: Inst, known: set[str]) -> bool:
    return bool(inst.operands) and inst.operands[0].name in known


def _any(inst: Inst, known: set[str]) -> bool:
    return any(v.name in known for v in inst.operands)


def wrap_int(value: int, dtype) -> int:
    """`value` wrapped into `dtype`'s width, as the IR's integer semantics wrap (4294967295 as
    an i32 is -1)."""
    bits = dtype.bits
    if dtype.is_bool or bits >= 128:
        return int(value)
    value = int(value) & ((1 << bits) - 1)
    signed = dtype.value.startswith("i")
    return value - (1 << bits) if signed and value >= 1 << (bits - 1) else value


def _const(inst: Inst, known: set[str]) -> bool:
    v = inst.attr("value")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    dt = inst.result.type.dtype
    return (wrap_int(v, dt) if dt.is_int and isinstance(v, int) else v) >= 0


def _arange(inst: Inst, known: set[str], knobs: dict[str, int]) -> bool:
    start = inst.attr("start")
    if isinstance(start, Sym):  # a knob: its value decides (a knob may be negative)
        start = knobs.get(start.name)
    return isinstance(start, int) and start >= 0


def _cast(inst: Inst, known: set[str]) -> bool:
    """A cast keeps a non-negative value so only when it cannot wrap: bool or an int into an int
    at least as wide (a float source may be NaN or out of range)."""
    src, dst = inst.operands[0].type.dtype, inst.attr("dtype")
    if not _first(inst, known) or not (dst.is_int or dst.is_bool):
        return False
    return src.is_bool or (src.is_int and dst.bits >= src.bits and dst.is_int)


_NONNEG: dict[Op, Callable[[Inst, set[str]], bool]] = {
    Op.CONST: _const,
    Op.DIM: lambda inst, known: True,
    Op.ADD: _all, Op.MUL: _all, Op.FLOORDIV: _all, Op.MOD: _all, Op.SHR: _all,
    Op.MINIMUM: _all, Op.MAXIMUM: _any,
    Op.CAST: _cast, Op.EXPAND_DIMS: _first, Op.BROADCAST_TO: _first, Op.RESHAPE: _first,
    Op.TRANSPOSE: _first,
}


def nonneg_values(fn: Function, knobs: dict[str, int] | None = None) -> set[str]:
    """Names of integer values known to be >= 0 (program ids, sizes, sums of such...)."""
    known: set[str] = set()
    _nonneg_block(fn.body, known, knobs or {})
    return known


def _nonneg_block(block: Block, known: set[str], knobs: dict[str, int]) -> None:
    for inst in block.insts:
        if inst.op is Op.ARANGE:
            rule = lambda i, k: _arange(i, k, knobs)  # noqa: E731
        else:
            rule = _NONNEG.get(inst.op)
        if rule is not None and rule(inst, known):
            known.update(v.name for v in inst.results)
        if inst.op is Op.GRID:
            known.update(a.name for a in inst.regions[0].args)
        if inst.op is Op.FOR and inst.regions:
            start, step = inst.operands[0], inst.operands[2]
            if start.name in known and step.name in known:
                known.add(inst.regions[0].args[0].name)
        for region in inst.regions:
            _nonneg_block(region, known, knobs)
