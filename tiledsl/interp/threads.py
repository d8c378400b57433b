"""Interpreter rules of the thread level: THREADS, SHUFFLE, BARRIER, LAYOUT (ALLOC_LOCAL is a
per-thread `memory` rule).

How threads run: a THREADS region starts one coroutine per thread, each running the region's plan
on its own copy of the value slots (so per-thread values stay per-thread, while buffers allocated
outside, such as shared memory, are the same tensors for all threads). The coroutines run in
lockstep: each runs until its next SHUFFLE or BARRIER and yields a `SyncRequest`; when every
thread waits at the same inst, the request is resolved for all of them at once and they resume.
Between two synchronization points threads run one after another in thread-id order, which is a
legal interleaving of a GPU block (a program whose result depends on it has a race).

- BARRIER: nothing to exchange; lockstep already orders all writes before it before all reads
  after it. Outside a THREADS region (block level) it is a no-op.
- SHUFFLE (warps of 32 lanes, split in segments of `width`): ``xor`` reads lane ``l ^ m``,
  ``down`` ``l + d``, ``up`` ``l - d``, ``idx`` lane ``k % width`` of the segment. A source outside
  the caller's segment (or past the last thread) gives the caller its own value, as CUDA's
  ``__shfl_*_sync`` does.
- LAYOUT (swizzle) changes where bytes sit in shared memory, never what a load returns: a no-op.

Threads that reach different synchronization points (divergence), or a barrier that only some
threads reach, are errors: on a GPU they deadlock or are undefined.
"""

from __future__ import annotations

from tiledsl.dtypes import DType
from tiledsl.errors import InterpreterError
from tiledsl.interp.plan import BlockPlan, Ctx, Env, Factory, Step, SyncRequest, run_block
from tiledsl.interp.values import int_scalar
from tiledsl.ir.nodes import Inst
from tiledsl.ir.ops import Op

WARP = 32
_DONE = object()


def _advance(gen, send):
    try:
        return gen.send(send)
    except StopIteration:
        return _DONE


def run_threads(body: BlockPlan, env: Env, count: int, inst: Inst) -> None:
    """Run `body` once per thread, in lockstep between synchronization points."""
    tid_slot = body.args[0]
    gens = []
    for tid in range(count):
        tenv = env.copy()
        tenv[tid_slot] = int_scalar(tid, DType.i32)
        gens.append(run_block(body, tenv))
    answers: list = [None] * count
    while True:
        reqs = [_advance(g, a) for g, a in zip(gens, answers)]
        waiting = [r for r in reqs if r is not _DONE]
        if not waiting:
            return
        first = waiting[0].inst
        if len(waiting) != count:
            done = [t for t, r in enumerate(reqs) if r is _DONE]
            raise InterpreterError(
                f"threads {_ids(done)} finished while the others wait at {first.op.ir_name}; "
                "every thread must reach each barrier and shuffle", first.loc)
        for t, r in enumerate(reqs):
            if r.inst is not first:
                raise InterpreterError(
                    f"threads diverged: thread 0 waits at {first.op.ir_name} ({first.loc}) and thread "
                    f"{t} at {r.inst.op.ir_name} ({r.inst.loc}); synchronize outside divergent code",
                    r.inst.loc)
        answers = reqs[0].resolve([r.payload for r in reqs])


def _ids(ts: list[int]) -> str:
    return ", ".join(map(str, ts[:8])) + (", ..." if len(ts) > 8 else "")


def _threads(inst: Inst, ctx: Ctx) -> Step:
    count = ctx.int_attr(inst, "count")
    if count is None or count <= 0:
        ctx.fail(inst, f"thread count must be a positive int, got {inst.attr('count')!r}")
    if ctx.in_threads:
        ctx.fail(inst, "threads regions do not nest")
    body = ctx.block(inst.regions[0], threads=True)

    def threads(env: Env):
        run_threads(body, env, count, inst)
    return threads


# --- SHUFFLE -----------------------------------------------------------------------------------------
def source_lane(mode: str, tid: int, lane: int, width: int, count: int) -> int:
    """The thread whose value `tid` receives (itself when the source is out of its segment)."""
    base = tid - tid % WARP
    lane_id = tid % WARP
    seg = lane_id - lane_id % width  # first lane of the caller's segment
    if mode == "xor":
        j = lane_id ^ lane
    elif mode == "down":
        j = lane_id + lane
    elif mode == "up":
        j = lane_id - lane
    else:
        j = seg + lane % width
    if mode == "up":
        ok = j >= seg
    elif mode == "xor":
        ok = 0 <= j < seg + width  # earlier segments are reachable by xor, later ones are not
    else:
        ok = j < seg + width
    src = base + j
    return src if ok and src < count else tid


def _shuffle(inst: Inst, ctx: Ctx) -> Step:
    if not ctx.in_threads:
        ctx.fail(inst, "shuffle outside a threads region")
    value, lane = ctx.slots_of(inst.operands)
    out = ctx.slot(inst.result)
    mode = inst.attr("mode")
    width = ctx.int_attr(inst, "width", WARP)
    if width not in (1, 2, 4, 8, 16, 32):
        ctx.fail(inst, f"shuffle width must be a power of two up to {WARP}, got {width}")

    def resolve(payloads: list) -> list:
        n = len(payloads)
        return [payloads[source_lane(mode, t, payloads[t][1], width, n)][0] for t in range(n)]

    def shuffle(env: Env):
        env[out] = yield SyncRequest(inst, (env[value], int(env[lane])), resolve)
    return shuffle


def _barrier(inst: Inst, ctx: Ctx) -> Step:
    if not ctx.in_threads:
        return lambda env: None

    def resolve(payloads: list) -> list:
        return [None] * len(payloads)

    def barrier(env: Env):
        yield SyncRequest(inst, None, resolve)
    return barrier


def _layout(inst: Inst, ctx: Ctx) -> Step:
    return lambda env: None


RULES: dict[Op, Factory] = {
    Op.THREADS: _threads,
    Op.SHUFFLE: _shuffle,
    Op.BARRIER: _barrier,
    Op.LAYOUT: _layout,
}
