"""Front-end values: what a name in a kernel body can stand for while the IR is built.

An IR `Value` (a runtime scalar, a tile, a buffer or a whole tensor), a Python constant
(int/float/bool/None/DType/tuple, folded at compile time), a `KnobRef` (a `td.auto` knob: a
compile-time int the scheduler will choose), or a Python object from the kernel's globals
(modules, `td.*` builtins, `range`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tiledsl.dtypes import DType
from tiledsl.ir.nodes import Sym, Value

CONST_TYPES = (bool, int, float, DType, type(None), str)


@dataclass(frozen=True)
class KnobRef:
    name: str

    @property
    def sym(self) -> Sym:
        return Sym(self.name)

    def __repr__(self) -> str:
        return f"knob {self.name}"


def is_const(x) -> bool:
    if isinstance(x, tuple):
        return all(is_const(e) for e in x)
    return isinstance(x, CONST_TYPES)


def describe(x) -> str:
    if isinstance(x, Value):
        return f"a {x.type.space.value} value of type {x.type}"
    if isinstance(x, KnobRef):
        return repr(x)
    return f"{type(x).__name__} {x!r}"


@dataclass(frozen=True)
class Unbound:
    """A name Python could leave unbound or bound to one of several compile-time things after a
    runtime loop or branch (first assigned inside a loop, assigned in one branch only): looking
    it up is an error that says why, never a stale value."""

    reason: str
    hint: str

    def __repr__(self) -> str:
        return "an unbound name"
