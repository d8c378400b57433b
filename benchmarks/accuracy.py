"""Accuracy of every reference kernel on CPU, measured the way DeepGEMM and FlashMLA measure it:
``diff = 1 - 2·Σxy / Σ(x² + y²)`` (0 for equal tensors; about half the mean squared relative
error) between the kernel's output and the exact result in fp32/fp64.

"Exact" is the product of the *unquantized* fp32 operands for the GEMMs (so the FP8 rows include
the quantization error, as DeepGEMM's tests do), the fp32 attention of the same bf16 inputs for
MLA decode, the input itself for the FP8 casts (dequantized output against x) and the fp32 sum for
the MoE combine. Small representative shapes, so the CPU executors (``eager``: the kernel's own
Python over torch; ``ir``: tiledsl's interpreter of the scheduled IR; ``triton``: Triton's
interpreter, optional) finish in about a minute.

    python benchmarks/accuracy.py [--backends eager,ir] [--out benchmarks/results/accuracy_cpu.txt]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import importlib  # noqa: E402

import torch  # noqa: E402

# modules by name: tiledsl.kernels exports functions named like some of its modules (gemm)
F, GM, GR, MLA, MOE = (importlib.import_module(f"tiledsl.kernels.{m}") for m in ("fp8", "gemm", "grouped", "mla", "moe"))

# the bars of the issues: below 1e-5 for bf16, below 1e-3 for FP8 (quantization included)
BAR_BF16, BAR_FP8 = 1e-5, 1e-3


def diff(x: torch.Tensor, y: torch.Tensor) -> float:
    """DeepGEMM's `calc_diff` in fp64 (0 when both are all zero)."""
    x, y = x.double(), y.double()
    den = (x * x + y * y).sum()
    return 0.0 if den == 0 else float(1 - 2 * (x * y).sum() / den)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _groups_fp8(x: torch.Tensor, per_token: bool):
    cast = F.per_token_cast_to_fp8_ref if per_token else F.per_block_cast_to_fp8_ref
    q, s = zip(*(cast(x[g]) for g in range(x.shape[0])))
    return torch.stack(q), torch.stack(s)


def _contiguous_indices(sizes: list[int]) -> torch.Tensor:
    idx: list[int] = []
    for g, s in enumerate(sizes):
        idx += [g] * s + [-1] * (-s % 128)
    return torch.tensor(idx, dtype=torch.int32)


# --- one case per kernel: (label, shape text, bar, run(backend) -> diff) -----------------------


def case_gemm(be: str) -> float:
    g = _gen(1)
    a, b = torch.randn(96, 200, generator=g), torch.randn(200, 72, generator=g)
    return diff(GM.gemm(a.bfloat16(), b.bfloat16(), backend=be), a @ b)


def case_fp8_gemm(be: str) -> float:
    g = _gen(2)
    a, b = torch.randn(64, 384, generator=g), torch.randn(160, 384, generator=g)
    (aq, sa), (bq, sb) = F.per_token_cast_to_fp8_ref(a), F.per_block_cast_to_fp8_ref(b)
    return diff(F.fp8_gemm_nt(aq, sa, bq, sb, backend=be), a @ b.T)


def case_per_token_cast(be: str) -> float:
    x = torch.randn(40, 300, generator=_gen(3))
    q, s = F.per_token_cast_to_fp8(x, backend=be)
    return diff(F.dequantize(q, s, 1, 128), x)


def case_per_block_cast(be: str) -> float:
    x = torch.randn(130, 200, generator=_gen(4))
    q, s = F.per_block_cast_to_fp8(x, backend=be)
    return diff(F.dequantize(q, s, 128, 128), x)


def _contiguous(fp8: bool, be: str) -> float:
    g = _gen(5)
    mi = _contiguous_indices([100, 0, 130])
    a, b = torch.randn(mi.numel(), 256, generator=g), torch.randn(3, 72, 256, generator=g)
    exact = torch.zeros(mi.numel(), 72)  # the fp32 product of the unquantized operands
    for grp in range(3):
        rows = mi == grp
        exact[rows] = a[rows] @ b[grp].T
    rows = mi >= 0
    if fp8:
        (aq, sa), (bq, sb) = F.per_token_cast_to_fp8_ref(a), _groups_fp8(b, per_token=False)
        out = GR.m_grouped_fp8_gemm_nt_contiguous(aq, sa, bq, sb, mi, backend=be)
    else:
        out = GR.m_grouped_gemm_nt_contiguous(a.bfloat16(), b.bfloat16(), mi, backend=be)
    return diff(out[rows], exact[rows])


def _masked(fp8: bool, be: str) -> float:
    g = _gen(6)
    G, m_max, masked = 3, 48, [5, 0, 48]
    a, b = torch.randn(G, m_max, 256, generator=g), torch.randn(G, 72, 256, generator=g)
    mm = torch.tensor(masked, dtype=torch.int32)
    rows = torch.arange(m_max)[None, :] < mm[:, None]
    exact = torch.einsum("gmk,gnk->gmn", a, b)
    if fp8:
        (aq, sa), (bq, sb) = _groups_fp8(a, per_token=True), _groups_fp8(b, per_token=False)
        out = GR.m_grouped_fp8_gemm_nt_masked(aq, sa, bq, sb, mm, 16, backend=be)
    else:
        out = GR.m_grouped_gemm_nt_masked(a.bfloat16(), b.bfloat16(), mm, 16, backend=be)
    return diff(out[rows], exact[rows])


