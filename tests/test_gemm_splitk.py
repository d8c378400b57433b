"""Split-K in the reference GEMM (`kernels/gemm.py` `gemm_splitk_kernel`): each of SPLIT_K programs
per output tile stores its fp32 partial sum in a workspace and counts itself; the last to count
sums the partials in split order and rounds once into the output (the same bits whichever split
is last, no pass around the kernel); SPLIT_K = 1 is the plain kernel; the cost model walks only
the branch the split factor decides and prices the last split's branch once per tile."""

from __future__ import annotations

import importlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tiledsl as td
from tiledsl.dtypes import DType
from tiledsl.schedule.analysis import analyze, tensor_sizes
from tiledsl.schedule.cost import _wave_extent
from tiledsl.specs import TensorSpec as T

G = importlib.import_module("tiledsl.kernels.gemm")
S = importlib.import_module("tiledsl.kernels._split")


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
    assert G.split_k(a, b, torch.empty(64, 128, dtype=torch.float16))[0] > 1
    out = G.gemm(a, b, backend="ir")
    torch.testing.assert_close(out.float(), _ref(a, b, torch.float16).float(), rtol=1e-2, atol=5e-2)


def _split_args(m, n, k, dtype=torch.bfloat16, depth=4):
    meta = [torch.empty(*sh, dtype=dtype, device="meta") for sh in ((m, k), (k, n), (m, n))]
    return (*meta, torch.empty(depth, m, n, dtype=torch.float32, device="meta"),
            torch.empty(1024, dtype=torch.int32, device="meta"))


def test_split_k_one_is_the_plain_kernel():
    """SPLIT_K = 1: the split axis's program id and its arithmetic fold away, so the K loop reads
    its tiles at kk * BK as the kernel without the axis did, and the workspace and counters are
    never touched."""
    code = G.gemm_splitk_kernel.compile(*_split_args(256, 256, 512), BM=128, BN=128, BK=64, SPLIT_K=1,
                                        backend="triton", target="h100").code("triton")
    loop = code[code.index("for kk in"):code.index("acc_1 = acc_2")]
    assert "s * " not in loop and "kk * 64" in loop, loop
    body = code[code.index("def gemm_splitk_kernel_kernel("):code.index("def launch(")]
    assert "atomic" not in body and "ws_ptr +" not in body


def test_split_reduction_is_ordered_by_the_counter():
    """The GPU code of a split: the partial sum stored, a block barrier, then one acq_rel atomic at
    GPU scope on the tile's counter (the language's memory order: the program's stores before its
    scalar atomic), and the partials read only in the branch the last split takes."""
    ck = G.gemm_splitk_kernel.compile(*_split_args(64, 256, 4096), BM=64, BN=128, BK=64, SPLIT_K=4,
                                      backend="triton", target="h100")
    code = ck.code("triton")
    body = code[code.index("def gemm_splitk_kernel_kernel("):code.index("def launch(")]
    store, barrier = body.index("tl.store(ws_ptr"), body.index("tl.debug_barrier()")
    atomic = body.index('tl.atomic_add(counts_ptr')
    assert store < barrier < atomic
    assert 'sem="acq_rel", scope="gpu"' in body[atomic:body.index("\n", atomic)]
    assert body.index("tl.load(ws_ptr") > body.index("if eq", atomic)


@pytest.mark.nvcc
def test_split_reduction_ptx_releases_after_a_barrier():
    """In the PTX: every thread's workspace stores, `bar.sync`, the counter's
    `atom.global.gpu.acq_rel.add` from one thread, and a barrier before any thread uses its result."""
    ptx = G.gemm_splitk_kernel.compile(*_split_args(64, 256, 4096), BM=64, BN=128, BK=64, SPLIT_K=4,
                                       backend="triton", target="h100").code("ptx")
    lines = [ln.strip() for ln in ptx.splitlines()]
    at = next(i for i, ln in enumerate(lines) if "atom.global.gpu.acq_rel.add" in ln)
    before = [ln for ln in lines[:at] if ln.startswith(("bar.sync", "st.global", "@"))]
    assert any(ln.startswith("bar.sync") for ln in before[-4:]), before[-8:]
    assert any(ln.startswith("bar.sync") for ln in lines[at:at + 8])


