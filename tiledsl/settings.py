"""One typed settings object. Every environment override is listed here and nowhere else.

| variable | field | meaning |
| --- | --- | --- |
| TILEDSL_CACHE_DIR | cache_dir | where generated modules, binaries and tuning results are kept |
| TILEDSL_AUTOTUNE | autotune | "1" benchmarks the cost model's top candidates on a GPU |
| TILEDSL_AUTOTUNE_TOP_N | autotune_top_n | how many candidates autotuning compiles and times |
| TILEDSL_BACKEND | backend | default backend when a call passes none (triton, tilelang, ir) |
| TILEDSL_TARGET | target | default GPU for compile-only use when no GPU is present |
| TILEDSL_TMA | tma | "0" keeps the Triton backend off TMA descriptors (pointer loads only) |
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path


def _default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("tiledsl"))


@dataclass(frozen=True)
class Settings:
    cache_dir: Path = dataclasses.field(default_factory=_default_cache_dir)
    autotune: bool = False
    autotune_top_n: int = 8
    backend: str | None = None
    target: str = "h100"
    tma: bool = True

    @classmethod
    def from_env(cls, env=None) -> Settings:
        env = os.environ if env is None else env
        kw: dict = {}
        if env.get("TILEDSL_CACHE_DIR"):
            kw["cache_dir"] = Path(env["TILEDSL_CACHE_DIR"])
        if env.get("TILEDSL_AUTOTUNE"):
            kw["autotune"] = env["TILEDSL_AUTOTUNE"].lower() in ("1", "true", "yes", "on")
        if env.get("TILEDSL_AUTOTUNE_TOP_N"):
            kw["autotune_top_n"] = int(env["TILEDSL_AUTOTUNE_TOP_N"])
        if env.get("TILEDSL_BACKEND"):
            kw["backend"] = env["TILEDSL_BACKEND"]
        if env.get("TILEDSL_TARGET"):
            kw["target"] = env["TILEDSL_TARGET"]
        if env.get("TILEDSL_TMA"):
            kw["tma"] = env["TILEDSL_TMA"].lower() in ("1", "true", "yes", "on")
        return cls(**kw)


_current: Settings | None = None


def settings() -> Settings:
    """The settings in force (read from the environment once)."""
    global _current
    if _current is None:
        _current = Settings.from_env()
    return _current


def configure(**changes) -> Settings:
    """Change settings for this process, e.g. ``configure(autotune=True)``."""
    global _current
    _current = dataclasses.replace(settings(), **changes)
    return _current
