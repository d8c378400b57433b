"""What each `td.*` builtin builds. One handler per builtin name in `HANDLERS` (the `with` forms
are in `contexts.py`); each checks its arguments and says what to write instead when they are
wrong. Every axis argument goes through `axis_arg`; numbers meeting a dtype through `fill_value`
or `_Lowerer.check_fits`; implicit conversions into int buffers through `check_narrowing`."""

from __future__ import annotations

import ast
import builtins as py

from tiledsl.dtypes import PUBLIC_NAME, DType
from tiledsl.errors import FrontendError, KernelTypeError, LevelError, TypeCheckError
from tiledsl.frontend.values import KnobRef, describe, is_const
from tiledsl.ir.infer import fmt_shape
from tiledsl.ir.nodes import Space, Value
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import REDUCE_KINDS, UNARY_RULE, fold_const, public_names

_UNARY = public_names(UNARY_RULE)  # td.exp, td.exp2, ...: one elementwise op each (the op table)
_REDUCE = tuple(REDUCE_KINDS)
_ATOMIC = {"atomic_add": "add", "atomic_max": "max", "atomic_min": "min", "atomic_xchg": "xchg"}
SHUFFLE_HINT = "shuffle a thread's own value: td.load the element first (a = td.load(x, (tid,)))"
WHERE_HINT = "compare to get a mask: td.where(c != 0, a, b)"
KEEPDIMS_HINT = "write keepdims=True or keepdims=False (a td.constexpr bool works too)"
_SHUFFLE = {"shfl_xor": "xor", "shfl_down": "down", "shfl_up": "up", "shfl_idx": "idx"}


def _sig(low, name, args, kwargs, params: tuple[str, ...], defaults: dict):
    """Bind builtin arguments by position and keyword, like a Python signature."""
    if len(args) > len(params):
        raise low.error(KernelTypeError, f"td.{name} takes at most {len(params)} arguments "
                        f"({', '.join(params)}), got {len(args)}")
    bound = dict(zip(params, args))
    for k, v in kwargs.items():
        if k not in params:
            raise low.error(KernelTypeError, f"td.{name} has no argument {k!r}; it takes {', '.join(params)}")
        bound[k] = v
    for p in params:
        if p not in bound:
            if p not in defaults:
                raise low.error(KernelTypeError, f"td.{name} is missing argument {p!r}")
            bound[p] = defaults[p]
    return [bound[p] for p in params]


def _need_value(low, what, x) -> Value:
    if isinstance(x, Value):
        return x
    if is_const(x) or isinstance(x, KnobRef):
        return low.const(x)
    raise low.error(KernelTypeError, f"{what} needs a value, got {describe(x)}")


def _shaped_value(low, what, x) -> Value:
    """A value given axes: a runtime float becomes an f32 tensor, as a Python float does
    (`torch.tensor(0.1)` is f32; a number here is `low.const`'s f32 too)."""
    v = _need_value(low, what, x)
    return low.cast(v, DType.f32) if low.is_weak(v) else v


def _dtype(low, what, x) -> DType:
    if not isinstance(x, DType):
        raise low.error(KernelTypeError, f"{what} needs a dtype such as td.float32, got {describe(x)}")
    return x


def _shape(low, what, shape, allow_none=False):
    """A tile shape: ints and knobs (and None where an axis is dropped)."""
    if isinstance(shape, (int, KnobRef)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, tuple):
        raise low.error(KernelTypeError, f"{what} shape must be a tuple of ints or knobs, got {describe(shape)}")
    out = []
    for d in shape:
        if d is None and allow_none:
            out.append(None)
        elif isinstance(d, KnobRef):
            out.append(d.sym)
        elif isinstance(d, int) and not isinstance(d, bool) and d > 0:
            out.append(d)
        elif isinstance(d, Value):
            raise low.error(KernelTypeError, f"{what} shape entry {len(out)} is `{d.name}`, a runtime "
                            f"{d.type.dtype.value} value: tile shapes must be compile-time constants",
                            "make the size a td.constexpr parameter (or td.auto, a knob) and mask the edge")
        else:
            raise low.error(KernelTypeError, f"{what} shape entries must be positive ints or knobs"
                            f"{' or None' if allow_none else ''}, got {d!r}",
                            "tile shapes are compile-time: use constexpr parameters")
    return tuple(out)


