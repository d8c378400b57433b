"""TileLang: an fp32 tile divided by a broadcast row (the softmax's ``e / sum(e)``) multiplies by a
reciprocal computed once per row (lowering/tilelang/division.py), not an IEEE division per element
(issue 12, item 5: 1.8x the Triton kernel's instructions). The emitted statements are run here on
torch tensors (TileLang's ``T`` functions mapped onto torch), against torch's own division, over
the whole float range: normal, subnormal, huge, zero, inf and NaN divisors."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch

import tiledsl as td

sys.path.insert(0, str(Path(__file__).parent))  # the hand-built IRs beside this file
from test_tilelang_irs import softmax_ir
from tiledsl.lowering.tilelang import BACKEND

from tiledsl.dtypes import DType
from tiledsl.specs import TensorSpec
from tiledsl.targets import get_target

H100 = get_target("h100")
SPECS = (TensorSpec((1000, 200), DType.f32),) * 2
F32 = torch.float32
TINY = torch.finfo(F32).smallest_normal
# divisors in groups of the kernel's 4 rows: ordinary, subnormal, near the top of the range,
# and the special values
ROW_SUMS = [[1.0, 3.0, 1e-3, 7.5e5], [1e-40, -3e-42, 1.4e-45, TINY], [3.3e38, -1.7e38, 2.9e38, 2.0 ** 126],
            [0.0, -0.0, float("inf"), float("nan")]]


def _program() -> str:
    return BACKEND.lower(softmax_ir(), SPECS, H100).source


def _division_lines(src: str) -> list[str]:
    """The statements from the reciprocal's loop to the division's."""
    lines = [ln.strip() for ln in src.splitlines()]
    first = next(i for i, ln in enumerate(lines) if ln.startswith("div_scale["))
    last = next(i for i, ln in enumerate(lines) if ln.startswith("div["))
    return [ln for ln in lines[first:last + 1] if not ln.startswith(("for ", "#"))]


class _T:
    """TileLang's expression functions on torch tensors."""

    float32 = staticmethod(lambda v: torch.tensor(v, dtype=F32))
    abs = staticmethod(torch.abs)
    if_then_else = staticmethod(torch.where)


def _run(lines: list[str], e: torch.Tensor, row_sum: torch.Tensor) -> torch.Tensor:
    bm, bn = e.shape
    env = {"T": _T, "e": e, "row_sum": row_sum, "div": torch.empty(bm, bn, dtype=F32),
           "div_rcp": torch.empty(bm, 1, dtype=F32), "div_scale": torch.empty(bm, 1, dtype=F32)}
    for ln in lines:
        names = sorted(set(re.findall(r"\bi\d_\d+\b", ln)))  # the loop's index names
        for n in names:
            rows = n.startswith("i0")
            size = bm if rows else (1 if ln.startswith("div_") else bn)
            env[n] = torch.arange(size)[:, None] if rows else torch.arange(size)[None, :]
        exec(ln, env)  # noqa: S102 - the statements the lowering emitted, on torch tensors
    return env["div"]


def test_division_is_a_reciprocal_per_row():
    src = _program()
    assert "/ row_sum" not in src and src.count(" / (") == 1  # one IEEE division, per row
    assert re.search(r"div\[i0_\d+, i1_\d+\] = \(\(e\[i0_\d+, i1_\d+\] \* div_rcp\[i0_\d+, 0\]\) \* "
                     r"div_scale\[i0_\d+, 0\]\)", src)


@pytest.mark.parametrize("sums", ROW_SUMS, ids=["normal", "subnormal", "huge", "special"])
def test_reciprocal_division_matches_torch_over_the_float_range(sums):
    g = torch.Generator().manual_seed(0)
    e = torch.randn(4, 256, generator=g, dtype=F32) * torch.logspace(-30, 30, 256, dtype=F32)
    e[:, :4] = torch.tensor([0.0, float("inf"), float("nan"), -3.4e38])
    row_sum = torch.tensor(sums, dtype=F32)
    got = _run(_division_lines(_program()), e, row_sum)
    want = e / row_sum[:, None]
    assert torch.equal(torch.isnan(got), torch.isnan(want))
    fin = torch.isfinite(want)
    assert torch.equal(got[~fin & ~torch.isnan(want)], want[~fin & ~torch.isnan(want)])  # same infinities
    # two roundings instead of one: within 1.5 ulp, and a few subnormal steps where the quotient is one
    torch.testing.assert_close(got[fin], want[fin], rtol=1.8e-7, atol=5e-45)


@td.kernel
def _divide(x: td.Tensor, y: td.Tensor, out: td.Tensor, BM: td.constexpr = 4):
    with td.grid(td.cdiv(x.shape[0], BM)) as i:
        a = td.load(x, (i * BM, 0), (BM, 256))
        b = td.load(y, (i * BM, 0), (BM, 256))
        td.store(out, (i * BM, 0), a / b)


@pytest.mark.parametrize("dtype", [td.float32, td.float16])
def test_elementwise_and_16_bit_division_stay_division(dtype):
    """Nothing to share when every element has its own divisor; 16-bit tiles keep their rule."""
    spec = ((64, 256), dtype)
    src = _divide.compile(spec, spec, spec, backend="tilelang", target="h100").code("tilelang")
    assert "_rcp" not in src and re.search(r"a\[i0, i1\](, \"float32\"\))? / (T.cast\()?b\[i0, i1\]", src), src
