"""Interpreter rules of control flow: FOR, IF, GRID, WARP_ROLE.

- FOR runs ``range(start, stop, step)``; its ``stages`` attr (software pipelining depth) is only a
  hint for code generation: a pipelined loop computes exactly what the plain loop computes, so the
  interpreter runs it as a plain loop.
- IF runs one of its regions; a missing else region yields nothing.
- GRID runs every program in order, the last grid axis varying fastest
  (``itertools.product`` order); program ids are i32 scalars. Programs of a real launch run in any
  order and concurrently; a kernel whose result depends on that order is racy on a GPU.
- WARP_ROLE runs its region where it stands, in program order (so a producer region placed before
  its consumer fills the buffers the consumer then reads). A warp-specialized block on a GPU runs
  the two concurrently, handing buffers over through barriers; the interpreter does not model that
  handoff, so a producer that must wait for the consumer to free a ring-buffer slot is not run the
  way the GPU runs it.
"""

from __future__ import annotations

import itertools

from tiledsl.dtypes import DType
from tiledsl.errors import InterpreterError
from tiledsl.interp.plan import BlockPlan, Ctx, Env, Factory, Step, run_block
from tiledsl.interp.values import int_scalar
from tiledsl.ir.nodes import Inst
from tiledsl.ir.ops import Op


def _for(inst: Inst, ctx: Ctx) -> Step:
    start, stop, step_, *inits = ctx.slots_of(inst.operands)
    body = ctx.block(inst.regions[0])
    iv, *carried = body.args
    iv_dt = inst.regions[0].args[0].type.dtype
    outs = ctx.slots_of(inst.results)

    def loop(env: Env):
        lo, hi, st = int(env[start]), int(env[stop]), int(env[step_])
        if st == 0:
            raise InterpreterError("loop step is 0", inst.loc)
        values = [env[i] for i in inits]
        for i in range(lo, hi, st):
            env[iv] = int_scalar(i, iv_dt)
            for s, v in zip(carried, values):
                env[s] = v
            values = yield from run_block(body, env)
        for s, v in zip(outs, values):
            env[s] = v
    return loop


def _if(inst: Inst, ctx: Ctx) -> Step:
    (cond,) = ctx.slots_of(inst.operands)
    then = ctx.block(inst.regions[0])
    other = ctx.block(inst.regions[1]) if len(inst.regions) > 1 else None
    outs = ctx.slots_of(inst.results)
    if other is None and outs:
        ctx.fail(inst, "an if with results needs an else region")

    def branch(env: Env):
        region = then if bool(env[cond]) else other
        if region is None:
            return
        values = yield from run_block(region, env)
        for s, v in zip(outs, values or ()):
            env[s] = v
    return branch


def _grid(inst: Inst, ctx: Ctx) -> Step:
    sizes = ctx.slots_of(inst.operands)
    body = ctx.block(inst.regions[0])
    pids = body.args

    def grid(env: Env):
        ranges = [range(int(env[s])) for s in sizes]
        for ids in itertools.product(*ranges):
            for s, i in zip(pids, ids):
                env[s] = int_scalar(i, DType.i32)
            yield from run_block(body, env)
    return grid


def _region(inst: Inst, ctx: Ctx) -> Step:
    """WARP_ROLE: run the region in program order (see the module docstring)."""
    body: BlockPlan = ctx.block(inst.regions[0])

    def role(env: Env):
        yield from run_block(body, env)
    return role


RULES: dict[Op, Factory] = {
    Op.FOR: _for,
    Op.IF: _if,
    Op.GRID: _grid,
    Op.WARP_ROLE: _region,
}
