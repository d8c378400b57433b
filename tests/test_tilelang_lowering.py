"""TileLang backend: program text (golden, determinism, structure), errors, CPU refusal, and —
with nvcc — CUDA C compiled for sm_90a with its static report. GPU tests compare with torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # the hand-built IRs beside this file
from test_tilelang_irs import gemm_ir, softmax_ir, warp_rowsum_ir
from tiledsl.lowering.tilelang import BACKEND

from tiledsl.dtypes import DType
from tiledsl.errors import BackendError, CannotExecuteError, VerifyError
from tiledsl.ir import verify
from tiledsl.specs import TensorSpec
from tiledsl.targets import get_target

H100 = get_target("h100")
GOLDEN = Path(__file__).parent / "golden"
needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on the PATH")
gpu = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def gemm_specs(m=4096, n=4096, k=4096, dt=DType.bf16):
    return (TensorSpec((m, k), dt), TensorSpec((k, n), dt), TensorSpec((m, n), dt))


SOFTMAX_SPECS = (TensorSpec((1000, 200), DType.f32),) * 2
ROWSUM_SPECS = (TensorSpec((100, 1000), DType.f32), TensorSpec((100,), DType.f32))


# --- program text --------------------------------------------------------------------------------
@pytest.mark.parametrize("name, build, specs", [("gemm", gemm_ir, gemm_specs()),
                                                ("softmax", softmax_ir, SOFTMAX_SPECS)])
def test_golden_programs(name, build, specs):
    got = BACKEND.lower(build(), specs, H100).source
    assert got == (GOLDEN / f"tilelang_{name}.py").read_text(), f"regenerate tests/golden/tilelang_{name}.py if intended"


def test_lowering_is_deterministic():
    a = BACKEND.lower(gemm_ir(), gemm_specs(), H100).source
    b = BACKEND.lower(gemm_ir(), gemm_specs(), H100).source
    assert a == b


def test_gemm_program_structure():
    src = BACKEND.lower(gemm_ir(), gemm_specs(1000, 200, 100), H100).source
    assert "with T.Kernel(8, 2, threads=128) as (i, j):" in src  # ragged grid: cdiv folded from the specs
    assert "T.Pipelined(2, num_stages=3)" in src
    assert src.count("T.alloc_shared") == 2 and "T.gemm(a_tile, b_tile, acc_1)" in src
    assert "# src: kernels_by_hand.py:10" in src
    compile(src, "gemm.py", "exec")  # valid Python


def test_softmax_masks_ragged_columns_with_other():
    src = BACKEND.lower(softmax_ir(), SOFTMAX_SPECS, H100).source
    assert 'T.float32(-float("inf"))' in src and "i1 < 200" in src
    assert "T.reduce_max" in src and "T.reduce_sum" in src


def test_level3_program_uses_thread_constructs():
    src = BACKEND.lower(warp_rowsum_ir(), ROWSUM_SPECS, H100).source
    for piece in ("T.get_thread_binding(0)", "T.shfl_xor(", "T.sync_threads()", "T.alloc_local((1,)",
                  "T.alloc_shared((4,)"):
        assert piece in src, piece


def test_lowering_does_not_import_tilelang():
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            "from test_tilelang_irs import gemm_ir\n"
            "from tiledsl.lowering.tilelang import BACKEND\n"
            "from tiledsl.targets import get_target\n"
            "from tiledsl.specs import TensorSpec\nfrom tiledsl.dtypes import DType\n"
            "s = TensorSpec((256, 256), DType.f16)\n"
            "BACKEND.lower(gemm_ir(DType.f16), (s, s, s), get_target('h100'))\n"
            "print('tilelang' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- errors --------------------------------------------------------------------------------------
def test_cpu_tensors_refused_before_any_work():
    t0 = time.perf_counter()
    with pytest.raises(CannotExecuteError, match="backend='ir'.*backend='triton'"):
        BACKEND.check_executable([torch.zeros(2, 2)])
    with pytest.raises(CannotExecuteError, match="needs a CUDA GPU"):
        BACKEND.execute(None, None, [torch.zeros(2, 2), torch.zeros(2)])  # never touches the lowering
    assert time.perf_counter() - t0 < 0.5


def test_unscheduled_ir_is_rejected():
    fn = gemm_ir()
    from dataclasses import replace

    from tiledsl.ir import Knob
    auto = replace(fn, knobs=fn.knobs[:-1] + (Knob("num_warps", None),))
    with pytest.raises(VerifyError, match="still auto"):
        BACKEND.lower(auto, gemm_specs(), H100)


def test_non_contiguous_argument_is_a_clear_error():
    a, b, c = gemm_specs(256, 256, 256)
    bad = TensorSpec(a.shape, a.dtype, strides=(1, 256))
    with pytest.raises(BackendError, match="not contiguous"):
        BACKEND.lower(gemm_ir(), (bad, b, c), H100)


def test_threads_beyond_block_size_is_an_error():
    from dataclasses import replace

    from tiledsl.ir import Knob
    fn = warp_rowsum_ir(threads=128)
    fn = verify(replace(fn, knobs=(Knob("num_warps", 2),)), "tilelang")
    with pytest.raises(BackendError, match="num_warps=4"):
        BACKEND.lower(fn, ROWSUM_SPECS, H100)


# --- CUDA C and nvcc (compile-only: no GPU needed) -------------------------------------------------
@needs_nvcc
@pytest.mark.slow
@pytest.mark.parametrize("name, build, specs, tensor_cores", [
    ("gemm", gemm_ir, gemm_specs(), True),
    ("softmax", softmax_ir, SOFTMAX_SPECS, False),
    ("warp_rowsum", warp_rowsum_ir, ROWSUM_SPECS, False),
])
def test_compiles_for_hopper_without_spills(name, build, specs, tensor_cores):
    fn = build()
    lowered = BACKEND.lower(fn, specs, H100)
    stages, report = BACKEND.compile(lowered, fn, specs, H100)
    assert list(stages) == ["cuda", "ptx"] and "__global__" in stages["cuda"]
    assert report.arch == "sm_90a"
    assert report.spill_stores == 0 and report.spill_loads == 0
    assert report.registers and report.registers <= 255
    assert report.uses_wgmma is tensor_cores and report.uses_tma is tensor_cores
    if tensor_cores:  # 3 stages of 128x64 + 64x128 bf16 tiles
        assert report.shared_bytes >= 3 * 2 * 128 * 64 * 2
    if name == "softmax":  # a reciprocal per row, no IEEE division per element (division.py)
        assert "div.rn.f32" not in stages["ptx"] and "rcp.rn.f32" in stages["ptx"]


# --- GPU ---------------------------------------------------------------------------------------------
def _run(fn, args):
    specs = tuple(TensorSpec(tuple(a.shape), DType.bf16 if a.dtype == torch.bfloat16 else DType.f32,
                             device="cuda") for a in args)
    BACKEND.execute(BACKEND.lower(fn, specs, H100), fn, list(args))


@gpu
@needs_cuda
@pytest.mark.parametrize("m, n, k", [(512, 512, 512), (1000, 200, 100)])
def test_gemm_matches_torch(m, n, k):
    a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
    c = torch.empty(m, n, device="cuda", dtype=torch.bfloat16)
    _run(gemm_ir(), (a, b, c))
    torch.testing.assert_close(c.float(), (a.float() @ b.float()), rtol=2e-2, atol=1e-1)


@gpu
@needs_cuda
def test_softmax_matches_torch():
    x = torch.randn(1000, 200, device="cuda")
    y = torch.empty_like(x)
    _run(softmax_ir(), (x, y))
    torch.testing.assert_close(y, torch.softmax(x, -1))


@gpu
@needs_cuda
def test_warp_rowsum_matches_torch():
    x = torch.randn(100, 1000, device="cuda")
    y = torch.zeros(100, device="cuda")
    _run(warp_rowsum_ir(), (x, y))
    torch.testing.assert_close(y, x.sum(-1), rtol=1e-4, atol=1e-3)



