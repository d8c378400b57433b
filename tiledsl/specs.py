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
        return ScalarSpec(DType.i32 if -(2**31) <= x < 2**31 else DType.i64, x)
    if isinstance(x, float):
        return ScalarSpec(DType.f32, x)
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], DType):
        return TensorSpec(tuple(x[0]), x[1])
    from tiledsl.errors import ArgumentError

    raise ArgumentError(f"cannot pass {type(x).__name__} to a kernel; pass a torch tensor, a number, "
                        f"or a (shape, dtype) spec")
