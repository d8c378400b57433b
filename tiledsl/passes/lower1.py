"""Level 1 -> level 2: whole-tensor dataflow becomes one fused tile program with auto knobs.

Sizes known equal (same symbol, broadcast partners, matmul inner sizes, the function's
``assume`` pairs) form *classes*. A plan picks one of three shapes of program:

- **gemm** (one ``a @ b``): grid over M x N tiles (``BLOCK_M``, ``BLOCK_N``, grouped launch order
  ``GROUP_M``), a pipelined K loop (``BLOCK_K``, ``stages``) that loads operand tiles (prologue ops
  applied to the tiles, masked at the K edge when they could turn padding into non-zeros) and
  accumulates ``td.dot`` in f32; the epilogue (bias, activation, cast) runs on the accumulator tile
  before the one store per output.
- **rows** (reductions, e.g. over the last axis: softmax, layernorm, sums): grid over the
  classes no reduction reduces (at most 3: ``BLOCK_M`` rows per program, ``BLOCK_B``/``BLOCK_A``
  for more). One pass when every value's reduced rows fit the register budget together (each
  reduced class a whole row, block = next power of two), which also takes reductions over
  different classes (``td.sum(td.max(x, axis=0), axis=0)``, or two tensors whose reduced sizes
  nothing says are equal). Else one loop per reduction over ``BLOCK_N`` chunks of its own class,
  then per reduced class a loop that recomputes and stores the outputs along it; no value may
  then span two reduced classes. Reduction inputs are masked to the reduction's identity
  (`tiledsl.schedule.identity`) outside the row.
- **elementwise**: grid over every class of the outputs (``BLOCK``, or ``BLOCK_M``/``BLOCK_N``).

Every value is emitted on tiles by replaying its level-1 op on tile operands (`_Emitter.emit`), so
elementwise producers and consumers are fused into the one program. Outputs become OUTPUT params
(named ``out``, ``out1``...; the function attr ``outputs`` lists them in RETURN order) with the
symbolic shapes of the returned values. Anything else raises `ScheduleError` at its line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tiledsl.dtypes import DType
from tiledsl.errors import ScheduleError, TypeCheckError
from tiledsl.ir.builder import Builder
from tiledsl.ir.infer import Unifier
from tiledsl.ir.nodes import Block, Function, Inst, Knob, Loc, Param, ParamKind, Space, Sym, Type, Value, walk
from tiledsl.ir.ops import Group, Op
from tiledsl.ir.optable import BINARY, REDUCE_KINDS, UNARY
from tiledsl.schedule.analysis import tensor_sizes
from tiledsl.schedule.identity import reduction_identity
from tiledsl.targets import Target

_I32 = DType.i32
_HINT = "write this kernel at level 2 (td.grid / td.load / td.store) and leave its knobs as td.auto"
_ELEMENTWISE = UNARY | BINARY | {Op.WHERE, Op.CLAMP, Op.CAST}  # replayed on tiles, operands broadcast
_REPLAY = frozenset(_ELEMENTWISE | {Op.EXPAND_DIMS, Op.CONST, Op.DIM})


def is_level1(fn: Function) -> bool:
    """Whole-tensor code to schedule: dataflow ops or a RETURN, and no tile program yet."""
    ops = {i.op for i in walk(fn.body)}
    return Op.GRID not in ops and (Op.RETURN in ops or any(o.group is Group.DATAFLOW for o in ops))


def _trivial(inst: Inst) -> bool:
    """A reduction over an axis of size 1 (the specs specialize size-1 axes to the int 1): it
    reduces nothing, so it is replayed on its tile like an elementwise op (no class, no mask)."""
    return inst.op is Op.REDUCE and inst.operands[0].type.shape[inst.attr("axis")] == 1


class _Classes:
    """Union-find over tensor sizes known to be equal."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, d: str) -> str:
        self.parent.setdefault(d, d)
        while self.parent[d] != d:
            self.parent[d] = self.parent[self.parent[d]]
            d = self.parent[d]
        return d

    def union(self, a, b) -> None:
        if isinstance(a, str) and isinstance(b, str):
            ra, rb = self.find(a), self.find(b)
            if ra != rb:
                self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class _Plan:
    kind: str  # gemm | rows | elementwise
    grid: list[str]  # classes tiled by the grid, grid axis order
    block: dict[str, object]  # class -> knob name or fixed int
    reduce_class: str | None = None  # the class a two-pass plan chunks
    one_pass: bool = True
    matmul: Inst | None = None
    knobs: list[str] = field(default_factory=list)
    reduce_classes: list[str] = field(default_factory=list)  # every reduced class (one pass: each whole)


