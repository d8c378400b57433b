"""Tile reductions with torch's semantics, as Triton expressions (used by `rules`).

16-bit float sums and products accumulate in f32 and round once; float max/min propagate NaN
(a combine function with ``propagate_nan=ALL``: Triton's ``tl.max`` ignores NaN on GPUs);
argmax/argmin give the first NaN of a row holding one, else the first extreme index. Each rule
takes the generator, the operand, the result dtype and the ``axis=..`` argument text.
"""

from __future__ import annotations

from tiledsl.dtypes import DType

from .codegen import TL_DTYPE, Gen


def _accumulate(fn: str):
    """sum / prod: 16-bit floats accumulate in f32 (the IR's semantics; Triton's interpreter needs
    it too), and the result is brought back to the IR dtype (Triton widens small int sums)."""
    def rule(g: Gen, x, out: DType, args: str) -> str:
        src = g.ref(x)
        if out in (DType.f16, DType.bf16) and not g.held_as_f32(out):
            src = f"{src}.to(tl.float32)"
        expr = f"{fn.format(src)[:-1]}, {args})"
        if out not in (DType.f32, DType.f64, DType.i32, DType.i64) and not g.held_as_f32(out):
            expr = f"{expr}.to({TL_DTYPE[out]})"
        return expr
    return rule


def _extreme(fn: str, combine: str):
    """max / min: NaN propagates as in torch (Triton's ``tl.max`` ignores it), through a
    combine function with ``propagate_nan=ALL``."""
    def rule(g: Gen, x, out: DType, args: str) -> str:
        if x.type.dtype.is_float:
            return f"tl.reduce({g.ref(x)}, combine_fn={combine}, {args})"
        return f"{fn}({g.ref(x)}, {args})"
    return rule


def _arg_extreme(fn: str):
    """argmax / argmin: the first index of the extreme value (Triton breaks ties to the lowest
    index); a NaN counts as the extreme, as in torch, so NaNs are replaced by +inf (argmax) or
    -inf (argmin) and a row holding a NaN reports its first NaN instead."""
    big = 'float("inf")' if fn == "tl.argmax" else '(-float("inf"))'

    def rule(g: Gen, x, out: DType, args: str) -> str:
        src = g.ref(x)
        if not x.type.dtype.is_float:
            return f"{fn}({src}, {args})"
        isnan = f"({src} != {src})"
        first_nan = f"tl.argmax({isnan}.to(tl.int32), {args})"
        has_nan = f"(tl.max({isnan}.to(tl.int32), {args}) > 0)"
        plain = f"{fn}(tl.where({isnan}, {big}, {src}), {args})"
        return f"tl.where({has_nan}, {first_nan}, {plain})"
    return rule


REDUCE_RULES = {
    "sum": _accumulate("tl.sum({})"), "prod": _accumulate("tl.reduce({}, combine_fn=_td_mul)"),
    "max": _extreme("tl.max", "_td_max_nan"), "min": _extreme("tl.min", "_td_min_nan"),
    "argmax": _arg_extreme("tl.argmax"), "argmin": _arg_extreme("tl.argmin"),
}
