"""IR nodes: frozen, slotted dataclasses. One IR for all three levels.

A `Function` holds parameters, scheduling knobs and one body `Block`. A block is a list of
`Inst`; an inst has an `Op`, SSA result `Value`s, operand values, attributes and nested regions
(blocks). Types carry the element dtype, a shape of static ints or symbols, and the memory space,
which is also what tells the levels apart: ``global`` values are whole tensors (level 1 and
parameters), ``tile`` / ``shared`` / ``fragment`` are tiles of a tile program (level 2), ``local``
is per-thread storage (level 3), ``scalar`` is a single number.

Symbols in shapes are strings: ``"x.0"`` is axis 0 of parameter ``x`` (a runtime size) and a bare
name such as ``"BM"`` is a knob (a compile-time constant the scheduler fixes).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Union

from tiledsl.dtypes import DType
from tiledsl.ir.ops import Op

Dim = Union[int, str]


class Space(enum.Enum):
    GLOBAL = "global"
    TILE = "tile"
    SHARED = "shared"
    FRAGMENT = "fragment"
    LOCAL = "local"
    SCALAR = "scalar"

    @property
    def is_buffer(self) -> bool:
        """Mutable on-chip storage (written by COPY, read by any op as a tile)."""
        return self in (Space.SHARED, Space.FRAGMENT, Space.LOCAL)

    @property
    def is_tile_like(self) -> bool:
        return self in (Space.TILE, Space.SHARED, Space.FRAGMENT, Space.LOCAL)


@dataclass(frozen=True, slots=True)
class Type:
    dtype: DType
    shape: tuple[Dim, ...] = ()
    space: Space = Space.SCALAR

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    def with_(self, **kw) -> Type:
        d = {"dtype": self.dtype, "shape": self.shape, "space": self.space}
        d.update(kw)
        return Type(**d)

    def __str__(self) -> str:
        if self.space is Space.SCALAR:
            return self.dtype.value
        dims = ",".join(str(d) for d in self.shape)
        return f"{self.space.value}<{self.dtype.value}[{dims}]>"


@dataclass(frozen=True, slots=True)
class Sym:
    """A reference to a knob inside an attribute (e.g. ``stages=Sym("stages0")``)."""

    name: str


Attr = Union[int, float, bool, str, None, DType, Sym, tuple]


@dataclass(frozen=True, slots=True)
class Loc:
    """Source location of the kernel code an inst came from (1-based line, 0-based column)."""

    file: str
    line: int
    col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Value:
    """An SSA value. Names are unique within a function."""

    name: str
    type: Type

    def __str__(self) -> str:
        return f"%{self.name}"


@dataclass(frozen=True, slots=True)
class Block:
    args: tuple[Value, ...] = ()
    insts: tuple[Inst, ...] = ()


@dataclass(frozen=True, slots=True)
class Inst:
    op: Op
    results: tuple[Value, ...] = ()
    operands: tuple[Value, ...] = ()
    attrs: tuple[tuple[str, Attr], ...] = ()
    regions: tuple[Block, ...] = ()
    loc: Loc | None = None

    def attr(self, name: str, default: Attr = None) -> Attr:
        for k, v in self.attrs:
            if k == name:
                return v
        return default

    @property
    def result(self) -> Value:
        assert len(self.results) == 1, self
        return self.results[0]


class ParamKind(enum.Enum):
    TENSOR = "tensor"  # a torch tensor argument, read and/or written
    SCALAR = "scalar"  # a runtime Python number
    OUTPUT = "output"  # allocated by the runtime and returned (level-1 results after scheduling)


@dataclass(frozen=True, slots=True)
class Param:
    value: Value
    kind: ParamKind = ParamKind.TENSOR


@dataclass(frozen=True, slots=True)
class Knob:
    """A compile-time constant. ``value is None`` means ``td.auto``: the scheduler chooses."""

    name: str
    value: int | None = None


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    params: tuple[Param, ...]
    knobs: tuple[Knob, ...]
    body: Block
    loc: Loc | None = None
    attrs: tuple[tuple[str, Attr], ...] = field(default=())

    def knob(self, name: str) -> Knob:
        for k in self.knobs:
            if k.name == name:
                return k
        raise KeyError(name)

    def attr(self, name: str, default: Attr = None) -> Attr:
        for k, v in self.attrs:
            if k == name:
                return v
        return default


def attr_syms(a: Attr):
    """Names of the knobs an attribute value refers to (through `Sym`, at any depth)."""
    if isinstance(a, Sym):
        yield a.name
    elif isinstance(a, tuple):
        for x in a:
            yield from attr_syms(x)


def walk(block: Block):
    """Every inst in `block` and its regions, in program order (pre-order)."""
    for inst in block.insts:
        yield inst
        for region in inst.regions:
            yield from walk(region)
