"""Kernels written with @td.kernel, end to end: front end -> scheduler -> backend, on CPU tensors
(IR interpreter, Triton interpreter) and compiled ahead of time for Hopper (no GPU needed)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tiledsl as td
from tests import kernels_for_tests as K

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
RTOL = {torch.float32: 1e-4, torch.float16: 2e-3, torch.bfloat16: 1.6e-2, torch.float8_e4m3fn: 1.6e-2}


def _gemm_check(M, N, Kd, dtype, backend, **knobs):
    torch.manual_seed(M * 10007 + N * 101 + Kd)
    a = torch.randn(M, Kd).to(dtype)
    b = torch.randn(Kd, N).to(dtype)
    out_dtype = torch.float32 if dtype == torch.float8_e4m3fn else dtype
    c = torch.full((M, N), float("nan"), dtype=out_dtype)
    K.matmul(a, b, c, backend=backend, **knobs)
    ref = (a.float() @ b.float()).to(out_dtype)
    torch.testing.assert_close(c.float(), ref.float(), rtol=RTOL[dtype], atol=1e-3 * Kd ** 0.5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_explicit_tiles_ir_ragged_77x45x130(dtype):
    _gemm_check(77, 45, 130, dtype, "ir", BM=16, BN=16, BK=16)


@settings(max_examples=12, deadline=None)
@given(M=st.integers(1, 70), N=st.integers(1, 70), Kd=st.integers(1, 90), dtype=st.sampled_from(DTYPES))
def test_gemm_auto_knobs_ir_matches_torch(M, N, Kd, dtype):
    _gemm_check(M, N, Kd, dtype, "ir")


@pytest.mark.parametrize("dtype", DTYPES + [torch.float8_e4m3fn])
@pytest.mark.parametrize("mnk", [(77, 45, 130), (77, 48, 144)])
def test_gemm_triton_interpreter_ragged(dtype, mnk):
    """(77, 45, 130): rows not 16-byte aligned, the pointer kernel runs; (77, 48, 144): aligned
    rows, the TMA kernel runs (ragged M and K tiles read zeros past the edge either way)."""
    _gemm_check(*mnk, dtype, "triton")


@pytest.mark.parametrize("backend", ["ir", "triton"])
@pytest.mark.parametrize("dtype", DTYPES + [torch.float8_e4m3fn])
def test_level1_softmax(backend, dtype):
    x = (torch.randn(37, 77) * 3).to(dtype)
    y = K.softmax(x, backend=backend)
    ref = torch.softmax(x.float(), dim=-1)
    tol = 1e-5 if dtype in (torch.float32, torch.float8_e4m3fn) else 1e-2
    torch.testing.assert_close(y.float(), ref.to(y.dtype).float(), rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", ["ir", "triton"])
@pytest.mark.parametrize("dtype", DTYPES + [torch.float8_e4m3fn])
def test_level1_matmul(backend, dtype):
    a, b = torch.randn(45, 70).to(dtype), torch.randn(70, 33).to(dtype)
    c = K.matmul_l1(a, b, backend=backend)
    torch.testing.assert_close(c.float(), (a.float() @ b.float()).to(c.dtype).float(),
                               rtol=RTOL[dtype], atol=1e-2)


def test_compile_reports_schedule_and_estimate_for_h100():
    spec = ((4096, 4096), td.bfloat16)
    ck = K.matmul.compile(spec, spec, spec, backend="ir", target="h100")
    s = ck.schedule.as_dict()
    assert {"BM", "BN", "BK", "stages", "num_warps"} <= set(s)
    est = ck.report.estimate
    assert est["time_us"] > 0 and 0 < est["roofline"] <= 1
    assert ck.stages == ["python", "ir", "scheduled"]
    assert "grid" in ck.code("scheduled") and "td.kernel" in ck.code("python")


def test_triton_aot_gemm_4096_bf16_h100_uses_wgmma_without_spills():
    spec = ((4096, 4096), td.bfloat16)
    ck = K.matmul.compile(spec, spec, spec, backend="triton", target="h100")
    assert ck.stages == ["python", "ir", "scheduled", "triton", "ttir", "ttgir", "llir", "ptx"]
    assert "tl.dot" in ck.code("triton") and "# src:" in ck.code("triton")
    r = ck.report
    assert r.uses_wgmma and r.spill_stores == 0 and r.spill_loads == 0 and r.registers > 0
    assert "wgmma.mma_async" in ck.code("ptx")


def test_triton_codegen_is_deterministic():
    spec = ((300, 200), td.float16)
    one = K.matmul.compile(spec, spec, spec, backend="triton", target="h100")
    K.matmul._compiled.clear()
    two = K.matmul.compile(spec, spec, spec, backend="triton", target="h100")
    assert one is not two and one.code("triton") == two.code("triton")


def test_tilelang_refuses_cpu_tensors_at_once():
    a = torch.randn(8, 8)
    with pytest.raises(td.CannotExecuteError, match="backend='ir' or backend='triton'"):
        K.matmul(a, a, a, backend="tilelang")
    assert not K.matmul._compiled or all(key[2] != "tilelang" for key in K.matmul._compiled)


@pytest.mark.nvcc
@pytest.mark.slow
def test_tilelang_gemm_4096_bf16_h100_cubin_report():
    spec = ((4096, 4096), td.bfloat16)
    ck = K.matmul.compile(spec, spec, spec, backend="tilelang", target="h100")
    assert ck.stages[:4] == ["python", "ir", "scheduled", "tilelang"] and "cuda" in ck.stages
    assert "T.gemm" in ck.code("tilelang")
    r = ck.report
    assert r.uses_wgmma and r.uses_tma and r.spill_stores == 0 and r.spill_loads == 0


@pytest.mark.nvcc
@pytest.mark.slow
def test_tilelang_softmax_and_level3_compile_for_h100():
    ck = K.softmax.compile(((1000, 200), td.float32), backend="tilelang", target="h100")
    assert ck.report.spill_stores == 0 and "__global__" in ck.code("cuda")
    ck = K.warp_sum.compile(((4096,), td.float32), ((128,), td.float32), backend="tilelang", target="h100")
    assert ck.report.spill_stores == 0 and "__shfl_xor_sync" in ck.code("cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["triton", "tilelang"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_gemm_on_gpu(backend, dtype):
    a = torch.randn(1000, 700, device="cuda", dtype=dtype)
    b = torch.randn(700, 900, device="cuda", dtype=dtype)
    c = torch.empty(1000, 900, device="cuda", dtype=dtype)
    K.matmul(a, b, c, backend=backend)
    torch.testing.assert_close(c.float(), (a.float() @ b.float()).to(dtype).float(), rtol=2e-2, atol=0.1)


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["triton", "tilelang"])
def test_softmax_on_gpu(backend):
    x = torch.randn(500, 3000, device="cuda")
    torch.testing.assert_close(K.softmax(x, backend=backend), torch.softmax(x, -1), rtol=1e-5, atol=1e-6)
