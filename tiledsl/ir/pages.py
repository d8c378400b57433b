"""Pages kept in shared memory once: the IR forms the TileLang lowering recognises and the cost
model prices alike (one rule for both, as `placement` is for the dot operands).

- A loop over the blocks of a length, ``for j in range(cdiv(n, C))``, whose loads are masked by
  ``j * C + arange(0, E) < n`` (E <= C): every such mask is all true but in the last iteration
  (`length_loop`, `prefix_mask`). The TileLang lowering peels that iteration off a pipelined loop
  (lowering/tilelang/peel.py), so the full pages are whole, unmasked copies.
- A view: a load of the leading columns of a page an earlier load of the same block already put
  in shared memory (same read-only tensor, offsets, mask and fill; the same rows, fewer columns;
  whole 128-byte swizzle atoms on both: `leading_view`), V as the first DV columns of an MLA K
  page. The TileLang lowering binds it to a region of the earlier buffer
  (lowering/tilelang/memory.py); the cost model charges its shared memory once for a backend
  whose record says so (`Capabilities.shared_page_views`, `PageViews`).

`const` arguments map a scalar value to its integer when known (a constant, a knob's value),
`attr` an attribute (an int or a knob symbol) to its integer.
"""

from __future__ import annotations

from collections.abc import Callable

from tiledsl.ir.nodes import Function, Inst, Space, Value, walk
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import window_of, written

Const = Callable[[Value], "int | None"]
Attr = Callable[[object], "int | None"]
# a shared page's region is a view only in whole swizzle atoms (the case whose wgmma descriptors
# were checked: the region's equal those of a separate buffer of its shape)
ATOM_BYTES = 128
# ops a mask passes through unchanged in truth: all true in, all true out
SHAPE_OPS = (Op.EXPAND_DIMS, Op.BROADCAST_TO)
# scalar arithmetic an offset or a mask may be computed with and stay the same expression
# wherever it is repeated
_PURE_OPS = frozenset({Op.CONST, Op.ARANGE, Op.DIM, Op.ADD, Op.SUB, Op.MUL, Op.FLOORDIV, Op.MOD, Op.LT,
                       Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE, Op.AND, Op.OR, Op.MINIMUM, Op.MAXIMUM, Op.CAST,
                       *SHAPE_OPS})


def length_loop(defs: dict[str, Inst], const: Const, inst: Inst) -> tuple[Value, int] | None:
    """(n, C) of a FOR ``range(0, (n + C - 1) // C)`` with n a scalar, else None."""
    start, stop, step = inst.operands[:3]
    if const(start) != 0 or const(step) != 1:
        return None
    fd = defs.get(stop.name)
    if fd is None or fd.op is not Op.FLOORDIV:
        return None
    c = const(fd.operands[1])
    add = defs.get(fd.operands[0].name)
    if not isinstance(c, int) or c <= 0 or add is None or add.op is not Op.ADD:
        return None
    n = next((a for a, b in (add.operands, add.operands[::-1]) if const(b) == c - 1), None)
    if n is None or n.type.shape:
        return None
    return n, c


def prefix_mask(defs: dict[str, Inst], const: Const, attr: Attr, mask: Value, j: str, n: str, c: int) -> bool:
    """Whether `mask` is ``j * c + arange(0, e) < n`` (e <= c), possibly reshaped."""
    d = defs.get(mask.name)
    while d is not None and d.op in SHAPE_OPS:
        d = defs.get(d.operands[0].name)
    if d is None or d.op is not Op.LT or d.operands[1].name != n:
        return False
    pos = defs.get(d.operands[0].name)
    if pos is None or pos.op is not Op.ADD:
        return False
    for base, ar in (pos.operands, pos.operands[::-1]):
        a, b = defs.get(base.name), defs.get(ar.name)
        if a is None or b is None or a.op is not Op.MUL or b.op is not Op.ARANGE:
            continue
        lo, hi = attr(b.attr("start")), attr(b.attr("end"))
        if lo != 0 or not isinstance(hi, int) or hi > c:
            continue
        x, y = a.operands
        if (x.name == j and const(y) == c) or (y.name == j and const(x) == c):
            return True
    return False


