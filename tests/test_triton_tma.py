"""TMA descriptors in the Triton backend: which loads qualify, the generated TMA kernel and its
launcher check, execution of the TMA kernel in Triton's interpreter (zero fill at ragged edges,
3-D descriptors with a dropped axis), the fallback to the pointer kernel, and the ahead-of-time
report for Hopper."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiledsl.lowering.triton import BACKEND
from tiledsl.lowering.triton import tma as tma_mod
from tiledsl.lowering.triton.loader import interpreting, load_module
from tiledsl.lowering.triton.module import generate

import tiledsl as td
from tests.kernels_for_tests import HOPPER_CASES, check_gemm_on_gpu, fp8_gemm_nt, grouped_gemm_masked, softmax
from tests.test_triton_fixtures import gemm_ir
from tiledsl.demo import matmul
from tiledsl.dtypes import DType
from tiledsl.passes import analyses
from tiledsl.specs import TensorSpec
from tiledsl.targets import get_target

H100 = get_target("h100")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _tma_source(src: str) -> str:
    return src.split("_kernel_tma(")[1].split("@triton.jit")[0]


def test_gemm_gets_a_tma_kernel_that_loads_pipelined_tiles_through_descriptors():
    mod = generate(gemm_ir(DType.bf16, bm=64, bn=64, bk=32, stages=3))
    assert mod.tma_entry == "matmul_kernel_tma"
    body = _tma_source(mod.source)
    assert "a_tile = a_desc.load([off_m, off_k])" in body
    assert "b_tile = b_desc.load([off_k, off_n])" in body
    assert "c_desc.store([off_m, off_n], c_tile)" in body  # the epilogue stores through TMA
    assert "tl.store(" not in body and "mask" not in body
    assert "_ptr" not in body  # unused pointers are not passed
    launch = mod.source.split("def launch(")[1]
    assert "a_desc = TensorDescriptor(a, a.shape, a.stride(), [64, 32])" in launch
    assert "c_desc = TensorDescriptor(c, c.shape, c.stride(), [64, 64])" in launch
    assert "a.stride(0) % 8 == 0" in launch and "a.data_ptr() % 16 == 0" in launch
    assert "c.stride(0) % 8 == 0" in launch and "c.data_ptr() % 16 == 0" in launch
    assert "else:\n        matmul_kernel[grid](" in launch
    descs = [info for _, info in mod.tma_kernel_args if info[0] == "desc"]
    assert descs == [("desc", 0, (64, 32)), ("desc", 1, (32, 64)), ("desc", 2, (64, 64))]
    pointer = mod.source.split("def matmul_kernel(")[1].split("def launch(")[0]
    assert "tl.store(c_ptr" in pointer and "desc" not in pointer  # the fallback stays pointer-based
    compile(mod.source, "<gen>", "exec")


def test_no_tma_kernel_off_hopper_when_disabled_or_outside_pipelined_loops():
    fn = gemm_ir(DType.f16, stages=2)
    assert generate(fn, "a100").tma_entry is None  # Ampere has no TMA
    assert generate(fn, "h100", tma=False).tma_entry is None
    assert "TensorDescriptor" not in generate(fn, "h100", tma=False).source
    sm = softmax.compile(TensorSpec((64, 512), DType.f32), backend="triton", target="h100")
    assert "_kernel_tma" not in sm.code("triton")  # row loads are not in a pipelined loop


def test_qualification_rules():
    # inner block dim under 16 bytes: 4 f16 columns are 8 bytes
    assert generate(gemm_ir(DType.f16, bm=16, bn=4, bk=4)).tma_entry is None
    # fp8 block-scaled GEMM: the fp8 operands qualify, the per-row scales (last-axis offset k is
    # not a multiple of 16 bytes) and the scalar block scale do not
    ck = fp8_gemm_nt.compile(TensorSpec((256, 512), DType.f8e4m3), TensorSpec((256, 4), DType.f32),
                             TensorSpec((256, 512), DType.f8e4m3), TensorSpec((2, 4), DType.f32),
                             TensorSpec((256, 256), DType.bf16), backend="triton", target="h100")
    body = _tma_source(ck.code("triton"))
    assert "at = a_desc.load(" in body and "bt = b_desc.load(" in body
    assert "sa = tl.load(" in body and "sb = tl.load(" in body


def test_divisors_follow_integer_arithmetic():
    fn = gemm_ir(DType.f16, bm=64, bn=32, bk=16)
    divs = analyses.divisors(fn)
    names = {v: d for v, d in divs.items()}
    assert names["off_m"] == 64 and names["off_n"] == 32 and names["off_k"] == 16


def _counting_launch(lowered):
    """The interpreter launcher, with its module's TensorDescriptor counting constructions."""
    mod = load_module(lowered.interpret_source, interpret=True)
    made = []
    real = mod.TensorDescriptor

    def spy(*args):
        made.append(args[3])
        return real(*args)

    mod.TensorDescriptor = spy
    return mod, made, real


