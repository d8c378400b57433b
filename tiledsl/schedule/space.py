"""The typed schedule space of a level-2 program and its ranking by the cost model.

Each auto knob gets a value range from its role (`roles.knob_roles`) and the sizes it tiles:
tensor-core blocks are 16..256 (K from 32 for 8-bit operands; a dot's M tile reaches 64, wgmma's
rows, even for a shorter M), other blocks powers of two up to the size they tile, stages 1..5,
warps 1..16 (8, 12 or 16 with producer/consumer regions), group sizes 1 or 8, split factors 1..16.
Explicit knob values are kept as they are.

The search is branch and bound (`rank`), not the product: one IR walk per tile-size combination,
each with a lower bound on every point that shares it; walks are priced best bound first, each
point checked against the target's hard limits and timed, and walks whose bound cannot enter the
ranking are skipped. Each walk is first made without global loads and stores, whose bound is no
larger: most walks (small tiles, many waves of programs) are skipped on that one. The bound's walk
leaves out registers (which the bound does not read); a walk that is priced is walked again in full (about one in ten of a split-K search's), and its
points over a register limit (most of those a GEMM search rejects) are dropped before they are
checked and timed in full. Split factors are tried only while a smaller one leaves SMs idle,
launch orders only on grids with two axes. The ranking is by predicted time; points within
`NEAR_TIE` of the fastest go least fragile first (wgmma over mma.sync, a pipelined loop), exact
ties towards less DRAM traffic, 4 warps, then the values, so the choice is deterministic.
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass

from tiledsl.capabilities import ANY, Capabilities
from tiledsl.errors import ScheduleError
from tiledsl.ir.nodes import Function, attr_syms
from tiledsl.ir.nodes import walk as walk_ir
from tiledsl.ir.ops import Op
from tiledsl.schedule import constraints, cost
from tiledsl.schedule.analysis import Analysis, Analyzer, analyze
from tiledsl.schedule.records import Estimate, Schedule
from tiledsl.schedule.roles import BLOCK, GROUP, SPLIT, STAGES, WARPS, KnobInfo
from tiledsl.targets import Target

MAX_BLOCK = 8192
_NO_WALK = (STAGES, GROUP)  # roles whose values the IR walk does not depend on


def _pow2_up_to(lo: int, hi: int) -> tuple[int, ...]:
    out, v = [], lo
    while v <= hi:
        out.append(v)
        v *= 2
    return tuple(out) or (lo,)


def _next_pow2(n: int) -> int:
    return 1 << max(0, (max(n, 1) - 1).bit_length())


def extent(k: KnobInfo, sizes: dict[str, int]) -> int | None:
    """The largest tensor size a block knob tiles, if the windows name one."""
    vals = [sizes[d] for d in k.dims if d in sizes]
    return max(vals) if vals else None


def values_for(k: KnobInfo, sizes: dict[str, int], warp_groups: bool = False) -> tuple[int, ...]:
    """The candidate values of one auto knob (`warp_groups`: the kernel has producer/consumer
    regions, so warps come in whole warp groups)."""
    if k.role == BLOCK:
        ext = extent(k, sizes)
        if k.dot:
            lo = 32 if "k" in k.dot and k.dot_dtype.startswith(("f8", "i8", "u8")) else 16
            hi = 128 if k.dot == "k" and lo == 16 else 256
            # a dot's M tile may pass a short M up to 64: wgmma's rows (padded rows are masked)
            need = max(lo, _next_pow2(ext or hi), 64 if "m" in k.dot else lo)
            return _pow2_up_to(lo, min(hi, need))
        return _pow2_up_to(1, min(MAX_BLOCK, _next_pow2(ext)) if ext else 256)
    if k.role == STAGES:
        return (1, 2, 3, 4, 5)
    if k.role == WARPS:
        return (8, 12, 16) if warp_groups else (1, 2, 4, 8, 16)
    if k.role == GROUP:
        return (1, 8)
    if k.role == SPLIT:
        return (1, 2, 3, 4, 8, 16)
    return (1,)


@dataclass(frozen=True)
class Point:
    schedule: Schedule
    estimate: Estimate | None
    violations: tuple[str, ...] = ()
    fragility: tuple[float, ...] = ()  # what makes the point sensitive to the model's errors (`fragility`)
    starved: bool = False  # too few resident warps to hide latency without a pipeline (`cost.starved`)


# The cost model's error is larger than this: points within it of the fastest are told apart by
# how badly they degrade when the model is wrong (`fragility`), not by their predicted times.
NEAR_TIE = 0.03


def fragility(a: Analysis, values: dict[str, int], target: Target, memo: dict | None = None,
              caps: Capabilities = ANY) -> tuple[float, ...]:
    """(mma.sync on a target with wgmma, an unpipelined loop feeding the tensor cores, the
    instructions the whole grid issues in its tensor-core loops): lower is more robust. mma.sync
    is synchronous, so memory latency shows whenever the prediction of the bytes in flight is off;
    one stage has no slack at all; and a pipelined tensor-core loop issues about a hundred
    instructions per iteration and warp whatever its tile (`cost.loop_instrs`), so between points
    the model cannot tell apart, fewer, larger iterations leave the most issue slack (a backend
    that indexes its stage buffers modulo a stage count that is not a power of two issues
    `caps.stage_modulo_instrs` more per iteration: TileLang takes 4 stages where 3 and 4 tie).
    Kernels without dots: ()."""
    if not a.dots:
        return ()
    sync_mma = int(target.has_wgmma and not cost.uses_wgmma(a, values, target))
    warps = values.get("num_warps", 4)
    instrs = (memo or {}).get(("instrs", warps)) or cost.loop_instrs(a, values, target)  # `estimate` memoizes it
    if a.stages > 2 and a.stages & (a.stages - 1):
        instrs += caps.stage_modulo_instrs
    issued = a.programs * a.dot_iters * warps * instrs
    return (sync_mma, int(a.stages < 2 and a.loop_iters > 0), issued)


def _padding_ratio(knobs: tuple[KnobInfo, ...], values: dict[str, int], sizes: dict[str, int]) -> float:
    """Fraction of the tensor-core work on real (not padded) elements."""
    r = 1.0
    for k in knobs:
        ext = extent(k, sizes)
        if k.dot and ext:
            b = values[k.name]
            r *= ext / (math.ceil(ext / b) * b)
    return r


def stores_through_tma(target: Target, caps: Capabilities) -> bool:
    """Epilogue stores stage their tile in shared memory for a TMA store (`Analyzer`)."""
    return target.has_tma and caps.tma_store


def evaluate(fn: Function, knobs: tuple[KnobInfo, ...], values: dict[str, int], sizes: dict[str, int],
             target: Target, walked: Analysis | None = None, resolved: Analysis | None = None,
             caps: Capabilities = ANY, memo: dict | None = None, regs: int | None = None) -> Point:
    """Check and time one point (all knob values given); `walked` is the IR walk for these
    values when the caller has it (it does not depend on stages and group knobs), `resolved`
    that walk already resolved for these values, `memo` the cost model's memo for that walk,
    `regs` the point's `cost.registers` when the caller has them."""
    sched = Schedule(tuple((k.name, values[k.name]) for k in knobs), tuple((k.name, k.role) for k in knobs))
    if resolved is not None:
        a = resolved
    else:
        a = walked.resolve(values) if walked is not None else \
            analyze(fn, sizes, values, stores_through_tma(target, caps), caps)
    regs = cost.registers(a, values, target) if regs is None else regs
    bad = cost.limits(a, knobs, values, target, regs, caps)
    if bad:
        return Point(sched, None, tuple(bad))
    memo = {} if memo is None else memo
    if "padding" not in memo:  # block sizes are the walk's: one ratio per walk
        memo["padding"] = _padding_ratio(knobs, values, sizes)
    est = cost.estimate(a, values, target, memo["padding"], regs, memo)
    return Point(sched, est, fragility=fragility(a, values, target, memo, caps),
                 starved=cost.starved(a, values, target, regs))


