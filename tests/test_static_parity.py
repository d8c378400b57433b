"""benchmarks/static_parity.py: one case compiled for sm_90a on both sides (tiledsl's default
schedule, the expert Triton kernel) gives every field of the table."""

from __future__ import annotations

import pytest

from tests.scripts import load_script

pytest.importorskip("triton")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _module():
    return load_script("benchmarks/static_parity.py")


def test_loop_counter_finds_the_innermost_mma_loop():
    sp = _module()
    sass = """
        /*0000*/ MOV R1, c[0x0][0x28] ;
.L_x_0:
        /*0010*/ IADD3 R2, R2, 0x1, RZ ;
.L_x_1:
        /*0020*/ HGMMA.64x128x16.F32.BF16 R24, gdesc[UR4], R24 ;
        /*0030*/ IADD3 R3, R3, 0x1, RZ ;
        /*0040*/ @P0 BRA `(.L_x_1) ;
        /*0050*/ @P1 BRA `(.L_x_0) ;
        /*0060*/ EXIT ;
"""
    assert sp.sass_loop_instrs(sass) == 3
    ptx = "$L__BB0_1:\n wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {...};\n add.s32 %r1, %r1, 1;\n" \
          " @%p1 bra $L__BB0_1;\n ret;\n"
    assert sp.ptx_loop_instrs(ptx) == 3
    assert sp.ptx_facts(ptx) == {"wgmma_count": 1, "wgmma_shape": "m64n128k16", "tma": False, "tma_store": False}
    load = " cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%r1], [%rd1, {%r2, %r3}], [%r4];\n"
    store = " cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%rd2, {%r5, %r6}], [%r7];\n"
    assert sp.ptx_facts(load) == {"wgmma_count": 0, "wgmma_shape": "-", "tma": True, "tma_store": False}
    assert sp.ptx_facts(load + store)["tma_store"]


@pytest.mark.slow  # two AOT compiles and ptxas: ~15-45 s on a shared CPU
def test_one_row_has_every_field():
    sp = _module()
    row = sp.compare("gemm_bf16_64x7168x2048")
    for side in ("tiledsl", "expert"):
        r = row[side]
        assert set(sp.FIELDS) <= set(r)
        if r["registers"] is None:
            pytest.skip("no ptxas statistics on this machine")
        assert r["registers"] > 0 and r["spill_stores"] == 0 and r["shared_bytes"] > 0 and r["tma"]
        assert r["loop_instrs"] and r["loop_instrs"] > 0
        assert r["tma_store"]  # both epilogues store through TMA
    assert row["expert"]["wgmma_shape"] == "m64n128k16" and row["expert"]["wgmma_count"] > 0
    assert row["ratio"]["registers"] == round(row["tiledsl"]["registers"] / row["expert"]["registers"], 3)
    text = sp.table([row])
    assert "gemm_bf16_64x7168x2048" in text and "ratio" in text and "loop_instrs" in text


@pytest.mark.slow  # the expert's AOT compile and ptxas (the tiledsl side is in test_kernels_mla)
def test_mla_expert_row_compiles_on_mma_sync():
    sp = _module()
    row = sp.expert_row("mla", (128, 128, 4096))
    assert set(sp.FIELDS) <= set(row)
    if row["registers"] is None:
        pytest.skip("no ptxas statistics on this machine")
    # SGLang's configuration: 16 heads x 32 keys per step on 4 warps, too few rows for wgmma
    assert row["tile"] == "16x32" and row["wgmma_count"] == 0 and row["spill_stores"] == 0
    assert row["loop_instrs"] and row["loop_spills"] == 0


def test_issue_per_mflop_counts_every_warp_of_the_program():
    """Per-warp loop instructions favour two-warp-group tiles 2x; issue slots do not."""
    sp = _module()
    one_group = sp.per_iteration({"loop_instrs": 100, "num_warps": 4}, "gemm", 64, 128, 128)
    two_groups = sp.per_iteration({"loop_instrs": 100, "num_warps": 8}, "gemm", 128, 128, 128)
    assert one_group["loop_per_mflop"] == 2 * two_groups["loop_per_mflop"]
    assert one_group["issue_per_mflop"] == two_groups["issue_per_mflop"] == round(400 / 2.097152, 3)
    assert sp.per_iteration({"loop_instrs": None, "num_warps": 4}, "gemm", 64, 128, 128)["issue_per_mflop"] is None
