"""FP8 MoE dispatch and combine: bandwidth on a GPU, the static report without one.

Problem (DeepSeek-V3 layer): 4096 tokens, hidden 7168, top-8 of 256 experts, block_m 128.

On a CUDA GPU: milliseconds and GB/s of `moe_dispatch_fp8` (all its kernels and the one host sync
for M_pad) and of `moe_combine`, against the HBM bandwidth of the device, and the ratio to a torch
implementation of the same dispatch. Without a GPU: the static report of the dispatch's scatter
kernel and of the combine kernel (`.compile(..., backend="triton", target="h100").report`:
registers, spills, shared memory) and the bytes each moves, with the time they would take at 80 %
of an H200's 4.8 TB/s.

    python benchmarks/bench_moe.py [--json] [--tokens 4096 --hidden 7168 --topk 8 --experts 256]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from tiledsl.kernels import moe as M  # noqa: E402

HBM_GBS = {"H200": 4800.0, "H100": 3350.0, "A100": 2039.0}
H200_GBS = 4800.0


def routing(T: int, E: int, K: int, device="cpu", seed: int = 0) -> torch.Tensor:
    g = torch.Generator(device="cpu").manual_seed(seed)
    scores = torch.rand(T, E, generator=g)
    return scores.topk(K, dim=1).indices.int().to(device)


def layout(topk: torch.Tensor, E: int, block_m: int) -> tuple[int, int]:
    counts = torch.bincount(topk[topk >= 0].long().cpu(), minlength=E)
    m_pad = int(((counts + block_m - 1) // block_m * block_m).sum())
    return int(counts.sum()), m_pad


def bytes_moved(T: int, H: int, K: int, E: int, copies: int, m_pad: int, x_bytes: int = 2) -> dict:
    """Compulsory DRAM traffic of each op (the data it must read and write once)."""
    g = H // 128
    dispatch = (T * H * x_bytes               # read x once
                + 2 * T * K * 4               # topk_idx: counted, then scattered
                + m_pad * H + m_pad * g * 4   # x_fp8 and scales, padding rows included
                + m_pad * 4 + T * K * 4)      # m_indices, output_index
    combine = copies * H * 2 + T * K * 8 + T * H * 2   # gather y rows, index + weights, write out
    return {"dispatch": dispatch, "combine": combine}


def static_report(T: int, H: int, K: int, E: int) -> dict:
    """Compile the hot kernels for Hopper without running them (Triton AOT)."""
    x = torch.empty(T, H, dtype=torch.bfloat16, device="meta")
    idx = torch.empty(T, K, dtype=torch.int64, device="meta")
    out = {}
    scatter = M.dispatch_launch(x, idx, E).compile("triton", "h100")
    out["scatter"] = _report_dict(scatter.report)
    y = torch.empty(T * K, H, dtype=torch.bfloat16, device="meta")
    comb = M.combine_launch(y, torch.empty(T, K, dtype=torch.int32, device="meta"),
                            torch.empty(T, K, device="meta"), x).compile("triton", "h100")
    out["combine"] = _report_dict(comb.report)
    return out


def _report_dict(r) -> dict:
    keys = ("arch", "registers", "spill_stores", "spill_loads", "shared_bytes", "uses_tma", "notes")
    d = {k: getattr(r, k, None) for k in keys}
    d["notes"] = list(d["notes"] or ())
    return d


def _time_ms(f, iters: int = 20) -> float:
    for _ in range(3):
        f()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        f()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def _torch_dispatch(x, topk, E, block_m):
    """What a user would write without the kernel: quantize, sort by expert, pad."""
    q, s = M.quant_fp8_ref(x)
    flat = topk.view(-1).long()
    order = torch.argsort(torch.where(flat >= 0, flat, E), stable=True)
    counts = torch.bincount(flat[flat >= 0], minlength=E)
    padded = (counts + block_m - 1) // block_m * block_m
    starts = torch.cumsum(padded, 0) - padded
    m_pad = int(padded.sum())
    valid = order[: int(counts.sum())]
    e_sorted = flat[valid]
    rank = torch.arange(valid.numel(), device=x.device) - (torch.cumsum(counts, 0) - counts)[e_sorted]
    dst = starts[e_sorted] + rank
    xq = torch.zeros(m_pad, x.shape[1], dtype=torch.float8_e4m3fn, device=x.device)
    xq[dst] = q[valid // topk.shape[1]]
    sq = torch.zeros(m_pad, s.shape[1], device=x.device)
    sq[dst] = s[valid // topk.shape[1]]
    return xq, sq


def gpu_bench(T: int, H: int, K: int, E: int, block_m: int) -> dict:
    dev = "cuda"
    x = torch.randn(T, H, device=dev, dtype=torch.bfloat16)
    topk = routing(T, E, K, dev)
    copies, m_pad = layout(topk, E, block_m)
    nbytes = bytes_moved(T, H, K, E, copies, m_pad)
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in HBM_GBS.items() if k in name), None)
    ms = _time_ms(lambda: M.moe_dispatch_fp8(x, topk, E, block_m, backend="triton"))
    ms_torch = _time_ms(lambda: _torch_dispatch(x, topk, E, block_m))
    _, _, _, oi = M.moe_dispatch_fp8(x, topk, E, block_m, backend="triton")
    y = torch.randn(m_pad, H, device=dev, dtype=torch.bfloat16)
    w = torch.rand(T, K, device=dev)
    ms_c = _time_ms(lambda: M.moe_combine(y, oi, w, backend="triton"))
    res = {"device": name, "hbm_GBs": peak}
    for op, t in (("dispatch", ms), ("combine", ms_c)):
        gbs = nbytes[op] / t / 1e6
        res[op] = {"ms": t, "bytes": nbytes[op], "GBs": gbs, "fraction_of_hbm": gbs / peak if peak else None}
    res["dispatch"]["torch_ms"] = ms_torch
    res["dispatch"]["speedup_vs_torch"] = ms_torch / ms
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=7168)
    ap.add_argument("--topk", type=int, default=8)
    ap.add_argument("--experts", type=int, default=256)
    ap.add_argument("--block-m", type=int, default=128)
    ap.add_argument("--json", action="store_true", help="print JSON only")
    a = ap.parse_args()
    T, H, K, E, bm = a.tokens, a.hidden, a.topk, a.experts, a.block_m
    topk = routing(T, E, K)
    copies, m_pad = layout(topk, E, bm)
    res: dict = {"problem": {"tokens": T, "hidden": H, "topk": K, "experts": E, "block_m": bm,
                             "copies": copies, "m_pad": m_pad}}
    if torch.cuda.is_available():
        res["gpu"] = gpu_bench(T, H, K, E, bm)
    else:
        nbytes = bytes_moved(T, H, K, E, copies, m_pad)
        res["bytes_moved"] = nbytes
        res["h200_us_at_80pct_hbm"] = {k: v / (0.8 * H200_GBS * 1e3) for k, v in nbytes.items()}
        res["static_report_h100"] = static_report(min(T, 64), H, K, E)
    if a.json:
        print(json.dumps(res, indent=2))
        return
    for k, v in res.items():
        print(f"{k}: {json.dumps(v, indent=2)}")


if __name__ == "__main__":
    main()
