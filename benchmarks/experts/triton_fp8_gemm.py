"""An expert block-scaled FP8 GEMM for Hopper in Triton, DeepGEMM-style: ``c = (a * sfa) @ (b *
sfb)^T`` with e4m3 a [M, K] (one fp32 scale per row and 128 columns) and b [N, K] (one scale per
128x128 block). Each 128-wide K block's product is taken by wgmma in fp32 and promoted into the
accumulator with its scales (sfa per row times the block's sfb), so operands are never
dequantized. TMA descriptors, a persistent grouped tile walk and a pipelined K loop, as in
Triton's persistent matmul tutorial."""

from __future__ import annotations

import triton
import triton.language as tl

from .triton_gemm import H100_SMS, _tile_pid

SCALE_BLOCK = 128


@triton.jit
def fp8_gemm_nt_persistent(a_ptr, sfa_ptr, b_ptr, sfb_ptr, c_ptr, M, N, K, BM: tl.constexpr,
                           BN: tl.constexpr, BK: tl.constexpr, GROUP_M: tl.constexpr,
                           NUM_SMS: tl.constexpr):
    start_pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BM)
    num_pid_n = tl.cdiv(N, BN)
    k_tiles = tl.cdiv(K, BK)
    num_tiles = num_pid_m * num_pid_n
    a_desc = tl.make_tensor_descriptor(a_ptr, shape=[M, K], strides=[K, 1], block_shape=[BM, BK])
    b_desc = tl.make_tensor_descriptor(b_ptr, shape=[N, K], strides=[K, 1], block_shape=[BN, BK])
    c_desc = tl.make_tensor_descriptor(c_ptr, shape=[M, N], strides=[N, 1], block_shape=[BM, BN])
    num_pid_in_group = GROUP_M * num_pid_n
    sf_k = tl.cdiv(K, 128)
    for tile_id in tl.range(start_pid, num_tiles, NUM_SMS):
        pid_m, pid_n = _tile_pid(tile_id, num_pid_in_group, num_pid_m, GROUP_M)
        offs_m = pid_m * BM
        offs_n = pid_n * BN
        rows = offs_m + tl.arange(0, BM)
        sa_ptrs = sfa_ptr + rows * sf_k
        sb_ptr = sfb_ptr + (offs_n // 128) * sf_k
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for ki in range(k_tiles):
            a = a_desc.load([offs_m, ki * BK])
            b = b_desc.load([offs_n, ki * BK])
            sa = tl.load(sa_ptrs + ki, mask=rows < M, other=0.0)
            sb = tl.load(sb_ptr + ki)
            acc += tl.dot(a, b.T) * (sa[:, None] * sb)  # promote the block's fp32 product
        c_desc.store([offs_m, offs_n], acc.to(c_ptr.dtype.element_ty))


def config(M: int, N: int, K: int) -> dict:
    """128x128 tiles (BN, BK = the scale block), two consumer warp groups' worth of warps so the
    product and the accumulator (2 x 64 fp32 registers a thread) fit without spills."""
    return {"BM": 128, "BN": 128, "BK": 128, "GROUP_M": 8, "num_warps": 8, "num_stages": 4}


def source(M: int, N: int, K: int):
    """(kernel, signature, constexprs, attrs, options) for `triton.compile(ASTSource(...))`."""
    cfg = config(M, N, K)
    sig = {"a_ptr": "*fp8e4nv", "sfa_ptr": "*fp32", "b_ptr": "*fp8e4nv", "sfb_ptr": "*fp32", "c_ptr": "*bf16",
           "M": "i32", "N": "i32", "K": "i32", "BM": "constexpr", "BN": "constexpr", "BK": "constexpr",
           "GROUP_M": "constexpr", "NUM_SMS": "constexpr"}
    consts = {k: cfg[k] for k in ("BM", "BN", "BK", "GROUP_M")} | {"NUM_SMS": H100_SMS}
    attrs = {(i,): [["tt.divisibility", 16]] for i in range(8)}
    opts = {"num_warps": cfg["num_warps"], "num_stages": cfg["num_stages"]}
    return fp8_gemm_nt_persistent, sig, consts, attrs, opts
