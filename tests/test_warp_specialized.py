"""A level-3 warp-specialized GEMM (`kernels_for_tests.ws_gemm`): producer/consumer regions run
through the IR interpreter, lower to TileLang ``T.ws`` regions with the accumulator updated in
place by ``T.gemm``, compile for sm_90a, are costed by the scheduler (work inside the regions
counts; whole warp groups required), and are refused by Triton with a pointer to TileLang."""

from __future__ import annotations

import shutil

import pytest
import torch

import tiledsl as td
from tests.kernels_for_tests import check_gemm_on_gpu, ws_gemm
from tiledsl.dtypes import DType
from tiledsl.errors import BackendError, ScheduleError
from tiledsl.ir import Op, walk
from tiledsl.schedule.analysis import analyze, tensor_sizes
from tiledsl.schedule.cost import limits
from tiledsl.schedule.roles import knob_roles
from tiledsl.specs import TensorSpec
from tiledsl.targets import get_target

needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on the PATH")
SPECS = (TensorSpec((4096, 4096), DType.bf16),) * 3


@pytest.mark.parametrize("mnk, dt", [((200, 90, 130), torch.float32), ((64, 48, 100), torch.float16)])
def test_runs_in_the_ir_interpreter_on_ragged_shapes(mnk, dt):
    m, n, k = mnk
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(m, k, generator=g).to(dt), torch.randn(k, n, generator=g).to(dt)
    c = torch.empty(m, n, dtype=dt)
    ws_gemm(a, b, c, backend="ir")
    ref = a.float() @ b.float()
    tol = 1e-4 if dt == torch.float32 else 1e-2
    assert (c.float() - ref).abs().max().item() <= tol * ref.abs().max().item()


def test_buffer_accumulation_fuses_into_the_dot():
    """``acc += td.dot(a_s, b_s)`` on a fragment: one dot with the buffer as accumulator, its
    result copied back; no separate product tile, no add."""
    fn = ws_gemm.compile(*SPECS, backend="ir", target="h100").scheduled.fn
    consumer = next(i for i in walk(fn.body) if i.op is Op.WARP_ROLE and i.attr("role") == "consumer")
    ops = [i.op for i in consumer.regions[0].insts]
    assert ops == [Op.DOT, Op.COPY]
    dot, copy = consumer.regions[0].insts
    assert dot.operands[2].name == copy.operands[1].name == "acc"


@td.kernel
def dot_then_overwrite(a: td.Tensor, c: td.Tensor):
    with td.grid(1):
        s = td.alloc_shared((16, 16), a.dtype)
        acc = td.alloc_fragment((16, 16), td.float32)
        td.copy(td.zeros((16, 16), td.float32), acc)
        td.copy(a, s, (0, 0))
        d = td.dot(s, s)
        td.copy(a, s, (16, 0))  # overwrites the dot's operand before the accumulation
        acc += d
        td.store(c, (0, 0), acc)


def test_dot_is_not_moved_past_a_write_to_its_operand_buffer():
    a = torch.randn(32, 16)
    c = torch.empty(16, 16)
    dot_then_overwrite(a, c, backend="ir")
    torch.testing.assert_close(c, a[:16] @ a[:16], atol=1e-4, rtol=1e-4)
    fn = dot_then_overwrite.compile(a, c, backend="ir").scheduled.fn
    assert any(i.op is Op.ADD for i in walk(fn.body))  # not fused


def test_scheduler_costs_the_regions_and_needs_whole_warp_groups():
    ck = ws_gemm.compile(*SPECS, backend="tilelang", target="h100")
    est = ck.estimate
    assert est.flops == 2 * 4096**3 and est.bound == "compute" and 0.3 < est.roofline <= 1.0
    assert ck.schedule.num_warps % 4 == 0 and ck.schedule.num_warps >= 8
    fn = ck.scheduled.fn
    vals = dict(ck.schedule.as_dict(), num_warps=4)
    bad = limits(analyze(fn, tensor_sizes(fn, SPECS), vals), knob_roles(fn), vals, get_target("h100"))
    assert any(x.startswith("warp specialization") for x in bad)


def test_tilelang_program_has_warp_groups_and_in_place_gemm():
    src = ws_gemm.compile(*SPECS, backend="tilelang", target="h100").code("tilelang")
    assert "with T.ws(0):  # producer warp group" in src
    assert "with T.ws(1):  # consumer warp group" in src
    assert "T.gemm(a_s, b_s, acc)\n" in src  # accumulates in place: no clear, no second fragment
    assert src.count("T.alloc_fragment((") == 2  # the accumulator and its bf16 cast


def test_three_warp_groups_one_producer_two_consumers():
    """num_warps=12 (not a power of two) is valid here: one producer and two consumer warp
    groups, the dot split over the 8 consumer warps."""
    ck = ws_gemm.compile(*SPECS, backend="tilelang", target="h100", BM=128, BN=128, BK=64,
                         num_warps=12)
    src = ck.code("tilelang")
    assert "threads=384" in src and "with T.ws(1, 2):  # consumer warp groups" in src
    assert ck.schedule.num_warps == 12


def test_non_power_of_two_warps_stay_refused_without_warp_roles():
    from tests.kernels_for_tests import matmul

    with pytest.raises(ScheduleError, match="power of two"):
        matmul.compile(*SPECS, backend="tilelang", target="h100", num_warps=12)


@needs_nvcc
@pytest.mark.slow
def test_compiles_for_hopper_with_wgmma_and_no_spills():
    r = ws_gemm.compile(*SPECS, backend="tilelang", target="h100").report
    assert r.arch == "sm_90a" and r.uses_wgmma
    assert r.spill_stores == 0 and r.spill_loads == 0


def test_triton_refuses_it_naming_the_construct_and_tilelang():
    with pytest.raises(BackendError, match="producer") as e:
        ws_gemm.compile(*SPECS, backend="triton", target="h100")
    assert "backend='tilelang'" in str(e.value) and "kernels_for_tests.py" in str(e.value)


@pytest.mark.gpu
def test_ws_gemm_on_gpu_matches_torch():
    check_gemm_on_gpu(ws_gemm, 1000, 700, 520, "tilelang")
