"""How each ``T.gemm`` splits its tile over the block's warps, and which A operands go through
shared memory. Decided once per function, before emission (`plan_gemms`).

TileLang gives every fragment one layout. A gemm fixes the layouts of its fragments: its
accumulator C (the rows and columns each thread holds depend on the warp partition, the
``policy``) and a fragment A operand (each warp needs all of A's K columns for its rows, and the
whole of A when the partition splits N). Elementwise work on a gemm's result (the softmax of
attention scores) runs in that layout. So when the probabilities of one gemm feed a second gemm
as its A operand (``p @ v`` after ``q @ k.T``), or the results of two gemms meet in one
expression (``acc * alpha`` with ``alpha`` reduced from the scores), the partitions have to
agree, or TileLang stops with "Layout infer conflict". Gemms connected that way form a group:

- if every gemm of the group can put all warps along its rows (``M % (16 * num_warps) == 0``:
  ``GemmWarpPolicy.FullRow``), all take FullRow: a row belongs to the same thread in every
  fragment, and an A operand computed in registers stays there (TileLang's flash attention);
- otherwise all take FullCol (one warp group along M, warp groups split N: every warp group holds
  every row, so row vectors still agree), and an A operand computed from another gemm's result is
  staged through shared memory first, which takes any layout (TileLang's MLA decode).

A gemm in no group takes the partition that gives the widest wgmma on Hopper (`_shape_policy`):
a 128x256 tile on two warp groups runs m64n256 (FullRow) rather than TileLang's "square"
default of two m64n128 halves, a 256x128 tile m64n128 rather than m64n64.
"""

from __future__ import annotations

from dataclasses import dataclass

from tiledsl.ir.nodes import Block, Inst, Space, Value, walk
from tiledsl.ir.ops import Op
from tiledsl.targets import Target

FULL_ROW, FULL_COL = "FullRow", "FullCol"
_M_PER_WARP = 16  # rows of one warp's mma / one warp's share of a wgmma
_N_PER_WARP = 8
_WARP_GROUP = 4  # warps per wgmma warp group
_WGMMA_N_MAX = 256


@dataclass(frozen=True)
class GemmPlan:
    policy: dict[str, str]  # DOT result name -> TileLang policy name (absent: TileLang's Square)
    stage_a: frozenset[str]  # DOT result names whose A operand is staged through shared memory


def plan_gemms(body: Block, num_warps: int, target: Target, shape_of) -> GemmPlan:
    """`shape_of(value)` gives a DOT result's static shape (knobs resolved)."""
    dots = [i for i in walk(body) if i.op is Op.DOT]
    if not dots:
        return GemmPlan({}, frozenset())
    deps = _dot_deps(body)
    groups = _UnionFind()
    chained: dict[str, frozenset[str]] = {}  # dot -> dots its A operand is computed from
    for inst in walk(body):
        for ds in _meeting(inst, deps):
            groups.union_all(ds)
    for d in dots:
        a_deps = deps.get(d.operands[0].name, frozenset())
        chained[d.result.name] = a_deps
        groups.union_all(a_deps | {d.result.name})
    members: dict[str, list[Inst]] = {}
    for d in dots:
        members.setdefault(groups.find(d.result.name), []).append(d)
    policy: dict[str, str] = {}
    stage: set[str] = set()
    for group in members.values():
        if len(group) == 1 and not chained[group[0].result.name]:
            p = _shape_policy(*shape_of(group[0].result)[-2:], num_warps, target)
            if p:
                policy[group[0].result.name] = p
            continue
        if all(shape_of(d.result)[-2] % (_M_PER_WARP * num_warps) == 0 for d in group):
            policy.update({d.result.name: FULL_ROW for d in group})
        else:
            policy.update({d.result.name: FULL_COL for d in group})
            stage.update(d.result.name for d in group if chained[d.result.name])
    # a warp-specialised gemm runs on the consumer warp groups only, not on num_warps warps:
    # TileLang partitions it over the threads of its region by itself
    for role in (i for i in walk(body) if i.op is Op.WARP_ROLE):
        for d in walk(role.regions[0]):
            if d.op is Op.DOT:
                policy.pop(d.result.name, None)
    return GemmPlan(policy, frozenset(stage))


