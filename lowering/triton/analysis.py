"""Facts the Triton lowering needs before it writes a line (what Triton can take at all is its
capability record, `tiledsl.capabilities.TRITON`, checked by `tiledsl.passes.legality`).

- which integer values are non-negative, and their known divisors, are facts of the scheduled IR
  (`tiledsl.passes.analyses`: attributes the IR dump shows), read by the codegen and the TMA plan.
- `offsets_need_int64`: whether element offsets into a tensor (index * stride summed over axes)
  can leave the int32 range, from the shapes and strides the kernel is compiled for.
"""

from __future__ import annotations

import math

from tiledsl.ir.nodes import Sym
from tiledsl.passes.analyses import wrap_int  # noqa: F401 - the codegen's import of it

INT32_MAX = 2**31 - 1


def offsets_need_int64(shape: tuple, spec=None) -> bool:
    """True when an element offset into a tensor of IR `shape` can exceed int32.

    With the call's `spec` (a `TensorSpec`: shape and strides) the largest offset is known:
    sum((size - 1) * |stride|). Without one, static sizes bound a contiguous tensor; a runtime
    size is unbounded, so 64-bit it is.
    """
    shape_ = getattr(spec, "shape", None)
    if shape_ is not None and len(shape_) == len(shape):
        strides = spec.effective_strides
        return sum((max(d, 1) - 1) * abs(s) for d, s in zip(shape_, strides)) >= INT32_MAX
    if all(isinstance(d, int) for d in shape):
        return math.prod(max(d, 1) for d in shape) >= INT32_MAX
    return True


def resolve(attr, knobs: dict[str, int]):
    """An attr with knob references (`Sym`) replaced by the knobs' values."""
    if isinstance(attr, Sym):
        return knobs[attr.name]
    if isinstance(attr, tuple):
        return tuple(resolve(a, knobs) for a in attr)
    return attr
