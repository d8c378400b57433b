"""Speed of the GEMM reference kernels at DeepSeek-V3 shapes.

On a CUDA GPU each kernel is timed through its public wrapper (``triton.testing.do_bench`` after a
warm-up call that compiles it) and reported as TFLOP/s, the fraction of the device's dense peak
for its operand dtype, the ratio to torch's bf16 matmul of the same shape (what a user would
otherwise call) and to DeepGEMM where it is importable, plus DeepGEMM's accuracy measure against
torch. Without a GPU it compiles each kernel ahead of time for the target and prints the static
report (registers, spills, shared memory, wgmma, TMA) with the cost model's estimate.

    python benchmarks/bench_gemm.py [--target h200] [--backend triton|tilelang] [--only fp8]
                                    [--json] [--out results.json]

Shapes: dense (N, K) in {(2112, 7168), (24576, 1536), (7168, 16384), (4096, 7168)} with M in
{128, 4096}; grouped: 4 to 32 groups of 8192 rows with N=4096, K=7168 (masked: expected_m=8192).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tiledsl.dtypes import DType  # noqa: E402
from tiledsl.targets import get_target  # noqa: E402

GM = importlib.import_module("tiledsl.kernels.gemm")
F8 = importlib.import_module("tiledsl.kernels.fp8")
GR = importlib.import_module("tiledsl.kernels.grouped")

DENSE_NK = ((2112, 7168), (24576, 1536), (7168, 16384), (4096, 7168))
DENSE_M = (128, 4096)
GROUPS = (4, 8, 16, 32)
GROUP_ROWS, GROUP_N, GROUP_K = 8192, 4096, 7168
E4M3, F32, BF16, I32 = torch.float8_e4m3fn, torch.float32, torch.bfloat16, torch.int32


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class Case:
    """One kernel at one shape. `inputs(device)` makes its tensors (meta tensors for the static
    report); `launch` the wrapper's kernel call; `call` the public wrapper; `baseline` torch's bf16
    matmul of the same shape; `deepgemm` DeepGEMM's kernel (None when it has none); `ref` the
    unquantized fp32 product to measure accuracy against."""

    name: str
    kernel: str
    shape: dict
    flops: float
    dtype: DType  # tensor-core operand dtype: decides the peak
    inputs: Callable[[str], dict]
    launch: Callable[[dict], object]
    call: Callable[[dict], torch.Tensor]
    baseline: Callable[[dict], torch.Tensor]
    deepgemm: Callable[[object, dict], torch.Tensor] | None
    ref: Callable[[dict], tuple[torch.Tensor, torch.Tensor]]  # (out, reference) on the rows checked


def _rand(device: str, *shape: int, dtype=BF16) -> torch.Tensor:
    if device == "meta":
        return torch.empty(*shape, dtype=dtype, device="meta")
    return torch.randn(*shape, device=device).to(dtype)


# --- dense ---------------------------------------------------------------------------------------


def gemm_case(m: int, n: int, k: int) -> Case:
    def inputs(dev):
        a, bt = _rand(dev, m, k), _rand(dev, n, k)
        return {"a": a, "b": bt.T.contiguous() if dev != "meta" else _rand(dev, k, n), "bt": bt,
                "c": torch.empty(m, n, dtype=BF16, device=dev)}

    return Case(f"gemm_bf16 M={m} N={n} K={k}", "gemm", dict(M=m, N=n, K=k), 2.0 * m * n * k, DType.bf16,
                inputs, lambda t: GM.gemm_launch(t["a"], t["b"], t["c"]),
                lambda t: GM.gemm(t["a"], t["b"]), lambda t: torch.matmul(t["a"], t["b"]),
                lambda dg, t: _dg(dg, ("bf16_gemm_nt",), t["a"], t["bt"], out=(m, n)),
                lambda t: (GM.gemm(t["a"], t["b"]), t["a"].float() @ t["b"].float()))


def fp8_case(m: int, n: int, k: int) -> Case:
    def inputs(dev):
        if dev == "meta":
            return {"a": _rand(dev, m, k, dtype=E4M3), "sfa": _rand(dev, m, cdiv(k, 128), dtype=F32),
                    "b": _rand(dev, n, k, dtype=E4M3), "sfb": _rand(dev, cdiv(n, 128), cdiv(k, 128), dtype=F32),
                    "c": _rand(dev, m, n)}
        x, w = torch.randn(m, k, device=dev), torch.randn(n, k, device=dev)
        (a, sfa), (b, sfb) = F8.per_token_cast_to_fp8(x), F8.per_block_cast_to_fp8(w)
        return {"x": x, "w": w, "a": a, "sfa": sfa, "b": b, "sfb": sfb, "c": torch.empty(m, n, dtype=BF16, device=dev),
                "xb": x.bfloat16(), "wb": w.T.contiguous().bfloat16()}

    return Case(f"fp8_gemm_nt M={m} N={n} K={k}", "fp8_gemm_nt", dict(M=m, N=n, K=k), 2.0 * m * n * k,
                DType.f8e4m3, inputs, lambda t: F8.fp8_gemm_nt_launch(t["a"], t["sfa"], t["b"], t["sfb"], t["c"]),
                lambda t: F8.fp8_gemm_nt(t["a"], t["sfa"], t["b"], t["sfb"]),
                lambda t: torch.matmul(t["xb"], t["wb"]),
                lambda dg, t: _dg(dg, ("fp8_gemm_nt", "gemm_fp8_fp8_bf16_nt"), (t["a"], t["sfa"]),
                                  (t["b"], t["sfb"]), out=(m, n)),
                lambda t: (F8.fp8_gemm_nt(t["a"], t["sfa"], t["b"], t["sfb"]), t["x"] @ t["w"].T))


# --- grouped -------------------------------------------------------------------------------------


def _grouped_inputs(dev: str, g: int, fp8: bool, masked: bool) -> dict:
    m, n, k = GROUP_ROWS, GROUP_N, GROUP_K
    a_shape = (g, m, k) if masked else (g * m, k)
    idx = {"masked_m": torch.full((g,), m, dtype=I32, device=dev)} if masked else \
        {"m_indices": torch.arange(g, device=dev, dtype=I32).repeat_interleave(m)}
    out = {"c": torch.empty(*a_shape[:-1], n, dtype=BF16, device=dev), **idx}
    if dev == "meta":
        sa_shape = (*a_shape[:-1], cdiv(k, 128))
        dt = E4M3 if fp8 else BF16
        out.update(a=_rand(dev, *a_shape, dtype=dt), b=_rand(dev, g, n, k, dtype=dt),
                   sfa=_rand(dev, *sa_shape, dtype=F32), sfb=_rand(dev, g, cdiv(n, 128), cdiv(k, 128), dtype=F32))
        return out
    x, w = torch.randn(*a_shape, device=dev), torch.randn(g, n, k, device=dev)
    out.update(x=x, w=w, xb=x.bfloat16().view(g, m, k), wb=w.bfloat16().transpose(1, 2))
    if not fp8:
        out.update(a=x.bfloat16(), b=w.bfloat16())
        return out
    a, sfa = F8.per_token_cast_to_fp8(x.view(-1, k))
    bs = [F8.per_block_cast_to_fp8(w[i]) for i in range(g)]
    out.update(a=a.view(*a_shape), sfa=sfa.view(*a_shape[:-1], -1), b=torch.stack([q for q, _ in bs]),
               sfb=torch.stack([s for _, s in bs]))
    return out


def grouped_case(g: int, fp8: bool, masked: bool) -> Case:
    m, n, k = GROUP_ROWS, GROUP_N, GROUP_K
    layout = "masked" if masked else "contiguous"
    name = f"m_grouped_{'fp8_' if fp8 else ''}gemm_nt_{layout}"
    wrapper = getattr(GR, name)
    index = "masked_m" if masked else "m_indices"
    extra = (m,) if masked else ()

    def args(t):
        ops = (t["a"], t["sfa"], t["b"], t["sfb"]) if fp8 else (t["a"], t["b"])
        return (*ops, t[index])

    def launch(t):
        make = {(False, False): GR.contiguous_launch, (True, False): GR.fp8_contiguous_launch,
                (False, True): GR.masked_launch, (True, True): GR.fp8_masked_launch}[(fp8, masked)]
        return make(*args(t), t["c"], *extra)

    def deepgemm(dg, t):
        ops = ((t["a"], t["sfa"]), (t["b"], t["sfb"])) if fp8 else (t["a"], t["b"])
        names = (f"m_grouped_{'fp8' if fp8 else 'bf16'}_gemm_nt_{layout}",
                 f"m_grouped_gemm_{'fp8_fp8' if fp8 else 'bf16_bf16'}_bf16_nt_{layout}")
        return _dg(dg, names, *ops, out=tuple(t["c"].shape), tail=(t[index], *extra))

    def ref(t):  # the first group's rows: enough to measure, cheap at 32 groups
        out = wrapper(*args(t), *extra)
        first = out[0] if masked else out[:m]
        return first, t["x"].view(g, m, k)[0] @ t["w"][0].T

    return Case(f"{name} G={g} M={m} N={n} K={k}", name, dict(G=g, M=m, N=n, K=k), 2.0 * g * m * n * k,
                DType.f8e4m3 if fp8 else DType.bf16, lambda dev: _grouped_inputs(dev, g, fp8, masked),
                launch, lambda t: wrapper(*args(t), *extra), lambda t: torch.bmm(t["xb"], t["wb"]),
                deepgemm, ref)


def _dg(dg, names: tuple[str, ...], *ops, out: tuple[int, ...], tail: tuple = ()):
    """Call the first of `names` DeepGEMM has (new names first, then 1.x names)."""
    for nm in names:
        fn = getattr(dg, nm, None)
        if fn is not None:
            c = torch.empty(*out, dtype=BF16, device="cuda")
            fn(*ops, c, *tail)
            return c
    raise AttributeError(f"DeepGEMM has none of {', '.join(names)}")


def all_cases() -> list[Case]:
    cases = [make(m, n, k) for make in (gemm_case, fp8_case) for n, k in DENSE_NK for m in DENSE_M]
    cases += [grouped_case(g, fp8, masked) for masked in (False, True) for fp8 in (False, True) for g in GROUPS]
    return cases


# --- static report (no GPU) ----------------------------------------------------------------------


def static_row(case: Case, target: str, backend: str) -> dict:
    row = {"case": case.name, "kernel": case.kernel, **case.shape}
    try:
        ck = case.launch(case.inputs("meta")).compile(backend, target)
        r, est = ck.report, ck.estimate
    except Exception as e:  # noqa: BLE001 - one failing case must not hide the others
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0]}"
        return row
    peak = get_target(target).peak_tflops(case.dtype)
    est_tflops = case.flops / (est.time_us * 1e-6) / 1e12
    row.update(schedule=str(ck.schedule), registers=r.registers, spill_stores=r.spill_stores,
               spill_loads=r.spill_loads, shared_bytes=r.shared_bytes, wgmma=r.uses_wgmma, tma=r.uses_tma,
               est_time_us=round(est.time_us, 2), est_tflops=round(est_tflops, 1),
               est_fraction_of_peak=round(est_tflops / peak, 3) if peak else None, est_bound=est.bound)
    return row


# --- timing (GPU) --------------------------------------------------------------------------------


def _bench(fn) -> float:
    import triton.testing

    fn()  # compiles on the first call
    torch.cuda.synchronize()
    return triton.testing.do_bench(fn, warmup=25, rep=100)  # ms


def gpu_row(case: Case, deep_gemm, backend: str) -> dict:
    row = {"case": case.name, "kernel": case.kernel, **case.shape}
    try:
        t = case.inputs("cuda")
        launch = case.launch(t)
        ms = _bench(lambda: launch.run(backend))
        out, want = case.ref(t)
        row.update(schedule=str(launch.compile(backend, torch.cuda.get_device_name()).schedule),
                   ms=round(ms, 4), accuracy=F8.calc_diff(out, want))
        tflops = case.flops / (ms * 1e-3) / 1e12
        peak = get_target(torch.cuda.get_device_name()).peak_tflops(case.dtype)
        row.update(tflops=round(tflops, 1), fraction_of_peak=round(tflops / peak, 3) if peak else None)
        base_ms = _bench(lambda: case.baseline(t))
        row.update(torch_bf16_ms=round(base_ms, 4), vs_torch_bf16=round(base_ms / ms, 3))
        if deep_gemm is not None and case.deepgemm is not None:
            try:
                dg_ms = _bench(lambda: case.deepgemm(deep_gemm, t))
                row.update(deepgemm_ms=round(dg_ms, 4), vs_deepgemm=round(dg_ms / ms, 3))
            except Exception as e:  # noqa: BLE001 - DeepGEMM versions differ; report and go on
                row["deepgemm_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        torch.cuda.empty_cache()
    except Exception as e:  # noqa: BLE001
        row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return row


def _print_row(row: dict) -> None:
    if "error" in row:
        print(f"{row['case']:<58} ERROR {row['error']}", flush=True)
    elif "ms" in row:
        extra = f"  DeepGEMM x{row['vs_deepgemm']}" if "vs_deepgemm" in row else ""
        print(f"{row['case']:<58} {row['tflops']:8.1f} TFLOP/s ({row['fraction_of_peak']:.0%} of peak)  "
              f"torch bf16 x{row['vs_torch_bf16']}{extra}  diff {row['accuracy']:.1e}", flush=True)
    else:
        print(f"{row['case']:<58} regs {row['registers']} spills {row['spill_stores']}/{row['spill_loads']} "
              f"smem {row['shared_bytes']} wgmma {row['wgmma']} tma {row['tma']}  est {row['est_time_us']} us "
              f"= {row['est_tflops']} TFLOP/s ({row['est_bound']})  [{row['schedule']}]", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="h200", help="GPU for the static report (no GPU): h100, h200, ...")
    p.add_argument("--backend", default="triton", choices=("triton", "tilelang"))
    p.add_argument("--only", default="", help="run the cases whose name contains this text")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--out", help="also write the JSON results to this file")
    args = p.parse_args(argv)
    cases = [c for c in all_cases() if args.only in c.name]
    gpu = torch.cuda.is_available()
    deep_gemm = None
    if gpu:
        try:
            import deep_gemm
        except ImportError:
            pass
    rows = []
    for case in cases:
        row = gpu_row(case, deep_gemm, args.backend) if gpu else static_row(case, args.target, args.backend)
        rows.append(row)
        if not args.json:
            _print_row(row)
    result = {"device": torch.cuda.get_device_name() if gpu else None,
              "target": None if gpu else args.target, "backend": args.backend,
              "deepgemm": deep_gemm is not None, "mode": "timed" if gpu else "static", "cases": rows}
    if args.json:
        print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
