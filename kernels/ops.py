"""The reference kernels as torch custom operators: ``torch.ops.tiledsl.<name>``.

Each public wrapper of `tiledsl.kernels` is defined as an operator of the ``tiledsl`` library
(`torch.library`: schema read off the annotations, one implementation for every device), given a
fake (meta) implementation that computes only the outputs' shapes and dtypes, and an autograd
rule that refuses a backward pass (the kernels have none) instead of a silently wrong gradient.
So the kernels
- run inside ``torch.compile`` graphs (``fullgraph=True``: dynamo does not trace into the
  tiledsl runtime, it calls the op as one node and propagates shapes with the fake),
- appear by name (``tiledsl::gemm``...) in the torch profiler and in exported graphs,
- take the same arguments as the Python wrappers, ``backend`` included (``None``: the default).

Knobs (``BM=...``) are not part of the op schemas: a graph node is one fixed operator; call the
Python wrapper to override the scheduler.

The fakes check only what they need to size the outputs (``torch._check``); the real op runs the
wrapper's full validation. ``import tiledsl.kernels`` registers the ops (its ``__init__`` imports
this module). Registered with `Library.define`/`impl` rather than `torch.library.custom_op`, whose
implementations import torch._dynamo (seconds) on a process's first call.
"""

# No `from __future__ import annotations`: `infer_schema` reads the schema off the annotations, and
# `Optional[...]` rather than `X | None`: torch before 2.5 reads only the former there.
# ruff: noqa: UP045
import importlib
from typing import Optional

import torch
from torch import Tensor

# the modules, not the package's attributes: `tiledsl.kernels.gemm` is also the name of a function there
_fp8 = importlib.import_module("tiledsl.kernels.fp8")
_gemm = importlib.import_module("tiledsl.kernels.gemm")
_grouped = importlib.import_module("tiledsl.kernels.grouped")
_mla = importlib.import_module("tiledsl.kernels.mla")
_moe = importlib.import_module("tiledsl.kernels.moe")

LIB = "tiledsl"
SCALE_BLOCK = 128  # DeepGEMM's scale block: one fp32 scale per 128 columns (rows x 128 for b)
E4M3 = torch.float8_e4m3fn


def _cdiv(a, b: int):
    return (a + b - 1) // b


# --- dense GEMM, FP8 casts, FP8 GEMM -------------------------------------------------------------


def gemm(a: Tensor, b: Tensor, out_dtype: Optional[torch.dtype] = None,
         backend: Optional[str] = None) -> Tensor:
    """``a @ b`` (see `tiledsl.kernels.gemm`)."""
    return _gemm.gemm(a, b, out_dtype=out_dtype, backend=backend)


def _gemm_fake(a, b, out_dtype=None, backend=None):
    torch._check(a.dim() == 2 and b.dim() == 2, lambda: "gemm: a and b must be 2-D")
    torch._check(a.shape[1] == b.shape[0], lambda: f"gemm: a is {tuple(a.shape)} but b is {tuple(b.shape)}")
    return a.new_empty(a.shape[0], b.shape[1], dtype=out_dtype or a.dtype)


def per_token_cast_to_fp8(x: Tensor, group: int = 128, backend: Optional[str] = None) -> tuple[Tensor, Tensor]:
    """``(x_fp8, scales [M, ceil(K/128)])`` (see `tiledsl.kernels.fp8`)."""
    return _fp8.per_token_cast_to_fp8(x, group, backend=backend)


def _per_token_cast_to_fp8_fake(x, group=128, backend=None):
    m, k = x.shape
    return x.new_empty(m, k, dtype=E4M3), x.new_empty(m, _cdiv(k, group), dtype=torch.float32)


def per_block_cast_to_fp8(w: Tensor, block: int = 128, backend: Optional[str] = None) -> tuple[Tensor, Tensor]:
    """``(w_fp8, scales [ceil(N/128), ceil(K/128)])`` (see `tiledsl.kernels.fp8`)."""
    return _fp8.per_block_cast_to_fp8(w, block, backend=backend)


def _per_block_cast_to_fp8_fake(w, block=128, backend=None):
    n, k = w.shape
    return w.new_empty(n, k, dtype=E4M3), w.new_empty(_cdiv(n, block), _cdiv(k, block), dtype=torch.float32)


