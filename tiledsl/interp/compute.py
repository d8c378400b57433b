"""Interpreter rules of the value-computing ops: CONST, DIM, MATH, SHAPE, reductions, scans,
DOT/MATMUL, GATHER, ARANGE, FULL. Each is a pure function of its operand tensors.

Numerics (what a GPU does, not what torch on a CPU would do by default):
- 16/8-bit float math runs in f32 and rounds back to the IR dtype once (`values.upcast`/`cast`).
- FLOORDIV and MOD follow Python (floor division, remainder has the divisor's sign), as
  `tiledsl.ir.ops` documents, for ints and floats. Triton's ``//`` and ``%`` on ints truncate like
  C; the Triton lowering must emit the floor fix-up to agree. Integer division by zero gives 0
  here (a GPU returns an unspecified value; it must not crash a masked-off lane).
- DOT/MATMUL upcast operands to the accumulator dtype (f32; i32 for int8) and accumulate there.
- Sums and scans of 16/8-bit floats accumulate in f32, then round; int sums wrap in their width.
"""

from __future__ import annotations

import torch

from tiledsl.dtypes import DType
from tiledsl.interp.plan import Ctx, Factory, Kernel, keep_snapshot, pure
from tiledsl.interp.values import cast, compute_dtype, constant, int_scalar, is_low_float, upcast
from tiledsl.ir.nodes import Inst
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import COMPARE


# --- elementwise math ------------------------------------------------------------------------------
def _not(x):
    return torch.logical_not(x) if x.dtype == torch.bool else torch.bitwise_not(x)


def _int_floordiv(a, b):
    zero = b == 0
    q = torch.div(a, torch.where(zero, 1, b), rounding_mode="floor")
    return torch.where(zero, 0, q)


def _int_mod(a, b):
    zero = b == 0
    return torch.where(zero, 0, torch.remainder(a, torch.where(zero, 1, b)))


FLOAT_FNS = {
    Op.NEG: torch.neg, Op.ABS: torch.abs, Op.EXP: torch.exp, Op.EXP2: torch.exp2, Op.LOG: torch.log,
    Op.LOG2: torch.log2, Op.LOG1P: torch.log1p, Op.SQRT: torch.sqrt, Op.RSQRT: torch.rsqrt,
    Op.SIN: torch.sin, Op.COS: torch.cos, Op.TANH: torch.tanh, Op.SIGMOID: torch.sigmoid, Op.ERF: torch.erf,
    Op.FLOOR: torch.floor, Op.CEIL: torch.ceil,
    Op.ADD: torch.add, Op.SUB: torch.sub, Op.MUL: torch.mul, Op.DIV: torch.div,
    Op.FLOORDIV: lambda a, b: torch.div(a, b, rounding_mode="floor"), Op.MOD: torch.remainder,
    Op.POW: torch.pow, Op.MAXIMUM: torch.maximum, Op.MINIMUM: torch.minimum,
    Op.EQ: torch.eq, Op.NE: torch.ne, Op.LT: torch.lt, Op.LE: torch.le, Op.GT: torch.gt, Op.GE: torch.ge,
}
INT_FNS = {
    **{op: FLOAT_FNS[op] for op in (Op.NEG, Op.ABS, Op.ADD, Op.SUB, Op.MUL, Op.MAXIMUM, Op.MINIMUM,
                                    Op.POW, *COMPARE)},
    Op.NOT: _not, Op.FLOORDIV: _int_floordiv, Op.MOD: _int_mod,
    Op.AND: torch.bitwise_and, Op.OR: torch.bitwise_or, Op.XOR: torch.bitwise_xor,
    Op.SHL: torch.bitwise_left_shift, Op.SHR: torch.bitwise_right_shift,
}
MATH_OPS = frozenset(FLOAT_FNS) | frozenset(INT_FNS)


def _math(inst: Inst, ctx: Ctx) -> Kernel:
    """One elementwise op. Low-precision floats: compute in f32, round to the result dtype."""
    dt = inst.operands[0].type.dtype
    table = FLOAT_FNS if dt.is_float else INT_FNS
    fn = table.get(inst.op)
    if fn is None:
        ctx.fail(inst, f"not defined on {dt.value} operands")
    out_dt = inst.results[0].type.dtype
    if is_low_float(dt):
        if inst.op in COMPARE:
            return lambda *xs: fn(*[upcast(x) for x in xs])
        return lambda *xs: cast(fn(*[upcast(x) for x in xs]), out_dt)
    return fn


def _where(inst: Inst, ctx: Ctx) -> Kernel:
    return torch.where


def _clamp(inst: Inst, ctx: Ctx) -> Kernel:
    return torch.clamp  # tensor bounds: NaN anywhere gives NaN, lo > hi gives hi


def _cast(inst: Inst, ctx: Ctx) -> Kernel:
    dt = inst.attr("dtype")
    return keep_snapshot(inst, lambda x: cast(x, dt))


# --- core scalars ------------------------------------------------------------------------------------
def _const(inst: Inst, ctx: Ctx) -> Kernel:
    value = constant(ctx.number(inst.attr("value"), inst), inst.result.type.dtype)
    return lambda: value


def _dim(inst: Inst, ctx: Ctx) -> Kernel:
    axis = inst.attr("axis")
    return lambda x: int_scalar(int(x.shape[axis]))


# --- shape --------------------------------------------------------------------------------------------
def _expand_dims(inst: Inst, ctx: Ctx) -> Kernel:
    axis = inst.attr("axis") % (inst.operands[0].type.rank + 1)
    return keep_snapshot(inst, lambda x: x.unsqueeze(axis))