def _mla_inputs(h_q: int):
    g = _gen(7)
    lens = [0, 1, 63, 130]
    width = max(-(-n // 64) for n in lens) + 1
    b = len(lens)
    kv = torch.randn(b * width, 64, 1, 576, generator=g).bfloat16()
    table = torch.randperm(b * width, generator=g).reshape(b, width).to(torch.int32)
    q = torch.randn(b, 1, h_q, 576, generator=g).bfloat16()
    return q, kv, table, torch.tensor(lens, dtype=torch.int32)


def _mla(part: int, be: str) -> float:
    q, kv, table, lens = _mla_inputs(64)
    got = MLA.mla_decode(q, kv, table, lens, backend=be)
    ref = MLA.mla_decode_ref(q.float(), kv.float(), table, lens)  # fp32 attention, fp32 out
    if part == 0:
        return diff(got[0].float(), ref[0])
    seen = torch.isfinite(ref[1])  # empty sequences: lse = +inf on both sides (checked by tests)
    return diff(got[1][seen], ref[1][seen])


def case_moe_dispatch(be: str) -> float:
    g = _gen(8)
    x = torch.randn(24, 256, generator=g).bfloat16()
    topk = torch.stack([torch.randperm(8, generator=g)[:2] for _ in range(24)])
    xq, sc, mi, idx = MOE.moe_dispatch_fp8(x, topk, 8, backend=be)
    rows = idx.view(-1).long()
    deq = F.dequantize(xq[rows], sc[rows], 1, 128)
    return diff(deq, x.float().repeat_interleave(2, dim=0))


def case_moe_combine(be: str) -> float:
    g = _gen(9)
    T, K, H = 24, 2, 256
    y = torch.randn(T * K, H, generator=g).bfloat16()
    index = torch.randperm(T * K, generator=g).view(T, K).to(torch.int32)
    w = torch.rand(T, K, generator=g)
    exact = (w[..., None] * y.float()[index.long()]).sum(1)
    return diff(MOE.moe_combine(y, index, w, backend=be), exact)


CASES: tuple[tuple[str, str, float, Callable[[str], float]], ...] = (
    ("gemm (bf16)", "96x72x200", BAR_BF16, case_gemm),
    ("fp8_gemm_nt", "64x160x384", BAR_FP8, case_fp8_gemm),
    ("per_token_cast_to_fp8", "40x300", BAR_FP8, case_per_token_cast),
    ("per_block_cast_to_fp8", "130x200", BAR_FP8, case_per_block_cast),
    ("m_grouped_gemm_nt_contiguous", "G=3 rows 100,0,130 N=72 K=256", BAR_BF16, lambda be: _contiguous(False, be)),
    ("m_grouped_fp8_gemm_nt_contiguous", "G=3 rows 100,0,130 N=72 K=256", BAR_FP8, lambda be: _contiguous(True, be)),
    ("m_grouped_gemm_nt_masked", "G=3 M_max=48 masked 5,0,48 N=72 K=256", BAR_BF16, lambda be: _masked(False, be)),
    ("m_grouped_fp8_gemm_nt_masked", "G=3 M_max=48 masked 5,0,48 N=72 K=256", BAR_FP8, lambda be: _masked(True, be)),
    ("mla_decode out", "b=4 h_q=64 seqlens 0,1,63,130", BAR_BF16, lambda be: _mla(0, be)),
    ("mla_decode lse", "b=4 h_q=64 seqlens 0,1,63,130", BAR_BF16, lambda be: _mla(1, be)),
    ("moe_dispatch_fp8", "T=24 H=256 E=8 topk=2", BAR_FP8, case_moe_dispatch),
    ("moe_combine", "T=24 H=256 topk=2", BAR_BF16, case_moe_combine),
)


def run(backends: list[str]) -> list[dict]:
    rows = []
    for label, shape, bar, fn in CASES:
        row = {"kernel": label, "shape": shape, "bar": bar}
        for be in backends:
            t = time.perf_counter()
            row[be] = fn(be)
            row[f"{be}_s"] = time.perf_counter() - t
        rows.append(row)
    return rows


def table(rows: list[dict], backends: list[str]) -> str:
    head = ["kernel", "shape", *backends, "bar", "ok"]
    out = [head]
    for r in rows:
        ok = all(r[be] < r["bar"] for be in backends)
        out.append([r["kernel"], r["shape"], *(f"{r[be]:.2e}" for be in backends), f"{r['bar']:.0e}",
                    "yes" if ok else "NO"])
    widths = [max(len(row[i]) for row in out) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="eager,ir", help="comma-separated CPU executors (eager, ir, triton)")
    ap.add_argument("--out", type=Path, help="also write the table here")
    args = ap.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    rows = run(backends)
    text = ("DeepGEMM's metric 1 - 2*sum(xy)/sum(x^2+y^2) against the exact fp32 result, on CPU\n"
            + table(rows, backends))
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if all(r[be] < r["bar"] for r in rows for be in backends) else 1


if __name__ == "__main__":
    sys.exit(main())
