"""TileLang lowering of a copy of a computed tile into a buffer (``acc += v`` on a
`td.alloc_local` / `td.alloc_shared` buffer): the value is computed once, in place when its
expression reads the buffer only at the element written, else stored first and copied from that
storage (an in-place write reading other elements would read ones it already changed)."""

from __future__ import annotations

import re
from pathlib import Path

import torch

import tiledsl as td
from tests.scripts import load_script
from tiledsl.dtypes import DType
from tiledsl.specs import TensorSpec as T

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _gemm_l3():
    return load_script(EXAMPLES / "gemm_levels.py").gemm_l3


def test_accumulate_into_a_local_buffer_computes_the_sum_once():
    bf = T((4096, 4096), DType.bf16)
    src = _gemm_l3().compile(bf, bf, bf, backend="tilelang", target="h100", num_warps=8).code("tilelang")
    body = src.split("for kk in T.serial(32):")[1].split("T.sync_threads()")[0]
    sums = [ln for ln in body.splitlines() if "T.cast(a_s_tile" in ln]
    assert len(sums) == 1, body  # one write of the sum, no dead temporary
    assert re.match(r"\s*acc\[(\w+)\] = \(acc\[\1\] \+", sums[0]), sums[0]
    assert not re.search(r"add_\d+ = T.alloc_local", src)


@td.kernel
def transpose_plus_one(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as i:
        s = td.alloc_shared((32, 32), td.float32)
        td.copy(x, s, (0, 0))
        td.copy(td.trans(td.load(s, (0, 0), (32, 32))) + 1.0, s)  # reads other elements of s
        td.copy(s, y, (0, 0))


def test_a_copy_reading_other_elements_of_its_buffer_goes_through_storage():
    f32 = T((32, 32), DType.f32)
    src = transpose_plus_one.compile(f32, f32, backend="tilelang", target="h100").code("tilelang")
    writes = [ln.strip() for ln in src.splitlines() if re.match(r"\s*s\[", ln)]
    assert not writes, writes  # s is never written from an expression that reads s[i1, i0]
    stored = re.search(r"(\w+)\[i0, i1\] = \(s\[i1, i0\] \+ T.float32\(1.0\)\)", src)
    assert stored and f"T.copy({stored.group(1)}, s)" in src, src
    x = torch.randn(32, 32)
    y = torch.empty(32, 32)
    transpose_plus_one(x, y, backend="ir")
    torch.testing.assert_close(y, x.T + 1.0)