def rank(fn: Function, knobs: tuple[KnobInfo, ...], sizes: dict[str, int], target: Target,
         fixed: dict[str, int] | None = None, top_n: int = 8, caps: Capabilities = ANY) -> list[Point]:
    """The `top_n` valid points, fastest first. Raises `ScheduleError` when none is valid,
    naming the limits the closest point breaks (and the explicit values when some were given).

    Branch and bound, not the whole product: the IR is walked once per combination of the knobs
    the walk depends on (tile sizes, and warps where an attribute names them), each walk gets a
    lower bound on the time of every point that shares it (`cost.lower_bound_us`), and the walks
    are priced fastest bound first; once a walk's bound is above the `top_n`-th time found, it
    and every later walk are skipped. Exact: the same top `top_n` as pricing every point
    (tests/test_schedule_choices.py). The bound comes from a walk without register accounting
    (`Analyzer(..., registers=False)`), made only for walks whose bound without loads and stores
    (`accesses=False`, a smaller one) comes first (`_Walks`); the walks priced are walked again
    in full.
    `caps`: the backend's capability record, whose tile rules the limits apply."""
    fixed = dict(fixed or {})
    explicit = {k.name: k.value for k in knobs if k.value is not None}
    explicit.update(fixed)
    free = [k for k in knobs if k.name not in explicit]
    warp_groups = any(i.op is Op.WARP_ROLE for i in walk_ir(fn.body))
    cons = constraints.of(fn)  # td.auto(divides=...): enumerate only values that meet them
    ranges = {k.name: constraints.allowed(k.name, cons, values_for(k, sizes, warp_groups)) for k in free}
    # the walk reads num_warps only where an attribute names it (e.g. a thread count)
    named = {sym for inst in walk_ir(fn.body) for _, a in inst.attrs for sym in attr_syms(a)}
    shape = [k.name for k in free if k.role not in _NO_WALK and (k.role != WARPS or k.name in named)]
    inner = [k.name for k in free if k.name not in shape]
    roles = {k.name: k.role for k in knobs}
    walk = Analyzer(fn, sizes, stores_through_tma(target, caps), caps)
    walks = []
    programs: dict[tuple, int] = {}
    splits = [i for i, n in enumerate(shape) if roles[n] == SPLIT]
    for combo in itertools.product(*(ranges[n] for n in shape)):
        if _split_needless(combo, splits, shape, ranges, programs, target):
            programs[combo] = target.sms  # so larger splits of it are needless too
            continue
        values = dict(explicit)
        values.update(zip(shape, combo))
        # first a walk without loads and stores: its bound is below the walk's own, and most walks
        # (small tiles: many waves of programs) are skipped on it (`_Walks`)
        skeleton = walk(values, registers=False, accesses=False)
        programs[combo] = skeleton.programs
        walks.append((cost.lower_bound_us(skeleton, target), combo, values, skeleton))  # reads no resolved field

    def search(skip_register_misses: bool) -> _Search:
        s = _Search(fn, knobs, sizes, target, caps, cons, inner, ranges, roles, top_n, skip_register_misses)
        order = _Walks(walks, walk, target)
        while (values := order.next(s.cutoff)) is not None:  # None: no later walk can enter the top_n
            s.price(walk(values), values)
        return s

    found = search(True)
    good, starved, cutoff = found.good, found.starved, found.cutoff
    if not good and not starved:  # no point fits: every point checked in full, to name the closest
        raise _no_fit(fn, target, explicit, search(False).closest, knobs)
    fit = _ordered([p for p in good if p.estimate.time_us <= cutoff])
    return (fit + _ordered(starved))[:top_n]


