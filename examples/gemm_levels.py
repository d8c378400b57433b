"""The same GEMM, ``c = a @ b``, at the language's three levels (docs/tutorial.md walks through them).

    tiledsl dump examples/gemm_levels.py:gemm_l1 -a bf16[4096,4096] -a bf16[4096,4096]
    tiledsl dump examples/gemm_levels.py:gemm_l2 -a bf16[4096,4096] -a bf16[4096,4096] -a bf16[4096,4096]
    tiledsl dump examples/gemm_levels.py:gemm_l3 -a bf16[4096,4096] -a bf16[4096,4096] -a bf16[4096,4096] \\
        -a num_warps=8 -b tilelang
"""

import tiledsl as td


# Level 1: whole tensors. The scheduler tiles the product, picks the block sizes, the pipeline
# depth and the warp count for the target, and the runtime allocates the result.
@td.kernel
def gemm_l1(a: td.Tensor, b: td.Tensor) -> td.Tensor:
    return a @ b


# Level 2: tiles. One program per (BM, BN) tile of c, accumulating in fp32 over a pipelined K
# loop; the block sizes and the pipeline depth are knobs the scheduler fills (td.auto).
@td.kernel
def gemm_l2(a: td.Tensor, b: td.Tensor, c: td.Tensor,
            BM: td.constexpr = td.auto, BN: td.constexpr = td.auto, BK: td.constexpr = td.auto):
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(K, BK), stages=td.auto):
            acc += td.dot(td.load(a, (i * BM, k * BK), (BM, BK)),
                          td.load(b, (k * BK, j * BN), (BK, BN)))
        td.store(c, (i * BM, j * BN), acc.to(c.dtype))


# Level 3: threads. The block's threads copy the operand tiles into shared memory together; each
# thread then computes TN adjacent outputs of one row in registers (td.alloc_local) and writes them.
@td.kernel
def gemm_l3(a: td.Tensor, b: td.Tensor, c: td.Tensor,
            BM: td.constexpr = 32, BN: td.constexpr = 32, BK: td.constexpr = 32, TN: td.constexpr = 4):
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        a_s = td.alloc_shared((BM, BK), a.dtype)
        b_s = td.alloc_shared((BK, BN), b.dtype)
        with td.threads(BM * BN // TN) as tid:          # one thread per TN outputs
            row = tid // (BN // TN)
            col = tid % (BN // TN) * TN
            acc = td.alloc_local((TN,), td.float32)     # this thread's registers
            td.copy(td.zeros((TN,), td.float32), acc)
            for k in range(td.cdiv(K, BK)):
                td.copy(a, a_s, (i * BM, k * BK))       # the block's threads copy the tiles together
                td.copy(b, b_s, (k * BK, j * BN))
                td.barrier()                            # the tiles are complete
                for kk in range(BK):
                    a_v = td.load(a_s, (row, kk)).to(td.float32)                 # one element
                    b_v = td.load(b_s, (kk, col), (None, TN)).to(td.float32)     # TN elements of a row
                    acc += a_v * b_v                    # updates the registers in place
                td.barrier()                            # everyone is done with the tiles
            td.store(c, (i * BM + row, j * BN + col), acc.to(c.dtype))
