"""What a backend compiler says of a binary, and how to get it from ptxas.

Both backends end in PTX (Triton) or CUDA C (TileLang) compiled for an ``sm_90a``-style arch; the
same ptxas statistics and PTX scans fill one `Report`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Report:
    arch: str = ""
    registers: int | None = None
    spill_stores: int | None = None
    spill_loads: int | None = None
    shared_bytes: int | None = None
    uses_wgmma: bool = False
    uses_tma: bool = False
    uses_mma: bool = False
    estimate: dict = field(default_factory=dict)  # the cost model's figures (time, roofline fraction)
    notes: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        out = [f"arch:            {self.arch or '-'}",
               f"registers:       {_n(self.registers)} per thread",
               f"spills:          {_n(self.spill_stores)} B stored, {_n(self.spill_loads)} B loaded",
               f"shared memory:   {_n(self.shared_bytes)} B",
               f"tensor cores:    {'wgmma' if self.uses_wgmma else 'mma' if self.uses_mma else 'none'}",
               f"TMA:             {'yes' if self.uses_tma else 'no'}"]
        for k, v in self.estimate.items():
            out.append(f"estimate {k + ':':<8}{v}")
        out += [f"note: {n}" for n in self.notes]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _n(x) -> str:
    return "-" if x is None else str(x)


_PTXAS_RE = {
    "registers": re.compile(r"Used (\d+) registers"),
    "spill_stores": re.compile(r"(\d+) bytes spill stores"),
    "spill_loads": re.compile(r"(\d+) bytes spill loads"),
    "shared_bytes": re.compile(r"(\d+) bytes smem"),
}


def parse_ptxas_verbose(text: str) -> dict:
    """Registers, spills and static shared memory from ``ptxas -v`` output (max over functions)."""
    out: dict = {}
    for key, rx in _PTXAS_RE.items():
        vals = [int(m) for m in rx.findall(text)]
        if vals:
            out[key] = max(vals)
    return out


def scan_ptx(ptx: str) -> dict:
    return {
        "uses_wgmma": "wgmma.mma_async" in ptx,
        "uses_tma": "cp.async.bulk.tensor" in ptx,
        "uses_mma": bool(re.search(r"\bmma\.sync", ptx)) or "wgmma.mma_async" in ptx,
    }


def bundled_ptxas(arch: int = 90) -> str | None:
    """Triton's own ptxas (``get_ptxas(arch)`` in 3.9, ``get_ptxas()`` in older releases)."""
    try:
        from triton.backends.nvidia import compiler as nv

        try:
            tool = nv.get_ptxas(arch)
        except TypeError:
            tool = nv.get_ptxas()
        return tool.path
    except Exception:
        return None


def find_ptxas() -> str | None:
    """The system ptxas, else the one Triton ships."""
    return shutil.which("ptxas") or bundled_ptxas()


def ptxas_stats(ptx: str, arch: str, ptxas: str | None = None) -> tuple[dict, bytes | None, str]:
    """Compile `ptx` for `arch` (e.g. ``sm_90a``) with ``ptxas -v``: (stats, cubin, log).
    `ptxas` overrides the tool (e.g. Triton's bundled one when the system's is older)."""
    ptxas = ptxas or find_ptxas()
    if ptxas is None:
        return {}, None, "no ptxas found"
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "k.ptx", Path(d) / "k.cubin"
        src.write_text(ptx)
        proc = subprocess.run([ptxas, "-v", f"-arch={arch}", str(src), "-o", str(out)],
                              capture_output=True, text=True, env=os.environ.copy())
        log = proc.stdout + proc.stderr
        cubin = out.read_bytes() if out.exists() else None
    return parse_ptxas_verbose(log), cubin, log
