"""The `tiledsl` command line, driven through its entry point (click's CliRunner, one subprocess)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from tiledsl.kernels import registry

from tiledsl._cli.resolve import parse_arg
from tiledsl.cli import main
from tiledsl.dtypes import DType
from tiledsl.specs import ScalarSpec, TensorSpec

ROOT = Path(__file__).resolve().parents[1]
TRITON_STAGES = ("python", "ir", "scheduled", "triton", "ttir", "ttgir", "llir", "ptx")
GPU = torch.cuda.is_available()


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def one_error_line(result) -> str:
    """The run failed with one line on stderr and no traceback."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


# --- argument specs -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, want", [
    ("f16[4096,4096]", (None, TensorSpec((4096, 4096), DType.f16))),
    ("bf16[M=128,K=7168]", (None, TensorSpec((128, 7168), DType.bf16))),
    ("fp8[64, 256]", (None, TensorSpec((64, 256), DType.f8e4m3))),
    ("i32", (None, ScalarSpec(DType.i32))),
    ("i32=7", (None, ScalarSpec(DType.i32, 7))),
    ("BM=128", ("BM", 128)),
    ("b=f32[3]", ("b", TensorSpec((3,), DType.f32))),
])
def test_parse_arg(text, want):
    assert parse_arg(text) == want


# --- version, list ------------------------------------------------------------------------------


def test_version():
    r = cli("--version")
    assert r.exit_code == 0 and r.output.startswith("tiledsl 0.1.0 (torch ")


def test_list_names_kernels_and_targets():
    r = cli("list")
    assert r.exit_code == 0
    for name in ("gemm", "fp8_gemm_nt", "m_grouped_fp8_gemm_nt_masked", "mla_decode", "h100", "h200", "a100"):
        assert name in r.output
    assert "sm_90a" in r.output


# --- dump ---------------------------------------------------------------------------------------


def _sections(text: str) -> dict[str, str]:
    out, name = {}, None
    for line in text.splitlines():
        if line.startswith("==== ") and line.endswith(" ===="):
            name = line[5:-5]
            out[name] = ""
        elif name is not None:
            out[name] += line + "\n"
    return out


def test_dump_every_triton_stage_of_the_gemm_with_report():
    r = cli("dump", "gemm", "--all", "--report", "--gpu", "h100")
    assert r.exit_code == 0, r.output
    secs = _sections(r.output)
    assert tuple(secs) == TRITON_STAGES
    # the registry's first shape (128x2112x7168: 34 output tiles over K = 7168) is what the wrapper
    # splits over K: dump shows the kernel the wrapper launches
    assert "def gemm_splitk_kernel" in secs["python"] and "SPLIT_K=3" in secs["triton"]
    assert "@triton.jit" in secs["triton"]
    assert "tt.func" in secs["ttir"] and "ttg." in secs["ttgir"]
    assert "define" in secs["llir"] and ".target sm_90a" in secs["ptx"]
    assert "registers:" in r.output and "estimate:" in r.output and "of the roofline" in r.output
    assert "\x1b[" not in r.output  # not a terminal: plain text


@pytest.mark.slow
def test_dump_every_tilelang_stage_of_the_gemm():
    stages = cli("dump", "gemm", "-b", "tilelang", "--list-stages").output.split()
    assert stages[:5] == ["python", "ir", "scheduled", "tilelang", "cuda"]
    r = cli("dump", "gemm", "-b", "tilelang", "--all")
    assert r.exit_code == 0, r.output
    secs = _sections(r.output)
    assert list(secs) == stages
    assert "T.prim_func" in secs["tilelang"] or "@T." in secs["tilelang"]
    assert "__global__" in secs["cuda"]


def test_dump_module_target_with_arg_specs_and_constexpr():
    r = cli("dump", "tiledsl.kernels.gemm:gemm_kernel", "-a", "bf16[M=128,K=512]", "-a", "bf16[512,256]",
            "-a", "bf16[128,256]", "-a", "BM=64", "-b", "ir", "--stage", "scheduled", "--report")
    assert r.exit_code == 0, r.output
    assert "schedule:        BM=64 " in r.output
    assert "estimate:" in r.output


