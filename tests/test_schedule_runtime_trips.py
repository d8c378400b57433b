"""The cost model prices a loop whose trip count is known only at run time at
`analysis.UNKNOWN_TRIPS` iterations; a loop over a known multiple of such a count (`n * 4`, e.g.
a page walked in 4 sub-blocks) is priced at that multiple. Before, both were priced alike, so
splitting a loop's work into smaller steps looked 4x cheaper and the MLA decode kernel's
scheduler picked 16-key steps (m64n8 tensor-core instructions)."""

from __future__ import annotations

import tiledsl as td
from tiledsl.dtypes import DType
from tiledsl.specs import TensorSpec as T


@td.kernel
def walk(x: td.Tensor, n: td.Tensor, out: td.Tensor, STEPS: td.constexpr, ROWS: td.constexpr):
    """Sums `load(n) * STEPS` blocks of ROWS rows."""
    with td.grid(x.shape[0] // 4096) as i:
        acc = td.zeros((ROWS, 128), td.float32)
        for j in range(td.load(n, (0,)) * STEPS):
            acc += td.load(x, (i * 4096 + j * ROWS, 0), (ROWS, 128)).to(td.float32)
        td.store(out, (i * ROWS, 0), acc)


def _time(steps: int, rows: int) -> float:
    args = (T((132 * 4096, 128), DType.bf16), T((1,), DType.i32), T((132 * rows, 128), DType.f32))
    return walk.compile(*args, STEPS=steps, ROWS=rows, backend="ir", target="h100").estimate.time_us


def test_a_multiple_of_a_runtime_trip_count_is_priced_as_that_multiple():
    once, four_times = _time(1, 64), _time(4, 64)
    # four times the steps of the same size: about four times the time (was: the same time)
    assert 3.0 < four_times / once < 5.0, (once, four_times)
