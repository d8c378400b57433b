"""Printing for people: numbers rounded with units, tables, the static report, highlighted code."""

from __future__ import annotations

import math
from collections.abc import Sequence

# pygments lexer name per stage (stages not listed print plain)
STAGE_LEXERS = {"python": "python", "triton": "python", "tilelang": "python", "cuda": "cuda",
                "llir": "llvm", "ttir": "mlir", "ttgir": "mlir", "ir": "mlir", "scheduled": "mlir"}


def si(x: float | None, unit: str = "", digits: int = 3) -> str:
    """`x` with an SI prefix and `digits` significant digits: 67108864 -> '67.1 M'."""
    if x is None:
        return "-"
    if x == 0 or not math.isfinite(x):
        return f"{x:g} {unit}".strip()
    prefixes = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""))
    for scale, p in prefixes:
        if abs(x) >= scale:
            return f"{_sig(x / scale, digits)} {p}{unit}".strip()
    return f"{_sig(x, digits)} {unit}".strip()


def _sig(v: float, digits: int) -> str:
    return f"{v:.{max(0, digits - 1 - int(math.floor(math.log10(abs(v)))))}f}" if v else "0"


def binary(n: int | None) -> str:
    """Bytes in KiB/MiB: 36864 -> '36 KiB'."""
    if n is None:
        return "-"
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= scale:
            return f"{_sig(n / scale, 3).rstrip('0').rstrip('.')} {unit}"
    return f"{n} B"


def duration_us(us: float) -> str:
    """Microseconds for people: 13.3 us, 2.41 ms, 1.20 s."""
    for scale, unit in ((1e6, "s"), (1e3, "ms")):
        if us >= scale:
            return f"{_sig(us / scale, 3)} {unit}"
    return f"{_sig(us, 3)} us"


def percent(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.1f} %"


def table(rows: Sequence[Sequence], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report_lines(ck) -> list[str]:
    """The static report and the cost model's estimate of a compiled kernel, rounded for reading."""
    r = ck.report
    est = ck.estimate
    out = [f"kernel:          {ck.kernel.name} ({ck.backend}, {ck.target.name}, {r.arch or ck.target.sm_arch})",
           f"schedule:        {ck.schedule}"]
    if ck.backend != "ir":
        spills = "none" if not (r.spill_stores or r.spill_loads) else \
            f"{binary(r.spill_stores)} stored, {binary(r.spill_loads)} loaded"
        out += [f"registers:       {'-' if r.registers is None else r.registers} per thread",
                f"spills:          {spills if r.spill_stores is not None else '-'}",
                f"shared memory:   {binary(r.shared_bytes)}",
                f"tensor cores:    {'wgmma' if r.uses_wgmma else 'mma' if r.uses_mma else 'none'}",
                f"TMA:             {'yes' if r.uses_tma else 'no'}"]
    if est is not None:
        t = est.time_us * 1e-6
        rate = f"{si(est.flops / t, 'FLOP/s')}, {si(est.bytes / t, 'B/s')}" if t > 0 else "-"
        out += [f"estimate:        {duration_us(est.time_us)}, {est.bound}-bound, "
                f"{percent(est.roofline)} of the roofline",
                f"  work:          {si(est.flops, 'FLOP')}, {si(est.bytes, 'B')} from DRAM ({rate})",
                f"  resources:     ~{est.regs_per_thread} registers/thread, {binary(est.smem_bytes)} shared "
                f"memory, {est.occupancy} blocks/SM"]
    out += [f"note: {n}" for n in r.notes]
    return out


def highlight(code: str, stage: str, color: bool) -> str:
    """`code` with terminal colours when `color` and pygments is installed; as it is otherwise."""
    if not color or stage not in STAGE_LEXERS:
        return code
    try:
        from pygments import highlight as pyg
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import get_lexer_by_name
        from pygments.util import ClassNotFound
    except ImportError:
        return code
    try:
        lexer = get_lexer_by_name(STAGE_LEXERS[stage])
    except ClassNotFound:
        return code
    return pyg(code, lexer, TerminalFormatter()).rstrip("\n")
