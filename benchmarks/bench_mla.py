"""MLA decode (`tiledsl.kernels.mla_decode`): speed on a CUDA GPU, static report without one.

On a GPU: b=128, s_q=1, h_q=128, h_kv=1 (DeepSeek's decode shape) at seqlen 4096 and a sweep of
seqlens; microseconds per call (median of CUDA-event timings), GB/s of cache and query traffic,
TFLOP/s, the fraction of the device's roofline (max of the HBM time and the tensor-core time),
and the ratio to FlashMLA when `flash_mla` is importable; plus FlashMLA's metric against the torch
reference at the first seqlen.

Without a GPU: the ahead-of-time report of both passes for the target (registers, spills, shared
memory, wgmma, TMA), and for each seqlen the roofline bounds for the target (h200: 4.8 TB/s,
989 TFLOP/s bf16) next to the compiler's cost-model estimate (see `cpu_estimates`).

    python benchmarks/bench_mla.py [--json] [--out FILE] [--target h200] [--seqlens 1024,4096]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from tiledsl.kernels import mla  # noqa: E402

from tiledsl.targets import get_target  # noqa: E402

D, DV, PAGE = mla.HEAD_DIM, mla.HEAD_DIM_V, mla.PAGE_SIZE
SEQLENS = (1024, 2048, 4096, 8192, 16384)


def traffic(b: int, s_q: int, h_q: int, h_kv: int, seqlen: int, itemsize: int = 2) -> tuple[float, float]:
    """(bytes, flops) of one call: each cache row read once (the row blocks of a KV head share
    pages through L2), q read and out written once; QK over D dims and PV over DV."""
    cache = b * seqlen * h_kv * D * itemsize
    io = b * s_q * h_q * (D + DV) * itemsize + b * h_q * s_q * 4
    flops = 2.0 * b * s_q * h_q * seqlen * (D + DV)
    return float(cache + io), flops


def roofline_us(nbytes: float, flops: float, target) -> dict:
    mem = nbytes / (target.hbm_gbps * 1e9) * 1e6
    comp = flops / (target.tflops["bf16"] * 1e12) * 1e6
    return {"hbm_bound_us": mem, "tensor_core_bound_us": comp, "roofline_us": max(mem, comp),
            "bound": "memory" if mem >= comp else "compute"}


def shape_plan(b: int, s_q: int, h_q: int, h_kv: int, seqlen: int, sms: int) -> dict:
    rows = s_q * h_q // h_kv
    bm = mla.rows_per_tile(rows)
    row_blocks = math.ceil(rows / bm)
    pages = math.ceil(seqlen / PAGE)
    splits = mla.num_splits(b, h_kv, row_blocks, pages, sms)
    return {"BM": bm, "row_blocks": row_blocks, "splits": splits,
            "programs": row_blocks * b * h_kv * splits, "pages_per_program": math.ceil(pages / splits)}


# --- without a GPU ------------------------------------------------------------------------------

def static_report(b: int, h_q: int, seqlen: int, target: str) -> dict:
    """AOT-compile the calls `mla_decode` makes for `target` through Triton (and try TileLang):
    the split pass, and the combine at 4 splits (b=128, h_q=128 needs none)."""
    pages = math.ceil(seqlen / PAGE)
    meta = dict(dtype=torch.bfloat16, device="meta")
    q, kv = torch.empty(b, 1, h_q, D, **meta), torch.empty(b * pages, PAGE, 1, D, **meta)
    table = torch.empty(b, pages, dtype=torch.int32, device="meta")
    lens = torch.empty(b, dtype=torch.int32, device="meta")
    plan = shape_plan(b, 1, h_q, 1, seqlen, get_target(target).sms)
    split = mla.decode_launches(q, kv, table, lens, target=target).launches[0]
    out: dict = {"plan": plan}
    for backend in ("triton", "tilelang"):
        try:
            out[f"split_{backend}"] = _report_dict(split.compile(backend, target))
        except Exception as e:  # noqa: BLE001 - the report says why a backend could not compile it
            out[f"split_{backend}"] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
    combine = mla.decode_launches(q, kv, table, lens, target=target, num_splits_override=4).launches[1]
    out["combine_triton"] = _report_dict(combine.compile("triton", target))
    return out


def _report_dict(ck) -> dict:
    r = ck.report
    d = {"schedule": str(ck.schedule), "registers": r.registers, "spill_stores": r.spill_stores,
         "spill_loads": r.spill_loads, "shared_bytes": r.shared_bytes, "uses_wgmma": r.uses_wgmma,
         "uses_tma": r.uses_tma, "estimate": {k: v for k, v in r.estimate.items() if not isinstance(v, str)}}
    if "ptx" in ck.stages:
        shapes = re.findall(r"wgmma\.mma_async\.sync\.aligned\.m(\d+)n(\d+)k(\d+)", ck.code("ptx"))
        d["wgmma_shapes"] = sorted({f"m{m}n{n}k{k}" for m, n, k in shapes})
        # tensor-core flops the program's code issues per step of the key loop (every warp
        # group runs it; the split pass has all of them in that loop)
        groups = int(re.search(r"num_warps=(\d+)", d["schedule"]).group(1)) // 4
        d["wgmma_flops_per_step"] = groups * sum(2 * int(m) * int(n) * int(k) for m, n, k in shapes)
    return d


def cpu_estimates(b: int, h_q: int, seqlens, target: str, cost_model_us: float | None) -> list[dict]:
    """Roofline bounds per seqlen, and the compiler's cost-model estimate. The cost model prices
    a loop whose trip count is only known at run time at `UNKNOWN_TRIPS` (64) iterations, i.e. 64
    pages per program (seqlen 4096 with one split); other seqlens scale its time, less the
    launch, by their pages per program."""
    from tiledsl.schedule.analysis import UNKNOWN_TRIPS
    from tiledsl.schedule.cost import LAUNCH_US

    tgt = get_target(target)
    rows = []
    for L in seqlens:
        nbytes, flops = traffic(b, 1, h_q, 1, L)
        plan = shape_plan(b, 1, h_q, 1, L, tgt.sms)
        row = {"seqlen": L, **plan, "bytes": nbytes, "flops": flops, **roofline_us(nbytes, flops, tgt)}
        if cost_model_us is not None:
            est = LAUNCH_US + (cost_model_us - LAUNCH_US) * plan["pages_per_program"] / UNKNOWN_TRIPS
            row.update(estimate_us=est, estimate_fraction_of_roofline=row["roofline_us"] / est,
                       estimate_gbps=nbytes / est / 1e3, estimate_tflops=flops / est / 1e6)
        rows.append(row)
    return rows


# --- on a GPU -----------------------------------------------------------------------------------

def make_inputs(b: int, s_q: int, h_q: int, seqlen: int, device: str = "cuda"):
    pages = math.ceil(seqlen / PAGE)
    kv = torch.randn(b * pages, PAGE, 1, D, dtype=torch.bfloat16, device=device)
    table = torch.randperm(b * pages, device=device).to(torch.int32).reshape(b, pages)
    q = torch.randn(b, s_q, h_q, D, dtype=torch.bfloat16, device=device)
    return q, kv, table, torch.full((b,), seqlen, dtype=torch.int32, device=device)


def time_us(f, reps: int = 30) -> float:
    for _ in range(3):
        f()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        f()
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e) * 1e3)
    return sorted(times)[len(times) // 2]


def flashmla_call(q, kv, table, lens):
    """A zero-argument call of FlashMLA on these inputs, or None when it is not installed."""
    try:
        from flash_mla import flash_mla_with_kvcache, get_mla_metadata
    except ImportError:
        return None
    meta, splits = get_mla_metadata(lens, q.shape[1] * q.shape[2] // kv.shape[2], kv.shape[2])
    return lambda: flash_mla_with_kvcache(q, kv, table, lens, DV, meta, splits, causal=False)


def gpu_rows(b: int, h_q: int, seqlens) -> list[dict]:
    props = torch.cuda.get_device_properties(0)
    tgt = get_target(torch.cuda.get_device_name())
    rows = []
    for i, L in enumerate(seqlens):
        q, kv, table, lens = make_inputs(b, 1, h_q, L)
        call = functools.partial(mla.mla_decode, q, kv, table, lens, check_indices=False)
        row = {"seqlen": L, **shape_plan(b, 1, h_q, 1, L, props.multi_processor_count)}
        if i == 0:
            out, lse = call()
            ro, rl = mla.mla_decode_ref(q, kv, table, lens)
            row["metric_out"] = _metric(out.float(), ro.float())
            row["metric_lse"] = _metric(lse, rl)
        us = time_us(call)
        nbytes, flops = traffic(b, 1, h_q, 1, L)
        roof = roofline_us(nbytes, flops, tgt)
        row.update(us=us, gbps=nbytes / us / 1e3, tflops=flops / us / 1e6,
                   fraction_of_roofline=roof["roofline_us"] / us, **roof)
        try:
            fm = flashmla_call(q, kv, table, lens)
            if fm is not None:
                fus = time_us(fm)
                row.update(flashmla_us=fus, ratio_to_flashmla=fus / us)
        except Exception as e:  # noqa: BLE001 - another FlashMLA release's API: say so, keep ours
            row["flashmla_error"] = f"{type(e).__name__}: {e}"[:300]
        rows.append(row)
    return rows


def _metric(x: torch.Tensor, y: torch.Tensor) -> float:
    x, y = x.double(), y.double()
    return (1 - 2 * (x * y).sum() / (x * x + y * y).sum()).item()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON only")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    ap.add_argument("--target", default="h200", help="target of the static report without a GPU")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--heads", type=int, default=128)
    ap.add_argument("--seqlens", default=",".join(map(str, SEQLENS)))
    a = ap.parse_args(argv)
    seqlens = [4096] + [int(s) for s in a.seqlens.split(",") if int(s) != 4096]
    res: dict = {"shape": {"b": a.batch, "s_q": 1, "h_q": a.heads, "h_kv": 1, "d": D, "dv": DV}}
    if torch.cuda.is_available():
        res["device"] = torch.cuda.get_device_name()
        res["rows"] = gpu_rows(a.batch, a.heads, seqlens)
    else:
        res["device"] = None
        res["target"] = a.target
        res["static"] = static_report(a.batch, a.heads, 4096, a.target)
        split = res["static"].get("split_triton", {})
        keys = int(re.search(r"BN=(\d+)", split.get("schedule", f"BN={PAGE}")).group(1))
        useful = 2.0 * res["static"]["plan"]["BM"] * keys * (D + DV)
        # tensor-core flops the binary issues per useful one (Triton runs the 64 x BN QK on both
        # warp groups of a program); the cost model prices useful flops only
        res["static"]["tensor_core_flops_per_useful_flop"] = split.get("wgmma_flops_per_step", useful) / useful
        res["estimates"] = cpu_estimates(a.batch, a.heads, seqlens, a.target,
                                         split.get("estimate", {}).get("time_us"))
    text = json.dumps(res, indent=1)
    if a.out:
        a.out.write_text(text + "\n")
    if a.json:
        print(text)
    else:
        _print_table(res)
    return res


def _print_table(res: dict) -> None:
    print(f"MLA decode {res['shape']} on {res['device'] or res['target'] + ' (static, no GPU)'}")
    if res["device"] is None:
        for k, v in res["static"].items():
            print(f"  {k}: {v}")
    for r in res.get("rows") or res.get("estimates", []):
        print("  " + "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
