"""What one schedule point makes a level-2 program do: a walk of the IR with the knob values and
the call's tensor sizes bound.

The walk evaluates the scalar arithmetic it can (grid sizes, loop bounds), multiplies work inside
loops by their trip counts, and tallies per program: tensor-core and ALU flops, the bytes of every
global load/store window (with the grid axes its offsets depend on, for the L2 model), shared
memory (pipelined dot operands x stages, shared buffers), the tiles live in registers and the
bytes a program keeps in flight. Where the backend stores epilogues through TMA on the target
(`Analyzer`'s `tma_store`), the staging buffers of such stores (the tile in the tensor's dtype,
at the IR's ``tma_store`` sites) count as shared memory beside the loops' buffers, which are dead
by then (`Analysis.smem_epilogue`). The rest follows the backend's record (`Analyzer`'s `caps`):
a load of a page's leading columns that the backend keeps as a region of the page (V as the
first DV columns of an MLA K page, `tiledsl.ir.pages`) is not charged again; computed dot
operands staged in shared memory, reduction workspaces and static shared memory are. It is
generic: hand-written level-2 kernels and the scheduler's own level-1 lowering go through the
same walk.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from tiledsl.capabilities import ANY, Capabilities
from tiledsl.dtypes import DType
from tiledsl.ir.dims import size_sym
from tiledsl.ir.nodes import Block, Function, Inst, Space, Sym, Type, walk
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import access_of, fold_int, window_of
from tiledsl.ir.pages import PageViews, leading_view
from tiledsl.ir.placement import dot_feeders, tma_store_sites
from tiledsl.ir.trips import evaluate as trips_of
from tiledsl.schedule.liveness import counter_turns, late_insts
from tiledsl.schedule.walk_steps import (
    BOUNDED,
    NO_TAINT,
    Window,
    const_step,
    grid_taint,
    row_span,
    scalar_math_step,
    scalars_read,
    spans,
    unread_scalar,
)

# ALU cost of one element of each MATH op, in fp32-FMA-lane units (special functions run on the
# slower SFU). Every MATH op is listed: tests/test_op_coverage.py fails on a missing one.
ALU_WEIGHT: dict[Op, float] = {
    Op.EXP: 4, Op.EXP2: 2, Op.LOG: 4, Op.LOG2: 2, Op.LOG1P: 5, Op.SQRT: 4, Op.RSQRT: 2, Op.SIN: 4, Op.COS: 4,
    Op.TANH: 4, Op.SIGMOID: 6, Op.ERF: 8, Op.DIV: 4, Op.POW: 8, Op.CLAMP: 2,
    **dict.fromkeys((Op.NEG, Op.NOT, Op.ABS, Op.FLOOR, Op.CEIL, Op.ADD, Op.SUB, Op.MUL, Op.FLOORDIV,
                     Op.MOD, Op.MAXIMUM, Op.MINIMUM, Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE, Op.AND,
                     Op.OR, Op.XOR, Op.SHL, Op.SHR, Op.WHERE, Op.CAST), 1),
}
# op and space classes the walk tests per instruction, as sets (the walk runs once per tile-size
# combination: its per-instruction cost is the scheduler's)
_TILE_LIKE = frozenset(sp for sp in Space if sp.is_tile_like)
_MATH = frozenset(o for o in Op if o.group.value == "math")
_MATH_OR_SHAPE = frozenset(o for o in Op if o.group.value in ("math", "shape"))
_ACCESS_OPS = frozenset({Op.LOAD, Op.STORE, Op.ATOMIC})
_WALK_ACCESS_OPS = _ACCESS_OPS | {Op.COPY}  # what a walk without accesses defers (`_defer`)


@dataclass(frozen=True)
class Access:
    """A global load or store window: `bytes` per execution, `count` executions per program,
    `axes` the grid axes its offsets depend on."""

    tensor: str
    bytes: float
    count: float
    axes: frozenset[int]
    store: bool = False
    row_bytes: float = 128.0  # contiguous bytes per row of the window (coalescing)
    whole: float = math.inf  # bytes of the whole tensor (times 2 for an atomic's read and write)
    accumulate: bool = False  # a float tile added atomically (split-K): the output starts zeroed


@dataclass(frozen=True)
class DotUse:
    m: int
    n: int
    k: int
    dtype: DType
    count: float  # executions per program
    consumer: bool = False  # inside a consumer region: only the consumer warp groups run it


@dataclass
class Analysis:
    grid: tuple[int, ...] = (1,)
    group_m: int = 1
    dots: list[DotUse] = field(default_factory=list)
    alu_flops: float = 0.0  # per program, weighted
    reduces: float = 0.0  # cross-thread tile reductions per program
    accesses: list[Access] = field(default_factory=list)
    smem: int = 0
    # Parts that depend on a loop's pipelining depth, kept apart so that stages and group knobs
    # can vary without walking the IR again (`resolve`): (bytes, stages attr, minus) stands for
    # bytes x max(1, depth - minus).
    smem_staged: list[tuple[float, object, int]] = field(default_factory=list)
    # Staging buffers of TMA epilogue stores: live after the pipelined loops, whose buffers are
    # dead by then, so Triton's allocator overlaps the two (measured: a 128x256 bf16 tile after a
    # 3 x 48 KB pipeline takes 144 KB, after a 2 x 12 KB one 64 KB). `resolve` takes the larger.
    smem_epilogue: int = 0
    # per backend (`Analyzer`'s caps): the reductions' workspaces, bytes per warp (the walk and
    # `resolve` do not depend on num_warps: `cost.limits` adds them), and the static shared
    # memory of a kernel that uses any
    smem_per_warp: int = 0
    smem_reserve: int = 0
    # computed dot operands (``p.to(bf16)``) a backend with `shared_operands` stages in shared
    # memory when its gemms split N over the warps (`cost.smem_bytes`: it depends on num_warps)
    smem_operands: int = 0
    inflight_parts: list[tuple[float, object, int]] = field(default_factory=list)
    stage_attrs: list[object] = field(default_factory=list)
    group_attr: object = None
    carried_words: float = 0.0  # 32-bit words of loop-carried tiles (accumulators)
    tile_words: list[float] = field(default_factory=list)  # other tiles, largest first when read
    # per entry of tile_words: defined after the tensor-core accumulators' last read
    # (`liveness.late_insts`): such tiles reuse the accumulators' registers
    tile_late: list[bool] = field(default_factory=list)
    late_carried_words: float = 0.0  # loop-carried tiles of loops after that point
    operand_words: float = 0.0  # dot operand fragments held in registers (mma.sync path)
    # registers per thread (not spread over the threads) that hold the shared-memory descriptors
    # of a loop-invariant wgmma A operand: one 64-bit descriptor per 16-wide K step, hoisted out
    # of the loop by ptxas (MLA decode's q, K = 576: 72 registers at any warp count)
    invariant_desc_regs: int = 0
    inflight: float = 0.0  # bytes one program keeps in flight
    loop_iters: float = 0.0  # per program
    dot_iters: float = 0.0  # iterations of the main tensor-core loop per program (the most-run dot)
    stages: int = 1  # deepest pipelining
    max_numel: int = 0  # largest tile
    odd_tiles: set = field(default_factory=set)  # tile shapes with a size that is not a power of two
    unknown_trips: int = 0  # loops whose trip count could not be evaluated
    # (trip count, where it came from) of each loop in walk order: "bounds" (evaluated), "expect"
    # (the kernel's hint), "bound" (min(runtime, size) bounds), "table" (the loop variable
    # indexes a tensor axis), "default" (`UNKNOWN_TRIPS`)
    loop_trips: list[tuple[float, str]] = field(default_factory=list)
    warp_roles: int = 0  # producer / consumer regions (warp specialization)
    # scalar atomics whose old value a program waits for (a counter shared by several programs:
    # the last to count takes a branch); each puts a round trip on the program's path
    handoffs: float = 0.0

    @property
    def programs(self) -> int:
        return math.prod(self.grid)

    def resolve(self, values: dict[str, int]) -> Analysis:
        """This analysis with the stage- and group-dependent figures computed for `values`."""
        def depth(attr) -> int:
            if isinstance(attr, Sym):
                return values.get(attr.name, 1)
            return attr if isinstance(attr, int) else 1

        g = depth(self.group_attr) if self.group_attr is not None else 1
        smem = self.smem + max(int(sum(b * max(1, depth(s) - m) for b, s, m in self.smem_staged)),
                               self.smem_epilogue)
        return dataclasses.replace(
            self, group_m=g, smem=smem + (self.smem_reserve if smem else 0),
            inflight=max((b * max(1, depth(s) - m) for b, s, m in self.inflight_parts), default=0.0),
            stages=max((depth(s) for s in self.stage_attrs), default=1))


# A loop whose trip count depends on data (e.g. ``range(cdiv(seqlen, PAGE))`` with the length
# loaded from memory) is priced, in this order (`_Walker.trips`), at: the kernel's own
# ``expect=`` (`td.range` / `td.pipelined`); the bound its stop has when it is a minimum with a
# known size (``range(td.minimum(n, x.shape[0]))``); the size of a tensor axis the loop variable
# indexes directly (``td.load(block_table, (b, j))``: the loop walks at most the table's width);
# else this many iterations: a typical decode length in pages, so the loop body's work and
# traffic dominate the per-program setup as they do at run time (counting one iteration made
# such kernels look tiny and drew num_warps=1).
UNKNOWN_TRIPS = 64
# A grid axis whose size is known only at run time (an int argument of unknown value, a value
# loaded from memory) counts as this many programs, about one wave on the GPUs listed, not as one
# program (which made such kernels look like a single program's work).
UNKNOWN_GRID = 128


class _Walker:
    def __init__(self, fn: Function, sizes: dict[str, int], values: dict[str, int], dot_feeds: tuple,
                 plans: _Plans | None = None, store_sites: frozenset[int] = frozenset(),
                 taint: dict[str, frozenset[int]] | None = None, registers: bool = True,
                 pages: PageViews | None = None, caps: Capabilities = ANY, accesses: bool = True):
        self.fn, self.sizes, self.values = fn, sizes, values
        self.caps = caps
        # the page-view rule when the backend keeps views (`_page_view`), the pages charged so
        # far per block, the loops around the walk (innermost last) and how many are pipelined
        self.pages = pages
        self.pages_seen: dict[int, list[tuple[tuple, tuple[int, ...]]]] = {}
        self.blocks: list[Block] = []
        self.loops: list = []
        self.pipelined = 0
        self.in_threads = False
        self.plans = plans or _Plans()
        self.store_sites = store_sites  # ids of STOREs staged in shared memory (TMA epilogues)
        self.a = Analysis()
        self.env: dict[str, int] = {}
        self.conds: dict[str, bool] = {}  # bool scalars the knob values decide (`if SPLIT_K == 1`)
        self.late = False  # walking an instruction after the accumulators' last read
        # runtime scalars that are a known multiple of a data-dependent count: a loop over
        # `n * 4` steps is priced at 4x the iterations of one over `n` (`UNKNOWN_TRIPS` each)
        self.runtime_scale: dict[str, float] = {}
        # upper bounds of runtime scalars that are a minimum with a known value (and of what is
        # computed from such a bound and known values): `range(td.minimum(n, x.shape[0]))`
        self.upper: dict[str, int] = {}
        self.loop_defs: list[frozenset[str]] = []  # names defined in each enclosing loop body
        # the grid axes each value depends on: data flow only, no knob value changes it, so it is
        # found once per function (`grid_taint`) and only read here
        self.taint = grid_taint(fn.body) if taint is None else taint
        self.dot_feeds, self.aliases, self.fused = dot_feeds
        self.dot_operands = plans.dot_operands if plans is not None else frozenset()
        self.carried: set[str] = set()  # tiles already counted as a loop's carried registers
        self.smem_allocs: dict[str, int] = {}
        self.role: str | None = None  # the warp-role region being walked
        self.numels: dict[int, int] = {}  # by id of a Type of fn (they live as long as fn)
        self.known = {**sizes, **values}  # what a dim name stands for: knob values first
        self.env.update(self.plans.env)  # constants and tensor sizes (`static_scalars`)
        for p in fn.params:  # integer arguments whose value the call gave (`tensor_sizes`)
            if p.value.type.space is Space.SCALAR and p.value.name in sizes:
                self.env[p.value.name] = sizes[p.value.name]
        self.odd_seen: set[int] = set()  # ids of types whose odd-size check is done
        # count tiles' registers (`tile`): not for a walk that only bounds (`Analyzer`)
        self.registers = registers
        # walk global loads and stores now; else note where the walk met them (`deferred`), for
        # `Analyzer.with_accesses` to run them when the walk's own bound is wanted
        self.accesses = accesses
        self.deferred: list[tuple] = []  # (inst, mult, stages) of each load and store left out
        self.held: dict[str, int] = {}  # tile value -> index in tile_words of the registers it lives in

    # --- helpers --------------------------------------------------------------------------------
    def dim(self, d) -> int:
        cls = d.__class__
        if cls is int:
            return d
        if cls is Sym:
            d = d.name
        elif cls is not str and isinstance(d, int):
            return d
        return self.known.get(d, 1)

    def numel(self, t: Type) -> int:
        n = self.numels.get(id(t))
        if n is None:
            n = self.numels[id(t)] = math.prod(self.dim(d) for d in t.shape)
        return n

    def window_bytes(self, src: Type, shape_attr, offsets) -> float:
        """Bytes of a window, counting along each axis only the part inside the tensor."""
        return self.span_elems(spans(src, shape_attr, offsets)) * src.dtype.itemsize

    def span_elems(self, window_spans: tuple) -> float:
        """Elements of a window whose axes `walk_steps.spans` lists."""
        n = 1.0
        dim = self.dim
        for extent, size in window_spans:
            n *= dim(extent) if size is None else min(dim(extent), dim(size))
        return n

    def row_bytes(self, src: Type, shape_attr, offsets) -> float:
        """Contiguous bytes along the last axis of a window (a gather counts as one element)."""
        return self.row_of(row_span(src, shape_attr, offsets), src.dtype.itemsize)

    def row_of(self, row: tuple | None, itemsize: int) -> float:
        """`row_bytes` of a window whose last axis `walk_steps.row_span` gives."""
        if row is None:
            return float(itemsize)
        return float(min(self.dim(row[0]), self.dim(row[1])) * itemsize)

    def window(self, inst) -> Window | None:
        """The knob-independent facts of a global load or store (None: a buffer's), found once
        per inst: reading them off the inst in every walk cost more than pricing the access."""
        return self.plans.window(inst, self)

    def taint_of(self, vals) -> frozenset[int]:
        out = NO_TAINT
        taint = self.taint
        for v in vals:
            t = taint.get(v.name)
            if t:
                out = out | t
        return out

    # --- the walk -------------------------------------------------------------------------------
    def block(self, block: Block, mult: float, stages: object) -> float:
        """Walk `block` executed `mult` times per program; returns its global-load bytes."""
        loaded = 0.0
        self.blocks.append(block)
        if not self.registers:  # the bound's walk: every inst planned has a handler
            for inst, handler, _ in self.plans.of(block, False, self.accesses):
                loaded += handler(self, inst, mult, stages) or 0.0
            self.blocks.pop()
            return loaded
        late_ids = self.plans.late
        for inst, handler, tiles in self.plans.of(block, True):
            if late_ids:
                self.late = id(inst) in late_ids
            for v in tiles:
                self.tile(v, inst)
            if handler is not None:
                loaded += handler(self, inst, mult, stages) or 0.0
        self.blocks.pop()
        return loaded

    def const(self, v) -> int | None:
        x = self.env.get(v.name)
        return x if isinstance(x, int) and not isinstance(x, bool) else None

    def attr(self, a) -> int | None:
        return self.dim(a) if isinstance(a, (int, str, Sym)) and not isinstance(a, bool) else None

    def tile(self, v, inst) -> None:
        """Count a tile's registers if it needs new ones: elementwise results reuse their
        operands' registers unless broadcasting makes them larger; accumulators (loop-carried
        values, dots into an accumulator) are counted once, by the loop."""
        if not self.registers:
            return
        numel = self.numel(v.type)
        self.a.max_numel = max(self.a.max_numel, numel)
        if id(v.type) not in self.odd_seen:
            self.odd_seen.add(id(v.type))
            dims = tuple(self.dim(d) for d in v.type.shape)
            if any(d & (d - 1) for d in dims):
                self.a.odd_tiles.add(dims)
        if v.type.space is Space.SHARED or v.name in self.aliases or inst.op is Op.ARANGE:
            return  # an index vector is recomputed from the thread id (folded into addresses, masks)
        if inst.op in _MATH_OR_SHAPE and \
                numel <= max((self.numel(o.type) for o in inst.operands), default=0):
            self._reuse(v, inst, numel)
            return
        self.held[v.name] = len(self.a.tile_words)
        self.a.tile_words.append(numel * max(v.type.dtype.bits, 16) / 32)
        self.a.tile_late.append(self.late)

    def _reuse(self, v, inst, numel: int) -> None:
        """`v` lives in the registers of its largest operand's tile. A 16-bit tile widened to
        fp32 for math (Triton computes 16-bit elementwise ops and reductions in fp32) holds the
        row as fp32 values from then on: a bf16 row of 8192 costs 8192 words, not 4096."""
        held = [(self.numel(o.type), self.held[o.name]) for o in inst.operands if o.name in self.held]
        if not held:
            return
        at = max(held)[1]
        self.held[v.name] = at
        src = inst.operands[0].type.dtype
        if inst.op is Op.CAST and src.is_float and src.bits == 16 and v.type.dtype.bits == 32:
            self.a.tile_words[at] = max(self.a.tile_words[at], float(numel))

    def math(self, inst, mult: float) -> None:
        if not inst.results:
            return
        res = inst.results[0]
        if res.type.space is Space.SCALAR:
            ints = [self.env.get(v.name) for v in inst.operands]
            if len(inst.results) == 1 and None not in ints:
                r = fold_int(inst.op, ints)  # unbounded: sizes and trip counts, not the GPU's i32
                if isinstance(r, bool):
                    self.conds[res.name] = r
                elif r is not None:
                    self.env[res.name] = r
            if inst.op is Op.CAST and ints and ints[0] is not None and res.type.dtype.is_int:
                self.env[res.name] = ints[0]
            if res.name not in self.env and inst.op in BOUNDED:
                self.bound(inst, res.name)
            if inst.op is Op.MUL and len(ints) == 2 and res.name not in self.env:
                known = [i for i in ints if i is not None]
                if len(known) == 1:
                    other = inst.operands[ints.index(None)].name
                    self.runtime_scale[res.name] = self.runtime_scale.get(other, 1.0) * known[0]
            return
        if inst.op is Op.ADD and any(o.name in self.fused for o in inst.operands):
            return  # acc + dot: becomes dot(a, b, acc), accumulated by the tensor cores in place
        if len(inst.results) == 1:
            self.a.alu_flops += self.numel(inst.result.type) * ALU_WEIGHT[inst.op] * mult

    def bound(self, inst, name: str) -> None:
        """An upper bound of a runtime scalar from its operands' values and bounds (sizes and
        trip counts are not negative: a bound of `a + b` is the sum of theirs)."""
        vals = [self.env.get(v.name) for v in inst.operands]
        ups = [v if v is not None else self.upper.get(o.name) for v, o in zip(vals, inst.operands)]
        op, ub = inst.op, None
        if op is Op.MINIMUM:
            known = [u for u in ups if u is not None]
            ub = min(known) if known else None
        elif None in ups:
            return
        elif op is Op.CAST or op is Op.MAXIMUM:
            ub = max(ups)
        elif op is Op.ADD or (op is Op.MUL and min(ups) >= 0):
            ub = ups[0] + ups[1] if op is Op.ADD else ups[0] * ups[1]
        elif op is Op.SUB and vals[1] is not None:
            ub = ups[0] - vals[1]
        elif op is Op.FLOORDIV and vals[1] is not None and vals[1] > 0:
            ub = ups[0] // vals[1]
        if ub is not None:
            self.upper[name] = ub

    def trips(self, inst) -> tuple[float, str]:
        """A loop's trip count and where it comes from (see `UNKNOWN_TRIPS`)."""
        env, ops = self.env, inst.operands
        start, stop, step = env.get(ops[0].name), env.get(ops[1].name), env.get(ops[2].name)
        if None not in (start, stop, step) and step != 0:
            return max(0, -(-(stop - start) // step)), "bounds"
        expect = inst.attr("expect")
        if expect is not None:
            v = trips_of(expect, self.known.get)
            if v is not None:
                return max(0, v), "expect"
        if start is not None and step is not None and step > 0:
            ub = self.upper.get(inst.operands[1].name)
            if ub is not None:
                return max(0, -(-(ub - start) // step)), "bound"
            width = self.table_width(inst.regions[0])
            if width is not None:
                return max(0, -(-(width - start) // step)), "table"
        scale = self.runtime_scale.get(inst.operands[1].name, 1.0) if start == 0 and step else 1.0
        return max(1, round(UNKNOWN_TRIPS * scale / (step or 1))), "default"

    def table_width(self, body: Block) -> int | None:
        """The smallest size of a tensor axis that the loop variable of `body` (or a cast of it)
        indexes directly in a load or store of the body: a loop over a page table's entries."""
        ivs = {body.args[0].name}
        out = None
        for inst in walk(body):
            if inst.op is Op.CAST and inst.operands[0].name in ivs:
                ivs.add(inst.result.name)
                continue
            acc = access_of(inst) if inst.op in _ACCESS_OPS else None
            if acc is None:
                continue
            for ax, off in enumerate(acc.offsets):
                if off.name in ivs and ax < acc.tensor.type.rank:
                    entry = acc.shape[ax] if acc.shape else None
                    if entry is None or self.dim(entry) == 1:  # one index along this axis
                        size = self.dim(acc.tensor.type.shape[ax])
                        out = size if out is None else min(out, size)
        return out

    def run(self) -> Analysis:
        self.a.smem_reserve = self.caps.static_smem
        self.block(self.fn.body, 1.0, None)
        return self.a


def _const(w: _Walker, inst, mult, stages):
    v = inst.attr("value")
    if isinstance(v, Sym):
        w.env[inst.result.name] = w.dim(v)
    elif isinstance(v, int) and not isinstance(v, bool):
        w.env[inst.result.name] = v


def static_scalars(fn: Function, sizes: dict[str, int]) -> dict[int, tuple[str, int]]:
    """The scalars every walk of `fn` gives the same value, by the id of the inst defining them:
    integer constants and the sizes of tensor parameters (``a.shape[0]``: a size name holds a dot,
    a knob name never does). None where a result name repeats (the walk's env is keyed by name)."""
    out: dict[int, tuple[str, int]] = {}
    names: set[str] = set()
    for inst in walk(fn.body):
        for v in inst.results:
            if v.name in names:
                return {}
            names.add(v.name)
        if inst.op is Op.CONST:
            v = inst.attr("value")
            if isinstance(v, int) and not isinstance(v, bool):
                out[id(inst)] = (inst.result.name, v)
        elif inst.op is Op.DIM:
            d = inst.operands[0].type.shape[inst.attr("axis")]
            if isinstance(d, int):
                out[id(inst)] = (inst.result.name, d)
            elif isinstance(d, str) and "." in d:
                out[id(inst)] = (inst.result.name, sizes.get(d, 1))
    return out


def _dimh(w: _Walker, inst, mult, stages):
    t = inst.operands[0].type
    w.env[inst.result.name] = w.dim(t.shape[inst.attr("axis")])


def _grid(w: _Walker, inst, mult, stages):
    w.a.grid = tuple(max(1, w.env.get(v.name, UNKNOWN_GRID)) for v in inst.operands)
    w.a.group_attr = inst.attr("group_m")
    body = inst.regions[0]
    loaded = w.block(body, mult, stages)
    w.a.inflight_parts.append((loaded, None, 0))


def _for(w: _Walker, inst, mult, stages):
    trips, how = w.trips(inst)
    w.a.loop_trips.append((trips, how))
    if how != "bounds":
        w.a.unknown_trips += 1
    s = inst.attr("stages")
    body = inst.regions[0]
    w.a.stage_attrs.append(s)
    w.a.loop_iters += trips * mult
    if w.registers:  # the accumulators' registers (not the bound's walk, `Analyzer`)
        for init, v in zip(inst.operands[3:], inst.results):
            # an accumulator handed from one loop to the next (nested, or one loop after another)
            # keeps its registers: count it once
            if v.type.space.is_tile_like and init.name not in w.carried:
                words = w.numel(v.type) * max(v.type.dtype.bits, 32) / 32
                if w.late:
                    w.a.late_carried_words += words
                else:
                    w.a.carried_words += words
        w.carried.update(v.name for v in (*inst.results, *body.args[1:]))
    w.loop_defs.append(w.plans.defs(body))
    piped = _pipelines(w, inst)
    w.loops.append(inst)
    w.pipelined += piped
    try:
        loaded = w.block(body, mult * trips, s)
    finally:
        w.loop_defs.pop()
        w.loops.pop()
        w.pipelined -= piped
    w.a.inflight_parts.append((loaded, s, 1))


def _pipelines(w: _Walker, inst) -> bool:
    """Whether the TileLang lowering makes this FOR a ``T.Pipelined`` loop (a stage count, a
    unit step, not in a thread region: lowering/tilelang/control.py `_loop_header`)."""
    s = inst.attr("stages")
    return s is not None and bool(w.dim(s)) and w.const(inst.operands[2]) == 1 and not w.in_threads


def _if(w: _Walker, inst, mult, stages):
    """A branch the knob values decide is walked alone (a split kernel's atomic epilogue or its
    plain store); a runtime branch prices both sides' work and the larger one's loads."""
    cond = w.conds.get(inst.operands[0].name)
    atomic = w.plans.turns.get(inst.operands[0].name)
    if cond is None and atomic is not None:
        # a counter's turn (`if td.atomic_add(count, ..., 1) == n - 1:`): one program of the n
        # sharing the counter (the grid axes its address does not depend on) takes it, the others
        # the else branch. Found from the atomic's window, not its walk: a walk without accesses
        # (the search's first bound) must price the branch as the full walk does.
        win = w.window(atomic)
        axes = win.axes if win is not None else frozenset(range(len(w.a.grid)))
        share = max(1.0, float(math.prod(n for ax, n in enumerate(w.a.grid) if ax not in axes)))
        taken = w.block(inst.regions[0], mult / share, stages)
        rest = [w.block(r, mult * (1 - 1 / share), stages) for r in inst.regions[1:]]
        return max([taken, *rest])
    regions = inst.regions if cond is None else inst.regions[:1] if cond else inst.regions[1:2]
    return max((w.block(r, mult, stages) for r in regions), default=0.0)


def _threads(w: _Walker, inst, mult, stages):
    """A thread region's body runs once per thread: its work counts `count` times."""
    outer, w.in_threads = w.in_threads, True
    try:
        return w.block(inst.regions[0], mult * w.dim(inst.attr("count")), stages)
    finally:
        w.in_threads = outer


def _warp_role(w: _Walker, inst, mult, stages):
    """A producer / consumer region: its work is the program's (run by some of its warps)."""
    w.a.warp_roles += 1
    outer, w.role = w.role, inst.attr("role")
    try:
        return w.block(inst.regions[0], mult, stages)
    finally:
        w.role = outer


def _load(w: _Walker, inst, mult, stages):
    v = inst.result
    win = w.window(inst)
    if win is None:  # from a buffer
        w.tile(v, inst)
        return 0.0
    src, isz = win.tensor, win.itemsize
    nbytes = w.span_elems(win.spans) * isz
    w.a.accesses.append(Access(src.name, nbytes, mult, win.axes, False, w.row_of(win.row, isz),
                               w.numel(src.type) * isz))
    if w.registers and v.type.space is not Space.SCALAR:  # registers and shared memory: not the bound's
        full = w.numel(v.type) * v.type.dtype.itemsize
        dims = tuple(w.dim(d) for d in v.type.shape)
        if any(d & (d - 1) for d in dims):
            w.a.odd_tiles.add(dims)
        if v.name in w.dot_feeds:  # staged through shared memory for the tensor cores
            if not (w.pages is not None and _page_view(w, inst, dims)):
                w.a.smem_staged.append((full, stages, 0))
            w.a.operand_words += w.numel(v.type) * v.type.dtype.bits / 32
        else:
            w.tile(v, inst)
    return nbytes


def _page_view(w: _Walker, inst, dims: tuple[int, ...]) -> bool:
    """Whether this dot-operand load is a region of a page an earlier load of the block put in
    shared memory (the TileLang lowering's rule, lowering/tilelang/memory.py): the same key
    (`PageViews.key`), fewer leading columns (`leading_view`). In a pipelined loop only a whole
    page copy is one: unmasked and unfilled, or masked by the length and peeled off the loop's
    last iteration (peel.py). Records the load as a page when it is not a view."""
    if w.in_threads:
        return False
    key = w.pages.key(inst)
    if key is None:
        return False
    if w.pipelined:
        mask = window_of(inst).mask
        if key[3] or (mask is not None and not (w.loops and w.blocks[-1] is w.loops[-1].regions[0]
                                               and w.pages.peeled(w.loops[-1], mask, w.const, w.attr))):
            return False
    seen = w.pages_seen.setdefault(id(w.blocks[-1]), [])
    isz = inst.result.type.dtype.itemsize
    if any(k == key and leading_view(dims, page, isz) for k, page in seen):
        return True
    seen.append((key, dims))
    return False


def _store(w: _Walker, inst, mult, stages):
    win = w.window(inst)
    if win is None:  # into a buffer
        return
    acc, dst, isz = win.acc, win.tensor, win.itemsize
    nbytes = w.span_elems(win.spans) * isz
    rmw = 2 if inst.op is Op.ATOMIC else 1
    if inst.op is Op.ATOMIC and not w.in_threads and inst.results and inst.results[0].type.space is Space.SCALAR:
        # a tile program's scalar atomic: a barrier, a release and a round trip on its path
        # (`cost._handoff_s`); a thread's own atomic inside `td.threads` is none of these
        w.a.handoffs += mult
    accumulate = (inst.op is Op.ATOMIC and inst.attr("kind") == "add" and dst.type.dtype.is_float
                  and bool(inst.results) and inst.results[0].type.space is not Space.SCALAR)
    w.a.accesses.append(Access(dst.name, nbytes * rmw, mult, win.axes, True, w.row_of(win.row, isz),
                               w.numel(dst.type) * isz * rmw, accumulate))
    if id(inst) in w.store_sites:  # a TMA store: one buffer of the whole box, whatever the stages
        w.a.smem_epilogue += math.prod(w.dim(d) for d in acc.shape if d is not None) * dst.type.dtype.itemsize


def _copy(w: _Walker, inst, mult, stages):
    acc = w.plans.access(inst)
    if acc is None:  # buffer to buffer
        return 0.0
    shape = inst.attr("shape")  # the window attr as written (None: whole axes)
    nbytes = w.window_bytes(acc.tensor.type, shape, acc.offsets)
    w.a.accesses.append(Access(acc.tensor.name, nbytes, mult, w.taint_of(acc.offsets), store=acc.write))
    if acc.write:
        return 0.0
    dst = inst.operands[1]
    if dst.name in w.smem_allocs and stages is not None:  # multi-buffered by the pipeliner
        w.a.smem_staged.append((w.smem_allocs.pop(dst.name), stages, 1))
    return nbytes


def _alloc(w: _Walker, inst, mult, stages):
    v = inst.result
    nbytes = w.numel(v.type) * v.type.dtype.itemsize
    if v.type.space is Space.SHARED:
        w.a.smem += nbytes
        w.smem_allocs[v.name] = nbytes
    else:
        w.a.carried_words += nbytes / 4


def _dot(w: _Walker, inst, mult, stages):
    a, b = inst.operands[0].type, inst.operands[1].type
    if w.registers and w.loop_defs and inst.operands[0].name not in w.loop_defs[-1] and \
            inst.operands[0].name in w.dot_feeds:  # registers: not the bound's walk
        w.a.invariant_desc_regs += 2 * -(-w.dim(a.shape[1]) // 16)
    w.a.dots.append(DotUse(w.dim(a.shape[0]), w.dim(b.shape[1]), w.dim(a.shape[1]), a.dtype, mult,
                           consumer=w.role == "consumer"))
    w.a.dot_iters = max(w.a.dot_iters, mult)


def _tile_reduce(w: _Walker, inst, mult, stages):
    w.a.alu_flops += w.numel(inst.operands[0].type) * mult
    w.a.reduces += mult
    if w.caps.reduce_workspace:  # each its own workspace (TileLang allocates one per reduction)
        # a float max / min is two on TileLang: the values and a NaN flag (torch's NaN rule)
        nan_aware = inst.attr("kind") in ("max", "min") and inst.operands[0].type.dtype.is_float
        w.a.smem_per_warp += (2 if nan_aware else 1) * w.caps.reduce_workspace * 32


_HANDLERS = {Op.CONST: _const, Op.DIM: _dimh, Op.GRID: _grid, Op.FOR: _for, Op.IF: _if,
             Op.THREADS: _threads, Op.WARP_ROLE: _warp_role,
             Op.LOAD: _load, Op.STORE: _store, Op.ATOMIC: _store, Op.COPY: _copy,
             Op.ALLOC: _alloc, Op.DOT: _dot, Op.TILE_REDUCE: _tile_reduce}
_SCALAR_HANDLERS = (_const, _dimh)  # handlers that only bind a scalar (skipped where unread)
# Scheduled ops the walk prices at nothing beyond their tiles' registers (`tile`): shape changes
# and constants, terminators, per-thread storage, annotations and barriers; scans and shuffles are
# not priced yet. With `ALU_WEIGHT` and `_HANDLERS` this covers every op that reaches the cost
# model (tests/test_op_coverage.py).
UNPRICED = frozenset({Op.YIELD, Op.EXPAND_DIMS, Op.TRANSPOSE, Op.RESHAPE, Op.BROADCAST_TO, Op.ARANGE,
                      Op.FULL, Op.SCAN, Op.ALLOC_LOCAL, Op.SHUFFLE, Op.BARRIER, Op.LAYOUT})


def _dot_feeders(block: Block) -> tuple[set[str], set[str], set[str]]:
    """(names of values that reach a DOT operand directly or through casts/transposes: the rule
    the placement fact shares, `tiledsl.ir.placement`;
    names of values that live in an accumulator's registers: loop inits and yields, dots into
    an accumulator, names of dot results that are only added to an accumulator in a loop: the
    `fuse_dot_acc` pass makes them ``dot(a, b, acc)`` after knob choice, so they are priced fused)."""
    aliases: set[str] = set()
    fused: set[str] = set()
    users: dict[str, list[Op]] = {}

    def uses(b: Block):
        for inst in b.insts:
            for o in inst.operands:
                users.setdefault(o.name, []).append(inst.op)
            for r in inst.regions:
                uses(r)

    def scan(b: Block, in_loop: bool = False):
        for inst in b.insts:
            if inst.op is Op.DOT:
                # accumulates in place: a dot with an accumulator, or one only added to one in a
                # loop (acc += dot). A product scaled first (acc += dot * s) is a second fp32
                # tile live beside the accumulator, so it keeps its own registers.
                if len(inst.operands) == 3:
                    aliases.add(inst.result.name)
                elif in_loop and all(op is Op.ADD for op in users.get(inst.result.name, [Op.ADD])):
                    aliases.add(inst.result.name)
                    fused.add(inst.result.name)
            if inst.op is Op.FOR:
                aliases.update(v.name for v in (*inst.operands[3:], *inst.results))
                aliases.update(v.name for v in inst.regions[0].insts[-1].operands)
            for r in inst.regions:
                scan(r, in_loop or inst.op is Op.FOR)

    uses(block)
    scan(block)
    return dot_feeders(block), aliases, fused


def _dot_operands(block: Block) -> frozenset[str]:
    """Names of the tiles a DOT takes as operands, directly or through one transpose (the
    buffers a backend that stages computed operands in shared memory fills)."""
    direct = {o.name for i in walk(block) if i.op is Op.DOT for o in i.operands[:2]}
    return frozenset(direct | {i.operands[0].name for i in walk(block)
                               if i.op is Op.TRANSPOSE and i.result.name in direct})


class _Plans:
    """Per block, each instruction with its handler and the results that are new tiles: found
    once per function, not once per walk (enum hashing and attribute reads dominate a walk)."""

    def __init__(self, static: dict[int, tuple[str, int]] | None = None, read: frozenset[str] | None = None):
        """`static`: insts whose scalar result no knob value changes (`static_scalars`), by id:
        every walk starts with their values (`env`) instead of running them. `read`: the scalars
        the walk reads (`scalars_read`; None: all), the others' arithmetic is not run."""
        self.read = read
        self._by_block: dict[tuple[int, bool, bool], tuple] = {}
        self._defs: dict[int, frozenset[str]] = {}
        self._access: dict[int, object] = {}
        self._windows: dict[int, Window | None] = {}
        self.static = static or {}
        self.env = dict(self.static.values())
        self.late: frozenset[int] = frozenset()  # `liveness.late_insts`
        self.turns: dict[str, Inst] = {}  # `liveness.counter_turns`
        self.dot_operands: frozenset[str] = frozenset()  # `_dot_operands`, set by `Analyzer`

    def defs(self, block: Block) -> frozenset[str]:
        """Names defined in `block` (its args and every result, nested regions too)."""
        got = self._defs.get(id(block))
        if got is None:
            names = {a.name for a in block.args}
            for inst in walk(block):
                names.update(v.name for v in inst.results)
                for r in inst.regions:
                    names.update(a.name for a in r.args)
            got = self._defs[id(block)] = frozenset(names)
        return got

    def of(self, block: Block, registers: bool = True, accesses: bool = True) -> tuple:
        """(inst, handler, new tiles) of each inst of `block` that the walk has something to do
        for (a handler, or tiles whose registers it counts: `registers`); without `accesses`,
        global loads and stores are only noted where the walk meets them (`_defer`)."""
        key = (id(block), registers, accesses)
        plan = self._by_block.get(key)
        if plan is None:
            steps = (self._step(i) for i in block.insts)
            plan = self._by_block[key] = tuple(
                (inst, h if accesses or inst.op not in _WALK_ACCESS_OPS else _defer, tiles)
                for inst, h, tiles in steps if h is not None or (registers and tiles))
        return plan

    def access(self, inst):
        """`access_of(inst)`, found once per inst (it depends on no knob value)."""
        key = id(inst)
        if key not in self._access:
            self._access[key] = access_of(inst)
        return self._access[key]

    def window(self, inst, w: _Walker) -> Window | None:
        """`_Walker.window`, found once per inst (`w`: a walk of this plan's function)."""
        key = id(inst)
        if key not in self._windows:
            acc = self.access(inst)
            self._windows[key] = None if acc is None else Window(
                acc, acc.tensor, acc.tensor.type.dtype.itemsize, w.taint_of(acc.offsets),
                spans(acc.tensor.type, acc.shape, acc.offsets), row_span(acc.tensor.type, acc.shape, acc.offsets))
        return self._windows[key]

    def _step(self, inst) -> tuple:
        op = inst.op
        handler = _HANDLERS.get(op)
        if id(inst) in self.static:
            handler = None  # its value is in every walk's env from the start
        elif handler in _SCALAR_HANDLERS and self.read is not None and unread_scalar(inst, self.read):
            handler = None  # e.g. a tile's offsets: no walk reads their values
        elif op is Op.CONST:
            handler = const_step(inst)
        elif handler is None and op in _MATH:
            scalar = inst.results and inst.results[0].type.space is Space.SCALAR
            if not scalar:
                handler = _math
            elif self.read is None or not unread_scalar(inst, self.read):
                handler = scalar_math_step(inst)
        tiles = () if op is Op.LOAD else tuple(v for v in inst.results if v.type.space in _TILE_LIKE)
        return inst, handler, tiles


def _math(w: _Walker, inst, mult, stages):
    w.math(inst, mult)
    v = inst.results[0] if inst.results else None
    if w.caps.shared_operands and v is not None and v.name in w.dot_operands and v.type.space.is_tile_like:
        # a computed dot operand in its shared buffer: one, whatever the stages (it is written
        # and read in the same iteration)
        w.a.smem_operands += w.numel(v.type) * v.type.dtype.itemsize


def _defer(w: _Walker, inst, mult, stages):
    """A load or store in a walk without accesses: noted, run by `Analyzer.with_accesses`."""
    w.deferred.append((inst, mult, stages))
    return 0.0


class Analyzer:
    """Walks one function for many knob values; what does not depend on them is found once."""

    def __init__(self, fn: Function, sizes: dict[str, int], tma_store: bool = False, caps: Capabilities = ANY):
        """`tma_store`: the backend stores epilogues through TMA on the target (the target has
        TMA and the backend's record `tma_store`): their staging buffers count as shared memory.
        `caps`: the backend's record, for the rest of its shared memory: a page's leading columns
        kept as a region of it (`shared_page_views`: charged once, with the page), computed dot
        operands, reduction workspaces and static shared memory (`shared_operands`,
        `reduce_workspace`, `static_smem`)."""
        self.fn, self.sizes, self.caps = fn, sizes, caps
        self.pages = PageViews(fn) if caps.shared_page_views else None
        self.dot_feeds = _dot_feeders(fn.body)  # (feeders, accumulator aliases, fused dots)
        # keyed by the blocks' ids: they live as long as fn
        self.plans = _Plans(static_scalars(fn, sizes), scalars_read(fn.body))
        self.plans.late, self.plans.turns = late_insts(fn), counter_turns(fn)
        self.plans.dot_operands = _dot_operands(fn.body)
        self.store_sites = frozenset(tma_store_sites(fn)) if tma_store else frozenset()
        self.taint = grid_taint(fn.body)
        self._unfinished: dict[int, _Walker] = {}  # walks without accesses, by id of their analysis

    def __call__(self, values: dict[str, int], registers: bool = True, accesses: bool = True) -> Analysis:
        """The walk for `values`, before `Analysis.resolve` (stages and group unresolved).
        `registers=False`: a cheaper walk for `cost.lower_bound_us` only, which leaves out the
        registers (the tiles': `tile_words`, `max_numel`, `odd_tiles`, a third of the walk; the
        loop-carried tiles', `carried_words`; hoisted descriptors, `invariant_desc_regs`); what
        the bound reads (grid, dots, ALU work, loops, accesses) is the full walk's.
        `accesses=False` (with `registers=False`): a cheaper walk still, without global loads and
        stores, whose bound is no larger than the walk's own (`cost.lower_bound_us`): the rest
        (grid, dots, ALU work, loops) is the full walk's: a load gives the walk no scalar value.
        `with_accesses` completes it."""
        assert accesses or not registers, "registers are counted from the loaded tiles"
        w = _Walker(self.fn, self.sizes, values, self.dot_feeds, self.plans, self.store_sites, self.taint,
                    registers, self.pages, self.caps, accesses)
        a = w.run()
        if w.deferred:
            self._unfinished[id(a)] = w  # holds `a`: the id stays its own
        return a

    def with_accesses(self, a: Analysis) -> Analysis:
        """`a`, a walk made without accesses, with its loads and stores run where the walk met
        them: every figure `cost.lower_bound_us` reads is then the walk without registers' (not
        the bytes in flight and shared memory of the loads, which the bound does not read)."""
        w = self._unfinished.pop(id(a), None)
        if w is not None:
            for inst, mult, stages in w.deferred:
                _HANDLERS[inst.op](w, inst, mult, stages)
            w.deferred.clear()
        return a


def analyze(fn: Function, sizes: dict[str, int], values: dict[str, int], tma_store: bool = False,
            caps: Capabilities = ANY) -> Analysis:
    """Walk `fn` with tensor sizes (``{"x.0": 4096}``) and knob values bound; `caps`: the
    backend's record (`Analyzer`)."""
    return Analyzer(fn, sizes, tma_store, caps)(values).resolve(values)


def tensor_sizes(fn: Function, specs) -> dict[str, int]:
    """``{"x.0": 4096, ...}`` for the tensor parameters of `fn`, from the call's specs.
    Output parameters take their sizes from the input sizes their shapes name. Integer scalar
    parameters whose value the call gives appear under their own name (``{"n": 4096}``): the walk
    prices a grid or loop sized by them with that value (an estimate: the compiled code does not
    depend on it)."""
    out: dict[str, int] = {}
    for p, s in zip(fn.params, specs):
        shape = getattr(s, "shape", None)
        if shape is None:
            v = getattr(s, "value", None)
            if isinstance(v, int) and not isinstance(v, bool) and p.value.type.dtype.is_int:
                out[p.value.name] = v
            continue
        for i, d in enumerate(shape):
            out[size_sym(p.value.name, i)] = int(d)
    for p in fn.params[len(specs):]:
        for i, d in enumerate(p.value.type.shape):
            out[size_sym(p.value.name, i)] = d if isinstance(d, int) else out.get(d, 1)
    return out
