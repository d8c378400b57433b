"""Which values feed a dot's operands: the one rule the cost model (`tiledsl.schedule.analysis`,
which prices those loads as shared-memory stages) and the placement fact of the scheduled IR
(`tiledsl.passes.analyses.shared_loads`, which the TileLang lowering reads) share, so the budget
the scheduler checks is the memory the backend uses.

A dot operand is reached through casts and transposes: a tile loaded, converted (an fp8 or f16
tile fed to a bf16 dot) and then fed to a dot is staged in shared memory at its loaded dtype, as
Triton's pipeliner stages the loads of a mixed-precision dot and as TileLang's dequantizing gemms
do (copy the tile into shared memory in the pipelined loop, convert it from there); a transposed
load is the gemm's transpose flag on the same shared buffer.

Also which stores are staged in shared memory for a bulk tensor copy (TMA) where the backend
stores epilogues that way (`tma_store_sites`): the scheduler budgets their buffers from the same
rule the scheduled IR's ``tma_store`` fact is computed from (`tiledsl.passes.analyses`).
"""

from __future__ import annotations

from tiledsl.ir.nodes import Block, Function, Inst, Space, walk
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import access_of, read_from, window_of, written

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


# --- TMA stores ---------------------------------------------------------------------------------

TMA_RANKS = (2, 3)  # the tensor ranks a descriptor access here handles


def tma_window(acc) -> bool:
    """A window a descriptor addresses (`acc`: an `optable.Access`): rank 2 or 3, one scalar
    integer offset of at most 32 bits per axis (TMA's coordinates are signed 32-bit)."""
    rank = acc.tensor.type.rank
    return rank in TMA_RANKS and len(acc.offsets) == rank and \
        all(o.type.rank == 0 and o.type.dtype.is_int and o.type.dtype.itemsize <= 4 for o in acc.offsets)


def _whole_tile_store(inst: Inst) -> bool:
    """An unmasked STORE into a global tensor of a 2-D tile (not a broadcast scalar, not a row:
    a row, such as an attention epilogue's log-sum-exp, is already in a layout pointer stores
    write well, and its TMA variant made ptxas spill in the MLA split pass) through a window a
    descriptor addresses."""
    acc = access_of(inst)
    if inst.op is not Op.STORE or acc is None or inst.attr("masked") or not tma_window(acc):
        return False
    kept = len(acc.offsets) if acc.shape is None else sum(d is not None for d in acc.shape)
    (value,) = window_of(inst).rest
    return kept == 2 and value.type.rank == kept


def tma_store_sites(fn: Function) -> dict[int, Inst]:
    """``id(inst)`` -> STORE for the epilogue stores that may go through a descriptor whatever the
    knob values: whole 2-D tile stores outside every loop (once per program), after a pipelined loop
    (where the tile leaves the tensor cores' layout), into a tensor no other instruction of the
    kernel reads or writes (a TMA store runs in the async proxy, unordered with the program's
    generic-proxy accesses of that memory and with a second bulk store to it). The window's
    static shape and alignment are checked by the ``tma_store`` fact, the box limits by the
    backend."""
    uses: dict[str, int] = {}  # global tensor -> instructions that read or write it
    sites: dict[int, Inst] = {}

    def visit(block: Block, in_loop: bool, after_pipelined: bool) -> bool:
        for inst in block.insts:
            for t in {v.name for v in (written(inst), read_from(inst))
                      if v is not None and v.type.space is Space.GLOBAL}:
                uses[t] = uses.get(t, 0) + 1
            if not in_loop and after_pipelined and _whole_tile_store(inst):
                sites[id(inst)] = inst
            loop = inst.op is Op.FOR
            seen = [visit(r, in_loop or loop, after_pipelined) for r in inst.regions]
            after_pipelined = after_pipelined or any(seen) or (loop and inst.attr("stages") is not None)
        return after_pipelined

    visit(fn.body, False, False)
    return {k: i for k, i in sites.items() if uses[i.operands[0].name] == 1}
