"""Eager implementations of the value-computing `td.*` builtins: math, casts, reductions and
scans, shape ops, products, gathers, tile constructors, loops. Memory ops (load, store, atomics,
copy, buffers) are in `memory.py`, thread ops in `threads.py`."""

from __future__ import annotations

import builtins as py
import operator

import torch

from tiledsl.dtypes import DType
from tiledsl.eager.values import (
    _UNARY,
    FROM_TORCH,
    OPERATORS,
    STATE,
    TORCH,
    Val,
    WeakVal,
    binop,
    bshape,
    cast_t,
    cast_val,
    check_level,
    compute_dtype,
    const_t,
    describe,
    device,
    fail,
    is_num,
    number_val,
    operand,
    read,
    result_kind,
    unary,
    unify,
    up,
    weak_result,
)
from tiledsl.errors import FrontendError, KernelTypeError, LevelError


def need_grid(name: str) -> None:
    if not STATE.in_grid:
        raise fail(LevelError, f"td.{name} needs a tile program",
                   "put it inside `with td.grid(...) as pid:`; whole-tensor code uses level-1 ops")


def need_dtype(what: str, x) -> DType:
    if not isinstance(x, DType):
        raise fail(KernelTypeError, f"{what} needs a dtype such as td.float32, got {describe(x)}")
    return x


def shaped_val(what: str, x) -> Val:
    """A value given axes: a runtime float becomes an f32 tensor, as a Python float does."""
    v = need_val(what, x)
    return cast_val(v, DType.f32) if isinstance(v, WeakVal) else v


def need_val(what: str, x) -> Val:
    if isinstance(x, Val):
        return x
    if is_num(x):
        return number_val(x)
    raise fail(KernelTypeError, f"{what} needs a value, got {describe(x)}")


def static_shape(what: str, shape, allow_none: bool = False) -> tuple:
    """A compile-time tile shape: positive ints (None where an axis is dropped)."""
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise fail(KernelTypeError, f"{what} shape must be a tuple of ints, got {describe(shape)}")
    out = []
    for d in shape:
        if d is None and allow_none:
            out.append(None)
        elif isinstance(d, int) and not isinstance(d, bool) and d > 0:
            out.append(d)
        else:
            raise fail(KernelTypeError, f"{what} shape entries must be positive ints"
                       f"{' or None' if allow_none else ''}, got {describe(d)}",
                       "tile shapes are compile-time: use constexpr parameters")
    return tuple(out)


def norm_axis(what: str, axis, rank: int) -> int:
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise fail(KernelTypeError, f"{what} axis must be an int, got {describe(axis)}")
    if not -rank <= axis < rank:
        raise fail(KernelTypeError, f"{what}: axis {axis} is out of range for rank {rank}")
    return axis % rank


# --- math ---------------------------------------------------------------------------------------------
def _unary_builtin(op):
    def fn(x):
        return unary(op, x)
    fn.__name__ = op
    return fn


# one td.<name> builtin per unary function eager mode computes (`values._UNARY`, written apart
# from the compiler on purpose; tests/test_op_coverage.py checks the names against the op table)
UNARY_BUILTINS = {n: _unary_builtin(n) for n in _UNARY if n != "neg"}


def _strict(op, a, b):
    out = binop(op, a, b)
    if out is NotImplemented:
        raise fail(KernelTypeError, f"td.{op} of {describe(a)} and {describe(b)}")
    return out


def maximum(a, b):
    return _strict("maximum", a, b)


def minimum(a, b):
    return _strict("minimum", a, b)


