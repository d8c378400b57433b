"""The execution plan: an IR function compiled once per call into closures over value slots.

Why a plan: the interpreter runs the same insts many times (every program of a grid, every loop
iteration), so everything that does not depend on data is done once: value names become list
indices ("slots"), attrs and knobs are resolved to ints, constants are built, shapes are checked to
be static. A *step* is a closure ``step(env) -> None | generator``: plain ops return None;
control flow and the synchronizing thread ops (SHUFFLE, BARRIER) return a generator, so that a
thread region can run its threads in lockstep as coroutines (see `tiledsl.interp.threads`).
Every block runs as a generator (`run_block`); outside a thread region nothing ever yields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tiledsl.errors import InterpreterError, TiledslError
from tiledsl.ir.nodes import Block, Dim, Function, Inst, Sym, Type, Value
from tiledsl.ir.ops import Op

Env = list  # slot index -> torch.Tensor (or None before definition)
Step = Callable[[Env], "Iterator | None"]
Factory = Callable[[Inst, "Ctx"], Step]
Kernel = Callable[..., Any]  # a pure function of operand tensors -> result tensor (or None)


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """What a thread yields at a SHUFFLE or BARRIER: the inst (all threads must be at the same
    one), its per-thread payload, and how to turn all payloads into each thread's answer."""

    inst: Inst
    payload: Any
    resolve: Callable[[list[Any]], list[Any]]


@dataclass(slots=True)
class BlockPlan:
    args: tuple[int, ...]
    steps: tuple[Step, ...]
    insts: tuple[Inst, ...]  # the inst of each step, for error messages
    yields: tuple[int, ...] | None = None  # slots of the YIELD / RETURN operands, if any


def run_block(plan: BlockPlan, env: Env) -> Iterator[SyncRequest]:
    """Run a block's steps in order; the generator's return value is the yielded values."""
    i = 0
    try:
        for i, step in enumerate(plan.steps):  # noqa: B007 - i names the failing inst below
            r = step(env)
            if r is not None:
                yield from r
    except TiledslError:
        raise
    except Exception as e:  # a torch error inside an op: say which inst, where
        inst = plan.insts[i]
        raise InterpreterError(f"{inst.op.ir_name} failed: {type(e).__name__}: {e}", inst.loc) from e
    if plan.yields is None:
        return None
    return [env[s] for s in plan.yields]


def drive(gen: Iterator[SyncRequest]):
    """Run a block generator outside any thread region: nothing may synchronize there."""
    try:
        req = next(gen)
    except StopIteration as stop:
        return stop.value
    raise InterpreterError(f"{req.inst.op.ir_name} outside a threads region", req.inst.loc)


