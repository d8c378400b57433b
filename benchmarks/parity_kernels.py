"""tiledsl kernels the static parity table compiles beside the experts, where the kernel the
library ships or the brief shows does another job than the expert's.

The brief's softmax (`tiledsl.demo.softmax`) follows torch's semantics for the ops it is made of:
on a bf16 tensor it rounds ``x - max``, ``exp(...)`` and the sum to bf16 (each op of the
expression is a torch op on bf16 tensors). The expert Triton softmax, like ``torch.softmax`` on a
bf16 tensor and the fused softmax kernels of Liger and Unsloth, computes in fp32 and rounds once
on the store. `softmax_fp32_math` is that job written in tiledsl: the same kernel with the row
widened first.
"""

from __future__ import annotations

import tiledsl as td


@td.kernel
def softmax_fp32_math(x: td.Tensor) -> td.Tensor:
    """softmax over the last axis computed in fp32, rounded once to x's dtype."""
    y = x.to(td.float32)
    e = td.exp(y - td.max(y, axis=-1, keepdims=True))
    return (e / td.sum(e, axis=-1, keepdims=True)).to(x.dtype)
