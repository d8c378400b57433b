"""The MoE grouped GEMMs (contiguous and masked layouts, bf16 and FP8) against torch on CPU through
eager mode, the IR interpreter and Triton's interpreter, with empty groups and ragged N/K; their
input validation; padding blocks skipped; ahead-of-time compiles for Hopper."""

from __future__ import annotations

import importlib
import shutil

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiledsl.kernels import (
    m_grouped_fp8_gemm_nt_contiguous,
    m_grouped_fp8_gemm_nt_masked,
    m_grouped_gemm_nt_contiguous,
    m_grouped_gemm_nt_masked,
)

from tiledsl.errors import ArgumentError

F = importlib.import_module("tiledsl.kernels.fp8")
GR = importlib.import_module("tiledsl.kernels.grouped")
KN = importlib.import_module("tiledsl.kernels._knobs")
calc_diff = F.calc_diff
E4M3, F32, I32 = torch.float8_e4m3fn, torch.float32, torch.int32

BACKENDS = pytest.mark.parametrize("backend", ["eager", "ir", "triton"])
HYP = settings(max_examples=10, derandomize=True, deadline=None)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

sizes_st = st.lists(st.integers(0, 140), min_size=1, max_size=3)  # rows per group; 0: an empty group


def contiguous_indices(sizes: list[int]) -> torch.Tensor:
    """Each group's rows, padded with -1 up to a multiple of 128 (DeepGEMM's layout)."""
    idx: list[int] = []
    for g, s in enumerate(sizes):
        idx += [g] * s + [-1] * (-s % 128)
    return torch.tensor(idx, dtype=torch.int32)


def quantize_groups(x: torch.Tensor, per_token: bool):
    cast = F.per_token_cast_to_fp8_ref if per_token else F.per_block_cast_to_fp8_ref
    q, s = zip(*(cast(x[g]) for g in range(x.shape[0])))
    return torch.stack(q), torch.stack(s)


def assert_rows_close(c: torch.Tensor, ref: torch.Tensor, rows: torch.Tensor) -> None:
    """Compare the defined rows; tolerance: one bf16 step of the largest value."""
    got, want = c[rows].float(), ref[rows].float()
    top = want.abs().max().item() if want.numel() else 1.0
    torch.testing.assert_close(got, want, atol=8e-3 * max(1.0, top), rtol=8e-3)


def _gen(*key: int) -> torch.Generator:
    return torch.Generator().manual_seed(hash(tuple(key)) % 2**31)


# --- contiguous layout ---------------------------------------------------------------------------


@BACKENDS
@HYP
@given(sizes=sizes_st, n=st.integers(1, 48), k=st.integers(1, 64))
def test_contiguous_bf16_any_groups(backend, sizes, n, k):
    mi = contiguous_indices(sizes)
    g = _gen(n, k, *sizes)
    a = torch.randn(mi.numel(), k, generator=g).bfloat16()
    b = torch.randn(len(sizes), n, k, generator=g).bfloat16()
    c = m_grouped_gemm_nt_contiguous(a, b, mi, backend=backend)
    assert c.shape == (mi.numel(), n) and c.dtype == torch.bfloat16
    assert_rows_close(c, GR.m_grouped_gemm_nt_contiguous_ref(a, b, mi), mi >= 0)


@BACKENDS
@HYP
@given(sizes=sizes_st, n=st.integers(1, 136), k=st.integers(1, 200))
def test_contiguous_fp8_any_groups(backend, sizes, n, k):
    mi = contiguous_indices(sizes)
    g = _gen(n, k, *sizes)
    aq, sa = F.per_token_cast_to_fp8_ref(torch.randn(mi.numel(), k, generator=g))
    bq, sb = quantize_groups(torch.randn(len(sizes), n, k, generator=g), per_token=False)
    c = m_grouped_fp8_gemm_nt_contiguous(aq, sa, bq, sb, mi, backend=backend)
    assert_rows_close(c, GR.m_grouped_fp8_gemm_nt_contiguous_ref(aq, sa, bq, sb, mi), mi >= 0)


@BACKENDS
def test_contiguous_accuracy_deepgemm_measure(backend):
    torch.manual_seed(0)
    sizes, n, k = [100, 0, 130], 72, 384
    mi = contiguous_indices(sizes)
    a, b = torch.randn(mi.numel(), k), torch.randn(3, n, k)
    exact = GR.m_grouped_gemm_nt_contiguous_ref(a, b, mi).float()  # unquantized, fp32 inputs
    rows = mi >= 0
    c = m_grouped_gemm_nt_contiguous(a.bfloat16(), b.bfloat16(), mi, backend=backend)
    assert calc_diff(c[rows], exact[rows]) < 1e-5
    aq, sa = F.per_token_cast_to_fp8_ref(a)
    bq, sb = quantize_groups(b, per_token=False)
    c8 = m_grouped_fp8_gemm_nt_contiguous(aq, sa, bq, sb, mi, backend=backend)
    assert calc_diff(c8[rows], exact[rows]) < 1e-3


