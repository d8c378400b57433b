"""The reference kernels as torch custom operators: ``torch.ops.tiledsl.<name>``.

Each public wrapper of `tiledsl.kernels` is registered with `torch.library.custom_op` and given a
fake (meta) implementation that computes only the outputs' shapes and dtypes. So the kernels
- run inside ``torch.compile`` graphs (``fullgraph=True``: dynamo does not trace into the
  tiledsl runtime, it calls the op as one node and propagates shapes with the fake),
- appear by name (``tiledsl::gemm``...) in the torch profiler and in exported graphs,
- take the same arguments as the Python wrappers, ``backend`` included (``None``: the default).

Knobs (``BM=...``) are not part of the op schemas: a graph node is one fixed operator; call the
Python wrapper to override the scheduler.

The fakes check only what they need to size the outputs (``torch._check``); the real op runs the
wrapper's full validation. ``import tiledsl.kernels`` registers the ops (its ``__init__`` imports
this module).
"""

# No `from __future__ import annotations`: `custom_op` reads the schema off the annotations, and
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


@torch.library.custom_op(f"{LIB}::gemm", mutates_args=())
def gemm(a: Tensor, b: Tensor, out_dtype: Optional[torch.dtype] = None,
         backend: Optional[str] = None) -> Tensor:
    """``a @ b`` (see `tiledsl.kernels.gemm`)."""
    return _gemm.gemm(a, b, out_dtype=out_dtype, backend=backend)


@gemm.register_fake
def _(a, b, out_dtype=None, backend=None):
    torch._check(a.dim() == 2 and b.dim() == 2, lambda: "gemm: a and b must be 2-D")
    torch._check(a.shape[1] == b.shape[0], lambda: f"gemm: a is {tuple(a.shape)} but b is {tuple(b.shape)}")
    return a.new_empty(a.shape[0], b.shape[1], dtype=out_dtype or a.dtype)


@torch.library.custom_op(f"{LIB}::per_token_cast_to_fp8", mutates_args=())
def per_token_cast_to_fp8(x: Tensor, group: int = 128, backend: Optional[str] = None) -> tuple[Tensor, Tensor]:
    """``(x_fp8, scales [M, ceil(K/128)])`` (see `tiledsl.kernels.fp8`)."""
    return _fp8.per_token_cast_to_fp8(x, group, backend=backend)


@per_token_cast_to_fp8.register_fake
def _(x, group=128, backend=None):
    m, k = x.shape
    return x.new_empty(m, k, dtype=E4M3), x.new_empty(m, _cdiv(k, group), dtype=torch.float32)


@torch.library.custom_op(f"{LIB}::per_block_cast_to_fp8", mutates_args=())
def per_block_cast_to_fp8(w: Tensor, block: int = 128, backend: Optional[str] = None) -> tuple[Tensor, Tensor]:
    """``(w_fp8, scales [ceil(N/128), ceil(K/128)])`` (see `tiledsl.kernels.fp8`)."""
    return _fp8.per_block_cast_to_fp8(w, block, backend=backend)


@per_block_cast_to_fp8.register_fake
def _(w, block=128, backend=None):
    n, k = w.shape
    return w.new_empty(n, k, dtype=E4M3), w.new_empty(_cdiv(n, block), _cdiv(k, block), dtype=torch.float32)


@torch.library.custom_op(f"{LIB}::fp8_gemm_nt", mutates_args=())
def fp8_gemm_nt(a: Tensor, sfa: Tensor, b: Tensor, sfb: Tensor, out_dtype: torch.dtype = torch.bfloat16,
                backend: Optional[str] = None) -> Tensor:
    """Block-scaled ``(a * sfa) @ (b * sfb)^T`` (see `tiledsl.kernels.fp8`)."""
    return _fp8.fp8_gemm_nt(a, sfa, b, sfb, out_dtype=out_dtype, backend=backend)


@fp8_gemm_nt.register_fake
def _(a, sfa, b, sfb, out_dtype=torch.bfloat16, backend=None):
    torch._check(a.shape[1] == b.shape[1], lambda: "fp8_gemm_nt: a is [M, K] and b is [N, K]")
    return a.new_empty(a.shape[0], b.shape[0], dtype=out_dtype)


# --- grouped GEMMs (MoE experts) ------------------------------------------------------------------


@torch.library.custom_op(f"{LIB}::m_grouped_gemm_nt_contiguous", mutates_args=())
def m_grouped_gemm_nt_contiguous(a: Tensor, b: Tensor, m_indices: Tensor, backend: Optional[str] = None) -> Tensor:
    """``out[r] = a[r] @ b[m_indices[r]]^T`` (see `tiledsl.kernels.grouped`)."""
    return _grouped.m_grouped_gemm_nt_contiguous(a, b, m_indices, backend=backend)


@m_grouped_gemm_nt_contiguous.register_fake
def _(a, b, m_indices, backend=None):
    return a.new_empty(a.shape[0], b.shape[1], dtype=torch.bfloat16)


@torch.library.custom_op(f"{LIB}::m_grouped_fp8_gemm_nt_contiguous", mutates_args=())
def m_grouped_fp8_gemm_nt_contiguous(a: Tensor, sfa: Tensor, b: Tensor, sfb: Tensor, m_indices: Tensor,
                                     backend: Optional[str] = None) -> Tensor:
    """FP8 contiguous grouped GEMM (see `tiledsl.kernels.grouped`)."""
    return _grouped.m_grouped_fp8_gemm_nt_contiguous(a, sfa, b, sfb, m_indices, backend=backend)


