"""The compiler's own speed: time of each stage for the canonical kernels, against the backend
compilers' time for the same kernel. Runs on any machine (no GPU needed).

tiledsl's own stages (front end, verify, print, schedule, codegen) are pure functions: each is run
once cold (``*_first_ms``, lazy imports included) and then `--repeat` times, and the median is
reported. The backend compilers run once, with empty caches (tiledsl's and Triton's), so their
times are those of a first compile.

    python benchmarks/bench_compile.py [--out results.json] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tiledsl as td  # noqa: E402
from tiledsl.backends import get_backend  # noqa: E402
from tiledsl.demo import matmul, softmax  # noqa: E402  (the brief's GEMM and softmax)
from tiledsl.frontend import bind_params, build_function  # noqa: E402
from tiledsl.ir.text import print_ir  # noqa: E402
from tiledsl.ir.verify import verify  # noqa: E402
from tiledsl.passes.pipeline import run_pipeline  # noqa: E402
from tiledsl.specs import spec  # noqa: E402
from tiledsl.targets import get_target  # noqa: E402

CASES = {
    "gemm_4096_bf16": (matmul, [((4096, 4096), td.bfloat16)] * 3),
    "softmax_8192_f32": (softmax, [((8192, 8192), td.float32)]),
}


def _ms(f, *args):
    t0 = time.perf_counter()
    out = f(*args)
    return out, (time.perf_counter() - t0) * 1e3


def _median_ms(repeat: int, f, *args):
    """(result, first call ms, median ms of `repeat` further calls)."""
    out, first = _ms(f, *args)
    times = [_ms(f, *args)[1] for _ in range(repeat)]
    return out, first, statistics.median(times)


def measure(name: str, target: str = "h100", backends=("triton", "tilelang"), repeat: int = 7) -> dict:
    kernel, args = CASES[name]
    tgt = get_target(target)
    bound = bind_params(kernel.source, tuple(args), {})
    fn, front_first, front = _median_ms(repeat, build_function, kernel.source, bound, {})
    _, _, t_verify = _median_ms(repeat, verify, fn)
    _, _, t_print = _median_ms(repeat, print_ir, fn)
    specs = tuple(spec(bound[p.value.name]) for p in fn.params)
    row = {"kernel": name, "target": target, "repeat": repeat, "frontend_first_ms": front_first,
           "frontend_ms": front, "verify_ms": t_verify, "print_ir_ms": t_print}
    for backend in backends:
        sched, sched_first, t_sched = _median_ms(repeat, run_pipeline, fn, specs, tgt, backend)
        be = get_backend(backend)
        all_specs = list(specs)
        for p in sched.fn.params[len(specs):]:
            shape = tuple(d if isinstance(d, int) else specs[0].shape[int(d.rsplit(".", 1)[1])]
                          for d in p.value.type.shape)
            all_specs.append(spec((shape, p.value.type.dtype)))
        lowered, _, t_lower = _median_ms(repeat, be.lower, sched.fn, tuple(all_specs), tgt)
        (texts, report), t_backend = _ms(be.compile, lowered, sched.fn, tuple(all_specs), tgt)
        row[backend] = {"schedule": str(sched.schedule), "schedule_first_ms": sched_first,
                        "schedule_ms": t_sched, "codegen_ms": t_lower,
                        "backend_compile_ms": t_backend, "registers": report.registers,
                        "spills": report.spill_stores, "shared_bytes": report.shared_bytes,
                        "wgmma": report.uses_wgmma, "tma": report.uses_tma,
                        "notes": list(report.notes)}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", help="write the JSON here too")
    ap.add_argument("--target", default="h100")
    ap.add_argument("--repeat", type=int, default=7, help="timed calls of each tiledsl stage")
    ns = ap.parse_args()
    cache = Path(tempfile.mkdtemp(prefix="tiledsl-bench-"))
    td.configure(cache_dir=cache)  # cold backend caches: the compile times are real
    os.environ["TRITON_CACHE_DIR"] = str(cache / "triton-cache")
    try:
        rows = [measure(name, ns.target, repeat=ns.repeat) for name in CASES]
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    text = json.dumps(rows, indent=2)
    print(text)
    if ns.out:
        Path(ns.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
