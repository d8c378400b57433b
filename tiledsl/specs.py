"""Argument specs: what the compiler knows of a call's arguments (shapes, dtypes, scalar values).

`kernel.compile` accepts tensors or specs; a call turns its tensors into specs to key caches.
"""

from __future__ import annotations

from dataclasses import dataclass

from tiledsl.dtypes import DType, from_torch


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: DType
    strides: tuple[int, ...] | None = None  # None: contiguous
    device: str = "cpu"

    @property
    def contiguous_strides(self) -> tuple[int, ...]:
        out, s = [], 1
        for d in reversed(self.shape):
            out.append(s)
            s *= max(d, 1)
        return tuple(reversed(out))

    @property
    def effective_strides(self) -> tuple[int, ...]:
        return self.strides if self.strides is not None else self.contiguous_strides


@dataclass(frozen=True)
class ScalarSpec:
    dtype: DType  # i32 / i64 / f32 / i1
    value: int | float | bool | None = None


ArgSpec = TensorSpec | ScalarSpec

I32_RANGE = (-(2**31), 2**31 - 1)  # inclusive bounds of the integer scalar dtypes
I64_RANGE = (-(2**63), 2**63 - 1)


def int_dtype(x: int) -> DType:
    """The scalar dtype an int argument compiles to: i32 where it fits, else i64."""
    if I32_RANGE[0] <= x <= I32_RANGE[1]:
        return DType.i32
    if I64_RANGE[0] <= x <= I64_RANGE[1]:
        return DType.i64
    from tiledsl.errors import ArgumentError

    raise ArgumentError(f"integer {x} does not fit in 64 bits; kernels take integers from "
                        f"{I64_RANGE[0]} to {I64_RANGE[1]}")


def spec(x, dtype=None) -> ArgSpec:
    """A spec of `x`: a torch tensor, a Python number, a spec, or a (shape, dtype) pair."""
    if isinstance(x, (TensorSpec, ScalarSpec)):
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "stride"):
        try:
            dt = from_torch(x.dtype)
        except KeyError:
            from tiledsl.errors import ArgumentError

            raise ArgumentError(f"tensors of dtype {x.dtype} are not supported") from None
        return TensorSpec(tuple(int(d) for d in x.shape), dt, tuple(int(s) for s in x.stride()),
                          x.device.type)
    if isinstance(x, bool):
        return ScalarSpec(DType.i1, x)
    if isinstance(x, int):
        return ScalarSpec(int_dtype(x), x)
    if isinstance(x, float):  # a Python float is a double (the kernel treats it as weakly typed)
        return ScalarSpec(DType.f64, x)
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], DType):
        return TensorSpec(tuple(x[0]), x[1])
    from tiledsl.errors import ArgumentError

    raise ArgumentError(f"cannot pass {type(x).__name__} to a kernel; pass a torch tensor, a number, "
                        f"or a (shape, dtype) spec")
