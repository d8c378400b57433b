"""`@td.kernel`: the object users hold, and the compiled artefact it caches per signature.

Call path: bind arguments -> specs (shapes, dtypes, constexprs) -> cached `CompiledKernel` or
front end + pipeline + lowering -> allocate outputs -> run on the chosen backend.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tiledsl import backends
from tiledsl.dtypes import DType
from tiledsl.errors import ArgumentError, CannotExecuteError, StageError
from tiledsl.frontend import bind_params, build_function, read_kernel
from tiledsl.ir.dims import size_sym, split_size_sym
from tiledsl.ir.nodes import Function, ParamKind
from tiledsl.runtime.args import NoFastKey, arg_key, check_bound, check_num_warps, compile_key
from tiledsl.specs import TensorSpec, spec

_SETTINGS = importlib.import_module("tiledsl.settings")  # `_current`: the settings object in force

BACKENDS = ("ir", *backends.NAMES, "eager")
_CALL_KEYWORDS = ("backend", "target", "num_warps")


@dataclass(frozen=True)
class Tuner:
    """The autotuner as the runtime sees it. It sits above the runtime (`tiledsl.tune`), which
    hands it in with `set_tuner` when imported (``import tiledsl`` does)."""

    enabled: Callable[[bool | None], bool]  # the decorator's ``autotune=`` -> whether to tune
    tune: Callable[..., Any]  # (fn, specs, target, *, source, backend) -> tiledsl.schedule.Scheduled


_tuner: Tuner | None = None


def set_tuner(tuner: Tuner | None) -> None:
    """Use `tuner` to schedule kernels compiled with autotuning on (None: the cost model only)."""
    global _tuner
    _tuner = tuner


def kernel(fn=None, *, autotune: bool | None = None, backend: str | None = None):
    """Decorate a Python function as a tiledsl kernel. ``@td.kernel`` or ``@td.kernel(autotune=True)``."""
    if fn is None:
        return functools.partial(kernel, autotune=autotune, backend=backend)
    return Kernel(fn, autotune=autotune, backend=backend)


class Kernel:
    def __init__(self, fn, *, autotune: bool | None = None, backend: str | None = None):
        self.fn = fn
        self.source = read_kernel(fn)
        self.autotune = autotune
        self.default_backend = backend
        self._compiled: dict = {}
        self._fast: dict = {}  # (backend, target, per-argument key) -> CompiledKernel
        self._fast_settings = None  # the settings `_fast` was filled under (cleared when they change)
        self._names = [p.name for p in self.source.params]
        self._const = tuple(p.kind == "constexpr" for p in self.source.params)
        self._lock = threading.Lock()
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        return self.source.name

    def __repr__(self) -> str:
        return f"<tiledsl kernel {self.name} at {self.source.file}:{self.source.first_line}>"

    # --- binding --------------------------------------------------------------------------------
    def _bind(self, args, kwargs, running: bool = False):
        knob_values = {}
        if "num_warps" in kwargs:
            knob_values["num_warps"] = kwargs.pop("num_warps")
            check_num_warps(self.name, knob_values)
        bound = bind_params(self.source, args, kwargs)
        check_bound(self.name, self.source.params, bound, running)
        return bound, knob_values

    def _key(self, bound: dict, knob_values: dict, backend: str, target) -> tuple:
        return compile_key(self.source.params, bound, knob_values, backend, target)

    def ir(self, *args, **kwargs) -> Function:
        """The IR at stage "ir" for these arguments (tensors, specs, numbers, constexprs)."""
        bound, knob_values = self._bind(args, kwargs)
        return build_function(self.source, bound, knob_values)

    # --- compile --------------------------------------------------------------------------------
    def compile(self, *args, backend: str | None = None, target=None, **kwargs) -> CompiledKernel:
        """Compile for these example arguments without running. See `CompiledKernel`."""
        bound, knob_values = self._bind(args, dict(kwargs))
        backend = self._pick_backend(backend, bound, compile_only=True)
        return self._get(bound, knob_values, backend, target)

    def _get(self, bound, knob_values, backend, target) -> CompiledKernel:
        from tiledsl.settings import check_target, settings
        from tiledsl.targets import get_target

        if target is not None and not hasattr(target, "arch"):
            check_target(target, f"{self.name}.compile(..., target=...)")

        tgt = get_target(target or _device_target(bound) or settings().target)
        key = self._key(bound, knob_values, backend, tgt)
        ck = self._compiled.get(key)
        if ck is None:
            with self._lock:
                ck = self._compiled.get(key)
                if ck is None:
                    ck = CompiledKernel.build(self, bound, knob_values, backend, tgt)
                    self._compiled[key] = ck
        return ck

    def _pick_backend(self, backend, bound, compile_only=False) -> str:
        from tiledsl.settings import settings

        if compile_only and backend == "eager":
            raise ArgumentError(f"{self.name}: eager mode runs the kernel's Python body and compiles nothing; "
                                "call the kernel with backend='eager', or compile for 'ir', 'triton' or 'tilelang'")
        backend = backend or self.default_backend or settings().backend
        if compile_only and backend == "eager":
            backend = None  # an eager default (decorator or TILEDSL_BACKEND) leaves compiles to the usual pick
        if backend is None:
            if compile_only:
                return "triton"
            return "triton" if _on_cuda(bound) else "ir"
        if backend not in BACKENDS:
            raise ArgumentError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        return backend

    # --- call ----------------------------------------------------------------------------------------
    def __call__(self, *args, backend: str | None = None, target=None, **kwargs):
        if target is not None and not hasattr(target, "arch"):
            _SETTINGS.check_target(target, f"{self.name}(..., target=...)")
        if backend == "eager" or (backend is None and _default_backend(self) == "eager"):
            from tiledsl.eager import run_kernel

            return run_kernel(self, args, kwargs)
        # warm path: positional tensors/numbers seen before -> the compiled kernel, no re-binding
        # (the bound values of parameters not passed, i.e. defaults, are kept with the entry).
        # `arg_key` keys what decides the compiled kernel; entries die when the settings change.
        fast = None
        if not kwargs and len(args) <= len(self._const):
            try:
                fast = (backend, target, tuple(map(arg_key, args, self._const)))
                hit = self._fast.get(fast)
            except (NoFastKey, AttributeError, TypeError):  # a numpy array, a list...: slow path
                fast = hit = None
            if hit is not None and _SETTINGS._current is self._fast_settings:
                ck, defaults = hit
                bound = dict(zip(self._names, args))
                if defaults:
                    bound.update(defaults)
                return ck.run(bound)
        bound, knob_values = self._bind(args, dict(kwargs), running=True)
        backend = self._pick_backend(backend, bound)
        if backend == "tilelang" and not _on_cuda(bound):
            raise CannotExecuteError(
                f"{self.name}: TileLang code needs a CUDA GPU and these tensors are on the CPU; "
                "run with backend='ir' or backend='triton' on CPU, or use "
                f"{self.name}.compile(..., backend='tilelang') to get CUDA source and a cubin")
        ck = self._get(bound, knob_values, backend, target)
        if fast is not None:
            self._remember(fast, ck, bound, len(args))
        return ck.run(bound)

    def _remember(self, fast: tuple, ck: CompiledKernel, bound: dict, n_args: int) -> None:
        from tiledsl.settings import settings

        current = settings()
        if current is not self._fast_settings:  # entries made under other settings are stale
            self._fast = {}
            self._fast_settings = current
        if len(self._fast) < 4096:
            defaults = {n: v for n, v in bound.items() if n not in self._names[:n_args]}
            self._fast[fast] = (ck, defaults)


def _default_backend(k: Kernel) -> str | None:
    from tiledsl.settings import settings

    return k.default_backend or settings().backend


def _on_cuda(bound: dict) -> bool:
    return any(getattr(getattr(v, "device", None), "type", None) == "cuda" for v in bound.values())


def _device_target(bound: dict):
    """The name of the GPU the tensors are on (the first CUDA tensor's device), or None."""
    dev = next((v.device for v in bound.values()
                if getattr(getattr(v, "device", None), "type", None) == "cuda"), None)
    if dev is None:
        return None
    import torch

    return torch.cuda.get_device_name(dev)


@dataclass
class CompiledKernel:
    """One kernel compiled for one signature, backend and target.

    `.stages` lists stage names in order, `.code(stage)` gives each stage's text, `.report` what
    the backend compiler says of the binary plus the cost model's estimate, `.schedule` the chosen
    knob values."""

    kernel: Kernel
    backend: str
    target: Any
    ir_fn: Function
    scheduled: Any  # tiledsl.schedule.Scheduled
    specs: tuple
    lowered: Any = None
    lower_specs: tuple = ()  # specs of every param of the scheduled function, outputs included
    _texts: dict = field(default_factory=dict)
    _report: Any = None
    _plan: Any = None

    @classmethod
    def build(cls, k: Kernel, bound: dict, knob_values: dict, backend: str, target) -> CompiledKernel:
        from tiledsl.passes.pipeline import run_pipeline

        fn = build_function(k.source, bound, knob_values)
        specs = tuple(spec(bound[p.value.name]) for p in fn.params)
        scheduler = None
        if _tuner is not None and _tuner.enabled(k.autotune) and backend != "ir":
            scheduler = functools.partial(_tuner.tune, source=k.source.text, backend=backend)
        scheduled = run_pipeline(fn, specs, target, backend, scheduler=scheduler)
        ck = cls(k, backend, target, fn, scheduled, tuple(spec(bound[p.value.name]) for p in
                                                          scheduled.fn.params if p.kind is not ParamKind.OUTPUT))
        if backend != "ir":
            from tiledsl.backends import get_backend

            ck.lower_specs = ck._all_specs(bound)
            ck.lowered = get_backend(backend).lower(scheduled.fn, ck.lower_specs, target)
        return ck

    def _all_specs(self, bound: dict) -> tuple:
        """Specs of every param of the scheduled function, outputs included."""
        out = []
        for p in self.scheduled.fn.params:
            if p.kind is ParamKind.OUTPUT:
                out.append(TensorSpec(self._out_shape(p, bound), p.value.type.dtype))
            else:
                out.append(spec(bound[p.value.name]))
        return tuple(out)

    @property
    def fn(self) -> Function:
        return self.scheduled.fn

    @property
    def schedule(self):
        return self.scheduled.schedule

    @property
    def estimate(self):
        return self.scheduled.estimate

    @property
    def stages(self) -> list[str]:
        names = ["python", "ir", "scheduled"]
        if self.backend != "ir":
            names.append(self.lowered.stage)
            names += list(self._backend_texts().keys())
        return names

    def code(self, stage: str) -> str:
        from tiledsl.ir.text import print_ir

        if stage == "python":
            return self.kernel.source.text
        if stage == "ir":
            return print_ir(self.ir_fn)
        if stage == "scheduled":
            return print_ir(self.scheduled.fn)
        if self.lowered is not None and stage == self.lowered.stage:
            return self.lowered.source
        texts = self._backend_texts() if self.backend != "ir" else {}
        if stage not in texts:
            raise StageError(f"no stage {stage!r}; stages: {', '.join(self.stages)}",
                             hint=f"pass one of those names to .code(...), or compile for another backend "
                                  f"(this one is {self.backend!r}) to get its code")
        return texts[stage]

    def _backend_texts(self) -> dict:
        if "backend" not in self._texts:
            from tiledsl.backends import get_backend

            texts, report = get_backend(self.backend).compile(self.lowered, self.scheduled.fn,
                                                              self.lower_specs, self.target)
            self._texts["backend"] = texts
            self._report = report
        return self._texts["backend"]

    @property
    def report(self):
        from tiledsl.report import Report

        est = _estimate_dict(self.scheduled.estimate)
        if self.backend == "ir":
            return Report(arch=self.target.sm_arch, estimate=est, notes=("backend 'ir' builds no binary",))
        self._backend_texts()
        import dataclasses

        return dataclasses.replace(self._report, estimate=est)

    # --- running ----------------------------------------------------------------------------------------
    def _out_shape(self, p, bound: dict) -> tuple[int, ...]:
        sizes = {}
        for q in self.ir_fn.params:
            s = spec(bound[q.value.name])
            if isinstance(s, TensorSpec):
                for i, d in enumerate(s.shape):
                    sizes[size_sym(q.value.name, i)] = int(d)
        try:
            return tuple(d if isinstance(d, int) else sizes[d] for d in p.value.type.shape)
        except KeyError as e:
            raise ArgumentError(f"cannot size output {p.value.name}: unknown size {e}") from None

    def run(self, bound: dict):
        if self._plan is None:
            self._plan = self._make_plan()
        names, outputs, assume, execute, order = self._plan
        if assume:
            _check_assumptions(self.ir_fn, bound)
        if not outputs:
            execute([bound[n] for n in names])
            return None
        import torch

        device = next((v.device for v in bound.values() if isinstance(v, torch.Tensor)), torch.device("cpu"))
        made = {n: torch.empty(self._out_shape(p, bound), dtype=p.value.type.dtype.to_torch(), device=device)
                for n, p in outputs.items()}
        execute([made[n] if n in made else bound[n] for n in names])
        outs = [made[n] for n in order]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _make_plan(self):
        """What every call repeats, computed once: param order, outputs, the executor."""
        fn = self.scheduled.fn
        outputs = {p.value.name: p for p in fn.params if p.kind is ParamKind.OUTPUT}
        order = tuple(fn.attr("outputs") or outputs)
        if self.backend == "ir":
            from tiledsl.interp import run as interp_run

            def execute(args):
                interp_run(fn, args)
        else:
            from tiledsl.backends import get_backend

            be, lowered = get_backend(self.backend), self.lowered

            def execute(args):
                be.execute(lowered, fn, args)
        return [p.value.name for p in fn.params], outputs, bool(self.ir_fn.attr("assume")), execute, order


def _check_assumptions(fn: Function, bound: dict):
    """Sizes the front end assumed equal (broadcasting of two runtime sizes) must be equal."""
    for a, b in fn.attr("assume") or ():
        (pa, ia), (pb, ib) = split_size_sym(a), split_size_sym(b)
        sa, sb = bound[pa].shape[ia], bound[pb].shape[ib]
        if sa != sb:
            raise ArgumentError(f"{fn.name}: {pa}.shape[{ia}] is {sa} but {pb}.shape[{ib}] is {sb}; "
                                "the kernel combines them elementwise, so they must match")


def _estimate_dict(est) -> dict:
    if est is None:
        return {}
    import dataclasses

    if dataclasses.is_dataclass(est):
        return {k: v for k, v in dataclasses.asdict(est).items() if not isinstance(v, (dict, list))}
    return dict(est)


_ = (DType, ParamKind)
