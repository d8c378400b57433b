"""The IR verifier: SSA scoping, types against the op rules, and what may remain at each stage.

Stages, in pipeline order, and what each allows (``STAGES``):

- ``ir``: straight from the front end; every group; knobs may be ``auto`` and tile shapes symbolic.
- ``scheduled``: no DATAFLOW ops and no whole-tensor values besides parameters; every knob has a
  value; every tile shape is static; tile ops sit inside a grid, thread ops inside a thread region.
- ``triton`` / ``tilelang``: ``scheduled`` for that backend: without THREAD ops where its capability
  record (`tiledsl.capabilities`) has no thread level (Triton). The user-facing refusal is the
  legality pass's (`tiledsl.passes.legality`); this is the invariant of the stage.
"""

from __future__ import annotations

from tiledsl.capabilities import TILELANG, TRITON, Capabilities
from tiledsl.errors import TypeCheckError, VerifyError
from tiledsl.ir import schema
from tiledsl.ir.dims import is_knob_dim
from tiledsl.ir.infer import Unifier, infer
from tiledsl.ir.nodes import Block, Function, Inst, Space, Type, Value, attr_syms
from tiledsl.ir.ops import Group, Op

ALL = frozenset(Group)


def _backend_stage(caps: Capabilities) -> frozenset[Group]:
    return ALL - {Group.DATAFLOW} - (set() if caps.thread_level else {Group.THREAD})


STAGES: dict[str, frozenset[Group]] = {
    "ir": ALL,
    "scheduled": ALL - {Group.DATAFLOW},
    "triton": _backend_stage(TRITON),
    "tilelang": _backend_stage(TILELANG),
}
_NEEDS_GRID = frozenset({Op.LOAD, Op.STORE, Op.ATOMIC, Op.ARANGE, Op.FULL, Op.DOT, Op.TILE_REDUCE,
                         Op.SCAN, Op.ALLOC, Op.COPY, Op.THREADS, Op.WARP_ROLE})
_NEEDS_THREADS = frozenset({Op.ALLOC_LOCAL, Op.SHUFFLE})
_REGIONS = {Op.FOR: 1, Op.IF: 2, Op.GRID: 1, Op.THREADS: 1, Op.WARP_ROLE: 1}  # others take none


def verify(fn: Function, stage: str = "ir") -> Function:
    """Return `fn` unchanged if it is valid for `stage`; raise `VerifyError` saying what is not."""
    if stage not in STAGES:
        raise VerifyError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    _Verifier(fn, stage).run()
    return fn


