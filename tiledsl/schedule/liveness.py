"""Facts of a kernel's data flow the cost model prices, found once per function (no knob value
changes them): which tiles live after the tensor-core accumulators are dead, and which runtime
branches one program of several takes.

A split-K epilogue is the case both serve (kernels/gemm.py `gemm_splitk_kernel`): after the K loop
each split stores its accumulator, counts itself on a counter it shares with the other splits of
its tile, and the last one (`if td.atomic_add(counts, ..., 1) == SPLIT_K - 1:`) sums the partial
sums. Its tiles reuse the accumulator's registers (they are not live together: 64x128 tiles on 4
warps take ~160 registers, where counting them on top of the accumulator said 224 and one
program per SM), and its branch runs in one program of SPLIT_K (its loads are a tile's partials
once, not once per split).
"""

from __future__ import annotations

from tiledsl.ir.nodes import Block, Function, Inst, Space, walk
from tiledsl.ir.ops import Op

_REUSES = frozenset(o for o in Op if o.group.value in ("math", "shape"))


def late_insts(fn: Function) -> frozenset[int]:
    """Ids of the instructions (nested ones included) that come, in program order, after the last
    read of every tensor-core accumulator: the tile results of loops holding a `td.dot`, and what
    is computed from them in their registers (casts, elementwise math, reshapes). Tiles those
    instructions define live when the accumulators are dead. Empty without such loops."""
    order = list(walk(fn.body))
    alias: set[str] = set()
    last = -1
    for pos, inst in enumerate(order):
        if any(o.name in alias for o in inst.operands):
            last = pos
            if inst.op in _REUSES:
                alias.update(v.name for v in inst.results if v.type.space.is_tile_like)
        if inst.op is Op.FOR and _holds_dot(inst.regions[0]):
            alias.update(v.name for v in inst.results if v.type.space.is_tile_like)
            last = max(last, pos)
    if not alias:
        return frozenset()
    return frozenset(id(inst) for inst in order[last + 1:])


def counter_turns(fn: Function) -> dict[str, Inst]:
    """Bool scalars that test the old value of a scalar `td.atomic_add` for equality, by name ->
    the atomic. Programs adding 1 to a shared counter each see a different old value, so such a
    test holds in one program of those sharing the counter (how many: the grid axes the counter's
    address does not depend on, which the walk knows)."""
    tickets = {inst.results[0].name: inst for inst in walk(fn.body)
               if inst.op is Op.ATOMIC and inst.attr("kind") == "add" and inst.results
               and inst.results[0].type.space is Space.SCALAR}
    out: dict[str, Inst] = {}
    for inst in walk(fn.body):
        if inst.op is Op.EQ and inst.results:
            hit = [tickets[o.name] for o in inst.operands if o.name in tickets]
            if hit:
                out[inst.results[0].name] = hit[0]
    return out


def _holds_dot(block: Block) -> bool:
    return any(inst.op is Op.DOT for inst in walk(block))
