"""Ahead-of-time compilation through Triton's own compiler, with no GPU.

``triton.compile(ASTSource(kernel, signature, constexprs, attrs), target=GPUTarget("cuda", 90,
32))`` runs the whole pipeline (ttir, ttgir, llir, ptx, cubin). Of a module's two kernels it
compiles the one a launch with such tensors takes (`pick_kernel`: the TMA kernel when the specs
pass the launcher's check). The signature is derived from the
argument specs the way Triton's JIT would specialise a real launch: pointers are 16-byte aligned,
integer arguments divisible by 16 are marked so, strides equal to 1 become constants. ``ptxas -v``
on the PTX then fills the `Report`.
"""

from __future__ import annotations

import re
import time

from tiledsl.dtypes import DType
from tiledsl.ir.nodes import Function
from tiledsl.report import Report, bundled_ptxas, ptxas_stats, scan_ptx
from tiledsl.specs import ArgSpec, ScalarSpec, TensorSpec
from tiledsl.targets import Target

from .loader import load_module
from .lowered import TritonLowered
from .tma import signature_type, spec_allows_tma

STAGES = ("ttir", "ttgir", "llir", "ptx")

_SIG_DTYPE = {DType.f64: "fp64", DType.f32: "fp32", DType.f16: "fp16", DType.bf16: "bf16",
              DType.f8e4m3: "fp8e4nv", DType.f8e5m2: "fp8e5", DType.i64: "i64", DType.i32: "i32",
              DType.i16: "i16", DType.i8: "i8", DType.u8: "u8", DType.i1: "i1"}


def _int_arg(value: int | None, name: str, sig: dict, consts: dict, attrs: dict, index: int,
             one_is_const: bool) -> None:
    """An integer argument: a constant where Triton would specialise 1, else i32/i64."""
    if value == 1 and one_is_const:
        sig[name] = "constexpr"
        consts[name] = 1
        return
    sig[name] = "i64" if value is not None and not -(2**31) <= value < 2**31 else "i32"
    if value is not None and value % 16 == 0 and value != 0:
        attrs[(index,)] = [["tt.divisibility", 16]]


def pick_kernel(lowered: TritonLowered, specs: tuple[ArgSpec, ...]) -> tuple[str, str, tuple]:
    """(entry, why, kernel args) of the kernel a launch with tensors like `specs` takes: the TMA
    kernel when every tensor it reads through descriptors passes the launcher's check."""
    tma_entry = lowered.tma_entry
    if tma_entry is None:
        return lowered.entry, "no load qualifies for TMA", lowered.kernel_args
    for _, info in lowered.tma_kernel_args:
        if info[0] == "desc":
            why = spec_allows_tma(specs[info[1]])
            if why is not None:
                return lowered.entry, f"pointer kernel: argument {info[1]}'s {why}", \
                    lowered.kernel_args
    return tma_entry, "TMA kernel", lowered.tma_kernel_args


def signature(lowered: TritonLowered, specs: tuple[ArgSpec, ...],
              kernel_args: tuple | None = None) -> tuple[dict, dict, dict]:
    """(signature, constexprs, attrs) for `ASTSource`, from the kernel's arg info and the specs."""
    sig: dict = {}
    consts: dict = {}
    attrs: dict = {}
    rows = lowered.kernel_args if kernel_args is None else kernel_args
    _check_specs_cover(rows, specs)
    for index, (name, info) in enumerate(rows):
        kind = info[0]
        if kind == "desc":
            sig[name] = signature_type(info[2], _SIG_DTYPE[specs[info[1]].dtype])
        elif kind == "ptr":
            spec = specs[info[1]]
            sig[name] = "*" + _SIG_DTYPE[spec.dtype]
            attrs[(index,)] = [["tt.divisibility", 16]]
        elif kind in ("size", "stride"):
            spec: TensorSpec = specs[info[1]]
            vals = spec.shape if kind == "size" else spec.effective_strides
            _int_arg(vals[info[2]], name, sig, consts, attrs, index, one_is_const=kind == "stride")
        elif kind == "scalar":
            spec: ScalarSpec = specs[info[1]]
            if spec.dtype.is_float:
                sig[name] = "fp32"
            else:
                _int_arg(spec.value, name, sig, consts, attrs, index, one_is_const=False)
        elif kind in ("scalar_hi", "host_hi"):  # an f64's bits, high word (signed)
            sig[name] = "i32"
        elif kind in ("scalar_lo", "host_lo"):  # and low word (unsigned: needs 64 bits)
            sig[name] = "i64"
        else:  # a host-computed scalar: its value depends on the call, keep it general
            sig[name] = "fp32" if DType(info[1]).is_float else "i32"
    for name, value in lowered.constexprs:
        sig[name] = "constexpr"
        consts[name] = value
    return sig, consts, attrs


