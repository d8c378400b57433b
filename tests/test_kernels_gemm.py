"""Reference kernels `gemm`, FP8 quantization and `fp8_gemm_nt` against torch, on CPU through eager
mode, the IR interpreter and Triton's interpreter; input validation; ahead-of-time compiles for
Hopper."""

from __future__ import annotations

import importlib
import shutil

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiledsl.kernels import fp8_gemm_nt, gemm, per_block_cast_to_fp8, per_token_cast_to_fp8

from tiledsl.errors import ArgumentError

F = importlib.import_module("tiledsl.kernels.fp8")
G = importlib.import_module("tiledsl.kernels.gemm")
calc_diff = F.calc_diff

EXECUTORS = ["eager", "ir", "triton"]
BACKENDS = pytest.mark.parametrize("backend", EXECUTORS)
HYP = settings(max_examples=10, derandomize=True, deadline=None)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# --- gemm --------------------------------------------------------------------------------------


@BACKENDS
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_gemm_matches_torch_at_ragged_sizes(backend, dtype):
    torch.manual_seed(0)
    a, b = torch.randn(70, 45).to(dtype), torch.randn(45, 33).to(dtype)
    c = gemm(a, b, backend=backend)
    assert c.dtype == dtype and c.shape == (70, 33)
    exact = a.float() @ b.float()
    tol = {torch.float32: 1e-5, torch.float16: 1e-3, torch.bfloat16: 8e-3}[dtype]
    torch.testing.assert_close(c.float(), exact, atol=tol * exact.abs().max().item(), rtol=tol)
    if dtype is not torch.float32:
        assert calc_diff(c, exact) < 1e-5


@BACKENDS
@HYP
@given(m=st.integers(1, 80), n=st.integers(1, 80), k=st.integers(1, 80))
def test_gemm_any_shape(backend, m, n, k):
    g = torch.Generator().manual_seed(m * 10007 + n * 101 + k)
    a, b = torch.randn(m, k, generator=g).half(), torch.randn(k, n, generator=g).half()
    c = gemm(a, b, out_dtype=torch.float32, backend=backend)
    torch.testing.assert_close(c, a.float() @ b.float(), atol=1e-4, rtol=1e-4)


def test_gemm_out_dtype_and_empty_sizes():
    a, b = torch.randn(8, 16).bfloat16(), torch.randn(16, 4).bfloat16()
    c = gemm(a, b, out_dtype=torch.float32, backend="ir")
    assert c.dtype == torch.float32
    torch.testing.assert_close(c, a.float() @ b.float(), atol=1e-5, rtol=1e-5)
    assert gemm(torch.randn(0, 16), torch.randn(16, 4)).shape == (0, 4)
    assert torch.equal(gemm(torch.randn(3, 0), torch.randn(0, 4)), torch.zeros(3, 4))


@pytest.mark.parametrize("args,match", [
    ((torch.randn(4, 8), torch.randn(8, 4).half()), "a is torch.float32 but b is torch.float16"),
    ((torch.randn(4, 8), torch.randn(7, 4)), r"K of b\) is 7 but must equal 8"),
    ((torch.randn(4, 8, 1), torch.randn(8, 4)), "a has 3 dimensions"),
    ((torch.randint(0, 3, (4, 8)), torch.randn(8, 4)), "a has dtype int64"),
    ((torch.randn(8, 4).T, torch.randn(8, 4)), "a is not contiguous"),
    ((torch.randn(4, 8), torch.empty(8, 4, device="meta")), "different devices"),
])
def test_gemm_rejects_bad_input(args, match):
    with pytest.raises(ArgumentError, match=match) as e:
        gemm(*args)
    assert "hint:" in str(e.value)


# --- quantization --------------------------------------------------------------------------------

def _cast_input() -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.randn(24, 300) * torch.logspace(-3, 3, 24)[:, None]  # rows of very different size
    x[3, 128:256] = 0  # an all-zero group: amax floors at 1e-4
    return x.bfloat16()