@dataclass
class Ctx:
    """What compiling a function for one call knows: slots, knob values, runtime sizes."""

    fn: Function
    rules: dict[Op, Factory]
    sizes: dict[str, int]  # "x.0" -> runtime size of axis 0 of parameter x
    knobs: dict[str, int | None]
    slots: dict[str, int] = field(default_factory=dict)
    in_threads: bool = False

    # --- slots ----------------------------------------------------------------------------------
    def slot(self, v: Value) -> int:
        s = self.slots.get(v.name)
        if s is None:
            s = self.slots[v.name] = len(self.slots)
        return s

    def slots_of(self, values) -> tuple[int, ...]:
        return tuple(self.slot(v) for v in values)

    # --- errors ---------------------------------------------------------------------------------
    def fail(self, inst: Inst | None, msg: str, hint: str | None = None):
        what = f"{inst.op.ir_name}: " if inst is not None else ""
        raise InterpreterError(f"{self.fn.name}: {what}{msg}", inst.loc if inst else None, hint)

    # --- dims and attrs -------------------------------------------------------------------------
    def dim(self, d: Dim | Sym, inst: Inst | None = None) -> int:
        """An int for a static dim, a knob (name or `Sym`) or a runtime size ``"x.0"``."""
        if isinstance(d, Sym):
            d = d.name
        if isinstance(d, bool) or not isinstance(d, (int, str)):
            self.fail(inst, f"{d!r} is not a size")
        if isinstance(d, int):
            return d
        if d in self.sizes:
            return self.sizes[d]
        if d in self.knobs:
            v = self.knobs[d]
            if v is None:
                self.fail(inst, f"knob {d} is still td.auto, so a tile shape is symbolic",
                          hint="schedule the function first (stage 'scheduled'), or give the knob a value")
            return v
        self.fail(inst, f"unknown size {d!r}: neither a knob nor a parameter's axis")
        raise AssertionError  # unreachable

    def shape(self, t: Type | tuple, inst: Inst | None = None) -> tuple[int, ...]:
        dims = t.shape if isinstance(t, Type) else t
        return tuple(self.dim(d, inst) for d in dims)

    def number(self, v, inst: Inst):
        """An attr that is a Python number or a knob `Sym` (e.g. ``const {value=BM}``)."""
        return self.dim(v, inst) if isinstance(v, Sym) else v

    def int_attr(self, inst: Inst, name: str, default=None) -> int | None:
        v = inst.attr(name, default)
        return None if v is None else self.dim(v, inst)

    # --- compiling ------------------------------------------------------------------------------
    def block(self, block: Block, threads: bool | None = None) -> BlockPlan:
        """Compile a region. `threads` marks a THREADS body (its ops run per thread)."""
        saved = self.in_threads
        if threads is not None:
            self.in_threads = threads
        try:
            return self._block(block)
        finally:
            self.in_threads = saved

    def _block(self, block: Block) -> BlockPlan:
        steps, insts, yields = [], [], None
        for n, inst in enumerate(block.insts):
            if inst.op in (Op.YIELD, Op.RETURN):
                if n != len(block.insts) - 1:
                    self.fail(inst, "must be the last inst of its block")
                yields = self.slots_of(inst.operands)
                continue
            self.check_static(inst)
            steps.append(self.rules[inst.op](inst, self))
            insts.append(inst)
        return BlockPlan(self.slots_of(block.args), tuple(steps), tuple(insts), yields)

    def check_static(self, inst: Inst) -> None:
        """Every tile-like result must have a shape the interpreter can resolve to ints."""
        for v in inst.results:
            if v.type.space.value != "global":
                self.shape(v.type, inst)


# --- binding pure kernels to slots ------------------------------------------------------------------
def bind(kernel: Kernel, ins: tuple[int, ...], out: int | None) -> Step:
    """A step that reads `ins`, calls `kernel` and stores its result in `out` (if any).
    Specialized by arity: this runs once per op execution, so it is kept tight."""
    n = len(ins)
    if out is None:
        def step(env):
            kernel(*[env[i] for i in ins])
        return step
    if n == 0:
        def step0(env):
            env[out] = kernel()
        return step0
    if n == 1:
        (a,) = ins

        def step1(env):
            env[out] = kernel(env[a])
        return step1
    if n == 2:
        a, b = ins

        def step2(env):
            env[out] = kernel(env[a], env[b])
        return step2

    def stepn(env):
        env[out] = kernel(*[env[i] for i in ins])
    return stepn


def pure(builder: Callable[[Inst, Ctx], Kernel]) -> Factory:
    """Turn `builder(inst, ctx) -> kernel(*operand tensors)` into a rule factory."""
    def factory(inst: Inst, ctx: Ctx) -> Step:
        kernel = builder(inst, ctx)
        out = ctx.slot(inst.results[0]) if inst.results else None
        return bind(kernel, ctx.slots_of(inst.operands), out)
    factory.__name__ = builder.__name__
    factory.__doc__ = builder.__doc__
    return factory


def keep_snapshot(inst: Inst, kernel: Kernel) -> Kernel:
    """Wrap a kernel that may return a view of its operand so that reading a buffer yields a
    snapshot: a later COPY into the buffer must not change a value already computed from it."""
    if not any(v.type.space.is_buffer for v in inst.operands):
        return kernel

    def snap(*xs):
        return kernel(*xs).clone()
    return snap
