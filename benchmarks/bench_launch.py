"""Launch overhead of a warm tiledsl Triton call, and the compiler's own latency.

On a CUDA GPU: microseconds per call of ``BACKEND.execute`` (tiledsl's dispatch + the generated
launcher + Triton's launch) against the same kernel launched by hand (``kernel[grid](...)``), on
a tiny elementwise kernel so the launch dominates, and on a GEMM whose launcher checks the
tensors and builds TMA descriptors (the hand-written launch builds the same descriptors). Without
a GPU: the same call paths with Triton's launch replaced by a no-op, which isolates tiledsl's own
per-call cost; plus the runtime's warm-call dispatch (``kernel(...)`` up to the backend), and
codegen and AOT compile latency for a 128x128x64 bf16 GEMM.

    python benchmarks/bench_launch.py [--out results.json]   # prints JSON
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tiledsl.lowering.triton import BACKEND  # noqa: E402

from tests.test_triton_fixtures import elementwise_ir, gemm_ir  # noqa: E402
from tiledsl.dtypes import DType  # noqa: E402
from tiledsl.specs import TensorSpec  # noqa: E402
from tiledsl.targets import get_target  # noqa: E402


def _per_call_us(f, n: int = 2000) -> float:
    for _ in range(50):
        f()
    t0 = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - t0) / n * 1e6


class _NoLaunch:
    """Stands in for a JITFunction: ``kernel[grid](...)`` does nothing."""

    def __getitem__(self, grid):
        return lambda *args, **kwargs: None


def launch_overhead() -> dict:
    import torch

    fn = elementwise_ir()
    lowered = BACKEND.lower(fn, (), get_target("h100"))
    cuda = torch.cuda.is_available()
    dev = "cuda" if cuda else "cpu"
    x, y = torch.randn(16, 32, device=dev), torch.randn(16, 32, device=dev)
    z = torch.empty_like(x)
    args = [x, y, z, 0.5]
    launch = BACKEND.launcher(lowered, interpret=not cuda)
    mod = sys.modules[launch.__module__]
    if not cuda:
        setattr(mod, lowered.entry, _NoLaunch())
    tiledsl_us = _per_call_us(lambda: BACKEND.execute(lowered, fn, args) if cuda else
                              launch(*args))
    kernel = getattr(mod, lowered.entry)

    def by_hand():
        kernel[(1, 1)](x, 16, 32, 32, 1, y, 16, 32, 32, 1, z, 16, 32, 32, 1, 0.5, num_warps=4)

    hand_us = _per_call_us(by_hand)
    if cuda:
        torch.cuda.synchronize()
    return {"device": dev, "tiledsl_us_per_call": round(tiledsl_us, 2),
            "hand_written_us_per_call": round(hand_us, 2),
            "tiledsl_overhead_us": round(tiledsl_us - hand_us, 2),
            "note": "GPU: real launches" if cuda else
            "no GPU: Triton's launch replaced by a no-op; numbers are tiledsl's own dispatch cost"}


def tma_launch_overhead() -> dict:
    """The generated launcher of a GEMM with a TMA kernel (per-call alignment checks, descriptor
    construction) against a hand-written TMA launch; Triton's launch is a no-op on CPU."""
    import torch
    from triton.tools.tensor_descriptor import TensorDescriptor

    fn = gemm_ir(DType.bf16, bm=128, bn=128, bk=64, stages=3, warps=8, group_m=8)
    lowered = BACKEND.lower(fn, (), get_target("h100"))
    cuda = torch.cuda.is_available()
    dev = "cuda" if cuda else "cpu"
    a, b = (torch.randn(256, 256, device=dev, dtype=torch.bfloat16) for _ in range(2))
    c = torch.empty_like(a)
    launch = BACKEND.launcher(lowered, interpret=not cuda)
    mod = sys.modules[launch.__module__]
    entry = lowered.tma_entry
    if not cuda:
        setattr(mod, entry, _NoLaunch())
        setattr(mod, lowered.entry, _NoLaunch())
    kernel = getattr(mod, entry)
    tiledsl_us = _per_call_us(lambda: launch(a, b, c))

    def by_hand():
        ad = TensorDescriptor(a, a.shape, a.stride(), [128, 64])
        bd = TensorDescriptor(b, b.shape, b.stride(), [64, 128])
        kernel[(4,)](c, 256, 256, 256, 1, 2, 2, 256, ad, bd, stages=3, num_warps=8, num_stages=3)

    hand_us = _per_call_us(by_hand)
    return {"device": dev, "tiledsl_us_per_call": round(tiledsl_us, 2),
            "hand_written_us_per_call": round(hand_us, 2),
            "tiledsl_overhead_us": round(tiledsl_us - hand_us, 2)}


def runtime_dispatch() -> dict:
    """A warm ``kernel(a, b, c, backend="triton")`` call up to the backend's execute (replaced by a
    no-op): argument keying, the compiled-kernel lookup and the run plan."""
    import torch

    from tiledsl.backends import get_backend
    from tiledsl.demo import matmul

    a, b = torch.randn(64, 64, dtype=torch.float16), torch.randn(64, 64, dtype=torch.float16)
    c = torch.empty(64, 64, dtype=torch.float16)
    be = get_backend("triton")
    matmul(a, b, c, backend="triton")
    real = be.execute
    be.execute = lambda lowered, fn, args: None
    try:
        us = _per_call_us(lambda: matmul(a, b, c, backend="triton"))
    finally:
        be.execute = real
    return {"warm_call_dispatch_us": round(us, 2)}


def compile_latency() -> dict:
    target = get_target("h100")
    fn = gemm_ir(DType.bf16, bm=128, bn=128, bk=64, stages=3, warps=8, group_m=8)
    specs = (TensorSpec((4096, 4096), DType.bf16),) * 3
    t0 = time.perf_counter()
    lowered = BACKEND.lower(fn, specs, target)
    codegen_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    _, report = BACKEND.compile(lowered, fn, specs, target)
    compile_ms = (time.perf_counter() - t0) * 1e3
    return {"codegen_ms (two builds: GPU + interpreter)": round(codegen_ms, 2),
            "triton_compile_plus_ptxas_ms": round(compile_ms, 1), "report": report.lines()}


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="write the JSON here too")
    ns = ap.parse_args()
    text = json.dumps({"launch": launch_overhead(), "launch_gemm_tma": tma_launch_overhead(),
                       "runtime": runtime_dispatch(), "compile": compile_latency()}, indent=2)
    print(text)
    if ns.out:
        Path(ns.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
