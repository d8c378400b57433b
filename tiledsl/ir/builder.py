"""A small builder that types insts by the op rules as it appends them.

Used by the front end, the scheduler's level-1 lowering and tests that write IR by hand.
"""

from __future__ import annotations

import contextlib
import keyword
import re
from collections.abc import Iterator

from tiledsl.ir.infer import Unifier, infer
from tiledsl.ir.nodes import Attr, Block, Inst, Loc, Type, Value
from tiledsl.ir.ops import Op

_NAME_OK = re.compile(r"[^A-Za-z0-9_]")
_MAX_BASE = 48  # backends take identifiers of at most 64 characters; leave room for a suffix


def name_base(hint: str) -> str:
    """A hint made into a plain, non-keyword ASCII identifier without a leading ``__``: value
    names reach generated Python (Triton) code, and op names such as ``and``/``if``/``not``
    or user names are not always valid there."""
    base = _NAME_OK.sub("_", hint or "")[:_MAX_BASE]
    if base.startswith("__"):
        base = base.lstrip("_")
    if not base or base[0].isdigit():
        base = "v" + base
    if keyword.iskeyword(base):
        base += "_"
    return base


class Builder:
    def __init__(self, unifier: Unifier | None = None):
        self.unifier = unifier or Unifier()
        self._used: set[str] = set()
        self._blocks: list[list[Inst]] = [[]]

    def fresh(self, hint: str = "v", type: Type | None = None) -> Value:
        """A new value with a unique name derived from `hint`."""
        base = name_base(hint)
        name, n = base, 0
        while name in self._used:
            n += 1
            name = f"{base}_{n}"
        self._used.add(name)
        return Value(name, type)  # type: ignore[arg-type]

    def reserve(self, name: str) -> None:
        self._used.add(name)

    def emit(self, op: Op, operands=(), attrs: dict | None = None, regions=(), loc: Loc | None = None,
             hint: str | tuple[str, ...] | None = None, result_types: tuple[Type, ...] | None = None) -> Inst:
        attrs = dict(attrs or {})
        operands = tuple(operands)
        types = infer(op, tuple(v.type for v in operands), attrs, self.unifier)
        if result_types is not None:
            types = result_types
        hints = hint if isinstance(hint, tuple) else (hint,) * len(types)
        results = tuple(self.fresh(h or op.ir_name, t) for h, t in zip(hints, types))
        inst = Inst(op, results, operands, tuple(attrs.items()), tuple(regions), loc)
        self._blocks[-1].append(inst)
        return inst

    def value(self, op: Op, operands=(), attrs=None, loc=None, hint=None) -> Value:
        return self.emit(op, operands, attrs, loc=loc, hint=hint).result

    @contextlib.contextmanager
    def block(self, args: tuple[Value, ...] = ()) -> Iterator[list]:
        """Collect the insts emitted inside the `with` into a block: ``out[0]`` after exit."""
        self._blocks.append([])
        out: list = []
        try:
            yield out
        finally:
            insts = self._blocks.pop()
            out.append(Block(tuple(args), tuple(insts)))

    def top(self) -> tuple[Inst, ...]:
        assert len(self._blocks) == 1
        return tuple(self._blocks[0])

    def attr_items(self, attrs: dict) -> tuple[tuple[str, Attr], ...]:
        return tuple(attrs.items())
