"""One emission rule per op: `RULES[op](emitter, inst)` writes program lines and binds results.

Math ops build expressions (fused into their consumer); tile ops with storage semantics map onto
TileLang's tile operators: LOAD/STORE/COPY -> ``T.copy`` (which masks ragged edges itself), DOT
-> ``T.gemm`` into a fragment accumulator, TILE_REDUCE -> ``T.reduce_*``, FOR -> ``T.Pipelined``
or ``T.serial``, GRID -> ``T.Kernel``. Level-3 ops map onto thread bindings, local buffers,
shuffles, ``T.sync_threads``, ``T.annotate_layout`` and ``T.ws`` warp-group regions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tiledsl.lowering.tilelang import control, division, memory
from tiledsl.lowering.tilelang.emit import Emitter
from tiledsl.lowering.tilelang.values import TL_DTYPE, Global, Scalar, Tile, Val, broadcast_index, literal

from tiledsl.dtypes import FP8_MAX, DType
from tiledsl.errors import BackendError
from tiledsl.ir.nodes import Inst, Value
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import F32_COMPUTE, fold_int

Rule = Callable[[Emitter, Inst], None]

# --- math ------------------------------------------------------------------------------------------
_UNARY_FN = {Op.EXP: "T.exp", Op.EXP2: "T.exp2", Op.LOG: "T.log", Op.LOG2: "T.log2", Op.LOG1P: "T.log1p",
             Op.SQRT: "T.sqrt", Op.RSQRT: "T.rsqrt", Op.SIN: "T.sin", Op.COS: "T.cos",
             Op.TANH: "T.tanh", Op.SIGMOID: "T.sigmoid", Op.ERF: "T.erf", Op.FLOOR: "T.floor",
             Op.CEIL: "T.ceil", Op.ABS: "T.abs"}
_BINARY_OP = {Op.ADD: "+", Op.SUB: "-", Op.MUL: "*", Op.DIV: "/", Op.EQ: "==", Op.NE: "!=",
              Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">=", Op.XOR: "^", Op.SHL: "<<", Op.SHR: ">>"}
_BINARY_FN = {Op.FLOORDIV: "T.floordiv", Op.MOD: "T.floormod", Op.POW: "T.pow",
              Op.MAXIMUM: "T.max", Op.MINIMUM: "T.min"}


# Transcendentals of 16-bit floats compute in f32 and round once (the IR's semantics, `F32_COMPUTE`
# in the op table; CUDA's half intrinsics are approximations of their own). The others are exact.


# exp(x) as exp2(x * log2(e)) for f32 and narrower (what Triton's `tl.exp` and TileLang's
# hand-written kernels do): CUDA's accurate `expf` is a range reduction of about eight SASS
# instructions around MUFU.EX2, `exp2f` about four. The product's rounding costs a relative error of
# |x| * 2^-24 (5e-6 at |x| = 80), within fp32 tolerances; f64 keeps `exp`.
_LOG2E = "T.float32(1.4426950408889634)"


def _exp_f32(x: str) -> str:
    return f"T.exp2(({x}) * {_LOG2E})"


def _unary_text(op: Op, x: str, dtype: DType) -> str:
    if op is Op.EXP and dtype in (DType.f32, DType.f16, DType.bf16):
        if dtype is DType.f32:
            return _exp_f32(x)
        wide = _exp_f32(f'T.cast({x}, "float32")')
        return f'T.cast({wide}, "{TL_DTYPE[dtype]}")'
    if op is Op.NEG:
        return f"(-{x})"
    if op is Op.NOT:
        return f"T.Not({x})" if dtype is DType.i1 else f"(~{x})"
    if dtype in (DType.f16, DType.bf16) and op in F32_COMPUTE:
        return f"T.cast({_UNARY_FN[op]}(T.cast({x}, \"float32\")), \"{TL_DTYPE[dtype]}\")"
    return f"{_UNARY_FN[op]}({x})"


def _float_divmod(op: Op, a: str, b: str, dtype: DType) -> str:
    """Float ``//`` and ``%`` as torch computes them (from fmod: 1.0 // 0.1 is 9, not
    floor(1.0 / 0.1) = 10), in f32 for 16-bit floats."""
    cd = DType.f64 if dtype is DType.f64 else DType.f32
    if dtype is not cd:
        a, b = (f"T.cast({v}, \"{TL_DTYPE[cd]}\")" for v in (a, b))
    zero, one, half = (literal(v, cd) for v in (0, 1, 0.5))
    mod = f"T.fmod({a}, {b})"
    flip = f"T.if_then_else({mod} != {zero}, ({b} < {zero}) != ({mod} < {zero}), False)"
    if op is Op.MOD:
        out = f"T.if_then_else({flip}, {mod} + {b}, {mod})"
    else:
        div = f"(({a} - {mod}) / {b} - T.if_then_else({flip}, {one}, {zero}))"
        out = f"T.if_then_else({b} == {zero}, {a} / {b}, T.floor({div} + {half}))"
    return out if dtype is cd else f"T.cast({out}, \"{TL_DTYPE[dtype]}\")"


def isnan(x: str, dtype: DType) -> str:
    """A NaN test TVM keeps: its simplifier folds ``x != x`` to False, and its ``isnan`` takes
    f32/f64 only (a 16-bit or fp8 float widens exactly, NaN stays NaN)."""
    if dtype not in (DType.f32, DType.f64):
        x = f"T.cast({x}, \"float32\")"
    return f"T.isnan({x})"


def _binary_text(op: Op, a: str, b: str, dtype: DType) -> str:
    if op in (Op.MAXIMUM, Op.MINIMUM) and dtype.is_float:
        # torch.maximum / minimum propagate NaN; CUDA's fmaxf / fminf drop it. T.isnan, not
        # ``a != a``: TVM's simplifier folds ``a != a`` to False (the NaN check vanished)
        return (f"T.if_then_else({isnan(a, dtype)}, {a}, T.if_then_else({isnan(b, dtype)}, {b}, "
                f"{_BINARY_FN[op]}({a}, {b})))")
    if op in (Op.FLOORDIV, Op.MOD) and dtype.is_float:
        return _float_divmod(op, a, b, dtype)
    if op in (Op.AND, Op.OR):
        if dtype is DType.i1:
            return f"T.{'And' if op is Op.AND else 'Or'}({a}, {b})"
        return f"({a} {'&' if op is Op.AND else '|'} {b})"
    if op in _BINARY_FN:
        return f"{_BINARY_FN[op]}({a}, {b})"
    return f"({a} {_BINARY_OP[op]} {b})"


def _elementwise(em: Emitter, inst: Inst, text: Callable[[list[str]], str]) -> None:
    """Bind an elementwise op: a folded/expression scalar, or a fused expression tile."""
    vals = [em.get(v) for v in inst.operands]
    res = inst.result
    reads = frozenset().union(*(x.reads for x in vals if isinstance(x, (Tile, Scalar))))
    if not any(isinstance(x, Tile) for x in vals):
        pure = None
        if any(x.pure for x in vals):  # keep the let-free form of values computed from loaded ones
            pure = text([x.pure or x.expr for x in vals])
        em.bind(res, Scalar(text([x.expr for x in vals]), res.type.dtype, reads=reads, pure=pure))
        return
    out = em.static_shape(res.type.shape, inst)

    def at(idx, vals=vals, out=out):
        return text([_elem(x, out, idx) for x in vals])

    em.bind(res, Tile(out, res.type.dtype, at, reads=reads, cheap=_is_index_math(inst, vals, reads)))


# integer ops whose tiles are recomputed per use, never stored
_INDEX_OPS = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.FLOORDIV, Op.MOD, Op.MINIMUM, Op.MAXIMUM})


def _is_index_math(inst: Inst, vals: list[Val], reads: frozenset[str]) -> bool:
    """Integer arithmetic on `arange`s and scalars that reads no buffer (``pos = j * PAGE +
    td.arange(0, BN)``): a few integer instructions per use, so it stays an expression. Stored in
    a fragment it would take the replicated layout of the gemm it meets (one column of the
    accumulator per thread group), and a masked load into shared memory reading it would be
    written by one replica of those threads only (see `Emitter.stage_broadcast_reads`)."""
    return (inst.op in _INDEX_OPS and inst.result.type.dtype.is_int and not reads
            and all(x.cheap for x in vals if isinstance(x, Tile)))


def _elem(x: Val, out: tuple[int, ...], idx) -> str:
    if isinstance(x, Tile):
        return x.at(broadcast_index(x.shape, out, idx))
    return x.expr


def _unary(em: Emitter, inst: Inst) -> None:
    dtype = inst.operands[0].type.dtype
    _elementwise(em, inst, lambda xs: _unary_text(inst.op, xs[0], dtype))


def _binary(em: Emitter, inst: Inst) -> None:
    a, b = (em.get(v) for v in inst.operands)
    if isinstance(a, Scalar) and isinstance(b, Scalar) and _is_int(a.const) and _is_int(b.const):
        # integer ops fold at emission time, so host-side sizes become literals (not a zero
        # divisor: `fold_int` leaves that to the GPU's rule)
        v = fold_int(inst.op, (a.const, b.const), inst.result.type.dtype)
        if v is not None:
            em.bind(inst.result, Scalar(literal(v, inst.result.type.dtype), inst.result.type.dtype, v))
            return
    if inst.op is Op.DIV and division.by_reciprocal(em, inst):
        return  # a tile over a broadcast row: a reciprocal per row, then multiplies
    dtype = inst.operands[0].type.dtype
    _elementwise(em, inst, lambda xs: _binary_text(inst.op, xs[0], xs[1], dtype))


def _is_int(v) -> bool:
    return isinstance(v, int)


def _where(em: Emitter, inst: Inst) -> None:
    _elementwise(em, inst, lambda xs: f"T.if_then_else({xs[0]}, {xs[1]}, {xs[2]})")


def _clamp_text(x: str, lo: str, hi: str, dtype: DType) -> str:
    """``T.min(T.max(x, lo), hi)``; on floats a NaN operand gives NaN, as torch.clamp (CUDA's
    fmaxf / fminf drop it; the same `isnan` tests as `_binary_text`'s max / min, each operand
    tested once rather than the nested max-then-min repeating x's expression nine times)."""
    inner = f"T.min(T.max({x}, {lo}), {hi})"
    if not dtype.is_float:
        return inner
    return (f"T.if_then_else({isnan(x, dtype)}, {x}, T.if_then_else({isnan(lo, dtype)}, {lo}, "
            f"T.if_then_else({isnan(hi, dtype)}, {hi}, {inner})))")


def _clamp(em: Emitter, inst: Inst) -> None:
    dtype = inst.result.type.dtype
    _elementwise(em, inst, lambda xs: _clamp_text(*xs, dtype))


def _cast(em: Emitter, inst: Inst) -> None:
    to: DType = inst.attr("dtype")
    name = TL_DTYPE[to]

    def text(xs):
        x = xs[0]
        if to.is_fp8:  # IR semantics: float -> fp8 saturates to the finite range
            m = FP8_MAX[to]
            src = inst.operands[0].type.dtype
            x = f"T.max(T.min({x}, {literal(m, src)}), {literal(-m, src)})"
        return f"T.cast({x}, \"{name}\")"

    src = em.get(inst.operands[0])
    if isinstance(src, Scalar) and src.const is not None and to.is_int and _is_int(src.const):
        em.bind(inst.result, Scalar(literal(src.const, to), to, src.const))
        return
    _elementwise(em, inst, text)


def _const(em: Emitter, inst: Inst) -> None:
    v, dt = inst.attr("value"), inst.result.type.dtype
    em.bind(inst.result, Scalar(literal(v, dt), dt, v))


def _dim(em: Emitter, inst: Inst) -> None:
    g = em.get(inst.operands[0])
    assert isinstance(g, Global)
    n = g.shape[inst.attr("axis")]
    em.bind(inst.result, Scalar(str(n), DType.i32, n))


# --- shape ---------------------------------------------------------------------------------------
def _view(em: Emitter, inst: Inst, src: Tile, remap: Callable, **kw) -> None:
    out = em.static_shape(inst.result.type.shape, inst)
    em.bind(inst.result, Tile(out, src.dtype, lambda idx: src.at(remap(idx)), reads=src.reads,
                              cheap=src.cheap or src.is_buffer, **kw))


def _expand_dims(em: Emitter, inst: Inst) -> None:
    src = _tile(em, inst, 0)
    axis = inst.attr("axis") % (len(src.shape) + 1)
    _view(em, inst, src, lambda idx: idx[:axis] + idx[axis + 1:])


def _transpose(em: Emitter, inst: Inst) -> None:
    src = _tile(em, inst, 0)
    perm = tuple(inst.attr("perm"))
    inv = [perm.index(k) for k in range(len(perm))]
    _view(em, inst, src, lambda idx: tuple(idx[inv[k]] for k in range(len(perm))),
          transposed_of=src if src.is_buffer and perm == (1, 0) else None)


def _reshape(em: Emitter, inst: Inst) -> None:
    """Only reshapes that add or drop size-1 axes: they are index views, not data movement."""
    src = _tile(em, inst, 0)
    out = em.static_shape(inst.result.type.shape, inst)
    if [d for d in src.shape if d != 1] != [d for d in out if d != 1]:
        raise BackendError(f"the TileLang backend only reshapes by adding or dropping size-1 axes, "
                           f"not {src.shape} -> {out}", inst.loc,
                           hint="load the tile in the shape you need, or use backend='triton'")
    keep = [k for k, d in enumerate(out) if d != 1]
    src_keep = [k for k, d in enumerate(src.shape) if d != 1]

    def remap(idx):
        res = ["0"] * len(src.shape)
        for s, o in zip(src_keep, keep):
            res[s] = idx[o]
        return tuple(res)

    _view(em, inst, src, remap)


def _broadcast_to(em: Emitter, inst: Inst) -> None:
    src = em.get(inst.operands[0])
    out = em.static_shape(inst.result.type.shape, inst)
    if isinstance(src, Scalar):
        em.bind(inst.result, Tile(out, src.dtype, lambda idx: src.expr, cheap=True))
        return
    _view(em, inst, src, lambda idx: broadcast_index(src.shape, out, idx))


def _tile(em: Emitter, inst: Inst, k: int) -> Tile:
    v = em.get(inst.operands[k])
    if not isinstance(v, Tile):
        raise BackendError(f"{inst.op.ir_name} expects a tile operand", inst.loc)
    return v


# --- tile creation ---------------------------------------------------------------------------------
def _arange(em: Emitter, inst: Inst) -> None:
    start = em.knob(inst.attr("start"))
    (n,) = em.static_shape(inst.result.type.shape, inst)
    em.bind(inst.result, Tile((n,), DType.i32, lambda idx: f"({idx[0]} + {start})" if start else idx[0],
                              cheap=True))


def _full(em: Emitter, inst: Inst) -> None:
    dt = inst.attr("dtype")
    value = literal(inst.attr("value"), dt)
    shape = em.static_shape(inst.result.type.shape, inst)
    em.bind(inst.result, Tile(shape, dt, lambda idx: value, fill=value, cheap=True))


def _alloc(em: Emitter, inst: Inst) -> None:
    shape = em.static_shape(inst.result.type.shape, inst)
    space = inst.attr("space")
    em.env[inst.result.name] = em.alloc(inst.result.name, shape, inst.attr("dtype"), space)


def _alloc_local(em: Emitter, inst: Inst) -> None:
    shape = em.static_shape(inst.result.type.shape, inst)
    em.env[inst.result.name] = em.alloc(inst.result.name, shape, inst.attr("dtype"), "local")


# --- reductions ----------------------------------------------------------------------------------
def _tile_reduce(em: Emitter, inst: Inst) -> None:
    """TileLang's ``T.reduce_*`` with torch's semantics on top: float max/min propagate NaN
    (``T.reduce_max`` keeps fmaxf's NaN-dropping), prod as a serial product per kept element."""
    kind = inst.attr("kind")
    if kind == "prod":
        _reduce_prod(em, inst)
    elif kind in ("max", "min") and inst.operands[0].type.dtype.is_float:
        _reduce_nan_aware(em, inst)
    else:
        memory.tile_reduce(em, inst)


def _scratch(em: Emitter, like: Value, suffix: str, dtype: DType | None = None) -> Value:
    """A value of the lowering's own, used once (IR names cannot hold ``#``)."""
    t = like.type if dtype is None else dataclasses.replace(like.type, dtype=dtype)
    v = Value(f"{like.name}#{suffix}", t)
    em.uses[v.name] = 1
    return v


def _with_kind(inst: Inst, kind: str, results, operands) -> Inst:
    attrs = tuple((k, kind if k == "kind" else v) for k, v in inst.attrs)
    return dataclasses.replace(inst, attrs=attrs, results=results, operands=operands)


def _reduce_nan_aware(em: Emitter, inst: Inst) -> None:
    """max/min of the row, and max of an is-NaN flag: a row holding a NaN gives NaN."""
    x, res = inst.operands[0], inst.result
    flag = _scratch(em, x, "isnan", DType.f32)
    _elementwise(em, Inst(Op.NE, (flag,), (x,), (), (), inst.loc),
                 lambda xs: f"T.if_then_else({isnan(xs[0], x.type.dtype)}, T.float32(1), T.float32(0))")
    nans = _scratch(em, res, "nans", DType.f32)
    memory.tile_reduce(em, _with_kind(inst, "max", (nans,), (flag,)))
    plain = _scratch(em, res, "plain")
    memory.tile_reduce(em, _with_kind(inst, inst.attr("kind"), (plain,), (x,)))
    nan = literal(float("nan"), res.type.dtype)
    _elementwise(em, Inst(Op.WHERE, (res,), (nans, plain), (), (), inst.loc),
                 lambda xs: f"T.if_then_else({xs[0]} > T.float32(0), {nan}, {xs[1]})")


def _reduce_prod(em: Emitter, inst: Inst) -> None:
    """TileLang has no product reduction: the tile goes to shared memory and each kept element
    multiplies its row serially (16-bit floats in f32, rounded once, as the IR says)."""
    if em.threads_region:
        raise BackendError("tile reduction inside a thread region", inst.loc,
                           hint="reduce per-thread values across lanes with td.shfl_xor")
    x_v, res = inst.operands[0], inst.result
    x = em.materialize(em.get(x_v), scope="shared", hint=x_v.name)
    axis = inst.attr("axis") % len(x.shape)
    kept = x.shape[:axis] + x.shape[axis + 1:]
    out_dt = res.type.dtype
    acc_dt = DType.f32 if out_dt in (DType.f16, DType.bf16) else out_dt
    acc = em.alloc(f"{res.name}_prod", kept or (1,), acc_dt, "fragment")
    idx = em.index_names(len(kept)) if kept else ("0",)
    r = em.name("r")
    full = list(idx[:len(kept)]) if kept else []
    full.insert(axis, r)
    if kept:
        em.line(f"for {', '.join(idx)} in T.Parallel({', '.join(str(d) for d in kept)}):")
        em.indent += 1
    em.line(f"{acc.at(idx)} = {literal(1, acc_dt)}")
    em.line(f"for {r} in T.serial({x.shape[axis]}):")
    em.line(f"    {acc.at(idx)} = {acc.at(idx)} * T.cast({x.at(tuple(full))}, \"{TL_DTYPE[acc_dt]}\")")
    if kept:
        em.indent -= 1
    _bind_reduced(em, inst, acc, axis, out_dt)


def _bind_reduced(em: Emitter, inst: Inst, acc: Tile, axis: int, out_dt: DType) -> None:
    """Bind the reduction's result: a scalar, a keepdims view, or the accumulator (cast)."""
    res = inst.result
    if not res.type.shape:
        em.env[res.name] = Scalar(f"T.cast({acc.buf}[0], \"{TL_DTYPE[out_dt]}\")", out_dt,
                                  reads=frozenset({acc.buf}))
        return
    out = em.static_shape(res.type.shape, inst)
    if inst.attr("keepdims"):
        def at(idx):
            return f"T.cast({acc.at(tuple(idx[:axis] + idx[axis + 1:]) or ('0',))}, \"{TL_DTYPE[out_dt]}\")"
    else:
        def at(idx):
            return f"T.cast({acc.at(idx)}, \"{TL_DTYPE[out_dt]}\")"
    em.env[res.name] = Tile(out, out_dt, at, reads=acc.reads, cheap=True)


RULES: dict[Op, Rule] = {
    Op.CONST: _const,
    Op.DIM: _dim,
    Op.WHERE: _where,
    Op.CLAMP: _clamp,
    Op.CAST: _cast,
    Op.EXPAND_DIMS: _expand_dims,
    Op.TRANSPOSE: _transpose,
    Op.RESHAPE: _reshape,
    Op.BROADCAST_TO: _broadcast_to,
    Op.ARANGE: _arange,
    Op.FULL: _full,
    Op.ALLOC: _alloc,
    Op.ALLOC_LOCAL: _alloc_local,
    Op.LOAD: memory.load,
    Op.STORE: memory.store,
    Op.ATOMIC: memory.atomic,
    Op.COPY: memory.copy,
    Op.DOT: memory.dot,
    Op.TILE_REDUCE: _tile_reduce,
    Op.SCAN: memory.scan,
    Op.FOR: control.for_,
    Op.IF: control.if_,
    Op.GRID: control.grid,
    Op.THREADS: control.threads,
    Op.SHUFFLE: control.shuffle,
    Op.BARRIER: control.barrier,
    Op.LAYOUT: control.layout,
    Op.WARP_ROLE: control.warp_role,
    Op.RETURN: control.return_,
}
RULES.update({op: _unary for op in (*_UNARY_FN, Op.NEG, Op.NOT)})
RULES.update({op: _binary for op in (*_BINARY_OP, *_BINARY_FN, Op.AND, Op.OR)})
"""Ops absent here (REDUCE, MATMUL, GATHER: level-1 dataflow) never reach this backend: the
verifier rejects them at stage "tilelang"."""
# reduction kinds emitted here (`_tile_reduce`), and those refused with a BackendError
REDUCE_KINDS = frozenset({*memory.REDUCE_FN, "prod"})
REFUSED_REDUCE_KINDS = frozenset({"argmax", "argmin"})