def _fail(msg: str, inst: Inst | None, fn: Function, hint: str = _HINT) -> ScheduleError:
    return ScheduleError(f"{fn.name}: {msg}", inst.loc if inst is not None else fn.loc, hint)


def _classes(fn: Function, insts: list[Inst]) -> _Classes:
    c = _Classes()
    for a, b in fn.attr("assume") or ():
        c.union(a, b)
    for inst in insts:
        if inst.op is Op.MATMUL:
            c.union(inst.operands[0].type.shape[1], inst.operands[1].type.shape[0])
        elif inst.results and inst.op in _ELEMENTWISE:
            out = inst.result.type.shape
            for v in inst.operands:
                for d, o in zip(reversed(v.type.shape), reversed(out)):
                    if d != 1:
                        c.union(d, o)
    return c


def _plan(fn: Function, insts: list[Inst], cls: _Classes, sizes: dict[str, int], target: Target) -> _Plan:
    for inst in insts:
        if inst.op in (Op.RESHAPE, Op.TRANSPOSE, Op.BROADCAST_TO) and \
                inst.result.type.space is Space.GLOBAL:
            raise _fail(f"{inst.op.ir_name} of whole tensors is not scheduled automatically", inst, fn)
        if inst.op.group not in (Group.CORE, Group.MATH, Group.SHAPE, Group.DATAFLOW):
            raise _fail(f"{inst.op.ir_name} mixes level 2/3 into level-1 code", inst, fn)
    mms = [i for i in insts if i.op is Op.MATMUL]
    reds = [i for i in insts if i.op is Op.REDUCE and not _trivial(i)]
    if len(mms) > 1:
        raise _fail("more than one matmul in one level-1 kernel", mms[1], fn)
    if mms and reds:
        raise _fail("a reduction together with a matmul", reds[0], fn)
    if mms:
        a, b = (v.type.shape for v in mms[0].operands)
        if len(a) != 2 or len(b) != 2:
            raise _fail("batched matmul", mms[0], fn)
        if 1 in (*a, *b):
            raise _fail("a matmul with a size-1 axis (a matrix-vector product)", mms[0], fn)
        m, k, n = cls.find(a[0]), cls.find(a[1]), cls.find(b[1])
        return _Plan("gemm", [m, n], {m: "BLOCK_M", n: "BLOCK_N", k: "BLOCK_K"}, matmul=mms[0],
                     knobs=["BLOCK_M", "BLOCK_N", "BLOCK_K", "GROUP_M", "stages"])
    if reds:
        return _rows_plan(fn, insts, reds, cls, sizes, target)
    return _elementwise_plan(fn, insts, cls)


def _shapes(inst: Inst):
    """The shapes an inst's tiles have: a gather does not tile the axis it gathers along."""
    if inst.op is Op.DIM:  # reading a size tiles nothing
        return ()
    if inst.op is Op.GATHER:
        x, idx = inst.operands
        ax = inst.attr("axis")
        return (x.type.shape[:ax] + x.type.shape[ax + 1:], idx.type.shape, inst.result.type.shape)
    return tuple(v.type.shape for v in (*inst.operands, *inst.results))


def _value_classes(insts: list[Inst], cls: _Classes) -> list[str]:
    out: list[str] = []
    for inst in insts:
        for shape in _shapes(inst):
            for d in shape:
                if isinstance(d, str) and cls.find(d) not in out:
                    out.append(cls.find(d))
    return out


