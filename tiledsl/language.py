"""The language surface: names a kernel body may use, as ``td.<name>``.

These functions only mark what the front end should build; calling one outside a kernel raises.
The front end (`tiledsl.frontend`) maps each to its IR, and `docs/language.md` documents them.
"""

from __future__ import annotations

import builtins as _py

from tiledsl.dtypes import DType
from tiledsl.errors import ArgumentError, TiledslError

float64 = DType.f64
float32 = DType.f32
float16 = DType.f16
bfloat16 = DType.bf16
float8_e4m3 = DType.f8e4m3
float8_e5m2 = DType.f8e5m2
int64 = DType.i64
int32 = DType.i32
int16 = DType.i16
int8 = DType.i8
uint8 = DType.u8
bool_ = DType.i1


class _Auto:
    """`td.auto`: a knob the scheduler chooses. ``td.auto(divides=128)``, ``td.auto(multiple_of=64,
    max=256)``: one it chooses under constraints (see `AutoKnob`)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "td.auto"

    def __call__(self, *, divides: int | str | None = None, multiple_of: int | str | None = None,
                 min: int | str | None = None, max: int | str | None = None) -> AutoKnob:  # noqa: A002
        given = {"divides": divides, "multiple_of": multiple_of, "min": min, "max": max}
        items = tuple((k, v) for k, v in given.items() if v is not None)
        for k, v in items:
            if isinstance(v, bool) or not isinstance(v, (int, str)) or (isinstance(v, int) and v < 1):
                raise ArgumentError(f"td.auto({k}={v!r}): a constraint is a positive int or another knob's "
                                    f"name (a str); e.g. td.auto({k}=128) or td.auto({k}='BK')")
        return AutoKnob(items) if items else self


class AutoKnob:
    """A knob the scheduler chooses subject to constraints: each ``(form, bound)`` says the value
    divides / is a multiple of / is at least / is at most ``bound``, an int or another knob's
    name. Equal constraints compare and hash alike (they key compile caches)."""

    __slots__ = ("constraints",)

    def __init__(self, constraints: tuple[tuple[str, int | str], ...]):
        self.constraints = constraints

    def __eq__(self, other) -> bool:
        return isinstance(other, AutoKnob) and other.constraints == self.constraints

    def __hash__(self) -> int:
        return hash(("AutoKnob", self.constraints))

    def __repr__(self) -> str:
        return "td.auto(" + ", ".join(f"{k}={v!r}" for k, v in self.constraints) + ")"


CONSTRAINT_FORMS = {
    "divides": (lambda v, b: b % v == 0, "divide"),
    "multiple_of": (lambda v, b: v % b == 0, "be a multiple of"),
    "min": (lambda v, b: v >= b, "be at least"),
    "max": (lambda v, b: v <= b, "be at most"),
}


def is_auto(x) -> bool:
    """`td.auto`, bare or with constraints."""
    return x is auto or isinstance(x, AutoKnob)


def knob_constraints(x) -> tuple[tuple[str, int | str], ...]:
    """The constraints of a parameter default (none unless it is a constrained `td.auto`)."""
    return x.constraints if isinstance(x, AutoKnob) else ()


def violated(value: int, constraints, knobs: dict[str, int] | None = None) -> str | None:
    """The first constraint `value` breaks, as words ("must divide 128"), or None. A bound naming
    another knob is checked only when `knobs` gives that knob's value."""
    for form, bound in constraints:
        b = bound if isinstance(bound, int) else (knobs or {}).get(bound)
        if b is None:
            continue
        ok, words = CONSTRAINT_FORMS[form]
        if not ok(value, b):
            return f"must {words} {bound}" + (f" (= {b})" if isinstance(bound, str) else "")
    return None


def satisfying(default, preferred: int) -> int:
    """`preferred` when it meets the int-bound constraints of `default` (a `td.auto`, bare or
    constrained), else the power of two closest to it that does (eager mode's knob value)."""
    cs = tuple((f, b) for f, b in knob_constraints(default) if isinstance(b, int))
    pows = sorted((1 << i for i in _py.range(14)), key=lambda v: (abs(v.bit_length() - preferred.bit_length()), v))
    for v in (preferred, *pows):
        if violated(v, cs) is None:
            return v
    return next((b for f, b in cs if f in ("multiple_of", "min", "max")), preferred)


auto = _Auto()


class Tensor:
    """Annotation of a tensor parameter (a torch tensor at call time)."""


class constexpr:
    """Annotation of a compile-time parameter (an int, float, bool or dtype), or `td.auto`."""


class Func:
    """A helper function a kernel may call (``@td.func``); its body is inlined at each call
    site, so it may use every level its caller may (tiles inside a grid, threads inside
    td.threads). It returns values with a `return` at the end of its body."""

    def __init__(self, fn):
        self.fn = fn  # the front end reads its source at the first call (`frontend.source.func_source`)
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__

    def __call__(self, *args, **kwargs):
        raise TiledslError(f"{self.__name__} is a @td.func: call it from inside a @td.kernel")


def func(fn) -> Func:
    """Decorate a helper that kernels call; it is inlined where it is called."""
    return Func(fn)


BUILTINS: dict[str, object] = {}


def _builtin(fn):
    name = fn.__name__.rstrip("_")

    def outside(*args, **kwargs):
        raise TiledslError(f"td.{name} can only be used inside a @td.kernel function")

    outside.__name__ = name
    outside.__qualname__ = name
    outside.__doc__ = fn.__doc__
    outside.__tiledsl_builtin__ = name
    BUILTINS[name] = outside
    return outside