@BACKENDS
def test_per_token_cast_matches_deepgemm(backend):
    x = _cast_input()
    q, s = per_token_cast_to_fp8(x, backend=backend)
    qr, sr = F.per_token_cast_to_fp8_ref(x)
    assert q.dtype == torch.float8_e4m3fn and s.shape == (24, 3)
    torch.testing.assert_close(s, sr, rtol=0, atol=0)
    assert s[3, 1] == 1e-4 / 448
    torch.testing.assert_close(q.float(), qr.float(), rtol=0, atol=0)
    assert calc_diff(F.dequantize(q, s, 1, 128), x.float()) < 1e-3


@BACKENDS
def test_per_block_cast_matches_deepgemm(backend):
    x = _cast_input()
    q, s = per_block_cast_to_fp8(x, backend=backend)
    qr, sr = F.per_block_cast_to_fp8_ref(x)
    assert s.shape == (1, 3)
    torch.testing.assert_close(s, sr, rtol=0, atol=0)
    torch.testing.assert_close(q.float(), qr.float(), rtol=0, atol=0)


def test_cast_rejects_other_group_sizes_and_dtypes():
    with pytest.raises(ArgumentError, match="group size 64"):
        per_token_cast_to_fp8(torch.randn(4, 128), group=64)
    with pytest.raises(ArgumentError, match="x has dtype float8_e4m3fn"):
        per_block_cast_to_fp8(torch.randn(4, 128).to(torch.float8_e4m3fn))


# --- fp8_gemm_nt -------------------------------------------------------------------------------