def axis_arg(low, what: str, axis, rank: int, insert: bool = False) -> int:
    """The one check of every axis argument: a compile-time int in [-rank, rank) ([-rank-1, rank]
    where an axis is inserted), returned normalized to [0, rank)."""
    n = rank + 1 if insert else rank
    if axis is None or isinstance(axis, bool) or not isinstance(axis, int):
        raise low.error(KernelTypeError, f"{what} axis must be a compile-time int, got {describe(axis)}",
                        "write the axis as an int literal or constexpr, e.g. axis=-1 for the last")
    if not -n <= axis < n:
        what_val = f"a {rank}-D value" if rank else "a scalar"
        raise low.error(KernelTypeError, f"{what}: axis {axis} is out of range for {what_val} "
                        f"(valid: {-n} to {n - 1})", "axes count from 0; negative axes count from the end")
    return axis % n


def _in_grid(low, name):
    if not low.in_grid:
        raise low.error(LevelError, f"td.{name} needs a tile program",
                        "put it inside `with td.grid(...) as pid:`; whole-tensor code uses level-1 ops")


def _in_threads(low, name):
    if not low.in_threads:
        raise low.error(LevelError, f"td.{name} is a thread-level (level 3) op",
                        "put it inside `with td.threads(n) as tid:` within a td.grid")


# --- math --------------------------------------------------------------------------------------------------
def where(low, c, a, b):
    if is_const(c):
        return a if c else b
    c = _need_value(low, "td.where", c)
    if not c.type.dtype.is_bool:  # as torch.where: a number is not a condition
        raise low.error(KernelTypeError, f"td.where condition must be a bool mask, got {describe(c)}", WHERE_HINT)
    (x, y), dt = low.unify_operands([a, b])
    if dt is DType.f64 and all(not isinstance(v, Value) or low.is_weak(v) for v in (a, b)):
        # Python floats (one known only at run time) picked per element become a tensor of the
        # default float dtype, as in torch.where(mask, s, 2.0)
        x, y = low.cast(x, DType.f32), low.cast(y, DType.f32)
    return low.value(Op.WHERE, (c, x, y))


def matmul(low, a, b):
    a, b = _need_value(low, "@", a), _need_value(low, "@", b)
    if a.type.space is Space.GLOBAL or b.type.space is Space.GLOBAL:
        if low.in_grid:
            raise low.error(LevelError, "a @ b on whole tensors inside a tile program",
                            "td.load tiles and use td.dot")
        if a.type.dtype is not b.type.dtype:
            raise low.error(KernelTypeError, f"matmul of {a.type.dtype.value} and {b.type.dtype.value}; cast one")
        if a.type.rank == 2 and b.type.rank == 2:
            _check_inner(low, a, b)
        if _is_matvec(a, b):
            return _matvec(low, a, b)
        # fp8 products are returned in f32 (fp8 is a storage type)
        return low.value(Op.MATMUL, (a, b), {"dtype": DType.f32} if a.type.dtype.is_fp8 else None)
    return dot(low, a, b)


def _check_inner(low, a: Value, b: Value) -> None:
    """The inner sizes of a level-1 matmul must be equal: a size 1 does not broadcast there."""
    k_a, k_b = a.type.shape[1], b.type.shape[0]
    u = low.builder.unifier
    try:
        if (k_a == 1) != (k_b == 1):
            k = k_b if k_a == 1 else k_a
            raise TypeCheckError(f"size {k} ({u.sizes.get(k, '?')} in this call) does not match size 1")
        u.dim(k_a, k_b)
    except TypeCheckError as e:
        raise low.error(KernelTypeError, f"matmul inner sizes differ: {fmt_shape(a.type.shape)} @ "
                        f"{fmt_shape(b.type.shape)} ({e})", "a @ b needs a.shape[1] == b.shape[0]") from None


def _is_matvec(a: Value, b: Value) -> bool:
    """A level-1 matmul with a size-1 axis (matrix-vector, vector-matrix, outer product): no dot
    tile shape fits it, so it is written as a product and a sum (`_matvec`)."""
    if a.type.rank != 2 or b.type.rank != 2 or not a.type.dtype.is_float:
        return False
    return 1 in (*a.type.shape, *b.type.shape)


def _matvec(low, a: Value, b: Value) -> Value:
    """`a @ b` as `sum(a[:, :, None] * b[None, :, :], axis=1)`, accumulated as a matmul is (f32,
    f64 for f64) and rounded once to the matmul's dtype (fp8: f32)."""
    dt = a.type.dtype
    acc = DType.f64 if dt is DType.f64 else DType.f32
    a3 = low.value(Op.EXPAND_DIMS, (low.cast(a, acc),), {"axis": 2})
    b3 = low.value(Op.EXPAND_DIMS, (low.cast(b, acc),), {"axis": 0})
    prod = low.value(Op.MUL, (a3, b3))
    out = low.value(Op.REDUCE, (prod,), {"kind": "sum", "axis": 1, "keepdims": False}, hint="matmul")
    return low.cast(out, DType.f32 if dt.is_fp8 else dt)


