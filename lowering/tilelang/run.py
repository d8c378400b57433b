"""Launch a lowered TileLang program on CUDA tensors (``tilelang.compile`` -> JIT kernel)."""

from __future__ import annotations

from typing import Any

from tiledsl.lowering.tilelang.lowered import TileLangLowered

_kernels: dict[str, Any] = {}  # program hash -> compiled JIT kernel


def launch(lowered: TileLangLowered, args: list[Any]) -> None:
    """Run the program on `args` (fn.params order). Outputs are written in place."""
    import tilelang
    from tiledsl.lowering.tilelang import build

    key = build.source_hash(lowered.source)
    if key not in _kernels:
        func = build.prim_func(lowered.source, lowered.entry)
        _kernels[key] = tilelang.compile(func, target="cuda")
    _kernels[key](*args)