def _spans(insts: list[Inst], red: list[str], cls: _Classes) -> list[tuple[Inst, list[str]]]:
    """For each tile shape an inst has, the reduced classes it spans."""
    out = []
    for inst in insts:
        for shape in _shapes(inst):
            have = {cls.find(d) for d in shape if isinstance(d, str)}
            out.append((inst, [c for c in red if c in have]))
    return out


def _size_name(c: str) -> str:
    """A size class as the user reads it: ``x.1`` -> ``x.shape[1]``."""
    name, _, ax = c.rpartition(".")
    return f"{name}.shape[{ax}]" if name and ax.isdigit() else c


_MULTI_HINT = ("reduce one axis per level-1 kernel (call one kernel per reduction), or write it at level 2: "
               "td.grid over the kept axes and, per reduced axis, a loop over chunks (td.load a chunk, "
               "td.sum/td.max it into an accumulator tile)")


def _rows_plan(fn, insts, reds, cls, sizes, target) -> _Plan:
    """Row reductions. One reduced class may be chunked (two passes when a row does not fit);
    several reduced classes (reductions over different axes, or over axes whose sizes nothing
    in the kernel says are equal) are reduced whole in one program, so their rows must fit."""
    red: list[str] = []
    for r in reds:
        c = cls.find(r.operands[0].type.shape[r.attr("axis")])
        if c not in red:
            red.append(c)
    grid = [c for c in _value_classes(insts, cls) if c not in red]
    if len(grid) > 3:
        raise _fail(f"a reduction kernel whose values span {len(grid)} sizes besides the reduced one "
                    f"({', '.join(_size_name(c) for c in grid)}): the level-1 lowering tiles at most 3 "
                    "of them in its grid", reds[0], fn)
    budget = target.regs_per_sm // 4  # a row tile and its temporaries fit in registers
    rows = {c: 1 << max(0, (max((n for d, n in sizes.items() if cls.find(d) == c), default=1) - 1).bit_length())
            for c in red}
    # the largest tile one program holds whole: the reduced classes a value spans, together
    spans = _spans(insts, red, cls)
    whole = max((math.prod(rows[c] for c in span) for _, span in spans), default=1)
    one_pass = whole <= budget
    culprit = next((inst for inst, span in spans if len(span) > 1), None)
    if not one_pass and culprit is not None:  # chunked: each reduction loops over its own axis alone
        span = max((sp for i, sp in spans if i is culprit), key=len)
        raise _fail(f"a value spanning {len(span)} reduced axes ({', '.join(_size_name(c) for c in span)}, "
                    f"reduced by different reductions) in rows too long for one pass ({whole} elements, at "
                    f"most {budget}): the level-1 lowering chunks one reduced axis at a time", culprit, fn,
                    _MULTI_HINT)
    rc = red[0]
    names = {0: [], 1: ["BLOCK_M"], 2: ["BLOCK_B", "BLOCK_M"], 3: ["BLOCK_A", "BLOCK_B", "BLOCK_M"]}[len(grid)]
    block: dict[str, object] = dict(zip(grid, names))
    block.update({c: rows[c] if one_pass else "BLOCK_N" for c in red})  # one chunk size for every axis
    knobs = names + ([] if one_pass else ["BLOCK_N", "stages"])
    if not one_pass and any(REDUCE_KINDS[r.attr("kind")].combine is None for r in reds):  # argmax/argmin
        raise _fail(f"argmax/argmin over rows of {max(rows.values())} elements (more than fit in one pass)",
                    reds[0], fn)
    return _Plan("rows", grid, block, rc, one_pass, knobs=knobs, reduce_classes=red)


def _elementwise_plan(fn, insts, cls) -> _Plan:
    grid = _value_classes(insts, cls)
    if len(grid) > 3:
        # the first inst whose values bring in a fourth size
        culprit = next((i for n, i in enumerate(insts) if len(_value_classes(insts[:n + 1], cls)) > 3), None)
        raise _fail(f"an elementwise kernel over {len(grid)} distinct sizes (at most 3)", culprit, fn)
    names = {0: [], 1: ["BLOCK"], 2: ["BLOCK_M", "BLOCK_N"], 3: ["BLOCK_B", "BLOCK_M", "BLOCK_N"]}[len(grid)]
    return _Plan("elementwise", grid, dict(zip(grid, names)), knobs=list(names))


