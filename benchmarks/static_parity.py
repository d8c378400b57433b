"""Static parity: tiledsl's default schedule against hand-written expert Triton kernels, compiled
ahead of time for sm_90a (no GPU needed).

For each case (bf16 GEMM at 4096^3 and 64x7168x2048, block-scaled FP8 GEMM at 4096x7168x2048,
MLA decode's split pass at b=128, h_q=128, seqlen 4096 beside SGLang's Triton decode kernel,
row softmax at 8192x8192 in fp32 and bf16 beside Triton's fused-softmax tutorial kernel)
both are compiled with Triton for ``GPUTarget("cuda", 90, 32)`` and compared on what the binary
says: registers and spills (``ptxas -v``), shared memory (Triton's allocation), wgmma count and
instruction shape (PTX), TMA use, pipeline stages, and the main loop's SASS instruction count
(``nvdisasm`` on the cubin: the innermost loop holding the tensor-core instructions; the PTX loop
when nvdisasm is missing) and the spill accesses inside that loop. Prints one table and writes
``benchmarks/results/static_parity.json``.

Memory-bound row kernels (softmax) have no loop: one program holds whole rows in registers and
runs straight through. Their ``loop_instrs`` is the whole kernel's SASS instruction count (up to
the last EXIT, NOP padding left out), the instructions one warp issues per program; their
``loop_per_kb`` is the warp-instructions a program issues per KB of rows it moves (that count x
num_warps / (rows x columns x itemsize x 2, read and written) in KB): per byte, not per FLOP, and
comparable across warp counts (`per_byte`). Registers show whether the row fits without spills
and how many programs an SM can hold. The tiledsl side is the brief's softmax as written
(`tiledsl.demo.softmax`): on bf16 it rounds ``x - max``, ``exp`` and the sum to bf16, as torch
does for those ops on bf16 tensors, where the expert computes in fp32 and rounds once. The row
``softmax_8192^2_bf16_fp32math`` is the expert's job written in tiledsl (the row widened to fp32
first, `benchmarks/parity_kernels.py`).

    python benchmarks/static_parity.py [--case NAME ...] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FIELDS = ("registers", "spill_stores", "spill_loads", "shared_bytes", "wgmma_count", "wgmma_shape",
          "tma", "tma_store", "stages", "num_warps", "tile", "loop_instrs", "loop_spills", "loop_per_mflop", "issue_per_mflop", "loop_per_kb",
          "loop_source")
RATIO_FIELDS = ("registers", "shared_bytes", "wgmma_count", "loop_instrs", "loop_per_mflop", "issue_per_mflop",
                "loop_per_kb")
CASES = {"gemm_bf16_4096^3": ("gemm", (4096, 4096, 4096)),
         "gemm_bf16_8192^3": ("gemm", (8192, 8192, 8192)),
         "gemm_bf16_64x7168x2048": ("gemm", (64, 7168, 2048)),
         "gemm_bf16_128x2112x7168": ("gemm", (128, 2112, 7168)),
         "gemm_bf16_16x4096x4096": ("gemm", (16, 4096, 4096)),
         "gemm_bf16_512x512x8192": ("gemm", (512, 512, 8192)),
         "fp8_block_4096x7168x2048": ("fp8", (4096, 7168, 2048)),
         "fp8_block_128x7168x2048": ("fp8", (128, 7168, 2048)),
         # DeepSeek decode: batch 128, 128 query heads on one latent KV head, 4096 cached tokens
         # (the split pass; "tile" is query rows x keys per step)
         "mla_decode_b128_h128_s4096": ("mla", (128, 128, 4096)),
         # row softmax, one row of 8192 columns per program on both sides ("tile" is rows x columns)
         "softmax_8192^2_f32": ("softmax", (8192, 8192, "f32")),
         "softmax_8192^2_bf16": ("softmax", (8192, 8192, "bf16")),
         # the same job as the expert's on bf16 rows: computed in fp32, rounded once on the store
         # (benchmarks/parity_kernels.py); the row above rounds each op's result to bf16 as torch
         "softmax_8192^2_bf16_fp32math": ("softmax_fp32", (8192, 8192, "bf16"))}
_WGMMA = re.compile(r"wgmma\.mma_async\.sync\.aligned\.(m\d+n\d+k\d+)")
# a bulk tensor copy from shared to global memory (a TMA store); loads go .shared::*.global
_TMA_STORE = re.compile(r"cp\.async\.bulk\.tensor\.\d+d\.global\.shared")
_MMA_SASS = re.compile(r"\b(?:[HQIB]GMMA|HMMA|IMMA)\b")  # wgmma, else mma.sync


# --- what a binary says ------------------------------------------------------------------------
def ptx_facts(ptx: str) -> dict:
    shapes = _WGMMA.findall(ptx)
    return {"wgmma_count": len(shapes), "wgmma_shape": ",".join(sorted(set(shapes))) or "-",
            "tma": "cp.async.bulk.tensor" in ptx, "tma_store": bool(_TMA_STORE.search(ptx))}


def _nvdisasm() -> str | None:
    tool = shutil.which("nvdisasm")
    if tool:
        return tool
    try:
        import triton

        p = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "nvdisasm"
        return str(p) if p.exists() else None
    except ImportError:
        return None


def sass_text(cubin: bytes) -> str | None:
    tool = _nvdisasm()
    if tool is None or not cubin:
        return None
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "k.cubin"
        f.write_bytes(cubin)
        proc = subprocess.run([tool, "-c", str(f)], capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def _mma_loop(lines: list[str], label_of, branch_target, is_mma) -> list[str] | None:
    """The smallest backward-branch region that holds a tensor-core instruction."""
    where: dict[str, int] = {}
    insts: list[str] = []
    for line in lines:
        lab = label_of(line)
        if lab:
            where[lab] = len(insts)
        elif line.strip() and not line.strip().startswith(("//", ".")):
            insts.append(line)
    best = None
    for i, line in enumerate(insts):
        tgt = branch_target(line)
        if tgt in where and where[tgt] <= i:
            body = insts[where[tgt]:i + 1]
            if any(is_mma(x) for x in body) and (best is None or len(body) < len(best)):
                best = body
    return best


def _innermost_loop(lines: list[str], label_of, branch_target, is_mma) -> int | None:
    """Instructions in the smallest backward-branch region that holds a tensor-core instruction."""
    body = _mma_loop(lines, label_of, branch_target, is_mma)
    return None if body is None else len(body)


_SASS_LOOP = (lambda ln: (m := re.match(r"^\s*(\.L_\w+):", ln)) and m.group(1),
              lambda ln: (m := re.search(r"\bBRA\b[^`]*`?\(?(\.L_\w+)", ln)) and m.group(1),
              lambda ln: bool(_MMA_SASS.search(ln)))


def sass_mma_loop(sass: str) -> list[str] | None:
    """The SASS instructions of the innermost loop holding the tensor-core instructions."""
    return _mma_loop(sass.splitlines(), *_SASS_LOOP)


def sass_loop_instrs(sass: str) -> int | None:
    return _innermost_loop(sass.splitlines(), *_SASS_LOOP)


def sass_loop_spills(sass: str) -> int | None:
    """Local-memory accesses (spill stores and loads) inside that loop."""
    body = sass_mma_loop(sass)
    return None if body is None else sum(bool(re.search(r"\b(?:STL|LDL)\b", x)) for x in body)


def sass_kernel_instrs(sass: str) -> int:
    """The whole kernel's SASS instructions up to its last EXIT (the alignment NOPs and the
    self-branch after it are padding, not work)."""
    insts = [ln.split("*/", 1)[1].strip() for ln in sass.splitlines()
             if ln.strip().startswith("/*") and "*/" in ln]
    insts = [x for x in insts if x and not x.startswith("NOP")]
    last = max((i for i, x in enumerate(insts) if re.search(r"\bEXIT\b", x)), default=len(insts) - 1)
    return last + 1


def ptx_loop_instrs(ptx: str) -> int | None:
    return _innermost_loop(
        ptx.splitlines(), lambda ln: (m := re.match(r"^\s*(\$?\w+):", ln)) and m.group(1),
        lambda ln: (m := re.search(r"\bbra(?:\.uni)?\s+(\$?\w+);", ln)) and m.group(1),
        lambda ln: "wgmma.mma_async" in ln or "mma.sync" in ln)


def binary_facts(ptx: str, shared: int, loopless: bool = False) -> dict:
    """What the binary says; `loopless`: a straight-line kernel, whose "loop" is the whole kernel."""
    from tiledsl.report import bundled_ptxas, ptxas_stats

    stats, cubin, _ = ptxas_stats(ptx, "sm_90a")
    if not stats:
        stats, cubin, _ = ptxas_stats(ptx, "sm_90a", ptxas=bundled_ptxas(90))
    sass = sass_text(cubin) if cubin else None
    if loopless:
        loop, src = (sass_kernel_instrs(sass), "sass kernel") if sass else (None, "-")
    else:
        loop, src = (sass_loop_instrs(sass), "sass") if sass else (ptx_loop_instrs(ptx), "ptx")
    return {"registers": stats.get("registers"), "spill_stores": stats.get("spill_stores"),
            "spill_loads": stats.get("spill_loads"), "shared_bytes": shared, **ptx_facts(ptx),
            "loop_instrs": loop, "loop_spills": sass_loop_spills(sass) if sass and not loopless else None,
            "loop_source": src}


# --- the two sides -------------------------------------------------------------------------------
def _meta(*shape, dtype):
    import torch

    return torch.empty(*shape, dtype=dtype, device="meta")


def tiledsl_launch(kind: str, shape: tuple[int, int, int]):
    import importlib

    import torch

    if kind == "mla":
        from tiledsl.kernels import registry

        entry = registry.get("mla_decode")
        b, h, n = shape
        return entry.launch(entry.mod(), entry.inputs({"B": b, "H": h, "N": n}, "meta"))
    M, N, K = shape
    if kind == "gemm":
        G = importlib.import_module("tiledsl.kernels.gemm")
        bf = torch.bfloat16
        return G.gemm_launch(_meta(M, K, dtype=bf), _meta(K, N, dtype=bf), _meta(M, N, dtype=bf))
    F = importlib.import_module("tiledsl.kernels.fp8")
    e4m3, f32 = torch.float8_e4m3fn, torch.float32
    return F.fp8_gemm_nt_launch(_meta(M, K, dtype=e4m3), _meta(M, -(-K // 128), dtype=f32),
                                _meta(N, K, dtype=e4m3), _meta(-(-N // 128), -(-K // 128), dtype=f32),
                                _meta(M, N, dtype=torch.bfloat16))


def softmax_compiled(shape: tuple[int, int, str], fp32_math: bool = False):
    """tiledsl's softmax (the brief's level-1 kernel, `tiledsl.demo.softmax`; with `fp32_math`,
    the same computed in fp32 and rounded once, `benchmarks/parity_kernels.py`) compiled for h100
    with its default schedule, on meta tensors."""
    import torch

    if fp32_math:
        from benchmarks.parity_kernels import softmax_fp32_math as softmax
    else:
        from tiledsl.demo import softmax

    M, N, dt = shape
    x = _meta(M, N, dtype={"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[dt])
    return softmax.compile(x, backend="triton", target="h100")


def per_byte(row: dict, rows: int, cols: int, itemsize: int) -> dict:
    """A loopless row kernel's instructions per byte: warp-instructions one program issues (the
    whole kernel's SASS count, each warp running it once, x num_warps) per KB of the rows it
    reads and writes (rows x cols x itemsize, twice). Fewer warps issue fewer instructions per byte
    (less of the cross-warp reduction) but hold more of the row per thread: read with registers."""
    n, warps = row.get("loop_instrs"), row.get("num_warps")
    if not n or not warps:
        return {"loop_per_mflop": None, "issue_per_mflop": None, "loop_per_kb": None}
    return {"loop_per_mflop": None, "issue_per_mflop": None, "loop_per_kb": round(n * warps / (2 * rows * cols * itemsize / 1024), 3)}


def per_iteration(row: dict, kind: str, bm: int, bn: int, bk: int | None) -> dict:
    """The main loop's instructions per MFLOP and per KB of operand tiles one iteration takes
    (per FLOP for compute-bound kernels, per byte for memory-bound ones). MLA (`bk` None): one
    step is `bm` query rows against `bn` cached keys of 576 (QK) and 512 (PV) dims, and reads
    the keys' 576-wide rows.

    `loop_per_mflop` counts one warp's instructions; `issue_per_mflop` counts what the SM's
    schedulers issue for the program, every warp's (x num_warps): a tile on two warp groups does
    twice the work per iteration with about the same per-warp loop, so the first figure favours
    8-warp tiles by 2x while the second compares issue slots, the resource the loop spends."""
    n, warps = row.get("loop_instrs"), row.get("num_warps")
    isz = 1 if kind == "fp8" else 2
    if not n:
        return {"loop_per_mflop": None, "issue_per_mflop": None, "loop_per_kb": None}
    mflop = 2 * bm * bn * ((576 + 512) if kind == "mla" else bk) / 1e6
    kb = (bn * 576 if kind == "mla" else (bm + bn) * bk) * isz / 1024
    return {"loop_per_mflop": round(n / mflop, 3),
            "issue_per_mflop": round(n * warps / mflop, 3) if warps else None,
            "loop_per_kb": round(n / kb, 3)}


def softmax_row(ck, shape) -> dict:
    M, N, dt = shape
    knobs = ck.schedule.as_dict()
    bm = knobs.get("BLOCK_M", 1)
    row = binary_facts(ck.code("ptx"), ck.report.shared_bytes or 0, loopless=True)
    row.update(stages=1, num_warps=knobs.get("num_warps"), tile=f"{bm}x{N}",
               predicted_us=round(ck.scheduled.estimate.time_us, 2))
    row.update(per_byte(row, bm, N, 4 if dt == "f32" else 2))
    return row


def tiledsl_row(kind: str, shape) -> dict:
    if kind in ("softmax", "softmax_fp32"):
        return softmax_row(softmax_compiled(shape, kind == "softmax_fp32"), shape)
    ck = tiledsl_launch(kind, shape).compile("triton", "h100")
    r, knobs = ck.report, ck.schedule.as_dict()
    row = binary_facts(ck.code("ptx"), r.shared_bytes or 0)
    tile = (f"{knobs.get('BM')}x{knobs.get('BN')}" if kind == "mla"
            else f"{knobs.get('BM')}x{knobs.get('BN')}x{knobs.get('BK')}")
    tile += f" split {knobs['SPLIT_K']}" if knobs.get("SPLIT_K", 1) > 1 else ""
    row.update(stages=knobs.get("stages", knobs.get("STAGES")), num_warps=knobs.get("num_warps"), tile=tile,
               predicted_us=round(ck.scheduled.estimate.time_us, 2),
               predicted_registers=ck.scheduled.estimate.regs_per_thread)
    row.update(per_iteration(row, kind, knobs["BM"], knobs["BN"], knobs.get("BK")))
    return row


def expert_row(kind: str, shape) -> dict:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from benchmarks.experts import triton_fp8_gemm, triton_gemm, triton_mla_decode, triton_softmax

    kind = "softmax" if kind == "softmax_fp32" else kind  # the expert computes in fp32 either way
    mod = {"gemm": triton_gemm, "fp8": triton_fp8_gemm, "mla": triton_mla_decode,
           "softmax": triton_softmax}[kind]
    fn, sig, consts, attrs, opts = mod.source(*shape)
    c = triton.compile(ASTSource(fn, sig, constexprs=consts, attrs=attrs), target=GPUTarget("cuda", 90, 32),
                       options={"enable_fp_fusion": True, **opts})  # explicit: Triton 3.9 warns otherwise
    row = binary_facts(c.asm["ptx"], int(getattr(c.metadata, "shared", 0) or 0), loopless=kind == "softmax")
    if kind == "softmax":
        row.update(stages=opts["num_stages"], num_warps=opts["num_warps"], tile=f"1x{consts['BLOCK_SIZE']}")
        row.update(per_byte(row, 1, shape[1], 4 if shape[2] == "f32" else 2))
        return row
    tile = (f"{consts['BLOCK_H']}x{consts['BLOCK_N']}" if kind == "mla"
            else f"{consts['BM']}x{consts['BN']}x{consts['BK']}")
    tile += f" split {consts['SPLIT_K']}" if consts.get("SPLIT_K", 1) > 1 else ""  # split-K experts
    row.update(stages=opts["num_stages"], num_warps=opts["num_warps"], tile=tile)
    row.update(per_iteration(row, kind, *((consts['BLOCK_H'], consts['BLOCK_N'], None) if kind == "mla"
                                          else (consts['BM'], consts['BN'], consts['BK']))))
    return row


def _ratio(a, b):
    return round(a / b, 3) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None


def compare(name: str) -> dict:
    kind, shape = CASES[name]
    ours, expert = tiledsl_row(kind, shape), expert_row(kind, shape)
    return {"case": name, "shape": list(shape), "tiledsl": ours, "expert": expert,
            "ratio": {f: _ratio(ours[f], expert[f]) for f in RATIO_FIELDS}}


def table(rows: list[dict]) -> str:
    head = ["case", "side", *FIELDS]
    out = [head]
    for r in rows:
        for side in ("tiledsl", "expert"):
            out.append([r["case"], side, *(str(r[side].get(f)) for f in FIELDS)])
        out.append([r["case"], "ratio", *(str(r["ratio"].get(f, "")) if f in RATIO_FIELDS else ""
                                          for f in FIELDS)])
    widths = [max(len(row[i]) for row in out) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="only these cases")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "static_parity.json"))
    args = ap.parse_args(argv)
    rows = [compare(n) for n in (args.case or CASES)]
    print(table(rows))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"target": "sm_90a", "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
