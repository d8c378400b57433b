"""A loop over literal bounds that runs at least once (`range(3)`) leaves its variable bound after
it, holding its last iteration's value, as Python; a loop whose bounds are not literals (a
constexpr, a runtime int) or that runs zero times leaves it unbound: a clear error on every
backend, eager included (the compiler and the eager mode read the same literals)."""

from __future__ import annotations

import pytest
import torch

import tiledsl as td


@td.kernel
def last_value(a: td.Tensor):
    c = 1.0
    for q in range(1, 8, 3):
        q = q * 2  # rebinding the variable: its value after the loop is the rebound one, as Python
        c = c + q
    return a + (c + q)


@td.kernel
def not_literal(a: td.Tensor, B: td.constexpr):
    for q in range(B):
        pass
    return a + q


@td.kernel
def zero_trips(a: td.Tensor):
    for q in range(0):
        pass
    return a + q


def _python() -> float:
    c = 1.0
    for q in range(1, 8, 3):
        q = q * 2
        c = c + q
    return c + q


@pytest.mark.parametrize("backend", ["eager", "ir", "triton"])
def test_literal_loop_variable_after_the_loop(backend):
    a = torch.arange(4, dtype=torch.float32)
    assert torch.equal(last_value(a, backend=backend), a + _python())


@pytest.mark.parametrize("backend", ["eager", "ir", "triton"])
def test_other_loops_leave_it_unbound(backend):
    a = torch.zeros(4)
    for call in (lambda: not_literal(a, 4, backend=backend), lambda: zero_trips(a, backend=backend)):
        with pytest.raises(td.FrontendError, match="may run zero times"):
            call()