class _LocBuilder(Builder):
    """A builder whose insts carry the loc of the level-1 inst being lowered (`loc`) unless given
    one: loads, masks and index math then point at the user's line, in errors and in the
    generated code's ``# src:`` comments."""

    loc: Loc | None = None

    def emit(self, op: Op, operands=(), attrs=None, regions=(), loc=None, hint=None, result_types=None) -> Inst:
        try:
            return super().emit(op, operands, attrs, regions, loc or self.loc, hint, result_types)
        except TypeCheckError as e:
            raise ScheduleError(f"lowering {op.ir_name} to tiles: {e}", loc or self.loc, _HINT) from None


class _Emitter:
    def __init__(self, fn: Function, plan: _Plan, cls: _Classes):
        self.fn, self.plan, self.cls = fn, plan, cls
        self.b = _LocBuilder(Unifier({tuple(p) for p in fn.attr("assume") or ()}))
        self.defs: dict[str, Inst] = {v.name: i for i in walk(fn.body) for v in i.results}
        self.params = {p.value.name: p.value for p in fn.params}
        for name in self.params:
            self.b.reserve(name)
        self.scopes: list[dict[str, Value]] = [{}]
        self.win: dict[str, tuple[Value, object]] = {}
        self.size_src: dict[str, tuple[Value, int]] = {}
        for p in fn.params:
            for ax, d in enumerate(p.value.type.shape):
                if isinstance(d, str):
                    self.size_src.setdefault(cls.find(d), (p.value, ax))

    # --- scalars ------------------------------------------------------------------------------
    def const(self, value, dtype: DType = _I32) -> Value:
        return self.b.value(Op.CONST, (), {"value": value, "dtype": dtype}, hint="c")

    def knob(self, block) -> Value:
        return self.const(Sym(block) if isinstance(block, str) else block)

    def memo(self, key: str, make) -> Value:
        """A value built once per scope (sizes, masks): `make()` on a miss."""
        got = self.lookup(key)
        if got is None:
            got = self.scopes[-1][key] = make()
        return got

    def size(self, c: str) -> Value:
        p, ax = self.size_src[c]
        return self.memo(f" size {c}", lambda: self.b.value(Op.DIM, (p,), {"axis": ax}, hint=f"{p.name}_{ax}"))

    def cdiv(self, n: Value, block) -> Value:
        k = self.knob(block)
        m1 = self.b.value(Op.SUB, (k, self.const(1)))
        return self.b.value(Op.FLOORDIV, (self.b.value(Op.ADD, (n, m1)), k), hint="n")

    def shape_attr(self, block) -> object:
        return Sym(block) if isinstance(block, str) else block

    # --- values on tiles ------------------------------------------------------------------------
    def lookup(self, name: str) -> Value | None:
        for s in reversed(self.scopes):
            if name in s:
                return s[name]
        return None

    def emit(self, v: Value) -> Value:
        got = self.lookup(v.name)
        if got is not None:
            return got
        if v.name in self.params:
            out = self.load(v) if v.type.space is Space.GLOBAL else v
        elif self.defs[v.name].regions:  # a loop or branch: registers all its results
            self.control(self.defs[v.name])
            out = self.lookup(v.name)
        else:
            out = self.replay(self.defs[v.name])
        self.scopes[-1][v.name] = out
        return out

    def replay(self, inst: Inst) -> Value:
        outer, self.b.loc = self.b.loc, inst.loc or self.b.loc
        try:
            return self._replay(inst)
        finally:
            self.b.loc = outer

    def _replay(self, inst: Inst) -> Value:
        if _trivial(inst):  # the tile has extent 1 on that axis: nothing to mask
            return self.b.emit(Op.TILE_REDUCE, (self.emit(inst.operands[0]),), dict(inst.attrs), loc=inst.loc,
                               hint=inst.result.name).result
        if inst.op is Op.REDUCE and self.plan.one_pass:
            return self.reduce_tile(inst)
        if inst.op is Op.GATHER:
            return self.gather(inst)
        if inst.op not in _REPLAY:
            raise _fail(f"{inst.op.ir_name} cannot be fused here", inst, self.fn)
        # DIM reads a size of the whole tensor: its operand stays the parameter
        operands = inst.operands if inst.op is Op.DIM else tuple(self.emit(o) for o in inst.operands)
        return self.b.emit(inst.op, operands, dict(inst.attrs), loc=inst.loc, hint=inst.result.name).result

    def control(self, inst: Inst) -> None:
        """A FOR or IF over scalars (a Python number carried through a loop or branch of level-1
        code): replayed with its regions where its first use needs it."""
        bad = [v for v in (*inst.operands, *inst.results) if v.type.space is not Space.SCALAR]
        if bad:
            raise _fail(f"a runtime {inst.op.ir_name} carrying whole tensors ({bad[0].name}): a loop or "
                        "branch of level-1 code may carry only numbers", inst, self.fn)
        operands = tuple(self.emit(o) for o in inst.operands)
        regions = tuple(self.region(r) for r in inst.regions)
        new = self.b.emit(inst.op, operands, dict(inst.attrs), regions, loc=inst.loc,
                          hint=tuple(r.name for r in inst.results), result_types=tuple(r.type for r in inst.results))
        for old, v in zip(inst.results, new.results):
            self.scopes[-1][old.name] = v

    def region(self, blk: Block) -> Block:
        """A region of a scalar FOR/IF: fresh args, and the values its YIELD needs."""
        args = tuple(self.b.fresh(a.name, a.type) for a in blk.args)
        self.scopes.append({a.name: n for a, n in zip(blk.args, args)})
        try:
            with self.b.block(args) as out:
                for i in blk.insts:
                    if i.op is Op.YIELD:
                        self.b.emit(Op.YIELD, tuple(self.emit(o) for o in i.operands), dict(i.attrs), loc=i.loc)
            return out[0]
        finally:
            self.scopes.pop()

    def cur(self) -> Inst | None:
        """A stand-in inst carrying the current loc (for errors raised outside a replay)."""
        return Inst(Op.CONST, loc=self.b.loc) if self.b.loc is not None else None

    def window(self, t: Type, inst: Inst | None = None) -> tuple[tuple[Value, ...], tuple]:
        offsets, shape = [], []
        for d in t.shape:
            if d == 1:
                offsets.append(self.const(0))
                shape.append(1)
                continue
            c = self.cls.find(d)
            if c not in self.win:
                raise _fail(f"a tensor of shape {t.shape} is used where its axis {d} is not tiled",
                            inst, self.fn)
            off, blk = self.win[c]
            offsets.append(off)
            shape.append(self.shape_attr(blk))
        return tuple(offsets), tuple(shape)

    def gather(self, inst: Inst) -> Value:
        """x[idx] along `axis`: a load whose offset on that axis is the tile of indices (its other
        axes are windows as for any load). Negative indices count from the end (Python's
        x[-1]); indices outside [-n, n) read 0, as every load outside a tensor does."""
        x, idx = inst.operands
        axis = inst.attr("axis")
        if x.name not in self.params:
            raise _fail("gathering from a computed whole tensor (gather from a kernel argument, then "
                        "compute on the gathered values)", inst, self.fn)
        if idx.type.rank != 1:
            raise _fail(f"a gather with a {idx.type.rank}-D index tensor (1-D indices are scheduled; "
                        "flatten the indices, or load with a 1-D index tile per program at level 2)", inst, self.fn)
        it = self.emit(idx)
        wide = DType.i64 if it.type.dtype is DType.i64 else _I32  # 64-bit indices keep 64-bit offsets
        if it.type.dtype is not wide:
            it = self.b.value(Op.CAST, (it,), {"dtype": wide}, hint="idx")
        d = x.type.shape[axis]
        if isinstance(d, int):  # a specialized size (1)
            n = self.const(d, wide)
        else:
            n = self.b.value(Op.DIM, (x,), {"axis": axis}, hint=f"{x.name}_{axis}")
            if wide is not _I32:
                n = self.b.value(Op.CAST, (n,), {"dtype": wide}, hint="n")
        neg = self.b.value(Op.LT, (it, self.const(0, wide)), hint="neg")
        it = self.b.value(Op.WHERE, (neg, self.b.value(Op.ADD, (it, n), hint="idx"), it), hint="idx")
        rest = Type(x.type.dtype, x.type.shape[:axis] + x.type.shape[axis + 1:])
        offs, shape = self.window(rest, inst)
        blk = self.win[self.cls.find(idx.type.shape[0])][1] if idx.type.shape[0] != 1 else 1
        offs = offs[:axis] + (it,) + offs[axis:]
        shape = shape[:axis] + (self.shape_attr(blk),) + shape[axis:]
        return self.b.value(Op.LOAD, (x, *offs), {"shape": shape}, hint=inst.result.name)

    def load(self, p: Value) -> Value:
        offsets, shape = self.window(p.type, self.cur())
        return self.b.value(Op.LOAD, (p, *offsets), {"shape": shape}, hint=f"{p.name}_tile")

    def store(self, out: Value, value: Value) -> None:
        offsets, shape = self.window(out.type, self.cur())
        self.b.emit(Op.STORE, (out, *offsets, value), {"shape": shape})

    def valid(self, c: str, rank: int, axis: int) -> Value:
        """A bool tile, `rank`-D with the block of class `c` at `axis`: index < size."""
        off, blk = self.win[c]
        idx = self.b.value(Op.ARANGE, (), {"start": 0, "end": self.shape_attr(blk)}, hint="idx")
        idx = self.b.value(Op.ADD, (idx, off), hint="idx")
        v = self.b.value(Op.LT, (idx, self.size(c)), hint="ok")
        for _ in range(axis):
            v = self.b.value(Op.EXPAND_DIMS, (v,), {"axis": 0}, hint="ok")
        for _ in range(rank - axis - 1):
            v = self.b.value(Op.EXPAND_DIMS, (v,), {"axis": -1}, hint="ok")
        return v

    def masked(self, t: Value, c: str, axis: int, fill) -> Value:
        ok = self.memo(f" valid {c} {t.type.rank} {axis}", lambda: self.valid(c, t.type.rank, axis))
        return self.b.value(Op.WHERE, (ok, t, self.const(fill, t.type.dtype)), hint=t.name)

    def reduce_tile(self, inst: Inst) -> Value:
        """The reduction of one tile, its lanes outside the reduced axis's size masked to the identity."""
        x = inst.operands[0]
        axis, kind = inst.attr("axis") % x.type.rank, inst.attr("kind")
        c = self.cls.find(x.type.shape[axis])
        t = self.masked(self.emit(x), c, axis, reduction_identity(kind, x.type.dtype))
        return self.b.emit(Op.TILE_REDUCE, (t,), dict(inst.attrs), loc=inst.loc, hint=inst.result.name).result

    # --- structure ------------------------------------------------------------------------------
    def loop(self, n: Value, inits: tuple[Value, ...], body) -> tuple[Value, ...]:
        """A pipelined FOR over `n` chunks; body(iv, carried) emits and returns the next values."""
        iv = self.b.fresh("k", Type(_I32))
        carried = tuple(self.b.fresh(v.name, v.type) for v in inits)
        self.scopes.append({})
        with self.b.block((iv, *carried)) as out:
            nxt = body(iv, carried)
            self.b.emit(Op.YIELD, nxt)
        self.scopes.pop()
        inst = self.b.emit(Op.FOR, (self.const(0), n, self.const(1), *inits), {"stages": Sym("stages")},
                           regions=(out[0],), hint="r")
        return inst.results

    def chunk(self, c: str, iv: Value) -> None:
        blk = self.plan.block[c]
        self.win[c] = (self.b.value(Op.MUL, (iv, self.knob(blk)), hint="off"), blk)