def dot(low, a, b, acc=None, out_dtype=None):
    a, b = _need_value(low, "td.dot", a), _need_value(low, "td.dot", b)
    if a.type.space is Space.GLOBAL or b.type.space is Space.GLOBAL:
        if acc is not None:
            raise low.error(KernelTypeError, "td.dot on whole tensors takes no acc")
        return matmul(low, a, b)
    attrs = {}
    if out_dtype is not None:
        attrs["dtype"] = _dtype(low, "td.dot out_dtype", out_dtype)
    operands = (a, b) if acc is None else (a, b, _need_value(low, "td.dot acc", acc))
    if acc is not None and "dtype" not in attrs:
        attrs["dtype"] = operands[2].type.dtype
    return low.value(Op.DOT, operands, attrs, hint="dot")


def _reduce(kind):
    def h(low, args, kwargs):
        x, axis, keepdims = _sig(low, kind, args, kwargs, ("x", "axis", "keepdims"),
                                 {"axis": None, "keepdims": False})
        if not isinstance(keepdims, bool):
            raise low.error(KernelTypeError, f"td.{kind} keepdims must be a compile-time bool, got {describe(keepdims)}",
                            KEEPDIMS_HINT)
        x = _need_value(low, f"td.{kind}", x)
        if x.type.rank == 0:
            raise low.error(KernelTypeError, f"td.{kind} of a scalar", f"use td.{'maximum' if kind == 'max' else 'minimum'}(a, b) for two values"
                            if kind in ("max", "min") else None)
        if x.type.dtype.is_fp8:
            x = low.cast(x, DType.f32)  # fp8 is a storage type: reduce in f32
        if x.type.dtype.is_bool and REDUCE_KINDS[kind].accumulates:
            x = low.cast(x, DType.i64)  # as torch: the sum of a mask counts its True elements, in int64
        op = Op.REDUCE if x.type.space is Space.GLOBAL else Op.TILE_REDUCE
        if op is Op.REDUCE and low.in_grid:
            raise low.error(LevelError, f"td.{kind} of a whole tensor inside a tile program")
        if axis is None:
            if REDUCE_KINDS[kind].index and x.type.rank > 1:
                raise low.error(KernelTypeError, f"td.{kind} needs an axis for rank {x.type.rank}",
                                f"pass axis=, e.g. td.{kind}(x, axis=-1)")
            if op is Op.REDUCE and x.type.rank > 1:
                raise low.error(KernelTypeError, f"td.{kind} of a whole rank-{x.type.rank} tensor over all its "
                                "axes: a level-1 kernel reduces one axis",
                                f"reduce one axis (td.{kind}(x, axis=-1)), or write a tile program "
                                "(td.grid / td.load) for a full reduction")
            for ax in reversed(range(x.type.rank)):
                # all_axes: one reduction written as a chain; compute_in_f32 rounds it once
                x = low.value(op, (x,), {"kind": kind, "axis": ax, "keepdims": bool(keepdims), "all_axes": True})
            return x
        axis = axis_arg(low, f"td.{kind}", axis, x.type.rank)
        return low.value(op, (x,), {"kind": kind, "axis": axis, "keepdims": bool(keepdims)})
    return h


def _unary(name):
    def h(low, args, kwargs):
        (x,) = _sig(low, name, args, kwargs, ("x",), {})
        if is_const(x) and name == "abs":
            if isinstance(x, (DType, str, tuple)) or x is None:
                raise low.error(KernelTypeError, f"abs of {describe(x)}", "abs takes a number or a value")
            return py.abs(x)
        return low.unary(_UNARY[name], x)
    return h


def _binary(op, name):
    def h(low, args, kwargs):
        a, b = _sig(low, name, args, kwargs, ("a", "b"), {})
        return low.binop(op, a, b)
    return h


def h_where(low, args, kwargs):
    return where(low, *_sig(low, "where", args, kwargs, ("cond", "a", "b"), {}))


