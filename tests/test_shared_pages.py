"""The scheduler's shared-memory model per backend (tiledsl/schedule/analysis.py, the rule of
tiledsl/ir/pages.py): on TileLang a page's leading columns (V, the first DV columns of an MLA K
page) are a region of the page already in shared memory, so they are charged once; TileLang's
computed dot operand (``p.to(bf16)``), its reduction workspaces and its static shared memory are
charged too. The figures are the ones ptxas gives for the compiled probe
(benchmarks/results/static_parity_tilelang.md); no compiler is needed here."""

from __future__ import annotations

import dataclasses
import re

import pytest

import tiledsl as td
from tests import kernels_for_tests as K
from tiledsl.capabilities import ANY, TILELANG, TRITON
from tiledsl.dtypes import DType
from tiledsl.passes.pipeline import schedule
from tiledsl.schedule import cost
from tiledsl.schedule.analysis import analyze, tensor_sizes
from tiledsl.schedule.roles import knob_roles
from tiledsl.specs import TensorSpec as T
from tiledsl.targets import get_target

bf16, i32, f32 = DType.bf16, DType.i32, DType.f32
H100 = get_target("h100")


def _probe():
    """The paged decode probe at the parity table's MLA sizes (benchmarks/static_parity_tilelang.py)."""
    specs = (T((128, 128, 576), bf16), T((8192, 64, 576), bf16), T((128, 64), i32), T((128,), i32),
             T((128, 128, 512), bf16), 0.07)
    fn = K.paged_decode.ir(*specs, D=576, DV=512, PAGE=64)
    return fn, specs


def _smem(caps, stages: int, warps: int = 8) -> int:
    fn, specs = _probe()
    a = analyze(fn, tensor_sizes(fn, specs), {"BH": 64, "stages": stages, "num_warps": warps, "GROUP_M": 8},
                False, caps)
    return cost.smem_bytes(a, {"num_warps": warps})


def test_the_probes_shared_memory_on_tilelang_is_what_ptxas_reports():
    """1 stage: 1,024 B static + 158,720 B dynamic (ptxas -v); 2 stages: 1,024 + 232,448. The
    model charged V's 64 KB page again (212,992 B at 1 stage, 352,256 at 2) and missed the rest."""
    assert _smem(TILELANG, 1) == 159744
    assert _smem(TILELANG, 2) == 233472


def test_a_backend_without_views_pays_the_second_page():
    """Triton loads V on its own: K (72 KB) and V (64 KB) a stage, beside q."""
    assert _smem(TRITON, 2) - _smem(TRITON, 1) == 73728 + 65536
    only_views = dataclasses.replace(TRITON, shared_page_views=True)
    assert _smem(TRITON, 2) - _smem(only_views, 2) == 2 * 65536
    assert not ANY.shared_page_views  # a schedule for no backend must fit Triton too


def test_the_probes_tilelang_schedule_keeps_one_stage_two_do_not_fit():
    """Two stages need 233,472 B, 1 KB over the H100's 232,448 (the NaN-propagating row max is two
    reductions, each with a 1 KB workspace; the expert's kernel, with one, fits exactly): the
    default stays at one stage, and says why the other does not fit."""
    fn, specs = _probe()
    s = schedule(fn, specs, "h100", backend="tilelang")
    assert s.schedule.as_dict()["stages"] == 1 and s.schedule.as_dict()["BH"] == 64
    assert s.estimate.smem_bytes == 159744  # ptxas: 1,024 B static + 158,720 B dynamic
    vals = {**s.schedule.as_dict(), "stages": 2}
    a = analyze(fn, tensor_sizes(fn, specs), vals, False, TILELANG)
    bad = cost.limits(a, knob_roles(fn), vals, H100, caps=TILELANG)
    assert any("shared memory: this point needs 233472 B" in b for b in bad), bad