def _outputs(fn: Function, ret: Inst, b: Builder) -> list[Value]:
    names = ["out"] + [f"out{i}" for i in range(1, len(ret.operands))]
    outs = []
    for name, v in zip(names, ret.operands):
        if v.type.space is not Space.GLOBAL:
            raise _fail("returning a scalar from a level-1 kernel", ret, fn)
        b.reserve(name)
        outs.append(Value(name, Type(v.type.dtype, v.type.shape, Space.GLOBAL)))
    return outs


def lower_level1(fn: Function, specs, target: Target) -> Function:
    """The level-2 program of level-1 `fn` for these specs (knobs still auto)."""
    insts = list(fn.body.insts)
    rets = [i for i in insts if i.op is Op.RETURN]
    if len(rets) != 1 or insts[-1] is not rets[0]:
        raise _fail("a level-1 kernel must end in one return of its outputs", rets[-1] if rets else None, fn)
    cls = _classes(fn, insts)
    sizes = tensor_sizes(fn, specs)
    plan = _plan(fn, insts, cls, sizes, target)
    e = _Emitter(fn, plan, cls)
    outs = _outputs(fn, rets[0], e.b)
    grid_sizes = tuple(e.cdiv(e.size(c), plan.block[c]) for c in plan.grid) or (e.const(1),)
    pids = tuple(e.b.fresh(f"pid{i}", Type(_I32)) for i in range(len(grid_sizes)))
    with e.b.block(pids) as region:
        for c, pid in zip(plan.grid, pids):
            e.win[c] = (e.b.value(Op.MUL, (pid, e.knob(plan.block[c])), hint="off"), plan.block[c])
        e.b.loc = rets[0].loc  # the stores serve the return; replayed values take their own line
        _BODY[plan.kind](e, rets[0].operands, outs)
        e.b.loc = None
    attrs = {"group_m": Sym("GROUP_M")} if plan.kind == "gemm" else {}
    e.b.emit(Op.GRID, grid_sizes, attrs, regions=(region[0],), loc=fn.loc)
    knobs = _knobs(fn, plan, e)
    params = fn.params + tuple(Param(o, ParamKind.OUTPUT) for o in outs)
    fattrs = tuple((k, v) for k, v in fn.attrs if k != "outputs") + (("outputs", tuple(o.name for o in outs)),)
    return Function(fn.name, params, knobs, Block((), e.b.top()), fn.loc, fattrs)


