"""The scheduler's choice for every case of benchmarks/bench_schedule.py, pinned, and the split-K
search against pricing every point of its space: speeding up the search (issue 12: at most 50 ms
for a GEMM) must change no choice and no ranking."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.scripts import load_script
from tiledsl.dtypes import from_torch
from tiledsl.passes import PassContext
from tiledsl.passes.pipeline import schedule, schedule_passes
from tiledsl.schedule import constraints, space
from tiledsl.schedule.analysis import Analyzer, tensor_sizes
from tiledsl.schedule.roles import GROUP, SPLIT, knob_roles
from tiledsl.specs import TensorSpec
from tiledsl.targets import get_target

H100 = get_target("h100")
_BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_schedule.py"

# recorded with the in-kernel split reduction (`gemm_splitk_kernel`); the search's speed-ups must
# keep them (the same as benchmarks/results/schedule_time_cpu.json)
CHOICES = {
    "gemm_bf16_4096x4096x4096": "BM=128 BN=256 BK=64 stages=3 GROUP_M=1 num_warps=8",
    "gemm_bf16_8192x8192x8192": "BM=128 BN=256 BK=64 stages=3 GROUP_M=8 num_warps=8",
    "gemm_bf16_64x7168x2048": "BM=64 BN=128 BK=128 stages=3 GROUP_M=1 num_warps=4",
    "gemm_bf16_16x4096x4096": "BM=64 BN=64 BK=128 stages=3 GROUP_M=1 num_warps=4",
    "gemm_bf16_128x2112x7168": "BM=64 BN=32 BK=128 stages=3 GROUP_M=1 num_warps=4",
    "gemm_bf16_512x512x8192": "BM=64 BN=32 BK=128 stages=3 GROUP_M=1 num_warps=4",
    "gemm_splitk_bf16_16x4096x4096": "BM=64 BN=64 BK=128 SPLIT_K=1 stages=3 num_warps=4",
    "gemm_splitk_bf16_128x2112x7168": "BM=64 BN=128 BK=128 SPLIT_K=3 stages=3 num_warps=4",
    "gemm_splitk_bf16_512x512x8192": "BM=64 BN=128 BK=128 SPLIT_K=4 stages=3 num_warps=4",
    "fp8_block_4096x7168x2048": "BM=128 BN=128 BK=128 stages=3 GROUP_M=8 num_warps=8",
    "splitk_gemm_512x512x8192": "BM=128 BN=128 BK=128 SPLIT_K=8 stages=3 num_warps=8",
    "matmul_l1_4096": "BLOCK_M=128 BLOCK_N=256 BLOCK_K=64 GROUP_M=1 stages=3 num_warps=8",
    "softmax_8192_bf16": "BLOCK_M=1 num_warps=8",
}


def _cases() -> dict:
    return load_script(_BENCH)._cases()


def _specs(args) -> tuple:
    return tuple(TensorSpec(tuple(t.shape), from_torch(t.dtype)) for t in args)


@pytest.fixture(scope="module")
def cases() -> dict:
    return _cases()


def test_every_bench_case_is_pinned(cases):
    assert set(cases) == set(CHOICES)


@pytest.mark.parametrize("name", list(CHOICES))
def test_bench_schedule_choice_is_unchanged(cases, name):
    kernel, args, *knobs = cases[name]
    specs = _specs(args)
    s = schedule(kernel.ir(*specs, **(knobs[0] if knobs else {})), specs, "h100")
    assert str(s.schedule) == CHOICES[name]


def _exhaustive_top(fn, specs, top_n: int = 8) -> list:
    """Every point of the search's space priced, each tile combination walked in full: the split
    factors `space._split_needless` leaves, launch orders only on two-axis grids, as `rank`."""
    knobs = knob_roles(fn)
    sizes = tensor_sizes(fn, specs)
    free = [k for k in knobs if k.value is None]
    cons = constraints.of(fn)
    ranges = {k.name: constraints.allowed(k.name, cons, space.values_for(k, sizes)) for k in free}
    shape = [k.name for k in free if k.role not in space._NO_WALK and k.name != "num_warps"]
    inner = [k.name for k in free if k.name not in shape]
    roles = {k.name: k.role for k in knobs}
    explicit = {k.name: k.value for k in knobs if k.value is not None}
    splits = [i for i, n in enumerate(shape) if roles[n] == SPLIT]
    walk, programs, good = Analyzer(fn, sizes), {}, []
    for combo in itertools.product(*(ranges[n] for n in shape)):
        if space._split_needless(combo, splits, shape, ranges, programs, H100):
            programs[combo] = H100.sms
            continue
        values = {**explicit, **dict(zip(shape, combo))}
        walked = walk(values)
        programs[combo] = walked.programs
        flat = len(walked.grid) < 2 or min(walked.grid[:2]) <= 1
        for rest in itertools.product(*(ranges[n] for n in inner)):
            if flat and any(roles[n] == GROUP and v != ranges[n][0] for n, v in zip(inner, rest)):
                continue
            point = {**values, **dict(zip(inner, rest))}
            p = space.evaluate(fn, knobs, point, sizes, H100, resolved=walked.resolve(point))
            if p.estimate is not None and not p.starved:
                good.append(p)
    return space._ordered(good)[:top_n]


@pytest.mark.parametrize("mnk", [(512, 512, 8192), (128, 2112, 7168), (16, 4096, 4096)])
def test_split_search_equals_pricing_every_point(cases, mnk):
    """The branch and bound (bounds from walks without register accounting, priced walks walked
    again in full) ranks the split-K space exactly as pricing every point of it does."""
    kernel, args = cases["gemm_splitk_bf16_{}x{}x{}".format(*mnk)]
    specs = _specs(args)
    fn = kernel.ir(*specs)
    ctx = PassContext(specs, H100)
    for p in schedule_passes(8)[:3]:
        if p.name == "choose_knobs":
            break
        fn = p(fn, ctx)
    fast = space.rank(fn, knob_roles(fn), tensor_sizes(fn, specs), H100, top_n=8)
    full = _exhaustive_top(fn, specs)
    assert [(p.schedule, p.estimate.time_us) for p in fast] == [(p.schedule, p.estimate.time_us) for p in full]