class _Walks:
    """The walks of `rank` in the order of their own bounds (then their knob values), as sorting
    them would give, with a walk's own bound found only when the smaller bound of its walk
    without accesses comes first: walks whose first bound is above the cutoff are never walked
    with their accesses."""

    def __init__(self, walks: list[tuple], walk: Analyzer, target: Target):
        """`walks`: (the bound of the walk without accesses, combo, values, that walk) each."""
        self.heap = list(walks)
        heapq.heapify(self.heap)  # by bound, then combo (unique): values are never compared
        self.walk, self.target = walk, target

    def next(self, cutoff: float) -> dict[str, int] | None:
        """The values of the next walk whose own bound is at most `cutoff`; None when no walk
        left has one (every bound left is above it, and own bounds are no smaller)."""
        heap = self.heap
        while heap and heap[0][0] <= cutoff:
            _, combo, values, own_or_skeleton = heapq.heappop(heap)
            if own_or_skeleton is True:
                return values
            # no walk's own bound is below this one's first: find it (the walk's loads and stores
            # run), and put the walk back
            own_bound = cost.lower_bound_us(self.walk.with_accesses(own_or_skeleton), self.target)
            heapq.heappush(heap, (own_bound, combo, values, True))
        return None


class _Search:
    """The pricing half of `rank`: the points of each walk priced in turn, the `top_n` fastest
    times kept, and the cutoff no later walk's bound may pass to be priced."""

    def __init__(self, fn: Function, knobs: tuple[KnobInfo, ...], sizes: dict[str, int], target: Target,
                 caps: Capabilities, cons, inner: list[str], ranges: dict, roles: dict, top_n: int,
                 skip_register_misses: bool = False):
        """`skip_register_misses`: a point that breaks a register limit (`cost.register_limits`,
        the limit most rejected points break) is dropped before it is checked and timed in
        full, so `closest` is not kept (`rank` searches again without it when nothing fits)."""
        self.fn, self.knobs, self.sizes, self.target, self.caps = fn, knobs, sizes, target, caps
        self.cons, self.inner, self.ranges, self.top_n = cons, inner, ranges, top_n
        self.skip_register_misses = skip_register_misses
        self.groups = [roles[n] == GROUP for n in inner]
        self.no_walk = [k.name for k in knobs if k.role in _NO_WALK]  # what `resolve` reads
        self.good: list[Point] = []
        self.starved: list[Point] = []
        self.closest: Point | None = None
        self.cutoff, self.best = math.inf, math.inf
        self.fastest: list[float] = []  # the top_n smallest times, negated (a max-heap)

    def price(self, walked: Analysis, walk_values: dict[str, int]) -> None:
        """Price every point of one walk (`walk_values`: the values the walk was made with)."""
        resolved: dict[tuple, Analysis] = {}
        memo: dict = {}
        # a launch order (group) only matters for a grid of two axes, each of more than one
        # program: on others only the first group value is tried
        flat = len(walked.grid) < 2 or min(walked.grid[:2]) <= 1
        inner_ranges = [self.ranges[n][:1] if flat and g else self.ranges[n] for n, g in zip(self.inner, self.groups)]
        for rest in itertools.product(*inner_ranges):
            values = dict(walk_values)
            values.update(zip(self.inner, rest))
            if self.cons and not constraints.combo_ok(self.cons, values):
                continue
            rkey = tuple(values.get(n) for n in self.no_walk)
            if rkey not in resolved:  # the resolved walk differs only in stages and group values
                resolved[rkey] = walked.resolve(values)
            a = resolved[rkey]
            regs = cost.registers(a, values, self.target)
            if self.skip_register_misses and cost.register_limits(regs, values.get("num_warps", 4), self.target):
                continue
            self.add(evaluate(self.fn, self.knobs, values, self.sizes, self.target, resolved=a, caps=self.caps,
                              memo=memo, regs=regs))
        if len(self.fastest) >= self.top_n:  # what can still enter: the top_n, and the near-ties of the best
            self.cutoff = max(self.best * (1 + NEAR_TIE), -self.fastest[0])

    def add(self, p: Point) -> None:
        if p.estimate is None:
            if self.closest is None or len(p.violations) < len(self.closest.violations):
                self.closest = p
        elif p.starved:  # kept only for when every point is (never bounds the search)
            self.starved.append(p)
        elif p.estimate.time_us <= self.cutoff:
            t = p.estimate.time_us
            self.good.append(p)
            self.best = min(self.best, t)
            if len(self.fastest) < self.top_n:
                heapq.heappush(self.fastest, -t)
            else:
                heapq.heappushpop(self.fastest, -t)