def test_split_counters_are_left_zero_and_reused():
    """A split launch leaves the stream's counters zero (each tile's last split resets its own),
    so the next launch, of any size, starts from zero with no fill."""
    g = torch.Generator().manual_seed(3)
    a = torch.randn(40, 900, generator=g).half()
    b = torch.randn(900, 70, generator=g).half()
    for split in (2, 3, 4):
        out = G.gemm(a, b, backend="ir", SPLIT_K=split, BM=16, BN=32, BK=16)
        torch.testing.assert_close(out.float(), _ref(a, b, torch.float16).float(), rtol=1e-2, atol=4e-2)
        counters = S.tile_counters(8, torch.device("cpu"))
        assert counters.data_ptr() == S.tile_counters(1, torch.device("cpu")).data_ptr()
        assert int(S._COUNTERS[("cpu", 0)].abs().sum()) == 0


def test_split_result_does_not_depend_on_which_split_is_last():
    """The last split sums the partials in split order, reading its own back from the workspace:
    the same bits as summing them in that order by hand, whichever program counts last."""
    g = torch.Generator().manual_seed(4)
    a = torch.randn(16, 384, generator=g)
    b = torch.randn(384, 32, generator=g)
    out = G.gemm(a, b, backend="ir", SPLIT_K=3, BM=16, BN=32, BK=32)
    parts = [G.gemm(a[:, i * 128:(i + 1) * 128].contiguous(), b[i * 128:(i + 1) * 128].contiguous(),
                    backend="ir", SPLIT_K=1, BM=16, BN=32, BK=32) for i in range(3)]
    assert torch.equal(out, (parts[0] + parts[1]) + parts[2])
    torch.testing.assert_close(out, a @ b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("split,store,ws_reads", [(1, 1, 0), (4, 4, 4)])
def test_cost_model_walks_the_branch_the_split_decides(split, store, ws_reads):
    """SPLIT_K = 1 walks the plain store alone; a split walks the workspace store, the counter and
    the last split's branch, whose reads of the partials count once per tile (1/SPLIT_K of a
    program each), with one handoff (the counter's round trip) on each program's path."""
    specs = tuple(T(tuple(t.shape), d) for t, d in zip(_split_args(128, 2112, 7168, depth=16),
                                                       (DType.bf16, DType.bf16, DType.bf16, DType.f32, DType.i32)))
    fn = G.gemm_splitk_kernel.ir(*specs, SPLIT_K=td.auto)
    a = analyze(fn, tensor_sizes(fn, specs), {"BM": 64, "BN": 128, "BK": 128, "SPLIT_K": split})
    ws = [x for x in a.accesses if x.tensor == "ws"]
    c = [x for x in a.accesses if x.tensor == "c"]
    assert len([x for x in ws if x.store]) == (split > 1)
    assert sum(x.count for x in ws if not x.store) == pytest.approx(ws_reads / split if split > 1 else 0)
    assert sum(x.count for x in c) == pytest.approx(1 if split == 1 else 1 / split)
    assert a.handoffs == (1 if split > 1 else 0)
    assert a.grid == (2, 17, split) and a.dot_iters == -(-56 // split)


def test_split_tiles_reuse_the_accumulators_registers():
    """The last split's tiles come after the accumulator's last read: the register model counts
    them instead of it, not on top (64x128 on 4 warps: ~160 registers, ptxas gives the expert's
    split kernel 90; 224 would have kept one program per SM)."""
    specs = tuple(T(tuple(t.shape), d) for t, d in zip(_split_args(128, 2112, 7168, depth=16),
                                                       (DType.bf16, DType.bf16, DType.bf16, DType.f32, DType.i32)))
    fn = G.gemm_splitk_kernel.ir(*specs, SPLIT_K=td.auto)
    values = {"BM": 64, "BN": 128, "BK": 128, "SPLIT_K": 3, "num_warps": 4}
    a = analyze(fn, tensor_sizes(fn, specs), values)
    assert a.carried_words == 64 * 128 and a.late_carried_words == 64 * 128
    assert any(a.tile_late) and not any(w for w, late in zip(a.tile_words, a.tile_late) if not late)
    from tiledsl.schedule.cost import registers
    from tiledsl.targets import get_target
    assert registers(a, values, get_target("h100")) == 32 + 2 * 64


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
    s = G.gemm_splitk_kernel.compile(*_split_args(512, 512, 512), SPLIT_K=4, backend="ir", target="h100").schedule
    assert "GROUP_M" not in s.as_dict()
    from tests.test_kernels_mla import _split_specs, mla

    args, kw = _split_specs()
    assert "GROUP_M" not in mla.mla_split_kv.compile(*args, backend="ir", target="h100", **kw).schedule.as_dict()


@settings(max_examples=12)
@given(m=st.integers(1, 40), n=st.integers(1, 40), k=st.integers(1, 300), split=st.integers(1, 5),
       out=st.sampled_from([torch.float16, torch.float32]), seed=st.integers(0, 2**16))
def test_split_k_property_against_torch(m, n, k, split, out, seed):
    """Any shape, ragged in M, N and K (splits past K's end included), any split: the interpreter
    of the scheduled IR gives torch's fp32 product rounded once, and the counters end at zero."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(m, k, generator=g).half()
    b = torch.randn(k, n, generator=g).half()
    got = G.gemm(a, b, out_dtype=out, backend="ir", SPLIT_K=split, BM=16, BN=16, BK=16)
    torch.testing.assert_close(got.float(), _ref(a, b, out).float(), rtol=1e-2, atol=2e-2)
    S.tile_counters(1, torch.device("cpu"))
    assert int(S._COUNTERS[("cpu", 0)].abs().sum()) == 0


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["triton", "tilelang"])
@pytest.mark.parametrize("m,n,k,split", [(16, 4096, 4096, 4), (128, 2112, 7168, 3), (37, 300, 5000, 16)])
def test_split_on_gpu_is_right_and_the_same_bits_every_run(backend, m, n, k, split):
    """On the GPU the splits finish in any order: the result is torch's and bitwise the same over
    repeated launches (the last split sums the partials in split order), and the counters are
    zero again after each launch, also when two streams launch at once."""
    g = torch.Generator().manual_seed(m + n + k)
    a = torch.randn(m, k, generator=g).bfloat16().cuda()
    b = torch.randn(k, n, generator=g).bfloat16().cuda()
    first = G.gemm(a, b, backend=backend, SPLIT_K=split)
    torch.testing.assert_close(first.float(), _ref(a.cpu(), b.cpu(), torch.bfloat16).float().cuda(),
                               rtol=2e-2, atol=5e-2)
    for _ in range(20):
        assert torch.equal(G.gemm(a, b, backend=backend, SPLIT_K=split), first)
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        other = G.gemm(a, b, backend=backend, SPLIT_K=split)
    again = G.gemm(a, b, backend=backend, SPLIT_K=split)
    torch.cuda.synchronize()
    assert torch.equal(other, first) and torch.equal(again, first)
    assert all(int(buf.abs().sum()) == 0 for buf in S._COUNTERS.values())


# --- FP8 block-scaled GEMM: the same epilogue (`kernels/_split.py`) over its 128-wide K blocks ---
F = importlib.import_module("tiledsl.kernels.fp8")


def _fp8_operands(m, n, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(m, k, generator=g), torch.randn(n, k, generator=g)
    return F.per_token_cast_to_fp8_ref(a), F.per_block_cast_to_fp8_ref(b)


@pytest.mark.parametrize("backend", ["ir", "triton"])
@pytest.mark.parametrize("m,n,k,split", [(20, 70, 640, 2), (64, 128, 384, 4), (9, 33, 1000, 3)])
def test_fp8_split_k_matches_the_reference(backend, m, n, k, split):
    """Ragged M, N and K (a last K block of 104 columns), a split past K's end (3 blocks, 4
    splits): the dequantized product rounded once, as the plain kernel gives it, and the counters
    end at zero."""
    (aq, sa), (bq, sb) = _fp8_operands(m, n, k, seed=m + n)
    out = F.fp8_gemm_nt(aq, sa, bq, sb, out_dtype=torch.float32, backend=backend, SPLIT_K=split, BM=16, BN=32)
    ref = F.fp8_gemm_nt_ref(aq, sa, bq, sb, torch.float32)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-3)
    plain = F.fp8_gemm_nt(aq, sa, bq, sb, out_dtype=torch.float32, backend=backend, SPLIT_K=1, BM=16, BN=32)
    torch.testing.assert_close(out, plain, rtol=1e-5, atol=1e-4)
    S.tile_counters(1, torch.device("cpu"))
    assert int(S._COUNTERS[("cpu", 0)].abs().sum()) == 0


def test_fp8_launch_splits_few_tiles_over_a_long_k():
    """DeepSeek's 128x2112x7168 (34 tiles of 64x128 on 132 SMs) is split; 4096x7168x2048 and
    128x7168x2048 (enough tiles) keep the plain kernel."""
    e4, f32, bf = torch.float8_e4m3fn, torch.float32, torch.bfloat16

    def launch(m, n, k):
        meta = lambda *s, dtype: torch.empty(*s, dtype=dtype, device="meta")  # noqa: E731
        return F.fp8_gemm_nt_launch(meta(m, k, dtype=e4), meta(m, -(-k // 128), dtype=f32), meta(n, k, dtype=e4),
                                    meta(-(-n // 128), -(-k // 128), dtype=f32), meta(m, n, dtype=bf))

    split = launch(128, 2112, 7168)
    assert split.kernel is F.fp8_gemm_nt_splitk_kernel and split.knobs["SPLIT_K"] > 1
    assert split.args[5].shape == (split.knobs["SPLIT_K"], 128, 2112)
    for shape in ((4096, 7168, 2048), (128, 7168, 2048)):
        assert launch(*shape).kernel is F.fp8_gemm_nt_kernel


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["triton", "tilelang"])
def test_fp8_split_on_gpu_is_the_same_bits_every_run(backend):
    (aq, sa), (bq, sb) = _fp8_operands(128, 2112, 7168, seed=5)
    aq, sa, bq, sb = aq.cuda(), sa.cuda(), bq.cuda(), sb.cuda()
    first = F.fp8_gemm_nt(aq, sa, bq, sb, backend=backend, SPLIT_K=3)
    ref = F.fp8_gemm_nt_ref(aq, sa, bq, sb, torch.float32)
    assert F.calc_diff(first.float(), ref) < 1e-5
    for _ in range(20):
        assert torch.equal(F.fp8_gemm_nt(aq, sa, bq, sb, backend=backend, SPLIT_K=3), first)


@pytest.mark.parametrize("bad", [0, -2, 2.5])
def test_a_bad_split_factor_is_refused_by_both_wrappers(bad):
    from tiledsl.errors import ArgumentError

    a, b = torch.ones(8, 256).half(), torch.ones(256, 8).half()
    with pytest.raises(ArgumentError, match="SPLIT_K must be an int of at least 1"):
        G.gemm(a, b, backend="ir", SPLIT_K=bad)
    (aq, sa), (bq, sb) = _fp8_operands(8, 8, 256)
    with pytest.raises(ArgumentError, match="SPLIT_K must be an int of at least 1"):
        F.fp8_gemm_nt(aq, sa, bq, sb, backend="ir", SPLIT_K=bad)


@td.kernel
def _per_thread_counts(counts: td.Tensor):
    with td.grid(4):
        with td.threads(32) as tid:
            td.atomic_add(counts, (tid,), 1)


def test_only_a_tile_programs_scalar_atomic_is_a_handoff():
    """A tile program's scalar atomic (the dispatch's slot counter) puts a barrier, a release and
    a round trip on the program's path; a thread's own atomic inside `td.threads` does not."""
    from tests.kernels_for_tests import HOPPER_CASES, dispatch_rows

    specs = HOPPER_CASES["dispatch"][1]
    fn = dispatch_rows.ir(*specs, H=1024)
    assert analyze(fn, tensor_sizes(fn, specs), {}).handoffs > 0
    specs = (T((32,), DType.i32),)
    fn = _per_thread_counts.ir(*specs)
    assert analyze(fn, tensor_sizes(fn, specs), {"num_warps": 1}).handoffs == 0
