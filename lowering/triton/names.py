"""Python identifiers of generated code: legal, unique, never user-controlled text.

Every name that reaches generated source (kernel name, parameters, SSA values, knobs) is made a
legal identifier by `legalize` (characters outside ``[A-Za-z0-9_]`` become ``_``, a leading digit
or ``__`` gets a ``v`` prefix, long names are cut), so no name can inject code and no name is
refused. `Namer` then hands out unique names, suffixing ``_1``, ``_2``... to any that is a Python
keyword, a name the generated module itself uses (``tl``, ``triton``, its helpers...) or one
already taken. Both are deterministic: the same names in the same order give the same output.
"""

from __future__ import annotations

import keyword
import re

from tiledsl.errors import BackendError

from .helpers import HELPER_NAMES

_MAX_LEN = 64
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_ILLEGAL = re.compile(r"[^A-Za-z0-9_]")

# Names the generated module defines or relies on, and the keyword arguments Triton's launch
# takes for itself (a kernel parameter so named would collide); user names equal to one get a
# suffix.
RESERVED = frozenset({
    "tl", "triton", "libdevice", "range", "float", "int", "bool", "min", "max", "abs", "len",
    "print", "grid", "self", "None", "True", "False", "math", "TensorDescriptor", *HELPER_NAMES,
    "num_warps", "num_stages", "num_ctas", "maxnreg", "enable_fp_fusion", "warmup", "debug",
    "launch_cooperative_grid", "launch_pdl",
})


def legalize(name: object) -> str:
    """A legal ASCII identifier for `name` (unchanged when it already is one, bar keywords and
    reserved names, which `Namer.take` suffixes)."""
    text = _ILLEGAL.sub("_", str(name))
    if not text or text[0].isdigit() or text.startswith("__"):
        text = "v" + text
    return text[:_MAX_LEN]


def check_identifier(name: str, what: str) -> str:
    """Return `name` if it is a safe Python identifier, else raise `BackendError` naming `what`.
    (For names that must reach the output unchanged; generated names go through `legalize`.)"""
    if not isinstance(name, str) or not _IDENT.match(name) or keyword.iskeyword(name) \
            or name.startswith("__"):
        raise BackendError(
            f"{what} {name!r} cannot be used in generated Triton code: it must be an ASCII "
            f"identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64 characters, no leading '__', not a "
            f"Python keyword)", hint="rename it")
    return name


class Namer:
    """Unique Python names for generated code, derived from (legalized) hints."""

    def __init__(self, taken=()):
        self._used: set[str] = set(RESERVED) | set(taken)

    def take(self, hint: object, what: str = "name") -> str:
        """A fresh legal name based on `hint`."""
        base = legalize(hint)
        name, n = base, 0
        while name in self._used or keyword.iskeyword(name):
            n += 1
            name = f"{base}_{n}"
        self._used.add(name)
        return name

    def copy(self) -> Namer:
        out = Namer()
        out._used = set(self._used)
        return out

    def reserve(self, name: str) -> None:
        self._used.add(name)
