"""Peeling the masked last block off a pipelined loop over the blocks of a length
(lowering/tilelang/peel.py): the full blocks are pipelined with whole-block copies, the last one
keeps its masks; loops of any other form are left alone. Program text only (no nvcc), except the
parity row against the expert's kernel."""

from __future__ import annotations

import re
import shutil

import pytest

import tiledsl as td
from tests import kernels_for_tests as K
from tiledsl.dtypes import DType
from tiledsl.specs import TensorSpec as T

pytest.importorskip("tilelang")
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on the PATH")
bf16, i32, f32 = DType.bf16, DType.i32, DType.f32


def _probe() -> str:
    return K.paged_decode.compile(T((4, 64, 128), bf16), T((64, 16, 128), bf16), T((4, 8), i32), T((4,), i32),
                                  T((4, 64, 128), bf16), 0.1, D=128, DV=128, BH=64, num_warps=4,
                                  backend="tilelang", target="h100").code("tilelang")


def _block_after(lines: list[str], start: int) -> list[str]:
    depth = len(lines[start]) - len(lines[start].lstrip())
    out = []
    for ln in lines[start + 1:]:
        if ln.strip() and len(ln) - len(ln.lstrip()) <= depth:
            break
        out.append(ln)
    return out


def test_paged_probe_pipelines_full_pages_with_whole_page_copies_and_masks_only_the_last():
    lines = _probe().splitlines()
    head = next(i for i, ln in enumerate(lines) if "T.Pipelined(" in ln)
    assert re.search(r"T\.Pipelined\(T\.floordiv\(n, 16\), num_stages=\d\)", lines[head])
    main = _block_after(lines, head)
    assert [ln.strip().split("(")[0] for ln in main if "kv[" in ln] == ["T.copy", "T.copy"]  # K and V pages
    assert not any(re.match(r"\s*\w+\[i\w*, i\w*\] = .*kv\[", ln) for ln in main)  # no per-element load
    tail_at = head + 1 + len(main)
    assert lines[tail_at].strip().startswith("if T.And(n > 0, T.floormod(n, 16) > 0):")
    tail = _block_after(lines, tail_at)
    masked = [ln for ln in tail if "kv[" in ln]
    assert masked and all("< n)" in ln and "T.if_then_else(" in ln for ln in masked)
    assert re.match(r"\s*j_\d+ = T\.floordiv\(n, 16\)", tail[0])
    assert sum("T.gemm(" in ln for ln in main) == sum("T.gemm(" in ln for ln in tail) == 2


def _chunked(mask_kind: str, pipelined: bool = True):
    @td.kernel
    def chunk_sum(x: td.Tensor, out: td.Tensor, n: int, KIND: td.constexpr, PIPE: td.constexpr):
        with td.grid(1):
            acc = td.zeros((16, 64), td.float32)
            loop = td.pipelined if PIPE else td.range
            for j in loop(td.cdiv(n, 16)):
                pos = j * 16 + td.arange(0, 16)
                mask = pos < n if KIND == 0 else pos <= n
                acc += td.load(x, (j * 16, 0), (16, 64), mask=mask[:, None])
            td.store(out, (0, 0), acc)

    return chunk_sum.compile(T((256, 64), f32), T((16, 64), f32), 200, KIND=0 if mask_kind == "lt" else 1,
                             PIPE=int(pipelined), backend="tilelang", target="h100").code("tilelang")


def test_a_loop_masked_by_the_length_is_peeled():
    src = _chunked("lt")
    assert "T.floormod(n, 16) > 0" in src and "T.copy(x[" in src


@pytest.mark.parametrize("mask_kind, pipelined", [("le", True), ("lt", False)])
def test_other_masks_and_plain_loops_are_not_peeled(mask_kind, pipelined):
    """``pos <= n`` is true past the length (row n); a `td.range` loop is not pipelined: both keep
    one loop with the masked load in it."""
    src = _chunked(mask_kind, pipelined)
    assert "T.floormod" not in src and "T.copy(x[" not in src


@needs_nvcc
@pytest.mark.slow  # two TileLang lowerings of the MLA-sized probe and nvcc: ~30 s on a shared CPU
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_paged_decode_parity_row_within_ten_percent_of_the_expert():
    from tests.test_tilelang_parity import _parity

    row = _parity().compare("paged_decode_b128_h128_s4096")
    ours, expert = row["tiledsl"], row["expert"]
    assert ours["spill_stores"] == 0 and ours["tma"] and ours["stages"]
    assert ours["wgmma_shape"] == expert["wgmma_shape"]
    assert row["ratio"]["loop_instrs"] <= 1.1 and ours["registers"] <= expert["registers"]
