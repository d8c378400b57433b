"""Reference kernels written in the tiledsl language, each with its torch reference beside it."""

# --- GEMM, FP8 block-scaled GEMM, MoE grouped GEMM (gemm.py, fp8.py, grouped.py) ---
from tiledsl.kernels.fp8 import fp8_gemm_nt, per_block_cast_to_fp8, per_token_cast_to_fp8
from tiledsl.kernels.gemm import gemm
from tiledsl.kernels.grouped import (
    m_grouped_fp8_gemm_nt_contiguous,
    m_grouped_fp8_gemm_nt_masked,
    m_grouped_gemm_nt_contiguous,
    m_grouped_gemm_nt_masked,
)

# --- MLA decode attention over a paged KV cache (mla.py) ---
from tiledsl.kernels.mla import mla_decode, mla_decode_ref

# --- MoE dispatch/combine and expert-parallel all-to-all (moe.py, ep.py) ---
# isort: split
from tiledsl.kernels.ep import ep_combine, ep_dispatch
from tiledsl.kernels.moe import moe_combine, moe_dispatch_fp8

# --- the same kernels as torch custom ops: torch.ops.tiledsl.<name> (ops.py) ---
# isort: split
from tiledsl.kernels import ops  # noqa: F401

__all__ = [
    # GEMM, FP8 block-scaled GEMM, MoE grouped GEMM
    "gemm", "per_token_cast_to_fp8", "per_block_cast_to_fp8", "fp8_gemm_nt",
    "m_grouped_gemm_nt_contiguous", "m_grouped_fp8_gemm_nt_contiguous",
    "m_grouped_gemm_nt_masked", "m_grouped_fp8_gemm_nt_masked",
    # MLA decode
    "mla_decode", "mla_decode_ref",
    # MoE dispatch/combine, expert-parallel dispatch/combine
    "moe_dispatch_fp8", "moe_combine", "ep_dispatch", "ep_combine",
]
