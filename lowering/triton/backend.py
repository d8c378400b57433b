"""`TritonBackend`: the `tiledsl.backends.Backend` contract for Triton.

- `lower`: scheduled IR -> module source (kernel + launcher, and a TMA variant of the kernel where
  loads qualify, see `tma`), plus the interpreter build of the same module (which differs only
  where Triton's interpreter needs a workaround, e.g. bf16 ``tl.dot``).
- `execute`: CUDA tensors run the compiled kernel; CPU tensors run it in Triton's interpreter. The
  loaded launcher is cached by the text it was loaded from (the GPU source, or the interpreter
  build: two calls whose GPU sources agree may differ there, e.g. fp16 and bf16 dots), so a warm
  call is a dict lookup and a call.
- `compile`: ahead of time for a target with no GPU (`aot.compile_aot`).
"""

from __future__ import annotations

from typing import Any

from tiledsl.ir.nodes import Function
from tiledsl.report import Report
from tiledsl.specs import ArgSpec
from tiledsl.targets import Target

from .codegen import Module
from .lowered import TritonLowered
from .module import generate


def _lowered(gpu: Module, interp: Module) -> TritonLowered:
    return TritonLowered("triton", gpu.source, gpu.entry, launcher=gpu.launcher, num_warps=gpu.num_warps,
                         num_stages=gpu.num_stages, kernel_args=gpu.kernel_args, constexprs=gpu.constexprs,
                         tma_entry=gpu.tma_entry, tma_kernel_args=gpu.tma_kernel_args,
                         interpret_source=interp.source, interpret_refusal=interp.refusal)


class TritonBackend:
    name = "triton"

    def __init__(self) -> None:
        self._launchers: dict[tuple[str, bool], Any] = {}

    def lower(self, fn: Function, specs: tuple[ArgSpec, ...], target: Target) -> TritonLowered:
        """Scheduled IR -> Triton source. Pure: the same (fn, specs, target) gives the same bytes (the
        specs decide which tensors need 64-bit offsets)."""
        from tiledsl.settings import settings

        tma = settings().tma
        gpu = generate(fn, target.name, interpret=False, tma=tma, specs=specs)
        interp = generate(fn, target.name, interpret=True, tma=tma, specs=specs)
        return _lowered(gpu, interp)

    def execute(self, lowered: TritonLowered, fn: Function, args: list[Any]) -> None:
        """Run on `args` in `fn.params` order (outputs included, already allocated)."""
        interpret = not _on_cuda(args)
        refusal = lowered.interpret_refusal
        if interpret and refusal is not None:  # e.g. a bf16 atomic: fine on GPUs, not here
            raise refusal
        launch = self._launchers.get(_loaded_text(lowered, interpret))
        if launch is None:
            launch = self._load(lowered, interpret)
        if interpret:
            from .loader import interpreting

            with interpreting():
                launch(*args)
        else:
            launch(*args)

    def launcher(self, lowered: TritonLowered, interpret: bool = False):
        """The generated ``launch`` function itself (for benchmarks and tests)."""
        launch = self._launchers.get(_loaded_text(lowered, interpret))
        return launch if launch is not None else self._load(lowered, interpret)

    def _load(self, lowered: TritonLowered, interpret: bool):
        from .loader import load_module

        key = _loaded_text(lowered, interpret)
        mod = load_module(key[0], interpret=interpret)
        launch = getattr(mod, lowered.launcher)
        self._launchers[key] = launch
        return launch

    def compile(self, lowered: TritonLowered, fn: Function, specs: tuple[ArgSpec, ...],
                target: Target) -> tuple[dict[str, str], Report]:
        """Ahead of time through Triton's compiler: ttir, ttgir, llir, ptx texts and a `Report`."""
        from .aot import compile_aot

        return compile_aot(lowered, fn, specs, target)


def _loaded_text(lowered: TritonLowered, interpret: bool) -> tuple[str, bool]:
    """The launcher cache key: exactly the text that is loaded and run, and how."""
    return (lowered.interpret_source if interpret else lowered.source), interpret


def _on_cuda(args) -> bool:
    for a in args:
        is_cuda = getattr(a, "is_cuda", None)
        if is_cuda is not None:
            return bool(is_cuda)
    return False
