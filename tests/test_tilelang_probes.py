"""The language probes through the TileLang backend: each lowers to CUDA C for sm_90a and compiles
with nvcc without spills (no GPU needed); on a GPU they match torch. What the backend cannot
take fails at compile time with a clear error."""

from __future__ import annotations

import re
import shutil

import pytest
import torch

from tests import kernels_for_tests as K
from tiledsl.dtypes import DType
from tiledsl.errors import BackendError
from tiledsl.specs import TensorSpec as T

needs_nvcc = pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on the PATH")

CASES = K.HOPPER_CASES


@needs_nvcc
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(CASES) - {"dispatch"}))
def test_probe_compiles_for_hopper_without_spills(name):
    kernel, specs, kw = CASES[name]
    ck = kernel.compile(*specs, backend="tilelang", target="h100", **kw)
    r = ck.report
    assert r.arch == "sm_90a" and r.registers and r.spill_stores == 0 and r.spill_loads == 0
    # the pipelined operand tiles are TMA loads; the paged cache's full pages too (its masked last
    # page is peeled off the pipelined loop: lowering/tilelang/peel.py)
    assert r.uses_tma


@needs_nvcc
@pytest.mark.slow
def test_scalar_read_before_warp_specialised_branch_reaches_both_roles():
    """A scalar loaded before a branch around a pipelined loop is a let, computed before the
    producer/consumer split, not a local buffer that warp specialisation gives to one role."""
    kernel, specs, kw = CASES["grouped_gemm"]
    cuda = kernel.compile(*specs, backend="tilelang", target="h100", **kw).code("cuda")
    body = cuda[cuda.index("__launch_bounds__"):]
    read = re.search(r"int m\w* = masked_m\[", body)
    split = body.index("threadIdx.x) < 128")
    assert read and read.start() < split


DISPATCH_SPECS = CASES["dispatch"][1]


def test_scalar_atomic_is_issued_by_one_thread_and_its_old_value_shared():
    """TileLang runs a block-level scalar statement on every thread; a tile program's scalar
    atomic must happen once, and every thread must see the slot it returned. It is the program's
    acquire-release (docs/language.md "Memory order"): a barrier before it, acq_rel on it."""
    src = K.dispatch_rows.compile(*DISPATCH_SPECS, backend="tilelang", target="h100",
                                  H=1024).code("tilelang")
    lines = [ln.strip() for ln in src.splitlines()]
    i = lines.index("if tid == 0:")
    assert lines[i - 2] == "T.sync_threads()" and lines[i - 1] == "tid = T.get_thread_binding(0)"
    assert 'T.atomic_add(counters[e], 1, return_prev=True, memory_order="acq_rel")' in lines[i + 1]
    assert lines[i + 1].startswith("slot_old[0] = ")
    assert lines[i + 2] == "T.sync_threads()" and lines[i + 3] == "slot = slot_old[0]"


@needs_nvcc
@pytest.mark.slow
def test_dispatch_compiles_with_one_atomic_per_program():
    cuda = K.dispatch_rows.compile(*DISPATCH_SPECS, backend="tilelang", target="h100",
                                   H=1024).code("cuda")
    body = cuda[cuda.index("__launch_bounds__"):]
    assert body.count("AtomicAddRet(") == 1
    guard = body.index("threadIdx.x) == 0)")
    assert guard < body.index("AtomicAddRet(") < body.index("__syncthreads();", guard)


def test_tile_atomic_with_used_old_values_is_refused_with_a_hint():
    import tiledsl as td

    @td.kernel
    def tile_atomic_used(c: td.Tensor, out: td.Tensor):
        with td.grid(1):
            old = td.atomic_add(c, (0,), td.full((16,), 1, td.int32))
            td.store(out, (0,), old)

    with pytest.raises(BackendError, match="backend='triton'") as e:
        tile_atomic_used.compile(T((16,), DType.i32), T((16,), DType.i32), backend="tilelang",
                                 target="h100").code("tilelang")
    assert "test_tilelang_probes.py" in str(e.value) and "old values" in str(e.value)


@pytest.mark.gpu
def test_grouped_gemm_on_gpu_matches_torch():
    a = torch.randn(3, 64, 128, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(3, 64, 128, device="cuda", dtype=torch.bfloat16)
    masked = torch.tensor([64, 5, 0], device="cuda", dtype=torch.int32)
    c = torch.zeros(3, 64, 64, device="cuda", dtype=torch.bfloat16)
    K.grouped_gemm_masked(a, b, masked, c, backend="tilelang")
    for g in range(3):
        m = int(masked[g])
        ref = a[g, :m].float() @ b[g].float().T
        torch.testing.assert_close(c[g, :m].float(), ref, atol=0.5, rtol=2e-2)
        assert (c[g, m:] == 0).all()


@pytest.mark.gpu
def test_dispatch_on_gpu_places_every_copy():
    torch.manual_seed(0)
    T_, TOPK, E, H = 64, 4, 8, 256
    x = torch.randn(T_, H, device="cuda", dtype=torch.bfloat16)
    topk = torch.randint(-1, E, (T_, TOPK), dtype=torch.int32, device="cuda")
    counts = torch.stack([(topk == e).sum() for e in range(E)]).int()
    start = (torch.cumsum(counts, 0) - counts).int()
    counters = torch.zeros(E, dtype=torch.int32, device="cuda")
    out = torch.zeros(int(counts.sum()), H, device="cuda", dtype=torch.bfloat16)
    out_index = torch.full((T_, TOPK), -1, dtype=torch.int32, device="cuda")
    K.dispatch_rows(x, topk, start, counters, out, out_index, H=H, backend="tilelang")
    assert torch.equal(counters, counts)
    rows = out_index[topk >= 0].long()
    assert rows.unique().numel() == rows.numel()
    src = x.unsqueeze(1).expand(T_, TOPK, H)[topk >= 0]
    assert torch.equal(out[rows], src)