@m_grouped_fp8_gemm_nt_contiguous.register_fake
def _(a, sfa, b, sfb, m_indices, backend=None):
    return a.new_empty(a.shape[0], b.shape[1], dtype=torch.bfloat16)


@torch.library.custom_op(f"{LIB}::m_grouped_gemm_nt_masked", mutates_args=())
def m_grouped_gemm_nt_masked(a: Tensor, b: Tensor, masked_m: Tensor, expected_m: int,
                             backend: Optional[str] = None) -> Tensor:
    """``out[g, r] = a[g, r] @ b[g]^T`` for ``r < masked_m[g]`` (see `tiledsl.kernels.grouped`)."""
    return _grouped.m_grouped_gemm_nt_masked(a, b, masked_m, expected_m, backend=backend)


@m_grouped_gemm_nt_masked.register_fake
def _(a, b, masked_m, expected_m, backend=None):
    return a.new_empty(a.shape[0], a.shape[1], b.shape[1], dtype=torch.bfloat16)


@torch.library.custom_op(f"{LIB}::m_grouped_fp8_gemm_nt_masked", mutates_args=())
def m_grouped_fp8_gemm_nt_masked(a: Tensor, sfa: Tensor, b: Tensor, sfb: Tensor, masked_m: Tensor,
                                 expected_m: int, backend: Optional[str] = None) -> Tensor:
    """FP8 masked grouped GEMM (see `tiledsl.kernels.grouped`)."""
    return _grouped.m_grouped_fp8_gemm_nt_masked(a, sfa, b, sfb, masked_m, expected_m, backend=backend)


@m_grouped_fp8_gemm_nt_masked.register_fake
def _(a, sfa, b, sfb, masked_m, expected_m, backend=None):
    return a.new_empty(a.shape[0], a.shape[1], b.shape[1], dtype=torch.bfloat16)


# --- MLA decode, MoE dispatch/combine -------------------------------------------------------------


@torch.library.custom_op(f"{LIB}::mla_decode", mutates_args=())
def mla_decode(q: Tensor, kv_cache: Tensor, block_table: Tensor, cache_seqlens: Tensor,
               head_dim_v: int = 512, softmax_scale: Optional[float] = None, causal: bool = False,
               backend: Optional[str] = None) -> tuple[Tensor, Tensor]:
    """``(out [B, S_q, H_q, head_dim_v], lse [B, H_q, S_q] fp32)`` (see `tiledsl.kernels.mla`)."""
    return _mla.mla_decode(q, kv_cache, block_table, cache_seqlens, head_dim_v, softmax_scale, causal,
                           backend=backend)


@mla_decode.register_fake
def _(q, kv_cache, block_table, cache_seqlens, head_dim_v=512, softmax_scale=None, causal=False, backend=None):
    b, s_q, h_q, _d = q.shape
    return q.new_empty(b, s_q, h_q, head_dim_v), q.new_empty(b, h_q, s_q, dtype=torch.float32)


@torch.library.custom_op(f"{LIB}::moe_dispatch_fp8", mutates_args=())
def moe_dispatch_fp8(x: Tensor, topk_idx: Tensor, num_experts: int, block_m: int = 128,
                     backend: Optional[str] = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(x_fp8 [M_pad, H], scales, m_indices [M_pad], output_index [T, topk])`` (see
    `tiledsl.kernels.moe`); ``M_pad`` depends on the routing, so the fake gives it a fresh size."""
    return _moe.moe_dispatch_fp8(x, topk_idx, num_experts, block_m, backend=backend)


@moe_dispatch_fp8.register_fake
def _(x, topk_idx, num_experts, block_m=128, backend=None):
    t, h = x.shape
    m_pad = torch.library.get_ctx().new_dynamic_size()  # sum of the experts' padded row counts
    i32 = torch.int32
    return (x.new_empty(m_pad, h, dtype=E4M3), x.new_empty(m_pad, h // SCALE_BLOCK, dtype=torch.float32),
            x.new_empty(m_pad, dtype=i32), x.new_empty(t, topk_idx.shape[1], dtype=i32))


@torch.library.custom_op(f"{LIB}::moe_combine", mutates_args=())
def moe_combine(y: Tensor, output_index: Tensor, topk_weights: Tensor, backend: Optional[str] = None) -> Tensor:
    """``out[t] = sum_k topk_weights[t, k] * y[output_index[t, k]]`` (see `tiledsl.kernels.moe`)."""
    return _moe.moe_combine(y, output_index, topk_weights, backend=backend)


@moe_combine.register_fake
def _(y, output_index, topk_weights, backend=None):
    return y.new_empty(output_index.shape[0], y.shape[1])


OPS = (gemm, per_token_cast_to_fp8, per_block_cast_to_fp8, fp8_gemm_nt, m_grouped_gemm_nt_contiguous,
       m_grouped_fp8_gemm_nt_contiguous, m_grouped_gemm_nt_masked, m_grouped_fp8_gemm_nt_masked, mla_decode,
       moe_dispatch_fp8, moe_combine)