def where(cond, a, b):
    if is_num(cond):
        return a if cond else b
    c = need_val("td.where", cond)
    if not c.dt.is_bool:  # as torch.where: a number is not a condition
        raise fail(KernelTypeError, f"td.where condition must be a bool mask, got {describe(c)}",
                   "compare to get a mask: td.where(c != 0, a, b)")
    for x in (a, b):
        if not isinstance(x, Val) and not is_num(x):
            raise fail(KernelTypeError, f"td.where needs values, got {describe(x)}")
    check_level("where", (c, a, b))
    dt = unify((a, b))
    if dt is DType.f64 and all(isinstance(x, WeakVal) or is_num(x) for x in (a, b)):
        dt = DType.f32  # Python floats picked per element: a tensor of the default float dtype (torch)
    shape = bshape((c, a, b))
    out = torch.where(read(c), operand(a, dt), operand(b, dt))
    return Val(out, dt, result_kind((c, a, b), len(shape)))


def clamp(x, lo=None, hi=None):
    """torch.clamp(x, lo, hi): the three meet in one dtype as torch promotes them (numbers
    weakly), then torch.clamp on tensors (NaN anywhere gives NaN; lo > hi gives hi)."""
    if lo is None and hi is None:
        raise fail(KernelTypeError, "td.clamp needs a lower or an upper bound",
                   "write td.clamp(x, lo, hi), td.clamp(x, lo=lo) or td.clamp(x, hi=hi)")
    if hi is None:
        return maximum(x, lo)
    if lo is None:
        return minimum(x, hi)
    xs = (x, lo, hi)
    for v in xs:
        if not isinstance(v, Val) and not is_num(v):
            raise fail(KernelTypeError, f"td.clamp needs values, got {describe(v)}")
    if not any(isinstance(v, Val) for v in xs):
        if any(v != v for v in xs):
            return float("nan")
        r = py.min(py.max(x, lo), hi)
        return float(r) if any(isinstance(v, float) for v in xs) else r
    check_level("clamp", xs)
    dt = unify(xs)
    if dt.is_bool:
        raise fail(KernelTypeError, "td.clamp needs numbers, got bool masks", "cast the mask first: m.to(td.int32)")
    bshape(xs)  # a clear error when the shapes do not broadcast
    t, lo_t, hi_t = (up(operand(v, dt)) for v in xs)
    out = torch.clamp(t, lo_t, hi_t)
    return weak_result(Val(cast_t(out, FROM_TORCH[out.dtype], dt), dt, result_kind(xs, out.dim())), xs)


def cast(x, dtype):
    return cast_val(need_val("td.cast", x), need_dtype("td.cast", dtype))


