"""Ahead-of-time compilation through Triton's compiler for sm_90 on a machine with no GPU."""

from __future__ import annotations

import pytest
from tiledsl.lowering.triton import BACKEND
from tiledsl.lowering.triton.aot import STAGES, signature

from tests.test_triton_fixtures import elementwise_ir, gemm_ir
from tiledsl.dtypes import DType
from tiledsl.specs import ScalarSpec, TensorSpec
from tiledsl.targets import get_target

H100 = get_target("h100")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _gemm_specs(m=4096, n=4096, k=4096, dt=DType.bf16):
    return (TensorSpec((m, k), dt), TensorSpec((k, n), dt), TensorSpec((m, n), dt))


def test_signature_follows_triton_specialisation():
    fn = gemm_ir(DType.bf16, bm=128, bn=128, bk=64)
    lowered = BACKEND.lower(fn, _gemm_specs(), H100)
    specs = (TensorSpec((100, 64), DType.bf16), TensorSpec((64, 128), DType.bf16, (1, 64)),
             TensorSpec((100, 128), DType.bf16))
    sig, consts, attrs = signature(lowered, specs)
    assert sig["a_ptr"] == "*bf16" and sig["a_size_0"] == "i32"
    assert sig["a_stride_1"] == "constexpr" and consts["a_stride_1"] == 1
    assert sig["b_stride_0"] == "constexpr" and sig["b_stride_1"] == "i32"  # b is column-major
    names = [n for n, _ in lowered.kernel_args]
    assert attrs[(names.index("a_size_1"),)] == [["tt.divisibility", 16]]
    assert (names.index("a_size_0"),) not in attrs  # 100 is not a multiple of 16
    assert sig["stages"] == "constexpr"


def test_bf16_gemm_128x128x64_for_sm90_uses_wgmma_without_spills():
    fn = gemm_ir(DType.bf16, bm=128, bn=128, bk=64, stages=3, warps=8, group_m=8)
    lowered = BACKEND.lower(fn, _gemm_specs(), H100)
    texts, report = BACKEND.compile(lowered, fn, _gemm_specs(), H100)
    assert tuple(texts) == STAGES
    assert "tt.dot" in texts["ttir"] and "warp_group_dot" in texts["ttgir"]
    assert "wgmma.mma_async" in texts["ptx"]
    assert report.arch == "sm_90a" and report.uses_wgmma
    assert report.registers is not None and 0 < report.registers <= 255
    assert report.spill_stores == 0 and report.spill_loads == 0
    assert report.shared_bytes and report.shared_bytes > 64 * 1024  # 3 stages of 128x64 + 64x128 bf16


@pytest.mark.slow
def test_elementwise_compiles_without_tensor_cores():
    fn = elementwise_ir(DType.f16)
    specs = (TensorSpec((512, 512), DType.f16),) * 3 + (ScalarSpec(DType.f32, 0.5),)
    texts, report = BACKEND.compile(BACKEND.lower(fn, specs, H100), fn, specs, H100)
    assert "ld.global" in texts["ptx"] and not report.uses_mma


def test_printed_stages_carry_no_absolute_paths():
    """The generated module lives in the cache directory and Triton's compile cache keeps the path
    of whichever process compiled a source first: printed stages keep only file names, so the same
    kernel prints the same text on every machine and checkout."""
    from tiledsl.settings import usable_cache_dir

    fn = elementwise_ir(DType.f16)
    specs = (TensorSpec((256, 256), DType.f16),) * 3 + (ScalarSpec(DType.f32, 0.5),)
    texts, _ = BACKEND.compile(BACKEND.lower(fn, specs, H100), fn, specs, H100)
    cache = str(usable_cache_dir("triton"))
    for stage, text in texts.items():
        assert cache not in text, stage
        assert '"/' not in text, (stage, text[text.index('"/') - 40:text.index('"/') + 80])
    assert 'loc("tdgen_' in texts["ttir"]
