"""The repository's scripts (benchmarks/, examples/), loaded as modules by the tests that check
them: they are files to run, not an installed package."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_script(path: str | Path) -> ModuleType:
    """A fresh module of the script at `path` (relative to the repository root, or absolute)."""
    path = ROOT / path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
