"""The reference kernels as the CLI and the benchmark harness see them: one `Entry` per kernel.

An entry names the public wrapper and its torch reference, makes example inputs at any shape (on
any device, ``"meta"`` for compiling without data), says how a call's output is compared with the
reference, which shapes the benchmarks use, how many FLOPs and bytes a call moves (for the
roofline) and which ``@td.kernel`` call the wrapper makes (its `Launch`, for ``tiledsl dump`` and
the static bench; of a wrapper that makes several calls, the one doing the work: MLA's split
pass, the dispatch's payload pass).

Adding a kernel is adding one entry to `ENTRIES`. Entries whose wrapper is not in
`tiledsl.kernels` yet (``requires``) are listed as unavailable and skipped by ``check``/``bench``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

BF16, F32, I32, E4M3 = torch.bfloat16, torch.float32, torch.int32, torch.float8_e4m3fn
Shape = dict[str, int]
Tensors = dict[str, Any]


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Entry:
    name: str
    summary: str
    module: str  # where the wrapper and its `*_ref` live
    inputs: Callable[[Shape, str], Tensors]  # (shape, device) -> named inputs; "meta": no data
    call: Callable[[Any, Tensors, str | None], Any]  # (module, inputs, backend) -> output
    ref: Callable[[Any, Tensors], Any]  # (module, inputs) -> the torch reference's output
    small: Shape  # the `check` shape: small enough for the CPU interpreters
    bench: tuple[Shape, ...]  # the benchmark shapes
    flops: Callable[[Shape], float]
    bytes: Callable[[Shape], float]  # DRAM bytes a call must move at least
    peak_dtype: str  # the operand dtype deciding the compute peak: "bf16", "fp8", "fp32"
    launch: Callable[[Any, Tensors], Any] | None = None  # (module, inputs) -> kernels._knobs.Launch
    baseline: Callable[[Tensors], Any] | None = None  # what a user would otherwise call (torch)
    tol: float = 1e-2  # largest accepted max|out - ref| / max|ref|
    valid: Callable[[Tensors, Any], Any] = field(default=lambda t, out: out)  # defined part of an output
    requires: str = ""  # attribute of tiledsl.kernels that must exist (kernels not merged yet)

    def available(self) -> bool:
        if not self.requires:
            return True
        try:
            return hasattr(importlib.import_module("tiledsl.kernels"), self.requires)
        except ImportError:
            return False

    def mod(self):
        return importlib.import_module(self.module)

    def label(self, shape: Shape) -> str:
        return f"{self.name} " + " ".join(f"{k}={v}" for k, v in shape.items())


def _rand(dev: str, *shape: int, dtype=BF16) -> torch.Tensor:
    if dev == "meta":
        return torch.empty(*shape, dtype=dtype, device="meta")
    return torch.randn(*shape, device=dev).to(dtype)


def _fp8(dev: str, rows: int, k: int, per_block: bool):
    """(e4m3 tensor, fp32 scales) as the wrappers take them; meta tensors when compiling only."""
    if dev == "meta":
        srows = cdiv(rows, 128) if per_block else rows
        return _rand(dev, rows, k, dtype=E4M3), _rand(dev, srows, cdiv(k, 128), dtype=F32)
    from tiledsl.kernels.fp8 import per_block_cast_to_fp8_ref, per_token_cast_to_fp8_ref

    cast = per_block_cast_to_fp8_ref if per_block else per_token_cast_to_fp8_ref
    return cast(torch.randn(rows, k, device=dev))


# --- dense GEMMs --------------------------------------------------------------------------------


def _gemm_inputs(s: Shape, dev: str) -> Tensors:
    m, n, k = s["M"], s["N"], s["K"]
    return {"a": _rand(dev, m, k), "b": _rand(dev, k, n), "c": torch.empty(m, n, dtype=BF16, device=dev)}


def _fp8_inputs(s: Shape, dev: str) -> Tensors:
    m, n, k = s["M"], s["N"], s["K"]
    (a, sfa), (b, sfb) = _fp8(dev, m, k, False), _fp8(dev, n, k, True)
    return {"a": a, "sfa": sfa, "b": b, "sfb": sfb, "c": torch.empty(m, n, dtype=BF16, device=dev)}


def _fp8_baseline(t: Tensors):
    """torch's bf16 matmul of the same shape (torch has no block-scaled FP8 GEMM)."""
    a = t.setdefault("_a16", t["a"].to(BF16))
    b = t.setdefault("_bt16", t["b"].to(BF16).T.contiguous())
    return a @ b


DENSE = tuple({"M": m, "N": n, "K": k} for n, k in ((2112, 7168), (7168, 16384), (4096, 7168)) for m in (128, 4096))