def h_clamp(low, args, kwargs):
    """torch.clamp: min(max(x, lo), hi); one bound may be None (then it is td.maximum or
    td.minimum). The operands meet in one dtype as torch promotes them (numbers weakly)."""
    x, lo, hi = _sig(low, "clamp", args, kwargs, ("x", "lo", "hi"), {"lo": None, "hi": None})
    if lo is None and hi is None:
        raise low.error(KernelTypeError, "td.clamp needs a lower or an upper bound",
                        "write td.clamp(x, lo, hi), td.clamp(x, lo=lo) or td.clamp(x, hi=hi)")
    if hi is None:
        return low.binop(Op.MAXIMUM, x, lo)
    if lo is None:
        return low.binop(Op.MINIMUM, x, hi)
    xs = [x, lo, hi]
    if all(is_const(v) and not isinstance(v, (DType, str, tuple)) for v in xs):
        return fold_const(Op.CLAMP, *xs)
    for v in xs:
        if isinstance(v, Value):
            low.check_level("td.clamp", v)
        else:
            _need_value(low, "td.clamp", v)  # a number or knob; anything else is an error here
    vals, dt = low.unify_operands(xs)
    if dt.is_bool:
        raise low.error(KernelTypeError, "td.clamp needs numbers, got bool masks", "cast the mask first: m.to(td.int32)")
    return low.mark_weak(low.value(Op.CLAMP, tuple(vals)), xs)


def h_cast(low, args, kwargs):
    x, dtype = _sig(low, "cast", args, kwargs, ("x", "dtype"), {})
    return low.convert(_need_value(low, "td.cast", x), _dtype(low, "td.cast", dtype))