def cdiv(a, b):
    if is_num(a) and is_num(b):
        return -(-a // b)
    return _strict("floordiv", _strict("add", a, _strict("sub", b, 1) if not is_num(b) else b - 1), b)


# --- reductions and scans -----------------------------------------------------------------------------
def _prod(t: torch.Tensor, axes: tuple[int, ...], keepdims: bool) -> torch.Tensor:
    for ax in sorted(axes, reverse=True):
        t = torch.prod(t, dim=ax, keepdim=keepdims)
    return t


def _arg(fn):
    def reduce(t: torch.Tensor, axes: tuple[int, ...], keepdims: bool) -> torch.Tensor:
        (ax,) = axes  # torch gives the first extreme index, a NaN's index if any
        return fn(t, dim=ax, keepdim=keepdims)
    return reduce


# eager mode's own rule per reduction kind
REDUCE_T = {
    "sum": lambda t, axes, keepdims: torch.sum(t, dim=axes, keepdim=keepdims),
    "max": lambda t, axes, keepdims: torch.amax(t, dim=axes, keepdim=keepdims),
    "min": lambda t, axes, keepdims: torch.amin(t, dim=axes, keepdim=keepdims),
    "prod": _prod, "argmax": _arg(torch.argmax), "argmin": _arg(torch.argmin),
}


def _reduce_t(kind: str, t: torch.Tensor, axes: tuple[int, ...], keepdims: bool) -> torch.Tensor:
    return REDUCE_T[kind](t, axes, keepdims)


def _reducer(kind: str):
    def reduce(x, axis=None, keepdims=False):
        if not isinstance(keepdims, bool):
            raise fail(KernelTypeError, f"td.{kind} keepdims must be a compile-time bool, got {describe(keepdims)}",
                       "write keepdims=True or keepdims=False (a td.constexpr bool works too)")
        if not isinstance(x, Val):
            hint = f"use td.{'maximum' if kind == 'max' else 'minimum'}(a, b) for two values" if kind in ("max", "min") else None
            raise fail(KernelTypeError, f"td.{kind} of {describe(x)}", hint)
        check_level(f"td.{kind}", (x,))
        rank = x.t.dim()
        if rank == 0:
            raise fail(KernelTypeError, f"td.{kind} of a scalar")
        if x.dt.is_fp8:
            x = cast_val(x, DType.f32)  # fp8 is a storage type: reduce in f32
        if x.dt.is_bool and kind in ("sum", "prod"):
            x = cast_val(x, DType.i64)  # torch counts a mask's True elements in int64
        if axis is None:
            if kind in ("argmax", "argmin") and rank > 1:
                raise fail(KernelTypeError, f"td.{kind} needs an axis for rank {rank}")
            axes = tuple(range(rank))
        else:
            axes = (norm_axis(f"td.{kind}", axis, rank),)
        t = read(x)
        t = t.to(torch.int32) if x.dt.is_bool else up(t)  # 16-bit floats reduce in f32
        out = _reduce_t(kind, t, axes, bool(keepdims))
        dt = DType.i32 if kind in ("argmax", "argmin") else x.dt
        out = cast_t(out, FROM_TORCH[out.dtype], dt)  # one rounding; ints wrap in their width
        kind_out = "global" if x.kind == "global" else ("tile" if out.dim() else "scalar")
        return Val(out, dt, kind_out)
    reduce.__name__ = kind
    return reduce


REDUCTIONS = {k: _reducer(k) for k in REDUCE_T}


def cumsum(x, axis=0):
    need_grid("cumsum")
    x = need_val("td.cumsum", x)
    if x.t.dim() == 0:
        raise fail(KernelTypeError, "td.cumsum of a scalar")
    ax = norm_axis("td.cumsum", axis, x.t.dim())
    src = cast_val(x, DType.f32) if x.dt.is_fp8 else cast_val(x, DType.i64) if x.dt.is_bool else x
    t = read(src)
    out = torch.cumsum(t.to(torch.int32) if src.dt.is_bool else up(t), dim=ax)
    return Val(cast_t(out, FROM_TORCH[out.dtype], src.dt), src.dt, "tile")


# --- shape --------------------------------------------------------------------------------------------
def _shape_kind(x: Val) -> str:
    return "global" if x.kind == "global" else "tile"


def expand_dims(x, axis):
    x = shaped_val("td.expand_dims", x)
    rank = x.t.dim()
    if not isinstance(axis, int) or not -(rank + 1) <= axis <= rank:
        raise fail(KernelTypeError, f"td.expand_dims: axis {axis!r} is out of range for rank {rank}")
    return Val(read(x).unsqueeze(axis % (rank + 1)), x.dt, _shape_kind(x))


def trans(x, *perm):
    x = need_val("td.trans", x)
    if len(perm) == 1 and isinstance(perm[0], (tuple, list)):
        perm = tuple(perm[0])
    perm = tuple(perm) or tuple(reversed(range(x.t.dim())))
    if sorted(perm) != list(range(x.t.dim())):
        raise fail(KernelTypeError, f"{perm} is not a permutation of the {x.t.dim()} axes")
    return Val(read(x).permute(perm), x.dt, _shape_kind(x))


def reshape(x, shape):
    x = shaped_val("td.reshape", x)
    shape = static_shape("td.reshape", shape)
    n = 1
    for d in shape:
        n *= d
    if n != x.t.numel():
        raise fail(KernelTypeError, f"cannot reshape {tuple(x.t.shape)} ({x.t.numel()} elements) to {shape} ({n})")
    return Val(read(x).reshape(shape), x.dt, _shape_kind(x))


def broadcast_to(x, shape):
    x = shaped_val("td.broadcast_to", x)
    shape = static_shape("td.broadcast_to", shape)
    try:
        t = torch.broadcast_to(read(x), shape)
    except RuntimeError:
        raise fail(KernelTypeError, f"cannot broadcast {tuple(x.t.shape)} to {shape}") from None
    return Val(t, x.dt, _shape_kind(x))


def subscript(x: Val, idx):
    """`t[:, None]` on tiles (`:` keeps an axis, None inserts one); `x[idx]` gathers rows of a
    whole tensor."""
    items = idx if isinstance(idx, tuple) else (idx,)
    if x.kind == "global" and len(items) == 1 and isinstance(items[0], Val) and items[0].t.dim() >= 1:
        return take(x, items[0], 0)
    t, axis = read(x), 0
    for it in items:
        if isinstance(it, slice) and it == slice(None):
            axis += 1
        elif it is None:
            t = t.unsqueeze(axis)
            axis += 1
        else:
            raise fail(FrontendError, f"unsupported index {it!r}",
                       "tiles take `:` and None (x[:, None]); read memory with td.load")
    if sum(1 for it in items if isinstance(it, slice)) > x.t.dim():
        raise fail(KernelTypeError, f"too many indices for {describe(x)}")
    return Val(t, x.dt, _shape_kind(x) if t.dim() else x.kind)


# --- products and gathers ------------------------------------------------------------------------------
def matmul(a, b):
    a, b = need_val("@", a), need_val("@", b)
    if a.kind != "global" and b.kind != "global":
        return dot(a, b)
    if STATE.in_grid:
        raise fail(LevelError, "a @ b on whole tensors inside a tile program", "td.load tiles and use td.dot")
    if a.dt is not b.dt:
        raise fail(KernelTypeError, f"matmul of {a.dt.value} and {b.dt.value}; cast one")
    if not a.dt.is_float:
        raise fail(KernelTypeError, f"matmul needs float operands, got {a.dt.value}")
    _check_mm("matmul", a, b)
    dt = DType.f32 if a.dt.is_fp8 else a.dt  # fp8 products come back in f32
    cd = torch.float64 if a.dt is DType.f64 else torch.float32
    out = torch.matmul(cast_t(read(a), a.dt, DType.f32).to(cd), cast_t(read(b), b.dt, DType.f32).to(cd))
    return Val(cast_t(out, FROM_TORCH[cd], dt), dt, "global")


def _check_mm(what: str, a: Val, b: Val) -> None:
    if a.t.dim() != 2 or b.t.dim() != 2:
        raise fail(KernelTypeError, f"{what} needs 2-D operands, got shapes {tuple(a.t.shape)} and {tuple(b.t.shape)}")
    if a.t.shape[1] != b.t.shape[0]:
        raise fail(KernelTypeError, f"{what} inner sizes differ: {tuple(a.t.shape)} @ {tuple(b.t.shape)}")


def dot(a, b, acc=None, out_dtype=None):
    """acc + a @ b: operands upcast to the accumulator's compute dtype (f32 for float and 16-bit
    accumulators, i32 for ints), summed there, rounded once to the result dtype."""
    a, b = need_val("td.dot", a), need_val("td.dot", b)
    if a.kind == "global" or b.kind == "global":
        if acc is not None:
            raise fail(KernelTypeError, "td.dot on whole tensors takes no acc")
        return matmul(a, b)
    if not (a.dt is b.dt or (a.dt.is_fp8 and b.dt.is_fp8)):
        raise fail(KernelTypeError, f"dot operands differ in dtype: {a.dt.value} and {b.dt.value}; cast one")
    _check_mm("dot", a, b)
    if out_dtype is not None:
        dt = need_dtype("td.dot out_dtype", out_dtype)
    elif acc is not None:
        dt = need_val("td.dot acc", acc).dt
    else:
        dt = DType.i32 if a.dt.is_int else DType.f32
    if acc is not None:
        acc = need_val("td.dot acc", acc)
        if acc.dt is not dt:
            raise fail(KernelTypeError, f"dot accumulator is {acc.dt.value} but the dot produces {dt.value}")
    cd = compute_dtype(dt)
    src = FROM_TORCH[cd]

    def upc(v: Val) -> torch.Tensor:
        return cast_t(read(v), v.dt, src)

    out = torch.mm(upc(a), upc(b))
    if acc is not None:
        try:
            out = upc(acc) + out
        except RuntimeError:
            raise fail(KernelTypeError, f"dot accumulator {tuple(acc.t.shape)} does not fit {tuple(out.shape)}") from None
    return Val(cast_t(out, src, dt), dt, "tile")


def take(x, idx, axis=0):
    x, idx = need_val("td.take", x), need_val("td.take", idx)
    if x.kind != "global":
        raise fail(KernelTypeError, "td.take gathers from whole tensors",
                   "in a tile program, td.load with a tile of indices as the offset")
    if not idx.dt.is_int:
        raise fail(KernelTypeError, f"gather indices must be integers, got {idx.dt.value}")
    ax = norm_axis("td.take", axis, x.t.dim())
    flat = read(idx).reshape(-1).long()
    n = x.t.shape[ax]
    # the language guide: negative indices count from the end, indices outside [-n, n) read 0
    flat = torch.where(flat < 0, flat + n, flat)
    bad = (flat < 0) | (flat >= n)
    if n == 0:  # nothing to read: every index is out of range
        return Val(x.t.new_zeros(tuple(x.t.shape[:ax]) + tuple(idx.t.shape) + tuple(x.t.shape[ax + 1:])), x.dt, "global")
    out = x.t.index_select(ax, flat.clamp(0, n - 1))
    if bool(bad.any()):
        shape = [1] * x.t.dim()
        shape[ax] = -1
        out = out.masked_fill(bad.view(shape), 0)
    out = out.reshape(tuple(x.t.shape[:ax]) + tuple(idx.t.shape) + tuple(x.t.shape[ax + 1:]))
    return Val(out, x.dt, "global")


# --- tile constructors -----------------------------------------------------------------------------------
def arange(start, end=None):
    need_grid("arange")
    if end is None:
        start, end = 0, start
    for v in (start, end):
        if not isinstance(v, int) or isinstance(v, bool):
            raise fail(KernelTypeError, f"td.arange bounds are compile-time ints or knobs, got {describe(v)}")
    if end <= start:
        raise fail(KernelTypeError, f"td.arange({start}, {end}) is empty")
    return Val(torch.arange(start, end, dtype=torch.int32, device=device()), DType.i32, "tile")


def full(shape, value, dtype):
    return _full("full", shape, value, dtype)


def zeros(shape, dtype=DType.f32):
    return _full("zeros", shape, 0, dtype)


def _full(name, shape, value, dtype):
    need_grid(name)
    dtype = need_dtype(f"td.{name}", dtype)
    if not is_num(value):
        raise fail(KernelTypeError, f"td.{name} fill value must be a number, got {describe(value)}")
    value = float(value) if dtype.is_float else (bool(value) if dtype.is_bool else _fill_int(name, value, dtype))
    return Val(const_t(value, dtype, static_shape(f"td.{name}", shape)), dtype, "tile")


def _fill_int(name: str, value, dtype: DType) -> int:
    """As the compiler (and torch.full): a fraction, or an int outside the dtype's range, is an
    error, never wrapped."""
    if isinstance(value, float) and not value.is_integer():
        raise fail(KernelTypeError, f"td.{name}: {value} is not an integer, the dtype is {dtype.value}",
                   "use a float dtype, or an integer value")
    info = torch.iinfo(TORCH[dtype])
    if not info.min <= int(value) <= info.max:
        raise fail(KernelTypeError, f"the constant {int(value)} does not fit in {dtype.value} ([{info.min}, {info.max}])",
                   "use a wider dtype (td.int64), or a value in range")
    return int(value)


# --- loops -------------------------------------------------------------------------------------------------
def _loop(what: str, args):
    if not 1 <= len(args) <= 3:
        raise fail(FrontendError, f"{what} takes 1 to 3 arguments")
    start, stop, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], args[2] if len(args) == 3 else 1)
    for b in (start, stop, step):
        if not (isinstance(b, Val) and b.dt.is_int and b.t.dim() == 0) and not (isinstance(b, int) and not isinstance(b, bool)):
            raise fail(KernelTypeError, f"loop bounds must be integer scalars, got {describe(b)}")
    if is_num(step) and step == 0:
        raise fail(KernelTypeError, "loop step is 0")
    dt = unify((start, stop, step))
    lo, hi, st = (int(b) for b in (start, stop, step))
    if dt is DType.i32 and not all(-(2**31) <= v < 2**31 for v in (lo, hi)):
        dt = DType.i64
    if st == 0:
        raise fail(KernelTypeError, "loop step is 0")
    tdt = TORCH[dt]
    for i in range(lo, hi, st):  # the loop variable is a typed scalar, as in the compiled kernel
        yield Val(torch.tensor(i, dtype=tdt), dt, "scalar")