@pytest.mark.parametrize("dt", [DType.f32, DType.f16, DType.bf16])
@pytest.mark.parametrize("mnk", [(77, 40, 136), (16, 24, 40)])
def test_tma_kernel_runs_in_interpreter_and_zero_fills_ragged_edges(dt, mnk):
    m, n, k = mnk
    g = torch.Generator().manual_seed(1)
    a = torch.randn(m, k, generator=g).to(dt.to_torch())
    b = torch.randn(k, n, generator=g).to(dt.to_torch())
    fn = gemm_ir(dt, bm=32, bn=16, bk=32, stages=2)
    lowered = BACKEND.lower(fn, (), H100)
    mod, made, real = _counting_launch(lowered)
    c = torch.full((m, n), float("nan"), dtype=dt.to_torch())
    try:
        with interpreting():
            mod.launch(a, b, c)
    finally:
        mod.TensorDescriptor = real
    assert made == [[32, 32], [32, 16], [32, 16]], "the TMA kernel did not run"
    ref = a.float() @ b.float()
    tol = {DType.f32: 1e-4, DType.f16: 1e-2, DType.bf16: 2e-2}[dt] * ref.abs().max().item()
    assert torch.isfinite(c.float()).all()
    assert (c.float() - ref).abs().max().item() <= tol


def test_unaligned_strides_take_the_pointer_kernel():
    a = torch.randn(40, 45, dtype=torch.float16)  # row stride 45 halves = 90 bytes
    b = torch.randn(45, 32, dtype=torch.float16)
    offset = torch.randn(33 * 64 + 1, dtype=torch.float16)[1:1 + 32 * 64].view(32, 64)  # base + 2 B
    fn = gemm_ir(DType.f16, bm=16, bn=16, bk=16)
    lowered = BACKEND.lower(fn, (), H100)
    mod, made, real = _counting_launch(lowered)
    try:
        for x, y in ((a, b), (offset, torch.randn(64, 16, dtype=torch.float16))):
            c = torch.empty(x.shape[0], y.shape[1], dtype=torch.float16)
            with interpreting():
                mod.launch(x, y, c)
            torch.testing.assert_close(c.float(), x.float() @ y.float(), atol=2e-2, rtol=1e-2)
    finally:
        mod.TensorDescriptor = real
    assert made == []


def test_three_d_descriptor_with_dropped_axis_in_grouped_gemm():
    g = torch.Generator().manual_seed(2)
    G, M, N, K = 3, 40, 32, 48
    a = torch.randn(G, M, K, generator=g).half()
    b = torch.randn(G, N, K, generator=g).half()
    masked = torch.tensor([40, 7, 0], dtype=torch.int32)
    c = torch.zeros(G, M, N, dtype=torch.float16)
    ck = grouped_gemm_masked.compile(a, b, masked, c, backend="triton", target="h100", BM=16, BN=16,
                                     BK=16)
    body = _tma_source(ck.code("triton"))
    assert "tl.reshape(a_desc.load([g, " in body
    grouped_gemm_masked(a, b, masked, c, backend="triton", BM=16, BN=16, BK=16)
    for gi in range(G):
        rows = int(masked[gi])
        ref = a[gi, :rows].float() @ b[gi].float().T
        torch.testing.assert_close(c[gi, :rows].float(), ref, atol=2e-2, rtol=1e-2)
        assert (c[gi, rows:] == 0).all()


def test_runtime_call_goes_through_tma_kernel_on_aligned_tensors():
    a = torch.randn(96, 64, dtype=torch.float16)
    b = torch.randn(64, 80, dtype=torch.float16)
    c = torch.empty(96, 80, dtype=torch.float16)
    matmul(a, b, c, backend="triton")
    torch.testing.assert_close(c.float(), a.float() @ b.float(), atol=2e-2, rtol=1e-2)