def _mnk_flops(s: Shape) -> float:
    return 2.0 * s.get("G", 1) * s["M"] * s["N"] * s["K"]


# --- FP8 casts (memory-bound) -------------------------------------------------------------------


def _cast_inputs(s: Shape, dev: str) -> Tensors:
    return {"x": _rand(dev, s["M"], s["K"])}


def _cast_bytes(per_block: bool) -> Callable[[Shape], float]:
    def count(s: Shape) -> float:
        m, k = s["M"], s["K"]
        scales = cdiv(m, 128) * cdiv(k, 128) if per_block else m * cdiv(k, 128)
        return m * k * 2.0 + m * k + 4.0 * scales  # bf16 in, e4m3 out, fp32 scales

    return count


def _as_float(out):
    """Outputs compared as fp32 (tuples component by component)."""
    return tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()


# --- grouped GEMMs ------------------------------------------------------------------------------


def _grouped_inputs(fp8: bool, masked: bool) -> Callable[[Shape, str], Tensors]:
    def make(s: Shape, dev: str) -> Tensors:
        g, m, n, k = s["G"], s["M"], s["N"], s["K"]
        rows = (g, m) if masked else (g * m,)
        if masked:
            idx = {"masked_m": torch.full((g,), m, dtype=I32, device=dev) if dev == "meta"
                   else torch.randint(1, m + 1, (g,), dtype=I32, device=dev), "expected_m": m}
        else:
            idx = {"m_indices": torch.arange(g, dtype=I32, device=dev).repeat_interleave(m)}
        out: Tensors = {**idx, "c": torch.empty(*rows, n, dtype=BF16, device=dev)}
        if not fp8:
            return {**out, "a": _rand(dev, *rows, k), "b": _rand(dev, g, n, k)}
        a, sfa = _fp8(dev, math.prod(rows), k, False)
        bs = [_fp8(dev, n, k, True) for _ in range(g)]
        return {**out, "a": a.view(*rows, k), "sfa": sfa.view(*rows, -1),
                "b": torch.stack([q for q, _ in bs]), "sfb": torch.stack([f for _, f in bs])}

    return make


def _grouped_entry(fp8: bool, masked: bool) -> Entry:
    layout = "masked" if masked else "contiguous"
    name = f"m_grouped_{'fp8_' if fp8 else ''}gemm_nt_{layout}"
    ops = ("a", "sfa", "b", "sfb") if fp8 else ("a", "b")
    index = ("masked_m", "expected_m") if masked else ("m_indices",)
    launch_name = f"{'fp8_' if fp8 else ''}{layout}_launch"

    def args(t: Tensors) -> list:
        return [t[n] for n in (*ops, *index)]

    def valid(t: Tensors, out):
        if not masked:
            return out
        keep = torch.arange(out.shape[1], device=out.device)[None, :] < t["masked_m"][:, None].to(out.device)
        return torch.where(keep[..., None], out.float(), 0.0)  # other rows are unspecified (may be NaN)

    def baseline(t: Tensors):
        a = t.setdefault("_a16", t["a"].to(BF16).view(t["b"].shape[0], -1, t["a"].shape[-1]))
        b = t.setdefault("_bt16", t["b"].to(BF16).transpose(1, 2))
        return torch.bmm(a, b)

    def nbytes(s: Shape) -> float:
        g, m, n, k = s["G"], s["M"], s["N"], s["K"]
        es = 1 if fp8 else 2
        return es * (g * m * k + g * n * k) + 2.0 * g * m * n

    return Entry(
        name, f"{'FP8 block-scaled' if fp8 else 'bf16'} grouped GEMM, {layout} layout (MoE experts)",
        "tiledsl.kernels.grouped", _grouped_inputs(fp8, masked),
        call=lambda mod, t, be: getattr(mod, name)(*args(t), backend=be),
        ref=lambda mod, t: getattr(mod, name + "_ref")(*args(t)),
        small={"G": 2, "M": 128, "N": 128, "K": 256},
        bench=tuple({"G": g, "M": 8192 if not masked else 4096, "N": 4096, "K": 7168} for g in (4, 8)),
        flops=_mnk_flops, bytes=nbytes, peak_dtype="fp8" if fp8 else "bf16",
        launch=lambda mod, t: getattr(mod, launch_name)(*[t[n] for n in (*ops, index[0])], t["c"],
                                                         *([t["expected_m"]] if masked else [])),
        baseline=baseline, tol=2e-2, valid=valid)


# --- kernels from other modules, registered once they are merged --------------------------------


