"""Shape and dtype rules: one function per op, in `RULES`, keyed by `Op`.

A rule takes the operand types, the attrs (as a dict) and a `Unifier`, and returns the result
types, or raises `TypeCheckError` with a message that says what is wrong. The front end calls the
rules to type what it builds; the verifier calls them again to check an IR it did not build.
"""

from __future__ import annotations

from collections.abc import Callable

from tiledsl.dtypes import DType
from tiledsl.errors import TypeCheckError
from tiledsl.ir.dims import is_size_sym
from tiledsl.ir.nodes import Dim, Space, Sym, Type
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import (
    ATOMIC_KINDS,
    BINARY,
    COMPARE,
    FLOAT_ONLY,
    INT_ONLY,
    LOGIC_ONLY,
    NUMERIC_ONLY,
    REDUCE_KINDS,
    UNARY,
    split_window,
)


class Unifier:
    """Decides whether two dims of broadcasting operands agree.

    Equal dims agree; 1 broadcasts. Two different runtime sizes (``"a.0"`` and ``"b.0"``) agree
    when the caller allows it: the pair is recorded and checked when the kernel is called.
    Two different static sizes (ints or knobs) never agree.
    """

    def __init__(self, assumptions: set[tuple[str, str]] | None = None, record: bool = True,
                 sizes: dict[str, int] | None = None):
        self.assumptions: set[tuple[str, str]] = set(assumptions or ())
        self.record = record
        self.sizes: dict[str, int] = dict(sizes or {})  # runtime sizes of the call being compiled

    def dim(self, a: Dim, b: Dim) -> Dim:
        if a == b or b == 1:
            return a
        if a == 1:
            return b
        if is_size_sym(a) and is_size_sym(b):
            sa, sb = self.sizes.get(a), self.sizes.get(b)
            if sa is not None and sb is not None and sa != sb:
                raise TypeCheckError(f"size {a} ({sa} in this call) does not match size {b} ({sb})")
            pair = (a, b) if a < b else (b, a)
            if self.record:
                self.assumptions.add(pair)
            elif pair not in self.assumptions:
                raise TypeCheckError(f"sizes {a} and {b} are not known to be equal")
            return a
        raise TypeCheckError(f"size {a} does not match size {b}")

    def shapes(self, a: tuple[Dim, ...], b: tuple[Dim, ...]) -> tuple[Dim, ...]:
        """numpy broadcasting of two shapes."""
        n = max(len(a), len(b))
        a = (1,) * (n - len(a)) + tuple(a)
        b = (1,) * (n - len(b)) + tuple(b)
        try:
            return tuple(self.dim(x, y) for x, y in zip(a, b))
        except TypeCheckError as e:
            raise TypeCheckError(f"shapes {fmt_shape(a)} and {fmt_shape(b)} do not broadcast: {e}") from None


def fmt_shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def dim_of(d) -> Dim:
    """An attr dim (int or `Sym`) as a type dim (int or knob name)."""
    return d.name if isinstance(d, Sym) else d


def result_space(types) -> Space:
    spaces = {t.space for t in types}
    if Space.GLOBAL in spaces:
        return Space.GLOBAL
    if spaces & {Space.TILE, Space.SHARED, Space.FRAGMENT, Space.LOCAL}:
        return Space.TILE
    return Space.SCALAR


def _elementwise(types, u: Unifier) -> tuple[tuple[Dim, ...], Space]:
    shape: tuple[Dim, ...] = ()
    for t in types:
        shape = u.shapes(shape, t.shape)
    return shape, result_space(types)


def _unary(op):
    def rule(ts, attrs, u):
        (x,) = ts
        if op in FLOAT_ONLY and not x.dtype.is_float:
            raise TypeCheckError(f"{op.ir_name} needs a float operand, got {x.dtype.value}")
        if op in NUMERIC_ONLY and x.dtype.is_bool:
            raise TypeCheckError(f"{op.ir_name} needs a number, got i1; cast the mask first")
        if op in LOGIC_ONLY and not (x.dtype.is_bool or x.dtype.is_int):
            raise TypeCheckError(f"{op.ir_name} needs a bool or int operand, got {x.dtype.value}")
        shape, space = _elementwise(ts, u)
        return (Type(x.dtype, shape, space),)
    return rule


