"""An expert row softmax in Triton, after Triton's fused-softmax tutorial: one program per row,
the whole row in registers (``BLOCK_SIZE = next_power_of_2(n_cols)``), 8 warps for rows of 8192
columns, the row read once and written once. 16-bit rows are computed in fp32 and rounded once on
the store (what Liger's and Unsloth's softmax kernels do); the masked tail reads ``-inf``.
``y = softmax(x, dim=-1)`` with x and y [M, N] row-major of the same dtype."""

from __future__ import annotations

import triton
import triton.language as tl

_SIG_DTYPE = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


@triton.jit
def softmax_row(y_ptr, x_ptr, x_row_stride, y_row_stride, n_cols, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)  # 64-bit row offsets: M x N may exceed 2^31 elements
    cols = tl.arange(0, BLOCK_SIZE)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * x_row_stride + cols, mask=mask, other=-float("inf")).to(tl.float32)
    num = tl.exp(x - tl.max(x, axis=0))
    den = tl.sum(num, axis=0)
    tl.store(y_ptr + row * y_row_stride + cols, (num / den).to(y_ptr.dtype.element_ty), mask=mask)


def config(M: int, N: int) -> dict:
    """The tutorial's launch for a row that fits in registers: the next power of two of the row,
    8 warps from 2048 columns up (4 below), one pipeline stage (no loop)."""
    block = triton.next_power_of_2(N)
    return {"BLOCK_SIZE": block, "num_warps": 8 if block >= 2048 else 4, "num_stages": 1}


def source(M: int, N: int, dtype: str = "f32"):
    """(kernel, signature, constexprs, attrs, options) for `triton.compile(ASTSource(...))`."""
    cfg = config(M, N)
    t = "*" + _SIG_DTYPE[dtype]
    sig = {"y_ptr": t, "x_ptr": t, "x_row_stride": "i32", "y_row_stride": "i32", "n_cols": "i32",
           "BLOCK_SIZE": "constexpr"}
    consts = {"BLOCK_SIZE": cfg["BLOCK_SIZE"]}
    attrs = {(i,): [["tt.divisibility", 16]] for i in range(5) if i < 2 or N % 16 == 0}
    opts = {"num_warps": cfg["num_warps"], "num_stages": cfg["num_stages"]}
    return softmax_row, sig, consts, attrs, opts
