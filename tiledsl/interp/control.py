"""Interpreter rules of control flow: FOR, IF, GRID, WARP_ROLE.

- FOR runs ``range(start, stop, step)``; its ``stages`` attr (software pipelining depth) is only a
  hint for code generation: a pipelined loop computes exactly what the plain loop computes, so the
  interpreter runs it as a plain loop.
- IF runs one of its regions; a missing else region yields nothing.
- GRID runs every program one after another in a GPU's launch order: axis 0 varies fastest
  (``blockIdx.x`` first), or, with ``group_m``, Triton's grouped order (``group_m`` ids of axis 0
  per id of axis 1, then the next group; a third axis outermost). Program ids are i32 scalars.
  Programs of a real launch also run concurrently; a kernel whose result depends on their order
  is racy on a GPU, and here it sees this one legal order.
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


def launch_order(sizes: list[int], group_m: int | None) -> list[tuple[int, ...]]:
    """Program ids in launch order (see the module docstring)."""
    if group_m is None or len(sizes) < 2:
        return [tuple(reversed(ids)) for ids in itertools.product(*[range(n) for n in reversed(sizes)])]
    n_m, n_n = sizes[0], sizes[1]
    rest = [range(n) for n in reversed(sizes[2:])]
    in_group = group_m * n_n
    plane = []
    for pid in range(n_m * n_n):
        first_m = (pid // in_group) * group_m
        size_m = min(n_m - first_m, group_m)
        plane.append((first_m + (pid % in_group) % size_m, (pid % in_group) // size_m))
    return [(m, n, *reversed(outer)) for outer in itertools.product(*rest) for m, n in plane]


def _grid(inst: Inst, ctx: Ctx) -> Step:
    sizes = ctx.slots_of(inst.operands)
    body = ctx.block(inst.regions[0])
    pids = body.args
    group_m = ctx.int_attr(inst, "group_m")
    if group_m is not None and group_m <= 0:
        ctx.fail(inst, f"group_m must be positive, got {group_m}")

    def grid(env: Env):
        for ids in launch_order([int(env[s]) for s in sizes], group_m):
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
