"""The compiler pipeline: one flat list, each step with the reason it stands where it does.

`run_pipeline` takes the front end's IR (stage "ir") to the scheduled IR a backend lowers;
`schedule_passes` is the list of passes the scheduler (`schedule`) runs, which the autotuner
(`tiledsl.tune`) also runs for each candidate. Every pass is pure (Function -> Function) and
registered by name in `tiledsl.passes.PASSES`; `run_passes` is the one loop that applies passes,
and `trace` returns the IR after each one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from tiledsl import backends
from tiledsl.ir.nodes import Function
from tiledsl.ir.verify import verify
from tiledsl.passes.legality import check as check_legal
from tiledsl.passes.registry import Pass, PassContext
from tiledsl.schedule.records import Schedule, Scheduled
from tiledsl.targets import Target, get_target

# (fn, specs, target) -> Scheduled: how `run_pipeline` schedules (the cost model's `schedule`, or
# the autotuner the runtime hands in)
Scheduler = Callable[[Function, tuple, Target], Scheduled]

STAGE_FOR_BACKEND = {"ir": "scheduled", **{name: name for name in backends.NAMES}}


def schedule_passes(top_n: int, forced: tuple = ()) -> list:
    from tiledsl.passes.analyses import AnalyzeFacts
    from tiledsl.passes.scheduling import (
        ChooseKnobs,
        Cleanup,
        ComputeInF32,
        FuseDotAcc,
        LowerLevel1,
        Rasterize,
        SubstituteKnobs,
    )

    return [
        # torch's numerics first (f16/bf16 exp, log, ..., sums compute in f32 and round once), on
        # the user's IR at every level: the level-1 lowering then builds f32 accumulators and
        # masks, the cost model prices the f32 tiles, and every backend emits the same casts
        ComputeInF32(),
        # level 1 -> level 2 next: every later pass sees only tile programs, and the knobs it
        # creates (block sizes of the fused program) are chosen with the user's own
        LowerLevel1(),
        # a hand-written 2-D GEMM grid gets a grouped launch order whose group size is a knob;
        # before knob choice so the cost model prices it with the other knobs
        Rasterize(),
        # knobs are chosen on the level-2 program, where block sizes show as tile shapes the cost
        # model can price under the target's limits
        ChooseKnobs(top_n, forced),
        # values replace knob names in types and attrs: from here on every tile shape is static
        SubstituteKnobs(),
        # knob arithmetic is now constant: fold it, merge the duplicates, drop dead code
        Cleanup(),
        # acc + dot(a, b) -> dot(a, b, acc) once use counts are final; both backends then
        # accumulate in place
        FuseDotAcc(),
        # last, on the final IR: value ranges, divisibility and memory placement as attributes
        # both backends read (and the IR dump shows), rather than each deriving its own
        AnalyzeFacts(),
    ]


def run_passes(fn: Function, passes: Iterable[Pass], ctx: PassContext,
               each: Callable[[str, Function], None] | None = None) -> Function:
    """Apply `passes` in order; `each(name, fn)` sees the IR after every one."""
    for p in passes:
        fn = p(fn, ctx)
        if each is not None:
            each(p.name, fn)
    return fn


def schedule(fn: Function, specs: tuple, target: Target | str, *, choice: Schedule | dict | None = None,
             top_n: int | None = None, backend: str | None = None) -> Scheduled:
    """Schedule `fn` for the call described by `specs` (aligned with ``fn.params``) on `target`:
    the scheduling passes, then a `Scheduled` record whose ``fn`` verifies at stage "scheduled".

    `choice` forces knob values (a `Schedule` or a dict, e.g. the autotuner's winner); knobs it
    does not name are still chosen by the cost model. Explicit knob values in `fn` always hold.
    `backend` picks the capability record whose tile rules the cost model applies (None: rules
    every backend accepts).
    """
    from tiledsl.capabilities import capabilities
    from tiledsl.settings import settings

    t0 = time.perf_counter()
    forced = choice.as_dict() if isinstance(choice, Schedule) else dict(choice or {})
    ctx = PassContext(tuple(specs), get_target(target), capabilities(backend))
    n = top_n if top_n is not None else settings().autotune_top_n
    out = run_passes(fn, schedule_passes(n, tuple(sorted(forced.items()))), ctx)
    verify(out, "scheduled")
    ranking = ctx.memo["ranking"]
    best = ranking[0]
    return Scheduled(out, best.schedule, best.estimate, tuple(p.schedule for p in ranking),
                     tuple(p.estimate for p in ranking), time.perf_counter() - t0)


def run_pipeline(fn: Function, specs: tuple, target, backend: str = "ir", *,
                 scheduler: Scheduler | None = None) -> Scheduled:
    """IR at stage "ir" -> `Scheduled` whose `.fn` verifies for `backend`. `scheduler` replaces
    the cost model's `schedule` (the runtime passes the autotuner when tuning is on)."""
    # 1. verify the front end's output first: a bug there must not surface as a scheduler error
    verify(fn, "ir")
    # 2. refuse what the backend cannot take before any scheduling work: its capability record
    #    (thread level, reductions, atomics, dot dtypes, tile sizes), one error naming who can
    check_legal(fn, backend)
    # 3. the scheduler (the passes above), or the autotuner's pick among its top candidates
    scheduled = (scheduler(fn, specs, target) if scheduler is not None
                 else schedule(fn, specs, target, backend=backend))
    # 4. verify for the backend: e.g. Triton takes no thread-level ops
    verify(scheduled.fn, STAGE_FOR_BACKEND[backend])
    return scheduled


def trace(fn: Function, specs: tuple, target, top_n: int = 8) -> list[tuple[str, Function]]:
    """The IR after each scheduling pass, by pass name (for dumps)."""
    out = [("ir", fn)]
    run_passes(fn, schedule_passes(top_n), PassContext(tuple(specs), get_target(target)),
               lambda name, after: out.append((name, after)))
    return out
