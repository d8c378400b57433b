"""Values of the interpreter: torch CPU tensors that hold exactly their IR dtype.

Every IR value is a torch tensor whose torch dtype is the IR dtype (scalars are 0-d tensors).
What a GPU does and torch on a CPU does not, this module does by hand:

- math on 16-bit and 8-bit floats is computed in f32 and rounded back once (a GPU upcasts the
  same way; torch has no CPU arithmetic on fp8 at all);
- rounding to fp8 saturates to the finite range (e4m3: 448, e5m2: 57344) like PTX
  ``cvt.rn.satfinite``: ±inf and out-of-range values clamp, NaN stays NaN;
- integer results wrap in their width (torch promotes int sums to int64; we cast back).
"""

from __future__ import annotations

import functools

import torch

from tiledsl.dtypes import FP8_MAX, DType

TORCH: dict[DType, torch.dtype] = {dt: dt.to_torch() for dt in DType}
_FP8_TORCH = frozenset(TORCH[dt] for dt in FP8_MAX)
_INT_POISON = {DType.i64: -0x21524111, DType.i32: -0x21524111, DType.i16: -0x2152, DType.i8: -0x21,
               DType.u8: 0xDE}


def is_low_float(dt: DType) -> bool:
    """Floats narrower than f32: computed in f32 and rounded back."""
    return dt.is_float and dt.bits < 32


def compute_dtype(dt: DType) -> torch.dtype:
    """The torch dtype arithmetic on `dt` runs in."""
    return torch.float32 if is_low_float(dt) else TORCH[dt]


def upcast(x: torch.Tensor) -> torch.Tensor:
    """`x` in its compute dtype (f32 for 16/8-bit floats, itself otherwise)."""
    if x.dtype in (torch.float16, torch.bfloat16) or x.dtype in _FP8_TORCH:
        return x.float()
    return x


def cast(x: torch.Tensor, dt: DType) -> torch.Tensor:
    """`x` converted to `dt` the way a GPU converts: fp8 saturates, bool is ``!= 0``,
    float -> int truncates toward zero. Returns `x` itself when it already has that dtype."""
    tt = TORCH[dt]
    if x.dtype == tt:
        return x
    if x.dtype in _FP8_TORCH:
        x = x.float()  # torch converts fp8 only to and from wider floats reliably
    if dt.is_fp8:
        if not x.is_floating_point():
            x = x.float()
        m = FP8_MAX[dt]
        return x.clamp(-m, m).to(tt)  # clamp keeps NaN: satfinite semantics
    if dt is DType.i1:
        return x != 0
    return x.to(tt)


def constant(value, dt: DType, shape: tuple[int, ...] = ()) -> torch.Tensor:
    """A tensor of `shape` filled with the Python number `value`, converted like `cast`."""
    if isinstance(value, bool) or dt is DType.i1:
        return torch.full(shape, bool(value), dtype=torch.bool)
    if dt.is_float:
        return cast(torch.full(shape, float(value), dtype=torch.float64), dt)
    return cast(torch.full(shape, int(value), dtype=torch.int64), dt)


def poison(shape: tuple[int, ...], dt: DType) -> torch.Tensor:
    """A new buffer whose contents are 'undefined': NaN for floats, a marker pattern for ints.

    A GPU leaves fresh shared memory and registers holding garbage; filling with zeros would make
    a kernel that forgets to initialize its accumulator pass here and fail there."""
    if dt.is_float:
        return torch.full(shape, float("nan"), dtype=TORCH[dt])
    if dt is DType.i1:
        return torch.zeros(shape, dtype=torch.bool)
    return torch.full(shape, _INT_POISON[dt], dtype=TORCH[dt])


@functools.lru_cache(maxsize=4096)
def int_scalar(value: int, dt: DType = DType.i32) -> torch.Tensor:
    """A cached 0-d int tensor (loop counters, program ids): values are never mutated."""
    return torch.tensor(value, dtype=TORCH[dt])


def scalar(value, dt: DType) -> torch.Tensor:
    """A 0-d tensor of `dt` holding a Python number (a SCALAR parameter, a constant)."""
    if isinstance(value, torch.Tensor):
        return cast(value.reshape(()), dt)
    return constant(value, dt)
