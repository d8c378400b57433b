"""Python identifiers of generated code: validated, unique, never user-controlled text.

Every name that reaches generated source (kernel name, parameters, SSA values, knobs) passes
`check_identifier` first, so a kernel or argument name cannot inject code: anything that is not a
plain ASCII identifier is rejected with a `BackendError`. `Namer` then hands out unique names that
avoid Python keywords and the names the generated module itself uses (``tl``, ``triton``...).
"""

from __future__ import annotations

import keyword
import re

from tiledsl.errors import BackendError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")

# Names the generated module defines or relies on; user names that equal one get a suffix.
RESERVED = frozenset({
    "tl", "triton", "libdevice", "range", "float", "int", "bool", "min", "max", "abs", "len",
    "print", "grid", "self", "None", "True", "False", "math", "TensorDescriptor",
})


def check_identifier(name: str, what: str) -> str:
    """Return `name` if it is a safe Python identifier, else raise `BackendError` naming `what`."""
    if not isinstance(name, str) or not _IDENT.match(name) or keyword.iskeyword(name) \
            or name.startswith("__"):
        raise BackendError(
            f"{what} {name!r} cannot be used in generated Triton code: it must be an ASCII "
            f"identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64 characters, no leading '__', not a "
            f"Python keyword)", hint="rename it")
    return name


class Namer:
    """Unique Python names for generated code, derived from validated hints."""

    def __init__(self, taken=()):
        self._used: set[str] = set(RESERVED) | set(taken)

    def take(self, hint: str, what: str = "name") -> str:
        """A fresh name based on `hint` (which must itself be a valid identifier)."""
        base = check_identifier(hint, what)
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
