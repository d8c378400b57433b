"""An expert bf16 GEMM for Hopper in TileLang, after TileLang's GEMM example (examples/gemm):
TMA copies of the A and B tiles into shared memory inside a ``T.Pipelined`` K loop (which TileLang
warp-specialises into a producer and wgmma consumers on sm_90), the accumulator in registers, a
grouped launch order for L2 reuse and the result staged through shared memory for a TMA store.
``c = a @ b`` with a [M, K], b [K, N] and c [M, N], all row-major (tiledsl's `gemm` layout), so
B is not transposed here where the example's B is [N, K].

The tile configuration is the one the Triton expert takes (`triton_gemm.config`): 128x256x64 on
two warp groups, three stages, for large problems; 64x128x128 on one warp group, four stages, for
skinny ones. On two warp groups the warps go along M (``FullRow``): each warp group then issues
m64n256 wgmmas over the whole 256-wide tile (TileLang's ``Square`` default would split N and issue
two m64n128 halves)."""


from benchmarks.experts.triton_gemm import config

NAME = "gemm_bf16"


def program(M: int, N: int, K: int):
    """(``T.prim_func``, config dict) for ``c = a @ b`` at this shape."""
    import tilelang.language as T

    cfg = config(M, N, K)
    bm, bn, bk, stages = cfg["BM"], cfg["BN"], cfg["BK"], cfg["num_stages"]
    threads = 32 * cfg["num_warps"]
    policy = T.GemmWarpPolicy.FullRow if threads > 128 else T.GemmWarpPolicy.Square
    dtype, accum = "bfloat16", "float32"

    @T.prim_func
    def gemm_bf16(a: T.Tensor((M, K), dtype), b: T.Tensor((K, N), dtype), c: T.Tensor((M, N), dtype)):
        with T.Kernel(T.ceildiv(N, bn), T.ceildiv(M, bm), threads=threads) as (bx, by):
            a_s = T.alloc_shared((bm, bk), dtype)
            b_s = T.alloc_shared((bk, bn), dtype)
            acc = T.alloc_fragment((bm, bn), accum)
            c_s = T.alloc_shared((bm, bn), dtype)
            T.use_swizzle(panel_size=cfg["GROUP_M"], enable=cfg["GROUP_M"] > 1)
            T.clear(acc)
            for k in T.Pipelined(T.ceildiv(K, bk), num_stages=stages):
                T.copy(a[by * bm, k * bk], a_s)
                T.copy(b[k * bk, bx * bn], b_s)
                T.gemm(a_s, b_s, acc, policy=policy)
            T.copy(acc, c_s)
            T.copy(c_s, c[by * bm, bx * bn])

    return gemm_bf16, {**cfg, "threads": threads}