def test_aot_gemm_4096_bf16_uses_tma_and_wgmma_without_spills():
    s = TensorSpec((4096, 4096), DType.bf16)
    ck = matmul.compile(s, s, s, backend="triton", target="h100")
    r = ck.report
    assert r.uses_tma and r.uses_wgmma
    assert r.spill_stores == 0 and r.spill_loads == 0
    assert r.shared_bytes <= H100.smem_per_block
    assert any("TMA kernel" in n for n in r.notes)
    assert "async_tma_copy_global_to_local" in ck.code("ttgir")
    assert "cp.async.bulk.tensor" in ck.code("ptx")
    # the epilogue: a bulk tensor store from shared memory, in the buffer the scheduler budgeted
    assert "async_tma_copy_local_to_global" in ck.code("ttgir")
    assert re.search(r"cp\.async\.bulk\.tensor\.2d\.global\.shared", ck.code("ptx"))
    assert 0 <= r.shared_bytes - ck.scheduled.estimate.smem_bytes <= 64  # + Triton's barriers


@pytest.mark.slow
def test_aot_with_unaligned_rows_compiles_the_pointer_kernel():
    a = TensorSpec((512, 4100), DType.bf16)  # 8200-byte rows: not a multiple of 16 bytes
    b = TensorSpec((4100, 512), DType.bf16)
    c = TensorSpec((512, 512), DType.bf16)
    ck = matmul.compile(a, b, c, backend="triton", target="h100")
    r = ck.report
    assert not r.uses_tma
    assert any("pointer kernel" in n and "16 bytes" in n for n in r.notes)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOPPER_CASES))
def test_probes_compile_for_hopper_without_spills(name):
    """Every probe compiles ahead of time for sm_90a; the pipelined GEMM-like ones take TMA."""
    kernel, specs, kw = HOPPER_CASES[name]
    r = kernel.compile(*specs, backend="triton", target="h100", **kw).report
    assert r.arch == "sm_90a" and r.registers and r.spill_stores == 0 and r.spill_loads == 0
    # paged_decode: its page loop is pipelined, so its epilogue store goes through TMA (its masked
    # page loads stay pointer loads)
    assert r.uses_tma is (name in ("grouped_gemm", "fp8_gemm_nt", "splitk", "paged_decode"))


@pytest.mark.gpu
def test_tma_gemm_on_gpu_matches_torch():
    check_gemm_on_gpu(matmul, 1000, 1000, 4096, "triton")


def _with_facts(fn, **facts):
    return dataclasses.replace(fn, attrs=tuple((k, facts.get(k, v)) for k, v in fn.attrs))


def test_the_tma_plan_is_a_fact_of_the_scheduled_ir_that_the_codegen_reads():
    """The target-independent part of the plan (pipelined, read-only, unmasked static windows and
    their last-axis alignment; epilogue stores) is the ``tma`` and ``tma_store`` attributes of the
    scheduled IR, shown by its dump; the Triton codegen narrows them by TMA's limits and reads
    nothing else."""
    specs = (TensorSpec((256, 128), DType.bf16), TensorSpec((128, 256), DType.bf16),
             TensorSpec((256, 256), DType.bf16))
    ck = matmul.compile(*specs, backend="triton", target="h100")
    head = ck.code("scheduled").splitlines()[0]
    facts = dict(ck.fn.attr("tma"))
    stores = dict(ck.fn.attr("tma_store"))
    assert set(facts) == {"a_tile", "b_tile"} and 'tma=(("a_tile", ' in head
    assert set(stores) == {"store 0"} and 'tma_store=(("store 0", ' in head
    assert all(a % 16 == 0 for a in (*facts.values(), *stores.values()))
    bare = dataclasses.replace(ck.fn, attrs=tuple((k, v) for k, v in ck.fn.attrs
                                                  if k not in ("tma", "tma_store")))
    assert analyses.tma_candidates(bare) == facts  # computed the same way when absent
    assert analyses.tma_store_candidates(bare) == stores
    assert len(tma_mod.plan(ck.fn, {k.name: k.value for k in ck.fn.knobs})) == 3
    assert generate(ck.fn).tma_entry is not None
    # the codegen takes the IR's word: no candidates, no TMA kernel; an unaligned one is refused
    assert generate(_with_facts(ck.fn, tma=(), tma_store=())).tma_entry is None
    odd = _with_facts(ck.fn, tma=tuple((n, 8) for n in facts), tma_store=(("store 0", 8),))
    assert generate(odd).tma_entry is None
    # loads alone, or the store alone, through descriptors
    loads_only = _tma_source(generate(_with_facts(ck.fn, tma_store=())).source)
    assert "a_desc.load(" in loads_only and "tl.store(c_ptr" in loads_only
    store_only = _tma_source(generate(_with_facts(ck.fn, tma=())).source)
    assert "tl.load(a_ptr" in store_only and "c_desc.store(" in store_only