def _transpose(inst: Inst, ctx: Ctx) -> Kernel:
    perm = tuple(inst.attr("perm"))
    return keep_snapshot(inst, lambda x: x.permute(perm))


def _reshape(inst: Inst, ctx: Ctx) -> Kernel:
    shape = ctx.shape(tuple(inst.attr("shape")), inst)  # runtime sizes are known per call
    return keep_snapshot(inst, lambda x: x.reshape(shape))


def _broadcast_to(inst: Inst, ctx: Ctx) -> Kernel:
    shape = ctx.shape(tuple(inst.attr("shape")), inst)
    return keep_snapshot(inst, lambda x: x.expand(shape))


# --- reductions and scans -------------------------------------------------------------------------------
# one rule per reduction kind (`optable.REDUCE_KINDS`); argmax/argmin: torch returns the first
# extreme index (a NaN's, if any), as Triton does
REDUCE_FNS = {"sum": torch.sum, "prod": torch.prod, "max": torch.amax, "min": torch.amin,
              "argmax": torch.argmax, "argmin": torch.argmin}
SCAN_FNS = {"sum": torch.cumsum}


def _reduce_fn(kind: str, axis: int, keepdims: bool):
    fn = REDUCE_FNS[kind]
    return lambda x: fn(x, axis, keepdim=keepdims)


def _reduce(inst: Inst, ctx: Ctx) -> Kernel:
    """REDUCE / TILE_REDUCE: in the compute dtype, then cast to the result dtype (wraps ints)."""
    x_t = inst.operands[0].type
    axis = inst.attr("axis") % x_t.rank
    fn = _reduce_fn(inst.attr("kind"), axis, bool(inst.attr("keepdims")))
    out_dt = inst.result.type.dtype
    pre = (lambda x: x.to(torch.int32)) if x_t.dtype is DType.i1 else upcast
    return lambda x: cast(fn(pre(x)), out_dt)


def _scan(inst: Inst, ctx: Ctx) -> Kernel:
    kind = inst.attr("kind", "sum")
    fn = SCAN_FNS.get(kind)
    if fn is None:
        ctx.fail(inst, f"scan kind {kind!r} is not supported; only {', '.join(SCAN_FNS)}")
    axis = inst.attr("axis") % inst.operands[0].type.rank
    dt = inst.result.type.dtype
    return lambda x: cast(fn(upcast(x), axis), dt)


# --- matrix products ----------------------------------------------------------------------------------
def _dot(inst: Inst, ctx: Ctx) -> Kernel:
    """acc + a @ b with both operands upcast to the accumulator's compute dtype (f32 for an f32
    or 16-bit float accumulator, i32 for int8): an f16 accumulator is summed in f32 and rounded
    once per DOT, as tensor cores do within one MMA."""
    dt = inst.result.type.dtype
    cd = compute_dtype(dt)

    def up(x):
        return upcast(x).to(cd)

    if len(inst.operands) == 3:
        return lambda a, b, acc: cast(torch.addmm(up(acc), up(a), up(b)), dt)
    return lambda a, b: cast(torch.mm(up(a), up(b)), dt)


def _matmul(inst: Inst, ctx: Ctx) -> Kernel:
    """Level-1 a @ b: accumulated in f32 (f64 for f64 operands), rounded to the result dtype."""
    dt = inst.result.type.dtype
    cd = torch.float64 if DType.f64 in (v.type.dtype for v in inst.operands) else torch.float32
    return lambda a, b: cast(torch.matmul(upcast(a).to(cd), upcast(b).to(cd)), dt)


def _gather(inst: Inst, ctx: Ctx) -> Kernel:
    x_t = inst.operands[0].type
    axis = inst.attr("axis") % x_t.rank

    def gather(x, idx):
        n = x.shape[axis]
        raw = idx.reshape(-1).long()
        if raw.numel() and (int(raw.min()) < -n or int(raw.max()) >= n):
            bad = raw[(raw < -n) | (raw >= n)][0]
            ctx.fail(inst, f"index {int(bad)} is out of range for axis {axis} of size {n}")
        flat = torch.where(raw < 0, raw + n, raw)  # negative indices count from the end, as x[-1]
        out = x.index_select(axis, flat)
        return out.reshape(tuple(x.shape[:axis]) + tuple(idx.shape) + tuple(x.shape[axis + 1:]))
    return gather


# --- tile constants ---------------------------------------------------------------------------------------
def _arange(inst: Inst, ctx: Ctx) -> Kernel:
    start, end = ctx.int_attr(inst, "start"), ctx.int_attr(inst, "end")
    value = torch.arange(start, end, dtype=torch.int32)
    return lambda: value


def _full(inst: Inst, ctx: Ctx) -> Kernel:
    value = constant(ctx.number(inst.attr("value"), inst), inst.attr("dtype"), ctx.shape(inst.result.type, inst))
    return lambda: value


RULES: dict[Op, Factory] = {
    Op.CONST: pure(_const),
    Op.DIM: pure(_dim),
    Op.WHERE: pure(_where),
    Op.CLAMP: pure(_clamp),
    Op.CAST: pure(_cast),
    Op.EXPAND_DIMS: pure(_expand_dims),
    Op.TRANSPOSE: pure(_transpose),
    Op.RESHAPE: pure(_reshape),
    Op.BROADCAST_TO: pure(_broadcast_to),
    Op.REDUCE: pure(_reduce),
    Op.TILE_REDUCE: pure(_reduce),
    Op.SCAN: pure(_scan),
    Op.MATMUL: pure(_matmul),
    Op.DOT: pure(_dot),
    Op.GATHER: pure(_gather),
    Op.ARANGE: pure(_arange),
    Op.FULL: pure(_full),
}
RULES.update({op: pure(_math) for op in MATH_OPS})