def _binary(op):
    def rule(ts, attrs, u):
        a, b = ts
        if a.dtype is not b.dtype:
            raise TypeCheckError(f"{op.ir_name} operands differ in dtype: {a.dtype.value} and {b.dtype.value}")
        if op in FLOAT_ONLY and not a.dtype.is_float:
            raise TypeCheckError(f"{op.ir_name} needs float operands, got {a.dtype.value}")
        if op in NUMERIC_ONLY and a.dtype.is_bool:
            raise TypeCheckError(f"{op.ir_name} needs numbers, got i1; cast the masks first")
        if op in INT_ONLY and not a.dtype.is_int:
            raise TypeCheckError(f"{op.ir_name} needs int operands, got {a.dtype.value}")
        if op in LOGIC_ONLY and a.dtype.is_float:
            raise TypeCheckError(f"{op.ir_name} needs bool or int operands, got {a.dtype.value}")
        shape, space = _elementwise(ts, u)
        return (Type(DType.i1 if op in COMPARE else a.dtype, shape, space),)
    return rule


def _where(ts, attrs, u):
    c, a, b = ts
    if not c.dtype.is_bool:
        raise TypeCheckError(f"where needs a bool condition, got {c.dtype.value}")
    if a.dtype is not b.dtype:
        raise TypeCheckError(f"where branches differ in dtype: {a.dtype.value} and {b.dtype.value}")
    shape, space = _elementwise(ts, u)
    return (Type(a.dtype, shape, space),)


def _clamp(ts, attrs, u):
    x, lo, hi = ts
    if not x.dtype is lo.dtype is hi.dtype:
        raise TypeCheckError(f"clamp operands differ in dtype: {x.dtype.value}, {lo.dtype.value} and {hi.dtype.value}")
    if x.dtype.is_bool:
        raise TypeCheckError("clamp needs numbers, got i1; cast the mask first")
    shape, space = _elementwise(ts, u)
    return (Type(x.dtype, shape, space),)


def _cast(ts, attrs, u):
    (x,) = ts
    return (Type(attrs["dtype"], x.shape, result_space(ts)),)


def _const(ts, attrs, u):
    v = attrs["value"]
    dt = attrs.get("dtype") or (DType.i1 if isinstance(v, bool) else DType.i32 if isinstance(v, int) else DType.f32)
    return (Type(dt),)


def _dim(ts, attrs, u):
    (x,) = ts
    axis = attrs["axis"]
    if not 0 <= axis < x.rank:
        raise TypeCheckError(f"axis {axis} is out of range for a tensor of rank {x.rank}")
    return (Type(DType.i32),)


