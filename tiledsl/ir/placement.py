"""Which values feed a dot's operands: the one rule the cost model (`tiledsl.schedule.analysis`,
which prices those loads as shared-memory stages) and the placement fact of the scheduled IR
(`tiledsl.passes.analyses.shared_loads`, which the TileLang lowering reads) share, so the budget
the scheduler checks is the memory the backend uses.

A dot operand is reached through casts and transposes: a tile loaded, converted (an fp8 or f16
tile fed to a bf16 dot) and then fed to a dot is staged in shared memory at its loaded dtype, as
Triton's pipeliner stages the loads of a mixed-precision dot and as TileLang's dequantizing gemms
do (copy the tile into shared memory in the pipelined loop, convert it from there); a transposed
load is the gemm's transpose flag on the same shared buffer.
"""

from __future__ import annotations

from tiledsl.ir.nodes import Block, Inst, walk
from tiledsl.ir.ops import Op

FEEDS_DOT_THROUGH = frozenset({Op.CAST, Op.TRANSPOSE})


def dot_feeders(block: Block) -> set[str]:
    """Names of the values that reach a DOT's A or B operand directly or through casts and
    transposes (the operands themselves included)."""
    defs: dict[str, Inst] = {}
    dots: list[Inst] = []
    for inst in walk(block):
        for v in inst.results:
            defs[v.name] = inst
        if inst.op is Op.DOT:
            dots.append(inst)
    out: set[str] = set()
    todo = [v for d in dots for v in d.operands[:2]]
    while todo:
        v = todo.pop()
        if v.name in out:
            continue
        out.add(v.name)
        inst = defs.get(v.name)
        if inst is not None and inst.op in FEEDS_DOT_THROUGH:
            todo.append(inst.operands[0])
    return out


def dot_fed_loads(block: Block) -> set[str]:
    """The LOAD results among `dot_feeders`: the loads placed in shared memory."""
    feeders = dot_feeders(block)
    return {i.result.name for i in walk(block) if i.op is Op.LOAD and i.result.name in feeders}
