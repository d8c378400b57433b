"""`fuse_dot_acc`: ``add(acc, dot(a, b))`` becomes ``dot(a, b, acc)``.

Both backends accumulate in place when the accumulator is an operand of the dot (Triton's
``tl.dot(a, b, acc)``, TileLang's ``T.gemm(a, b, acc)``); a separate product tile costs a second
accumulator's worth of registers. The dot must have no other use. The accumulator is a tile value
(``acc = acc + td.dot(...)`` in a loop) or an on-chip buffer updated in place (``buf +=
td.dot(...)``, i.e. an add whose only use is the copy back into ``buf``). The dot moves down to
the add, so nothing in between may write a buffer it reads.

Before::

    %dot = dot %a_tile, %b_tile {dtype=f32} : tile<f32[128,128]>
    %acc_2 = add %acc_1, %dot : tile<f32[128,128]>

After::

    %acc_2 = dot %a_tile, %b_tile, %acc_1 {dtype=f32} : tile<f32[128,128]>
"""

from __future__ import annotations

from collections import Counter

from tiledsl.ir.nodes import Block, Function, Inst
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import WRITES_MEMORY


def fuse_dot_acc(fn: Function) -> Function:
    uses: Counter = Counter()
    _count_uses(fn.body, uses)
    return Function(fn.name, fn.params, fn.knobs, _block(fn.body, uses), fn.loc, fn.attrs)


def _count_uses(b: Block, uses: Counter) -> None:
    for inst in b.insts:
        uses.update(v.name for v in inst.operands)
        for r in inst.regions:
            _count_uses(r, uses)


def _block(b: Block, uses: Counter) -> Block:
    dots = {i.result.name: i for i in b.insts if i.op is Op.DOT and len(i.operands) == 2}
    position = {i.result.name: n for n, i in enumerate(b.insts) if i.op is Op.DOT}
    # adds whose only use is the copy back into their buffer operand: ``buf += dot``
    copied_back = {i.operands[0].name: i.operands[1].name for i in b.insts
                   if i.op is Op.COPY and len(i.operands) == 2 and i.operands[1].type.space.is_buffer}
    fused: set[str] = set()
    out: list[Inst] = []
    for n, inst in enumerate(b.insts):
        if inst.regions:
            inst = Inst(inst.op, inst.results, inst.operands, inst.attrs,
                        tuple(_block(r, uses) for r in inst.regions), inst.loc)
        if inst.op is Op.ADD:
            for pos in (0, 1):
                d = dots.get(inst.operands[pos].name)
                acc = inst.operands[1 - pos]
                if d is None or uses[d.result.name] != 1 \
                        or _operands_written(d, b.insts[position[d.result.name] + 1:n]):
                    continue
                same = acc.type == inst.result.type and acc.type == d.result.type
                in_place = (acc.type.space.is_buffer and copied_back.get(inst.result.name) == acc.name
                            and uses[inst.result.name] == 1 and acc.type.dtype is d.result.type.dtype
                            and tuple(acc.type.shape) == tuple(d.result.type.shape))
                if (same and not acc.type.space.is_buffer) or in_place:
                    inst = Inst(Op.DOT, inst.results, (*d.operands, acc), d.attrs, (), d.loc)
                    fused.add(d.result.name)
                    break
        out.append(inst)
    return Block(b.args, tuple(i for i in out if not (i.op is Op.DOT and i.results[0].name in fused)))


def _operands_written(dot: Inst, between) -> bool:
    """Whether an inst between the dot and its add may write a buffer the dot reads: moving the
    dot down to the add would then read the new contents."""
    bufs = {v.name for v in dot.operands if v.type.space.is_buffer}
    if not bufs:
        return False
    for inst in between:
        if inst.regions:
            return True
        # an op that writes memory, or a dot (TileLang accumulates into a buffer operand in place)
        if (inst.op in WRITES_MEMORY or inst.op is Op.DOT) and any(v.name in bufs for v in inst.operands):
            return True
    return False
