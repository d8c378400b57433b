"""The scheduler: level 1 -> level 2, the schedule space of a program, the analytical cost model,
the optional autotuner and its on-disk cache.

`schedule(fn, specs, target)` runs the scheduling passes (`tiledsl.passes.scheduling`:
``lower_level1``, ``choose_knobs``, ``substitute_knobs``) and returns a `Scheduled` record whose
``fn`` verifies at stage "scheduled".
"""

from __future__ import annotations

import time

from tiledsl.ir.nodes import Function
from tiledsl.ir.verify import verify
from tiledsl.schedule.records import Estimate, Schedule, Scheduled
from tiledsl.schedule.targets import TARGETS, Target, get_target


def schedule(fn: Function, specs: tuple, target: Target | str, *, choice: Schedule | dict | None = None,
             top_n: int | None = None, backend: str | None = None) -> Scheduled:
    """Schedule `fn` for the call described by `specs` (aligned with ``fn.params``) on `target`.

    `choice` forces knob values (a `Schedule` or a dict, e.g. the autotuner's winner); knobs it
    does not name are still chosen by the cost model. Explicit knob values in `fn` always hold.
    `backend` picks the capability record whose tile rules the cost model applies (None: rules
    every backend accepts).
    """
    from tiledsl.capabilities import capabilities
    from tiledsl.passes import PassContext
    from tiledsl.passes.pipeline import schedule_passes
    from tiledsl.settings import settings

    t0 = time.perf_counter()
    forced = choice.as_dict() if isinstance(choice, Schedule) else dict(choice or {})
    ctx = PassContext(tuple(specs), get_target(target), capabilities(backend))
    n = top_n if top_n is not None else settings().autotune_top_n
    out = fn
    for p in schedule_passes(n, tuple(sorted(forced.items()))):
        out = p(out, ctx)
    verify(out, "scheduled")
    ranking = ctx.memo["ranking"]
    best = ranking[0]
    return Scheduled(out, best.schedule, best.estimate, tuple(p.schedule for p in ranking),
                     tuple(p.estimate for p in ranking), time.perf_counter() - t0)


__all__ = ["Estimate", "Schedule", "Scheduled", "TARGETS", "Target", "get_target", "schedule"]