def _check_specs_cover(rows, specs) -> None:
    """Kernel args index the specs of every parameter of the scheduled function, outputs included
    (a level-1 kernel's returned tensor is such an output)."""
    needed = max((info[1] + 1 for _, info in rows
                  if info[0] in ("ptr", "desc", "size", "stride", "scalar", "scalar_hi", "scalar_lo")),
                 default=0)
    if len(specs) < needed:
        raise ValueError(f"ahead-of-time signature needs specs of {needed} parameters (outputs included), "
                         f"got {len(specs)}")


def compile_aot(lowered: TritonLowered, fn: Function, specs: tuple[ArgSpec, ...],
                target: Target) -> tuple[dict[str, str], Report]:
    """Compile `lowered` for `target`: the texts of ttir, ttgir, llir and ptx, and a `Report`."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    mod = load_module(lowered.source)
    entry, which, rows = pick_kernel(lowered, specs)
    kernel = getattr(mod, entry)
    sig, consts, attrs = signature(lowered, specs, rows)
    # enable_fp_fusion explicit: Triton 3.9 warns on every compile that leaves it to its default
    # (fusion on, which stays our choice: fma, as on the GPU path) and 3.10 flips that default.
    options = {"num_warps": lowered.num_warps, "enable_fp_fusion": True}
    if lowered.num_stages:
        options["num_stages"] = lowered.num_stages
    t0 = time.perf_counter()
    compiled = triton.compile(ASTSource(kernel, sig, constexprs=consts, attrs=attrs),
                              target=GPUTarget("cuda", target.arch, 32), options=options)
    seconds = time.perf_counter() - t0
    texts = {stage: _text(compiled.asm[stage]) for stage in STAGES if stage in compiled.asm}
    report = _report(texts.get("ptx", ""), compiled, target, seconds, f"{entry}: {which}")
    return {stage: portable(text) for stage, text in texts.items()}, report


def _text(x) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)


# Triton writes the source file's absolute path into every stage (TTIR/TTGIR `loc(...)`, LLVM
# debug info, PTX `.file`), and its compile cache keeps the path of whichever process compiled the
# source first. Printed stages keep only the file's name, so the same kernel gives the same text
# on every machine and checkout.
_ABS_PATH = re.compile(r'"/[^"\n]*/([^"/\n]+)"')
_DI_DIRECTORY = re.compile(r'directory: "[^"\n]*"')


def portable(text: str) -> str:
    """`text` with absolute file paths reduced to file names."""
    return _DI_DIRECTORY.sub('directory: ""', _ABS_PATH.sub(r'"\1"', text))


def _ptxas(ptx: str, target: Target) -> tuple[dict, str, str]:
    """``ptxas -v`` statistics: the system ptxas first (as the brief asks), Triton's bundled one
    when the system's is too old for the PTX version Triton emits."""
    stats, _, log = ptxas_stats(ptx, target.sm_arch)
    tool = "system ptxas"
    if not stats:
        bundled = bundled_ptxas(target.arch)
        if bundled:
            stats, _, log2 = ptxas_stats(ptx, target.sm_arch, ptxas=bundled)
            log, tool = (log2, "Triton's bundled ptxas") if stats else (log + log2, tool)
    return stats, log, tool


def _report(ptx: str, compiled, target: Target, seconds: float, which: str) -> Report:
    stats, log, tool = _ptxas(ptx, target) if ptx else ({}, "no ptx", "-")
    dynamic = int(getattr(compiled.metadata, "shared", 0) or 0)
    shared = max(stats.get("shared_bytes") or 0, dynamic)
    scan = scan_ptx(ptx)
    notes = [which, f"triton {_triton_version()} compile: {seconds * 1e3:.0f} ms; statistics from {tool}",
             "shared memory is Triton's dynamic allocation (ptxas reports only static)"]
    if not stats:
        notes.append(f"ptxas gave no statistics: {log.strip()[:200]}")
    return Report(arch=target.sm_arch, registers=stats.get("registers"),
                  spill_stores=stats.get("spill_stores"), spill_loads=stats.get("spill_loads"),
                  shared_bytes=shared, uses_wgmma=scan["uses_wgmma"], uses_tma=scan["uses_tma"],
                  uses_mma=scan["uses_mma"], notes=tuple(notes))


def _triton_version() -> str:
    import triton

    return triton.__version__