def fp8_gemm_nt(a: Tensor, sfa: Tensor, b: Tensor, sfb: Tensor, out_dtype: torch.dtype = torch.bfloat16,
                backend: Optional[str] = None) -> Tensor:
    """Block-scaled ``(a * sfa) @ (b * sfb)^T`` (see `tiledsl.kernels.fp8`)."""
    return _fp8.fp8_gemm_nt(a, sfa, b, sfb, out_dtype=out_dtype, backend=backend)


def _fp8_gemm_nt_fake(a, sfa, b, sfb, out_dtype=torch.bfloat16, backend=None):
    torch._check(a.shape[1] == b.shape[1], lambda: "fp8_gemm_nt: a is [M, K] and b is [N, K]")
    return a.new_empty(a.shape[0], b.shape[0], dtype=out_dtype)


# --- grouped GEMMs (MoE experts) ------------------------------------------------------------------


def m_grouped_gemm_nt_contiguous(a: Tensor, b: Tensor, m_indices: Tensor, backend: Optional[str] = None) -> Tensor:
    """``out[r] = a[r] @ b[m_indices[r]]^T`` (see `tiledsl.kernels.grouped`)."""
    return _grouped.m_grouped_gemm_nt_contiguous(a, b, m_indices, backend=backend)


def _m_grouped_gemm_nt_contiguous_fake(a, b, m_indices, backend=None):
    return a.new_empty(a.shape[0], b.shape[1], dtype=torch.bfloat16)


def m_grouped_fp8_gemm_nt_contiguous(a: Tensor, sfa: Tensor, b: Tensor, sfb: Tensor, m_indices: Tensor,
                                     backend: Optional[str] = None) -> Tensor:
    """FP8 contiguous grouped GEMM (see `tiledsl.kernels.grouped`)."""
    return _grouped.m_grouped_fp8_gemm_nt_contiguous(a, sfa, b, sfb, m_indices, backend=backend)


def _m_grouped_fp8_gemm_nt_contiguous_fake(a, sfa, b, sfb, m_indices, backend=None):
    return a.new_empty(a.shape[0], b.shape[1], dtype=torch.bfloat16)


def m_grouped_gemm_nt_masked(a: Tensor, b: Tensor, masked_m: Tensor, expected_m: int,
                             backend: Optional[str] = None) -> Tensor:
    """``out[g, r] = a[g, r] @ b[g]^T`` for ``r < masked_m[g]`` (see `tiledsl.kernels.grouped`)."""
    return _grouped.m_grouped_gemm_nt_masked(a, b, masked_m, expected_m, backend=backend)


def _m_grouped_gemm_nt_masked_fake(a, b, masked_m, expected_m, backend=None):
    return a.new_empty(a.shape[0], a.shape[1], b.shape[1], dtype=torch.bfloat16)


def m_grouped_fp8_gemm_nt_masked(a: Tensor, sfa: Tensor, b: Tensor, sfb: Tensor, masked_m: Tensor,
                                 expected_m: int, backend: Optional[str] = None) -> Tensor:
    """FP8 masked grouped GEMM (see `tiledsl.kernels.grouped`)."""
    return _grouped.m_grouped_fp8_gemm_nt_masked(a, sfa, b, sfb, masked_m, expected_m, backend=backend)


def _m_grouped_fp8_gemm_nt_masked_fake(a, sfa, b, sfb, masked_m, expected_m, backend=None):
    return a.new_empty(a.shape[0], a.shape[1], b.shape[1], dtype=torch.bfloat16)


# --- MLA decode, MoE dispatch/combine -------------------------------------------------------------


def mla_decode(q: Tensor, kv_cache: Tensor, block_table: Tensor, cache_seqlens: Tensor,
               head_dim_v: int = 512, softmax_scale: Optional[float] = None, causal: bool = False,
               backend: Optional[str] = None) -> tuple[Tensor, Tensor]:
    """``(out [B, S_q, H_q, head_dim_v], lse [B, H_q, S_q] fp32)`` (see `tiledsl.kernels.mla`)."""
    return _mla.mla_decode(q, kv_cache, block_table, cache_seqlens, head_dim_v, softmax_scale, causal,
                           backend=backend)


def _mla_decode_fake(q, kv_cache, block_table, cache_seqlens, head_dim_v=512, softmax_scale=None, causal=False, backend=None):
    b, s_q, h_q, _d = q.shape
    return q.new_empty(b, s_q, h_q, head_dim_v), q.new_empty(b, h_q, s_q, dtype=torch.float32)


