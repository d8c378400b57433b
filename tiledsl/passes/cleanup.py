"""`cleanup`: constant folding of scalar math, common-subexpression elimination and dead-code
elimination, in one walk. Keeps the scheduled IR (and the code generated from it) free of the
repeated knob constants and index arithmetic the front end emits.

Before::

    %BM_1 = const {value=64, dtype=i32}
    %BM_2 = const {value=64, dtype=i32}
    %mul = mul %i, %BM_2
    %unused = exp %x

After::

    %BM_1 = const {value=64, dtype=i32}
    %mul = mul %i, %BM_1
"""

from __future__ import annotations

from tiledsl.ir.nodes import Block, Function, Inst, Space
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import NEVER_MERGED, PINNED, fold_int

# ops whose result depends on memory or identity are never merged (`NEVER_MERGED`); ops that
# write memory, synchronize or are control flow are kept when unused (`PINNED`)
_REMOVABLE = frozenset(Op) - PINNED
# integer ops that return one operand when the other is a unit: (position of the unit, its value)
_IDENTITY = {Op.ADD: ((0, 0), (1, 0)), Op.SUB: ((1, 0),), Op.MUL: ((0, 1), (1, 1)), Op.FLOORDIV: ((1, 1),)}


def cleanup(fn: Function) -> Function:
    used = _uses(fn.body)
    body = _Walker(used).block(fn.body, {}, {})
    # a second pass removes what became dead after merging
    return Function(fn.name, fn.params, fn.knobs, _dce(body, _uses(body)), fn.loc, fn.attrs)


class _Walker:
    def __init__(self, used):
        self.used = used
        self.consts: dict[str, int | bool] = {}

    def block(self, b: Block, subst: dict, seen: dict) -> Block:
        subst, seen = dict(subst), dict(seen)
        out = []
        for inst in b.insts:
            inst = _rewrite_operands(inst, subst)
            if inst.op is Op.GRID:
                self.unit_axes(inst)
            if inst.regions:
                inst = Inst(inst.op, inst.results, inst.operands, inst.attrs,
                            tuple(self.block(r, subst, seen) for r in inst.regions), inst.loc)
            inst = self.fold(inst) or inst
            same = self.identity(inst)
            if same is not None:  # x + 0, x * 1, x // 1: the result is an operand
                subst[inst.result.name] = same
                continue
            if inst.op not in NEVER_MERGED and inst.results and not _reads_buffer(inst):
                key = (inst.op, tuple(v.name for v in inst.operands), inst.attrs,
                       tuple(v.type for v in inst.results))
                if key in seen:
                    for r, s in zip(inst.results, seen[key]):
                        subst[r.name] = s
                    continue
                seen[key] = inst.results
            if inst.op is Op.CONST and isinstance(inst.attr("value"), (int, bool)):
                self.consts[inst.result.name] = inst.attr("value")
            out.append(inst)
        return Block(b.args, tuple(out))

    def unit_axes(self, grid: Inst) -> None:
        """The program id of a grid axis of one program is 0 (a split factor of 1): the index
        arithmetic on it then folds (`identity`), so such a kernel is the one without the axis."""
        for size, pid in zip(grid.operands, grid.regions[0].args):
            if self.consts.get(size.name) == 1 and not isinstance(self.consts[size.name], bool):
                self.consts[pid.name] = 0

    def identity(self, inst: Inst):
        """The operand an integer scalar op returns unchanged (x + 0, 0 + x, x - 0, x * 1,
        1 * x, x // 1), or None; x * 0 folds in `fold`."""
        if inst.op not in _IDENTITY or len(inst.operands) != 2 or len(inst.results) != 1:
            return None
        r = inst.result
        if r.type.space is not Space.SCALAR or not r.type.dtype.is_int:
            return None
        for pos, unit in _IDENTITY[inst.op]:
            c, other = inst.operands[pos], inst.operands[1 - pos]
            v = self.consts.get(c.name)
            if v == unit and not isinstance(v, bool) and other.type == r.type:
                return other
        return None

    def fold(self, inst: Inst) -> Inst | None:
        """Fold integer scalar math on constants (the knob arithmetic of a scheduled kernel)."""
        if len(inst.operands) != 2 or len(inst.results) != 1 or inst.regions:
            return None
        r = inst.result
        consts = [self.consts.get(v.name) for v in inst.operands]
        if r.type.space is not Space.SCALAR or not (r.type.dtype.is_int or r.type.dtype.is_bool):
            return None
        if inst.op is Op.MUL and r.type.dtype.is_int and any(c == 0 and not isinstance(c, bool) for c in consts):
            val = 0  # x * 0 of integers, whatever x
        elif any(c is None for c in consts):
            return None
        else:
            val = fold_int(inst.op, consts, r.type.dtype)
        if val is None:
            return None
        return Inst(Op.CONST, inst.results, (), (("value", val), ("dtype", r.type.dtype)), (), inst.loc)


def _uses(b: Block) -> set[str]:
    out: set[str] = set()
    for inst in b.insts:
        out.update(v.name for v in inst.operands)
        for r in inst.regions:
            out |= _uses(r)
    return out


def _dce(b: Block, used: set[str]) -> Block:
    out = []
    for inst in reversed(b.insts):
        if inst.op in _REMOVABLE and inst.results and not any(r.name in used for r in inst.results):
            continue
        if inst.regions:
            inst = Inst(inst.op, inst.results, inst.operands, inst.attrs,
                        tuple(_dce(r, used) for r in inst.regions), inst.loc)
        out.append(inst)
    return Block(b.args, tuple(reversed(out)))


def _rewrite_operands(inst: Inst, subst: dict) -> Inst:
    if not any(v.name in subst for v in inst.operands):
        return inst
    ops = tuple(subst.get(v.name, v) for v in inst.operands)
    return Inst(inst.op, inst.results, ops, inst.attrs, inst.regions, inst.loc)


def _reads_buffer(inst: Inst) -> bool:
    return any(v.type.space.is_buffer for v in inst.operands)

