"""Which instruction a schedule error is about: its loc, so the error shows the user's line
rather than the kernel's ``def``.

Every inst carries the loc of the kernel line it came from (the level-1 lowering gives its loads,
masks and index math the loc of the user op they serve), so the blame is a search of the body.
"""

from __future__ import annotations

import math

from tiledsl.ir.nodes import Function, Inst, Loc, attr_syms, walk
from tiledsl.ir.ops import Op


def uses_knob(inst: Inst, names: set[str]) -> bool:
    """`inst` names one of the knobs in an attribute or in a result's tile shape."""
    if any(s in names for _, a in inst.attrs for s in attr_syms(a)):
        return True
    return any(d in names for v in inst.results for d in v.type.shape if isinstance(d, str))


def knob_use_loc(fn: Function, names: set[str]) -> Loc | None:
    """The line of the first inst that uses one of the knobs `names` (else the kernel's)."""
    return next((i.loc for i in walk(fn.body) if i.loc is not None and uses_knob(i, names)), fn.loc)


def _numel_bytes(inst: Inst, values: dict[str, int]) -> float:
    best = 0.0
    for v in inst.results:
        if not v.type.space.is_tile_like:
            continue
        n = math.prod(d if isinstance(d, int) else values.get(d, 1) for d in v.type.shape)
        best = max(best, n * max(v.type.dtype.bits, 8) / 8)
    return best


# a violation's first words -> the ops that cause it (the biggest of them is blamed)
_BY_KIND: dict[str, tuple[Op, ...]] = {
    "shared memory": (Op.ALLOC, Op.LOAD, Op.COPY),
    "tensor cores": (Op.DOT,), "tensor-core shape": (Op.DOT,), "warps": (Op.DOT,),
}


def violation_loc(fn: Function, violations: tuple[str, ...], values: dict[str, int],
                  knobs: set[str] | None = None) -> Loc | None:
    """The line of the inst behind the first violation: the biggest tile of the ops that cause
    that kind of violation (the largest tile of any op for registers, tile size, alignment);
    with `knobs`, among the insts that use those knobs (explicit values that do not fit)."""
    kind = violations[0].split(":")[0] if violations else ""
    ops = _BY_KIND.get(kind)
    cands = [i for i in walk(fn.body) if i.loc is not None and (ops is None or i.op in ops)]
    if knobs:
        cands = [i for i in cands if uses_knob(i, knobs)] or cands
    if not cands:
        return knob_use_loc(fn, knobs) if knobs else fn.loc
    return max(cands, key=lambda i: _numel_bytes(i, values)).loc