def _knobs(fn: Function, plan: _Plan, e: _Emitter) -> tuple[Knob, ...]:
    """The plan's knobs (stages only where a loop was emitted), then the function's own."""
    used = any(i.op is Op.FOR for i in walk(Block((), e.b.top())))
    have = {k.name: k for k in fn.knobs}
    names = [n for n in plan.knobs if n != "stages" or used]
    out = [have.get(n, Knob(n, None)) for n in names]
    out += [k for k in fn.knobs if k.name not in names]
    if "num_warps" not in have:
        out.append(Knob("num_warps", None))
    return tuple(out)


def _body_gemm(e: _Emitter, rets, outs) -> None:
    mm = e.plan.matmul
    a, b = mm.operands
    m, n = e.plan.grid
    k = e.cls.find(a.type.shape[1])
    acc_dt = DType.f64 if DType.f64 in (a.type.dtype, b.type.dtype) else DType.f32  # as level 1
    acc0 = e.b.value(Op.FULL, (), {"shape": (Sym("BLOCK_M"), Sym("BLOCK_N")), "value": 0.0,
                                   "dtype": acc_dt}, hint="acc")
    kt = e.cdiv(e.size(k), "BLOCK_K")

    def body(iv, carried):
        e.chunk(k, iv)
        at, bt = _operand(e, a, k, 1), _operand(e, b, k, 0)
        return (e.b.value(Op.DOT, (at, bt, carried[0]), {"dtype": acc_dt}, loc=mm.loc, hint="acc"),)

    (acc,) = e.loop(kt, (acc0,), body)
    del e.win[k]
    res = acc if mm.result.type.dtype is acc_dt else \
        e.b.value(Op.CAST, (acc,), {"dtype": mm.result.type.dtype}, hint=mm.result.name)
    e.scopes[-1][mm.result.name] = res
    for v, out in zip(rets, outs):
        e.store(out, e.emit(v))


