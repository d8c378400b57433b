"""benchmarks/accuracy.py: DeepGEMM's metric, and two of its cases on the IR interpreter (the
script runs every kernel on eager, ir and, optionally, Triton's interpreter)."""

from __future__ import annotations

import torch

from tests.scripts import load_script


def _module():
    return load_script("benchmarks/accuracy.py")


def test_metric_is_deepgemms():
    acc = _module()
    x = torch.tensor([1.0, 2.0, 3.0])
    assert acc.diff(x, x) == 0.0 and acc.diff(torch.zeros(3), torch.zeros(3)) == 0.0
    # 1 - 2*sum(xy)/sum(x^2+y^2) for y = 2x: 1 - 4/5
    assert abs(acc.diff(x, 2 * x) - 0.2) < 1e-12


def test_cases_meet_their_bars_on_the_ir_interpreter():
    acc = _module()
    rows = [r for r in acc.CASES if r[0] in ("gemm (bf16)", "moe_combine")]
    for label, _, bar, fn in rows:
        value = fn("ir")
        assert 0.0 <= value < bar, (label, value)
    text = acc.table([{"kernel": "k", "shape": "s", "bar": 1e-5, "ir": 2e-6}], ["ir"])
    assert "2.00e-06" in text and "yes" in text
