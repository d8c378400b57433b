"""Generated modules on disk, imported once, and Triton's interpreter without TRITON_INTERPRET.

Triton reads a kernel's source through `inspect`, so a generated module must be a real file: it is
written under ``<cache_dir>/triton/`` named by the hash of its content and imported from there.
The same source always maps to the same file and module, so a warm call neither rewrites nor
re-imports anything (and Triton's own cache then skips recompiling).

Interpreting without the environment variable: the kernel is wrapped in Triton's
`InterpretedFunction`, and while it runs, calls to ``@triton.jit`` helpers (Triton's own
``tl.sum``, ``tl.max``, ``tl.cdiv``... are such helpers) are routed to interpreted copies. The
interpreter itself patches ``triton.language`` for the duration of a launch, so interpreted runs
are serialised with a lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

from tiledsl.settings import usable_cache_dir

_LOCK = threading.RLock()
_INTERPRETED: dict = {}


def module_path(source: str) -> Path:
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    return usable_cache_dir("triton") / f"tdgen_{digest}.py"


def _write(path: Path, source: str) -> None:
    """Write atomically (a concurrent process sees the whole file or none)."""
    if path.exists() and path.read_text() == source:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(source)
    os.replace(tmp, path)


def load_module(source: str, interpret: bool = False) -> ModuleType:
    """Import the module for `source` (writing it first if needed). With `interpret`, a separate
    module object whose kernels run in Triton's interpreter."""
    path = module_path(source)
    name = path.stem + ("_interp" if interpret else "")
    with _LOCK:
        mod = sys.modules.get(name)
        if mod is not None:
            return mod
        _write(path, source)
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        if interpret:
            from triton.runtime.interpreter import InterpretedFunction
            from triton.runtime.jit import JITFunction

            for attr, value in list(vars(mod).items()):
                if isinstance(value, JITFunction):
                    setattr(mod, attr, InterpretedFunction(value.fn))
        sys.modules[name] = mod
        return mod


@contextlib.contextmanager
def interpreting():
    """Route ``@triton.jit`` helper calls to interpreted copies while a kernel is interpreted."""
    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction

    def call(self, *args, **kwargs):
        f = _INTERPRETED.get(self.fn)
        if f is None:
            f = _INTERPRETED[self.fn] = InterpretedFunction(self.fn)
        return f(*args, **kwargs)

    with _LOCK:
        original = JITFunction.__call__
        JITFunction.__call__ = call
        saved = _snapshot_lang()
        try:
            yield
        finally:
            JITFunction.__call__ = original
            # Triton's interpreter patches triton.language for device-function calls and never
            # restores it; left patched, a later ahead-of-time compile in this process breaks
            _restore_lang(saved)


def _lang_objects():
    import triton.language as tl

    objs = [tl, tl.core, tl.math, tl.tensor, tl.dtype]
    for name in ("tensor_descriptor_base", "pointer_type", "block_type"):
        if hasattr(tl.core, name):
            objs.append(getattr(tl.core, name))
    return objs


def _snapshot_lang():
    return [(obj, dict(vars(obj))) for obj in _lang_objects()]


def _restore_lang(saved) -> None:
    for obj, before in saved:
        now = vars(obj)
        for name in [n for n in now if n not in before]:
            delattr(obj, name)
        for name, value in before.items():
            if now.get(name, _MISSING) is not value:
                setattr(obj, name, value)


_MISSING = object()
