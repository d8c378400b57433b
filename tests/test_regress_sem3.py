"""Semantics regressions (issue 9, round 3): dtype promotion against torch, level-1 matrix-vector
products, Python-number constants next to f16/bf16 tiles, runtime float scalars. Every oracle is
torch computed here."""

from __future__ import annotations

import itertools

import pytest
import torch

import tiledsl as td
from tiledsl.dtypes import _TORCH_NAME, DType, promote


def _torch(dt: DType) -> torch.dtype:
    return getattr(torch, _TORCH_NAME[dt])


def test_promote_matches_torch_and_is_symmetric():
    """Every pair of dtypes: symmetric, and torch.promote_types where torch defines it (u8 with
    i8 was i8 or u8 by argument order; torch gives i16)."""
    for a, b in itertools.product(DType, DType):
        assert promote(a, b) is promote(b, a), (a, b)
        try:
            want = torch.promote_types(_torch(a), _torch(b))
        except RuntimeError:  # torch defines no promotion of fp8 with other types (tiledsl: storage)
            assert a.is_fp8 or b.is_fp8
            continue
        assert _torch(promote(a, b)) == want, (a, b)


@td.kernel
def add2(a: td.Tensor, b: td.Tensor):
    return a + b


@pytest.mark.parametrize("backend", ["eager", "ir", "triton"])
def test_u8_plus_i8_is_i16_as_torch(backend):
    a = torch.tensor([0, 200, 255, 7], dtype=torch.uint8)
    b = torch.tensor([-128, 100, 127, -7], dtype=torch.int8)
    for x, y in ((a, b), (b, a)):
        got = add2(x, y, backend=backend)
        assert got.dtype == torch.int16 and torch.equal(got, x + y)
