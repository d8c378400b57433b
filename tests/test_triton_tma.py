"""TMA descriptors in the Triton backend: which loads qualify, the generated TMA kernel and its
launcher check, execution of the TMA kernel in Triton's interpreter (zero fill at ragged edges,
3-D descriptors with a dropped axis), the fallback to the pointer kernel, and the ahead-of-time
report for Hopper."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tiledsl.lowering.triton import BACKEND
from tiledsl.lowering.triton import tma as tma_mod
from tiledsl.lowering.triton.loader import interpreting, load_module
from tiledsl.lowering.triton.module import generate

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
    assert r.uses_tma is (name in ("grouped_gemm", "fp8_gemm_nt", "splitk"))


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
