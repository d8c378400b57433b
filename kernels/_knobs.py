"""Asking the scheduler for knob values from a wrapper, before the call that uses them.

The reference kernels use this where a knob must be chosen for other sizes than the call's (the
masked grouped GEMMs schedule for ``expected_m`` rows per group, not the ``M_max`` bound) or where
a wrapper fixes some knobs and reads the others off one schedule. Scheduling only
(``backend="ir"``): nothing is lowered or compiled, and results are cached per shape.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch

import tiledsl as td
from tiledsl.dtypes import from_torch
from tiledsl.specs import TensorSpec


def scheduled_knobs(kernel: td.Kernel, args: tuple[torch.Tensor, ...], rows: int | None = None,
                    **fixed: int) -> dict[str, int]:
    """What the scheduler picks for `kernel` on `args` (with the fixed knob values), the tensors'
    second axis replaced by `rows` where it is the first argument's (the masked layout's M_max)."""
    M_max = args[0].shape[1] if rows is not None else None
    specs = []
    for t in args:
        shape = tuple(t.shape)
        if rows is not None and t.dim() == 3 and shape[1] == M_max:
            shape = (shape[0], max(1, min(rows, M_max)), shape[2])
        specs.append(TensorSpec(shape, from_torch(t.dtype)))
    target = torch.cuda.get_device_name(args[0].device) if args[0].is_cuda else None
    fixed_items = tuple(sorted(fixed.items()))
    return _scheduled_fixed(kernel, tuple(specs), target, fixed_items)


@functools.lru_cache(maxsize=256)
def _scheduled_fixed(kernel: td.Kernel, specs: tuple, target: str | None, fixed_items: tuple) -> dict[str, int]:
    """The knob values the cost model picks for these argument specs (scheduling only)."""
    return kernel.compile(*specs, backend="ir", target=target, **dict(fixed_items)).schedule.as_dict()




@dataclass(frozen=True)
class Launch:
    """One call of a kernel as a wrapper makes it: the kernel, its arguments and the knob values
    the wrapper fixes. Wrappers run it; tests and benchmarks compile the same launch ahead of time
    (arguments may be meta tensors: only shapes and dtypes are read)."""

    kernel: td.Kernel
    args: tuple  # tensors, and the Python numbers of runtime scalar parameters
    knobs: dict[str, int] = field(default_factory=dict)

    def run(self, backend: str | None = None, target=None) -> None:
        extra = {"target": target} if target is not None else {}
        self.kernel(*self.args, backend=backend, **extra, **self.knobs)

    def specs(self) -> tuple:
        """The arguments as compile-time specs: a TensorSpec per tensor, numbers as they are."""
        return tuple(TensorSpec(tuple(t.shape), from_torch(t.dtype)) if isinstance(t, torch.Tensor) else t
                     for t in self.args)

    def compile(self, backend: str = "triton", target: str | None = "h100"):
        return self.kernel.compile(*self.specs(), backend=backend, target=target, **self.knobs)
