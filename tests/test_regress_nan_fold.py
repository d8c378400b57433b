"""td.maximum / td.minimum of numbers fold as torch does (a NaN wins); Python's builtin max and
min of numbers keep Python's rule (the first argument that compares). Every backend agrees."""

from __future__ import annotations

import math

import pytest
import torch

import tiledsl as td

NAN = float("nan")


@td.kernel
def td_max(x: td.Tensor):
    return x + td.maximum(1.0, NAN)


@td.kernel
def td_min(x: td.Tensor):
    return x + td.minimum(2.0, NAN) + td.minimum(NAN, 2.0)


@td.kernel
def py_max(x: td.Tensor):
    return x + max(1.0, NAN)


@td.kernel
def py_min_tile(x: td.Tensor):
    return min(x, NAN)  # a tile meets a number: td.minimum's rule (torch.minimum)


@pytest.mark.parametrize("backend", ["eager", "ir", "triton"])
def test_number_folds_follow_torch_for_td_ops_and_python_for_builtins(backend):
    x = torch.zeros(4)
    assert torch.isnan(td_max(x, backend=backend)).all()
    assert torch.isnan(torch.maximum(torch.tensor(1.0), torch.tensor(NAN)))  # the rule itself
    assert torch.isnan(td_min(x, backend=backend)).all()
    assert torch.equal(py_max(x, backend=backend), x + max(1.0, NAN))
    assert max(1.0, NAN) == 1.0 and math.isnan(max(NAN, 1.0))
    assert torch.isnan(py_min_tile(x, backend=backend)).all()