def _fp8_operands(m: int, n: int, k: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(m, k, generator=g), torch.randn(n, k, generator=g)
    return a, b, F.per_token_cast_to_fp8_ref(a), F.per_block_cast_to_fp8_ref(b)


@BACKENDS
def test_fp8_gemm_accuracy_against_the_unquantized_product(backend):
    a, b, (aq, sa), (bq, sb) = _fp8_operands(64, 136, 384)
    c = fp8_gemm_nt(aq, sa, bq, sb, backend=backend)
    assert c.dtype == torch.bfloat16 and c.shape == (64, 136)
    assert calc_diff(c, a @ b.T) < 1e-3
    ref = F.fp8_gemm_nt_ref(aq, sa, bq, sb, torch.float32)
    torch.testing.assert_close(c.float(), ref, atol=1e-2 * ref.abs().max().item(), rtol=1e-2)


@BACKENDS
def test_fp8_gemm_applies_each_scale_to_its_own_block(backend):
    """Scales differ per row and K block (a) and per 128-column block (b): a kernel that read one
    b scale for 256 columns, or scaled after the K loop, would be far off."""
    m, n, k = 16, 256, 256
    aq = torch.ones(m, k).to(torch.float8_e4m3fn)
    bq = torch.ones(n, k).to(torch.float8_e4m3fn)
    sa = torch.tensor([[1.0, 2.0]]).repeat(m, 1) * torch.arange(1, m + 1)[:, None]
    sb = torch.tensor([[1.0, 10.0], [100.0, 1000.0]])
    c = fp8_gemm_nt(aq, sa, bq, sb, torch.float32, backend=backend)
    row = torch.arange(1, m + 1)[:, None].float()
    expected = torch.cat([row * 128 * (1 + 20.0), row * 128 * (100 + 2000.0)], dim=1).repeat_interleave(128, 1)
    torch.testing.assert_close(c, expected, rtol=1e-6, atol=0)


@BACKENDS
@HYP
@given(m=st.integers(1, 70), n=st.integers(1, 200), k=st.integers(1, 300))
def test_fp8_gemm_any_shape(backend, m, n, k):
    _, _, (aq, sa), (bq, sb) = _fp8_operands(m, n, k, seed=m * 7 + n * 13 + k)
    c = fp8_gemm_nt(aq, sa, bq, sb, torch.float32, backend=backend)
    ref = F.fp8_gemm_nt_ref(aq, sa, bq, sb, torch.float32)
    torch.testing.assert_close(c, ref, atol=1e-4 * max(1.0, ref.abs().max().item()), rtol=1e-4)


def test_fp8_gemm_rejects_bad_input():
    _, _, (aq, sa), (bq, sb) = _fp8_operands(8, 130, 200)
    cases = [
        ((aq.float(), sa, bq, sb), "a has dtype float32"),
        ((aq, sa[:, :1].contiguous(), bq, sb), r"sfa has shape \(8, 1\); expected \(8, 2\)"),
        ((aq, sa, bq, sb[:1]), r"sfb has shape \(1, 2\); expected \(2, 2\)"),
        ((aq, sa, bq[:, :100].contiguous(), sb), r"K of b\) is 100"),
        ((aq, sa.double(), bq, sb), "sfa has dtype float64"),
        ((aq, sa, bq, sb.T), "sfb is not contiguous"),
    ]
    for args, match in cases:
        with pytest.raises(ArgumentError, match=match):
            fp8_gemm_nt(*args)
    with pytest.raises(ArgumentError, match="BN is fixed at 128"):
        fp8_gemm_nt(aq, sa, bq, sb, BN=256)


# --- ahead-of-time compiles for Hopper ---------------------------------------------------------

DSV3 = (4096, 7168, 2048)  # M, N, K of a DeepSeek-V3 projection
SMALL = (256, 384, 512)


def _meta(*shape, dtype=torch.bfloat16):
    return torch.empty(*shape, dtype=dtype, device="meta")


def gemm_case(m, n, k):
    return G.gemm_launch(_meta(m, k), _meta(k, n), _meta(m, n))


def fp8_case(m, n, k):
    e4m3, f32 = torch.float8_e4m3fn, torch.float32
    return F.fp8_gemm_nt_launch(_meta(m, k, dtype=e4m3), _meta(m, -(-k // 128), dtype=f32),
                                _meta(n, k, dtype=e4m3), _meta(-(-n // 128), -(-k // 128), dtype=f32),
                                _meta(m, n))


CASES = {f"{name}-{label}": (make, shape) for name, make in (("gemm", gemm_case), ("fp8", fp8_case))
         for label, shape in (("dsv3", DSV3), ("small", SMALL))}


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiles_for_h100_with_tensor_cores_and_no_spills(name):
    make, shape = CASES[name]
    ck = make(*shape).compile("triton", "h100")
    r = ck.report
    assert r.arch == "sm_90a" and r.uses_mma and r.uses_tma
    assert r.registers and r.spill_stores == 0 and r.spill_loads == 0
    if shape == DSV3:
        assert r.uses_wgmma and "wgmma.mma_async" in ck.code("ptx")
    # at the small shape the cost model picks BM=16/32 (more programs), which wgmma cannot take


def test_fp8_blocks_never_span_two_scale_blocks():
    for m in (1, 128, 4096):
        kw = fp8_case(m, 7168, 2048).knobs
        assert kw["BN"] == 128 and kw["BK"] == 128 and kw["BM"] <= 128


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on the PATH")
@pytest.mark.parametrize("make", [gemm_case, fp8_case])
def test_compiles_for_h100_through_tilelang(make):
    r = make(*DSV3).compile("tilelang", "h100").report
    assert r.arch == "sm_90a" and r.uses_wgmma and r.spill_stores == 0 and r.spill_loads == 0


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["triton", "tilelang"])
def test_on_gpu_matches_torch(backend):
    a, b, (aq, sa), (bq, sb) = _fp8_operands(256, 384, 512)
    c = fp8_gemm_nt(aq.cuda(), sa.cuda(), bq.cuda(), sb.cuda(), backend=backend)
    assert calc_diff(c.cpu(), a @ b.T) < 1e-3
    x, y = a.bfloat16().cuda(), b.T.contiguous().bfloat16().cuda()
    assert calc_diff(gemm(x, y, backend=backend), x.float() @ y.float()) < 1e-5
