"""`TritonLowered`: what the Triton backend's `lower` returns (the backend contract's typed result)."""

from __future__ import annotations

from dataclasses import dataclass

from tiledsl.backends import Lowered
from tiledsl.errors import BackendError


@dataclass(frozen=True)
class TritonLowered(Lowered):
    """The Triton module for one (scheduled IR, specs, target): the GPU build in `source` and the
    facts its launch and ahead-of-time compile need, plus the interpreter build of the same
    module (`interpret_source`), which differs where Triton's interpreter needs a workaround."""

    launcher: str  # name of the host function that launches the kernel
    num_warps: int
    num_stages: int | None
    kernel_args: tuple[tuple[str, tuple], ...]  # (name, arg info) of the pointer kernel
    constexprs: tuple[tuple[str, int], ...]
    tma_entry: str | None  # the kernel that loads through TMA descriptors, if any
    tma_kernel_args: tuple[tuple[str, tuple], ...]
    interpret_source: str
    interpret_refusal: BackendError | None  # why the interpreter build cannot run, if it cannot
