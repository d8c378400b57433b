"""Walk steps specialized per instruction, found once per function (`analysis._Plans`): the
scalar arithmetic and constants that make up most of a GEMM's instructions run once per tile-size
combination in the search, so what they read of the instruction is read once; the grid-axis
taint of every value and what sizes each global access's window (`Window`), which no knob value
changes; and the scalars a walk reads at all (`scalars_read`). Same results as
`analysis._Walker.math` and `analysis._const` (tests/test_schedule_choices.py pins the choices)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from tiledsl.ir.nodes import Block, Space, Sym, Type, Value, walk
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import OPS

if TYPE_CHECKING:
    from tiledsl.schedule.analysis import _Walker

NO_TAINT: frozenset[int] = frozenset()
# ops whose result bounds a runtime scalar from its operands' bounds (`analysis._Walker.bound`)
BOUNDED = frozenset({Op.MINIMUM, Op.MAXIMUM, Op.ADD, Op.SUB, Op.MUL, Op.FLOORDIV, Op.CAST})


def const_step(inst):
    """`analysis._const` with the attribute read once per function (the walk's most run handler)."""
    v, name = inst.attr("value"), inst.result.name
    if isinstance(v, Sym):
        sym = v.name

        def run(w: _Walker, inst, mult, stages):
            w.env[name] = w.known.get(sym, 1)
        return run
    if isinstance(v, int) and not isinstance(v, bool):
        def run_int(w: _Walker, inst, mult, stages):
            w.env[name] = v
        return run_int
    return None


def _fold(fold, shift: bool, ints: list) -> int | bool | None:
    """`optable.fold_int(op, ints)` with the op's table entry looked up once (no result width)."""
    for i in ints:
        if not isinstance(i, int):
            return None
    if shift and not 0 <= ints[1] < 64:
        return None
    try:
        return fold(*ints)
    except ArithmeticError:
        return None


def scalar_math_step(inst):
    """`_Walker.math` on a scalar result, with what it reads of the inst found once: the operand
    names, and whether the op folds at all (most steps are `cdiv` arithmetic on knob values)."""
    op, res = inst.op, inst.results[0]
    names = tuple(v.name for v in inst.operands)
    single = len(inst.results) == 1
    fold = OPS[op].fold if OPS[op].int_fold else None
    shift = op in (Op.SHL, Op.SHR)
    int_cast = op is Op.CAST and res.type.dtype.is_int
    bounded = op in BOUNDED
    minimum = op is Op.MINIMUM
    scaled = op is Op.MUL and len(names) == 2

    def run(w: _Walker, inst, mult, stages):
        env = w.env
        ints = [env.get(n) for n in names]
        rname = res.name
        unknown = None in ints
        if single and fold is not None and not unknown:
            r = _fold(fold, shift, ints)  # unbounded: sizes and trip counts, not the GPU's i32
            if isinstance(r, bool):
                w.conds[rname] = r
            elif r is not None:
                env[rname] = r
        if int_cast and ints and ints[0] is not None:
            env[rname] = ints[0]
        if rname in env:
            return
        # `bound` finds nothing for an op other than a minimum with an unknown operand that has
        # no bound either (no bound at all yet: most walks)
        if bounded and (minimum or w.upper or not unknown):
            w.bound(inst, rname)
        if scaled and rname not in env:
            known = [i for i in ints if i is not None]
            if len(known) == 1:
                other = names[ints.index(None)]
                w.runtime_scale[rname] = w.runtime_scale.get(other, 1.0) * known[0]
    return run


def grid_taint(body: Block) -> dict[str, frozenset[int]]:
    """The grid axes each value's computation depends on (an access's offsets that depend on no
    axis are shared by all programs: the L2 model): a grid's body args are its axes, a loop's
    body args depend on what its bounds depend on, any other result on what its operands do."""
    taint: dict[str, frozenset[int]] = {}

    def of(vals) -> frozenset[int]:
        out = NO_TAINT
        for v in vals:
            t = taint.get(v.name)
            if t:
                out = out | t
        return out

    def block(b: Block) -> None:
        for inst in b.insts:
            t = of(inst.operands)
            for v in inst.results:
                taint[v.name] = t
            if inst.op is Op.GRID:
                for i, arg in enumerate(inst.regions[0].args):
                    taint[arg.name] = frozenset({i})
            elif inst.op is Op.FOR:
                t = of(inst.operands[:3])
                for arg in inst.regions[0].args:
                    taint[arg.name] = t
            for r in inst.regions:
                block(r)

    block(body)
    return taint


def scalars_read(body: Block) -> frozenset[str]:
    """The scalar values whose walk-time value can change the analysis: grid sizes, loop bounds,
    branch conditions, and every scalar they are computed from. The walk reads scalar values
    nowhere else, so scalar arithmetic outside this slice (a tile's offsets: ``i * BM``,
    ``(s * per + kk) * BK``, half of a GEMM's scalar instructions) need not run per walk
    (`analysis._Plans`). Names, not values: a name defined twice is kept if either definition
    is read."""
    defs: dict[str, list] = {}
    todo: list[str] = []
    for inst in walk(body):
        for v in inst.results:
            defs.setdefault(v.name, []).append(inst)
        if inst.op is Op.GRID:
            todo += (v.name for v in inst.operands)
        elif inst.op is Op.FOR:
            todo += (v.name for v in inst.operands[:3])
        elif inst.op is Op.IF:
            todo.append(inst.operands[0].name)
    read: set[str] = set()
    while todo:
        name = todo.pop()
        if name in read:
            continue
        read.add(name)
        for inst in defs.get(name, ()):
            todo += (v.name for v in inst.operands)
    return frozenset(read)


def unread_scalar(inst, read: frozenset[str]) -> bool:
    """Whether `inst` only computes scalars the walk never reads (`scalars_read`)."""
    return bool(inst.results) and not inst.regions and \
        all(v.type.space is Space.SCALAR and v.name not in read for v in inst.results)


def spans(src: Type, shape_attr, offsets) -> tuple:
    """What sizes a window along each axis, as dims a walk looks up: a gathered axis (a rank-1
    offset) its index vector's length, ``(n, None)``; an axis the window's shape attr sizes, that
    size and the tensor's, ``(entry, size)`` (the part inside the tensor). Other axes: one index."""
    out = []
    for ax, off in enumerate(offsets):
        entry = shape_attr[ax] if shape_attr else None
        if off.type.rank == 1:
            out.append((off.type.shape[0], None))
        elif entry is not None:
            out.append((entry, src.shape[ax]))
    return tuple(out)


def row_span(src: Type, shape_attr, offsets) -> tuple | None:
    """(the window's extent along the last axis, the tensor's size there) for
    `analysis._Walker.row_bytes`; a gathered or unsized last axis has extent 1. None without
    offsets (one element)."""
    if not offsets:
        return None
    entry = shape_attr[-1] if shape_attr else None
    return (entry if entry is not None and offsets[-1].type.rank == 0 else 1), src.shape[-1]


class Window(NamedTuple):
    """A global access's facts that no knob value changes (`analysis._Walker.window`)."""

    acc: object  # `optable.access_of(inst)`
    tensor: Value
    itemsize: int
    axes: frozenset[int]  # the grid axes its offsets depend on
    spans: tuple  # `spans`
    row: tuple | None  # `row_span`
