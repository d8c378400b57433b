"""Static parity, TileLang side: tiledsl's TileLang lowering of its default schedule against
hand-written expert TileLang kernels (benchmarks/experts/tilelang_*.py), both lowered by TileLang
to CUDA C for sm_90a without a GPU and compiled with nvcc; the facts come from the same functions
as the Triton table (`static_parity.binary_facts`: ``ptxas -v`` registers and spills, wgmma count
and shape and TMA from the PTX, the SASS of the innermost loop holding the tensor-core
instructions from nvdisasm). Stages are the ``T.Pipelined`` loop's ``num_stages`` (``-``: the loop
is not pipelined). ``wgmma_count`` counts the whole kernel's wgmma instructions, ``loop_wgmma``
those of the main loop only: tiledsl's paged decode peels the masked last page off the loop
(lowering/tilelang/peel.py), a second copy of the body's gemms outside it, so its kernel holds
twice the expert's while its loop holds the same. Prints one table and writes JSON and a Markdown
table.

    python benchmarks/static_parity_tilelang.py [--case NAME ...] [--json PATH] [--md PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import static_parity as SP  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
# kind: "gemm" (kernels/gemm.py, level 2), "l1" (level-1 ``a @ b``, against the same expert),
# "fp8" (kernels/fp8.py), "paged" (the paged decode probe at MLA sizes: batch, query heads, tokens)
CASES = {"gemm_bf16_4096^3": ("gemm", (4096, 4096, 4096)),
         "matmul_l1_4096^3": ("l1", (4096, 4096, 4096)),
         "gemm_bf16_64x7168x2048": ("gemm", (64, 7168, 2048)),
         "fp8_block_4096x7168x2048": ("fp8", (4096, 7168, 2048)),
         "paged_decode_b128_h128_s4096": ("paged", (128, 128, 4096))}
# the paged probe at MLA-like sizes: 576-wide latent rows of which 512 are V, pages of 64 tokens
PAGED = {"D": 576, "DV": 512, "PAGE": 64, "blocks": 8192}
_STAGES = re.compile(r"T\.Pipelined\([^\n]*num_stages=(\d+)")
_PTX_LOOP = (lambda ln: (m := re.match(r"^\s*(\$?\w+):", ln)) and m.group(1),
             lambda ln: (m := re.search(r"\bbra(?:\.uni)?\s+(\$?\w+);", ln)) and m.group(1),
             lambda ln: "wgmma.mma_async" in ln)


def loop_wgmma(ptx: str) -> int | None:
    """wgmma instructions in the innermost PTX loop holding any (the main loop's, like for like)."""
    body = SP._mma_loop(ptx.splitlines(), *_PTX_LOOP)
    return None if body is None else sum("wgmma.mma_async" in ln for ln in body)


def _target():
    from tiledsl.targets import get_target

    return get_target("h100")


def _stages(program_text: str) -> int | None:
    found = [int(s) for s in _STAGES.findall(program_text)]
    return max(found) if found else None


def _paged_specs(B: int, H: int, seqlen: int):
    from tiledsl.dtypes import DType
    from tiledsl.specs import TensorSpec as T

    bf, D, DV, PAGE = DType.bf16, PAGED["D"], PAGED["DV"], PAGED["PAGE"]
    return ((T((B, H, D), bf), T((PAGED["blocks"], PAGE, D), bf), T((B, seqlen // PAGE), DType.i32),
             T((B,), DType.i32), T((B, H, DV), bf), 0.07), dict(D=D, DV=DV, PAGE=PAGE))


def tiledsl_compiled(kind: str, shape):
    """tiledsl's kernel for the case, compiled by its TileLang backend for h100."""
    if kind in ("gemm", "fp8"):
        return SP.tiledsl_launch(kind, shape).compile("tilelang", "h100")
    from tests import kernels_for_tests as K

    if kind == "l1":
        from tiledsl.dtypes import DType
        from tiledsl.specs import TensorSpec as T

        M, N, Kd = shape
        return K.matmul_l1.compile(T((M, Kd), DType.bf16), T((Kd, N), DType.bf16), backend="tilelang",
                                   target="h100")
    specs, kw = _paged_specs(*shape)
    return K.paged_decode.compile(*specs, backend="tilelang", target="h100", **kw)


def _tile(kind: str, k: dict) -> str:
    if kind == "paged":
        return f"{k.get('BH')}x{k.get('PAGE')}"
    if kind == "l1":
        return f"{k.get('BLOCK_M')}x{k.get('BLOCK_N')}x{k.get('BLOCK_K')}"
    return f"{k.get('BM')}x{k.get('BN')}x{k.get('BK')}"


def _per_iteration(row: dict, kind: str, tile: str) -> dict:
    dims = [int(x) for x in tile.split("x")]
    if kind == "paged":
        return SP.per_iteration(row, "mla", dims[0], dims[1], None)
    return SP.per_iteration(row, "fp8" if kind == "fp8" else "gemm", *dims)


def tiledsl_row(kind: str, shape) -> dict:
    ck = tiledsl_compiled(kind, shape)
    knobs = ck.schedule.as_dict()
    row = SP.binary_facts(ck.code("ptx"), ck.report.shared_bytes or 0)
    row["loop_wgmma"] = loop_wgmma(ck.code("ptx"))
    tile = _tile(kind, knobs)
    row.update(stages=_stages(ck.code("tilelang")), num_warps=knobs.get("num_warps"), tile=tile)
    row.update(_per_iteration(row, kind, tile))
    return row


def expert_program(kind: str, shape):
    from benchmarks.experts import tilelang_fp8_gemm, tilelang_gemm, tilelang_paged_decode

    if kind == "paged":
        return tilelang_paged_decode.program(*shape, **PAGED)
    return (tilelang_fp8_gemm if kind == "fp8" else tilelang_gemm).program(*shape)


def expert_row(kind: str, shape) -> dict:
    from tiledsl.lowering.tilelang import build

    from tiledsl.report import parse_ptxas_verbose

    func, cfg = expert_program(kind, shape)
    cuda, dyn, _ = build.lower_prim_func(func, f"expert_{kind}", _target())
    ptx, _, log, _ = build.nvcc_compile(cuda, "sm_90a")
    if ptx is None:
        raise SystemExit("nvcc is not on the PATH: the TileLang parity table needs it")
    static = parse_ptxas_verbose(log).get("shared_bytes") or 0
    row = SP.binary_facts(ptx, static + dyn)
    row["loop_wgmma"] = loop_wgmma(ptx)
    tile = (f"{cfg['BH']}x{cfg['PAGE']}" if kind == "paged" else f"{cfg['BM']}x{cfg['BN']}x{cfg['BK']}")
    row.update(stages=cfg["num_stages"], num_warps=cfg["num_warps"], tile=tile)
    row.update(_per_iteration(row, kind, tile))
    return row


RATIO_FIELDS = (*SP.RATIO_FIELDS, "loop_wgmma")


def compare(name: str) -> dict:
    kind, shape = CASES[name]
    ours, expert = tiledsl_row(kind, shape), expert_row(kind, shape)
    return {"case": name, "shape": list(shape), "tiledsl": ours, "expert": expert,
            "ratio": {f: SP._ratio(ours[f], expert[f]) for f in RATIO_FIELDS}}


MD_FIELDS = ("tile", "num_warps", "stages", "registers", "spill_stores", "shared_bytes", "wgmma_shape",
             "wgmma_count", "loop_wgmma", "tma", "loop_instrs", "loop_spills", "loop_per_mflop", "issue_per_mflop", "loop_per_kb")


def markdown(rows: list[dict], command: str) -> str:
    head = ["case / side", *MD_FIELDS]
    out = ["# Static parity on sm_90a, TileLang side (CPU only: TileLang 0.1.15 -> CUDA C, nvcc, ptxas, "
           "nvdisasm)", "", f"`{command}`. tiledsl's TileLang lowering of its default schedule against hand-written "
           "TileLang kernels (benchmarks/experts/tilelang_*.py). Loop = SASS instructions of the innermost loop "
           "holding the tensor-core instructions; stages `None` = not pipelined; wgmma_count = the whole kernel's, "
           "loop_wgmma = the main loop's (tiledsl's paged decode peels its masked last page off the loop: a second "
           "copy of the gemms outside it). Ratio = tiledsl / expert.", "",
           "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        for side in ("tiledsl", "expert"):
            out.append("| " + " | ".join([f"{r['case']} {side}", *(str(r[side].get(f)) for f in MD_FIELDS)]) + " |")
        out.append("| " + " | ".join([f"{r['case']} ratio", *(str(r["ratio"].get(f, "")) if f in RATIO_FIELDS
                                                              else "" for f in MD_FIELDS)]) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=sorted(CASES), help="only these cases")
    ap.add_argument("--json", default=str(RESULTS / "static_parity_tilelang.json"))
    ap.add_argument("--md", default=str(RESULTS / "static_parity_tilelang.md"))
    args = ap.parse_args(argv)
    rows = [compare(n) for n in (args.case or CASES)]
    print(SP.table(rows))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"target": "sm_90a", "backend": "tilelang", "rows": rows}, indent=1) + "\n")
    command = "python benchmarks/static_parity_tilelang.py" + "".join(f" --case '{c}'" for c in args.case or ())
    Path(args.md).write_text(markdown(rows, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
