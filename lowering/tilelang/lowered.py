"""`TileLangLowered`: what the TileLang backend's `lower` returns (the backend contract's typed result)."""

from __future__ import annotations

from dataclasses import dataclass

from tiledsl.backends import Lowered


@dataclass(frozen=True)
class TileLangLowered(Lowered):
    """The TileLang program for one (scheduled IR, specs, target); it is specialised on the specs'
    static shapes and on `target` (the GPU's name in `tiledsl.targets`)."""

    target: str
