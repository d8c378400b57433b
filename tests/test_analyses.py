"""Analyses as passes (`tiledsl.passes.analyses`): non-negativity, divisibility and shared-memory
placement are attributes of the scheduled IR, shown by its dump, and the backends read those
attributes (no backend derives its own)."""

from __future__ import annotations

import dataclasses

import tiledsl as td
from tests.kernels_for_tests import matmul
from tiledsl.dtypes import DType
from tiledsl.ir.nodes import walk
from tiledsl.ir.text import parse_ir, print_ir
from tiledsl.passes import analyses
from tiledsl.specs import TensorSpec as T

BF16 = (T((256, 128), DType.bf16), T((128, 256), DType.bf16), T((256, 256), DType.bf16))


@td.kernel
def halves(x: td.Tensor, out: td.Tensor, n: int, BLOCK: td.constexpr = 64):
    with td.grid(td.cdiv(x.shape[0], BLOCK)) as i:
        idx = i * BLOCK + td.arange(0, BLOCK)
        td.store(out, (i * BLOCK,), td.load(x, (i * BLOCK,), (BLOCK,)) + (idx // 2).to(td.float32))


def _without(fn, *names):
    return dataclasses.replace(fn, attrs=tuple((k, v) for k, v in fn.attrs if k not in names))


def test_the_scheduled_ir_dump_shows_the_facts():
    ck = matmul.compile(*BF16, backend="triton", target="h100")
    text = ck.code("scheduled")
    head = text.splitlines()[0]
    assert 'nonneg=("i", "j", "k"' in head  # program ids and the loop's index
    assert 'shared=("a_tile", "b_tile")' in head  # the dot's operands go to shared memory
    divs = dict(ck.fn.attr("divisors"))
    bm = ck.schedule["BM"]
    assert any(d == bm for d in divs.values())  # i * BM: a multiple of the block
    assert parse_ir(text) == ck.fn and print_ir(parse_ir(text)) == text  # the facts read back


def test_facts_are_the_same_whether_read_or_computed():
    ck = matmul.compile(*BF16, backend="triton", target="h100")
    bare = _without(ck.fn, *analyses.FACT_ATTRS)
    assert analyses.nonneg(bare) == analyses.nonneg(ck.fn)
    assert analyses.divisors(bare) == analyses.divisors(ck.fn)
    assert analyses.shared_loads(bare) == analyses.shared_loads(ck.fn)
    assert analyses.annotate(bare) == ck.fn  # the pass is the last one: same IR as scheduled


def test_triton_codegen_reads_the_nonneg_fact_from_the_ir():
    """An index known to be >= 0 uses Triton's C-style // directly; without the fact the floor
    fix-up is emitted. The codegen takes the IR's attribute, not its own analysis."""
    from tiledsl.lowering.triton.module import generate

    ck = halves.compile(T((1024,), DType.f32), T((1024,), DType.f32), 7, backend="triton", target="h100")
    fn = ck.fn
    assert "idx" in fn.attr("nonneg")
    with_fact = generate(fn).source
    nothing_known = dataclasses.replace(fn, attrs=tuple(
        (k, () if k == "nonneg" else v) for k, v in fn.attrs))
    without = generate(nothing_known).source
    assert with_fact != without
    assert without.count("//") >= with_fact.count("//")


def test_tilelang_reads_the_placement_fact_from_the_ir():
    from tiledsl.lowering.tilelang.program import emit_program

    from tiledsl.targets import get_target

    ck = matmul.compile(*BF16, backend="tilelang", target="h100")
    src = ck.code("tilelang")
    assert src.count("T.alloc_shared") == 2
    none_shared = dataclasses.replace(ck.fn, attrs=tuple(
        (k, () if k == "shared" else v) for k, v in ck.fn.attrs))
    other = emit_program(none_shared, ck.lower_specs, get_target("h100"))
    assert other != src and "a_tile = T.alloc_fragment" in other


@td.kernel
def per_step(a: td.Tensor, b: td.Tensor, bias: td.Tensor, out: td.Tensor, KT: td.constexpr = 4):
    """out[k] = bias + a[:, k] @ b[k, :] for each k: the accumulator is defined before the loop."""
    with td.grid(1) as i:
        acc0 = td.load(bias, (0, 0), (64, 64))
        for k in range(KT):
            r = acc0 + td.dot(td.load(a, (0, k * 32), (64, 32)), td.load(b, (k * 32, 0), (32, 64)))
            td.store(out, (k * 64, 0), r)


def _per_step_args():
    import torch

    g = torch.Generator().manual_seed(0)
    a = torch.randn(64, 128, generator=g).to(torch.bfloat16)
    b = torch.randn(128, 64, generator=g).to(torch.bfloat16)
    return a, b, torch.randn(64, 64, generator=g), torch.zeros(256, 64)


def test_an_accumulator_from_before_a_loop_is_not_summed_into_across_iterations():
    """TileLang wrote ``T.gemm(a_tile, b_tile, acc0)`` inside the loop (the accumulator "died" at
    the dot by use count), so out[k] held bias + the sum of dots 0..k. The in-place fact knows the
    next iteration reads acc0 again."""
    import torch

    a, b, bias, out = _per_step_args()
    per_step(a, b, bias, out, backend="ir")
    want = torch.cat([bias + a[:, 32 * k:32 * k + 32].float() @ b[32 * k:32 * k + 32].float() for k in range(4)])
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-4)
    specs = tuple(T(tuple(t.shape), DType.bf16 if t.dtype == torch.bfloat16 else DType.f32)
                  for t in (a, b, bias, out))
    ck = per_step.compile(*specs, backend="tilelang", target="h100")
    assert ck.fn.attr("in_place") == ()
    src = ck.code("tilelang")
    assert "T.gemm(a_tile, b_tile, acc0)" not in src and "T.copy(acc0, r)" in src


def test_a_loop_carried_accumulator_stays_in_place():
    ck = matmul.compile(*BF16, backend="tilelang", target="h100")
    (dot,) = ck.fn.attr("in_place")
    src = ck.code("tilelang")
    assert "T.gemm(a_tile, b_tile, acc_1" in src and "clear_accum" not in src
    assert dot in {v.name for i in walk(ck.fn.body) for v in i.results}


@td.kernel
def cast_dot(a: td.Tensor, b: td.Tensor, c: td.Tensor, BM: td.constexpr = 64, BN: td.constexpr = 64,
             BK: td.constexpr = 32):
    """Mixed precision: f16 tiles converted to bf16 before the dot, B read transposed."""
    with td.grid(td.cdiv(a.shape[0], BM), td.cdiv(b.shape[0], BN)) as (i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(a.shape[1], BK), stages=2):
            x = td.load(a, (i * BM, k * BK), (BM, BK)).to(td.bfloat16)
            y = td.load(b, (j * BN, k * BK), (BN, BK)).to(td.bfloat16)
            acc = td.dot(x, td.trans(y), acc)
        td.store(c, (i * BM, j * BN), acc)


def test_cost_model_and_placement_agree_on_the_loads_that_feed_a_dot():
    """One rule (`tiledsl.ir.placement`): a load reaching a dot through casts and transposes is
    staged in shared memory. The cost model prices it there, the placement fact says so, and
    TileLang copies it into shared memory (its dequantizing gemms' form), converting from there."""
    from tiledsl.ir.ops import Op
    from tiledsl.schedule.analysis import Analyzer, tensor_sizes

    specs = (T((128, 128), DType.f16), T((128, 128), DType.f16), T((128, 128), DType.f32))
    ck = cast_dot.compile(*specs, backend="tilelang", target="h100")
    fn = ck.fn
    loads = {i.result.name for i in walk(fn.body) if i.op is Op.LOAD}
    feeders, _, _ = Analyzer(fn, tensor_sizes(fn, specs)).dot_feeds
    assert set(fn.attr("shared")) == loads & feeders == {"a_tile", "b_tile"}
    src = ck.code("tilelang")
    assert 'a_tile = T.alloc_shared((64, 32), "float16")' in src
    assert 'b_tile = T.alloc_shared((64, 32), "float16")' in src
    assert 'T.cast(a_tile[i0, i1], "bfloat16")' in src
