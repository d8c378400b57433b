"""The TileLang side of the static parity table (benchmarks/static_parity_tilelang.py) and the
lowerings it checks, compile-only for sm_90a: the warp partition of a level-1 ``a @ b`` from its
tile's shape, the paged decode probe's K page at MLA sizes (one vectorised copy in its own layout,
used transposed by the gemm), and read-only scalars inside a pipelined loop that stay reads (not
lets), so the producer warps stage the copies before them."""

from __future__ import annotations

import re
import shutil

import pytest

from tests import kernels_for_tests as K
from tests.scripts import load_script
from tiledsl.dtypes import DType
from tiledsl.specs import TensorSpec as T

pytest.importorskip("tilelang")
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on the PATH")
bf16, i32, f32, e4m3 = DType.bf16, DType.i32, DType.f32, DType.f8e4m3
_WGMMA = re.compile(r"wgmma\.mma_async\.sync\.aligned\.(m\d+n\d+k\d+)")


def _fp8(**knobs):
    return K.fp8_gemm_nt.compile(T((512, 1024), e4m3), T((512, 8), f32), T((512, 1024), e4m3),
                                 T((4, 8), f32), T((512, 512), bf16), backend="tilelang", target="h100",
                                 **knobs)


def _pipelined_body(src: str) -> list[str]:
    lines = src.splitlines()
    start = next(i for i, ln in enumerate(lines) if "T.Pipelined(" in ln)
    depth = len(lines[start]) - len(lines[start].lstrip())
    body = []
    for ln in lines[start + 1:]:
        if ln.strip() and len(ln) - len(ln.lstrip()) <= depth:
            break
        body.append(ln.strip())
    return body


def test_read_only_scalar_in_a_pipelined_loop_is_read_where_used_not_let_bound():
    """The block's B scale (``sfb[j, k]``) was a let in the pipelined loop body; TileLang then
    kept the row scales' copy before it with the consumer warps (global loads in the wgmma loop,
    168 registers on the 4096x7168x2048 parity case, 145 without the let)."""
    src = _fp8(BM=128, BN=128, num_warps=8).code("tilelang")
    body = _pipelined_body(src)
    assert not any(re.match(r"\w+ = ", ln) for ln in body), body
    promote = next(ln for ln in body if ln.startswith("acc"))
    assert "sfb[" in promote


@pytest.mark.slow  # TileLang lowering: a few seconds
def test_row_scales_are_staged_by_the_producer_warps():
    cuda = _fp8(BM=128, BN=128, num_warps=8).code("cuda")
    assert re.search(r"\w+_producer_ws\[\w+\] = sfa\[", cuda)


def _paged_mla():
    """The paged decode probe at MLA widths (576-wide latent rows, the first 512 are V), pages of 64."""
    return K.paged_decode.compile(T((2, 64, 576), bf16), T((16, 64, 576), bf16), T((2, 8), i32), T((2,), i32),
                                  T((2, 64, 512), bf16), 0.07, D=576, DV=512, PAGE=64, backend="tilelang",
                                  target="h100")


def _tail(src: str) -> list[str]:
    """The peeled last page: the block after the pipelined loop (`lowering/tilelang/peel.py`)."""
    lines = src.splitlines()
    start = next(i for i, ln in enumerate(lines) if "T.floormod(n, 64) > 0" in ln)
    depth = len(lines[start]) - len(lines[start].lstrip())
    return [ln for ln in lines[start + 1:] if not ln.strip() or len(ln) - len(ln.lstrip()) > depth]


@pytest.mark.slow  # TileLang lowering of the MLA-sized probe: a few seconds
def test_paged_k_page_is_one_vectorised_copy_used_transposed_by_the_gemm():
    """The K page is copied once into shared memory in its own [PAGE, D] layout (a whole-page
    ``T.copy`` in the pipelined loop; 16 bytes a thread per access in the masked last page), and
    the scores' gemm takes it with transpose_B: no transposed copy, no element-by-element loop (it
    was 2,444 loop instructions on 4 threads)."""
    ck = _paged_mla()
    src = ck.code("tilelang")
    for part in (_pipelined_body(src), _tail(src)):
        qk = next(ln.strip() for ln in part if "T.gemm(" in ln)
        k_buf = qk.removeprefix("T.gemm(").split(",")[1].strip()
        assert "transpose_B=True" in qk
        assert f'{k_buf} = T.alloc_shared((64, 576), "bfloat16")' in src
        fill = [ln for ln in part if re.match(rf"\s*{k_buf}\[", ln) or f", {k_buf})" in ln]
        assert len(fill) == 1
    assert re.match(r"\s*T\.copy\(kv\[.*, 0:64, 0:576\], \w+\)$", [ln for ln in _pipelined_body(src) if "kv[" in ln][0])
    tail_fill = [ln for ln in _tail(src) if "kv[" in ln]
    assert len(tail_fill) == 1 and re.match(r"\s*(\w+)\[(i0\w*), (i1\w*)\] = .*kv\[blk\w*, \2, \3\]", tail_fill[0])
    cuda = ck.code("cuda")
    assert re.search(r"\*\(uint4\*\)\(kv \+", cuda)  # 8 bf16 per load (the last page)


