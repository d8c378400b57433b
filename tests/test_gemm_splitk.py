"""Split-K in the reference GEMM (`kernels/gemm.py`): partial sums of SPLIT_K programs per output
tile added atomically into an fp32 workspace, rounded once into the output; SPLIT_K = 1 is the
plain kernel; the cost model walks only the branch the split factor decides."""

from __future__ import annotations

import importlib

import pytest
import torch

import tiledsl as td
from tiledsl.dtypes import DType
from tiledsl.errors import KernelTypeError
from tiledsl.schedule.analysis import analyze, tensor_sizes
from tiledsl.schedule.cost import _wave_extent
from tiledsl.specs import TensorSpec as T

G = importlib.import_module("tiledsl.kernels.gemm")


def _ref(a, b, dtype):
    return (a.double() @ b.double()).to(dtype)


# K not a multiple of SPLIT_K * BK (ragged last tile, a split with fewer tiles), a split past K's
# end (K = 40, BK = 16, 4 splits: 3 tiles), ragged M and N; fp16 (bf16 is not exact in Triton's
# interpreter) and fp32 outputs
@pytest.mark.parametrize("backend", ["ir", "triton"])
@pytest.mark.parametrize("m,n,k,split", [(37, 45, 300, 3), (5, 17, 1000, 4), (70, 33, 129, 16), (9, 20, 40, 4)])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_split_k_matches_torch(backend, m, n, k, split, dtype):
    g = torch.Generator().manual_seed(m * 1000 + k)
    a = torch.randn(m, k, generator=g).to(dtype)
    b = torch.randn(k, n, generator=g).to(dtype)
    out = G.gemm(a, b, backend=backend, SPLIT_K=split, BK=16)
    assert out.dtype == dtype and out.shape == (m, n)
    tol = 1e-2 if dtype == torch.float16 else 1e-4
    torch.testing.assert_close(out.float(), _ref(a, b, dtype).float(), rtol=tol, atol=tol * 4)


def test_scheduler_splits_a_long_k_and_the_result_is_right():
    """Left to the scheduler, a 64x128 output over K = 8192 is split (a few tiles on a machine of
    132 SMs), and the wrapper's workspace and rounding give torch's product."""
    g = torch.Generator().manual_seed(1)
    a = torch.randn(64, 8192, generator=g).half()
    b = torch.randn(8192, 128, generator=g).half()
    assert G.split_k(a, b, torch.empty(64, 128, dtype=torch.float16)) > 1
    out = G.gemm(a, b, backend="ir")
    torch.testing.assert_close(out.float(), _ref(a, b, torch.float16).float(), rtol=1e-2, atol=5e-2)


def test_split_k_one_is_the_plain_kernel():
    """SPLIT_K = 1: the split axis's program id and its arithmetic fold away, so the K loop reads
    its tiles at kk * BK as the kernel without the axis did."""
    meta = [torch.empty(*s, dtype=torch.bfloat16, device="meta") for s in ((256, 512), (512, 256), (256, 256))]
    code = G.gemm_kernel.compile(*meta, BM=128, BN=128, BK=64, backend="triton", target="h100").code("triton")
    loop = code[code.index("for kk in"):code.index("acc_1 = acc_2")]
    assert "s * " not in loop and "kk * 64" in loop, loop


def test_split_k_into_a_16_bit_output_is_refused():
    """The kernel's atomic epilogue takes only an fp32 workspace: a bf16 c with a split is a
    compile-time error at the atomic's line, not a sum of rounded partial sums."""
    meta = [torch.empty(*s, dtype=torch.bfloat16, device="meta") for s in ((64, 512), (512, 64), (64, 64))]
    with pytest.raises(KernelTypeError, match="atomic_add of f32 into a bf16"):
        G.gemm_kernel.compile(*meta, SPLIT_K=2, backend="ir", target="h100")


@pytest.mark.parametrize("split,store,atomic", [(1, 1, 0), (4, 0, 1)])
def test_cost_model_walks_the_branch_the_split_decides(split, store, atomic):
    specs = (T((128, 7168), DType.bf16), T((7168, 2112), DType.bf16), T((128, 2112), DType.f32))
    fn = G.gemm_kernel.ir(*specs, SPLIT_K=td.auto)
    a = analyze(fn, tensor_sizes(fn, specs), {"BM": 64, "BN": 128, "BK": 128, "SPLIT_K": split})
    c_writes = [x for x in a.accesses if x.store]
    assert len(c_writes) == store + atomic
    # an atomic add reads and writes its window: twice the bytes of the plain store
    assert c_writes[0].bytes == 64 * 128 * 4 * (2 if atomic else 1)
    assert a.grid == (2, 17, split) and a.dot_iters == -(-56 // split)


def test_grouped_wave_goes_on_along_the_split_axis():
    """A wave larger than the (M, N) plane of a grouped launch covers several splits: the DRAM
    model counted one before, so split points read their operands for free."""
    assert _wave_extent((2, 17, 3), 8, 132) == (2, 17, 3)
    assert _wave_extent((2, 17, 3), 8, 34) == (2, 17, 1)
    assert _wave_extent((2, 17), 8, 132) == (2, 17)


def test_grouped_launch_order_for_the_plain_kernel_only():
    """SPLIT_K = 1: the third grid axis is one program, so the tiles get a grouped launch order (a
    GROUP_M knob) as the 2-D kernel's did. A split grid keeps its order (its tiles are few; the
    knob doubled the search), and so does MLA's split pass, whose third axis is a tensor's size
    (grouping it cost 80 spilled registers on sm_90a)."""
    meta = [torch.empty(*s, dtype=torch.bfloat16, device="meta") for s in ((8192, 512), (512, 8192), (8192, 8192))]
    assert "GROUP_M" in G.gemm_kernel.compile(*meta, backend="ir", target="h100").schedule.as_dict()
    ws = torch.empty(512, 512, dtype=torch.float32, device="meta")
    s = G.gemm_kernel.compile(meta[0][:512], meta[1][:, :512], ws, SPLIT_K=4, backend="ir", target="h100").schedule
    assert "GROUP_M" not in s.as_dict()
    from tests.test_kernels_mla import _split_specs, mla

    args, kw = _split_specs()
    assert "GROUP_M" not in mla.mla_split_kv.compile(*args, backend="ir", target="h100", **kw).schedule.as_dict()
