"""The compiler pipeline: one flat list, each step with the reason it stands where it does.

`run_pipeline` takes the front end's IR (stage "ir") to the scheduled IR a backend lowers.
Each step is a pure Function -> Function; `STEPS` names them so any stage can be dumped.
"""

from __future__ import annotations

from tiledsl.ir.nodes import Function
from tiledsl.ir.verify import verify
from tiledsl.passes.cleanup import cleanup
from tiledsl.passes.fuse_dot import fuse_dot_acc

STAGE_FOR_BACKEND = {"ir": "scheduled", "triton": "triton", "tilelang": "tilelang"}


def run_pipeline(fn: Function, specs: tuple, target, backend: str = "ir"):
    """IR at stage "ir" -> `tiledsl.schedule.Scheduled` whose `.fn` verifies for `backend`."""
    # 1. verify the front end's output first: a bug there must not surface as a scheduler error;
    #    then refuse what the backend cannot take, before any scheduling work
    verify(fn, "ir")
    check_backend_levels(fn, backend)
    from tiledsl.schedule import schedule

    # 2. the scheduler: level 1 -> level 2, knobs from the cost model (or the autotune cache),
    #    knob names substituted by their values; its own pass list is in tiledsl.schedule
    scheduled = schedule(fn, specs, target)
    # 3. cleanup after substitution: knob arithmetic is now constant and folds, duplicates merge
    out = cleanup(scheduled.fn)
    # 4. accumulate dots in place (acc + dot(a, b) -> dot(a, b, acc)); after cleanup so that
    #    use counts are final, before codegen so that both backends see the fused form
    out = fuse_dot_acc(out)
    # 5. verify for the backend: e.g. Triton takes no thread-level ops
    verify(out, STAGE_FOR_BACKEND[backend])
    return scheduled.replace_fn(out) if hasattr(scheduled, "replace_fn") else _replace_fn(scheduled, out)


_THREAD_NAMES = {"threads": "td.threads", "alloc_local": "td.alloc_local", "shuffle": "td.shfl_*",
                 "barrier": "td.barrier", "layout": "td.annotate_layout", "warp_role": "td.producer/td.consumer"}


def check_backend_levels(fn: Function, backend: str) -> None:
    """Triton has no thread level: name the first level-3 construct, its line, and the way out."""
    if backend != "triton":
        return
    from tiledsl.errors import BackendError
    from tiledsl.ir.nodes import walk
    from tiledsl.ir.ops import Group

    for inst in walk(fn.body):
        if inst.op.group is Group.THREAD:
            what = _THREAD_NAMES.get(inst.op.ir_name, inst.op.ir_name)
            raise BackendError(f"{what} is a thread-level (level 3) construct; the Triton backend "
                               "cannot express it", inst.loc,
                               "compile with backend='tilelang' (or run on CPU with backend='ir')")


def _replace_fn(scheduled, fn: Function):
    import dataclasses

    return dataclasses.replace(scheduled, fn=fn)
