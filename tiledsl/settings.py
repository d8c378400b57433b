"""One typed settings object. Every environment override is listed here and nowhere else.

| variable | field | meaning |
| --- | --- | --- |
| TILEDSL_CACHE_DIR | cache_dir | where generated modules, binaries and tuning results are kept (an unusable one falls back to a private temporary directory with one warning: `usable_cache_dir`) |
| TILEDSL_AUTOTUNE | autotune | "1" benchmarks the cost model's top candidates on a GPU |
| TILEDSL_AUTOTUNE_TOP_N | autotune_top_n | how many candidates autotuning compiles and times |
| TILEDSL_BACKEND | backend | default backend when a call passes none (triton, tilelang, ir) |
| TILEDSL_TARGET | target | default GPU for compile-only use when no GPU is present |
| TILEDSL_TMA | tma | "0" keeps the Triton backend off TMA descriptors (pointer loads only) |
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import tempfile
import threading
import warnings
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
    known = {f.name for f in dataclasses.fields(Settings)}
    unknown = sorted(set(changes) - known)
    if unknown:
        from tiledsl.errors import ArgumentError

        raise ArgumentError(f"configure() has no setting {', '.join(map(repr, unknown))}",
                            hint=f"settings are: {', '.join(sorted(known))}")
    _check(changes)
    _current = dataclasses.replace(settings(), **changes)
    return _current


BACKENDS = ("ir", "triton", "tilelang", "eager")  # tiledsl.runtime.kernel.BACKENDS


def _check(changes: dict) -> None:
    """A backend or target that names nothing is an error now, not at the first call."""
    from tiledsl.errors import ArgumentError

    backend = changes.get("backend")
    if backend is not None and backend not in BACKENDS:
        raise ArgumentError(f"configure(backend={backend!r}): unknown backend",
                            hint=f"choose one of {', '.join(BACKENDS)}, or None for the default pick")
    if "target" in changes:
        check_target(changes["target"], "configure(target=...)")


def check_target(target, what: str) -> None:
    """`target` names a known GPU (`tiledsl.targets.get_target`); an empty name is not one."""
    from tiledsl.errors import ArgumentError

    hint = "pass a target name such as 'h100', 'h200' or 'a100' (or an arch, 'sm_90')"
    if not isinstance(target, str) or not target.strip():
        raise ArgumentError(f"{what}: {target!r} names no GPU", hint=hint)
    from tiledsl.targets import get_target

    try:
        get_target(target)
    except ArgumentError as e:
        raise ArgumentError(f"{what}: {e.args[0]}", hint=hint) from None


# --- the cache directory actually used ---------------------------------------------------------


class CacheDirWarning(UserWarning):
    """The configured cache directory cannot be used; a private temporary one stands in."""


_usable: dict[tuple[Path, str], Path] = {}
_usable_lock = threading.Lock()
_fallback: Path | None = None


def usable_cache_dir(sub: str = "") -> Path:
    """The directory the caches write to: ``settings().cache_dir / sub`` when it can be created
    and written; otherwise (a file in its place, no permission, a read-only file system) the same
    `sub` in a private temporary directory removed at exit, with ONE `CacheDirWarning` naming
    TILEDSL_CACHE_DIR. Every cache user (Triton modules, TileLang programs, autotune results)
    goes through here, so a bad disk never surfaces as a raw OSError. Decided once per
    (directory, sub) per process."""
    root = Path(settings().cache_dir)
    key = (root, sub)
    with _usable_lock:
        found = _usable.get(key)
        if found is None:
            want = root / sub if sub else root
            problem = _unwritable(want)
            found = want if problem is None else _fallback_dir(sub, root, problem)
            _usable[key] = found
    return found


def _unwritable(d: Path) -> str | None:
    """None if `d` can be created and written, else why not."""
    try:
        d.mkdir(parents=True, exist_ok=True)
        if not d.is_dir():
            return f"{d} is not a directory"
        if not os.access(d, os.W_OK | os.X_OK):
            return f"{d} is not writable"
        fd, probe = tempfile.mkstemp(dir=d, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return f"{type(e).__name__}: {e.strerror or e}"
    return None


def _fallback_dir(sub: str, root: Path, problem: str) -> Path:
    global _fallback
    if _fallback is None:
        _fallback = Path(tempfile.mkdtemp(prefix="tiledsl-cache-"))
        atexit.register(shutil.rmtree, _fallback, ignore_errors=True)
        warnings.warn(f"tiledsl cannot use the cache directory {root} ({problem}); using the private "
                      f"temporary directory {_fallback} instead, so nothing is kept between runs. "
                      f"Set TILEDSL_CACHE_DIR to a writable directory (or td.configure(cache_dir=...)).",
                      CacheDirWarning, stacklevel=3)
    d = _fallback / sub if sub else _fallback
    d.mkdir(parents=True, exist_ok=True)
    return d