def _operand(e: _Emitter, v: Value, k: str, axis: int) -> Value:
    """An operand tile of the K loop; masked at the K edge unless it is a plain (cast) load,
    whose padding is already zero."""
    t = e.emit(v)
    src = v
    while src.name in e.defs and e.defs[src.name].op is Op.CAST:
        src = e.defs[src.name].operands[0]
    return t if src.name in e.params else e.masked(t, k, axis, 0.0 if v.type.dtype.is_float else 0)


def _body_rows(e: _Emitter, rets, outs) -> None:
    if e.plan.one_pass:
        for c in e.plan.reduce_classes:  # every reduced row whole, from offset 0
            e.win[c] = (e.const(0), e.plan.block[c])
        for v, out in zip(rets, outs):
            e.store(out, e.emit(v))
        return
    # two passes: each reduction a loop over chunks of its own axis (in program order, so a
    # reduction sees the ones before it), then per reduced axis a loop storing the outputs along it
    for inst in (i for i in e.fn.body.insts if i.op is Op.REDUCE and not _trivial(i)):
        x = inst.operands[0]
        c = e.cls.find(x.type.shape[inst.attr("axis") % x.type.rank])
        e.scopes[-1][inst.result.name] = _reduce_loop(e, inst, c)
    along = {c: [(v, o) for v, o in zip(rets, outs) if _has_class(e, v, c)] for c in e.plan.reduce_classes}
    for v, out in zip(rets, outs):
        if not any(_has_class(e, v, c) for c in e.plan.reduce_classes):
            e.store(out, e.emit(v))
    for c, row_shaped in along.items():
        if row_shaped:
            _store_loop(e, c, row_shaped)