def h_cdiv(low, args, kwargs):
    a, b = _sig(low, "cdiv", args, kwargs, ("a", "b"), {})
    if is_const(b) and b == 0:
        raise low.error(KernelTypeError, "td.cdiv by zero", "the divisor of td.cdiv must be positive")
    if is_const(a) and is_const(b):
        if not all(isinstance(v, int) for v in (a, b)):
            raise low.error(KernelTypeError, f"td.cdiv takes integers, got {describe(a)} and {describe(b)}")
        return -(-a // b)
    return low.binop(Op.FLOORDIV, low.binop(Op.ADD, a, low.binop(Op.SUB, b, 1) if not is_const(b) else b - 1), b)


def h_dot(low, args, kwargs):
    return dot(low, *_sig(low, "dot", args, kwargs, ("a", "b", "acc", "out_dtype"),
                          {"acc": None, "out_dtype": None}))


def h_matmul(low, args, kwargs):
    return matmul(low, *_sig(low, "matmul", args, kwargs, ("a", "b"), {}))


def h_take(low, args, kwargs):
    x, idx, axis = _sig(low, "take", args, kwargs, ("x", "idx", "axis"), {"axis": 0})
    return _gather(low, x, idx, axis)


def _gather(low, x, idx, axis):
    x, idx = _need_value(low, "td.take", x), _need_value(low, "td.take", idx)
    if x.type.space is not Space.GLOBAL:
        raise low.error(KernelTypeError, "td.take gathers from whole tensors",
                        "in a tile program, td.load with a tile of indices as the offset")
    return low.value(Op.GATHER, (x, idx), {"axis": axis_arg(low, "td.take", axis, x.type.rank)})


# --- shape ---------------------------------------------------------------------------------------------------
def h_expand_dims(low, args, kwargs):
    x, axis = _sig(low, "expand_dims", args, kwargs, ("x", "axis"), {})
    x = _shaped_value(low, "td.expand_dims", x)
    axis = axis_arg(low, "td.expand_dims", axis, x.type.rank, insert=True)
    return low.value(Op.EXPAND_DIMS, (x,), {"axis": axis})


def h_trans(low, args, kwargs):
    if not args:
        raise low.error(KernelTypeError, "td.trans needs a value")
    x = _need_value(low, "td.trans", args[0])
    perm = tuple(args[1:]) or tuple(reversed(range(x.type.rank)))
    if len(perm) == 1 and isinstance(perm[0], tuple):
        perm = perm[0]
    perm = tuple(axis_arg(low, "td.trans", p, x.type.rank) for p in perm)
    if sorted(perm) != list(range(x.type.rank)):
        raise low.error(KernelTypeError, f"td.trans needs a permutation of the {x.type.rank} axes, got {perm}",
                        "name every axis once, e.g. td.trans(x, 1, 0)")
    return low.value(Op.TRANSPOSE, (x,), {"perm": perm})


def h_reshape(low, args, kwargs):
    x, shape = _sig(low, "reshape", args, kwargs, ("x", "shape"), {})
    return low.value(Op.RESHAPE, (_shaped_value(low, "td.reshape", x),), {"shape": _shape(low, "td.reshape", shape)})


def h_broadcast_to(low, args, kwargs):
    x, shape = _sig(low, "broadcast_to", args, kwargs, ("x", "shape"), {})
    return low.value(Op.BROADCAST_TO, (_shaped_value(low, "td.broadcast_to", x),),
                     {"shape": _shape(low, "td.broadcast_to", shape)})


def h_cumsum(low, args, kwargs):
    x, axis = _sig(low, "cumsum", args, kwargs, ("x", "axis"), {"axis": 0})
    _in_grid(low, "cumsum")
    x = _need_value(low, "td.cumsum", x)
    if x.type.rank == 0:
        raise low.error(KernelTypeError, "td.cumsum of a scalar", "td.cumsum takes a tile")
    axis = axis_arg(low, "td.cumsum", axis, x.type.rank)
    if x.type.dtype.is_bool:
        x = low.cast(x, DType.i64)  # as torch: a running count, in int64
    return low.value(Op.SCAN, (x,), {"kind": "sum", "axis": axis})


def subscript(low, obj, sl: ast.expr):
    if isinstance(obj, tuple):
        idx = low.expr(sl)
        if isinstance(idx, py.slice):
            return obj[idx]
        if isinstance(idx, int) and not isinstance(idx, bool):
            if not -len(obj) <= idx < len(obj):
                seq = ast.unparse(low.node.value) if isinstance(low.node, ast.Subscript) else "a tuple"
                raise low.error(KernelTypeError, f"index {idx} is out of range for {seq} of length {len(obj)}",
                                "a tensor of rank n has x.shape[0] to x.shape[n - 1] (or x.shape[-1])")
            return obj[idx]
        raise low.error(KernelTypeError, f"a tuple is indexed by a constant, got {describe(idx)}")
    if not isinstance(obj, Value):
        raise low.error(FrontendError, f"cannot index {describe(obj)}")
    items = sl.elts if isinstance(sl, ast.Tuple) else [sl]
    if obj.type.space is Space.GLOBAL and len(items) == 1 and not isinstance(items[0], ast.Slice):
        idx = low.expr(items[0])
        if isinstance(idx, Value) and idx.type.rank >= 1:
            return _gather(low, obj, idx, 0)
    # tile indexing: `:` keeps an axis, None inserts one
    kept = sum(1 for it in items if isinstance(it, ast.Slice))
    if kept > obj.type.rank:
        raise low.error(KernelTypeError, f"{kept} `:` entries index a {obj.type.rank}-D value",
                        "one `:` per axis of the value; None inserts an axis")
    out, axis = obj, 0
    for it in items:
        if isinstance(it, ast.Slice) and it.lower is None and it.upper is None and it.step is None:
            axis += 1
        elif isinstance(it, ast.Constant) and it.value is None:
            out = low.value(Op.EXPAND_DIMS, (out,), {"axis": axis})
            axis += 1
        else:
            raise low.error(FrontendError, f"unsupported index {ast.unparse(it)!r}",
                            "tiles take `:` and None (x[:, None]); read memory with td.load")
    return out


# --- level 2 -----------------------------------------------------------------------------------------------------
def _offsets(low, name, x: Value, offsets):
    if not isinstance(offsets, tuple):
        offsets = (offsets,)
    if len(offsets) != x.type.rank:
        raise low.error(KernelTypeError, f"td.{name} into a rank-{x.type.rank} tensor needs {x.type.rank} "
                        f"offsets, got {len(offsets)}")
    out = []
    for o in offsets:
        v = _need_value(low, f"td.{name} offset", o)
        if not v.type.dtype.is_int:
            raise low.error(KernelTypeError, f"td.{name} offsets must be integers, got {v.type}")
        out.append(v)
    return out


def _mem(low, name, x):
    x = _need_value(low, f"td.{name}", x)
    if not (x.type.space is Space.GLOBAL or x.type.space.is_buffer):
        raise low.error(KernelTypeError, f"td.{name} addresses a tensor parameter or a buffer, got {describe(x)}")
    return x


def h_load(low, args, kwargs):
    x, offsets, shape, mask, other = _sig(low, "load", args, kwargs, ("x", "offsets", "shape", "mask", "other"),
                                          {"shape": None, "mask": None, "other": 0})
    _in_grid(low, "load")
    x = _mem(low, "load", x)
    offs = _offsets(low, "load", x, offsets)
    attrs = {"shape": _shape(low, "td.load", shape, allow_none=True) if shape is not None else (None,) * len(offs)}
    operands = [x, *offs]
    if mask is not None:
        operands.append(_need_value(low, "td.load mask", mask))
        attrs["masked"] = True
    if not is_const(other) or isinstance(other, (DType, str, tuple)) or other is None:
        raise low.error(KernelTypeError, f"td.load other= must be a compile-time number, got {describe(other)}",
                        "for a runtime fill, load with a mask and use td.where(mask, tile, v)")
    if other != 0:
        attrs["other"] = fill_value(low, "td.load other=", other, x.type.dtype)
    return low.value(Op.LOAD, operands, attrs, hint=f"{x.name}_tile")


def _store_like(low, name, args, kwargs, kind=None):
    x, offsets, value, mask = _sig(low, name, args, kwargs, ("x", "offsets", "value", "mask"), {"mask": None})
    _in_grid(low, name)
    x = _mem(low, name, x)
    offs = _offsets(low, name, x, offsets)
    value = low.const(value, x.type.dtype) if not isinstance(value, Value) else value
    shape = _covered_window(offs, value.type.shape)
    if value.type.rank and value.type.rank != sum(1 for d in shape if d is not None):
        raise low.error(KernelTypeError, f"td.{name} of a {value.type} value into a rank-{x.type.rank} tensor")
    if value.type.dtype is not x.type.dtype:
        narrows = " would narrow it" if narrowing(value.type.dtype, x.type.dtype) else ""
        raise low.error(KernelTypeError, f"td.{name} of {value.type.dtype.value} into a {x.type.dtype.value} "
                        f"tensor{narrows}: stores do not convert implicitly",
                        f"cast explicitly with .to(...): value.to({x.name}.dtype)")
    attrs = {"shape": shape}
    if kind:
        attrs = {"kind": kind, **attrs}
    operands = [x, *offs, value]
    if mask is not None:
        operands.append(_need_value(low, f"td.{name} mask", mask))
        attrs["masked"] = True
    return low.emit(Op.ATOMIC if kind else Op.STORE, operands, attrs, hint="old")


def narrowing(src: DType, dst: DType) -> bool:
    """Whether converting `src` to `dst` can lose an integer value: a float or a wider int into
    an int, or anything but a bool into a bool."""
    if dst.is_bool:
        return not src.is_bool
    if dst.is_int:
        return src.is_float or (src.is_int and src.bits > dst.bits) or (dst is DType.u8 and src is not DType.u8
                                                                     and not src.is_bool)
    return False


def check_narrowing(low, what: str, src: DType, dst: DType) -> None:
    """Implicit conversions into an int (or bool) buffer must not drop bits silently."""
    if narrowing(src, dst):
        raise low.error(KernelTypeError, f"{what} of an {src.value} value into an {dst.value} buffer would "
                        "narrow it implicitly", f"cast explicitly with .to(td.{PUBLIC_NAME[dst]})")


def _covered_window(offs, covered) -> tuple:
    """The window a value (or buffer) of shape `covered` occupies at `offs`: an axis indexed by a
    1-D tile of indices takes that tile's length; the value's other axes cover the trailing
    scalar-offset axes; the leading scalar-offset axes index one element and are dropped."""
    def attr_dim(d):
        return KnobRef(d).sym if isinstance(d, str) else d

    shape: list = [None] * len(offs)
    dims = list(covered)
    gathers_left = sum(1 for o in offs if o.type.rank == 1)
    for ax in reversed(range(len(offs))):
        if offs[ax].type.rank == 1:
            shape[ax] = attr_dim(offs[ax].type.shape[0])
            gathers_left -= 1
            if dims:
                dims.pop()
        elif len(dims) > gathers_left:
            shape[ax] = attr_dim(dims.pop())
    return tuple(shape)


def h_store(low, args, kwargs):
    _store_like(low, "store", args, kwargs)


def _atomic(name):
    def h(low, args, kwargs):
        return _store_like(low, name, args, kwargs, _ATOMIC[name]).result
    return h


def h_arange(low, args, kwargs):
    start, end = _sig(low, "arange", args, kwargs, ("start", "end"), {"end": None})
    _in_grid(low, "arange")
    if end is None:
        start, end = 0, start
    for b in (start, end):
        if not (isinstance(b, (int, KnobRef)) and not isinstance(b, bool)):
            raise low.error(KernelTypeError, f"td.arange bounds are compile-time ints or knobs, got {describe(b)}",
                            "use a constexpr (or td.auto) size and add a runtime offset: start + td.arange(0, B)")
    def sym(b):
        return b.sym if isinstance(b, KnobRef) else b

    return low.value(Op.ARANGE, (), {"start": sym(start), "end": sym(end)}, hint="idx")


def h_full(low, args, kwargs):
    shape, value, dtype = _sig(low, "full", args, kwargs, ("shape", "value", "dtype"), {})
    return _full(low, "full", shape, value, dtype)


def h_zeros(low, args, kwargs):
    shape, dtype = _sig(low, "zeros", args, kwargs, ("shape", "dtype"), {"dtype": DType.f32})
    return _full(low, "zeros", shape, 0, dtype)


def _full(low, name, shape, value, dtype):
    _in_grid(low, name)
    dtype = _dtype(low, f"td.{name}", dtype)
    if not is_const(value) or isinstance(value, (DType, str, tuple)) or value is None:
        raise low.error(KernelTypeError, f"td.{name} fill value must be a compile-time number, got {describe(value)}",
                        "for a runtime value v, write td.zeros(shape, dtype) + v")
    value = fill_value(low, f"td.{name}", value, dtype)
    return low.value(Op.FULL, (), {"shape": _shape(low, f"td.{name}", shape), "value": value, "dtype": dtype},
                     hint="zeros" if name == "zeros" else "full")


def fill_value(low, what: str, value, dtype: DType):
    """A Python number as an element of `dtype`: an integral float may fill an int tile; NaN, an
    infinity, a fraction or an int outside the dtype's range is an error (never wrapped)."""
    if dtype.is_int and isinstance(value, float):
        if not value.is_integer():
            raise low.error(KernelTypeError, f"{what}: {value} is not an integer, the dtype is {dtype.value}",
                            "use a float dtype, or an integer value")
        value = int(value)
    if dtype.is_float:
        return float(value)
    if dtype.is_bool:
        return bool(value)
    low.check_fits(value, dtype)
    return int(value)


def _alloc(space):
    def h(low, args, kwargs):
        name = f"alloc_{space}"
        shape, dtype = _sig(low, name, args, kwargs, ("shape", "dtype"), {})
        _in_grid(low, name)
        return low.value(Op.ALLOC, (), {"shape": _shape(low, f"td.{name}", shape),
                                        "dtype": _dtype(low, f"td.{name}", dtype), "space": space},
                         hint=space[:4] if space == "shared" else "frag")
    return h


def h_copy(low, args, kwargs):
    src, dst, offsets = _sig(low, "copy", args, kwargs, ("src", "dst", "offsets"), {"offsets": None})
    _in_grid(low, "copy")
    src, dst = _need_value(low, "td.copy", src), _need_value(low, "td.copy", dst)
    operands = [src, dst]
    attrs = {}
    glob = src if src.type.space is Space.GLOBAL else dst if dst.type.space is Space.GLOBAL else None
    if glob is not None:
        other = dst if glob is src else src
        if offsets is None:
            raise low.error(KernelTypeError, "td.copy to or from a tensor needs offsets=(...)")
        offs = _offsets(low, "copy", glob, offsets)
        operands += offs
        attrs["shape"] = _covered_window(offs, other.type.shape)
        if src.type.dtype is not dst.type.dtype:
            raise low.error(KernelTypeError, f"td.copy from {src.type.dtype.value} to {dst.type.dtype.value}",
                            "cast the value with .to() and copy that")
    elif offsets is not None:
        raise low.error(KernelTypeError, "td.copy between on-chip values takes no offsets")
    elif src.type.dtype is not dst.type.dtype:
        check_narrowing(low, "td.copy", src.type.dtype, dst.type.dtype)
        operands[0] = low.cast(src, dst.type.dtype)
    low.emit(Op.COPY, operands, attrs)


# --- level 3 ---------------------------------------------------------------------------------------------------------
def h_alloc_local(low, args, kwargs):
    shape, dtype = _sig(low, "alloc_local", args, kwargs, ("shape", "dtype"), {})
    _in_threads(low, "alloc_local")
    return low.value(Op.ALLOC_LOCAL, (), {"shape": _shape(low, "td.alloc_local", shape),
                                          "dtype": _dtype(low, "td.alloc_local", dtype)}, hint="local")


def _shuffle(name):
    def h(low, args, kwargs):
        value, lane, width = _sig(low, name, args, kwargs, ("value", "lane", "width"), {"width": 32})
        _in_threads(low, name)
        v = _need_value(low, f"td.{name}", value)
        if v.type.space is Space.GLOBAL:
            raise low.error(LevelError, f"td.{name} of a whole tensor", SHUFFLE_HINT)
        return low.value(Op.SHUFFLE, (v, low.const(lane, DType.i32)), {"mode": _SHUFFLE[name], "width": width})
    return h


def h_barrier(low, args, kwargs):
    _sig(low, "barrier", args, kwargs, (), {})
    _in_threads(low, "barrier")
    low.emit(Op.BARRIER)


def h_annotate_layout(low, args, kwargs):
    buf, swizzle = _sig(low, "annotate_layout", args, kwargs, ("buffer", "swizzle"), {"swizzle": 128})
    _in_grid(low, "annotate_layout")
    buf = _need_value(low, "td.annotate_layout", buf)
    if buf.type.space is not Space.SHARED:
        raise low.error(KernelTypeError, "td.annotate_layout takes a shared buffer")
    if swizzle not in (0, 32, 64, 128):
        raise low.error(KernelTypeError, f"swizzle must be 0, 32, 64 or 128 bytes, got {swizzle!r}")
    low.emit(Op.LAYOUT, (buf,), {"swizzle": swizzle})


# --- dispatch ------------------------------------------------------------------------------------------------------
HANDLERS = {
    "where": h_where, "clamp": h_clamp, "cast": h_cast, "cdiv": h_cdiv, "dot": h_dot, "matmul": h_matmul, "take": h_take,
    "maximum": _binary(Op.MAXIMUM, "maximum"), "minimum": _binary(Op.MINIMUM, "minimum"),
    "expand_dims": h_expand_dims, "trans": h_trans, "reshape": h_reshape, "broadcast_to": h_broadcast_to,
    "cumsum": h_cumsum, "load": h_load, "store": h_store, "arange": h_arange, "zeros": h_zeros,
    "full": h_full, "alloc_shared": _alloc("shared"), "alloc_fragment": _alloc("fragment"), "copy": h_copy,
    "alloc_local": h_alloc_local, "barrier": h_barrier, "annotate_layout": h_annotate_layout,
}
HANDLERS.update({n: _unary(n) for n in _UNARY})
HANDLERS.update({n: _reduce(n) for n in _REDUCE})
HANDLERS.update({n: _atomic(n) for n in _ATOMIC})
HANDLERS.update({n: _shuffle(n) for n in _SHUFFLE})


def _py_minmax(op, name, pyfn):
    def h(low, args, kwargs):
        if kwargs or len(args) < 2:
            raise low.error(KernelTypeError, f"{name}() in a kernel takes two or more values",
                            f"reduce a tile with td.{name}(x, axis=...)")
        if all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
            return pyfn(*args)  # Python numbers: Python's rule
        out = args[0]
        for a in args[1:]:
            out = low.binop(op, out, a)
        return out
    return h


_PY_BUILTINS = {py.min: _py_minmax(Op.MINIMUM, "min", py.min), py.max: _py_minmax(Op.MAXIMUM, "max", py.max),
                py.abs: _unary("abs")}


def call_builtin(low, fn, args, kwargs):
    from tiledsl.language import Func

    if isinstance(fn, Func):
        return low.inline(fn, args, kwargs)
    name = getattr(fn, "__tiledsl_builtin__", None)
    if name is not None:
        if name in ("grid", "threads", "producer", "consumer"):
            raise low.error(FrontendError, f"td.{name} is used as `with td.{name}(...):`")
        if name in ("pipelined", "range"):
            raise low.error(FrontendError, f"td.{name} is used as `for k in td.{name}(n):`")
        return HANDLERS[name](low, args, kwargs)
    if fn in _PY_BUILTINS:
        return _PY_BUILTINS[fn](low, args, kwargs)
    if fn in (py.int, py.float, py.bool) and len(args) == 1 and is_const(args[0]) and not kwargs:
        try:
            return fn(args[0])
        except (TypeError, ValueError, OverflowError) as e:
            raise low.error(KernelTypeError, f"{fn.__name__}({args[0]!r}) fails: {e}",
                            "convert compile-time numbers only") from None
    if fn in (py.int, py.float, py.bool):
        raise low.error(KernelTypeError, f"{fn.__name__}() in a kernel converts one compile-time number",
                        f"convert a runtime value with .to(td.{'float32' if fn is py.float else 'int32'})")
    if fn is py.len and len(args) == 1 and isinstance(args[0], tuple):
        return len(args[0])
    if fn is py.range:
        raise low.error(FrontendError, "range(...) is used as `for i in range(...):`")
    if isinstance(fn, DType):
        if len(args) != 1 or kwargs:
            raise low.error(KernelTypeError, f"{fn!r}(...) casts one value, got {len(args) + len(kwargs)} arguments",
                            f"write x.to({fn!r}) or {fn!r}(x)")
        return low.convert(_need_value(low, "cast", args[0]), fn)
    what = f"the value {fn.name!r}" if isinstance(fn, Value) else repr(getattr(fn, "__name__", fn))
    raise low.error(FrontendError, f"cannot call {what} in a kernel",
                    "kernels call td.* builtins and @td.func helpers; decorate the helper with @td.func")