def eager_range(*args):
    return _loop("range", args)


EXPECT_HINT = ("expect= takes an int >= 0, a constexpr or knob, a tensor size (x.shape[i]) or arithmetic "
               "(+ - * // % td.cdiv td.minimum td.maximum) of those; e.g. expect=block_table.shape[1]")


def _check_expect(expect) -> None:
    """`expect=` only prices the loop (the compiler's cost model): checked, then unused. A
    scalar computed from sizes is a typed scalar here, like one loaded from memory, so only the
    compiler can tell that the hint does not depend on data."""
    if expect is None:
        return
    if isinstance(expect, bool) or not (isinstance(expect, int) or (
            isinstance(expect, Val) and expect.dt.is_int and expect.t.dim() == 0)):
        raise fail(KernelTypeError, f"expect= must be an integer trip count, got {describe(expect)}", EXPECT_HINT)
    if isinstance(expect, int) and expect < 0:
        raise fail(KernelTypeError, f"expect= must be at least 0, got {expect}", EXPECT_HINT)


def td_range(*args, expect=None):
    """`td.range`: Python's range with an expected trip count for the cost model."""
    _check_expect(expect)
    return _loop("td.range", args)


def pipelined(*args, stages=None, expect=None):
    """A software-pipelined loop is, in program order, a plain loop; `stages` and `expect` are
    checked only."""
    from tiledsl.language import AutoKnob, auto

    if STATE.in_threads:
        raise fail(LevelError, "td.pipelined inside td.threads",
                   "td.pipelined pipelines a tile program's loads: loop with it outside td.threads, or use range(...) inside")

    if stages is not None and stages is not auto and not isinstance(stages, AutoKnob) and \
            (not isinstance(stages, int) or isinstance(stages, bool)):
        raise fail(KernelTypeError, f"stages must be an int or td.auto, got {stages!r}")
    _check_expect(expect)
    return _loop("td.pipelined", args)


