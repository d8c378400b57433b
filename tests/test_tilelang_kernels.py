"""TileLang lowering of the reference kernels' hard parts, compile-only for Hopper (no GPU): chained
gemms (attention scores feeding a second gemm) with more than one warp group, NaN-propagating
max that TVM must not fold away, and the warp partition of a plain gemm."""

from __future__ import annotations

import re
import shutil

import pytest

from tests import kernels_for_tests as K
from tiledsl.dtypes import DType
from tiledsl.specs import TensorSpec as T

needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on the PATH")
bf16, i32 = DType.bf16, DType.i32


def _paged(num_warps: int, bh: int):
    return K.paged_decode.compile(T((4, 64, 128), bf16), T((64, 16, 128), bf16), T((4, 8), i32),
                                  T((4,), i32), T((4, 64, 128), bf16), 0.1, D=128, DV=128, BH=bh,
                                  num_warps=num_warps, backend="tilelang", target="h100")


def _gemm_lines(src: str) -> list[str]:
    """The scores' and the output's gemm of the pipelined loop (the peeled last page repeats them)."""
    lines = [ln.strip() for ln in src.splitlines() if "T.gemm(" in ln]
    assert len(lines) == 4 and lines[:2] != lines[2:]
    return lines[:2]


def test_scores_feeding_a_gemm_on_two_warp_groups_go_through_shared_memory():
    """64 rows cannot give each of 8 warps its own rows: both gemms split N (FullCol, every warp
    group holds every row) and the probabilities reach the second gemm through shared memory."""
    src = _paged(8, 64).code("tilelang")
    qk, pv = _gemm_lines(src)
    assert qk.endswith("policy=T.GemmWarpPolicy.FullCol)") and pv.endswith("policy=T.GemmWarpPolicy.FullCol)")
    a = pv.removeprefix("T.gemm(").split(",")[0]
    assert f'{a} = T.alloc_shared((64, 16), "bfloat16")' in src
    # the masked K page is loaded once into shared memory and used transposed by the gemm
    assert "transpose_B=True" in qk and "transpose" not in qk.split(",")[1]


def test_scores_feeding_a_gemm_stay_in_registers_when_rows_cover_the_warps():
    src = _paged(4, 64).code("tilelang")
    qk, pv = _gemm_lines(src)
    assert qk.endswith("policy=T.GemmWarpPolicy.FullRow)") and pv.endswith("policy=T.GemmWarpPolicy.FullRow)")
    a = pv.removeprefix("T.gemm(").split(",")[0]
    assert f'{a} = T.alloc_fragment((64, 16), "bfloat16")' in src


@needs_nvcc
@pytest.mark.parametrize("num_warps, bh", [(8, 64), (2, 16), (4, 64)])
def test_paged_decode_lowers_for_hopper_with_any_warp_count(num_warps, bh):
    """Was "Layout infer conflict between p and p_1" with 8 warps (BH=64) and 2 warps (BH=16)."""
    cuda = _paged(num_warps, bh).code("cuda")
    assert "__global__" in cuda
    assert ("wgmma" in cuda) is (num_warps % 4 == 0)


@needs_nvcc
def test_nan_checks_survive_tvm():
    """``x != x`` was folded to False by TVM's simplifier: the NaN-propagating max lost its NaN
    check in the CUDA code. The CUDA now compares each value with itself."""
    cuda = _paged(4, 64).code("cuda")
    assert re.search(r"\((\w+(?:\[[^\]]*\])?) != \1\)", cuda) or "isnan(" in cuda


@needs_nvcc
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_mla_split_pass_compiles_for_h100_with_wgmma_and_no_spills():
    from tiledsl.kernels import mla

    from tests.test_kernels_mla import _split_specs

    args, kw = _split_specs()
    ck = mla.mla_split_kv.compile(*args, backend="tilelang", target="h100", **kw)
    r = ck.report
    assert r.arch == "sm_90a" and r.uses_wgmma and r.registers
    assert r.spill_stores == 0 and r.spill_loads == 0
    shapes = set(re.findall(r"wgmma\.mma_async\.sync\.aligned\.(m\d+n\d+k\d+)", ck.code("ptx")))
    assert "m64n256k16" in shapes  # PV: each warp group takes 256 of the 512 value columns


@needs_nvcc
@pytest.mark.slow
def test_level1_matmul_uses_full_width_wgmma():
    """A 256x128 tile on two warp groups: FullRow gives each warp group 128x128 (m64n128), not
    TileLang's square split into 256x64 (m64n64)."""
    ck = K.matmul_l1.compile(T((4096, 4096), bf16), T((4096, 4096), bf16), backend="tilelang", target="h100")
    src = ck.code("tilelang")
    assert "policy=T.GemmWarpPolicy.FullRow" in src
    shapes = set(re.findall(r"wgmma\.mma_async\.sync\.aligned\.(m\d+n\d+k\d+)", ck.code("ptx")))
    bm, bn = (int(re.search(rf"{k}=(\d+)", src).group(1)) for k in ("BLOCK_M", "BLOCK_N"))
    assert shapes == {f"m64n{min(256, bn if bm >= 128 else bn // 2)}k16"}
