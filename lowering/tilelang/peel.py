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
from tiledsl.ir.pages import length_loop, prefix_mask


def peel_plan(em: Emitter, inst: Inst) -> tuple[Value, int, frozenset[str]] | None:
    """(n, C, names of the loads whose mask is all true for ``j < n // C``) of a FOR
    ``range(0, (n + C - 1) // C)``, or None when the loop is not of that form or no load qualifies.
    The forms are `tiledsl.ir.pages`' (the cost model's shared-memory rule reads them too)."""
    form = length_loop(em.defs, lambda v: _const(em, v), inst)
    if form is None:
        return None
    n, c = form
    body = inst.regions[0]
    j = body.args[0].name
    loads = frozenset(i.result.name for i in body.insts
                      if i.op is Op.LOAD and i.attr("masked") and window_of(i).mask is not None
                      and prefix_mask(em.defs, lambda v: _const(em, v), em.knob, window_of(i).mask, j, n.name, c))
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


__all__ = ["peel_plan"]