def _split_needless(combo: tuple, splits: list[int], shape: list[str], ranges: dict, programs: dict,
                    target: Target) -> bool:
    """Split-K (or split-KV) pays only to fill the SMs: a split factor is tried while the next
    smaller one, all else equal, leaves fewer programs than SMs. (Ascending split values come
    later in the product, so the smaller one's walk is known.)"""
    for i in splits:
        vals = ranges[shape[i]]
        at = vals.index(combo[i])
        if at:
            smaller = combo[:i] + (vals[at - 1],) + combo[i + 1:]
            if programs.get(smaller, 0) >= target.sms:
                return True
    return False


def _order(p: Point) -> tuple:
    """Fastest first; exact ties go to less DRAM traffic, then to 4 warps (the usual default),
    then to the values, so the choice is deterministic."""
    return (round(p.estimate.time_us, 6), round(p.estimate.bytes),
            abs(p.schedule.num_warps.bit_length() - 3), p.schedule.values)


def _ordered(points: list[Point]) -> list[Point]:
    """The points within `NEAR_TIE` of the fastest, least fragile first (then by `_order`), then
    the rest by `_order`."""
    if not points:
        return []
    points = sorted(points, key=_order)
    near = points[0].estimate.time_us * (1 + NEAR_TIE)
    head = [p for p in points if p.estimate.time_us <= near]
    head.sort(key=lambda p: (p.fragility, _order(p)))
    return head + points[len(head):]


def _no_fit(fn: Function, target: Target, explicit: dict[str, int], closest: Point | None,
            knobs: tuple[KnobInfo, ...]) -> ScheduleError:
    broken = "; ".join(closest.violations) if closest else "no point to try"
    auto = {k.name for k in knobs} - set(explicit)
    given = ", ".join(f"{k}={v}" for k, v in explicit.items() if k in {k.name for k in knobs})
    if given:
        msg = f"{fn.name}: the explicit values {given} do not fit {target.name}: {broken}"
        hint = "change those values or leave them as td.auto" + (
            f" (the scheduler would also choose {', '.join(sorted(auto))})" if auto else "")
    else:
        msg = f"{fn.name}: no schedule fits {target.name}: {broken}"
        hint = "split the kernel or write it at level 2 with smaller tiles"
    from tiledsl.schedule.blame import knob_use_loc, violation_loc

    named = {k.name for k in knobs if k.name in explicit}
    if closest is None:
        loc = knob_use_loc(fn, named) if named else fn.loc
    else:
        loc = violation_loc(fn, closest.violations, closest.schedule.as_dict(), named)
    return ScheduleError(msg, loc, hint)