@BACKENDS
def test_contiguous_skips_padding_blocks(backend):
    """A block whose first row is padding is not computed at all: its output keeps what was there
    (the kernel is called directly with a pre-filled output to see it)."""
    mi = torch.cat([contiguous_indices([5]), torch.full((128,), -1, dtype=torch.int32)])  # block 1: padding
    a, b = torch.randn(256, 32).bfloat16(), torch.randn(3, 16, 32).bfloat16()
    a[128:] = float("nan")
    c = torch.full((256, 16), 7.0, dtype=torch.bfloat16)
    GR.grouped_contiguous_kernel(a, b, mi, c, backend=backend)
    assert (c[128:] == 7.0).all()
    assert_rows_close(c, GR.m_grouped_gemm_nt_contiguous_ref(a, b, mi), mi >= 0)


@pytest.mark.parametrize("backend", ["ir", "triton"])
def test_contiguous_blocks_smaller_than_the_alignment_skip_padding(backend):
    """BM=32 (a divisor of the 128-row alignment): group 0 has 5 rows, so blocks 1-3 of its
    128-row region are padding only and must not be computed; group 1 fills its region."""
    mi = contiguous_indices([5, 128])
    a, b = torch.randn(256, 32).bfloat16(), torch.randn(2, 16, 32).bfloat16()
    a[5:128] = float("nan")
    c = torch.full((256, 16), 7.0, dtype=torch.bfloat16)
    GR.grouped_contiguous_kernel(a, b, mi, c, BM=32, backend=backend)
    assert (c[32:128] == 7.0).all()
    assert_rows_close(c, GR.m_grouped_gemm_nt_contiguous_ref(a, b, mi), mi >= 0)


def test_scheduler_picks_the_contiguous_block_rows_within_the_alignment():
    G, m, n, k = 2, 256, 256, 256
    for fp8 in (False, True):
        bm = contiguous_case(G, m, n, k, fp8).compile("ir", "h100").schedule.as_dict()["BM"]
        assert 128 % bm == 0 and bm < 128  # small N: a smaller block gives more programs


def test_contiguous_rejects_bad_input():
    mi = contiguous_indices([3, 130])
    a, b = torch.randn(mi.numel(), 32).bfloat16(), torch.randn(2, 16, 32).bfloat16()
    cases = [
        ((a[:200], b, mi[:200]), "M_sum .* is 200, not a multiple of 128"),
        ((a, b, mi.long()), "m_indices has dtype int64"),
        ((a, b, mi[:128]), r"m_indices has shape \(128,\)"),
        ((a, b[..., :16].contiguous(), mi), r"K of b\) is 16"),
        ((a.float(), b, mi), "a has dtype float32"),
        ((a, b, torch.where(mi == 1, 2, mi)), r"values in \[-1, 2\]"),
        ((a, b, torch.roll(mi, 64)), "mix groups or start with padding"),
    ]
    for args, match in cases:
        with pytest.raises(ArgumentError, match=match):
            m_grouped_gemm_nt_contiguous(*args)
    # BM is the scheduler's, any divisor of the 128-row group alignment; others are rejected
    with pytest.raises(ArgumentError, match="BM=96 must divide 128"):
        m_grouped_gemm_nt_contiguous(a, b, mi, BM=96)
    aq, sa = F.per_token_cast_to_fp8_ref(a.float())
    bq, sb = quantize_groups(b.float(), per_token=False)
    with pytest.raises(ArgumentError, match=r"sfb has shape \(1, 1, 1\); expected \(2, 1, 1\)"):
        m_grouped_fp8_gemm_nt_contiguous(aq, sa, bq, sb[:1], mi)
    with pytest.raises(ArgumentError, match="different devices"):
        m_grouped_fp8_gemm_nt_contiguous(aq, sa, bq, sb.to("meta"), mi)


# --- masked layout -------------------------------------------------------------------------------


@st.composite
def masked_case(draw):
    G = draw(st.integers(1, 3))
    m_max = draw(st.integers(1, 70))
    masked = draw(st.lists(st.integers(0, m_max), min_size=G, max_size=G))
    return G, m_max, masked, draw(st.integers(1, 48)), draw(st.integers(1, 64)), draw(st.integers(1, 128))


def _masked_rows(masked: list[int], m_max: int) -> torch.Tensor:
    return torch.arange(m_max)[None, :] < torch.tensor(masked)[:, None]


