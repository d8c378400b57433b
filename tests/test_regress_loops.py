"""Regression: a temporary name assigned in one runtime loop and assigned again in a later one.

After the first loop the name is unbound (the loop may run zero times); the second loop binds it
afresh on each iteration, so it is not carried and must not be an error (Python runs it)."""

from __future__ import annotations

import pytest
import torch

import tiledsl as td


@td.kernel
def two_loops_one_temp(x: td.Tensor, out: td.Tensor, n: int):
    with td.grid(1) as p:
        acc = td.zeros((4,), td.float32)
        for i in range(n):
            t = td.load(x, (i * 4,), (4,))
            acc += t
        for i in range(n):
            t = td.load(x, (i * 4,), (4,))
            acc += t * 2
        td.store(out, (0,), acc)


@td.kernel
def temp_read_after_second_loop(x: td.Tensor, out: td.Tensor, n: int):
    with td.grid(1) as p:
        for i in range(n):
            t = td.load(x, (i * 4,), (4,))
        for i in range(n):
            t = td.load(x, (i * 4,), (4,))
        td.store(out, (0,), t)


@pytest.mark.parametrize("backend", ["eager", "ir", "triton"])
@pytest.mark.parametrize("n", [0, 1, 4])
def test_a_temporary_rebound_in_a_second_loop_is_fresh_each_time(backend, n):
    x = torch.randn(16)
    out = torch.full((4,), 7.0)
    two_loops_one_temp(x, out, n, backend=backend)
    want = 3 * x[: 4 * n].view(n, 4).sum(0) if n else torch.zeros(4)
    torch.testing.assert_close(out, want)


def test_a_temporary_read_after_the_loops_is_still_unbound():
    with pytest.raises(td.TiledslError, match="first assigned inside a runtime loop"):
        temp_read_after_second_loop(torch.randn(16), torch.empty(4), 2, backend="ir")
