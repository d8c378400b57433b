"""The TileLang backend: scheduled IR -> TileLang program -> CUDA C -> cubin.

`BACKEND` implements `tiledsl.backends.Backend`:

- ``lower``: the TileLang program as readable Python source (stage ``"tilelang"``), specialised on
  the argument shapes. Pure and deterministic; does not import tilelang.
- ``compile``: TileLang's CUDA C for the target (stage ``"cuda"``) and, where nvcc is on the PATH,
  the PTX (stage ``"ptx"``) and a cubin for the target's arch variant (``sm_90a`` on Hopper), with
  a `Report` from ptxas and the PTX (registers, spills, shared memory, wgmma, TMA).
- ``execute``: runs the kernel on CUDA tensors through ``tilelang.compile``. CPU tensors raise
  `CannotExecuteError` at once (`check_executable`, which the runtime may call before lowering).
"""

from __future__ import annotations

from typing import Any

from tiledsl.errors import BackendError, CannotExecuteError
from tiledsl.ir.nodes import Function
from tiledsl.ir.verify import verify
from tiledsl.passes import legality
from tiledsl.report import Report
from tiledsl.specs import ArgSpec, TensorSpec
from tiledsl.targets import Target

from .lowered import TileLangLowered

STAGE = "tilelang"
CPU_MESSAGE = ("TileLang code needs a CUDA GPU and these tensors are on the CPU; run on CPU with "
               "backend='ir' (tiledsl's interpreter) or backend='triton' (Triton's interpreter), or "
               "use kernel.compile(..., backend='tilelang') to get the CUDA code and report without running")


class TileLangBackend:
    name = "tilelang"

    def check_executable(self, args) -> None:
        """Raise `CannotExecuteError` unless every tensor argument is a CUDA tensor. Cheap: call
        it before any lowering work."""
        for a in args:
            dev = getattr(a, "device", None)
            if dev is None and isinstance(a, TensorSpec):
                dev = a.device
            if dev is not None and getattr(dev, "type", dev) != "cuda":
                raise CannotExecuteError(CPU_MESSAGE)

    def lower(self, fn: Function, specs: tuple[ArgSpec, ...], target: Target) -> TileLangLowered:
        from tiledsl.lowering.tilelang.program import emit_program, entry_name

        verify(fn, STAGE)
        legality.check(fn, "tilelang")  # hand-built IR meets the pipeline's rules and error
        source = emit_program(fn, tuple(specs), target)
        return TileLangLowered(stage=STAGE, source=source, entry=entry_name(fn), target=target.name)

    def compile(self, lowered: TileLangLowered, fn: Function, specs: tuple[ArgSpec, ...],
                target: Target) -> tuple[dict[str, str], Report]:
        from tiledsl.lowering.tilelang import build

        cuda, dyn_smem, t_lower = build.lower_to_cuda(lowered.source, lowered.entry, target)
        stages = {"cuda": cuda}
        notes = [f"tilelang lowering took {t_lower:.2f} s"]
        arch = target.sm_arch
        ptx, cubin, log, t_nvcc = build.nvcc_compile(cuda, arch)
        if ptx is None:
            notes.append("nvcc is not on the PATH: no PTX, cubin or ptxas statistics")
        else:
            stages["ptx"] = ptx
            path = build.artifact_path(lowered.entry, lowered.source, f"_{arch}.cubin")
            path.write_bytes(cubin)
            notes.append(f"nvcc + ptxas took {t_nvcc:.2f} s; cubin: {path}")
        return stages, build.build_report(arch, ptx, log, dyn_smem, notes)

    def execute(self, lowered: TileLangLowered, fn: Function, args: list[Any]) -> None:
        self.check_executable(args)
        check_contiguous(fn, args)
        from tiledsl.lowering.tilelang import run

        run.launch(lowered, args)


def check_contiguous(fn: Function, args: list[Any]) -> None:
    """The program indexes its tensors as contiguous (see `emit._param_decl`); a call that reuses
    it with a strided view (same shape, so the same compiled kernel) must not run it."""
    for p, a in zip(fn.params, args):
        is_contiguous = getattr(a, "is_contiguous", None)
        if is_contiguous is not None and not is_contiguous():
            raise BackendError(f"argument {p.value.name} is not contiguous (strides {tuple(a.stride())}); "
                               "the TileLang backend specialises on contiguous tensors",
                               hint="pass x.contiguous(), or use backend='triton'")


BACKEND = TileLangBackend()

__all__ = ["BACKEND", "CPU_MESSAGE", "STAGE", "TileLangBackend"]
