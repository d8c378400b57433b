"""Optional autotuning: benchmark the cost model's top candidates on the GPU, keep the fastest.

Opt-in by ``@td.kernel(autotune=True)`` or the ``autotune`` setting (``TILEDSL_AUTOTUNE=1``).
On a GPU: the top ``autotune_top_n`` schedules are lowered, compiled in parallel worker processes
(which fills the backend's own compile cache, so the in-process launches that follow are cheap),
run once on the same random inputs, checked against the first candidate's results (a candidate
that disagrees is dropped, with a warning), timed (``triton.testing.do_bench`` where available,
else CUDA events) under a tqdm progress bar, and the winner's knob values are stored in the
on-disk cache (`cache.TuneCache`). A later process finds the winner there and does not tune. On a
machine without a GPU it says so and keeps the cost model's choice.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tiledsl.errors import ScheduleError
from tiledsl.ir.dims import size_sym
from tiledsl.ir.nodes import Function, ParamKind
from tiledsl.passes.pipeline import schedule
from tiledsl.schedule.analysis import tensor_sizes
from tiledsl.schedule.records import Schedule, Scheduled
from tiledsl.targets import Target, get_target
from tiledsl.tune.cache import TuneCache, make_key

NO_GPU = "autotuning needs a CUDA GPU; using the cost model's choice"
# (rtol, atol) for comparing a candidate's results with the first candidate's, by dtype name
TOLERANCE = {"f64": (1e-6, 1e-6), "f32": (1e-2, 1e-2), "f16": (2e-2, 2e-2), "bf16": (5e-2, 5e-2),
             "f8e4m3": (0.15, 0.15), "f8e5m2": (0.25, 0.25)}


def autotune_enabled(flag: bool | None = None) -> bool:
    """The decorator's ``autotune=`` when given, else the setting."""
    if flag is not None:
        return flag
    from tiledsl.settings import settings

    return settings().autotune


@dataclass(frozen=True)
class Timing:
    schedule: Schedule
    time_us: float | None  # None: dropped
    note: str = ""


@dataclass(frozen=True)
class TuneResult:
    scheduled: Scheduled
    how: str  # "cache", "tuned" or "cost-model"
    timings: tuple[Timing, ...] = ()


def autotune(fn: Function, specs: tuple, target: Target | str, *, source: str, backend: str,
             top_n: int | None = None, cache: TuneCache | None = None, progress: bool = True) -> TuneResult:
    """The best schedule of `fn` for these specs: cached, tuned on the GPU, or the cost model's."""
    from tiledsl.settings import settings

    target = get_target(target)
    cache = cache or TuneCache()
    best = schedule(fn, specs, target, top_n=top_n or settings().autotune_top_n, backend=backend)
    key = make_key(source, specs, _gpu_name(target), backend)
    hit = cache.get(key)
    if hit is not None:
        try:
            return TuneResult(schedule(fn, specs, target, choice=hit, backend=backend), "cache")
        except ScheduleError:
            pass  # the cached winner no longer fits this program: tune again
    if not _has_gpu():
        warnings.warn(NO_GPU, stacklevel=2)
        return TuneResult(best, "cost-model")
    cands = [schedule(fn, specs, target, choice=c, backend=backend) for c in best.candidates]
    runner = GpuRunner(backend, specs, target)
    runner.compile_all(cands)
    winner, timings = tune_candidates(cands, runner.run, runner.time, progress)
    cache.put(key, winner.schedule.as_dict(), timings[cands.index(winner)].time_us)
    return TuneResult(winner, "tuned", timings)


def tune_scheduled(fn: Function, specs: tuple, target: Target, *, source: str, backend: str) -> Scheduled:
    """What the runtime calls to schedule a kernel compiled with autotuning on."""
    return autotune(fn, specs, target, source=source, backend=backend).scheduled


def tune_candidates(cands: Sequence[Scheduled], run: Callable[[Scheduled], list],
                    time: Callable[[Scheduled], float], progress: bool = True
                    ) -> tuple[Scheduled, tuple[Timing, ...]]:
    """Run each candidate, drop those whose results differ from the first's, time the rest;
    (the fastest, every candidate's timing). `run` returns the tensors the candidate wrote."""
    from tqdm.auto import tqdm

    ref = None
    timings: list[Timing] = []
    for c in tqdm(cands, desc="autotune", disable=not progress, unit="cfg"):
        try:
            got = run(c)
        except Exception as e:  # a candidate that fails to compile or run is skipped
            timings.append(Timing(c.schedule, None, f"failed: {type(e).__name__}: {e}"))
            continue
        if ref is None:
            ref = got
        else:
            bad = _mismatch(ref, got)
            if bad:
                warnings.warn(f"autotune: {c.schedule} gives different results ({bad}); dropped", stacklevel=2)
                timings.append(Timing(c.schedule, None, f"mismatch: {bad}"))
                continue
        timings.append(Timing(c.schedule, float(time(c))))
    ok = [(t.time_us, i) for i, t in enumerate(timings) if t.time_us is not None]
    if not ok:
        raise ScheduleError("autotune: every candidate failed; see the warnings", None,
                            "run without autotune to use the cost model's choice")
    return cands[min(ok)[1]], tuple(timings)