# --- math (any level) -----------------------------------------------------------------------------
@_builtin
def exp(x): """e ** x"""
@_builtin
def exp2(x): """2 ** x"""
@_builtin
def log(x): """natural log"""
@_builtin
def log2(x): """log base 2"""
@_builtin
def log1p(x): """log(1 + x), accurate for small x"""
@_builtin
def sqrt(x): """square root"""
@_builtin
def rsqrt(x): """1 / sqrt(x)"""
@_builtin
def sin(x): """sine"""
@_builtin
def cos(x): """cosine"""
@_builtin
def tanh(x): """hyperbolic tangent"""
@_builtin
def sigmoid(x): """1 / (1 + exp(-x))"""
@_builtin
def erf(x): """error function"""
@_builtin
def floor(x): """floor"""
@_builtin
def ceil(x): """ceil"""
@_builtin
def abs_(x): """absolute value (also the Python builtin abs)"""
@_builtin
def maximum(a, b): """elementwise max"""
@_builtin
def minimum(a, b): """elementwise min"""
@_builtin
def where(cond, a, b): """cond ? a : b, elementwise with broadcasting"""
@_builtin
def clamp(x, lo=None, hi=None): """min(max(x, lo), hi) as torch.clamp (lo > hi gives hi; NaN propagates)"""
@_builtin
def cast(x, dtype): """x converted to dtype (also x.to(dtype)); float to fp8 saturates"""
@_builtin
def cdiv(a, b): """ceil(a / b) for integers"""


# --- reductions and shape (whole tensors and tiles) ---------------------------------------------
@_builtin
def sum(x, axis=None, keepdims=False): """sum over an axis"""
@_builtin
def max(x, axis=None, keepdims=False): """max over an axis"""
@_builtin
def min(x, axis=None, keepdims=False): """min over an axis"""
@_builtin
def prod(x, axis=None, keepdims=False): """product over an axis"""
@_builtin
def argmax(x, axis=None, keepdims=False): """index of the max over an axis (int32)"""
@_builtin
def argmin(x, axis=None, keepdims=False): """index of the min over an axis (int32)"""
@_builtin
def cumsum(x, axis=0): """inclusive prefix sum of a tile"""
@_builtin
def expand_dims(x, axis): """insert an axis of size 1 (also x[:, None])"""
@_builtin
def trans(x, *perm): """transpose (also x.T)"""
@_builtin
def reshape(x, shape): """reshape"""
@_builtin
def broadcast_to(x, shape): """broadcast to a shape"""
@_builtin
def dot(a, b, acc=None, out_dtype=None): """tile matrix product: acc + a @ b, f32 accumulation"""
@_builtin
def matmul(a, b): """whole-tensor a @ b (level 1)"""
@_builtin
def take(x, idx, axis=0): """whole-tensor gather along an axis (also x[idx])"""


# --- level 2: tile programs ------------------------------------------------------------------------
@_builtin
def grid(*sizes): """`with td.grid(n0, n1) as (i, j):` a launch grid of tile programs"""
@_builtin
def pipelined(*args, stages=None, expect=None): """`for k in td.pipelined(n, stages=td.auto, expect=None):` a software-pipelined loop"""
@_builtin
def range_(*args, expect=None): """`for k in td.range(a, b, c, expect=None):` a loop (as `range`) with an expected trip count"""
@_builtin
def load(x, offsets, shape=None, mask=None, other=0): """a tile (or scalar) of x at offsets; masked at edges"""
@_builtin
def store(x, offsets, value, mask=None): """write a tile (or scalar) into x at offsets; masked at edges"""
@_builtin
def atomic_add(x, offsets, value, mask=None): """atomic x[...] += value; returns the old value"""
@_builtin
def atomic_max(x, offsets, value, mask=None): """atomic max; returns the old value"""
@_builtin
def atomic_min(x, offsets, value, mask=None): """atomic min; returns the old value"""
@_builtin
def atomic_xchg(x, offsets, value, mask=None): """atomic exchange; returns the old value"""
@_builtin
def arange(start, end=None): """int32 tile [start, end)"""
@_builtin
def zeros(shape, dtype): """a tile of zeros"""
@_builtin
def full(shape, value, dtype): """a tile filled with value"""
@_builtin
def alloc_shared(shape, dtype): """a shared-memory buffer"""
@_builtin
def alloc_fragment(shape, dtype): """a register-fragment buffer"""
@_builtin
def copy(src, dst, offsets=None): """copy between a global tensor window, a buffer or a tile"""


# --- level 3: threads ----------------------------------------------------------------------------------
@_builtin
def threads(count): """`with td.threads(128) as tid:` run the body once per thread"""
@_builtin
def alloc_local(shape, dtype): """per-thread registers"""
@_builtin
def shfl_xor(value, mask, width=32): """value from lane tid ^ mask"""
@_builtin
def shfl_down(value, delta, width=32): """value from lane tid + delta"""
@_builtin
def shfl_up(value, delta, width=32): """value from lane tid - delta"""
@_builtin
def shfl_idx(value, lane, width=32): """value from the given lane"""
@_builtin
def barrier(): """all threads of the block wait here"""
@_builtin
def annotate_layout(buffer, swizzle=128): """swizzle a shared buffer (bytes: 0, 32, 64 or 128)"""
@_builtin
def producer(): """`with td.producer():` code for the producer warps of a warp-specialized block"""
@_builtin
def consumer(): """`with td.consumer():` code for the consumer warps"""
