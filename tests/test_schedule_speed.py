"""What makes the search fast (issue 12: at most 50 ms to schedule a GEMM) changes nothing it finds:
the walk skips scalar arithmetic no walk reads, the bound's walk leaves out registers only, a walk
without loads and stores gives a first, smaller bound, and the search drops points over a register
limit before pricing them. Checked by what each walk finds and
by points priced, never by timing (tests/test_schedule_choices.py pins the choices)."""

from __future__ import annotations

import importlib
import itertools
import math

import pytest

import tiledsl as td
from tests import kernels_for_tests as K
from tests.scripts import load_script
from tiledsl.dtypes import DType
from tiledsl.errors import ScheduleError
from tiledsl.ir.nodes import Space, walk
from tiledsl.ir.ops import Op
from tiledsl.passes import PassContext
from tiledsl.passes.pipeline import schedule_passes
from tiledsl.schedule import analysis, cost, space
from tiledsl.schedule.analysis import Analyzer, tensor_sizes
from tiledsl.schedule.roles import knob_roles
from tiledsl.schedule.walk_steps import scalars_read
from tiledsl.specs import TensorSpec as T
from tiledsl.targets import get_target

H100 = get_target("h100")
BF = DType.bf16
GEMM = K.splitk_gemm


def _level2(kernel, specs, **knobs):
    """The kernel's IR as `rank` sees it (the passes before knob choice)."""
    fn = kernel.ir(*specs, **knobs)
    ctx = PassContext(specs, H100)
    for p in schedule_passes(8):
        if p.name == "choose_knobs":
            return fn
        fn = p(fn, ctx)
    raise AssertionError("no choose_knobs pass")


def _split_gemm():
    specs = (T((512, 8192), BF), T((8192, 512), BF), T((512, 512), DType.f32))
    return _level2(GEMM, specs), specs


