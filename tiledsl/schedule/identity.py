"""The identity of every reduction kind for every dtype, in one table.

A reduction over a ragged axis (a row that does not fill its power-of-two tile, or the last chunk
of a chunked row) masks the lanes outside the row to the identity of the reduction, so they change
nothing: ``x`` combined with the identity is ``x`` for every value ``x`` of the dtype. The level-1
lowering (`tiledsl.passes.lower1`) fills masks and accumulators from here; a backend that needs
the identity of a reduction (a TileLang ``clear`` fill, an empty reduction) reads the same table.

The values are exact in their dtype:

- max/argmax start from the dtype's lowest value, min/argmin from its highest: -inf/+inf for the
  floats that have infinities, the finite extreme for float8_e4m3 (it has no inf: -inf would
  saturate on a GPU but is NaN through a plain conversion), the integer range's end for the ints
  (uint8 is 0..255, not a signed byte), False/True for bool;
- sum starts from 0 and prod from 1 (False/True for bool, 0.0/1.0 for floats).
"""

from __future__ import annotations

from tiledsl.dtypes import FP8_MAX, DType
from tiledsl.ir.optable import REDUCE_KINDS

Number = bool | int | float

_INF = float("inf")
# (lowest, highest) of each dtype: the identities of max and min
_RANGE: dict[DType, tuple[Number, Number]] = {
    DType.f64: (-_INF, _INF),
    DType.f32: (-_INF, _INF),
    DType.f16: (-_INF, _INF),
    DType.bf16: (-_INF, _INF),
    # no inf in e4m3 (the "fn" variant): its finite extremes
    DType.f8e4m3: (-FP8_MAX[DType.f8e4m3], FP8_MAX[DType.f8e4m3]),
    DType.f8e5m2: (-_INF, _INF),
    DType.i64: (-(1 << 63), (1 << 63) - 1),
    DType.i32: (-(1 << 31), (1 << 31) - 1),
    DType.i16: (-(1 << 15), (1 << 15) - 1),
    DType.i8: (-(1 << 7), (1 << 7) - 1),
    DType.u8: (0, 255),
    DType.i1: (False, True),
}


def _zero_one(dt: DType) -> tuple[Number, Number]:
    if dt is DType.i1:
        return False, True
    return (0.0, 1.0) if dt.is_float else (0, 1)


# kind -> dtype -> identity
IDENTITY: dict[str, dict[DType, Number]] = {
    "sum": {dt: _zero_one(dt)[0] for dt in DType},
    "prod": {dt: _zero_one(dt)[1] for dt in DType},
    "max": {dt: lo for dt, (lo, _) in _RANGE.items()},
    "argmax": {dt: lo for dt, (lo, _) in _RANGE.items()},
    "min": {dt: hi for dt, (_, hi) in _RANGE.items()},
    "argmin": {dt: hi for dt, (_, hi) in _RANGE.items()},
}
assert set(IDENTITY) == set(REDUCE_KINDS), "a reduction kind without an identity"


def reduction_identity(kind: str, dtype: DType) -> Number:
    """The value that reduction `kind` over `dtype` operands leaves unchanged (see module doc)."""
    return IDENTITY[kind][dtype]
