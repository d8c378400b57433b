"""An expert block-scaled FP8 GEMM for Hopper in TileLang, DeepGEMM-style, after TileLang's
DeepGEMM example (examples/deepseek_deepgemm): ``c = (a * sfa) @ (b * sfb)^T`` with e4m3 a [M, K]
(one fp32 scale per row and 128 columns) and b [N, K] (one scale per 128x128 block), bf16 c.
Each 128-wide K block's product is taken by wgmma into a cleared fp32 fragment and promoted into
a second accumulator with its scales (sfa per row times the block's sfb: "2xAcc"); TMA copies in a
four-stage ``T.Pipelined`` loop, the result staged through shared memory for a TMA store. The row
scales go into a register fragment, not shared memory as in the example: a shared buffer written
by threads inside the pipelined loop makes TileLang give the producer a second warp group (512
threads, no register reallocation, 128 registers and spills for the two 128x128 accumulators).

Configuration: the Triton expert's (`triton_fp8_gemm`): 128x128x128 on two warp groups, warps along
M (``FullRow``: each warp group issues m64n128k32 over its 64 rows)."""


NAME = "fp8_block"
SCALE_BLOCK = 128


def program(M: int, N: int, K: int):
    """(``T.prim_func``, config dict) at this shape."""
    import tilelang.language as T

    bm, bn, bk, stages, threads = 128, 128, SCALE_BLOCK, 4, 256
    ks, ns = -(-K // SCALE_BLOCK), -(-N // SCALE_BLOCK)
    f8, accum = "float8_e4m3", "float32"

    @T.prim_func
    def fp8_block(a: T.Tensor((M, K), f8), sfa: T.Tensor((M, ks), accum), b: T.Tensor((N, K), f8),
                  sfb: T.Tensor((ns, ks), accum), c: T.Tensor((M, N), "bfloat16")):
        with T.Kernel(T.ceildiv(N, bn), T.ceildiv(M, bm), threads=threads) as (bx, by):
            a_s = T.alloc_shared((bm, bk), f8)
            b_s = T.alloc_shared((bn, bk), f8)
            c_s = T.alloc_shared((bm, bn), "bfloat16")
            sa = T.alloc_fragment((bm,), accum)
            part = T.alloc_fragment((bm, bn), accum)
            acc = T.alloc_fragment((bm, bn), accum)
            T.use_swizzle(panel_size=8)
            T.clear(acc)
            for k in T.Pipelined(T.ceildiv(K, bk), num_stages=stages):
                T.copy(a[by * bm, k * bk], a_s)
                T.copy(b[bx * bn, k * bk], b_s)
                T.copy(sfa[by * bm:(by + 1) * bm, k], sa)
                T.gemm(a_s, b_s, part, transpose_B=True, clear_accum=True, policy=T.GemmWarpPolicy.FullRow)
                for i, j in T.Parallel(bm, bn):
                    acc[i, j] += part[i, j] * (sa[i] * sfb[bx * bn // SCALE_BLOCK, k])
            T.copy(acc, c_s)
            T.copy(c_s, c[by * bm, bx * bn])

    cfg = {"BM": bm, "BN": bn, "BK": bk, "num_warps": threads // 32, "num_stages": stages}
    return fp8_block, cfg
