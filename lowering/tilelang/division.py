"""fp32 division of a tile by a broadcast row or column (``e / sum(e)``, ``acc / l[:, None]``) as a
multiplication by a reciprocal computed once per row.

CUDA's ``a / b`` is IEEE division: per element a range check (FCHK), a reciprocal, four FMAs and
a branch to a slow path, about 10 instructions and a call site each; the TileLang softmax at
8192 columns spent a third of its SASS there. Here each distinct divisor gets, once:

    c = 2^-126 if |b| > 2^126, 2^126 if |b| < 2^-126, else 1     (exact: a power of two)
    r = 1 / (b * c)                                               (IEEE, once per row)

and each element ``(a * r) * c``: two multiplies. ``b * c`` lies in [2^-23, 4], so ``r`` is a
normal number and ``a * r`` cannot overflow where the quotient does not; the last multiply by a
power of two only rescales (rounding again only where the quotient is subnormal). The result is
within 1.5 ulp of IEEE ``a / b`` (two roundings instead of one) over the whole float range,
well inside the fp32 tolerance of torch.testing (1.3e-6 relative, ~11 ulp), and 0, inf and NaN
divisors and dividends give IEEE's results: ``b = 0`` gives r = inf (a * inf: +-inf, 0 * inf:
NaN), ``b = inf`` gives r = 0, NaN stays NaN. Triton's ``/`` is itself ``div.full.f32`` (2 ulp).
"""

from __future__ import annotations

import math

from tiledsl.lowering.tilelang.emit import Emitter
from tiledsl.lowering.tilelang.values import Tile, broadcast_index, literal

from tiledsl.dtypes import DType
from tiledsl.ir.nodes import Inst

_BIG, _SMALL = 2.0 ** 126, 2.0 ** -126


def by_reciprocal(em: Emitter, inst: Inst) -> bool:
    """Bind ``a / b`` as ``(a * r) * c`` when it is an fp32 tile divided by a smaller broadcast
    tile (True), else leave it to the plain rule (False)."""
    if inst.result.type.dtype is not DType.f32:
        return False
    a, b = (em.get(v) for v in inst.operands)
    if not (isinstance(a, Tile) and isinstance(b, Tile)):
        return False
    out = em.static_shape(inst.result.type.shape, inst)
    if math.prod(b.shape) * 2 > math.prod(out):
        return False  # each divisor used at most once: nothing to share
    r, c = _reciprocal(em, b, inst.result.name)

    def at(idx, a=a, r=r, c=c, out=out):
        k = broadcast_index(b.shape, out, idx)
        return f"(({a.at(broadcast_index(a.shape, out, idx))} * {r.at(k)}) * {c.at(k)})"

    em.bind(inst.result, Tile(out, DType.f32, at, reads=a.reads | r.reads | c.reads))
    return True


def _reciprocal(em: Emitter, b: Tile, hint: str) -> tuple[Tile, Tile]:
    """(r, c) fragments of b's shape: the scaled reciprocal and the power of two (module doc)."""
    scope = em.default_scope()
    r = em.alloc(f"{hint}_rcp", b.shape, DType.f32, scope)
    c = em.alloc(f"{hint}_scale", b.shape, DType.f32, scope)
    idx = em.index_names(len(b.shape))
    loop = "T.grid" if em.threads_region else "T.Parallel"
    big, small, one = (literal(v, DType.f32) for v in (_BIG, _SMALL, 1.0))
    x = b.at(idx)
    em.line(f"for {', '.join(idx)} in {loop}({', '.join(str(d) for d in b.shape)}):")
    em.indent += 1
    em.line(f"{c.at(idx)} = T.if_then_else(T.abs({x}) > {big}, {small}, "
            f"T.if_then_else(T.abs({x}) < {small}, {big}, {one}))")
    em.line(f"{r.at(idx)} = {one} / ({x} * {c.at(idx)})")
    em.indent -= 1
    return r, c