def _store_loop(e: _Emitter, c: str, row_shaped) -> None:
    def body(iv, carried):
        e.chunk(c, iv)
        for v, out in row_shaped:
            e.store(out, e.emit(v))
        return ()

    e.loop(e.cdiv(e.size(c), e.plan.block[c]), (), body)
    del e.win[c]


def _has_class(e: _Emitter, v: Value, c: str) -> bool:
    return any(isinstance(d, str) and e.cls.find(d) == c for d in v.type.shape)


def _reduce_loop(e: _Emitter, inst: Inst, rc: str) -> Value:
    kind = inst.attr("kind")
    x = inst.operands[0]
    # the accumulator has the reduced tile's shape: emit one chunk's reduction to learn it
    ident = reduction_identity(kind, x.type.dtype)
    shape = tuple(e.plan.block[e.cls.find(d)] if isinstance(d, str) else d for d in inst.result.type.shape)
    if shape:
        init = e.b.value(Op.FULL, (), {"shape": tuple(e.shape_attr(s) for s in shape), "value": ident,
                                       "dtype": x.type.dtype}, hint="acc")
    else:
        init = e.const(ident, x.type.dtype)

    def body(iv, carried):
        e.chunk(rc, iv)
        part = e.reduce_tile(inst)
        # bools have no + or *: a bool sum is "any" and a bool prod "all" (the IR keeps the dtype)
        k = REDUCE_KINDS[kind]
        combine = k.combine_bool if x.type.dtype is DType.i1 else k.combine
        return (e.b.value(combine, (carried[0], part), hint="acc"),)

    (r,) = e.loop(e.cdiv(e.size(rc), e.plan.block[rc]), (init,), body)
    del e.win[rc]
    return r


_BODY = {"gemm": _body_gemm, "rows": _body_rows,
         "elementwise": lambda e, rets, outs: [e.store(o, e.emit(v)) for v, o in zip(rets, outs)]}
