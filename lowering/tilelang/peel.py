"""Peeling the last, partial iteration off a pipelined loop over the blocks of a length.

``for j in td.pipelined(td.cdiv(n, C)):`` with loads masked by ``j * C + td.arange(0, E) < n``
(E <= C) is a loop whose masks are all true in every iteration but the last one when ``n % C``
is not zero. A masked load is an element-wise guarded copy done by the math warps; TileLang
cannot pipeline it, and a ``T.copy`` followed by zeroing the masked rows is no way out (TileLang's
warp specialisation moves the zeroing before the TMA copy or before the wait for it: checked on
TileLang 0.1.15). So the loop is emitted twice: ``T.Pipelined(n // C)`` whose loads are whole
``T.copy`` blocks (TMA, multi-buffered), then, when ``n % C > 0``, the body once more for
``j = n // C`` with its masks, as a plain block. The iterations run in the same order with the
same values: the result is the unpeeled loop's.
"""

from __future__ import annotations

from tiledsl.lowering.tilelang.emit import Emitter

from tiledsl.ir.nodes import Inst, Value
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import window_of

# ops a mask passes through unchanged in truth: all true in, all true out
_SHAPE_OPS = (Op.EXPAND_DIMS, Op.BROADCAST_TO)


def peel_plan(em: Emitter, inst: Inst) -> tuple[Value, int, frozenset[str]] | None:
    """(n, C, names of the loads whose mask is all true for ``j < n // C``) of a FOR
    ``range(0, (n + C - 1) // C)``, or None when the loop is not of that form or no load qualifies."""
    start, stop, step = inst.operands[:3]
    if _const(em, start) != 0 or _const(em, step) != 1:
        return None
    fd = em.defs.get(stop.name)
    if fd is None or fd.op is not Op.FLOORDIV:
        return None
    c = _const(em, fd.operands[1])
    add = em.defs.get(fd.operands[0].name)
    if not isinstance(c, int) or c <= 0 or add is None or add.op is not Op.ADD:
        return None
    n = next((a for a, b in (add.operands, add.operands[::-1]) if _const(em, b) == c - 1), None)
    if n is None or n.type.shape:
        return None
    body = inst.regions[0]
    j = body.args[0].name
    loads = frozenset(i.result.name for i in body.insts
                      if i.op is Op.LOAD and i.attr("masked") and window_of(i).mask is not None
                      and _prefix_mask(em, window_of(i).mask, j, n.name, c))
    return (n, c, loads) if loads else None


def _const(em: Emitter, v: Value) -> int | None:
    d = em.defs.get(v.name)
    if d is not None and d.op is Op.CONST:
        val = d.attr("value")
        try:
            val = em.knob(val)
        except Exception:  # noqa: BLE001 - an unresolved knob is simply not a constant here
            return None
        return val if isinstance(val, int) and not isinstance(val, bool) else None
    x = em.env.get(v.name)
    return x.const if x is not None and isinstance(getattr(x, "const", None), int) else None


def _prefix_mask(em: Emitter, mask: Value, j: str, n: str, c: int) -> bool:
    """Whether `mask` is ``j * c + arange(0, e) < n`` (e <= c), possibly reshaped."""
    d = em.defs.get(mask.name)
    while d is not None and d.op in _SHAPE_OPS:
        d = em.defs.get(d.operands[0].name)
    if d is None or d.op is not Op.LT or d.operands[1].name != n:
        return False
    pos = em.defs.get(d.operands[0].name)
    if pos is None or pos.op is not Op.ADD:
        return False
    for base, ar in (pos.operands, pos.operands[::-1]):
        a, b = em.defs.get(base.name), em.defs.get(ar.name)
        if a is None or b is None or a.op is not Op.MUL or b.op is not Op.ARANGE:
            continue
        lo, hi = em.knob(b.attr("start")), em.knob(b.attr("end"))
        if lo != 0 or not isinstance(hi, int) or hi > c:
            continue
        x, y = a.operands
        if (x.name == j and _const(em, y) == c) or (y.name == j and _const(em, x) == c):
            return True
    return False


__all__ = ["peel_plan"]