# --- Python builtins with kernel meaning -------------------------------------------------------------------
def _py_minmax(name: str, pyfn, op: str):
    def fn(*args, **kwargs):
        if not any(isinstance(a, Val) for a in args):
            return pyfn(*args, **kwargs)
        if kwargs or len(args) < 2:
            raise fail(KernelTypeError, f"{name}() in a kernel takes two or more values",
                       f"reduce a tile with td.{name}(x, axis=...)")
        out = args[0]
        for a in args[1:]:
            out = _strict(op, out, a)
        return out
    fn.__name__ = name
    return fn


def py_abs(x):
    return unary("abs", x) if isinstance(x, Val) else py.abs(x)


PY_SHADOWS = {"range": eager_range, "min": _py_minmax("min", py.min, "minimum"),
              "max": _py_minmax("max", py.max, "maximum"), "abs": py_abs}


# --- helpers the rewritten body calls -------------------------------------------------------------------------
_CMP = {"Eq": "eq", "NotEq": "ne", "Lt": "lt", "LtE": "le", "Gt": "gt", "GtE": "ge"}
_PYCMP = {"Eq": operator.eq, "NotEq": operator.ne, "Lt": operator.lt, "LtE": operator.le,
          "Gt": operator.gt, "GtE": operator.ge}


