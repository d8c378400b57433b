"""benchmarks/bench_launch.py is self-contained: its kernels are the demo's (no IR fixtures from the
tests), and its CPU measurements run."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.scripts import load_script

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_launch.py"


def test_imports_nothing_from_the_tests():
    tree = ast.parse(BENCH.read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [m for m in names if m == "tests" or m.startswith("tests.")]


def test_launch_overheads_run_on_cpu():
    mod = load_script(BENCH)
    got = mod.launch_overhead()
    assert got["tiledsl_us_per_call"] > 0 and got["hand_written_us_per_call"] > 0
    tma = mod.tma_launch_overhead()
    assert tma["tiledsl_us_per_call"] > 0  # the demo GEMM at 128x128x64 tiles has a TMA kernel