@needs_nvcc
@pytest.mark.slow  # nvcc on the level-1 GEMM: ~5 s
def test_level1_skinny_matmul_takes_the_widest_wgmma_its_tile_allows():
    ck = K.matmul_l1.compile(T((64, 2048), bf16), T((2048, 7168), bf16), backend="tilelang", target="h100")
    src = ck.code("tilelang")
    bm, bn = (int(re.search(rf"{k}=(\d+)", src).group(1)) for k in ("BLOCK_M", "BLOCK_N"))
    warps = int(re.search(r"num_warps=(\d+)", src).group(1))
    groups_n = max(1, warps // 4) if bm < 128 else 1  # 64 rows: the warp groups split N
    assert set(_WGMMA.findall(ck.code("ptx"))) == {f"m64n{min(256, bn // groups_n)}k16"}
    assert ck.report.spill_stores == 0


def _parity():
    return load_script("benchmarks/static_parity_tilelang.py")


@needs_nvcc
@pytest.mark.slow  # two TileLang lowerings and nvcc: ~15 s on a shared CPU
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_parity_row_against_the_expert_tilelang_gemm():
    sp = _parity()
    row = sp.compare("gemm_bf16_4096^3")
    ours, expert = row["tiledsl"], row["expert"]
    for r in (ours, expert):
        assert r["registers"] and r["spill_stores"] == 0 and r["tma"] and r["loop_instrs"] > 0
    assert ours["wgmma_shape"] == expert["wgmma_shape"] == "m64n256k16"
    assert ours["tile"] == expert["tile"] == "128x256x64" and ours["stages"] == 4  # 3 and 4 tie; TileLang takes 4
    assert row["ratio"]["loop_per_mflop"] <= 1.1
    md = sp.markdown([row], "cmd")
    assert "| gemm_bf16_4096^3 tiledsl | 128x256x64 |" in md


@pytest.mark.slow  # TileLang lowering of the MLA-sized probe: a few seconds
def test_paged_v_is_the_leading_columns_of_the_k_page_not_a_second_copy():
    """V (the first 512 of the page's 576 columns, same rows and mask) is a region of the K page
    already in shared memory, as the expert's kernel reuses its KV page: one load of the page per
    step, not two (the second cost 121 of 1,141 loop instructions and 64 KB of shared memory)."""
    src = _paged_mla().code("tilelang")
    for part in (_pipelined_body(src), _tail(src)):
        loads = [ln.strip() for ln in part if "kv[" in ln]
        assert len(loads) == 1
        k_buf = loads[0].split("[")[0] if not loads[0].startswith("T.copy(") else loads[0].rsplit(", ", 1)[1][:-1]
        pv = [ln.strip() for ln in part if "T.gemm(" in ln][1]
        assert pv.startswith("T.gemm(p") and f", {k_buf}[0:64, 0:512], " in pv
    assert src.count("T.alloc_shared((64, 512)") == 0


@pytest.mark.parametrize("col_mask, loads", [(False, 1), (True, 2)])
def test_a_page_load_is_reused_only_with_the_same_rows_offsets_and_mask(col_mask, loads):
    """V masked by columns too (another mask) is its own load; with K's mask it is K's region."""
    two_loads = K.two_page_loads

    src = two_loads.compile(T((64, 128), bf16), T((64, 128), bf16), T((64, 64), f32), 40, COLS=int(col_mask),
                            backend="tilelang", target="h100").code("tilelang")
    assert len([ln for ln in src.splitlines() if re.search(r"= .*\bkv\[", ln)]) == loads
    pv = [ln.strip() for ln in src.splitlines() if "T.gemm(" in ln][1]
    assert ("[0:64, 0:64], " in pv) is (loads == 1)