def _shape_policy(m: int, n: int, num_warps: int, target: Target) -> str | None:
    """The partition with the widest wgmma instruction (N per warp group, up to 256); among
    equals the one with more warp groups along M (each wgmma then reads less of B). None: leave
    TileLang's default (no wgmma here: mma tiles are best near square)."""
    if not target.has_wgmma or m < 64 or num_warps % _WARP_GROUP:
        return None
    wgs = num_warps // _WARP_GROUP
    if wgs == 1:
        return None  # one warp group: one partition, whatever the policy
    best: tuple[int, int] | None = None
    for m_g in range(1, wgs + 1):
        n_g = wgs // m_g
        if wgs % m_g or m % (64 * m_g) or n % (_N_PER_WARP * n_g):
            continue
        key = (min(n // n_g, _WGMMA_N_MAX), m_g)
        best = key if best is None or key > best else best
    if best is None:
        return None
    m_g = best[1]
    return FULL_ROW if m_g == wgs else FULL_COL if m_g == 1 else None


# --- dataflow ---------------------------------------------------------------------------------------
def _tiles(vs) -> list[Value]:
    return [v for v in vs if v.type.space is not Space.SCALAR and v.type.space is not Space.GLOBAL]


def _dot_deps(body: Block) -> dict[str, frozenset[str]]:
    """Value name -> the DOT results whose register contents it is computed from (through
    elementwise math, reductions, views, loop-carried values, branch results and copies into
    buffers). Iterated to a fixed point: loop-carried values depend on their own yields."""
    deps: dict[str, frozenset[str]] = {}

    def add(name: str, ds: frozenset[str]) -> bool:
        old = deps.get(name, frozenset())
        new = old | ds
        if new != old:
            deps[name] = new
            return True
        return False

    def of(vs) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for v in vs:
            out |= deps.get(v.name, frozenset())
        return out

    changed = True
    while changed:
        changed = False
        for inst in walk(body):
            for name, ds in _flows(inst, of):
                changed |= add(name, ds)
    return deps


def _flows(inst: Inst, of):
    """(value name, dots) pairs: what `inst` passes on."""
    op = inst.op
    if op is Op.DOT:
        acc = inst.operands[2:3]
        return [(inst.result.name, frozenset({inst.result.name}) | of(acc))]
    if op is Op.FOR:
        body = inst.regions[0]
        term = body.insts[-1] if body.insts and body.insts[-1].op is Op.YIELD else None
        out = []
        for k, (r, a) in enumerate(zip(inst.results, body.args[1:])):
            ds = of([inst.operands[3 + k]]) | (of([term.operands[k]]) if term else frozenset())
            out += [(r.name, ds), (a.name, ds)]
        return out
    if op is Op.IF:
        out = []
        for k, r in enumerate(inst.results):
            ys = [b.insts[-1].operands[k] for b in inst.regions if b.insts and b.insts[-1].op is Op.YIELD]
            out.append((r.name, of(ys)))
        return out
    if op is Op.COPY:
        dst = inst.operands[1]
        return [(dst.name, of(inst.operands[:1]))] if dst.type.space.is_buffer else []
    if op in (Op.STORE, Op.ATOMIC, Op.YIELD, Op.GRID, Op.THREADS, Op.WARP_ROLE) or not inst.results:
        return []
    return [(r.name, of(_tiles(inst.operands))) for r in inst.results]


def _meeting(inst: Inst, deps) -> list[frozenset[str]]:
    """Sets of dots whose results meet in one computation of `inst` (one ``T.Parallel`` loop)."""
    if inst.op in (Op.DOT, Op.FOR, Op.IF, Op.GRID, Op.THREADS, Op.WARP_ROLE, Op.YIELD):
        return []
    ds: frozenset[str] = frozenset()
    for v in _tiles(inst.operands):
        ds |= deps.get(v.name, frozenset())
    return [ds] if len(ds) > 1 else []


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union_all(self, xs) -> None:
        xs = list(xs)
        for y in xs[1:]:
            self.parent[self.find(y)] = self.find(xs[0])