def moe_dispatch_fp8(x: Tensor, topk_idx: Tensor, num_experts: int, block_m: int = 128,
                     backend: Optional[str] = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(x_fp8 [M_pad, H], scales, m_indices [M_pad], output_index [T, topk])`` (see
    `tiledsl.kernels.moe`); ``M_pad`` depends on the routing, so the fake gives it a fresh size."""
    return _moe.moe_dispatch_fp8(x, topk_idx, num_experts, block_m, backend=backend)


def _moe_dispatch_fp8_fake(x, topk_idx, num_experts, block_m=128, backend=None):
    t, h = x.shape
    m_pad = torch.library.get_ctx().new_dynamic_size()  # sum of the experts' padded row counts
    i32 = torch.int32
    return (x.new_empty(m_pad, h, dtype=E4M3), x.new_empty(m_pad, h // SCALE_BLOCK, dtype=torch.float32),
            x.new_empty(m_pad, dtype=i32), x.new_empty(t, topk_idx.shape[1], dtype=i32))


def moe_combine(y: Tensor, output_index: Tensor, topk_weights: Tensor, backend: Optional[str] = None) -> Tensor:
    """``out[t] = sum_k topk_weights[t, k] * y[output_index[t, k]]`` (see `tiledsl.kernels.moe`)."""
    return _moe.moe_combine(y, output_index, topk_weights, backend=backend)


def _moe_combine_fake(y, output_index, topk_weights, backend=None):
    return y.new_empty(output_index.shape[0], y.shape[1])


# --- registration --------------------------------------------------------------------------------

# op name -> (implementation, fake); the implementation's annotations are the schema
TABLE = {
    "gemm": (gemm, _gemm_fake),
    "per_token_cast_to_fp8": (per_token_cast_to_fp8, _per_token_cast_to_fp8_fake),
    "per_block_cast_to_fp8": (per_block_cast_to_fp8, _per_block_cast_to_fp8_fake),
    "fp8_gemm_nt": (fp8_gemm_nt, _fp8_gemm_nt_fake),
    "m_grouped_gemm_nt_contiguous": (m_grouped_gemm_nt_contiguous, _m_grouped_gemm_nt_contiguous_fake),
    "m_grouped_fp8_gemm_nt_contiguous": (m_grouped_fp8_gemm_nt_contiguous, _m_grouped_fp8_gemm_nt_contiguous_fake),
    "m_grouped_gemm_nt_masked": (m_grouped_gemm_nt_masked, _m_grouped_gemm_nt_masked_fake),
    "m_grouped_fp8_gemm_nt_masked": (m_grouped_fp8_gemm_nt_masked, _m_grouped_fp8_gemm_nt_masked_fake),
    "mla_decode": (mla_decode, _mla_decode_fake),
    "moe_dispatch_fp8": (moe_dispatch_fp8, _moe_dispatch_fp8_fake),
    "moe_combine": (moe_combine, _moe_combine_fake),
}


def _infer_schema(fn) -> str:
    infer = getattr(torch.library, "infer_schema", None)
    if infer is None:  # torch 2.4 has it only privately
        from torch._library.infer_schema import infer_schema as infer
    return infer(fn, mutates_args=())


def _no_backward(name: str):
    def backward(ctx, *grads):
        from tiledsl.errors import ArgumentError

        raise ArgumentError(f"torch.ops.tiledsl.{name} has no backward pass (the reference kernels compute "
                            "forward only)", "detach its inputs, or use torch's own ops where gradients are needed")

    return backward


def _no_context(ctx, inputs, output) -> None:
    pass


_LIB = torch.library.Library(LIB, "DEF")  # kept alive for the process: dropping it unregisters the ops
for _name, (_impl, _fake) in TABLE.items():
    _LIB.define(_name + _infer_schema(_impl))
    _LIB.impl(_name, _impl, "CompositeExplicitAutograd")  # every device: the wrapper picks the backend
    torch.library.register_fake(f"{LIB}::{_name}", _fake, lib=_LIB)
    torch.library.register_autograd(f"{LIB}::{_name}", _no_backward(_name), setup_context=_no_context, lib=_LIB)

OPS = tuple(getattr(torch.ops.tiledsl, name) for name in TABLE)
