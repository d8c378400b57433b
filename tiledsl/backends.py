"""The contract between the runtime and a backend, and the lazy registry of backends.

A backend lowers a *scheduled* `Function` (see `tiledsl.ir.verify.STAGES`) for a target and arg
specs, runs it on tensors, and compiles it ahead of time. `lower` returns the backend's own
subclass of `Lowered` (typed fields, e.g. `tiledsl.lowering.triton.backend.TritonLowered`), which
only that backend's `execute` and `compile` read. Backends are imported only when used, so
`import tiledsl` imports neither triton nor tilelang.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from tiledsl.ir.nodes import Function
from tiledsl.report import Report
from tiledsl.specs import ArgSpec
from tiledsl.targets import Target


@dataclass(frozen=True)
class Lowered:
    """What every backend's output has for one (scheduled IR, specs, target): its source text and
    entry point. `stage` is the stage name the source is dumped under ("triton", "tilelang").
    Each backend subclasses it with what it needs to run and compile that source."""

    stage: str
    source: str
    entry: str  # name of the kernel function in `source`


class Backend(Protocol):
    name: str

    def lower(self, fn: Function, specs: tuple[ArgSpec, ...], target: Target) -> Lowered:
        """Scheduled IR -> source text. Pure and deterministic."""

    def execute(self, lowered: Lowered, fn: Function, args: list[Any]) -> None:
        """Run on `args` (torch tensors / numbers in `fn.params` order, outputs included)."""

    def compile(self, lowered: Lowered, fn: Function, specs: tuple[ArgSpec, ...],
                target: Target) -> tuple[dict[str, str], Report]:
        """Ahead-of-time: the later stages' texts in order (e.g. ttir, ttgir, llir, ptx) and a report."""


# The registry: backend name -> the module whose ``BACKEND`` implements `Backend` (imported on
# first use). A backend's IR stage (`tiledsl.ir.verify.STAGES`) and dumped stage share its name.
_MODULES = {"triton": "tiledsl.lowering.triton", "tilelang": "tiledsl.lowering.tilelang"}
NAMES: tuple[str, ...] = tuple(_MODULES)  # the compiled backends (besides "ir" and "eager")
_loaded: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; backends: ir, {', '.join(_MODULES)}")
    if name not in _loaded:
        _loaded[name] = importlib.import_module(_MODULES[name]).BACKEND
    return _loaded[name]