@BACKENDS
@HYP
@given(case=masked_case())
def test_masked_bf16_any_groups(backend, case):
    G, m_max, masked, n, k, expected_m = case
    g = _gen(G, m_max, n, k, *masked)
    a, b = torch.randn(G, m_max, k, generator=g).bfloat16(), torch.randn(G, n, k, generator=g).bfloat16()
    mm = torch.tensor(masked, dtype=torch.int32)
    c = m_grouped_gemm_nt_masked(a, b, mm, expected_m, backend=backend)
    assert c.shape == (G, m_max, n) and c.dtype == torch.bfloat16
    assert_rows_close(c, GR.m_grouped_gemm_nt_masked_ref(a, b, mm), _masked_rows(masked, m_max))


@BACKENDS
@HYP
@given(case=masked_case())
def test_masked_fp8_any_groups(backend, case):
    G, m_max, masked, n, k, expected_m = case
    k = k * 4 + 3  # K past one scale block, ragged
    g = _gen(G, m_max, n, k, *masked)
    aq, sa = quantize_groups(torch.randn(G, m_max, k, generator=g), per_token=True)
    bq, sb = quantize_groups(torch.randn(G, n, k, generator=g), per_token=False)
    mm = torch.tensor(masked, dtype=torch.int32)
    c = m_grouped_fp8_gemm_nt_masked(aq, sa, bq, sb, mm, expected_m, backend=backend)
    ref = GR.m_grouped_fp8_gemm_nt_masked_ref(aq, sa, bq, sb, mm)
    assert_rows_close(c, ref, _masked_rows(masked, m_max))


@BACKENDS
def test_masked_accuracy_deepgemm_measure(backend):
    torch.manual_seed(0)
    G, m_max, n, k, masked = 3, 40, 72, 384, [5, 0, 40]
    a, b = torch.randn(G, m_max, k), torch.randn(G, n, k)
    mm = torch.tensor(masked, dtype=torch.int32)
    rows = _masked_rows(masked, m_max)
    exact = GR.m_grouped_gemm_nt_masked_ref(a, b, mm).float()
    c = m_grouped_gemm_nt_masked(a.bfloat16(), b.bfloat16(), mm, 16, backend=backend)
    assert calc_diff(c[rows], exact[rows]) < 1e-5
    aq, sa = quantize_groups(a, per_token=True)
    bq, sb = quantize_groups(b, per_token=False)
    c8 = m_grouped_fp8_gemm_nt_masked(aq, sa, bq, sb, mm, 16, backend=backend)
    assert calc_diff(c8[rows], exact[rows]) < 1e-3


def _meta(*shape, dtype=torch.bfloat16):
    return torch.empty(*shape, dtype=dtype, device="meta")


def test_expected_m_steers_the_block_rows():
    G, m_max, n, k = 8, 4096, 4096, 7168
    args = (_meta(G, m_max, k), _meta(G, n, k), _meta(G, dtype=torch.int32), _meta(G, m_max, n))
    small = KN.scheduled_knobs(GR.grouped_masked_kernel, args, 16)["BM"]
    large = KN.scheduled_knobs(GR.grouped_masked_kernel, args, 4096)["BM"]
    assert small < large


