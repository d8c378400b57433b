"""A loop's expected trip count, as the kernel states it (``expect=`` of `td.range` /
`td.pipelined`), carried by the FOR inst's ``expect`` attr.

The cost model prices a loop by its trip count; when the bounds depend on data (a sequence
length loaded from memory) the kernel may say how many iterations to expect. The attr is an
expression of compile-time facts only, never of runtime data:

- an int (at least 0);
- ``#KNOB``: a knob's value (a `Sym`);
- ``"x.0"``: a tensor's size (a size symbol, known when the call's shapes are);
- ``(op, a, b)``: `op` one of `EXPECT_OPS` (``add``, ``sub``, ``mul``, ``floordiv``, ``mod``,
  ``maximum``, ``minimum``) on two such expressions, e.g. ``("floordiv", 64, #BN)``.

It does not change what the loop computes; only the cost model reads it (`evaluate`).
"""

from __future__ import annotations

from collections.abc import Callable

from tiledsl.ir.dims import SIZE_SYM
from tiledsl.ir.nodes import Attr, Sym
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import fold_int

# the ops an expected trip count may use, by their IR names
EXPECT_OPS: dict[str, Op] = {op.value[1]: op for op in (Op.ADD, Op.SUB, Op.MUL, Op.FLOORDIV, Op.MOD,
                                                       Op.MAXIMUM, Op.MINIMUM)}
_MAX_DEPTH = 32


def is_expect(a: Attr, depth: int = 0) -> bool:
    """Whether `a` has the form of an ``expect`` attr (see the module doc)."""
    if type(a) is int:
        return a >= 0 or depth > 0  # a constant inside an expression may be negative (n - 1)
    if isinstance(a, Sym):
        return True
    if isinstance(a, str):
        return SIZE_SYM.fullmatch(a) is not None
    if isinstance(a, tuple) and len(a) == 3 and a[0] in EXPECT_OPS and depth < _MAX_DEPTH:
        return is_expect(a[1], depth + 1) and is_expect(a[2], depth + 1)
    return False


def evaluate(a: Attr, lookup: Callable[[str], int | None]) -> int | None:
    """The value of an ``expect`` attr, with `lookup` giving knob values and tensor sizes by
    name (None: unknown); None when a part is unknown or does not fold (a zero divisor)."""
    if type(a) is int:
        return a
    if isinstance(a, Sym):
        return lookup(a.name)
    if isinstance(a, str):
        return lookup(a)
    if isinstance(a, tuple) and len(a) == 3 and a[0] in EXPECT_OPS:
        x, y = evaluate(a[1], lookup), evaluate(a[2], lookup)
        if x is None or y is None:
            return None
        v = fold_int(EXPECT_OPS[a[0]], (x, y))
        return v if type(v) is int else None
    return None