def _mla_inputs(s: Shape, dev: str) -> Tensors:
    b, h, n = s["B"], s["H"], s["N"]
    blocks = cdiv(n, 64)
    lens = torch.full((b,), n, dtype=I32, device=dev)
    if dev != "meta" and b > 1:
        lens[1:] = torch.randint(1, n + 1, (b - 1,), dtype=I32)
    table = torch.arange(b * blocks, dtype=I32, device=dev).view(b, blocks)
    return {"q": _rand(dev, b, 1, h, 576), "kv_cache": _rand(dev, b * blocks, 64, 1, 576),
            "block_table": table, "cache_seqlens": lens}


def _mla_args(t: Tensors) -> tuple:
    return t["q"], t["kv_cache"], t["block_table"], t["cache_seqlens"]


def _moe_inputs(s: Shape, dev: str) -> Tensors:
    t_, h, e, k = s["T"], s["H"], s["E"], s["TOPK"]
    idx = torch.stack([torch.randperm(e, device="cpu")[:k] for _ in range(t_)]).to(torch.int64)
    return {"x": _rand(dev, t_, h), "topk_idx": idx.to(dev), "num_experts": e}


def _combine_inputs(s: Shape, dev: str) -> Tensors:
    t_, h, k = s["T"], s["H"], s["TOPK"]
    index = torch.randperm(t_ * k).view(t_, k).to(I32)
    weights = torch.rand(t_, k) if dev != "meta" else torch.empty(t_, k)
    return {"y": _rand(dev, t_ * k, h), "output_index": index.to(dev), "topk_weights": weights.to(dev)}


# ep_dispatch / ep_combine are not registered: they need a torch.distributed process group.
ENTRIES: tuple[Entry, ...] = (
    Entry("gemm", "bf16/fp16/fp32 GEMM  c = a @ b", "tiledsl.kernels.gemm", _gemm_inputs,
          call=lambda mod, t, be: mod.gemm(t["a"], t["b"], backend=be),
          ref=lambda mod, t: mod.gemm_ref(t["a"], t["b"]),
          small={"M": 77, "N": 45, "K": 130}, bench=DENSE, flops=_mnk_flops,
          bytes=lambda s: 2.0 * (s["M"] * s["K"] + s["K"] * s["N"] + s["M"] * s["N"]), peak_dtype="bf16",
          launch=lambda mod, t: mod.gemm_launch(t["a"], t["b"], t["c"]),
          baseline=lambda t: t["a"] @ t["b"], tol=1.6e-2),
    Entry("fp8_gemm_nt", "FP8 block-scaled GEMM (DeepGEMM semantics)", "tiledsl.kernels.fp8", _fp8_inputs,
          call=lambda mod, t, be: mod.fp8_gemm_nt(t["a"], t["sfa"], t["b"], t["sfb"], backend=be),
          ref=lambda mod, t: mod.fp8_gemm_nt_ref(t["a"], t["sfa"], t["b"], t["sfb"]),
          small={"M": 64, "N": 128, "K": 256}, bench=DENSE, flops=_mnk_flops,
          bytes=lambda s: s["M"] * s["K"] + s["N"] * s["K"] + 2.0 * s["M"] * s["N"], peak_dtype="fp8",
          launch=lambda mod, t: mod.fp8_gemm_nt_launch(t["a"], t["sfa"], t["b"], t["sfb"], t["c"]),
          baseline=_fp8_baseline, tol=1.6e-2),
    Entry("per_token_cast_to_fp8", "x -> (e4m3, per 1x128 scales)", "tiledsl.kernels.fp8", _cast_inputs,
          call=lambda mod, t, be: _as_float(mod.per_token_cast_to_fp8(t["x"], backend=be)),
          ref=lambda mod, t: _as_float(mod.per_token_cast_to_fp8_ref(t["x"])),
          small={"M": 33, "K": 300}, bench=({"M": 4096, "K": 7168}, {"M": 128, "K": 7168}),
          flops=lambda s: 3.0 * s["M"] * s["K"], bytes=_cast_bytes(False), peak_dtype="fp32",
          launch=lambda mod, t: _cast_launch(mod.per_token_cast_kernel, t, "GROUP"), tol=0.0),
    Entry("per_block_cast_to_fp8", "w -> (e4m3, per 128x128 scales)", "tiledsl.kernels.fp8", _cast_inputs,
          call=lambda mod, t, be: _as_float(mod.per_block_cast_to_fp8(t["x"], backend=be)),
          ref=lambda mod, t: _as_float(mod.per_block_cast_to_fp8_ref(t["x"])),
          small={"M": 130, "K": 200}, bench=({"M": 7168, "K": 2048}, {"M": 4096, "K": 7168}),
          flops=lambda s: 3.0 * s["M"] * s["K"], bytes=_cast_bytes(True), peak_dtype="fp32",
          launch=lambda mod, t: _cast_launch(mod.per_block_cast_kernel, t, "BLOCK"), tol=0.0),
    _grouped_entry(False, False), _grouped_entry(True, False),
    _grouped_entry(False, True), _grouped_entry(True, True),
    Entry("mla_decode", "MLA decode attention over a paged KV cache (FlashMLA semantics)",
          "tiledsl.kernels.mla", _mla_inputs,
          call=lambda mod, t, be: mod.mla_decode(*_mla_args(t), 512, backend=be),
          ref=lambda mod, t: mod.mla_decode_ref(*_mla_args(t), 512),
          small={"B": 2, "H": 16, "N": 100}, bench=({"B": 64, "H": 128, "N": 4096}, {"B": 128, "H": 128, "N": 8192}),
          flops=lambda s: 2.0 * s["B"] * s["H"] * s["N"] * (576 + 512),
          bytes=lambda s: 2.0 * s["B"] * s["N"] * 576, peak_dtype="bf16", tol=2e-2,
          launch=lambda mod, t: mod.decode_launches(*_mla_args(t)).launches[0], requires="mla_decode"),
    Entry("moe_dispatch_fp8", "quantize and lay out tokens for the contiguous grouped GEMM",
          "tiledsl.kernels.moe", _moe_inputs,
          call=lambda mod, t, be: mod.moe_dispatch_fp8(t["x"], t["topk_idx"], t["num_experts"], backend=be),
          ref=lambda mod, t: mod.moe_dispatch_fp8_ref(t["x"], t["topk_idx"], t["num_experts"]),
          small={"T": 16, "H": 256, "E": 8, "TOPK": 2}, bench=({"T": 4096, "H": 7168, "E": 256, "TOPK": 8},),
          flops=lambda s: 3.0 * s["T"] * s["TOPK"] * s["H"],
          bytes=lambda s: s["T"] * s["H"] * (2.0 + s["TOPK"]), peak_dtype="fp32", tol=0.0,
          launch=lambda mod, t: mod.dispatch_launch(t["x"], t["topk_idx"], t["num_experts"]),
          requires="moe_dispatch_fp8"),
    Entry("moe_combine", "out[t] = sum_k w[t, k] * y[output_index[t, k]]", "tiledsl.kernels.moe", _combine_inputs,
          call=lambda mod, t, be: mod.moe_combine(t["y"], t["output_index"], t["topk_weights"], backend=be),
          ref=lambda mod, t: mod.moe_combine_ref(t["y"], t["output_index"], t["topk_weights"]),
          small={"T": 16, "H": 256, "TOPK": 2}, bench=({"T": 4096, "H": 7168, "TOPK": 8},),
          flops=lambda s: 2.0 * s["T"] * s["TOPK"] * s["H"],
          bytes=lambda s: 2.0 * s["T"] * s["H"] * (s["TOPK"] + 1), peak_dtype="fp32", tol=1e-2,
          launch=lambda mod, t: mod.combine_launch(t["y"], t["output_index"], t["topk_weights"],
                                                   torch.empty_like(t["y"][: t["output_index"].shape[0]])),
          requires="moe_combine"),
)


