"""An expert paged decode attention for Hopper in TileLang, after TileLang's paged MLA decode
example (examples/deepseek_mla/example_mla_decode_paged.py), on the layout of tiledsl's probe
(`tests/kernels_for_tests.py` ``paged_decode``): q [B, H, D], one latent KV head kv [blocks, PAGE,
D] whose first DV columns are V, block_table [B, max_blocks], seqlens [B], out [B, H, DV].

One program per (batch, BH heads) on two warp groups. Each page is two TMA copies (the DV "nope"
columns and the D - DV rope columns, as the example splits them) into shared memory in a
``T.Pipelined`` loop of two stages; scores are two gemms with B transposed (no transposed copy),
the first DV columns of the page are reused as V, warps split N (``FullCol``) so both warp groups
hold every query row. Masking is of the scores only, on the last page: like FlashMLA, the kernel
assumes the cache rows past ``seqlens`` are finite (their probabilities are zero). tiledsl's probe
masks the load itself (out-of-range rows read zero), which is the stricter semantics."""


NAME = "paged_decode"


def program(B: int, H: int, seqlen: int, *, D: int = 576, DV: int = 512, PAGE: int = 64,
            BH: int = 64, blocks: int = 8192):
    """(``T.prim_func``, config dict) for batch B, H query heads, `seqlen` cached tokens at most."""
    import tilelang.language as T

    DPE, max_blocks = D - DV, seqlen // PAGE
    dtype, accum = "bfloat16", "float32"
    log2e = 1.44269504

    @T.prim_func
    def paged_decode(q: T.Tensor((B, H, D), dtype), kv: T.Tensor((blocks, PAGE, D), dtype),
                     block_table: T.Tensor((B, max_blocks), "int32"), seqlens: T.Tensor((B,), "int32"),
                     out: T.Tensor((B, H, DV), dtype), scale: T.float32):
        with T.Kernel(B, T.ceildiv(H, BH), threads=256) as (bx, by):
            q_s = T.alloc_shared((BH, DV), dtype)
            q_pe_s = T.alloc_shared((BH, DPE), dtype)
            kv_s = T.alloc_shared((PAGE, DV), dtype)
            k_pe_s = T.alloc_shared((PAGE, DPE), dtype)
            p_s = T.alloc_shared((BH, PAGE), dtype)
            o_s = T.alloc_shared((BH, DV), dtype)
            acc_s = T.alloc_fragment((BH, PAGE), accum)
            acc_o = T.alloc_fragment((BH, DV), accum)
            m = T.alloc_fragment((BH,), accum)
            m_prev = T.alloc_fragment((BH,), accum)
            alpha = T.alloc_fragment((BH,), accum)
            row_sum = T.alloc_fragment((BH,), accum)
            l = T.alloc_fragment((BH,), accum)
            T.copy(q[bx, by * BH:(by + 1) * BH, 0:DV], q_s)
            T.copy(q[bx, by * BH:(by + 1) * BH, DV:D], q_pe_s)
            T.fill(acc_o, 0)
            T.fill(l, 0)
            T.fill(m, -T.infinity(accum))
            n = seqlens[bx]
            pages = T.ceildiv(n, PAGE)
            for j in T.Pipelined(pages, num_stages=2):
                blk = block_table[bx, j]
                T.copy(kv[blk, 0:PAGE, 0:DV], kv_s)
                T.copy(kv[blk, 0:PAGE, DV:D], k_pe_s)
                T.clear(acc_s)
                T.gemm(q_s, kv_s, acc_s, transpose_B=True, policy=T.GemmWarpPolicy.FullCol)
                T.gemm(q_pe_s, k_pe_s, acc_s, transpose_B=True, policy=T.GemmWarpPolicy.FullCol)
                T.copy(m, m_prev)
                T.fill(m, -T.infinity(accum))
                for i, k in T.Parallel(BH, PAGE):
                    acc_s[i, k] = T.if_then_else(j * PAGE + k >= n, -T.infinity(accum), acc_s[i, k])
                T.reduce_max(acc_s, m, dim=1, clear=False)
                for i in T.Parallel(BH):
                    m[i] = T.max(m[i], m_prev[i])
                for i in T.Parallel(BH):
                    alpha[i] = T.exp2((m_prev[i] - m[i]) * scale * log2e)
                for i, k in T.Parallel(BH, PAGE):
                    acc_s[i, k] = T.exp2((acc_s[i, k] - m[i]) * scale * log2e)
                T.reduce_sum(acc_s, row_sum, dim=1)
                T.copy(acc_s, p_s)
                for i in T.Parallel(BH):
                    l[i] = l[i] * alpha[i] + row_sum[i]
                for i, k in T.Parallel(BH, DV):
                    acc_o[i, k] *= alpha[i]
                T.gemm(p_s, kv_s, acc_o, policy=T.GemmWarpPolicy.FullCol)
            for i, k in T.Parallel(BH, DV):
                acc_o[i, k] /= l[i]
            T.copy(acc_o, o_s)
            T.copy(o_s, out[bx, by * BH:(by + 1) * BH, 0:DV])

    cfg = {"BH": BH, "PAGE": PAGE, "num_warps": 8, "num_stages": 2, "D": D, "DV": DV}
    return paged_decode, cfg