def chain(first, *rest):
    """`a < b < c`: every comparison evaluated, combined with `and` (elementwise on tiles)."""
    left, out = first, None
    for i in range(0, len(rest), 2):
        op, right = rest[i], rest[i + 1]
        r = _PYCMP[op](left, right) if not isinstance(left, Val) and not isinstance(right, Val) else _strict(_CMP[op], left, right)
        if out is None:
            out = r
        elif not isinstance(out, Val):
            out = r if out else out
        elif not isinstance(r, Val):
            out = out if r else r
        else:
            out = _strict("and", out, r)
        left = right
    return out


def check_truth(word: str, x) -> None:
    """A runtime operand whose truth `and`/`or` test must be a bool scalar (`not`: any scalar);
    a tile's truth is ambiguous (torch raises for several elements): an error, as compiled."""
    if x.t.dim() == 0 and (x.dt.is_bool or word == "not"):
        return
    op = {"and": "&", "or": "|", "not": "~"}[word]
    raise fail(KernelTypeError, f"`{word}` on {describe(x)}: only compile-time values and runtime "
               f"{'scalars' if word == 'not' else 'bool scalars'} have a truth value in a kernel",
               f"use `{op}` for elementwise logic on masks (`&`, `|`, `~`)")


def boolop(word: str, *thunks):
    """`a and b ...` / `a or b ...` (each operand a thunk, evaluated in order): Python's meaning
    on compile-time values; after a runtime bool scalar every operand is evaluated (as in the
    compiled kernel) and must be a bool scalar or a Python bool, and the result is `&` / `|`."""
    is_and = word == "and"
    out = None
    for i, th in enumerate(thunks):
        v = th()
        last = i == len(thunks) - 1
        if out is None and not isinstance(v, Val):
            if last or bool(v) != is_and:
                return v
            continue
        if out is None and last:
            return v
        if isinstance(v, bool):
            if v != is_and:
                return v
            continue
        if not isinstance(v, Val):
            raise fail(KernelTypeError, f"`{word}` of a runtime bool scalar and {describe(v)}",
                       "combine masks and bool scalars with `&` / `|`")
        check_truth(word, v)
        out = v if out is None else _strict(word, out, v)
    return out


def not_(x):
    if not isinstance(x, Val):
        return not x
    check_truth("not", x)
    return unary("not", x) if x.dt.is_bool else _strict("eq", x, 0)


def ifexp(cond, body, orelse):
    """`a if c else b`: Python's choice for a compile-time condition; a runtime condition (a
    scalar or a tile) evaluates both sides and selects with td.where, as the compiled kernel."""
    if isinstance(cond, Val):
        return where(cond, body(), orelse())
    return body() if cond else orelse()


def call_maybe_dtype(fn, *args, **kwargs):
    """`td.float16(x)` casts x, as `x.to(td.float16)`."""
    if isinstance(fn, DType):
        if kwargs or len(args) != 1:
            raise fail(KernelTypeError, f"{fn!r}(x) takes one value")
        return cast(args[0], fn)
    return fn(*args, **kwargs)


OPERATORS.update(trans=trans, subscript=subscript, matmul=matmul)