def _norm_axis(axis: int, rank: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < rank:
        raise TypeCheckError(f"axis {axis!r} is out of range for rank {rank}")
    return axis % rank


def _reduce(ts, attrs, u):
    (x,) = ts
    kind = attrs["kind"]
    if kind not in REDUCE_KINDS:
        raise TypeCheckError(f"unknown reduction {kind!r}; use one of {', '.join(REDUCE_KINDS)}")
    if x.rank == 0:
        raise TypeCheckError("cannot reduce a scalar")
    axis = _norm_axis(attrs["axis"], x.rank)
    if attrs.get("keepdims"):
        shape = x.shape[:axis] + (1,) + x.shape[axis + 1:]
    else:
        shape = x.shape[:axis] + x.shape[axis + 1:]
    dtype = DType.i32 if REDUCE_KINDS[kind].index else x.dtype
    space = x.space if x.space is Space.GLOBAL else (Space.TILE if shape else Space.SCALAR)
    return (Type(dtype, shape, space),)


def _scan(ts, attrs, u):
    (x,) = ts
    _norm_axis(attrs["axis"], x.rank)
    return (Type(x.dtype, x.shape, Space.TILE),)


def _expand_dims(ts, attrs, u):
    (x,) = ts
    axis = attrs["axis"]
    if isinstance(axis, bool) or not isinstance(axis, int) or not -x.rank - 1 <= axis <= x.rank:
        raise TypeCheckError(f"expand_dims axis {axis!r} is out of range for rank {x.rank}")
    axis = axis % (x.rank + 1)
    sp = x.space if x.space is Space.GLOBAL else Space.TILE
    return (Type(x.dtype, x.shape[:axis] + (1,) + x.shape[axis:], sp),)


def _transpose(ts, attrs, u):
    (x,) = ts
    perm = tuple(attrs["perm"])
    if sorted(perm) != list(range(x.rank)):
        raise TypeCheckError(f"{perm} is not a permutation of the {x.rank} axes")
    sp = x.space if x.space is Space.GLOBAL else Space.TILE
    return (Type(x.dtype, tuple(x.shape[p] for p in perm), sp),)


def _prod(shape):
    n = 1
    for d in shape:
        if not isinstance(d, int):
            return None
        n *= d
    return n


def _reshape(ts, attrs, u):
    (x,) = ts
    shape = tuple(dim_of(d) for d in attrs["shape"])
    a, b = _prod(x.shape), _prod(shape)
    if a is not None and b is not None and a != b:
        raise TypeCheckError(f"cannot reshape {fmt_shape(x.shape)} ({a} elements) to {fmt_shape(shape)} ({b})")
    sp = x.space if x.space is Space.GLOBAL else Space.TILE
    return (Type(x.dtype, shape, sp),)


def _broadcast_to(ts, attrs, u):
    (x,) = ts
    shape = tuple(dim_of(d) for d in attrs["shape"])
    got = u.shapes(x.shape, shape)
    if len(got) != len(shape):
        raise TypeCheckError(f"cannot broadcast {fmt_shape(x.shape)} to {fmt_shape(shape)}")
    sp = x.space if x.space is Space.GLOBAL else Space.TILE
    return (Type(x.dtype, shape, sp),)


def _matmul_shapes(a: Type, b: Type, u: Unifier, what: str):
    if a.rank != 2 or b.rank != 2:
        raise TypeCheckError(f"{what} needs 2-D operands, got shapes {fmt_shape(a.shape)} and {fmt_shape(b.shape)}")
    try:
        u.dim(a.shape[1], b.shape[0])
    except TypeCheckError as e:
        raise TypeCheckError(
            f"{what} inner sizes differ: {fmt_shape(a.shape)} @ {fmt_shape(b.shape)} ({e})") from None
    return (a.shape[0], b.shape[1])


def _matmul(ts, attrs, u):
    a, b = ts
    if not (a.dtype.is_float and b.dtype.is_float):
        raise TypeCheckError(f"matmul needs float operands, got {a.dtype.value} and {b.dtype.value}")
    shape = _matmul_shapes(a, b, u, "matmul")
    dtype = attrs.get("dtype") or a.dtype
    return (Type(dtype, shape, Space.GLOBAL),)


def _gather(ts, attrs, u):
    x, idx = ts
    if not idx.dtype.is_int:
        raise TypeCheckError(f"gather indices must be integers, got {idx.dtype.value}")
    axis = _norm_axis(attrs["axis"], x.rank)
    return (Type(x.dtype, x.shape[:axis] + idx.shape + x.shape[axis + 1:], Space.GLOBAL),)


def _dot(ts, attrs, u):
    a, b = ts[0], ts[1]
    if not a.space.is_tile_like or not b.space.is_tile_like:
        raise TypeCheckError("dot takes tiles; use a @ b (matmul) on whole tensors")
    ok = (a.dtype is b.dtype) or (a.dtype.is_fp8 and b.dtype.is_fp8)
    if not ok:
        raise TypeCheckError(f"dot operands differ in dtype: {a.dtype.value} and {b.dtype.value}; cast one")
    shape = _matmul_shapes(a, b, u, "dot")
    dtype = attrs.get("dtype") or (DType.i32 if a.dtype.is_int else DType.f32)
    if len(ts) == 3:
        acc = ts[2]
        if acc.dtype is not dtype:
            raise TypeCheckError(f"dot accumulator is {acc.dtype.value} but the dot produces {dtype.value}")
        u.shapes(acc.shape, shape)
    return (Type(dtype, shape, Space.TILE),)


def _window(src: Type, offsets, attrs, what: str) -> tuple[Dim, ...]:
    """Shape of the window `what` (load/store/atomic/copy) addresses in `src`."""
    if len(offsets) != src.rank:
        raise TypeCheckError(f"{what} into a rank-{src.rank} tensor needs {src.rank} offsets, got {len(offsets)}")
    shape = attrs.get("shape")
    if shape is None:
        shape = (None,) * src.rank
    if len(shape) != src.rank:
        raise TypeCheckError(f"{what} shape {tuple(shape)} has {len(shape)} entries; the tensor has rank {src.rank}")
    out: list[Dim] = []
    for ax, (off, d) in enumerate(zip(offsets, shape)):
        if not off.dtype.is_int:
            raise TypeCheckError(f"{what} offset {ax} must be an integer, got {off.dtype.value}")
        if off.rank == 0:
            if d is not None:
                out.append(dim_of(d))
        elif off.rank == 1:
            if d is None or dim_of(d) != off.shape[0]:
                raise TypeCheckError(
                    f"{what} axis {ax} is indexed by a tile of {off.shape[0]} indices but its size is {d}")
            out.append(off.shape[0])
        else:
            raise TypeCheckError(f"{what} offset {ax} must be a scalar or a 1-D tile of indices")
    return tuple(out)


def _split_mask(ts, attrs):
    """(src, offsets, rest): the window's parts (`optable.split_window`), rest the operands after
    the offsets without the mask."""
    w = split_window(ts, ts[0].rank, bool(attrs.get("masked")))
    if w.mask is not None and not w.mask.dtype.is_bool:
        raise TypeCheckError(f"mask must be bool, got {w.mask.dtype.value}")
    return w.tensor, list(w.offsets), list(w.rest)


def _check_mask(ts, attrs, shape, u, what: str) -> None:
    """A mask broadcasts to the window (a tile mask on a scalar access has no element to pick)."""
    if not attrs.get("masked"):
        return
    m = ts[-1].shape
    try:
        fits = len(m) <= len(shape) and tuple(u.shapes(m, shape)) == tuple(shape)
    except TypeCheckError:
        fits = False
    if not fits:
        raise TypeCheckError(f"{what} mask of shape {fmt_shape(m)} does not match the "
                             f"{fmt_shape(shape)} window (a mask must broadcast to its window)")


def _load(ts, attrs, u):
    src, offsets, rest = _split_mask(ts, attrs)
    if rest:
        raise TypeCheckError("load takes a tensor, its offsets and an optional mask")
    shape = _window(src, offsets, attrs, "load")
    _check_mask(ts, attrs, shape, u, "load")
    return (Type(src.dtype, shape, Space.TILE if shape else Space.SCALAR),)


def _store_like(what):
    def rule(ts, attrs, u):
        dst, offsets, rest = _split_mask(ts, attrs)
        if len(rest) != 1:
            raise TypeCheckError(f"{what} takes a tensor, its offsets, a value and an optional mask")
        (value,) = rest
        shape = _window(dst, offsets, attrs, what)
        _check_mask(ts, attrs, shape, u, what)
        if value.rank and tuple(u.shapes(value.shape, shape)) != tuple(shape):
            raise TypeCheckError(f"{what} of a {fmt_shape(value.shape)} value into a {fmt_shape(shape)} window")
        if value.dtype is not dst.dtype:
            raise TypeCheckError(f"{what} of {value.dtype.value} into a {dst.dtype.value} tensor; cast with .to()")
        if what == "atomic":
            if attrs["kind"] not in ATOMIC_KINDS:
                raise TypeCheckError(f"unknown atomic {attrs['kind']!r}; use one of {', '.join(ATOMIC_KINDS)}")
            return (Type(dst.dtype, shape, Space.TILE if shape else Space.SCALAR),)
        return ()
    return rule


def _arange(ts, attrs, u):
    start, end = dim_of(attrs["start"]), dim_of(attrs["end"])
    if start != 0:
        if not (isinstance(start, int) and isinstance(end, int)):
            raise TypeCheckError("arange with a knob bound must start at 0")
        n = end - start
    else:
        n = end
    if isinstance(n, int) and n <= 0:
        raise TypeCheckError(f"arange({start}, {end}) is empty")
    return (Type(DType.i32, (n,), Space.TILE),)


def _full(ts, attrs, u):
    return (Type(attrs["dtype"], tuple(dim_of(d) for d in attrs["shape"]), Space.TILE),)


def _alloc(ts, attrs, u):
    space = Space(attrs["space"])
    if space not in (Space.SHARED, Space.FRAGMENT):
        raise TypeCheckError("alloc space must be shared or fragment")
    return (Type(attrs["dtype"], tuple(dim_of(d) for d in attrs["shape"]), space),)


def _alloc_local(ts, attrs, u):
    return (Type(attrs["dtype"], tuple(dim_of(d) for d in attrs["shape"]), Space.LOCAL),)


def _copy(ts, attrs, u):
    src, dst = ts[0], ts[1]
    offsets = ts[2:]
    if not dst.space.is_buffer and dst.space is not Space.GLOBAL:
        raise TypeCheckError("copy writes into a buffer (alloc_shared / alloc_fragment) or a global tensor")
    if src.space is Space.GLOBAL and dst.space is Space.GLOBAL:
        raise TypeCheckError("copy between two global tensors; load into a buffer first")
    if src.space is Space.GLOBAL or dst.space is Space.GLOBAL:
        glob, buf = (src, dst) if src.space is Space.GLOBAL else (dst, src)
        window = _window(glob, offsets, {"shape": attrs.get("shape")}, "copy")
        if tuple(window) != tuple(buf.shape):
            raise TypeCheckError(
                f"copy window {fmt_shape(window)} does not match the buffer's shape {fmt_shape(buf.shape)}")
    else:
        if offsets:
            raise TypeCheckError("copy between on-chip values takes no offsets")
        u.shapes(src.shape, dst.shape)
    return ()


def _no_results(ts, attrs, u):
    return ()


def _for(ts, attrs, u):
    for t, what in zip(ts[:3], ("start", "stop", "step")):
        if t.space is not Space.SCALAR or not t.dtype.is_int:
            raise TypeCheckError(f"loop {what} must be an integer scalar, got {t}")
    return tuple(ts[3:])


def _grid(ts, attrs, u):
    if not 1 <= len(ts) <= 3:
        raise TypeCheckError(f"a grid has 1 to 3 axes, got {len(ts)}")
    for t in ts:
        if t.space is not Space.SCALAR or not t.dtype.is_int:
            raise TypeCheckError(f"grid sizes must be integer scalars, got {t}")
    return ()


def _shuffle(ts, attrs, u):
    value, lane = ts
    if attrs["mode"] not in ("xor", "down", "up", "idx"):
        raise TypeCheckError(f"unknown shuffle mode {attrs['mode']!r}; use xor, down, up or idx")
    if not lane.dtype.is_int:
        raise TypeCheckError("shuffle lane must be an integer")
    return (value,)


def _if(ts, attrs, u):
    """Checks the condition only: an IF's results are typed by what its regions yield."""
    (c,) = ts
    if not c.dtype.is_bool or c.rank:
        raise TypeCheckError(f"if condition must be a bool scalar, got {c}")
    return ()


RuleFn = Callable[[tuple[Type, ...], dict, Unifier], tuple[Type, ...]]

RULES: dict[Op, RuleFn] = {
    Op.CONST: _const,
    Op.DIM: _dim,
    Op.FOR: _for,
    Op.YIELD: _no_results,
    Op.RETURN: _no_results,
    Op.WHERE: _where,
    Op.CLAMP: _clamp,
    Op.CAST: _cast,
    Op.EXPAND_DIMS: _expand_dims,
    Op.TRANSPOSE: _transpose,
    Op.RESHAPE: _reshape,
    Op.BROADCAST_TO: _broadcast_to,
    Op.REDUCE: _reduce,
    Op.MATMUL: _matmul,
    Op.GATHER: _gather,
    Op.GRID: _grid,
    Op.LOAD: _load,
    Op.STORE: _store_like("store"),
    Op.ATOMIC: _store_like("atomic"),
    Op.ARANGE: _arange,
    Op.FULL: _full,
    Op.DOT: _dot,
    Op.TILE_REDUCE: _reduce,
    Op.SCAN: _scan,
    Op.ALLOC: _alloc,
    Op.COPY: _copy,
    Op.THREADS: _no_results,
    Op.ALLOC_LOCAL: _alloc_local,
    Op.SHUFFLE: _shuffle,
    Op.BARRIER: _no_results,
    Op.LAYOUT: _no_results,
    Op.WARP_ROLE: _no_results,
}
RULES.update({op: _unary(op) for op in UNARY})
RULES.update({op: _binary(op) for op in BINARY})
RULES[Op.IF] = _if
assert set(RULES) == set(Op), set(Op) - set(RULES)


def infer(op: Op, types: tuple[Type, ...], attrs: dict, unifier: Unifier | None = None) -> tuple[Type, ...]:
    return RULES[op](tuple(types), attrs, unifier or Unifier())