# --- epilogue stores through descriptors -----------------------------------------------------------

@td.kernel
def bmm(a: td.Tensor, b: td.Tensor, c: td.Tensor,
        BM: td.constexpr = 16, BN: td.constexpr = 16, BK: td.constexpr = 16):
    """c[g] = a[g] @ b[g]: a 3-D epilogue store with a dropped axis."""
    G, M, K = a.shape
    N = b.shape[2]
    with td.grid(G, td.cdiv(M, BM), td.cdiv(N, BN)) as (g, i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(K, BK), stages=2):
            acc += td.dot(td.load(a, (g, i * BM, k * BK), (None, BM, BK)),
                          td.load(b, (g, k * BK, j * BN), (None, BK, BN)))
        td.store(c, (g, i * BM, j * BN), acc.to(c.dtype))


@td.kernel
def gemm_plus_c(a: td.Tensor, b: td.Tensor, c: td.Tensor, BM: td.constexpr = 32, BN: td.constexpr = 32,
                BK: td.constexpr = 32):
    """c = a @ b + c: the epilogue reads the tensor it stores (a generic-proxy read beside an
    async-proxy write), so the store stays pointer-based."""
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(K, BK), stages=2):
            acc += td.dot(td.load(a, (i * BM, k * BK), (BM, BK)), td.load(b, (k * BK, j * BN), (BK, BN)))
        td.store(c, (i * BM, j * BN), (acc + td.load(c, (i * BM, j * BN), (BM, BN))).to(c.dtype))


@td.kernel
def store_per_step(a: td.Tensor, c: td.Tensor, BM: td.constexpr = 32, BK: td.constexpr = 32):
    """Running row sums of K blocks, stored inside the pipelined loop: not an epilogue."""
    M, K = a.shape
    with td.grid(td.cdiv(M, BM)) as i:
        acc = td.zeros((BM, BK), td.float32)
        for k in td.pipelined(td.cdiv(K, BK), stages=2):
            acc += td.load(a, (i * BM, k * BK), (BM, BK)).to(td.float32)
            td.store(c, (i * BM, k * BK), acc.to(c.dtype))


@td.kernel
def scale2d(x: td.Tensor, y: td.Tensor, BM: td.constexpr = 32, BN: td.constexpr = 32):
    """An elementwise tile store with no pipelined loop before it."""
    with td.grid(td.cdiv(x.shape[0], BM), td.cdiv(x.shape[1], BN)) as (i, j):
        td.store(y, (i * BM, j * BN), td.load(x, (i * BM, j * BN), (BM, BN)) * 2.0)


@td.kernel
def column_sums(a: td.Tensor, out: td.Tensor, BN: td.constexpr = 32, BK: td.constexpr = 32):
    """Sums of a's columns into row 0 of out: a row epilogue, which stays pointer-based."""
    K, N = a.shape
    with td.grid(td.cdiv(N, BN)) as j:
        acc = td.zeros((BN,), td.float32)
        for k in td.pipelined(td.cdiv(K, BK), stages=2):
            acc += td.sum(td.load(a, (k * BK, j * BN), (BK, BN)).to(td.float32), axis=0)
        td.store(out, (0, j * BN), acc.to(out.dtype))


