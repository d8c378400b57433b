"""Hypothesis strategies for random *valid* IR functions.

`functions()` builds a kernel with `tiledsl.ir.Builder`, so every result type comes from the op
rules; an op whose operands the rules reject is skipped rather than forced. What it makes passes
``verify(fn, "ir")``; with ``scheduled=True`` it passes ``verify(fn, "scheduled")`` (no dataflow
ops, every knob valued, static tile shapes, tile ops in a grid, thread ops in a thread region),
and with ``"thread"`` left out of `levels` also ``verify(fn, "triton")``.

Over a few dozen examples every op of `tiledsl.ir.Op` appears (checked in tests/test_ir_text.py):
level-1 math with broadcasting over symbolic sizes, casts, reductions, matmul and gather; grids
with loads, stores, atomics, dots, arange, full, buffers and copies; thread regions with shuffles,
barriers and layouts; loops with carried values, ifs with yields, knob symbols in attrs, locs.

    from tests.strategies import functions
    @given(functions(scheduled=True))
    def test_my_pass(fn): ...
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hypothesis import strategies as st

from tiledsl.dtypes import DType
from tiledsl.errors import TypeCheckError
from tiledsl.ir import (
    Block,
    Builder,
    Function,
    Inst,
    Knob,
    Loc,
    Op,
    Param,
    ParamKind,
    Space,
    Sym,
    Type,
    Value,
)
from tiledsl.ir.infer import _window
from tiledsl.ir.optable import BINARY, FLOAT_ONLY, INT_ONLY, NUMERIC_ONLY, REDUCE_KINDS, UNARY

LEVELS = ("dataflow", "tile", "thread")
TENSOR_DTYPES = (DType.f32, DType.f16, DType.bf16, DType.f8e4m3, DType.f8e5m2, DType.f64, DType.i32,
                 DType.i64, DType.i16, DType.i8, DType.u8, DType.i1)
FLOAT_DTYPES = tuple(d for d in TENSOR_DTYPES if d.is_float)
INT_DTYPES = tuple(d for d in TENSOR_DTYPES if d.is_int)
KNOBS = ("BM", "BN", "BK")
LOC_FILES = ("kernel.py", "dir with spaces/k.py", 'quote"d.py', "back\\slash.py", "tab\there.py", "ünï.py")
FLOATS = st.floats(allow_nan=False, width=32) | st.sampled_from([float("inf"), float("-inf"), -0.0])
_LOGIC = frozenset({Op.AND, Op.OR, Op.XOR})


def unary_ops(dtype: DType) -> list[Op]:
    """The unary ops the rules accept on `dtype`."""
    if dtype.is_float:
        return sorted(UNARY - {Op.NOT}, key=lambda o: o.name)
    if dtype.is_bool:
        return sorted(UNARY - FLOAT_ONLY - NUMERIC_ONLY, key=lambda o: o.name)
    return sorted(UNARY - FLOAT_ONLY, key=lambda o: o.name)


def binary_ops(dtype: DType) -> list[Op]:
    """The binary ops the rules accept on two operands of `dtype`."""
    ops = BINARY - INT_ONLY - _LOGIC if dtype.is_float else BINARY - FLOAT_ONLY
    if dtype.is_bool:
        ops = ops - INT_ONLY - NUMERIC_ONLY
    return sorted(ops, key=lambda o: o.name)


class _Skip(Exception):
    """The drawn op does not fit what is in scope; the generator moves on to another one."""


class _Gen:
    """Draws one function: a pool of values in scope and generators that add insts to it."""

    def __init__(self, draw, levels: Sequence[str], scheduled: bool, max_depth: int):
        self.draw, self.levels, self.scheduled, self.max_depth = draw, set(levels), scheduled, max_depth
        self.b = Builder()
        self.pool: list[Value] = []
        self.ctx = "top"  # top | grid | threads
        self.depth = 0
        pick = st.sampled_from((16, 32, 64)) if scheduled else st.sampled_from((None, 16, 32, 64))
        self.knobs = {k: draw(pick) for k in KNOBS}
        self.knobs["stages"] = draw(st.sampled_from((2, 3) if scheduled else (None, 2, 3)))
        self.knobs["num_warps"] = draw(st.sampled_from((4, 8) if scheduled else (None, 4, 8)))

    # --- drawing helpers -----------------------------------------------------------------------

    def pick(self, items):
        items = list(items)
        if not items:
            raise _Skip
        return self.draw(st.sampled_from(items))

    def values(self, pred: Callable[[Type], bool]) -> list[Value]:
        return [v for v in self.pool if pred(v.type)]

    def loc(self) -> Loc | None:
        if not self.draw(st.booleans()):
            return None
        return Loc(self.draw(st.sampled_from(LOC_FILES)), self.draw(st.integers(1, 999)),
                   self.draw(st.integers(0, 80)))

    def emit(self, op: Op, operands=(), attrs=None, regions=(), hint=None, result_types=None) -> Inst:
        try:
            inst = self.b.emit(op, operands, attrs, regions, loc=self.loc(), hint=hint,
                               result_types=result_types)
        except TypeCheckError:
            raise _Skip from None
        self.pool.extend(inst.results)
        return inst

    def tile_dim(self):
        """A tile size as an attr: a small int, or a knob symbol before scheduling."""
        if self.scheduled or self.draw(st.booleans()):
            return self.draw(st.sampled_from((1, 2, 4, 16)))
        return Sym(self.draw(st.sampled_from(KNOBS)))

    def in_domain(self, t: Type) -> bool:
        """Whether math in the current context may take `t`: whole tensors only at level 1."""
        if self.ctx == "top":
            return t.space is Space.SCALAR or (t.space is Space.GLOBAL and self.dataflow)
        return t.space is not Space.GLOBAL

    @property
    def dataflow(self) -> bool:
        return "dataflow" in self.levels and not self.scheduled

    def int_scalar(self) -> Value:
        vals = self.values(lambda t: t.space is Space.SCALAR and t.dtype is DType.i32)
        if vals and self.draw(st.integers(0, 3)):
            return self.pick(vals)
        return self.emit(Op.CONST, (), {"value": self.draw(st.integers(0, 8))}, hint="c").result

    # --- the function --------------------------------------------------------------------------

    def function(self) -> Function:
        params = self.params()
        self.block_body(self.draw(st.integers(1, 6)), self.top_gens())
        if "tile" in self.levels:
            for _ in range(self.draw(st.integers(1, 2))):
                self.attempt(self.g_grid)
        globals_ = self.values(lambda t: t.space is Space.GLOBAL)
        results = [v for v in globals_ if v not in [p.value for p in params]]
        if results and self.dataflow and self.draw(st.booleans()):
            self.b.emit(Op.RETURN, results[:2])
        attrs = ()
        if self.b.unifier.assumptions:
            attrs = (("assume", tuple(sorted(self.b.unifier.assumptions))),)
        knobs = tuple(Knob(k, v) for k, v in self.knobs.items())
        name = self.draw(st.sampled_from(("kernel", "matmul_1", "k")))
        return Function(name, params, knobs, Block((), self.b.top()), self.loc(), attrs)

    def params(self) -> tuple[Param, ...]:
        out = []
        for i in range(self.draw(st.integers(1, 3))):
            dtype = self.draw(st.sampled_from(TENSOR_DTYPES))
            rank = self.draw(st.sampled_from((2, 2, 1, 3)))
            v = self.b.fresh("xyw"[i])
            shape = tuple(1 if self.draw(st.integers(0, 5)) == 0 else f"{v.name}.{ax}" for ax in range(rank))
            kind = ParamKind.OUTPUT if self.draw(st.integers(0, 4)) == 0 else ParamKind.TENSOR
            out.append(Param(Value(v.name, Type(dtype, shape, Space.GLOBAL)), kind))
        for name, dtype in (("n", DType.i32), ("alpha", DType.f32)):
            if self.draw(st.booleans()):
                out.append(Param(self.b.fresh(name, Type(dtype)), ParamKind.SCALAR))
        self.pool.extend(p.value for p in out)
        return tuple(out)

    # --- blocks and regions --------------------------------------------------------------------

    def attempt(self, gen) -> None:
        try:
            gen()
        except _Skip:
            pass

    def block_body(self, n: int, gens) -> None:
        for _ in range(n):
            self.attempt(self.pick(gens))

    def region(self, args: tuple[Value, ...], ctx: str, yield_types=None) -> Block:
        """A nested block in context `ctx`; if `yield_types` is given it ends in a yield of them."""
        saved = (list(self.pool), self.ctx)
        self.pool.extend(args)
        self.ctx, self.depth = ctx, self.depth + 1
        try:
            with self.b.block(args) as out:
                gens = self.grid_gens() if ctx == "grid" else self.thread_gens() if ctx == "threads" else self.top_gens()
                self.block_body(self.draw(st.integers(1, 6)), gens)
                if yield_types is not None:
                    yields = [self.pick(self.values(lambda t, w=w: t == w)) for w in yield_types]
                    self.b.emit(Op.YIELD, yields)
        finally:
            self.pool, self.ctx = saved
            self.depth -= 1
        return out[0]

    def top_gens(self):
        gens = [self.g_const, self.g_cast, self.g_for, self.g_if, *self.math_gens()]
        if self.ctx == "top" and self.depth == 0:
            gens.append(self.g_dim)
        if self.dataflow and self.ctx == "top":
            gens += [self.g_where, self.g_clamp, self.g_reduce, self.g_matmul, self.g_gather, self.g_expand_dims,
                     self.g_transpose, self.g_broadcast_to, self.g_dim]
        return gens

    def grid_gens(self):
        gens = [self.g_const, *self.math_gens(), self.g_cast, self.g_where, self.g_clamp, self.g_for,
                self.g_if, self.g_arange, self.g_full, self.g_load, self.g_load, self.g_store,
                self.g_atomic, self.g_dot, self.g_reduce, self.g_scan, self.g_scan, self.g_alloc, self.g_copy,
                self.g_expand_dims, self.g_transpose, self.g_reshape, self.g_broadcast_to]
        if "thread" in self.levels:
            gens += [self.g_threads] * 3 + [self.g_warp_role]
        return gens

    def math_gens(self):
        """Unary and binary math, weighted so that each of their ~36 ops shows up often."""
        return [self.g_unary] * 3 + [self.g_binary] * 4

    def thread_gens(self):
        return [self.g_const, *self.math_gens(), self.g_alloc_local, self.g_alloc_local,
                self.g_shuffle, self.g_shuffle, self.g_barrier, self.g_layout, self.g_layout, self.g_if,
                self.g_load]

    # --- CORE ----------------------------------------------------------------------------------

    def g_const(self):
        dtype = self.pick(TENSOR_DTYPES)
        value = (self.draw(st.booleans()) if dtype.is_bool else
                 self.draw(st.integers(-100, 100)) if dtype.is_int else self.draw(FLOATS))
        self.emit(Op.CONST, (), {"value": value, "dtype": dtype}, hint="c")

    def g_dim(self):
        x = self.pick(self.values(lambda t: t.space is Space.GLOBAL and t.rank >= 1))
        self.emit(Op.DIM, (x,), {"axis": self.draw(st.integers(0, x.type.rank - 1))}, hint="size")

    def g_for(self):
        if self.depth >= self.max_depth:
            raise _Skip
        bounds = [self.int_scalar() for _ in range(3)]
        n = self.draw(st.integers(0, 2))
        inits = [self.pick(self.values(self.in_domain)) for _ in range(n)]
        iv = self.b.fresh("i", Type(DType.i32))
        carried = tuple(self.b.fresh("acc", v.type) for v in inits)
        body = self.region((iv, *carried), self.ctx, [v.type for v in inits])
        stages = None
        if self.ctx == "grid":
            stages = self.draw(st.sampled_from((None, 2, Sym("stages"))))
        self.emit(Op.FOR, (*bounds, *inits), {"stages": stages}, regions=(body,), hint="loop")

    def g_if(self):
        if self.depth >= self.max_depth:
            raise _Skip
        conds = self.values(lambda t: t.space is Space.SCALAR and t.dtype.is_bool)
        if not conds or self.draw(st.booleans()):
            a, b = self.int_scalar(), self.int_scalar()
            conds = [self.emit(Op.LT, (a, b), hint="cond").result]
        cond = self.pick(conds)
        types = [self.pick(self.values(self.in_domain)).type for _ in range(self.draw(st.integers(0, 2)))]
        then = self.region((), self.ctx, types)
        else_ = self.region((), self.ctx, types)
        self.emit(Op.IF, (cond,), {}, regions=(then, else_), hint="sel", result_types=tuple(types))

    # --- MATH ----------------------------------------------------------------------------------

    def g_unary(self):
        op = self.pick(sorted(UNARY, key=lambda o: o.name))  # op first: each is drawn equally often
        x = self.pick(self.values(lambda t: self.in_domain(t) and op in unary_ops(t.dtype)))
        self.emit(op, (x,))

    def g_binary(self):
        op = self.pick(sorted(BINARY, key=lambda o: o.name))
        a = self.pick(self.values(lambda t: self.in_domain(t) and op in binary_ops(t.dtype)))
        b = self.pick(self.values(lambda t: self.in_domain(t) and t.dtype is a.type.dtype))
        self.emit(op, (a, b))

    def g_where(self):
        c = self.pick(self.values(lambda t: self.in_domain(t) and t.dtype.is_bool))
        a = self.pick(self.values(self.in_domain))
        b = self.pick(self.values(lambda t: self.in_domain(t) and t.dtype is a.type.dtype))
        self.emit(Op.WHERE, (c, a, b))

    def g_clamp(self):
        x = self.pick(self.values(lambda t: self.in_domain(t) and not t.dtype.is_bool))
        lo, hi = (self.pick(self.values(lambda t: self.in_domain(t) and t.dtype is x.type.dtype)) for _ in "lh")
        self.emit(Op.CLAMP, (x, lo, hi))

    def g_cast(self):
        x = self.pick(self.values(self.in_domain))
        self.emit(Op.CAST, (x,), {"dtype": self.pick(TENSOR_DTYPES)}, hint=f"{x.name}_cast")

    # --- SHAPE ---------------------------------------------------------------------------------

    def shaped(self, min_rank: int = 1) -> Value:
        return self.pick(self.values(lambda t: self.in_domain(t) and t.rank >= min_rank))

    def g_expand_dims(self):
        x = self.shaped(0)
        self.emit(Op.EXPAND_DIMS, (x,), {"axis": self.draw(st.integers(-x.type.rank - 1, x.type.rank))})

    def g_transpose(self):
        x = self.shaped(1)
        perm = tuple(self.draw(st.permutations(range(x.type.rank))))
        self.emit(Op.TRANSPOSE, (x,), {"perm": perm})

    def g_reshape(self):
        x = self.pick(self.values(lambda t: self.in_domain(t) and t.rank >= 1 and t.is_static))
        n = 1
        for d in x.type.shape:
            n *= d
        shape = self.draw(st.sampled_from(((n,), tuple(reversed(x.type.shape)), (1, n))))
        self.emit(Op.RESHAPE, (x,), {"shape": shape})

    def g_broadcast_to(self):
        x = self.shaped(0)
        if x.type.space is Space.GLOBAL:
            extra = self.pick([d for v in self.values(lambda t: t.space is Space.GLOBAL)
                               for d in v.type.shape if isinstance(d, str)])
            new = tuple(Sym(d) if isinstance(d, str) and "." not in d else d for d in x.type.shape)
            self.emit(Op.BROADCAST_TO, (x,), {"shape": (extra, *new)})
        else:
            shape = tuple(self.tile_dim() if d == 1 else _attr_dim(d) for d in x.type.shape)
            self.emit(Op.BROADCAST_TO, (x,), {"shape": (self.tile_dim(), *shape)})

    # --- DATAFLOW / tile reductions ------------------------------------------------------------

    def g_reduce(self):
        x = self.shaped(1)
        op = Op.REDUCE if x.type.space is Space.GLOBAL else Op.TILE_REDUCE
        if op is Op.TILE_REDUCE and self.ctx == "top":
            raise _Skip
        attrs = {"kind": self.pick(tuple(REDUCE_KINDS)), "axis": self.draw(st.integers(-x.type.rank, x.type.rank - 1)),
                 "keepdims": self.draw(st.booleans())}
        self.emit(op, (x,), attrs, hint=attrs["kind"])

    def g_matmul(self):
        a, b = (self.pick(self.values(lambda t: t.space is Space.GLOBAL and t.rank == 2)) for _ in "ab")
        if not (a.type.dtype.is_float and b.type.dtype.is_float):
            a, b = (self.emit(Op.CAST, (v,), {"dtype": DType.f32}, hint="m").result for v in (a, b))
        attrs = {"dtype": DType.f32} if self.draw(st.booleans()) else {}
        self.emit(Op.MATMUL, (a, b), attrs, hint="mm")

    def g_gather(self):
        x = self.pick(self.values(lambda t: t.space is Space.GLOBAL and t.rank >= 1))
        idx = self.pick(self.values(lambda t: t.space is Space.GLOBAL and t.rank == 1))
        if not idx.type.dtype.is_int:
            idx = self.emit(Op.CAST, (idx,), {"dtype": DType.i32}, hint="idx").result
        self.emit(Op.GATHER, (x, idx), {"axis": self.draw(st.integers(0, x.type.rank - 1))})

    # --- TILE ----------------------------------------------------------------------------------

    def g_grid(self):
        sizes = [self.int_scalar() for _ in range(self.draw(st.integers(1, 3)))]
        pids = tuple(self.b.fresh(f"pid{i}", Type(DType.i32)) for i in range(len(sizes)))
        body = self.region(pids, "grid")
        self.emit(Op.GRID, sizes, {}, regions=(body,))

    def g_arange(self):
        end = self.tile_dim()
        start = 0
        if isinstance(end, int) and self.draw(st.booleans()):
            start, end = end, end + self.draw(st.integers(1, 8))
        self.emit(Op.ARANGE, (), {"start": start, "end": end}, hint="r")

    def g_full(self):
        shape = tuple(self.tile_dim() for _ in range(self.draw(st.integers(1, 2))))
        dtype = self.pick(TENSOR_DTYPES)
        value = self.draw(st.booleans()) if dtype.is_bool else self.draw(st.integers(-4, 4)) if dtype.is_int \
            else self.draw(FLOATS)
        self.emit(Op.FULL, (), {"shape": shape, "value": value, "dtype": dtype}, hint="t")

    def memory(self) -> Value:
        """A global tensor or an on-chip buffer to load from or store into."""
        return self.pick(self.values(lambda t: t.space is Space.GLOBAL or t.space.is_buffer))

    def window(self, src: Type, tail: tuple | None = None) -> tuple[list[Value], tuple]:
        """Offsets and a shape attr addressing `src`; if `tail` is given the window's shape is
        `tail` (its leading axes dropped), else each axis is a block, a dropped axis or a gather."""
        if tail is not None:
            if len(tail) > src.rank:
                raise _Skip
            shape = (None,) * (src.rank - len(tail)) + tuple(tail)
            return [self.int_scalar() for _ in shape], shape
        offsets, shape = [], []
        for _ in range(src.rank):
            mode = self.draw(st.sampled_from(("block", "block", "drop", "gather")))
            idx = self.values(lambda t: t.rank == 1 and t.space is Space.TILE and t.dtype.is_int)
            if mode == "gather" and idx:
                v = self.pick(idx)
                offsets.append(v)
                shape.append(_attr_dim(v.type.shape[0]))
                continue
            offsets.append(self.int_scalar())
            shape.append(None if mode == "drop" else self.tile_dim())
        return offsets, tuple(shape)

    def mask(self, attrs: dict, src: Value, offsets) -> list[Value]:
        """A bool value whose shape broadcasts to the window's (the verifier checks that)."""
        try:
            window = tuple(_window(src.type, [o.type for o in offsets], attrs, "load"))
        except TypeCheckError:
            window = ()
        masks = self.values(lambda t: t.dtype.is_bool and t.space is not Space.GLOBAL
                            and t.rank <= len(window)
                            and all(d in (1, w) for d, w in zip(t.shape[::-1], window[::-1])))
        attrs["masked"] = bool(masks) and self.draw(st.booleans())
        return [self.pick(masks)] if attrs["masked"] else []

    def g_load(self):
        src = self.memory()
        offsets, shape = self.window(src.type)
        attrs = {"shape": shape}
        mask = self.mask(attrs, src, offsets)
        if self.draw(st.booleans()):
            attrs["other"] = self.draw(FLOATS) if src.type.dtype.is_float else 0
        self.emit(Op.LOAD, (src, *offsets, *mask), attrs, hint="ld")

    def stored_value(self, dst: Value) -> Value:
        """A tile or scalar in scope, cast to the dtype of `dst` if it is not already."""
        v = self.pick(self.values(lambda t: t.space is not Space.GLOBAL and t.rank <= dst.type.rank))
        if v.type.dtype is not dst.type.dtype:
            v = self.emit(Op.CAST, (v,), {"dtype": dst.type.dtype}, hint="cv").result
        return v

    def g_store(self, op: Op = Op.STORE):
        dst = self.memory()
        value = self.stored_value(dst)
        offsets, shape = self.window(dst.type, tuple(_attr_dim(d) for d in value.type.shape))
        attrs = {"shape": shape}
        if op is Op.ATOMIC:
            attrs["kind"] = self.draw(st.sampled_from(("add", "max", "min", "xchg")))
        mask = self.mask(attrs, dst, offsets)
        self.emit(op, (dst, *offsets, value, *mask), attrs, hint="old")

    def g_atomic(self):
        self.g_store(Op.ATOMIC)

    def g_dot(self):
        tiles = self.values(lambda t: t.space.is_tile_like and t.rank == 2)
        if not tiles or self.draw(st.booleans()):
            shape = (self.tile_dim(), self.tile_dim())
            dtype = self.pick((DType.f16, DType.bf16, DType.f8e4m3, DType.f32, DType.i8))
            tiles = [self.emit(Op.FULL, (), {"shape": shape, "value": 1, "dtype": dtype}, hint="a").result]
        a = self.pick(tiles)
        if not (a.type.dtype.is_float or a.type.dtype is DType.i8):
            a = self.emit(Op.CAST, (a,), {"dtype": DType.f16}, hint="a").result
        bs = self.values(lambda t: t.space.is_tile_like and t.rank == 2 and t.dtype is a.type.dtype
                         and t.shape[0] == a.type.shape[1])
        if bs and self.draw(st.booleans()):
            b = self.pick(bs)
        else:
            shape = (_attr_dim(a.type.shape[1]), self.tile_dim())
            b = self.emit(Op.FULL, (), {"shape": shape, "value": 1, "dtype": a.type.dtype}, hint="b").result
        acc_dtype = DType.i32 if a.type.dtype.is_int else self.pick((DType.f32, DType.f16))
        operands = [a, b]
        if self.draw(st.booleans()):
            shape = (_attr_dim(a.type.shape[0]), _attr_dim(b.type.shape[1]))
            operands.append(self.emit(Op.FULL, (), {"shape": shape, "value": 0, "dtype": acc_dtype},
                                      hint="acc").result)
        self.emit(Op.DOT, operands, {"dtype": acc_dtype})

    def g_scan(self):
        x = self.pick(self.values(lambda t: t.space.is_tile_like and t.rank >= 1))
        self.emit(Op.SCAN, (x,), {"kind": "sum", "axis": self.draw(st.integers(0, x.type.rank - 1))})

    def g_alloc(self) -> Value:
        shape = tuple(self.tile_dim() for _ in range(self.draw(st.integers(1, 2))))
        attrs = {"shape": shape, "dtype": self.pick(TENSOR_DTYPES), "space": self.pick(("shared", "fragment"))}
        return self.emit(Op.ALLOC, (), attrs, hint="buf").result

    def buffer(self) -> Value:
        """A buffer in scope, or a new shared/fragment one."""
        bufs = self.values(lambda t: t.space.is_buffer)
        return self.pick(bufs) if bufs and self.draw(st.booleans()) else self.g_alloc()

    def g_copy(self):
        buf = self.buffer()
        mode = self.draw(st.sampled_from(("in", "out", "tile")))
        if mode == "tile":
            src = self.pick(self.values(lambda t: t.space.is_tile_like and t.shape == buf.type.shape))
            self.emit(Op.COPY, (src, buf), {"shape": None})
            return
        glob = self.pick(self.values(lambda t: t.space is Space.GLOBAL))
        offsets, shape = self.window(glob.type, tuple(_attr_dim(d) for d in buf.type.shape))
        pair = (glob, buf) if mode == "in" else (buf, glob)
        self.emit(Op.COPY, (*pair, *offsets), {"shape": shape})

    def g_warp_role(self):
        if self.depth >= self.max_depth:
            raise _Skip
        body = self.region((), "grid")
        self.emit(Op.WARP_ROLE, (), {"role": self.pick(("producer", "consumer"))}, regions=(body,))

    # --- THREAD --------------------------------------------------------------------------------

    def g_threads(self):
        if self.depth >= self.max_depth:
            raise _Skip
        tid = self.b.fresh("tid", Type(DType.i32))
        body = self.region((tid,), "threads")
        self.emit(Op.THREADS, (), {"count": self.pick((32, 128, 256))}, regions=(body,))

    def g_alloc_local(self):
        shape = tuple(self.draw(st.sampled_from((1, 2, 4, 8))) for _ in range(self.draw(st.integers(1, 2))))
        self.emit(Op.ALLOC_LOCAL, (), {"shape": shape, "dtype": self.pick(TENSOR_DTYPES)}, hint="loc_buf")

    def g_shuffle(self):
        value = self.pick(self.values(lambda t: t.space is Space.SCALAR))
        lane = self.int_scalar()
        attrs = {"mode": self.pick(("xor", "down", "up", "idx")), "width": self.pick((32, 16))}
        self.emit(Op.SHUFFLE, (value, lane), attrs, hint="sh")

    def g_barrier(self):
        self.emit(Op.BARRIER)

    def g_layout(self):
        buf = self.buffer()
        self.emit(Op.LAYOUT, (buf,), {"swizzle": self.pick((0, 32, 64, 128))})


def _attr_dim(d):
    """A type dim as an attr: knob names become `Sym`s, ints and tensor sizes stay."""
    return Sym(d) if isinstance(d, str) and "." not in d else d


@st.composite
def functions(draw, levels: Sequence[str] = LEVELS, scheduled: bool = False, max_depth: int = 3) -> Function:
    """A random function valid at stage ``"ir"`` (or ``"scheduled"`` when `scheduled`).

    `levels` picks the level groups to use (``"dataflow"``, ``"tile"``, ``"thread"``);
    `max_depth` bounds the nesting of regions (a grid counts as one)."""
    return _Gen(draw, levels, scheduled, max_depth).function()


def attr_values(max_leaves: int = 12) -> st.SearchStrategy:
    """Every kind of attr value, nested in tuples: for round-tripping attrs on their own."""
    leaves = (st.integers(-(2**70), 2**70) | FLOATS | st.booleans() | st.text(max_size=8) | st.none()
              | st.sampled_from(list(DType)) | st.builds(Sym, st.sampled_from(("BM", "stages", "x y"))))
    return st.recursive(leaves, lambda kids: st.lists(kids, max_size=3).map(tuple), max_leaves=max_leaves)