def leading_view(shape: tuple[int, ...], page: tuple[int, ...], itemsize: int) -> bool:
    """Whether a window of `shape` is the leading columns of a page of shape `page`, in whole
    swizzle atoms: the same rows, fewer columns (an equal shape is a second copy of the page)."""
    *rows, cols = shape
    if tuple(shape) == tuple(page) or tuple(rows) != tuple(page[:-1]) or cols > page[-1]:
        return False
    return (cols * itemsize) % ATOM_BYTES == 0 and (page[-1] * itemsize) % ATOM_BYTES == 0


class PageViews:
    """The cost model's side of the view rule, for one function: the structural key of a load's
    page (`key`) and whether a pipelined loop's masked loads are dropped by peeling (`peeled`).
    Narrower than the lowering where it cannot see (offsets equal in value but computed in other
    ways are two pages): it may charge a view as a page, never a page as a view."""

    def __init__(self, fn: Function):
        self.defs = {r.name: i for i in walk(fn.body) for r in i.results}
        self.written = frozenset(v.name for v in map(written, walk(fn.body)) if v is not None)
        # scalar arguments, grid ids and loop variables: the same within one iteration, kept in
        # no buffer
        indices = {p.value.name for p in fn.params if p.value.type.space is Space.SCALAR}
        for i in walk(fn.body):
            if i.op is Op.GRID:
                indices.update(a.name for a in i.regions[0].args)
            elif i.op is Op.FOR:
                indices.add(i.regions[0].args[0].name)
        self.indices = frozenset(indices)
        self._pure: dict[str, bool] = {}
        self._forms: dict[str, tuple] = {}

    def key(self, inst: Inst) -> tuple | None:
        """(tensor, offsets, mask, fill) of a LOAD of a read-only global tensor whose offsets and
        mask are repeatable expressions, or None."""
        w = window_of(inst)
        src = w.tensor
        if src.type.space is not Space.GLOBAL or src.name in self.written:
            return None
        if any(o.type.space is not Space.SCALAR or not self.pure(o) for o in w.offsets):
            return None
        if w.mask is not None and not self.pure(w.mask):
            return None
        mask = self.form(w.mask) if w.mask is not None else None
        return src.name, tuple(map(self.form, w.offsets)), mask, inst.attr("other") or 0

    def peeled(self, loop: Inst, mask: Value, const: Const, attr: Attr) -> bool:
        """Whether `mask` is all true in the full iterations of `loop` (a length loop)."""
        form = length_loop(self.defs, const, loop)
        return form is not None and prefix_mask(self.defs, const, attr, mask, loop.regions[0].args[0].name,
                                                form[0].name, form[1])

    def pure(self, v: Value) -> bool:
        """Computed from constants, indices and reads of read-only tensors only (no buffer, no
        loop-carried value): the same expression wherever the lowering repeats it."""
        got = self._pure.get(v.name)
        if got is None:
            self._pure[v.name] = False  # no cycles in SSA; a guard all the same
            d = self.defs.get(v.name)
            if d is None:
                got = v.name in self.indices
            elif d.op is Op.LOAD:
                w = window_of(d)
                got = (not d.result.type.shape and w.tensor.type.space is Space.GLOBAL
                       and w.tensor.name not in self.written and all(map(self.pure, d.operands[1:])))
            else:
                got = d.op in _PURE_OPS and all(map(self.pure, d.operands))
            self._pure[v.name] = got
        return got

    def form(self, v: Value) -> tuple:
        """A pure value as its expression (two ``rows < n`` computed apart are one form)."""
        got = self._forms.get(v.name)
        if got is None:
            d = self.defs.get(v.name)
            if d is None:
                got = ("arg", v.name)
            else:
                got = (d.op.name, tuple(d.attrs), tuple(map(self.form, d.operands)))
            self._forms[v.name] = got
        return got


__all__ = ["ATOM_BYTES", "PageViews", "leading_view", "length_loop", "prefix_mask"]
