"""The benchmark harness: kept in the package (`tiledsl._cli.bench`) so that ``tiledsl bench`` works
from an installed tiledsl; this module re-exports it for scripts in this folder.

    from benchmarks.harness import run, plot
    result = run(registry.available(), "triton", "h200", quick=True)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tiledsl._cli.bench import (  # noqa: E402
    format_case,
    format_compile,
    plot,
    roofline_tflops,
    run,
    stage_times,
    static_row,
    timed_row,
)

__all__ = ["format_case", "format_compile", "plot", "roofline_tflops", "run", "stage_times", "static_row",
           "timed_row"]
