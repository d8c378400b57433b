"""How long the scheduler takes (level 1 -> level 2, knob choice, substitution) per kernel.

The reference GEMMs (plain, the split-K search `kernels/gemm.py: split_k` makes, FP8, level 1) and
a few other kernels, warm (imports done, the kernel's IR built once). CPU only. ``warm_ms`` is the
median wall time of `--repeat` calls, ``warm_cpu_ms`` the least process CPU time of them (steadier
on a shared machine; issue 12 asks at most 50 ms for a GEMM), ``load_1m`` the machine's one-minute
load average when the case ran. The search's work, which no load changes: ``walks`` (one IR walk
without loads and stores per tile-size combination tried, for a first lower bound),
``bound_walks`` (walks completed with them, for a walk's own bound), ``priced_walks`` (walks whose points
were priced) and ``points`` (points checked against the limits and timed, `space.evaluate`).

    python benchmarks/bench_schedule.py [--repeat 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _cases():
    import importlib

    import torch

    from tests import kernels_for_tests as K

    fp8 = importlib.import_module("tiledsl.kernels.fp8")
    gemm = importlib.import_module("tiledsl.kernels.gemm")

    bf, e4m3, f32 = torch.bfloat16, torch.float8_e4m3fn, torch.float32

    def meta(*s, dtype=bf):
        return torch.empty(*s, dtype=dtype, device="meta")

    def g(m, n, k):
        return gemm.gemm_kernel, (meta(m, k), meta(k, n), meta(m, n))

    out = {f"gemm_bf16_{m}x{n}x{k}": g(m, n, k)
           for m, n, k in ((4096, 4096, 4096), (8192, 8192, 8192), (64, 7168, 2048), (16, 4096, 4096),
                           (128, 2112, 7168), (512, 512, 8192))}
    la = fp8.fp8_gemm_nt_launch(meta(4096, 2048, dtype=e4m3), meta(4096, 16, dtype=f32),
                                meta(7168, 2048, dtype=e4m3), meta(56, 16, dtype=f32), meta(4096, 7168))
    # what `gemm` schedules to decide a split (`kernels/gemm.py: split_k`): the split kernel, with a
    # workspace as deep as the deepest split tried and SPLIT_K left to the scheduler
    for m, n, k in ((16, 4096, 4096), (128, 2112, 7168), (512, 512, 8192)):
        out[f"gemm_splitk_bf16_{m}x{n}x{k}"] = (gemm.gemm_splitk_kernel, (
            meta(m, k), meta(k, n), meta(m, n), meta(16, m, n, dtype=f32), meta(1, dtype=torch.int32)))
    out["fp8_block_4096x7168x2048"] = (la.kernel, la.args)
    out["splitk_gemm_512x512x8192"] = (K.splitk_gemm, (meta(512, 8192), meta(8192, 512), meta(512, 512, dtype=f32)))
    out["matmul_l1_4096"] = (K.matmul_l1, (meta(4096, 4096), meta(4096, 4096)))
    out["softmax_8192_bf16"] = (K.softmax, (meta(8192, 8192),))
    return out


def _work(fn, specs) -> dict:
    """The search's work for one schedule of `fn`: walks and points, counted."""
    from tiledsl.passes.pipeline import schedule
    from tiledsl.schedule import analysis, space

    n = {"walks": 0, "bound_walks": 0, "priced_walks": 0, "points": 0}
    walk, complete, evaluate = analysis.Analyzer.__call__, analysis.Analyzer.with_accesses, space.evaluate

    def counted_walk(self, values, registers=True, accesses=True):
        n["priced_walks" if registers else "bound_walks" if accesses else "walks"] += 1
        return walk(self, values, registers, accesses)

    def counted_complete(self, a):
        n["bound_walks"] += 1
        return complete(self, a)

    def counted_evaluate(*args, **kwargs):
        n["points"] += 1
        return evaluate(*args, **kwargs)

    analysis.Analyzer.__call__, analysis.Analyzer.with_accesses = counted_walk, counted_complete
    space.evaluate = counted_evaluate
    try:
        schedule(fn, specs, "h100")
    finally:
        analysis.Analyzer.__call__, analysis.Analyzer.with_accesses, space.evaluate = walk, complete, evaluate
    return n


def measure(kernel, args, repeat: int, knobs: dict | None = None) -> dict:
    from tiledsl.dtypes import from_torch
    from tiledsl.passes.pipeline import schedule
    from tiledsl.specs import TensorSpec

    specs = tuple(TensorSpec(tuple(t.shape), from_torch(t.dtype)) for t in args)
    fn = kernel.ir(*specs, **(knobs or {}))
    t0 = time.perf_counter()
    s = schedule(fn, specs, "h100")
    first = (time.perf_counter() - t0) * 1e3
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        schedule(fn, specs, "h100")
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return {"first_ms": round(first, 1), "warm_ms": round(statistics.median(times), 1),
            "warm_cpu_ms": round(min(cpu), 1), "load_1m": round(os.getloadavg()[0], 2),
            "schedule": str(s.schedule), "predicted_us": round(s.estimate.time_us, 2), **_work(fn, specs)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="warm calls per case (default 5)")
    ap.add_argument("--case", action="append", help="only this case (repeatable); default: all")
    ap.add_argument("--json", help="write the rows to this file")
    ns = ap.parse_args(argv)
    rows = {}
    for name, (kernel, args, *knobs) in _cases().items():
        if ns.case and name not in ns.case:
            continue
        rows[name] = measure(kernel, args, ns.repeat, *knobs)
        r = rows[name]
        print(f"{name:30s} warm {r['warm_ms']:6.1f} ms (cpu {r['warm_cpu_ms']:6.1f})  first {r['first_ms']:6.1f} ms  "
              f"load {r['load_1m']:4.2f}  walks {r['walks']}/{r['bound_walks']}/{r['priced_walks']} "
              f"points {r['points']}  "
              f"{r['schedule']}  ({r['predicted_us']} us)", flush=True)
    if ns.json:
        Path(ns.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