def test_gemm_epilogue_stores_through_a_descriptor_on_h100_and_not_without_tma():
    """The parity GEMM (kernels/gemm.py): `c_desc.store` in the TMA kernel on Hopper; Ampere and
    Ada (no TMA) get the pointer kernel alone."""
    from tiledsl.kernels.gemm import gemm_launch

    def meta(*s):
        return torch.empty(*s, dtype=torch.bfloat16, device="meta")

    launch = gemm_launch(meta(512, 256), meta(256, 512), meta(512, 512), BM=128, BN=256, BK=64)
    body = _tma_source(launch.compile("triton", "h100").code("triton"))
    assert re.search(r"c_desc\.store\(\[mul_\d+, mul_\d+\], acc_\w+\)", body) and "tl.store(" not in body
    for target in ("a100", "l40s"):
        src = launch.compile("triton", target).code("triton")
        assert "_kernel_tma" not in src and "desc" not in src and "tl.store(c_ptr" in src


@pytest.mark.parametrize("kernel", [gemm_plus_c, store_per_step, scale2d, column_sums])
def test_stores_that_are_no_tma_epilogue_stay_pointer_based(kernel):
    x = TensorSpec((128, 128), DType.f16)
    specs = {gemm_plus_c: (x, x, x), column_sums: (x, TensorSpec((1, 128), DType.f16))}.get(kernel, (x, x))
    ck = kernel.compile(*specs, backend="triton", target="h100")
    assert ck.fn.attr("tma_store") == ()
    assert "desc.store(" not in ck.code("triton")
    assert re.search(r"tl\.store\((c|y|out)_ptr", ck.code("triton"))


def test_masked_epilogue_store_stays_pointer_based():
    kernel, specs, kw = HOPPER_CASES["grouped_gemm"]
    ck = kernel.compile(*specs, backend="triton", target="h100", **kw)
    assert ck.fn.attr("tma_store") == () and "desc.store(" not in ck.code("triton")


