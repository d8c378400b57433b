"""TileLang programs with masks: a mask used twice is recomputed per use, never stored in a bool
fragment (TVM cannot write the vectorised bool stores that becomes: "Cannot convert type
boolx16 to CUDA type"). Compile-only: TileLang lowers to CUDA C without a GPU."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from tiledsl.demo import softmax

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tilelang") is None, reason="needs tilelang")


@pytest.mark.parametrize("shape,dtype", [((33, 1000), torch.float32), ((33, 1000), torch.bfloat16),
                                         ((1024, 100), torch.bfloat16)])
def test_softmax_with_a_partial_row_tile_lowers_to_cuda(shape, dtype):
    ck = softmax.compile(torch.empty(shape, dtype=dtype), backend="tilelang", target="h100")
    program = ck.code("tilelang")
    assert '"bool")' not in program  # no bool buffers
    assert "__global__" in ck.code("cuda")
