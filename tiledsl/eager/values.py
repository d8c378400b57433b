"""Values of eager mode: `Val`, a torch tensor that holds exactly its language dtype, and the
language's typing rules for operators on them.

Kinds: ``global`` (a tensor parameter or a level-1 result), ``tile`` and ``scalar`` (immutable
values), ``shared`` / ``fragment`` / ``local`` (buffers: mutable, written by td.store, td.copy,
atomics and ``buf += v``). Python numbers stay Python numbers: they are weakly typed and take the
dtype of the value they meet.

Numerics (docs/language.md, "Eager mode"): 16-bit float math runs in f32 and rounds once to the
result dtype; fp8 is a storage type (arithmetic on it runs in f32); integers wrap in their width;
``//`` and ``%`` follow Python (floor division, remainder with the divisor's sign), and an
integer division by zero gives 0 (unspecified on a GPU, so a masked-off lane must not crash).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch

from tiledsl.dtypes import DType, promote
from tiledsl.errors import KernelTypeError, LevelError

_HERE = os.path.dirname(os.path.abspath(__file__))
_THREADING = os.path.dirname(threading.__file__)
BUFFERS = frozenset({"shared", "fragment", "local"})
TORCH = {dt: dt.to_torch() for dt in DType}
# the fp8 saturation limits from torch's own description of the formats (eager mode keeps its
# facts apart from the compiler's, so that it can check them)
FP8_MAX = {dt: torch.finfo(TORCH[dt]).max for dt in (DType.f8e4m3, DType.f8e5m2)}
FROM_TORCH = {t: dt for dt, t in TORCH.items()}


# --- where we are ------------------------------------------------------------------------------
class _State(threading.local):
    """Per OS thread: inside a grid program? inside a threads region (and which block/thread)?"""

    in_grid = False
    in_threads = False
    block = None
    tid = None
    device = None  # where tiles are made: the device of the call's tensors


def device() -> torch.device:
    return STATE.device or torch.device("cpu")


STATE = _State()

# Val's operators that are eager builtins (``x.T``, ``x[i]``, ``a @ b``): `eager.ops` fills this
# table when imported, so the builtins are written once, there
OPERATORS: dict[str, Callable] = {}


@dataclass(frozen=True)
class Loc:
    file: str
    line: int
    col: int


def user_frame():
    """The innermost frame of kernel code (the first one outside this package and threading)."""
    f = sys._getframe(1)
    while f is not None:
        d = os.path.dirname(os.path.abspath(f.f_code.co_filename))
        if d != _HERE and d != _THREADING:
            return f
        f = f.f_back
    return None


def user_loc() -> Loc | None:
    f = user_frame()
    if f is None:
        return None
    col = 0
    try:
        pos = list(f.f_code.co_positions())[f.f_lasti // 2]
        if pos[0] == f.f_lineno and pos[2] is not None:
            col = pos[2]
    except (AttributeError, IndexError):
        pass
    return Loc(f.f_code.co_filename, f.f_lineno, col)


def fail(cls, msg: str, hint: str | None = None):
    """A tiledsl error at the kernel line that is running (raise the result)."""
    return cls(msg, user_loc(), hint)


# --- the value class -----------------------------------------------------------------------------
def describe(x) -> str:
    if isinstance(x, Val):
        return f"a {x.kind} of {x.dt.value}{list(x.t.shape) if x.t.dim() else ''}"
    if isinstance(x, DType):
        return f"the dtype {x!r}"
    return f"{type(x).__name__} {x!r}"


def is_num(x) -> bool:
    """A Python number (weakly typed): bool, int or float (not a Val, not a dtype)."""
    return isinstance(x, (bool, int, float)) and not isinstance(x, DType)


class Val:
    """A tensor, tile, scalar or buffer of one language dtype."""

    __slots__ = ("t", "dt", "kind")
    __hash__ = None  # == builds a mask

    def __init__(self, t: torch.Tensor, dt: DType, kind: str):
        self.t, self.dt, self.kind = t, dt, kind

    # --- attributes -----------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        if self.kind == "global":  # runtime sizes: i32 scalars (i64 past 2**31), like the compiled kernel's
            return tuple(number_val(int(d)) for d in self.t.shape)
        return tuple(int(d) for d in self.t.shape)

    @property
    def dtype(self) -> DType:
        return self.dt

    @property
    def ndim(self) -> int:
        return self.t.dim()

    @property
    def T(self):
        trans = OPERATORS["trans"]  # eager.ops.trans
        if self.t.dim() != 2:
            raise fail(KernelTypeError, f".T needs a 2-D value, got {describe(self)}")
        return trans(self)

    def to(self, dtype):
        if not isinstance(dtype, DType):
            raise fail(KernelTypeError, ".to() takes one dtype, e.g. x.to(td.float16)")
        return cast_val(self, dtype)

    astype = to

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        from tiledsl.errors import FrontendError

        raise fail(FrontendError, f"a {self.kind} value has no attribute {name!r}",
                   "values have .shape, .dtype, .ndim, .T and .to(dtype)")

    # --- Python protocol ---------------------------------------------------------------------
    def _scalar(self, what: str):
        if self.t.dim() != 0:
            hint = "use td.where(mask, a, b) for tiles" if what == "truth value" else None
            raise fail(KernelTypeError, f"{describe(self)} has no single {what}", hint)
        return self.t.item()

    def __bool__(self):
        return bool(self._scalar("truth value"))

    def __int__(self):
        return int(self._scalar("int value"))

    def __float__(self):
        return float(self._scalar("float value"))

    def __index__(self):
        if self.dt.is_float:
            raise fail(KernelTypeError, f"{describe(self)} used as an index; it must be an integer")
        return int(self._scalar("index"))

    def __iter__(self):
        from tiledsl.errors import FrontendError

        raise fail(FrontendError, f"cannot iterate over {describe(self)}",
                   "loop over range(...), td.pipelined(...) or a tuple")

    def __len__(self):
        if self.t.dim() == 0:
            raise fail(KernelTypeError, f"len() of {describe(self)}")
        return int(self.t.shape[0])

    def __repr__(self) -> str:
        if self.t.dim() == 0:
            return f"{self.kind}<{self.dt.value}>({self.t.item()!r})"
        return f"{self.kind}<{self.dt.value}{list(self.t.shape)}>({self.t.tolist() if self.t.numel() <= 64 else self.t})"

    def __str__(self) -> str:
        return str(self.t.item()) if self.t.dim() == 0 else repr(self)

    def __format__(self, spec: str) -> str:
        return format(self.t.item(), spec) if self.t.dim() == 0 else format(repr(self), spec)

    def __getitem__(self, idx):
        return OPERATORS["subscript"](self, idx)

    def __setitem__(self, idx, value):
        from tiledsl.errors import FrontendError

        raise fail(FrontendError, "assignment to a subscript is not supported",
                   "use td.store(tensor, offsets, value) or td.copy(value, buffer)")

    def __matmul__(self, other):
        return OPERATORS["matmul"](self, other)

    def __rmatmul__(self, other):
        return OPERATORS["matmul"](other, self)

    def __neg__(self):
        return unary("neg", self)

    def __pos__(self):
        return self

    def __abs__(self):
        return unary("abs", self)

    def __invert__(self):
        if self.dt.is_int:
            return binop("xor", self, -1)
        return unary("not", self)


class WeakVal(Val):
    """A Python float at run time (a `float` parameter, or a value computed from such values and
    numbers only): an f64 scalar that adapts to what it meets, like a number (torch's weak
    scalars; the compiler's `_Lowerer.is_weak`)."""

    __slots__ = ()


def weak_result(v: Val, xs) -> Val:
    """`v`, computed from `xs`, is weak when every value among them is."""
    vals = [x for x in xs if isinstance(x, Val)]
    if vals and v.dt is DType.f64 and v.t.dim() == 0 and all(isinstance(x, WeakVal) for x in vals):
        return WeakVal(v.t, v.dt, v.kind)
    return v


def _binary_dunders():
    ops = {"add": "add", "sub": "sub", "mul": "mul", "truediv": "div", "floordiv": "floordiv",
           "mod": "mod", "pow": "pow", "and": "and", "or": "or", "xor": "xor", "lshift": "shl",
           "rshift": "shr"}
    for py_name, op in ops.items():
        def fwd(self, other, op=op):
            return binop(op, self, other)

        def rev(self, other, op=op):
            return binop(op, other, self)

        def inplace(self, other, op=op):
            if self.kind not in BUFFERS:
                return NotImplemented  # Python falls back to `x = x op y`: a new value
            store_into_buffer(self, binop(op, self, other))
            return self

        setattr(Val, f"__{py_name}__", fwd)
        setattr(Val, f"__r{py_name}__", rev)
        setattr(Val, f"__i{py_name}__", inplace)
    for py_name, op in {"eq": "eq", "ne": "ne", "lt": "lt", "le": "le", "gt": "gt", "ge": "ge"}.items():
        setattr(Val, f"__{py_name}__", lambda self, other, op=op: binop(op, self, other))


def store_into_buffer(buf: Val, v) -> None:
    """`buf op= v` and buffer-to-buffer copies: v cast to the buffer's dtype, broadcast, in place."""
    v = as_val(v)
    try:
        src = torch.broadcast_to(cast_t(v.t, v.dt, buf.dt), buf.t.shape)
    except RuntimeError:
        raise fail(KernelTypeError, f"cannot write {describe(v)} into {describe(buf)}") from None
    buf.t.copy_(src)


# --- dtypes and conversion ----------------------------------------------------------------------
def compute_dtype(dt: DType) -> torch.dtype:
    """The torch dtype arithmetic on `dt` runs in: f32 for 16- and 8-bit floats."""
    return torch.float32 if dt.is_float and dt.bits < 32 else TORCH[dt]


def up(t: torch.Tensor) -> torch.Tensor:
    return t.float() if t.is_floating_point() and t.element_size() < 4 else t


def cast_t(t: torch.Tensor, src: DType, dt: DType) -> torch.Tensor:
    """Convert like a GPU: float -> fp8 saturates to the finite range (NaN stays NaN), anything
    -> bool is `!= 0`, float -> int truncates toward zero, ints wrap."""
    if src is dt:
        return t
    if src.is_fp8:
        t = t.float()
    if dt.is_fp8:
        m = FP8_MAX[dt]
        return t.to(torch.float32 if not t.is_floating_point() else t.dtype).clamp(-m, m).to(TORCH[dt])
    if dt is DType.i1:
        return t != 0
    return t.to(TORCH[dt])


def const_t(x, dt: DType, shape=()) -> torch.Tensor:
    """A Python number as a tensor of `dt` (ints wrap into narrower types, floats round)."""
    dev = device() if shape else None  # scalars stay on the CPU (torch mixes them with any device)
    if dt is DType.i1:
        return torch.full(shape, bool(x), dtype=torch.bool, device=dev)
    if dt.is_float:
        return cast_t(torch.full(shape, float(x), dtype=torch.float64, device=dev), DType.f64, dt)
    if isinstance(x, float):
        raise fail(KernelTypeError, f"float constant {x} used where {dt.value} is needed")
    v = int(x)
    if not -(2**63) <= v < 2**64:
        raise fail(KernelTypeError, f"integer constant {v} does not fit in {dt.value}")
    if v >= 2**63:
        v -= 2**64
    return torch.full(shape, v, dtype=torch.int64, device=dev).to(TORCH[dt])


def weak_dtype(x) -> DType:
    """The dtype a lone Python number takes (bool -> i1, int -> i32, float -> f32)."""
    if isinstance(x, bool):
        return DType.i1
    if isinstance(x, int):
        return DType.i32
    if isinstance(x, float):
        return DType.f32
    raise fail(KernelTypeError, f"expected a number or a value, got {describe(x)}")


def number_val(x, dt: DType | None = None) -> Val:
    """A Python number as a typed scalar (a large int as i64)."""
    if dt is None:
        dt = weak_dtype(x)
        if dt is DType.i32 and not -(2**31) <= x < 2**31:
            dt = DType.i64
    return Val(const_t(x, dt), dt, "scalar")


def as_val(x) -> Val:
    if isinstance(x, Val):
        return x
    if is_num(x):
        return number_val(x)
    raise fail(KernelTypeError, f"expected a number or a value, got {describe(x)}")


def read(v: Val) -> torch.Tensor:
    """The tensor of a value; a snapshot for buffers (later writes must not change it)."""
    return v.t.clone() if v.kind in BUFFERS else v.t


def unify(xs, float_result: bool = False) -> DType:
    """The dtype operands meet in, torch's rule: values with axes promote among themselves;
    0-dim values (scalars), then Python numbers, count only by their category (bool < int <
    float) unless it is higher; fp8 arithmetic runs in f32."""
    dims = [x.dt for x in xs if isinstance(x, Val) and x.t.dim() > 0]
    zero = [x.dt for x in xs if isinstance(x, Val) and x.t.dim() == 0 and not isinstance(x, WeakVal)]
    nums = [DType.f32 if isinstance(x, WeakVal) else _number_dtype(x) for x in xs
            if not isinstance(x, Val) or isinstance(x, WeakVal)]
    if not dims and not zero and any(isinstance(x, WeakVal) for x in xs):
        return DType.f64  # runtime floats and numbers only: Python's double
    dt = _by_category(_promote_all(dims), _by_category(_promote_all(zero), _promote_all(nums)))
    if (float_result and not dt.is_float) or dt.is_fp8:
        dt = DType.f32
    return dt


def _number_dtype(x) -> DType:
    dt = weak_dtype(x)
    return DType.i64 if dt is DType.i32 and not -(2**31) <= x < 2**31 else dt


def _promote_all(dts: list) -> DType | None:
    out = None
    for d in dts:
        out = d if out is None else promote(out, d)
    return out


def _by_category(higher: DType | None, lower: DType | None) -> DType | None:
    """`higher` unless `lower` is of a higher category (then both promote), as torch combines
    the dtypes of tensors, 0-dim tensors and Python numbers."""
    if higher is None:
        return lower
    if lower is None or higher.is_float:
        return higher
    if higher.is_bool or lower.is_float:
        return promote(higher, lower)
    return higher


def operand(x, dt: DType) -> torch.Tensor:
    """`x` (a Val or a Python number) as a tensor of `dt`."""
    if isinstance(x, Val):
        return cast_t(read(x), x.dt, dt)
    return const_t(x, dt)


def result_kind(xs, rank: int) -> str:
    kinds = {x.kind for x in xs if isinstance(x, Val)}
    if "global" in kinds:
        return "global"
    if rank or kinds - {"scalar"}:
        return "tile"
    return "scalar"


def check_level(what: str, xs) -> None:
    if STATE.in_grid and any(isinstance(x, Val) and x.kind == "global" for x in xs):
        raise fail(LevelError, f"{what} on a whole tensor inside a tile program",
                   "inside td.grid, td.load a tile of the tensor first")


def bshape(xs) -> tuple:
    shapes = [tuple(x.t.shape) for x in xs if isinstance(x, Val)]
    try:
        return tuple(torch.broadcast_shapes(*shapes))
    except RuntimeError:
        raise fail(KernelTypeError, "shapes " + " and ".join(str(s) for s in shapes) + " do not broadcast") from None


# --- elementwise operators ---------------------------------------------------------------------------
def _safe_int(fn):
    def op(a, b):
        zero = b == 0
        return torch.where(zero, torch.zeros((), dtype=a.dtype), fn(a, torch.where(zero, torch.ones((), dtype=b.dtype), b)))
    return op


_FLOAT_BIN = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
    "floordiv": lambda a, b: torch.div(a, b, rounding_mode="floor"), "mod": torch.remainder,
    "pow": torch.pow, "maximum": torch.maximum, "minimum": torch.minimum,
    "eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge,
}
_INT_BIN = {
    **{k: _FLOAT_BIN[k] for k in ("add", "sub", "mul", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge")},
    "floordiv": _safe_int(lambda a, b: torch.div(a, b, rounding_mode="floor")),
    "mod": _safe_int(torch.remainder),
    "and": torch.bitwise_and, "or": torch.bitwise_or, "xor": torch.bitwise_xor,
    "shl": torch.bitwise_left_shift, "shr": torch.bitwise_right_shift,
}
COMPARE = frozenset({"eq", "ne", "lt", "le", "gt", "ge"})
_NUMERIC_ONLY = frozenset({"neg", "abs", "add", "sub", "mul", "div", "floordiv", "mod", "pow"})
_PY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
       "div": lambda a, b: a / b, "floordiv": lambda a, b: a // b, "mod": lambda a, b: a % b,
       "pow": lambda a, b: a ** b, "and": lambda a, b: a & b, "or": lambda a, b: a | b,
       "xor": lambda a, b: a ^ b, "shl": lambda a, b: a << b, "shr": lambda a, b: a >> b,
       "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
       "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
       "maximum": lambda a, b: _nan_or(max, a, b), "minimum": lambda a, b: _nan_or(min, a, b)}


def _nan_or(f, a, b):
    """td.maximum / td.minimum of two numbers: a NaN wins, as torch.maximum (Python's builtins,
    which keep the first argument that compares, are not routed here)."""
    if a != a:
        return a
    return b if b != b else f(a, b)


def binop(op: str, a, b):
    """`a op b` with the language's typing: two Python numbers fold as Python; otherwise the
    operands meet in one dtype (`unify`), compute (in f32 for 16-bit floats) and round once."""
    if not isinstance(a, Val) and not isinstance(b, Val):
        if is_num(a) and is_num(b):
            try:
                return _PY[op](a, b)
            except Exception as e:
                raise fail(KernelTypeError, f"cannot compute {a!r} {op} {b!r}: {e}") from None
        return NotImplemented
    for x in (a, b):
        if not isinstance(x, Val) and not is_num(x):
            if op in ("eq", "ne"):
                return NotImplemented  # `v == None` and the like: Python's identity comparison
            raise fail(KernelTypeError, f"{op} of {describe(a)} and {describe(b)}",
                       "kernel values combine with values and Python numbers")
    check_level(op, (a, b))
    dt = unify((a, b), float_result=op in ("div", "pow"))
    if dt.is_bool and op in _NUMERIC_ONLY:
        raise fail(KernelTypeError, f"{op} needs numbers, got bool; cast the masks first")
    if op in ("shl", "shr") and not dt.is_int:
        raise fail(KernelTypeError, f"{op} needs int operands, got {dt.value}")
    if op in ("and", "or", "xor") and dt.is_float:
        raise fail(KernelTypeError, f"{op} needs bool or int operands, got {dt.value}")
    shape = bshape((a, b))
    x, y = operand(a, dt), operand(b, dt)
    if op in ("mul", "div") and dt.is_float and dt.bits < 32 and (_weak(a) or _weak(b)):
        # torch: a 16-bit tensor times / over a number or 0-dim value computes in f32 with the
        # scalar's own value (not first rounded to the tensor's dtype), rounding once
        x, y = (operand(v, DType.f32) if _weak(v) else t for v, t in ((a, x), (b, y)))
    fn = (_FLOAT_BIN if dt.is_float else _INT_BIN)[op]
    out = fn(up(x), up(y))
    res_dt = DType.i1 if op in COMPARE else dt
    return weak_result(Val(cast_t(out, FROM_TORCH[out.dtype], res_dt), res_dt, result_kind((a, b), len(shape))), (a, b))


def _weak(x) -> bool:
    """A Python number or a 0-dim value (a scalar)."""
    return not isinstance(x, Val) or x.t.dim() == 0


_UNARY = {"neg": torch.neg, "abs": torch.abs, "exp": torch.exp, "exp2": torch.exp2, "log": torch.log,
          "log2": torch.log2, "log1p": torch.log1p, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "sin": torch.sin, "cos": torch.cos,
          "tanh": torch.tanh, "sigmoid": torch.sigmoid, "erf": torch.erf, "floor": torch.floor,
          "ceil": torch.ceil}
_KEEPS_INT = frozenset({"neg", "abs", "not"})


def unary(op: str, a):
    """A unary op: ints (except for neg/abs/not) and fp8 compute in f32; 16-bit floats compute
    in f32 and round back."""
    if not isinstance(a, Val):
        if op == "abs" and is_num(a):
            return abs(a)
        a = number_val(a, unify([a], float_result=op not in _KEEPS_INT))
    check_level(op, (a,))
    if (not a.dt.is_float and op not in _KEEPS_INT) or a.dt.is_fp8:
        a = cast_val(a, DType.f32)
    if a.dt.is_bool and op in _NUMERIC_ONLY:
        raise fail(KernelTypeError, f"{op} needs a number, got bool; cast the mask first")
    if op == "not":
        if a.dt.is_float:
            raise fail(KernelTypeError, f"not needs a bool or int operand, got {a.dt.value}")
        t = read(a)
        out = torch.logical_not(t) if a.dt.is_bool else torch.bitwise_not(t)
        return Val(out, a.dt, result_kind((a,), t.dim()))
    t = up(read(a))
    out = _UNARY[op](t)
    return weak_result(Val(cast_t(out, FROM_TORCH[out.dtype], a.dt), a.dt, result_kind((a,), t.dim())), (a,))


def cast_val(v, dtype: DType) -> Val:
    v = as_val(v)
    if v.dt is dtype and v.kind not in BUFFERS:
        return Val(v.t, v.dt, v.kind) if isinstance(v, WeakVal) else v  # converted: typed from here on
    kind = "tile" if v.kind in BUFFERS else v.kind
    return Val(cast_t(read(v), v.dt, dtype), dtype, kind)


_binary_dunders()