def _points(fn, sizes) -> list[dict[str, int]]:
    """A few points of `fn`'s space: every knob at its first, its last and a middle value."""
    knobs = knob_roles(fn)
    ranges = [(k.value,) if k.value is not None else space.values_for(k, sizes) for k in knobs]
    names = [k.name for k in knobs]
    return [dict(zip(names, (r[i(len(r))] for r in ranges)))
            for i in (lambda n: 0, lambda n: n - 1, lambda n: n // 2)]


CASES = {**K.HOPPER_CASES,
         "ws_gemm": (K.ws_gemm, (T((512, 512), BF), T((512, 512), BF), T((512, 512), BF)), {}),
         "warp_sum": (K.warp_sum, (T((4096,), DType.f32), T((128,), DType.f32)), {}),
         "matmul_l1": (K.matmul_l1, (T((256, 512), BF), T((512, 128), BF)), {}),
         "gemm_splitk": (importlib.import_module("tiledsl.kernels.gemm").gemm_splitk_kernel,
                         (T((64, 1024), BF), T((1024, 256), BF), T((64, 256), BF), T((16, 64, 256), DType.f32),
                          T((1,), DType.i32)), {})}


@pytest.mark.parametrize("name", sorted(CASES))
def test_walk_without_unread_scalars_finds_the_same(name):
    """Every walk (full and the bound's) finds the same analysis whether or not the scalar
    arithmetic outside `scalars_read` runs: paged decode's data-dependent loops (bounds from
    minimums, trip scaling), the dispatch's runtime branches, warp roles, thread regions, a
    level-1 program."""
    kernel, specs, kw = CASES[name]
    fn = _level2(kernel, specs, **kw)
    sizes = tensor_sizes(fn, specs)
    sliced = Analyzer(fn, sizes)
    assert sliced.plans.read is not None
    unsliced = analysis._Plans(analysis.static_scalars(fn, sizes))
    # the function's data-flow facts (`liveness`, dot operands) as the Analyzer sets them
    unsliced.late, unsliced.turns = sliced.plans.late, sliced.plans.turns
    unsliced.dot_operands = sliced.plans.dot_operands
    for values in _points(fn, sizes):
        for registers in (True, False):
            full = analysis._Walker(fn, sizes, values, sliced.dot_feeds, unsliced, sliced.store_sites,
                                    sliced.taint, registers).run()
            assert sliced(values, registers) == full, (values, registers)


def test_tile_offsets_are_not_walked():
    """In the split GEMM the slice holds the grid sizes and the loop bounds, not the tiles'
    offsets: the loop body runs no scalar step in any walk."""
    fn, specs = _split_gemm()
    read = scalars_read(fn.body)
    insts = list(walk(fn.body))
    grid = next(i for i in insts if i.op is Op.GRID)
    loop = next(i for i in insts if i.op is Op.FOR)
    assert {v.name for v in (*grid.operands, *loop.operands[:3])} <= read
    offsets = {v.name for i in insts if i.op in (Op.LOAD, Op.STORE, Op.ATOMIC) for v in i.operands[1:]
               if v.type.space is Space.SCALAR}
    assert offsets and not offsets & read
    plans = Analyzer(fn, tensor_sizes(fn, specs)).plans
    for registers in (True, False):
        steps = [inst for inst, handler, _ in plans.of(loop.regions[0], registers) if handler is not None]
        assert {i.op for i in steps} <= {Op.LOAD, Op.DOT, Op.ADD}, steps


def _split_kernel_specs(m: int, n: int, k: int) -> tuple:
    return (T((m, k), BF), T((k, n), BF), T((m, n), BF), T((16, m, n), DType.f32), T((1,), DType.i32))


def _gemm_kernel_split():
    """`kernels/gemm.py`'s split kernel: its last split's branch (a counter's turn) is priced from
    the atomic's window, so the walk without accesses prices it as the full walk does."""
    gemm = importlib.import_module("tiledsl.kernels.gemm")
    specs = _split_kernel_specs(128, 2112, 7168)
    return _level2(gemm.gemm_splitk_kernel, specs, SPLIT_K=td.auto), specs


@pytest.mark.parametrize("case", [_split_gemm, _gemm_kernel_split])
def test_bound_walks_bound_as_the_full_walk(case):
    """The bound's walk (no registers) gives every walk of a split search the full walk's
    bound, and the same figures the bound reads; the walk without loads and stores a bound no
    larger, and the same grid (which decides the split factors tried); completed with its loads
    and stores, the walk's own bound."""
    fn, specs = case()
    sizes = tensor_sizes(fn, specs)
    knobs = [k for k in knob_roles(fn) if k.role in ("block", "split") and k.value is None]
    walker = Analyzer(fn, sizes)
    for combo in itertools.product(*(space.values_for(k, sizes) for k in knobs)):
        values = dict(zip((k.name for k in knobs), combo))
        skeleton, cheap, full = walker(values, False, False), walker(values, registers=False), walker(values)
        own = cost.lower_bound_us(full, H100)
        assert cost.lower_bound_us(cheap, H100) == own, values
        assert cost.lower_bound_us(skeleton, H100) <= own and skeleton.grid == full.grid, values
        completed = walker.with_accesses(skeleton)
        assert cost.lower_bound_us(completed, H100) == own and completed.accesses == full.accesses, values
        for f in ("grid", "dots", "accesses", "alu_flops", "loop_iters", "dot_iters", "reduces"):
            assert getattr(cheap, f) == getattr(full, f), (values, f)


def test_walks_come_in_the_order_of_their_own_bounds(monkeypatch):
    """`space._Walks` gives the walks in the order sorting their own bounds gives, and runs the
    loads and stores only of walks whose first bound is at most the cutoff."""
    fn, specs = _split_gemm()
    sizes = tensor_sizes(fn, specs)
    knobs = [k for k in knob_roles(fn) if k.role in ("block", "split")]
    walker = Analyzer(fn, sizes)
    first, own = [], []
    for combo in itertools.product(*(space.values_for(k, sizes) for k in knobs)):
        values = dict(zip((k.name for k in knobs), combo))
        skeleton = walker(values, False, False)
        first.append((cost.lower_bound_us(skeleton, H100), combo, values, skeleton))
        own.append((cost.lower_bound_us(walker(values, registers=False), H100), combo))
    order = space._Walks(first, walker, H100)
    got = []
    while (values := order.next(math.inf)) is not None:
        got.append(tuple(values[k.name] for k in knobs))
    assert got == [c for _, c in sorted(own)]
    cutoff = sorted(own)[len(own) // 10][0]
    walked = []
    real = Analyzer.with_accesses
    monkeypatch.setattr(Analyzer, "with_accesses", lambda self, a: walked.append(a) or real(self, a))
    order = space._Walks(first, walker, H100)
    got = []
    while (values := order.next(cutoff)) is not None:
        got.append(tuple(values[k.name] for k in knobs))
    assert got == [c for b, c in sorted(own) if b <= cutoff]
    assert len(walked) == sum(b <= cutoff for b, *_ in first) < len(first) / 2


def _count_priced(monkeypatch) -> list:
    priced = []
    evaluate = space.evaluate

    def counted(*args, **kwargs):
        p = evaluate(*args, **kwargs)
        priced.append(p)
        return p

    monkeypatch.setattr(space, "evaluate", counted)
    return priced


class _NoSkip(space._Search):
    """The search as it was: every point of a priced walk checked and timed in full."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.skip_register_misses = False


def test_register_misses_are_not_priced(monkeypatch):
    """Points over a register limit (most of the points a GEMM search rejects) are dropped before
    they are checked and timed: the same ranking from fewer than half the points priced."""
    fn, specs = _split_gemm()
    knobs, sizes = knob_roles(fn), tensor_sizes(fn, specs)
    priced = _count_priced(monkeypatch)
    fast = space.rank(fn, knobs, sizes, H100)
    skipping = list(priced)
    priced.clear()
    monkeypatch.setattr(space, "_Search", _NoSkip)
    slow = space.rank(fn, knobs, sizes, H100)
    assert [(p.schedule, p.estimate) for p in fast] == [(p.schedule, p.estimate) for p in slow]
    assert not any(v.startswith("registers") for p in skipping for v in p.violations)
    assert any(v.startswith("registers") for p in priced for v in p.violations)
    assert len(skipping) < len(priced) / 2, (len(skipping), len(priced))


@td.kernel
def _huge_tiles(a: td.Tensor, b: td.Tensor, c: td.Tensor, BM: td.constexpr = 512, BN: td.constexpr = 512,
                BK: td.constexpr = 128):
    """A GEMM whose explicit tiles fit no point (shared memory and registers)."""
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(K, BK)):
            acc += td.dot(td.load(a, (i * BM, k * BK), (BM, BK)), td.load(b, (k * BK, j * BN), (BK, BN)))
        td.store(c, (i * BM, j * BN), acc.to(c.dtype))


def test_no_fit_names_the_point_a_full_search_names(monkeypatch):
    """When no point fits, the error names the closest point's broken limits exactly as a search
    that checks every point in full (the register misses it skipped are checked again)."""
    specs = (T((1024, 1024), BF), T((1024, 1024), BF), T((1024, 1024), BF))
    fn = _level2(_huge_tiles, specs)
    knobs, sizes = knob_roles(fn), tensor_sizes(fn, specs)
    with pytest.raises(ScheduleError) as fast:
        space.rank(fn, knobs, sizes, H100)
    monkeypatch.setattr(space, "_Search", _NoSkip)
    with pytest.raises(ScheduleError) as slow:
        space.rank(fn, knobs, sizes, H100)
    assert str(fast.value) == str(slow.value)
    assert "registers" in str(fast.value) or "shared memory" in str(fast.value)


def test_bench_counts_the_search_work():
    """benchmarks/bench_schedule.py reports the search's work (walks, priced walks, points) beside
    its times, and leaves the walk and the pricing as they were."""
    bench = load_script("benchmarks/bench_schedule.py")
    kernel, args = bench._cases()["splitk_gemm_512x512x8192"]
    walk, evaluate = Analyzer.__call__, space.evaluate
    row = bench.measure(kernel, args, 1)
    assert Analyzer.__call__ is walk and space.evaluate is evaluate
    assert row["walks"] > row["bound_walks"] >= row["priced_walks"] > 0, row
    assert 0 < row["points"] <= 25 * row["priced_walks"], row