@pytest.mark.parametrize("col_mask, views", [(False, True), (True, False)])
def test_the_model_charges_a_view_exactly_where_the_lowering_makes_one(col_mask, views):
    """The lowering's side is tests/test_tilelang_parity.py
    `test_a_page_load_is_reused_only_with_the_same_rows_offsets_and_mask` (same kernel): V with
    K's mask is K's region, V masked by columns too is its own load."""

    two_loads = K.two_page_loads

    specs = (T((64, 128), bf16), T((64, 128), bf16), T((64, 64), f32), 40)
    fn = two_loads.ir(*specs, COLS=int(col_mask))
    only_views = dataclasses.replace(ANY, shared_page_views=True)
    saved = (analyze(fn, tensor_sizes(fn, specs), {"num_warps": 4}, False, ANY).smem
             - analyze(fn, tensor_sizes(fn, specs), {"num_warps": 4}, False, only_views).smem)
    assert saved == (64 * 64 * 2 if views else 0)


@td.kernel
def _attention_pages(kv: td.Tensor, q: td.Tensor, out: td.Tensor, n: int, LE: td.constexpr):
    with td.grid(1):
        acc = td.zeros((64, 64), td.float32)
        qt = td.load(q, (0, 0), (64, 128))
        for j in td.pipelined(td.cdiv(n, 64)):
            pos = j * 64 + td.arange(0, 64)
            valid = pos <= n if LE else pos < n
            k = td.load(kv, (j * 64, 0), (64, 128), mask=valid[:, None])
            v = td.load(kv, (j * 64, 0), (64, 64), mask=valid[:, None])
            acc += td.dot(td.dot(qt, k.T).to(td.bfloat16), v)
        td.store(out, (0, 0), acc)


_PAGES_SPECS = (T((1024, 128), bf16), T((64, 128), bf16), T((64, 64), f32), 1000)


@pytest.mark.parametrize("le, views", [(0, True), (1, False)])
def test_a_masked_page_in_a_pipelined_loop_is_a_view_only_when_the_loop_is_peeled(le, views):
    """``pos <= n`` is not the length's prefix mask: the loop is not peeled, its masked loads are
    element-wise fills (lowering/tilelang/peel.py) and V is a buffer of its own; the model and the
    TileLang lowering agree."""
    fn = _attention_pages.ir(*_PAGES_SPECS, LE=le)
    vals = {"num_warps": 4, "stages": 2}
    only_views = dataclasses.replace(ANY, shared_page_views=True)
    saved = (analyze(fn, tensor_sizes(fn, _PAGES_SPECS), vals, False, ANY).smem
             - analyze(fn, tensor_sizes(fn, _PAGES_SPECS), vals, False, only_views).smem)
    assert saved == (2 * 64 * 64 * 2 if views else 0)
    pytest.importorskip("tilelang")
    src = _attention_pages.compile(*_PAGES_SPECS, LE=le, num_warps=4, backend="tilelang",
                                   target="h100").code("tilelang")
    assert ('T.alloc_shared((64, 64), "bfloat16")' not in src) is views
    assert bool(re.search(r"T\.gemm\(\w+, k\[0:64, 0:64\], ", src)) is views


@pytest.mark.parametrize("warps, staged", [(4, False), (8, True)])
def test_a_computed_operand_is_charged_where_the_lowering_stages_it_in_shared_memory(warps, staged):
    """64 rows on 4 warps: every warp along the rows (FullRow), ``p.to(bf16)`` stays in registers;
    on 8 warps the warp groups split N (FullCol) and it goes through a shared buffer
    (lowering/tilelang/gemms.py)."""
    fn = _attention_pages.ir(*_PAGES_SPECS, LE=0)
    vals = {"num_warps": warps, "stages": 2}
    a = analyze(fn, tensor_sizes(fn, _PAGES_SPECS), vals, False, TILELANG)
    no_operands = analyze(fn, tensor_sizes(fn, _PAGES_SPECS), vals, False,
                          dataclasses.replace(TILELANG, shared_operands=False))
    assert cost.smem_bytes(a, vals) - cost.smem_bytes(no_operands, vals) == (64 * 64 * 2 if staged else 0)
    pytest.importorskip("tilelang")
    src = _attention_pages.compile(*_PAGES_SPECS, LE=0, num_warps=warps, backend="tilelang",
                                   target="h100").code("tilelang")
    operand = re.search(r"T\.gemm\((\w+), k\[0:64, 0:64\], ", src).group(1)
    assert (f'{operand} = T.alloc_shared((64, 64), "bfloat16")' in src) is staged