def test_dump_file_target():
    path = str(ROOT / "tests" / "kernels_for_tests.py")
    r = cli("dump", f"{path}:matmul_l1", "-a", "f32[64,32]", "-a", "f32[32,48]", "-b", "ir", "-s", "ir")
    assert r.exit_code == 0, r.output
    assert "matmul_l1" in r.output


def test_dump_highlights_on_request():
    r = cli("dump", "gemm", "-b", "ir", "-s", "python", "--color")
    assert r.exit_code == 0 and "\x1b[" in r.output


@pytest.mark.parametrize("args, says", [
    (("dump", "nosuchkernel"), "unknown kernel 'nosuchkernel'"),
    (("dump", "gemm", "-s", "ptx", "-b", "ir"), "no stage 'ptx'"),
    (("dump", "tiledsl.kernels.gemm:gemm_kernel", "-a", "q16[3,3]"), "unknown dtype 'q16'"),
    (("dump", "tiledsl.kernels.gemm:gemm_kernel", "-a", "f16[3,x]"), "bad size"),
    (("dump", "tiledsl.kernels.gemm:gemm_kernel", "-a", "what?"), "cannot read --arg"),
    (("dump", "tiledsl.kernels.gemm:gemm_kernel"), "needs example arguments"),
    (("dump", "tiledsl.kernels.gemm:gemm", "-a", "f16[3,3]"), "not a @td.kernel"),
    (("dump", "no/such/file.py:k", "-a", "f16[3]"), "no file"),
    (("dump", "no_such_module_xyz:k", "-a", "f16[3]"), "cannot import module"),
    (("dump", "tiledsl.kernels.gemm:gemm_kernel", "-a", "f16[4,8]"), "missing argument"),
    (("dump", "gemm", "--gpu", "z80"), "unknown target 'z80'"),
    (("check", "nosuchkernel"), "unknown kernel"),
    (("bench", "nosuchkernel"), "unknown kernel"),
])
def test_bad_input_is_one_line_and_nonzero(args, says):
    assert says in one_error_line(cli(*args))


BAD_KERNEL = """import tiledsl as td


@td.kernel
def bad(x: td.Tensor) -> td.Tensor:
    return td.dot(x, x[:, :3])
"""


def test_kernel_error_is_one_line_with_location(tmp_path):
    # the kernel's own TiledslError: message, kernel file:line and hint, all on one line
    path = tmp_path / "bad_kernel.py"
    path.write_text(BAD_KERNEL)
    line = one_error_line(cli("dump", f"{path}:bad", "-a", "f32[8,8]", "-b", "ir", "-s", "ir"))
    assert "bad_kernel.py:6" in line


# --- check --------------------------------------------------------------------------------------


def test_check_passes_on_the_gemm():
    r = cli("check", "gemm", "-b", "ir", "-b", "eager")
    assert r.exit_code == 0, r.output
    assert "gemm" in r.output and "2 passed, 0 failed" in r.output


def test_check_fails_on_a_wrong_result(monkeypatch):
    entry = registry.REGISTRY["gemm"]
    wrong = dataclasses.replace(entry, call=lambda mod, t, be: mod.gemm(t["a"], t["b"], backend=be) + 1)
    monkeypatch.setitem(registry.REGISTRY, "gemm", wrong)
    r = cli("check", "gemm", "-b", "ir")
    assert r.exit_code == 1
    assert "FAIL" in r.output and "0 passed, 1 failed" in r.output


def test_check_reports_a_crashing_kernel(monkeypatch):
    entry = registry.REGISTRY["gemm"]

    def boom(mod, t, be):
        raise RuntimeError("kaput")

    monkeypatch.setitem(registry.REGISTRY, "gemm", dataclasses.replace(entry, call=boom))
    r = cli("check", "gemm", "-b", "ir")
    assert r.exit_code == 1 and "FAIL RuntimeError: kaput" in r.output


# --- bench --------------------------------------------------------------------------------------