def test_expected_m_steers_the_fp8_block_rows():
    G, m_max, n, k = 8, 4096, 4096, 7168
    kb = k // 128
    args = (_meta(G, m_max, k, dtype=E4M3), _meta(G, m_max, kb, dtype=F32), _meta(G, n, k, dtype=E4M3),
            _meta(G, n // 128, kb, dtype=F32), _meta(G, dtype=I32), _meta(G, m_max, n))
    small = KN.scheduled_knobs(GR.grouped_fp8_masked_kernel, args, 16, BK=128)
    large = KN.scheduled_knobs(GR.grouped_fp8_masked_kernel, args, 4096, BK=128)
    # a few rows per group get a smaller output tile (wgmma keeps BM at 64 or more on Hopper)
    assert small["BM"] * small["BN"] < large["BM"] * large["BN"]
    assert 128 % small["BN"] == 0 and 128 % large["BN"] == 0 and small["BM"] <= large["BM"]


def test_masked_rejects_bad_input():
    a, b = torch.randn(2, 8, 32).bfloat16(), torch.randn(2, 16, 32).bfloat16()
    mm = torch.tensor([3, 8], dtype=torch.int32)
    cases = [
        ((a, b, mm, 0), "expected_m must be a positive int"),
        ((a, b, torch.tensor([3, 9], dtype=torch.int32), 4), r"values in \[3, 9\]"),
        ((a, b[:1], mm, 4), r"groups of b\) is 1 but must equal 2"),
        ((a, b, mm[:1], 4), r"masked_m has shape \(1,\)"),
        ((a[0], b, mm, 4), "a has 2 dimensions"),
    ]
    for args, match in cases:
        with pytest.raises(ArgumentError, match=match):
            m_grouped_gemm_nt_masked(*args)
    aq, sa = quantize_groups(a.float(), per_token=True)
    bq, sb = quantize_groups(b.float(), per_token=False)
    with pytest.raises(ArgumentError, match=r"sfa has shape \(2, 8, 2\); expected \(2, 8, 1\)"):
        m_grouped_fp8_gemm_nt_masked(aq, torch.cat([sa, sa], -1), bq, sb, mm, 4)
    with pytest.raises(ArgumentError, match="BN=96 must divide 128"):
        m_grouped_fp8_gemm_nt_masked(aq, sa, bq, sb, mm, 4, BN=96)
    with pytest.raises(ArgumentError, match="fixes BK at 128"):
        m_grouped_fp8_gemm_nt_masked(aq, sa, bq, sb, mm, 4, BK=64)


# --- ahead-of-time compiles for Hopper ---------------------------------------------------------


def contiguous_case(G, m, n, k, fp8):
    kb = -(-k // 128)
    if not fp8:
        return GR.contiguous_launch(_meta(m, k), _meta(G, n, k), _meta(m, dtype=I32), _meta(m, n))
    return GR.fp8_contiguous_launch(_meta(m, k, dtype=E4M3), _meta(m, kb, dtype=F32), _meta(G, n, k, dtype=E4M3),
                                    _meta(G, -(-n // 128), kb, dtype=F32), _meta(m, dtype=I32), _meta(m, n))


def masked_launch_case(G, m, n, k, fp8):
    kb = -(-k // 128)
    if not fp8:
        return GR.masked_launch(_meta(G, m, k), _meta(G, n, k), _meta(G, dtype=I32), _meta(G, m, n), m)
    return GR.fp8_masked_launch(_meta(G, m, k, dtype=E4M3), _meta(G, m, kb, dtype=F32),
                                _meta(G, n, k, dtype=E4M3), _meta(G, -(-n // 128), kb, dtype=F32),
                                _meta(G, dtype=I32), _meta(G, m, n), m)


AOT = {f"{layout}-{'fp8' if fp8 else 'bf16'}-{label}": (make, shape, fp8)
       for layout, make in (("contiguous", contiguous_case), ("masked", masked_launch_case))
       for fp8 in (False, True)
       for label, shape in (("dsv3", (4, 1024, 7168, 2048)), ("small", (2, 256, 256, 256)))}


@pytest.mark.parametrize("name", sorted(AOT))
def test_compiles_for_h100_without_spills(name):
    make, (G, m, n, k), fp8 = AOT[name]
    if name.startswith("contiguous"):
        m *= G
    ck = make(G, m, n, k, fp8).compile("triton", "h100")
    r = ck.report
    assert r.arch == "sm_90a" and r.uses_mma and r.registers and r.spill_stores == 0 and r.spill_loads == 0
    if "dsv3" in name:
        assert r.uses_wgmma and r.uses_tma and "wgmma.mma_async" in ck.code("ptx")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on the PATH")
@pytest.mark.parametrize("fp8", [False, True])
def test_masked_compiles_for_h100_through_tilelang(fp8):
    r = masked_launch_case(4, 1024, 7168, 2048, fp8).compile("tilelang", "h100").report
    assert r.arch == "sm_90a" and r.uses_wgmma and r.spill_stores == 0 and r.spill_loads == 0


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on the PATH")
def test_contiguous_compiles_for_h100_through_tilelang():
    r = contiguous_case(4, 4096, 7168, 2048, False).compile("tilelang", "h100").report
    assert r.uses_wgmma and r.spill_stores == 0


@pytest.mark.gpu
def test_on_gpu_matches_torch():
    torch.manual_seed(0)
    mi = contiguous_indices([300, 0, 128]).cuda()
    a, b = torch.randn(mi.numel(), 256, device="cuda"), torch.randn(3, 384, 256, device="cuda")
    exact = GR.m_grouped_gemm_nt_contiguous_ref(a, b, mi).float()
    rows = mi >= 0
    c = m_grouped_gemm_nt_contiguous(a.bfloat16(), b.bfloat16(), mi)
    assert calc_diff(c[rows], exact[rows]) < 1e-5
    aq, sa = F.per_token_cast_to_fp8(a)
    bq, sb = zip(*(F.per_block_cast_to_fp8(b[g]) for g in range(3)))
    c8 = m_grouped_fp8_gemm_nt_contiguous(aq, sa, torch.stack(bq), torch.stack(sb), mi)
    assert calc_diff(c8[rows], exact[rows]) < 1e-3
