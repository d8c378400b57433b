"""Launch overhead of a warm tiledsl Triton call, and the compiler's own latency.

On a CUDA GPU: microseconds per call of ``BACKEND.execute`` (tiledsl's dispatch + the generated
launcher + Triton's launch) against the same kernel launched by hand (``kernel[grid](...)``), on
a tiny elementwise kernel so the launch dominates, and on a GEMM whose launcher checks the
tensors and builds TMA descriptors (the hand-written launch builds the same descriptors). Without
a GPU: the same call paths with Triton's launch replaced by a no-op, which isolates tiledsl's own
per-call cost; plus the runtime's warm-call dispatch (``kernel(...)`` up to the backend), and
codegen and AOT compile latency for a 128x128x64 bf16 GEMM. The kernels are the demo's
(`tiledsl.demo`: softmax, matmul); nothing is imported from the tests.

    python benchmarks/bench_launch.py [--out results.json]   # prints JSON
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tiledsl.lowering.triton import BACKEND

from tiledsl.dtypes import DType
from tiledsl.specs import TensorSpec
from tiledsl.targets import get_target

TARGET = get_target("h100")
GEMM_KNOBS = {"BM": 128, "BN": 128, "BK": 64, "num_warps": 8}


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


class _Record:
    """Stands in for a JITFunction once: keeps the grid and arguments the launcher passes, which
    the hand-written launch then passes itself."""

    def __getitem__(self, grid):
        def call(*args, **kwargs):
            self.grid, self.args, self.kwargs = grid, args, kwargs
        return call


def _softmax():
    """The demo's softmax on a 16x32 tile (one program): the launch dominates."""
    from tiledsl.demo import softmax

    return softmax.compile(TensorSpec((16, 32), DType.f32), backend="triton", target=TARGET.name)


def _gemm(size: int = 256):
    """The demo's GEMM (bf16, 128x128x64 tiles): its launcher checks the tensors and builds TMA
    descriptors."""
    from tiledsl.demo import matmul

    spec = TensorSpec((size, size), DType.bf16)
    return matmul.compile(spec, spec, spec, backend="triton", target=TARGET.name, **GEMM_KNOBS)


def _hand_launch(mod, entry: str, launch, args, rebuild_descriptors: bool = False):
    """``kernel[grid](...)`` with the arguments the generated launcher computes (recorded once);
    with `rebuild_descriptors`, the TMA descriptors are built per call, as a hand-written launch
    must. The kernel is looked up when called (a no-op stand-in on CPU)."""
    real, rec = getattr(mod, entry), _Record()
    setattr(mod, entry, rec)
    try:
        launch(*args)
    finally:
        setattr(mod, entry, real)
    grid, cargs, ckw = rec.grid, rec.args, rec.kwargs
    if not rebuild_descriptors:
        return lambda: getattr(mod, entry)[grid](*cargs, **ckw)
    from triton.tools.tensor_descriptor import TensorDescriptor

    descs = [(n, a) for n, a in enumerate(cargs) if isinstance(a, TensorDescriptor)]

    def by_hand():
        now = list(cargs)
        for n, d in descs:
            now[n] = TensorDescriptor(d.base, d.base.shape, d.base.stride(), d.block_shape)
        getattr(mod, entry)[grid](*now, **ckw)
    return by_hand


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _module(launch):
    import sys

    return sys.modules[launch.__module__]


def launch_overhead() -> dict:
    import torch

    ck = _softmax()
    lowered, fn = ck.lowered, ck.fn
    cuda = _cuda()
    dev = "cuda" if cuda else "cpu"
    x = torch.randn(16, 32, device=dev)
    out = torch.empty_like(x)
    args = [x, out]
    launch = BACKEND.launcher(lowered, interpret=not cuda)
    mod = _module(launch)
    by_hand = _hand_launch(mod, lowered.entry, launch, args)
    if not cuda:
        setattr(mod, lowered.entry, _NoLaunch())
    tiledsl_us = _per_call_us(lambda: BACKEND.execute(lowered, fn, args) if cuda else launch(*args))
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

    ck = _gemm()
    lowered = ck.lowered
    cuda = _cuda()
    dev = "cuda" if cuda else "cpu"
    a, b = (torch.randn(256, 256, device=dev, dtype=torch.bfloat16) for _ in range(2))
    c = torch.empty_like(a)
    launch = BACKEND.launcher(lowered, interpret=not cuda)
    mod = _module(launch)
    entry = lowered.tma_entry
    if entry is None:
        return {"device": dev, "note": "no TMA kernel for this GEMM"}
    if not cuda:  # both kernels: the launcher picks one per call
        setattr(mod, entry, _NoLaunch())
        setattr(mod, lowered.entry, _NoLaunch())
    by_hand = _hand_launch(mod, entry, launch, (a, b, c), rebuild_descriptors=True)
    tiledsl_us = _per_call_us(lambda: launch(a, b, c))
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
    ck = _gemm(4096)
    fn, specs = ck.fn, ck.lower_specs
    t0 = time.perf_counter()
    lowered = BACKEND.lower(fn, specs, TARGET)
    codegen_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    _, report = BACKEND.compile(lowered, fn, specs, TARGET)
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
