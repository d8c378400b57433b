"""`tiledsl.passes.bounds`: window axes inside their tensor for the compiled shapes; the Triton
codegen drops their ``< size`` masks and keeps every other (results checked against torch)."""

from __future__ import annotations

import pytest
import torch

import tiledsl as td
from tiledsl.dtypes import DType
from tiledsl.passes import bounds
from tiledsl.specs import ScalarSpec
from tiledsl.specs import TensorSpec as T

pytest.importorskip("triton")


@td.kernel
def _wrapped_blocks(x: td.Tensor, out: td.Tensor, n: int, BLOCK: td.constexpr = 16):
    """Program i copies block i % 4 of x to block i of out."""
    with td.grid(n) as i:
        td.store(out, (i * BLOCK,), td.load(x, ((i % 4) * BLOCK,), (BLOCK,)))


def _specs(x_len: int, out_len: int):
    return T((x_len,), DType.f32), T((out_len,), DType.f32), ScalarSpec(DType.i32, 6)


def test_remainder_by_a_constant_bounds_the_index():
    fn = _wrapped_blocks.compile(*_specs(64, 96), backend="ir").fn
    loads = [k for k, _ in bounds.in_bounds(fn, _specs(64, 96))]
    assert len(loads) == 1 and not loads[0].startswith("store")  # the load; the store's i is unbounded
    assert bounds.in_bounds(fn, _specs(63, 96)) == frozenset()  # block 3 ends past a 63-long x


@pytest.mark.parametrize("x_len", [64, 60])
def test_masks_dropped_or_kept_give_torch_results(x_len):
    x = torch.arange(x_len, dtype=torch.float32) + 1
    out = torch.full((96,), -1.0)
    _wrapped_blocks(x, out, 6, backend="triton")
    padded = torch.cat([x, torch.zeros(64 - x_len)])
    assert torch.equal(out, padded.repeat(2)[:96])
    src = _wrapped_blocks.compile(x, out, 6, backend="triton").code("triton")
    assert ("< x_size_0" in src) == (x_len != 64) and "< out_size_0" in src
