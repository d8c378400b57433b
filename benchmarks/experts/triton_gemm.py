"""An expert bf16 GEMM for Hopper in Triton, after Triton's persistent TMA matmul tutorial
(device-side tensor descriptors, a persistent grid of one program per SM walking the output tiles
in GROUP_M-grouped order, a software-pipelined K loop feeding wgmma). ``c = a @ b`` with a [M, K],
b [K, N] and c [M, N], all row-major (tiledsl's `gemm` layout).

Split-K: where the output has too few tiles to fill the SMs and K is long (128x2112x7168,
16x4096x4096, 512x512x8192), the expert's answer is the same wide tile with the K loop split over
SPLIT_K work items per tile that add fp32 partial sums into a zero-filled fp32 c atomically (the
caller rounds it), as tiledsl's `gemm` does; without it the expert leaves three quarters of the
SMs idle on these shapes, so the table would compare against a kernel nobody would ship. The main
loop is the same either way (the split moves only its K range)."""

from __future__ import annotations

import triton
import triton.language as tl

H100_SMS = 132


@triton.jit
def _tile_pid(tile_id, num_pid_in_group, num_pid_m, GROUP_M: tl.constexpr):
    group_id = tile_id // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + (tile_id % group_size_m)
    pid_n = (tile_id % num_pid_in_group) // group_size_m
    return pid_m, pid_n


@triton.jit
def gemm_tma_persistent(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr,
                        BK: tl.constexpr, GROUP_M: tl.constexpr, NUM_SMS: tl.constexpr,
                        SPLIT_K: tl.constexpr = 1):
    start_pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BM)
    num_pid_n = tl.cdiv(N, BN)
    k_tiles = tl.cdiv(K, BK)
    k_per = tl.cdiv(k_tiles, SPLIT_K)  # K tiles of one split
    num_tiles = num_pid_m * num_pid_n
    a_desc = tl.make_tensor_descriptor(a_ptr, shape=[M, K], strides=[K, 1], block_shape=[BM, BK])
    b_desc = tl.make_tensor_descriptor(b_ptr, shape=[K, N], strides=[N, 1], block_shape=[BK, BN])
    c_desc = tl.make_tensor_descriptor(c_ptr, shape=[M, N], strides=[N, 1], block_shape=[BM, BN])
    num_pid_in_group = GROUP_M * num_pid_n
    for work in tl.range(start_pid, num_tiles * SPLIT_K, NUM_SMS):
        if SPLIT_K == 1:  # the tutorial's kernel as it was
            tile_id = work
            k_lo = 0
            k_hi = k_tiles
        else:
            tile_id = work % num_tiles
            k_lo = (work // num_tiles) * k_per
            k_hi = tl.minimum(k_lo + k_per, k_tiles)
        pid_m, pid_n = _tile_pid(tile_id, num_pid_in_group, num_pid_m, GROUP_M)
        offs_m = pid_m * BM
        offs_n = pid_n * BN
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for ki in range(k_lo, k_hi):
            a = a_desc.load([offs_m, ki * BK])
            b = b_desc.load([ki * BK, offs_n])
            acc = tl.dot(a, b, acc)
        if SPLIT_K == 1:
            c_desc.store([offs_m, offs_n], acc.to(c_ptr.dtype.element_ty))
        else:  # fp32 partial sums into the zero-filled fp32 c
            rm = offs_m + tl.arange(0, BM)
            rn = offs_n + tl.arange(0, BN)
            mask = (rm[:, None] < M) & (rn[None, :] < N)
            tl.atomic_add(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=mask, sem="relaxed")


def config(M: int, N: int, K: int) -> dict:
    """The tutorial's H100 bf16 pick for large problems; a narrower tile and deeper pipeline when
    M is one small wave of rows (decode-like shapes) or 128x256 tiles would leave most SMs idle;
    split-K where the 64x128 tiles fill fewer than half the SMs, as many splits as fill them once,
    each keeping at least 16 K tiles (a pipeline's worth)."""
    few_tiles = triton.cdiv(M, 128) * triton.cdiv(N, 256) < H100_SMS // 2
    if M <= 64 or few_tiles:
        tiles = triton.cdiv(M, 64) * triton.cdiv(N, 128)
        split = max(1, min(H100_SMS // tiles, triton.cdiv(K, 128) // 16)) if tiles < H100_SMS // 2 else 1
        return {"BM": 64, "BN": 128, "BK": 128, "GROUP_M": 1, "SPLIT_K": split, "num_warps": 4, "num_stages": 4}
    return {"BM": 128, "BN": 256, "BK": 64, "GROUP_M": 8, "SPLIT_K": 1, "num_warps": 8, "num_stages": 3}


def source(M: int, N: int, K: int):
    """(kernel, signature, constexprs, attrs, options) for `triton.compile(ASTSource(...))`."""
    cfg = config(M, N, K)
    c_type = "*fp32" if cfg["SPLIT_K"] > 1 else "*bf16"
    sig = {"a_ptr": "*bf16", "b_ptr": "*bf16", "c_ptr": c_type, "M": "i32", "N": "i32", "K": "i32",
           "BM": "constexpr", "BN": "constexpr", "BK": "constexpr", "GROUP_M": "constexpr", "NUM_SMS": "constexpr",
           "SPLIT_K": "constexpr"}
    consts = {k: cfg[k] for k in ("BM", "BN", "BK", "GROUP_M", "SPLIT_K")} | {"NUM_SMS": H100_SMS}
    attrs = {(i,): [["tt.divisibility", 16]] for i in range(6)}
    opts = {"num_warps": cfg["num_warps"], "num_stages": cfg["num_stages"]}
    return gemm_tma_persistent, sig, consts, attrs, opts
