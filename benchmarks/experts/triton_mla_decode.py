"""An expert MLA decode kernel in Triton: the split-KV pass of SGLang's Triton decode attention
(``_fwd_grouped_kernel_stage1``, the kernel SGLang runs for DeepSeek MLA without FlashMLA), written
for the paged cache of tiledsl's `mla_decode` (64-token pages through a block table).

Each program takes BLOCK_H query heads of one sequence and one KV split, walks the split's keys
BLOCK_N at a time (each key's cache row gathered through the block table), and keeps an fp32
online softmax; QK is the 512-wide latent part plus the 64-wide rope part, V the latent part of
the same rows (loaded again, as SGLang does: the second load hits L1/L2). It writes the split's
partial output and log-sum-exp, as tiledsl's `mla_split_kv` does. SGLang's configuration for
MLA on NVIDIA GPUs: BLOCK_H = 16 heads, BLOCK_N = 32 keys, 4 warps, 2 stages (16 rows: the
products run on mma.sync, not wgmma).
"""

from __future__ import annotations

import triton
import triton.language as tl

PAGE = 64


@triton.jit
def mla_decode_stage1(q_ptr, kv_ptr, table_ptr, seqlens_ptr, o_ptr, lse_ptr, sm_scale,
                      stride_qb, stride_qh, stride_kvb, stride_kvt, stride_tb,
                      stride_ob, stride_os, stride_oh, stride_lb, stride_ls, H_Q, NUM_SPLITS,
                      DV: tl.constexpr, DR: tl.constexpr, PAGE_SIZE: tl.constexpr,
                      BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr):
    cur_batch = tl.program_id(0)
    head_block = tl.program_id(1)
    split = tl.program_id(2)
    heads = head_block * BLOCK_H + tl.arange(0, BLOCK_H)
    mask_h = heads < H_Q
    offs_d = tl.arange(0, DV)
    offs_pe = DV + tl.arange(0, DR)
    seqlen = tl.load(seqlens_ptr + cur_batch)
    q_rows = q_ptr + cur_batch * stride_qb + heads[:, None] * stride_qh
    q = tl.load(q_rows + offs_d[None, :], mask=mask_h[:, None], other=0.0)
    q_pe = tl.load(q_rows + offs_pe[None, :], mask=mask_h[:, None], other=0.0)
    per_split = tl.cdiv(seqlen, NUM_SPLITS)
    start = per_split * split
    end = tl.minimum(start + per_split, seqlen)
    e_max = tl.zeros([BLOCK_H], dtype=tl.float32) - float("inf")
    e_sum = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, DV], dtype=tl.float32)
    for start_n in tl.range(start, end, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        valid = offs_n < end
        page = tl.load(table_ptr + cur_batch * stride_tb + offs_n // PAGE_SIZE, mask=valid, other=0)
        rows = kv_ptr + page.to(tl.int64) * stride_kvb + (offs_n % PAGE_SIZE) * stride_kvt
        k = tl.load(rows[None, :] + offs_d[:, None], mask=valid[None, :], other=0.0)
        qk = tl.dot(q, k)
        k_pe = tl.load(rows[None, :] + offs_pe[:, None], mask=valid[None, :], other=0.0)
        qk += tl.dot(q_pe, k_pe)
        qk *= sm_scale
        qk = tl.where(mask_h[:, None] & valid[None, :], qk, float("-inf"))
        v = tl.load(rows[:, None] + offs_d[None, :], mask=valid[:, None], other=0.0)
        n_e_max = tl.maximum(tl.max(qk, 1), e_max)
        re_scale = tl.exp(e_max - n_e_max)
        p = tl.exp(qk - n_e_max[:, None])
        acc *= re_scale[:, None]
        acc += tl.dot(p.to(v.dtype), v)
        e_sum = e_sum * re_scale + tl.sum(p, 1)
        e_max = n_e_max
    seen = e_sum > 0.0
    out = tl.where(seen[:, None], acc / tl.where(seen, e_sum, 1.0)[:, None], 0.0)
    o_rows = o_ptr + cur_batch * stride_ob + split * stride_os + heads[:, None] * stride_oh
    tl.store(o_rows + offs_d[None, :], out, mask=mask_h[:, None])
    lse = tl.where(seen, e_max + tl.log(tl.where(seen, e_sum, 1.0)), float("-inf"))
    tl.store(lse_ptr + cur_batch * stride_lb + split * stride_ls + heads, lse, mask=mask_h)


CONFIG = {"BLOCK_H": 16, "BLOCK_N": 32, "num_warps": 4, "num_stages": 2}


def source(b: int, h_q: int, seqlen: int):
    """(kernel, signature, constexprs, attrs, options) for `triton.compile(ASTSource(...))`."""
    ptr = {"q_ptr": "*bf16", "kv_ptr": "*bf16", "table_ptr": "*i32", "seqlens_ptr": "*i32",
           "o_ptr": "*fp32", "lse_ptr": "*fp32"}
    ints = ("stride_qb", "stride_qh", "stride_kvb", "stride_kvt", "stride_tb", "stride_ob", "stride_os",
            "stride_oh", "stride_lb", "stride_ls", "H_Q", "NUM_SPLITS")
    sig = {**ptr, "sm_scale": "fp32", **{n: "i32" for n in ints},
           **{n: "constexpr" for n in ("DV", "DR", "PAGE_SIZE", "BLOCK_H", "BLOCK_N")}}
    consts = {"DV": 512, "DR": 64, "PAGE_SIZE": PAGE, "BLOCK_H": CONFIG["BLOCK_H"], "BLOCK_N": CONFIG["BLOCK_N"]}
    names = list(sig)
    # pointers 16-byte aligned, row strides multiples of 16 elements (as the tensors are)
    aligned = [*ptr, "stride_qb", "stride_qh", "stride_kvb", "stride_kvt", "stride_ob", "stride_os", "stride_oh"]
    attrs = {(names.index(n),): [["tt.divisibility", 16]] for n in aligned}
    opts = {"num_warps": CONFIG["num_warps"], "num_stages": CONFIG["num_stages"]}
    return mla_decode_stage1, sig, consts, attrs, opts
