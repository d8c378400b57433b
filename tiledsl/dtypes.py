"""Scalar element types of the language and their mapping to torch.

One `DType` enum serves the front end (``td.float16``), the IR text (``f16``), the interpreter
(torch dtypes) and the backends (each keeps its own spelling table keyed by `DType`).
"""

from __future__ import annotations

import enum


class DType(enum.Enum):
    """Element type. The value is the IR spelling."""

    f64 = "f64"
    f32 = "f32"
    f16 = "f16"
    bf16 = "bf16"
    f8e4m3 = "f8e4m3"
    f8e5m2 = "f8e5m2"
    i64 = "i64"
    i32 = "i32"
    i16 = "i16"
    i8 = "i8"
    u8 = "u8"
    i1 = "i1"

    def __repr__(self) -> str:
        return f"td.{PUBLIC_NAME[self]}"

    @property
    def is_float(self) -> bool:
        return self in _FLOAT_BITS

    @property
    def is_fp8(self) -> bool:
        return self in (DType.f8e4m3, DType.f8e5m2)

    @property
    def is_int(self) -> bool:
        return self in _INT_BITS

    @property
    def is_bool(self) -> bool:
        return self is DType.i1

    @property
    def bits(self) -> int:
        return _FLOAT_BITS.get(self) or _INT_BITS.get(self) or 1

    @property
    def itemsize(self) -> int:
        return max(1, self.bits // 8)

    def to_torch(self):  # -> torch.dtype (torch imported lazily by callers that have it)
        import torch

        return getattr(torch, _TORCH_NAME[self])


_FLOAT_BITS = {DType.f64: 64, DType.f32: 32, DType.f16: 16, DType.bf16: 16,
               DType.f8e4m3: 8, DType.f8e5m2: 8}
_INT_BITS = {DType.i64: 64, DType.i32: 32, DType.i16: 16, DType.i8: 8, DType.u8: 8}

FP8_MAX: dict[DType, float] = {DType.f8e4m3: 448.0, DType.f8e5m2: 57344.0}
"""Largest finite value of each fp8 format: a float -> fp8 conversion saturates to +-this
(PTX's ``.satfinite``), and the identity of max/min over e4m3, which has no infinity."""

PUBLIC_NAME = {
    DType.f64: "float64", DType.f32: "float32", DType.f16: "float16", DType.bf16: "bfloat16",
    DType.f8e4m3: "float8_e4m3", DType.f8e5m2: "float8_e5m2", DType.i64: "int64",
    DType.i32: "int32", DType.i16: "int16", DType.i8: "int8", DType.u8: "uint8", DType.i1: "bool",
}
_TORCH_NAME = {
    DType.f64: "float64", DType.f32: "float32", DType.f16: "float16", DType.bf16: "bfloat16",
    DType.f8e4m3: "float8_e4m3fn", DType.f8e5m2: "float8_e5m2", DType.i64: "int64",
    DType.i32: "int32", DType.i16: "int16", DType.i8: "int8", DType.u8: "uint8", DType.i1: "bool",
}


def from_torch(dtype) -> DType:
    """The `DType` of a torch dtype; raises KeyError for types the language lacks."""
    name = str(dtype).removeprefix("torch.")
    for dt, tname in _TORCH_NAME.items():
        if tname == name:
            return dt
    raise KeyError(name)


def promote(a: DType, b: DType) -> DType:
    """Result type of a binary op on `a` and `b` (numpy-like, with two 16-bit floats -> f32)."""
    if a is b:
        return a
    if a.is_float or b.is_float:
        if not (a.is_float and b.is_float):
            return a if a.is_float else b
        if a.is_fp8 and b.is_fp8:
            return DType.f16
        if a.is_fp8 or b.is_fp8:
            return b if a.is_fp8 else a
        if a.bits == b.bits:  # f16 with bf16
            return DType.f32
        return a if a.bits > b.bits else b
    if a.is_bool or b.is_bool:
        return b if a.is_bool else a
    if DType.u8 in (a, b):
        other = b if a is DType.u8 else a
        # as torch: u8 with a signed int of 8 bits needs i16 to hold both ranges (symmetric)
        return DType.i16 if other.bits <= 8 else other
    return a if a.bits >= b.bits else b
