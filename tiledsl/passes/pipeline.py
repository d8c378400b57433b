"""The compiler pipeline: one flat list, each step with the reason it stands where it does.

`run_pipeline` takes the front end's IR (stage "ir") to the scheduled IR a backend lowers;
`schedule_passes` is the list of passes the scheduler runs (`tiledsl.schedule.schedule`), which the
autotuner also runs for each candidate. Every pass is pure (Function -> Function) and registered by
name in `tiledsl.passes.PASSES`; `trace` returns the IR after each one.
"""

from __future__ import annotations

from tiledsl.ir.nodes import Function
from tiledsl.ir.verify import verify
from tiledsl.passes.legality import check as check_legal

STAGE_FOR_BACKEND = {"ir": "scheduled", "triton": "triton", "tilelang": "tilelang"}


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


def run_pipeline(fn: Function, specs: tuple, target, backend: str = "ir", *, autotune: bool = False,
                 source: str = ""):
    """IR at stage "ir" -> `tiledsl.schedule.Scheduled` whose `.fn` verifies for `backend`."""
    # 1. verify the front end's output first: a bug there must not surface as a scheduler error
    verify(fn, "ir")
    # 2. refuse what the backend cannot take before any scheduling work: its capability record
    #    (thread level, reductions, atomics, dot dtypes, tile sizes), one error naming who can
    check_legal(fn, backend)
    # 3. the scheduler (the passes above), or the autotuner's pick among its top candidates
    if autotune and backend != "ir":
        from tiledsl.schedule.autotune import autotune as tune

        scheduled = tune(fn, specs, target, source=source, backend=backend).scheduled
    else:
        from tiledsl.schedule import schedule

        scheduled = schedule(fn, specs, target, backend=backend)
    # 4. verify for the backend: e.g. Triton takes no thread-level ops
    verify(scheduled.fn, STAGE_FOR_BACKEND[backend])
    return scheduled


def trace(fn: Function, specs: tuple, target, top_n: int = 8) -> list[tuple[str, Function]]:
    """The IR after each scheduling pass, by pass name (for dumps)."""
    from tiledsl.passes import PassContext
    from tiledsl.schedule.targets import get_target

    ctx = PassContext(tuple(specs), get_target(target))
    out = [("ir", fn)]
    for p in schedule_passes(top_n):
        fn = p(fn, ctx)
        out.append((p.name, fn))
    return out
