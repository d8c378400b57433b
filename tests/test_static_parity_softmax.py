"""benchmarks/static_parity.py's softmax rows: a loopless kernel is measured whole (SASS up to its
last EXIT, padding left out) and per KB of rows moved; tiledsl's default schedule takes the expert's
warps and registers."""

from __future__ import annotations

import pytest

from tests.scripts import load_script


def _module():
    return load_script("benchmarks/static_parity.py")


def test_kernel_count_stops_at_exit_and_skips_padding():
    sp = _module()
    sass = """
        /*0000*/                   LDC R1, c[0x0][0x28] ;
        /*0010*/                   LDG.E.128 R4, desc[UR4][R2.64] ;
        /*0020*/                   NOP;
        /*0030*/                   STG.E.128 desc[UR4][R2.64], R4 ;
        /*0040*/                   EXIT ;
.L_x_0:
        /*0050*/                   BRA `(.L_x_0);
        /*0060*/                   NOP;
"""
    assert sp.sass_kernel_instrs(sass) == 4


def test_per_byte_counts_warp_instructions_per_kb_moved():
    sp = _module()
    # 500 instructions on 8 warps for one bf16 row of 8192 (16 KB read + 16 KB written)
    row = {"loop_instrs": 500, "num_warps": 8}
    assert sp.per_byte(row, 1, 8192, 2) == {"loop_per_mflop": None, "issue_per_mflop": None,
                                            "loop_per_kb": 125.0}
    assert sp.per_byte({"loop_instrs": None, "num_warps": 8}, 1, 8192, 2)["loop_per_kb"] is None


@pytest.mark.slow  # two AOT compiles and ptxas: ~5-20 s on a shared CPU (fp32: test_schedule_softmax)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bf16_softmax_row_matches_the_experts_warps():
    pytest.importorskip("triton")
    sp = _module()
    row = sp.compare("softmax_8192^2_bf16")
    ours, expert = row["tiledsl"], row["expert"]
    assert ours["tile"] == expert["tile"] == "1x8192" and ours["num_warps"] == expert["num_warps"] == 8
    if ours["registers"] is None:
        pytest.skip("no ptxas statistics on this machine")
    assert ours["spill_stores"] == 0 and ours["registers"] <= 1.1 * expert["registers"]
    assert ours["loop_source"] == "sass kernel" and ours["loop_per_kb"] > 0