def test_bench_on_cpu_writes_json(tmp_path):
    out, png = tmp_path / "b.json", tmp_path / "b.png"
    r = cli("bench", "gemm", "--quick", "--repeat", "1", "--json", str(out), "--plot", str(png))
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert res["mode"] == ("timed" if GPU else "static")
    (case,) = res["cases"]
    assert case["kernel"] == "gemm" and case["shape"] == registry.REGISTRY["gemm"].bench[0]
    assert case["flops"] == 2.0 * case["shape"]["M"] * case["shape"]["N"] * case["shape"]["K"]
    if not GPU:
        assert case["est_time_us"] > 0 and 0 < case["fraction_of_roofline"] <= 1
        assert case["registers"] > 0 and case["tma"] in (True, False)
        (comp,) = res["compile"]
        for stage in ("frontend_ms", "schedule_ms", "codegen_ms", "backend_compile_ms"):
            cold, warm = comp[stage]
            assert cold > 0 and warm > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # matplotlib is in the test extras
    assert f"wrote {png} (roofline: 1 case; compiler speed: 1 kernel)" in r.output
    assert "(ms, cold/warm)" in r.output and "of roofline" in r.output


def test_bench_without_matplotlib_says_so(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out, png = tmp_path / "b.json", tmp_path / "b.png"
    r = cli("bench", "gemm", "--quick", "--no-stages", "--json", str(out), "--plot", str(png))
    assert r.exit_code == 0, r.output
    assert "--plot needs matplotlib" in r.output and not png.exists() and out.exists()


def test_bench_numbers_are_rounded_for_people():
    from tiledsl._cli.bench import format_case, format_compile, rounded

    assert [rounded(v) for v in (1346.94, 523.04, 25.71, 1.456, 0.9, 10.0)] == \
        ["1347", "523", "25.7", "1.46", "0.9", "10"]
    row = {"case": "gemm M=1", "kernel": "gemm", "memory_bound": False, "est_time_us": 3678.84,
           "est_tflops": 523.0412, "est_gbps": 1.0, "fraction_of_roofline": 0.5289, "est_bound": "compute",
           "registers": 58, "shared_bytes": 30720}
    line = format_case(row)
    assert "est 3.68 ms  523 TFLOP/s  53% of roofline (compute-bound)  regs 58 smem 30 KiB" in line
    comp = format_compile({"kernel": "gemm", "frontend_ms": [25.713, 1.4567], "schedule_ms": [337.8, 286.71]})
    assert "frontend 25.7/1.46  schedule 338/287  (ms, cold/warm)" in comp


# --- GPU-only actions on a machine without one ----------------------------------------------------


@pytest.mark.skipif(GPU, reason="checks the no-GPU message")
def test_autotune_without_gpu_exits_2():
    r = cli("autotune", "gemm")
    assert r.exit_code == 2
    assert "needs a CUDA GPU" in one_error_line(r)


@pytest.mark.skipif(GPU, reason="checks the no-GPU message")
def test_demo_tilelang_without_gpu_is_one_line():
    r = cli("demo", "--backend", "tilelang")
    assert r.exit_code == 2
    assert "CUDA GPU" in one_error_line(r)
    assert "tilelang needs a CUDA GPU" in " ".join(cli("demo", "--help").output.split())


# --- the installed entry point --------------------------------------------------------------------


def test_python_m_tiledsl_smoke(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_DEFAULT_FP_FUSION"}
    env["TILEDSL_CACHE_DIR"] = str(tmp_path)
    p = subprocess.run([sys.executable, "-m", "tiledsl", "dump", "gemm", "-s", "ttir"], capture_output=True,
                       text=True, cwd=ROOT, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "tt.func" in p.stdout and "\x1b[" not in p.stdout
    assert "FP_FUSION" not in p.stderr  # the AOT compile sets enable_fp_fusion explicitly


def test_demo_runs_and_shows_the_hopper_side():
    r = cli("demo", "--backend", "ir")
    assert r.exit_code == 0, r.output
    assert "all results match torch" in r.output and "BAD" not in r.output
    assert "compiled for h100: gemm 4096x4096x4096 bfloat16" in r.output
    assert "stages: python ir scheduled triton ttir ttgir llir ptx" in r.output
    assert "registers:" in r.output and "estimate:" in r.output