class _Verifier:
    def __init__(self, fn: Function, stage: str):
        self.fn, self.stage = fn, stage
        self.allowed = STAGES[stage]
        self.scheduled = stage != "ir"
        self.knobs = {k.name for k in fn.knobs}
        self.names: dict[str, Type] = {}  # names are unique per function: name -> defined type
        self.position: list[int] = []  # index of the inst being checked in each enclosing block
        self.unifier = Unifier(set(), record=False)

    def fail(self, inst: Inst | None, msg: str):
        """Raise a `VerifyError` naming the inst: its source location, or (IR text without
        locations) its first result, so the message always says where."""
        where = ""
        if inst is not None and inst.loc:
            where = f" (at {inst.loc})"
        elif inst is not None and inst.results:
            where = f" (defining %{inst.results[0].name})"
        elif inst is not None and inst.operands:
            where = f" (using %{inst.operands[0].name})"
        elif inst is not None:
            where = f" (inst {' > '.join(str(n + 1) for n in self.position)} of the function body)"
        elif self.fn.loc is not None:
            where = f" (function at {self.fn.loc})"
        what = f"{inst.op.ir_name}: " if inst is not None else ""
        raise VerifyError(f"{self.fn.name}: {what}{msg}{where}", inst.loc if inst is not None else None)

    def run(self):
        problem = schema.check_function(self.fn)
        if problem is not None:
            self.fail(None, problem)
        # the Unifier keys pairs in sorted order; an attr written by hand may not be
        self.unifier.assumptions = {tuple(sorted(p)) for p in self.fn.attr("assume") or ()}
        if self.scheduled:
            for k in self.fn.knobs:
                if k.value is None:
                    self.fail(None, f"knob {k.name} is still auto at stage {self.stage}")
        scope: set[str] = set()
        for p in self.fn.params:
            self.define(None, p.value, scope)
        self.block(self.fn.body, scope, grid=False, threads=False, parent=None)

    def define(self, inst, v: Value, scope: set[str]):
        if v.name in self.names:
            self.fail(inst, f"value %{v.name} is defined twice")
        self.names[v.name] = v.type
        scope.add(v.name)
        self.check_type(inst, v.type)

    def check_type(self, inst, t: Type):
        for d in t.shape:
            if is_knob_dim(d) and d not in self.knobs:
                self.fail(inst, f"shape {t} names {d!r}, which is neither a knob nor a tensor size")
        if self.scheduled and t.space is not Space.GLOBAL and not t.is_static:
            self.fail(inst, f"type {t} is not static after scheduling")

    def block(self, block: Block, scope: set[str], grid: bool, threads: bool, parent: Op | None):
        scope = set(scope)
        for a in block.args:
            self.define(None, a, scope)
        self.position.append(0)
        for n, inst in enumerate(block.insts):
            self.position[-1] = n
            if inst.op is Op.YIELD and (parent not in (Op.FOR, Op.IF) or n != len(block.insts) - 1):
                self.fail(inst, "yield may only end the region of a for or an if")
            self.inst(inst, scope, grid, threads)
        self.position.pop()

    def inst(self, inst: Inst, scope: set[str], grid: bool, threads: bool):
        op = inst.op
        if op.group not in self.allowed:
            self.fail(inst, f"{op.group.value} ops may not remain at stage {self.stage}")
        problem = schema.check_inst(inst, static=self.scheduled)  # operand count and attr forms, before any rule reads them
        if problem is not None:
            self.fail(inst, problem)
        for v in inst.operands:
            if v.name not in scope:
                self.fail(inst, f"operand %{v.name} is not defined before this use")
            if v.type != self.names[v.name]:
                self.fail(inst, f"operand %{v.name} is used as {v.type} but defined as {self.names[v.name]}")
        if len(inst.regions) != _REGIONS.get(op, 0):
            self.fail(inst, f"takes {_REGIONS.get(op, 0)} region(s), has {len(inst.regions)}")
        if self.scheduled:
            if op in _NEEDS_GRID and not grid:
                self.fail(inst, "tile op outside a grid")
            if op in _NEEDS_THREADS and not threads:
                self.fail(inst, "thread op outside a thread region")
            for v in inst.results:
                if v.type.space is Space.GLOBAL:
                    self.fail(inst, f"whole-tensor value %{v.name} remains after scheduling")
        for _, a in inst.attrs:
            for s in attr_syms(a):
                if s not in self.knobs:
                    self.fail(inst, f"attr names knob {s!r}, which the function does not declare")
        self.types(inst)
        for r in inst.regions:
            self.region_end(inst, r)
            self.block(r, scope, grid or op is Op.GRID, threads or op is Op.THREADS, parent=op)
        for v in inst.results:
            self.define(inst, v, scope)

    def region_end(self, inst: Inst, r: Block):
        if inst.op in (Op.FOR, Op.IF):
            if not r.insts or r.insts[-1].op is not Op.YIELD:
                self.fail(inst, "region does not end in yield")
            got = tuple(v.type for v in r.insts[-1].operands)
            want = tuple(v.type for v in inst.results)
            if got != want:
                self.fail(inst, f"region yields {_ts(got)} but the op produces {_ts(want)}")
        for i in r.insts[:-1]:
            if i.op is Op.YIELD:
                self.fail(i, "yield before the end of its region")

    def types(self, inst: Inst):
        attrs = dict(inst.attrs)
        try:
            want = infer(inst.op, tuple(v.type for v in inst.operands), attrs, self.unifier)
        except TypeCheckError as e:
            self.fail(inst, str(e))
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, ArithmeticError) as e:
            # a form `schema` does not know yet: still a VerifyError at the inst, never a crash
            self.fail(inst, f"malformed operands or attrs ({type(e).__name__}: {e})")
        got = tuple(v.type for v in inst.results)
        if inst.op is Op.IF:
            return
        if inst.op is Op.FOR:
            body = inst.regions[0] if inst.regions else None
            if body is None or len(body.args) != 1 + len(inst.results):
                self.fail(inst, "loop body must take the induction variable and each carried value")
            iv = body.args[0].type
            if iv.space is not Space.SCALAR or not iv.dtype.is_int:
                self.fail(inst, "induction variable must be an integer scalar")
            carried = tuple(a.type for a in body.args[1:])
            if carried != want or got != want:
                self.fail(inst, f"carried types {_ts(carried)} / results {_ts(got)} differ from inits {_ts(want)}")
            return
        if inst.op is Op.GRID:
            if len(inst.regions) != 1 or len(inst.regions[0].args) != len(inst.operands):
                self.fail(inst, "grid body must take one program id per grid axis")
            return
        if got != want:
            self.fail(inst, f"results typed {_ts(got)}, the op rule gives {_ts(want)}")


def _ts(types) -> str:
    return "(" + ", ".join(str(t) for t in types) + ")"