def _framed(m: int, n: int, dt: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """A NaN buffer and an (m, n) view inside it with a frame of rows above and below and columns
    to the right; the view's base and row stride are multiples of 16 bytes (TMA takes it)."""
    pad = -(-(n + 16) // 8) * 8
    buf = torch.full((m + 3, pad), float("nan"), dtype=dt)
    return buf, buf[1:1 + m, :n]


def _frame_untouched(buf: torch.Tensor, m: int, n: int) -> bool:
    return bool(buf[0].isnan().all() and buf[1 + m:].isnan().all() and buf[:, n:].isnan().all())


@pytest.mark.parametrize("dt", [DType.f16, DType.bf16, DType.f32])
@pytest.mark.parametrize("mnk", [(77, 40, 136), (16, 24, 40), (33, 8, 16)])
def test_tma_store_clips_ragged_edges_in_interpreter(dt, mnk):
    """Triton's interpreter runs `desc.store` as a store masked to the tensor's bounds, as TMA
    drops the part of a box outside the tensor: the last row and column tiles overhang the view
    and nothing outside it is written."""
    m, n, k = mnk
    g = torch.Generator().manual_seed(3)
    a = torch.randn(m, k, generator=g).to(dt.to_torch())
    b = torch.randn(k, n, generator=g).to(dt.to_torch())
    lowered = BACKEND.lower(gemm_ir(dt, bm=32, bn=16, bk=16, stages=2), (), H100)
    assert "c_desc.store(" in lowered.interpret_source
    mod, made, real = _counting_launch(lowered)
    buf, c = _framed(m, n, dt.to_torch())
    try:
        with interpreting():
            mod.launch(a, b, c)
    finally:
        mod.TensorDescriptor = real
    assert made == [[32, 16], [16, 16], [32, 16]], "the TMA kernel did not run"
    assert _frame_untouched(buf, m, n)
    ref = (a.float() @ b.float()).to(dt.to_torch()).float()
    tol = {DType.f32: 1e-4, DType.f16: 1e-2, DType.bf16: 2e-2}[dt] * ref.abs().max().item()
    assert torch.isfinite(c.float()).all() and (c.float() - ref).abs().max().item() <= tol


@pytest.mark.parametrize("c_view", ["row_stride", "base"])
def test_output_that_fails_the_check_takes_the_pointer_kernel(c_view):
    """a and b pass the launcher's check, c does not (a 90-byte row stride, or a base 2 bytes off
    16): the whole call takes the pointer kernel, with correct results and nothing written
    outside c."""
    m, n, k = 40, 40, 32
    g = torch.Generator().manual_seed(4)
    a = torch.randn(m, k, generator=g).half()
    b = torch.randn(k, n, generator=g).half()
    if c_view == "base":  # row stride 48 halves, base 2 bytes past a 16-byte boundary
        c = torch.empty(m * 48 + 1, dtype=torch.float16)[1:].view(m, 48)[:, :n]
    else:  # row stride 45 halves = 90 bytes
        c = torch.empty(m, 45, dtype=torch.float16)[:, :n]
    lowered = BACKEND.lower(gemm_ir(DType.f16, bm=16, bn=16, bk=16, stages=2), (), H100)
    mod, made, real = _counting_launch(lowered)
    try:
        with interpreting():
            mod.launch(a, b, c)
    finally:
        mod.TensorDescriptor = real
    assert made == []
    torch.testing.assert_close(c.float(), (a.float() @ b.float()), atol=2e-2, rtol=1e-2)
    c_spec = TensorSpec(tuple(c.shape), DType.f16, strides=tuple(c.stride()))
    if c_view == "row_stride":  # ahead of time, the same choice from the specs
        from tiledsl.lowering.triton.aot import pick_kernel

        s = TensorSpec((m, k), DType.f16), TensorSpec((k, n), DType.f16)
        entry, why, _ = pick_kernel(lowered, (*s, c_spec))
        assert entry == "matmul_kernel" and "argument 2" in why and "16 bytes" in why


def test_three_d_epilogue_store_with_dropped_axis_runs_in_interpreter():
    g = torch.Generator().manual_seed(5)
    G, M, N, K = 2, 40, 24, 48
    a = torch.randn(G, M, K, generator=g).half()
    b = torch.randn(G, K, N, generator=g).half()
    c = torch.full((G, M, N), float("nan"), dtype=torch.float16)
    src = bmm.compile(a, b, c, backend="triton", target="h100").code("triton")
    assert "c_desc.store([g, mul_4, mul_5], tl.reshape(acc_3_1, (1, 16, 16)))" in _tma_source(src)
    bmm(a, b, c, backend="triton")
    torch.testing.assert_close(c.float(), a.float() @ b.float(), atol=2e-2, rtol=1e-2)


def _smem(fn, tma_store: bool) -> int:
    from tiledsl.schedule.analysis import analyze, tensor_sizes

    s = TensorSpec((4096, 4096), DType.bf16)
    return analyze(fn, tensor_sizes(fn, (s, s, s)), {"stages": 2, "num_warps": 8}, tma_store).smem


def test_scheduler_budgets_the_store_staging_buffer_where_the_backend_stores_through_tma():
    """The staging buffer of a TMA epilogue store (the tile in c's dtype) is live after the K
    loop, whose buffers are dead by then: Triton's allocator overlaps them, so a program needs the
    larger of the two (checked against Triton in the ahead-of-time test below)."""
    from tiledsl.capabilities import ANY, TILELANG, TRITON
    from tiledsl.schedule.analysis import analyze, tensor_sizes
    from tiledsl.schedule.cost import limits
    from tiledsl.schedule.space import stores_through_tma

    shallow = gemm_ir(DType.bf16, bm=128, bn=256, bk=16, stages=2, warps=8)
    assert _smem(shallow, False) == 2 * (128 * 16 + 16 * 256) * 2  # the pipeline's 24 KB
    assert _smem(shallow, True) == 128 * 256 * 2  # the 64 KB tile outweighs it
    deep = gemm_ir(DType.bf16, bm=128, bn=256, bk=64, stages=2, warps=8)
    assert _smem(deep, True) == _smem(deep, False) == 2 * (128 * 64 + 64 * 256) * 2
    assert stores_through_tma(H100, TRITON) and stores_through_tma(H100, ANY)
    assert not stores_through_tma(get_target("a100"), TRITON) and not stores_through_tma(H100, TILELANG)
    # in the shared-memory limit: 48 KB per block fits the pointer epilogue, not the TMA one
    small = dataclasses.replace(H100, smem_per_block=48 * 1024)
    s = TensorSpec((4096, 4096), DType.bf16)
    vals = {"stages": 2, "num_warps": 8}
    for tma_store in (False, True):
        a = analyze(shallow, tensor_sizes(shallow, (s, s, s)), vals, tma_store)
        broken = [v for v in limits(a, (), vals, small) if v.startswith("shared memory")]
        assert bool(broken) is tma_store


def test_default_gemm_schedules_fit_with_the_store_buffer_on_hopper():
    """Every schedule the scheduler picks for the parity GEMMs on h100 fits shared memory with
    the epilogue's staging buffer counted."""
    from tiledsl.kernels.gemm import gemm_launch

    for m, n, k in ((4096, 4096, 4096), (64, 7168, 2048), (16, 4096, 4096)):
        ck = gemm_launch(*(torch.empty(*sh, dtype=torch.bfloat16, device="meta")
                           for sh in ((m, k), (k, n), (m, n)))).compile("triton", "h100")
        knobs = ck.schedule.as_dict()
        assert ck.scheduled.estimate.smem_bytes >= knobs["BM"] * knobs["BN"] * 2
        assert ck.scheduled.estimate.smem_bytes <= H100.smem_per_block


@pytest.mark.slow
def test_aot_store_buffer_larger_than_the_pipeline_is_what_triton_allocates():
    from tiledsl.lowering.triton.aot import compile_aot

    s = TensorSpec((4096, 4096), DType.bf16)
    fn = analyses.annotate(gemm_ir(DType.bf16, bm=128, bn=256, bk=16, stages=2, warps=8))
    texts, r = compile_aot(BACKEND.lower(fn, (s, s, s), H100), fn, (s, s, s), H100)
    assert "global.shared" in texts["ptx"] and r.spill_stores == 0
    assert 0 <= r.shared_bytes - _smem(fn, True) <= 64


@td.kernel
def shifted_gemm(a: td.Tensor, b: td.Tensor, c: td.Tensor, BM: td.constexpr = 16, BN: td.constexpr = 16,
                 BK: td.constexpr = 16):
    """c[r] = (a @ b)[r + 8]: the first program's tile starts 8 rows above c (a negative TMA
    coordinate); the last 8 rows of c get the zero rows loaded past a's end."""
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(K, BK), stages=2):
            acc += td.dot(td.load(a, (i * BM, k * BK), (BM, BK)), td.load(b, (k * BK, j * BN), (BK, BN)))
        td.store(c, (i * BM - 8, j * BN), acc.to(c.dtype))


def test_tma_store_drops_rows_above_the_tensor():
    m, n, k = 40, 24, 32
    g = torch.Generator().manual_seed(6)
    a = torch.randn(m, k, generator=g).half()
    b = torch.randn(k, n, generator=g).half()
    buf, c = _framed(m, n, torch.float16)
    assert "c_desc.store([sub, mul_5]" in _tma_source(shifted_gemm.compile(a, b, c, backend="triton",
                                                                           target="h100").code("triton"))
    shifted_gemm(a, b, c, backend="triton")
    assert _frame_untouched(buf, m, n) and (c[m - 8:] == 0).all()
    torch.testing.assert_close(c[:m - 8].float(), (a.float() @ b.float())[8:], atol=2e-2, rtol=1e-2)


@settings(max_examples=12)
@given(m=st.integers(1, 70), n=st.sampled_from([8, 13, 24, 40]), k=st.integers(1, 48),
       dt=st.sampled_from([DType.f16, DType.f32]), tiles=st.sampled_from([(16, 16, 16), (32, 16, 32)]))
def test_gemm_with_tma_epilogue_matches_torch_on_random_shapes(m, n, k, dt, tiles):
    """Either kernel (the launcher picks by the tensors' alignment) gives torch's product, and
    nothing outside c is written."""
    g = torch.Generator().manual_seed(m * 10007 + n * 101 + k)
    a = torch.randn(m, k, generator=g).to(dt.to_torch())
    b = torch.randn(k, n, generator=g).to(dt.to_torch())
    bm, bn, bk = tiles
    mod = load_module(BACKEND.lower(gemm_ir(dt, bm=bm, bn=bn, bk=bk, stages=2), (), H100).interpret_source,
                      interpret=True)
    buf, c = _framed(m, n, dt.to_torch())
    with interpreting():
        mod.launch(a, b, c)
    assert _frame_untouched(buf, m, n)
    ref = a.float() @ b.float()
    tol = (1e-4 if dt is DType.f32 else 1e-2) * max(ref.abs().max().item(), 1.0)
    assert (c.float() - ref).abs().max().item() <= tol
