"""The benchmark harness behind ``tiledsl bench`` and ``benchmarks/run_all.py``.

Without a GPU (``mode: "static"``): the compiler's own speed (each stage of each registered kernel,
cold = first call in this process, warm = median of `repeat` further calls; the backend compiler's
second call is warm through its own caches) and, for every benchmark shape, the static report
(registers, spills, shared memory, wgmma, TMA) with the cost model's estimate placed on the target's
roofline. On a CUDA GPU (``mode: "timed"``): each kernel's public wrapper timed with
``triton.testing.do_bench``, TFLOP/s or GB/s, the fraction of the roofline at its arithmetic
intensity, the ratio to torch's way of doing the same job, and the error against its reference.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from tiledsl.dtypes import DType

NO_LAUNCH = "the registry entry has no `launch` (its @td.kernel call): no static report"
PEAK_DTYPE = {"bf16": DType.bf16, "fp8": DType.f8e4m3, "fp32": DType.f64}  # f64 -> the CUDA-core rate


def _ms(f: Callable, *args):
    t0 = time.perf_counter()
    out = f(*args)
    return out, (time.perf_counter() - t0) * 1e3


def _cold_warm(repeat: int, f: Callable, *args):
    out, cold = _ms(f, *args)
    warm = statistics.median(_ms(f, *args)[1] for _ in range(max(1, repeat)))
    return out, round(cold, 3), round(warm, 3)


def roofline_tflops(target, peak_dtype: str, intensity: float) -> float:
    """The roofline at `intensity` FLOP/byte: min(compute peak, intensity x HBM bandwidth)."""
    peak = target.peak_tflops(PEAK_DTYPE[peak_dtype])
    return min(peak, intensity * target.hbm_gbps * 1e-3)


def stage_times(launch, backend: str, target, repeat: int) -> dict:
    """Cold and warm milliseconds of each stage for one kernel call (no caches of tiledsl's own)."""
    from tiledsl.backends import get_backend
    from tiledsl.frontend import build_function
    from tiledsl.passes.pipeline import run_pipeline
    from tiledsl.runtime.kernel import CompiledKernel
    from tiledsl.specs import spec

    k = launch.kernel
    specs = launch.specs()
    bound, knobs = k._bind(specs, dict(launch.knobs))
    fn, *front = _cold_warm(repeat, build_function, k.source, bound, knobs)
    fn_specs = tuple(spec(bound[p.value.name]) for p in fn.params)
    sched, *pipe = _cold_warm(repeat, run_pipeline, fn, fn_specs, target, backend)
    row = {"frontend_ms": front, "schedule_ms": pipe}
    if backend == "ir":
        return row
    ck = CompiledKernel(k, backend, target, fn, sched, fn_specs)
    all_specs = ck._all_specs(bound)
    be = get_backend(backend)
    lowered, *low = _cold_warm(repeat, be.lower, sched.fn, all_specs, target)
    _, cold = _ms(be.compile, lowered, sched.fn, all_specs, target)
    _, warm = _ms(be.compile, lowered, sched.fn, all_specs, target)
    row.update(codegen_ms=low, backend_compile_ms=[round(cold, 1), round(warm, 1)])
    return row


def static_row(entry, shape: dict, backend: str, target) -> dict:
    row = _base_row(entry, shape, target)
    ck = entry.launch(entry.mod(), entry.inputs(dict(shape), "meta")).compile(backend, target.name)
    est, r = ck.estimate, ck.report
    t = est.time_us * 1e-6
    row.update(schedule=str(ck.schedule), est_time_us=round(est.time_us, 3), est_bound=est.bound,
               est_tflops=round(row["flops"] / t / 1e12, 2), est_gbps=round(row["bytes"] / t / 1e9, 1),
               cost_model_roofline=round(est.roofline, 3))
    row["fraction_of_roofline"] = round(row["est_tflops"] / row["roofline_tflops"], 3)
    if backend != "ir":
        row.update(registers=r.registers, spill_stores=r.spill_stores, spill_loads=r.spill_loads,
                   shared_bytes=r.shared_bytes, wgmma=r.uses_wgmma, tma=r.uses_tma)
    return row


def _base_row(entry, shape: dict, target) -> dict:
    flops, nbytes = entry.flops(shape), entry.bytes(shape)
    ai = flops / nbytes
    return {"case": entry.label(shape), "kernel": entry.name, "shape": dict(shape), "flops": flops,
            "bytes": nbytes, "intensity": round(ai, 2),
            "roofline_tflops": round(roofline_tflops(target, entry.peak_dtype, ai), 1),
            "memory_bound": ai * target.hbm_gbps * 1e-3 < target.peak_tflops(PEAK_DTYPE[entry.peak_dtype])}


def timed_row(entry, shape: dict, backend: str, target) -> dict:
    import torch
    import triton.testing

    from tiledsl.kernels.registry import relative_error

    row = _base_row(entry, shape, target)
    mod, t = entry.mod(), entry.inputs(dict(shape), "cuda")

    def run():
        return entry.call(mod, t, backend)

    out = run()  # compiles
    torch.cuda.synchronize()
    ms = triton.testing.do_bench(run, warmup=25, rep=100)
    tflops, gbps = row["flops"] / (ms * 1e-3) / 1e12, row["bytes"] / (ms * 1e-3) / 1e9
    row.update(ms=round(ms, 4), tflops=round(tflops, 1), gbps=round(gbps, 1),
               fraction_of_roofline=round(tflops / row["roofline_tflops"], 3),
               max_rel_error=relative_error(entry.valid(t, out), entry.valid(t, entry.ref(mod, t))))
    if entry.baseline is not None:
        base = triton.testing.do_bench(lambda: entry.baseline(t), warmup=25, rep=100)
        row.update(baseline_ms=round(base, 4), vs_baseline=round(base / ms, 3))
    torch.cuda.empty_cache()
    return row


def run(entries, backend: str, target_name: str, quick: bool = False, repeat: int = 5,
        stages: bool = True, progress: bool = False, echo: Callable[[str], None] | None = None) -> dict:
    """The whole suite; `quick` keeps each kernel's first benchmark shape only."""
    import torch
    from tqdm.auto import tqdm

    import tiledsl
    from tiledsl.targets import get_target

    gpu = torch.cuda.is_available()
    target = get_target(torch.cuda.get_device_name() if gpu else target_name)
    cases = [(e, s) for e in entries for s in (e.bench[:1] if quick else e.bench)]
    result = {"tiledsl": tiledsl.__version__, "mode": "timed" if gpu else "static",
              "device": torch.cuda.get_device_name() if gpu else "cpu", "target": target.name,
              "backend": backend, "hbm_gbps": target.hbm_gbps,
              "peak_tflops": {k: target.peak_tflops(v) for k, v in PEAK_DTYPE.items()},
              "compile": [], "cases": []}
    bar = tqdm(total=len(cases) + (len(entries) if stages else 0), desc="bench", unit="case",
               disable=not progress, file=sys.stderr)
    if stages:
        for e in entries:
            row = {"kernel": e.name, "case": e.label(e.bench[0])}
            if e.launch is None:
                row["skipped"] = NO_LAUNCH
                result["compile"].append(row)
                bar.update()
                continue
            try:
                launch = e.launch(e.mod(), e.inputs(dict(e.bench[0]), "meta"))
                row.update(stage_times(launch, backend, target, repeat))
            except Exception as ex:  # noqa: BLE001 - report and go on
                row["error"] = _one_line(ex)
            result["compile"].append(row)
            bar.update()
    for e, shape in cases:
        try:
            if gpu:
                row = timed_row(e, shape, backend, target)
            elif e.launch is None:
                row = {**_base_row(e, shape, target), "skipped": NO_LAUNCH}
            else:
                row = static_row(e, shape, backend, target)
        except Exception as ex:  # noqa: BLE001
            row = {**_base_row(e, shape, target), "error": _one_line(ex)}
        result["cases"].append(row)
        if echo is not None:
            bar.clear()
            echo(format_case(row))
        bar.update()
    bar.close()
    return result


def _one_line(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}"


CASE_WIDTH = 58  # the longest benchmark label (a grouped FP8 GEMM's) and a space


def format_case(row: dict) -> str:
    """One result line, rounded for reading (3 significant digits, units)."""
    from tiledsl._cli.show import binary, duration_us

    name = f"{row['case']:<{CASE_WIDTH}}"
    if "skipped" in row:
        return f"{name} skipped: {row['skipped']}"
    if "error" in row:
        return f"{name} ERROR {row['error']}"
    pre = "" if "ms" in row else "est_"  # measured or estimated
    rate = f"{rounded(row[pre + 'gbps'])} GB/s" if row["memory_bound"] else f"{rounded(row[pre + 'tflops'])} TFLOP/s"
    roof = f"{row['fraction_of_roofline']:.0%} of roofline"
    if "ms" in row:
        vs = f"  {row['vs_baseline']:.2f}x torch" if "vs_baseline" in row else ""
        return f"{name} {duration_us(row['ms'] * 1e3)}  {rate}  {roof}{vs}"
    regs = f"  regs {row['registers']} smem {binary(row['shared_bytes'])}" if "registers" in row else ""
    return f"{name} est {duration_us(row['est_time_us'])}  {rate}  {roof} ({row['est_bound']}-bound){regs}"


def rounded(v: float) -> str:
    """At least 3 significant digits, never an exponent, no trailing zeros past them: 1346.9 ->
    '1347', 523.04 -> '523', 25.71 -> '25.7', 1.46 -> '1.46', 0.9 -> '0.9'. One unit per column
    reads better in a table than SI prefixes."""
    if v >= 100:
        return f"{v:.0f}"
    text = f"{v:.1f}" if v >= 10 else f"{v:.2f}" if v >= 1 else f"{v:.3f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def stage_names(row: dict) -> list[str]:
    return [k.removesuffix("_ms") for k in row if k.endswith("_ms")]


def format_compile(row: dict) -> str:
    """One kernel's compile times per stage, cold/warm, in ms."""
    if "skipped" in row:
        return f"{row['kernel']:<34} skipped: {row['skipped']}"
    if "error" in row:
        return f"{row['kernel']:<34} ERROR {row['error']}"
    parts = [f"{s} {rounded(row[s + '_ms'][0])}/{rounded(row[s + '_ms'][1])}" for s in stage_names(row)]
    return f"{row['kernel']:<34} " + "  ".join(parts) + "  (ms, cold/warm)"


def _roofline_xs(result: dict) -> list[float]:
    """Intensities from 0.1 to 10^4 FLOP/byte, with each roof's ridge point so the corners are sharp."""
    bw = result["hbm_gbps"] * 1e-3
    ridges = [p / bw for p in result["peak_tflops"].values() if p]
    return sorted({10 ** (i / 20) for i in range(-20, 81)} | set(ridges))


def plot(result: dict, path: str) -> dict:
    """The roofline of the target with each case at its arithmetic intensity (measured on a GPU,
    the cost model's estimate without one) and, beside it, the compiler's time per stage (cold and
    warm) for each kernel. Returns what was drawn: {"points": cases placed, "kernels": bars}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    compiled = [r for r in result["compile"] if stage_names(r)]
    ncols = 2 if compiled else 1
    fig, axes = plt.subplots(1, ncols, figsize=(7.5 * ncols, 6), squeeze=False)
    points = _plot_roofline(axes[0][0], result)
    if compiled:
        _plot_compile(axes[0][1], compiled)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return {"points": points, "kernels": len(compiled)}


MARKERS = "osD^vP*X"


def _plot_roofline(ax, result: dict) -> int:
    """Each roof labelled at its flat end; each case a point, coloured by kernel, named in the legend."""
    bw = result["hbm_gbps"] * 1e-3  # TFLOP/s per FLOP/byte
    xs = _roofline_xs(result)
    for name, peak in result["peak_tflops"].items():
        if peak:
            line, = ax.plot(xs, [min(peak, x * bw) for x in xs], lw=1, color="0.55")
            kind = "fp32 CUDA cores" if name == "fp32" else name
            ax.annotate(f"{kind} {peak:.0f} TFLOP/s", (xs[-1], peak), fontsize=6, color="0.35",
                        ha="right", va="bottom")
    key = "tflops" if result["mode"] == "timed" else "est_tflops"
    kernels = list(dict.fromkeys(r["kernel"] for r in result["cases"] if key in r))
    colors = matplotlib_colors(len(kernels))
    seen: dict[str, int] = {}
    points = 0
    for row in result["cases"]:
        if key in row:
            k = kernels.index(row["kernel"])
            n = seen[row["kernel"]] = seen.get(row["kernel"], -1) + 1
            ax.scatter(row["intensity"], row[key], s=22, color=colors[k], marker=MARKERS[n % len(MARKERS)],
                       label=row["case"], zorder=3)
            points += 1
    how = "measured" if result["mode"] == "timed" else "cost model estimates"
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOP/byte)", ylabel="TFLOP/s",
           title=f"tiledsl on {result['target']} ({how}, {result['backend']})")
    if points:
        ax.legend(fontsize=6, loc="upper left", frameon=False)
    return points


def matplotlib_colors(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _plot_compile(ax, rows: list[dict]) -> None:
    """Horizontal bars: each stage's cold time, the warm time drawn over it."""
    stages = stage_names(rows[0])
    height = 0.8 / len(stages)
    for si_, stage in enumerate(stages):
        ys = [i + si_ * height for i in range(len(rows))]
        cold = [r.get(stage + "_ms", [0, 0])[0] for r in rows]
        warm = [r.get(stage + "_ms", [0, 0])[1] for r in rows]
        bars = ax.barh(ys, cold, height=height, alpha=0.35, label=f"{stage} cold")
        ax.barh(ys, warm, height=height, color=bars.patches[0].get_facecolor()[:3], label=f"{stage} warm")
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(rows))], [r["kernel"] for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set(xscale="log", xlabel="ms (log)", title="compiler speed per stage (pale: cold, dark: warm)")
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=len(stages), frameon=False)