def _cast_launch(kernel, t: Tensors, knob: str):
    """The quantization kernels' call: outputs beside the input, the group fixed at 128."""
    from tiledsl.kernels._knobs import Launch

    x = t["x"]
    m, k = x.shape
    srows = m if knob == "GROUP" else cdiv(m, 128)
    q = torch.empty(m, k, dtype=E4M3, device=x.device)
    sf = torch.empty(srows, cdiv(k, 128), dtype=F32, device=x.device)
    return Launch(kernel, (x, q, sf), {knob: 128})


REGISTRY: dict[str, Entry] = {e.name: e for e in ENTRIES}


def get(name: str) -> Entry:
    """The entry called `name`; an `ArgumentError` naming the known kernels otherwise."""
    entry = REGISTRY.get(name)
    if entry is None:
        from tiledsl.errors import ArgumentError

        raise ArgumentError(f"unknown kernel {name!r}; known kernels: {', '.join(REGISTRY)}")
    if not entry.available():
        from tiledsl.errors import ArgumentError

        raise ArgumentError(f"kernel {name!r} is registered but tiledsl.kernels has no {entry.requires} yet")
    return entry


def available() -> list[Entry]:
    return [e for e in ENTRIES if e.available()]


def relative_error(out, ref) -> float:
    """max |out - ref| / max |ref| over every component (0 when both are all zero), NaN-aware."""
    if isinstance(out, tuple):
        return max(relative_error(o, r) for o, r in zip(out, ref))
    out, ref = out.float(), ref.float()
    if out.shape != ref.shape:
        return math.inf
    if torch.isnan(out).ne(torch.isnan(ref)).any():
        return math.inf
    diff = (out - ref).nan_to_num().abs().max().item() if out.numel() else 0.0
    scale = ref.nan_to_num().abs().max().item() if ref.numel() else 0.0
    return diff / scale if scale else diff
