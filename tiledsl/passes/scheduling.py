"""The scheduling passes: level 1 -> level 2, knob choice, knob substitution.

Before/after, for ``softmax(x)`` at level 1::

    %m = reduce(%x) {kind=max, axis=1, keepdims=true} ...; return %o
  lower_level1 ->
    grid(cdiv(x.0, BLOCK_M)) { load x [BLOCK_M, 8192]; tile_reduce ...; store out }   knobs BLOCK_M=auto
  choose_knobs ->
    the same, knobs BLOCK_M=1 num_warps=8 (the cost model's best point for the specs and target)
  substitute_knobs ->
    grid(...) { load x [1, 8192] ... }   (no knob names left in types or attrs)
"""

from __future__ import annotations

from dataclasses import dataclass

from tiledsl.errors import ScheduleError
from tiledsl.ir.nodes import Block, Function, Inst, Knob, Sym, walk
from tiledsl.ir.ops import Group, Op
from tiledsl.passes.lower1 import is_level1, lower_level1
from tiledsl.passes.registry import PassContext, register
from tiledsl.passes.substitute import substitute_knobs
from tiledsl.schedule.analysis import tensor_sizes
from tiledsl.schedule.roles import SPLIT, knob_roles
from tiledsl.schedule.space import rank


@register
@dataclass(frozen=True)
class ComputeInF32:
    """Transcendentals and sums/products/scans of f16/bf16/fp8 values compute in f32 and round
    once (`tiledsl.passes.numerics`)."""

    name = "compute_in_f32"

    def __call__(self, fn: Function, ctx: PassContext) -> Function:
        from tiledsl.passes.numerics import compute_in_f32

        return compute_in_f32(fn)


@register
@dataclass(frozen=True)
class LowerLevel1:
    """Whole-tensor (level-1) code -> one fused tile program with auto knobs; level 2/3 code
    passes through unchanged."""

    name = "lower_level1"

    def __call__(self, fn: Function, ctx: PassContext) -> Function:
        ops = {i.op for i in walk(fn.body)}
        if Op.GRID in ops and any(o.group is Group.DATAFLOW for o in ops):
            bad = next(i for i in walk(fn.body) if i.op.group is Group.DATAFLOW)
            raise ScheduleError(f"{fn.name}: {bad.op.ir_name} on whole tensors next to a tile program",
                                bad.loc, "move the whole-tensor code into its own kernel, or use tiles")
        return lower_level1(fn, ctx.specs, ctx.target) if is_level1(fn) else fn


@register
@dataclass(frozen=True)
class ChooseKnobs:
    """Give every auto knob the value of the cost model's best point; `values` forces some knobs
    (the autotuner's pick); the ranked top `top_n` is left in ``ctx.memo["ranking"]``."""

    name = "choose_knobs"
    top_n: int = 8
    values: tuple[tuple[str, int], ...] = ()

    def __call__(self, fn: Function, ctx: PassContext) -> Function:
        knobs = knob_roles(fn)
        ranking = rank(fn, knobs, tensor_sizes(fn, ctx.specs), ctx.target, dict(self.values), self.top_n,
                       caps=ctx.caps)
        ctx.memo["ranking"] = ranking
        best = ranking[0].schedule.as_dict()
        return Function(fn.name, fn.params, tuple(Knob(k.name, best.get(k.name, k.value)) for k in fn.knobs),
                        fn.body, fn.loc, fn.attrs)


@register
@dataclass(frozen=True)
class SubstituteKnobs:
    """Knob names in types and `Sym` attrs -> the knobs' values (all knobs must have one)."""

    name = "substitute_knobs"

    def __call__(self, fn: Function, ctx: PassContext) -> Function:
        missing = [k.name for k in fn.knobs if k.value is None]
        if missing:
            raise ScheduleError(f"{fn.name}: knobs {', '.join(missing)} have no value; run choose_knobs first",
                                fn.loc)
        return substitute_knobs(fn, {k.name: k.value for k in fn.knobs})


SCHEDULE_PASSES = ("lower_level1", "choose_knobs", "substitute_knobs")


@register
@dataclass(frozen=True)
class Cleanup:
    """Constant folding, CSE and DCE (`tiledsl.passes.cleanup`)."""

    name = "cleanup"

    def __call__(self, fn: Function, ctx: PassContext) -> Function:
        from tiledsl.passes.cleanup import cleanup

        return cleanup(fn)


@register
@dataclass(frozen=True)
class FuseDotAcc:
    """``acc + dot(a, b)`` -> ``dot(a, b, acc)`` (`tiledsl.passes.fuse_dot`)."""

    name = "fuse_dot_acc"

    def __call__(self, fn: Function, ctx: PassContext) -> Function:
        from tiledsl.passes.fuse_dot import fuse_dot_acc

        return fuse_dot_acc(fn)


@register
@dataclass(frozen=True)
class Rasterize:
    """A 2-D grid of tile programs that multiply tiles (or a 3-D one: a split axis last) gets a
    grouped launch order over its first two axes, its group size a new auto knob the cost model
    chooses (L2 reuse of the operand tiles). Programs are
    unordered on a GPU, so the order is free to choose; a grid that already has ``group_m``, and
    a kernel that has no dot, are left alone."""

    name = "rasterize"

    def __call__(self, fn: Function, ctx: PassContext) -> Function:
        grids = [i for i in fn.body.insts if i.op is Op.GRID]
        if len(grids) != 1 or not self._tile_grid(fn, grids[0]) or grids[0].attr("group_m") is not None:
            return fn
        if not any(i.op is Op.DOT for i in walk(grids[0].regions[0])):
            return fn
        names = {k.name for k in fn.knobs}
        knob, n = "GROUP_M", 0
        while knob in names:
            n += 1
            knob = f"GROUP_M_{n}"
        g = grids[0]
        new = Inst(g.op, g.results, g.operands, g.attrs + (("group_m", Sym(knob)),), g.regions, g.loc)
        body = Block(fn.body.args, tuple(new if i is g else i for i in fn.body.insts))
        knobs = tuple(k for k in fn.knobs if k.name != "num_warps") + (Knob(knob, None),) + \
            tuple(k for k in fn.knobs if k.name == "num_warps")
        return Function(fn.name, fn.params, knobs, body, fn.loc, fn.attrs)

    @staticmethod
    def _tile_grid(fn: Function, grid: Inst) -> bool:
        """Two axes, or three whose last is a split factor of 1 (a SPLIT knob the call fixes at
        1: the plain GEMM of `kernels/gemm.py`). A split grid is left in its order: it is split
        because its tiles are few, and a group knob there only doubled the search (60 ms). Other
        third axes (MLA's split count, a tensor's size) too: grouping them cost 80 spilled
        registers."""
        if len(grid.operands) == 2:
            return True
        if len(grid.operands) != 3:
            return False
        third = next((i for i in fn.body.insts if i.results and i.results[0].name == grid.operands[2].name), None)
        if third is None or third.op is not Op.CONST:
            return False
        v = third.attr("value")
        return v == 1 and not isinstance(v, bool) and any(k.role == SPLIT and k.value == 1 for k in knob_roles(fn))