def _mismatch(ref: list, got: list) -> str:
    import torch

    for i, (a, b) in enumerate(zip(ref, got)):
        rtol, atol = TOLERANCE.get(_dtype_name(a), (1e-2, 1e-2))
        if a.dtype.is_floating_point:
            a32, b32 = a.float(), b.float()
            if not torch.allclose(a32, b32, rtol=rtol, atol=atol, equal_nan=True):
                return f"output {i}: max difference {(a32 - b32).abs().nan_to_num().max().item():.3g}"
        elif not torch.equal(a, b):
            return f"output {i} differs"
    return ""


def _dtype_name(t) -> str:
    from tiledsl.dtypes import from_torch

    try:
        return from_torch(t.dtype).value
    except KeyError:
        return ""


def _has_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def _gpu_name(target: Target) -> str:
    if _has_gpu():
        import torch

        return torch.cuda.get_device_name()
    return target.name


def make_args(fn: Function, specs: tuple, device: str = "cpu", seed: int = 0) -> list:
    """Random inputs and zeroed outputs for every param of scheduled `fn` (outputs included)."""
    import torch

    gen = torch.Generator(device="cpu").manual_seed(seed)
    sizes = tensor_sizes(fn, specs)
    args: list = []
    for i, p in enumerate(fn.params):
        t = p.value.type
        if p.kind is ParamKind.SCALAR:
            args.append(specs[i].value)
            continue
        shape = tuple(sizes.get(size_sym(p.value.name, ax), 1) for ax in range(t.rank))
        dt = t.dtype.to_torch()
        if p.kind is ParamKind.OUTPUT:
            args.append(torch.zeros(shape, dtype=dt, device=device))
        elif t.dtype.is_float:
            args.append(torch.randn(shape, generator=gen).to(dt).to(device))
        elif t.dtype.is_bool:
            args.append(torch.randint(0, 2, shape, generator=gen).bool().to(device))
        else:
            args.append(torch.randint(0, 8, shape, generator=gen).to(dt).to(device))
    return args


def _compile_one(backend: str, lowered, fn: Function, specs: tuple, target: Target) -> str:
    """Worker process: compile one candidate ahead of time (fills the backend's disk cache)."""
    from tiledsl.backends import get_backend

    get_backend(backend).compile(lowered, fn, specs, target)
    return lowered.entry


class GpuRunner:
    """Lower, compile, run and time candidates on the current CUDA device."""

    def __init__(self, backend: str, specs: tuple, target: Target):
        from tiledsl.backends import get_backend

        self.name, self.backend, self.specs, self.target = backend, get_backend(backend), specs, target
        self.lowered: dict[int, object] = {}
        self.args: dict[int, list] = {}

    def _specs(self, c: Scheduled) -> tuple:
        from tiledsl.specs import TensorSpec

        sizes = tensor_sizes(c.fn, self.specs)
        extra = tuple(TensorSpec(tuple(sizes.get(size_sym(p.value.name, a), 1) for a in range(p.value.type.rank)),
                                 p.value.type.dtype, None, "cuda") for p in c.fn.params[len(self.specs):])
        return tuple(self.specs) + extra

    def lower(self, c: Scheduled):
        if id(c) not in self.lowered:
            self.lowered[id(c)] = self.backend.lower(c.fn, self._specs(c), self.target)
        return self.lowered[id(c)]

    def compile_all(self, cands: Sequence[Scheduled]) -> None:
        """Compile every candidate in parallel worker processes; failures show up in `run`."""
        jobs = [(self.name, self.lower(c), c.fn, self._specs(c), self.target) for c in cands]
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=min(len(jobs), 8) or 1, mp_context=ctx) as pool:
            for f in [pool.submit(_compile_one, *j) for j in jobs]:
                try:
                    f.result()
                except Exception:  # noqa: BLE001 - reported when the candidate runs
                    pass

    def run(self, c: Scheduled) -> list:
        args = make_args(c.fn, self.specs, "cuda")
        self.args[id(c)] = args
        self.backend.execute(self.lower(c), c.fn, args)
        return [a for a, p in zip(args, c.fn.params) if p.kind is not ParamKind.SCALAR]

    def time(self, c: Scheduled) -> float:
        """Microseconds per launch."""
        import torch

        lowered, args = self.lower(c), self.args[id(c)]

        def launch():
            self.backend.execute(lowered, c.fn, args)

        try:
            from triton.testing import do_bench

            return float(do_bench(launch, warmup=10, rep=50)) * 1e3
        except ImportError:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            for _ in range(3):
                launch()
            start.record()
            for _ in range(20):
                launch()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end) / 20 * 1e3
