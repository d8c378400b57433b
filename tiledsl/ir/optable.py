"""The op table: every op declared once, with the facts every layer reads.

One `OpDef` per `Op` (`OPS`): its arity, its attributes and their forms (checked by
`tiledsl.ir.schema`), its operand dtypes (the shape/dtype rule of an elementwise op is built from
them in `tiledsl.ir.infer`; other ops name their rule there), its effects on memory, its constant
fold, whether f16/bf16 compute it in f32 and round once, the public ``td.*`` name that builds it
and the backends that refuse it on purpose. The semantics are written once, beside the member in
`tiledsl.ir.ops`; the interpreter's rule (`tiledsl.interp`) is the executable form of them.

Executors register their rule per op beside their own code, keyed by `Op` (the interpreter's
`RULES`, each backend's emission table, the cost model's `ALU_WEIGHT`); eager mode keys its own
implementations by the public names listed here (`public_names`) and reads nothing else from this
table, so it stays an independent oracle. `tests/test_op_coverage.py` fails when an executor lacks
a rule for an op that can reach it.

Also here, once: the reduction kinds (`REDUCE_KINDS`), constant folding (`fold_const`,
`fold_int`), which ops touch memory (`Effects`, `written`, `pinned`) and how a load, store,
atomic or copy names its window (`split_window`, `access_of`).
"""

from __future__ import annotations

import builtins as py
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tiledsl.dtypes import DType
from tiledsl.ir.nodes import Space
from tiledsl.ir.ops import Group, Op

# --- effects ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Effects:
    """What an op does besides computing its results.

    `reads` / `writes`: the operand index of the tensor or buffer it reads / writes (None: none).
    `syncs`: orders memory between the threads of a block. `control`: owns regions or ends one
    (loops, branches, grids, terminators). `annotates`: a hint on a value that must stay where it
    is. `fresh`: each execution yields a new value (a buffer, a lane exchange): never merged.
    """

    reads: int | None = None
    writes: int | None = None
    syncs: bool = False
    control: bool = False
    annotates: bool = False
    fresh: bool = False


PURE = Effects()

# --- operand dtypes of the elementwise ops ------------------------------------------------------------
ANY = "any"  # bool, int or float
FLOAT = "float"  # floats only
INT = "int"  # ints only
NUMERIC = "numeric"  # ints and floats, not i1 (arithmetic on masks is a bug)
LOGIC = "logic"  # bools and ints (logical for i1, bitwise for ints)

# the kind of shape/dtype rule (`tiledsl.ir.infer`): elementwise ops get theirs from their dtypes
UNARY_RULE, BINARY_RULE, COMPARE_RULE, OWN_RULE = "unary", "binary", "compare", "own"

# backends an op can reach (after scheduling): tests/test_op_coverage.py checks each has a rule
BACKENDS = ("ir", "triton", "tilelang")


@dataclass(frozen=True)
class OpDef:
    op: Op
    arity: tuple[int, int | None]  # (fewest, most) operands; None: no upper bound
    attrs: Mapping[str, tuple[str, bool]] = field(default_factory=dict)  # attr -> (form, required)
    rule: str = OWN_RULE  # UNARY_RULE / BINARY_RULE / COMPARE_RULE, or OWN_RULE (infer.RULES)
    dtypes: str = ANY  # operand dtypes an elementwise op accepts
    effects: Effects = PURE
    results: int | None = None  # fixed result count (None: counted by the inst or its rule)
    fold: Callable | None = None  # the op on Python numbers, Python's rules (may raise ArithmeticError)
    int_fold: bool = False  # `fold` is exact for IR integer scalars (wrapped to their width)
    f32_compute: bool = False  # f16/bf16 compute in f32 and round once (transcendentals, div, pow)
    public: str | None = None  # the td.<name> builtin that builds this op, where one does
    unsupported: frozenset[str] = frozenset()  # backends that refuse it on purpose (see BACKENDS)
    owned: bool = False  # a terminator: executed by the rule of the op whose region it ends
    level1: bool = False  # scheduled away like the DATAFLOW ops (a level-1 RETURN)

    @property
    def group(self) -> Group:
        return self.op.group

    @property
    def name(self) -> str:
        return self.op.ir_name

    def reaches(self, backend: str) -> bool:
        """Whether scheduled IR can hand this op to `backend` (level-1 ops are scheduled away)."""
        if backend in self.unsupported or self.owned:
            return False
        return backend == "ir" or not (self.level1 or self.group is Group.DATAFLOW)


def _clamp(x, lo, hi):
    """torch.clamp on Python numbers: NaN anywhere gives NaN (Python's max/min would drop it);
    a float among the operands makes the result a float, as the promotion does."""
    if any(v != v for v in (x, lo, hi)):
        return float("nan")
    r = py.min(py.max(x, lo), hi)
    return float(r) if any(isinstance(v, float) for v in (x, lo, hi)) else r


def _defs(*defs: OpDef) -> dict[Op, OpDef]:
    return {d.op: d for d in defs}


def _unary(op: Op, dtypes: str, *, public: str | None = None, f32: bool = False,
           fold: Callable | None = None, int_fold: bool = False) -> OpDef:
    return OpDef(op, (1, 1), rule=UNARY_RULE, dtypes=dtypes, public=public, f32_compute=f32,
                 fold=fold, int_fold=int_fold)


def _transcendental(op: Op, public: str) -> OpDef:
    return _unary(op, FLOAT, public=public, f32=True)


def _nan_or(f: Callable, a, b):
    """td.maximum / td.minimum of two numbers: a NaN wins, as in torch (Python's max and min keep
    whichever argument compares first; the Python builtins in a kernel fold that way in the front
    end)."""
    if a != a:
        return a
    if b != b:
        return b
    return f(a, b)


def _binary(op: Op, dtypes: str, fold: Callable | None, *, int_fold: bool = False,
            public: str | None = None, f32: bool = False, compare: bool = False) -> OpDef:
    return OpDef(op, (2, 2), rule=COMPARE_RULE if compare else BINARY_RULE, dtypes=dtypes, fold=fold,
                 int_fold=int_fold, public=public, f32_compute=f32)


_CONTROL = Effects(control=True)
_THREAD_ONLY = frozenset({"triton"})  # Triton has no thread level
_WINDOW = {"shape": ("window", False), "masked": ("masked", False)}
_REDUCE_ATTRS = {"kind": ("reduce_kind", True), "axis": ("axis", True), "keepdims": ("keepdims", False)}

OPS: dict[Op, OpDef] = _defs(
    # --- CORE
    OpDef(Op.CONST, (0, 0), {"value": ("value", True), "dtype": ("dtype", False)}),
    OpDef(Op.DIM, (1, 1), {"axis": ("axis", True)}),
    OpDef(Op.FOR, (3, None), {"stages": ("stages", False), "expect": ("expect", False)}, effects=_CONTROL),
    OpDef(Op.IF, (1, 1), effects=_CONTROL),
    OpDef(Op.YIELD, (0, None), effects=_CONTROL, results=0, owned=True),
    OpDef(Op.RETURN, (0, None), effects=_CONTROL, results=0, level1=True),
    # --- MATH: unary
    _unary(Op.NEG, NUMERIC, fold=operator.neg, int_fold=True),
    _unary(Op.NOT, LOGIC),
    _unary(Op.ABS, NUMERIC, public="abs"),
    _transcendental(Op.EXP, "exp"),
    _transcendental(Op.EXP2, "exp2"),
    _transcendental(Op.LOG, "log"),
    _transcendental(Op.LOG2, "log2"),
    _transcendental(Op.LOG1P, "log1p"),
    _transcendental(Op.SQRT, "sqrt"),
    _transcendental(Op.RSQRT, "rsqrt"),
    _transcendental(Op.SIN, "sin"),
    _transcendental(Op.COS, "cos"),
    _transcendental(Op.TANH, "tanh"),
    _transcendental(Op.SIGMOID, "sigmoid"),
    _transcendental(Op.ERF, "erf"),
    _unary(Op.FLOOR, FLOAT, public="floor"),  # exact in any precision: no f32 detour
    _unary(Op.CEIL, FLOAT, public="ceil"),
    # --- MATH: binary
    _binary(Op.ADD, NUMERIC, operator.add, int_fold=True),
    _binary(Op.SUB, NUMERIC, operator.sub, int_fold=True),
    _binary(Op.MUL, NUMERIC, operator.mul, int_fold=True),
    _binary(Op.DIV, FLOAT, operator.truediv, f32=True),  # the front end casts ints to f32 first
    _binary(Op.FLOORDIV, NUMERIC, operator.floordiv, int_fold=True),
    _binary(Op.MOD, NUMERIC, operator.mod, int_fold=True),
    _binary(Op.POW, FLOAT, operator.pow, f32=True),
    _binary(Op.MAXIMUM, ANY, lambda a, b: _nan_or(py.max, a, b), int_fold=True, public="maximum"),
    _binary(Op.MINIMUM, ANY, lambda a, b: _nan_or(py.min, a, b), int_fold=True, public="minimum"),
    _binary(Op.EQ, ANY, operator.eq, int_fold=True, compare=True),
    _binary(Op.NE, ANY, operator.ne, int_fold=True, compare=True),
    _binary(Op.LT, ANY, operator.lt, int_fold=True, compare=True),
    _binary(Op.LE, ANY, operator.le, int_fold=True, compare=True),
    _binary(Op.GT, ANY, operator.gt, int_fold=True, compare=True),
    _binary(Op.GE, ANY, operator.ge, int_fold=True, compare=True),
    _binary(Op.AND, LOGIC, operator.and_),
    _binary(Op.OR, LOGIC, operator.or_),
    _binary(Op.XOR, LOGIC, operator.xor),
    _binary(Op.SHL, INT, operator.lshift, int_fold=True),
    _binary(Op.SHR, INT, operator.rshift, int_fold=True),
    OpDef(Op.WHERE, (3, 3), public="where"),
    OpDef(Op.CLAMP, (3, 3), dtypes=NUMERIC, fold=_clamp, int_fold=True, public="clamp"),
    OpDef(Op.CAST, (1, 1), {"dtype": ("dtype", True)}),
    # --- SHAPE
    OpDef(Op.EXPAND_DIMS, (1, 1), {"axis": ("axis", True)}),
    OpDef(Op.TRANSPOSE, (1, 1), {"perm": ("perm", True)}),
    OpDef(Op.RESHAPE, (1, 1), {"shape": ("shape", True)}),
    OpDef(Op.BROADCAST_TO, (1, 1), {"shape": ("shape", True)}),
    # --- DATAFLOW (level 1)
    OpDef(Op.REDUCE, (1, 1), _REDUCE_ATTRS),
    OpDef(Op.MATMUL, (2, 2), {"dtype": ("dtype", False)}),
    OpDef(Op.GATHER, (2, 2), {"axis": ("axis", True)}),
    # --- TILE (level 2)
    OpDef(Op.GRID, (1, 3), {"group_m": ("group_m", False)}, effects=_CONTROL, results=0),
    OpDef(Op.LOAD, (1, None), {**_WINDOW, "other": ("other", False)}, effects=Effects(reads=0)),
    OpDef(Op.STORE, (2, None), _WINDOW, effects=Effects(writes=0), results=0),
    OpDef(Op.ATOMIC, (2, None), {"kind": ("atomic_kind", True), **_WINDOW},
          effects=Effects(reads=0, writes=0)),
    OpDef(Op.ARANGE, (0, 0), {"start": ("bound", True), "end": ("bound", True)}),
    OpDef(Op.FULL, (0, 0), {"shape": ("shape", True), "value": ("value", True), "dtype": ("dtype", True)}),
    OpDef(Op.DOT, (2, 3), {"dtype": ("dtype", False)}),
    OpDef(Op.TILE_REDUCE, (1, 1), _REDUCE_ATTRS),
    OpDef(Op.SCAN, (1, 1), {"kind": ("scan_kind", False), "axis": ("axis", True)}),
    OpDef(Op.ALLOC, (0, 0), {"shape": ("shape", True), "dtype": ("dtype", True), "space": ("space", True)},
          effects=Effects(fresh=True)),
    OpDef(Op.COPY, (2, None), {"shape": ("window", False)}, effects=Effects(reads=0, writes=1), results=0),
    # --- THREAD (level 3): the IR interpreter and TileLang only
    OpDef(Op.THREADS, (0, 0), {"count": ("count", True)}, effects=_CONTROL, results=0,
          unsupported=_THREAD_ONLY),
    OpDef(Op.ALLOC_LOCAL, (0, 0), {"shape": ("shape", True), "dtype": ("dtype", True)},
          effects=Effects(fresh=True), unsupported=_THREAD_ONLY),
    OpDef(Op.SHUFFLE, (2, 2), {"mode": ("mode", True), "width": ("width", False)},
          effects=Effects(fresh=True), unsupported=_THREAD_ONLY),
    OpDef(Op.BARRIER, (0, 0), effects=Effects(syncs=True), results=0, unsupported=_THREAD_ONLY),
    OpDef(Op.LAYOUT, (1, 1), {"swizzle": ("swizzle", False)}, effects=Effects(annotates=True), results=0,
          unsupported=_THREAD_ONLY),
    OpDef(Op.WARP_ROLE, (0, 0), {"role": ("role", True)}, effects=_CONTROL, results=0,
          unsupported=_THREAD_ONLY),
)
assert set(OPS) == set(Op), f"ops not declared in the op table: {set(Op) - set(OPS)}"


def ops_where(pred: Callable[[OpDef], bool]) -> frozenset[Op]:
    return frozenset(d.op for d in OPS.values() if pred(d))


UNARY = ops_where(lambda d: d.rule == UNARY_RULE)
BINARY = ops_where(lambda d: d.rule in (BINARY_RULE, COMPARE_RULE))
COMPARE = ops_where(lambda d: d.rule == COMPARE_RULE)
ELEMENTWISE = UNARY | BINARY
FLOAT_ONLY = ops_where(lambda d: d.rule != OWN_RULE and d.dtypes == FLOAT)
INT_ONLY = ops_where(lambda d: d.rule != OWN_RULE and d.dtypes == INT)
LOGIC_ONLY = ops_where(lambda d: d.rule != OWN_RULE and d.dtypes == LOGIC)
NUMERIC_ONLY = ops_where(lambda d: d.rule != OWN_RULE and d.dtypes in (NUMERIC, FLOAT))
F32_COMPUTE = ops_where(lambda d: d.f32_compute)

# --- public names (eager mode and the front end key their builtins by these) ------------------------


def public_names(rule: str | None = None) -> dict[str, Op]:
    """``{"exp": Op.EXP, ...}``: the td.* builtins that build one op (of rule kind `rule`)."""
    return {d.public: d.op for d in OPS.values()
            if d.public is not None and (rule is None or d.rule == rule)}


# --- reduction kinds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReduceKind:
    name: str
    combine: Op | None  # the elementwise op that merges two partial results (None: not combinable)
    combine_bool: Op | None  # the same on i1 values
    index: bool = False  # the result is the i32 position of the extreme, not a value
    accumulates: bool = False  # sums and products: f16/bf16 accumulate in f32, round once


REDUCE_KINDS: dict[str, ReduceKind] = {k.name: k for k in (
    ReduceKind("sum", Op.ADD, Op.OR, accumulates=True),
    ReduceKind("max", Op.MAXIMUM, Op.OR),
    ReduceKind("min", Op.MINIMUM, Op.AND),
    ReduceKind("prod", Op.MUL, Op.AND, accumulates=True),
    ReduceKind("argmax", None, None, index=True),
    ReduceKind("argmin", None, None, index=True),
)}
SCAN_KINDS = ("sum",)  # the prefix scans the executors compute (the IR text may name others)
ATOMIC_KINDS = ("add", "max", "min", "xchg")


# --- constant folding -----------------------------------------------------------------------------------


def fold_const(op: Op, *args):
    """`op` on Python numbers with Python's rules (the front end's compile-time values).
    Raises KeyError when the op does not fold, ArithmeticError / TypeError as Python does."""
    f = OPS[op].fold
    if f is None:
        raise KeyError(op)
    return f(*args)


def folds(op: Op) -> bool:
    return OPS[op].fold is not None


def _wrap(v: int, dtype: DType) -> int:
    """`v` in the two's-complement width of `dtype` (u8: 0..255), as the GPU computes it."""
    if dtype is DType.u8:
        return v & 0xFF
    bits = dtype.bits
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def fold_int(op: Op, args: Sequence[int | bool], dtype: DType | None = None) -> int | bool | None:
    """`op` on integer (or bool) IR scalars, as the GPU computes it: None where the op does not
    fold exactly (no fold, a zero divisor, a shift out of range, a non-integer operand). With
    `dtype` (the result's) an int result wraps to that width."""
    d = OPS[op]
    if not d.int_fold or not all(isinstance(a, int) for a in args):
        return None
    if op in (Op.SHL, Op.SHR) and not (0 <= args[1] < (dtype.bits if dtype and dtype.is_int else 64)):
        return None
    try:
        v = d.fold(*args)
    except ArithmeticError:
        return None
    if dtype is not None and dtype.is_int and not isinstance(v, bool):
        return _wrap(v, dtype)
    return v


# --- windows: what a load, store, atomic or copy addresses ------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True)
class Window(Generic[T]):
    """The parts of a LOAD / STORE / ATOMIC operand list (or any list parallel to it: types,
    emitted values): the tensor (or buffer), one offset per axis, the operands after the offsets
    without the mask (`rest`: the stored value, for STORE and ATOMIC) and the mask."""

    tensor: T
    offsets: tuple[T, ...]
    rest: tuple[T, ...]
    mask: T | None

    @property
    def value(self) -> T | None:
        return self.rest[0] if self.rest else None


def split_window(items: Sequence[T], rank: int, masked: bool) -> Window[T]:
    """Decode a LOAD / STORE / ATOMIC operand list ``(tensor, *offsets, [value], [mask])``; the
    mask, when `masked`, is the last operand."""
    items = list(items)
    mask = items.pop() if masked and len(items) > 1 else None
    return Window(items[0], tuple(items[1:1 + rank]), tuple(items[1 + rank:]), mask)


def window_of(inst) -> Window:
    """The window parts of a LOAD / STORE / ATOMIC inst (its operands)."""
    return split_window(inst.operands, inst.operands[0].type.rank, bool(inst.attr("masked")))


@dataclass(frozen=True)
class Access:
    """A global-memory window an inst reads or writes: the tensor, its offsets and the window
    (the shape attr; a copy without one moves its buffer's shape)."""

    tensor: object  # Value
    offsets: tuple
    shape: tuple | None
    write: bool


def access_of(inst) -> Access | None:
    """The global tensor window `inst` (LOAD, STORE, ATOMIC, COPY) addresses, if any."""
    ops = inst.operands
    if inst.op is Op.COPY:
        src, dst = ops[0], ops[1]
        if src.type.space is Space.GLOBAL:
            return Access(src, tuple(ops[2:]), inst.attr("shape") or dst.type.shape, False)
        if dst.type.space is Space.GLOBAL:
            return Access(dst, tuple(ops[2:]), inst.attr("shape") or src.type.shape, True)
        return None
    if inst.op in (Op.LOAD, Op.STORE, Op.ATOMIC) and ops[0].type.space is Space.GLOBAL:
        w = window_of(inst)
        return Access(w.tensor, w.offsets, inst.attr("shape"), inst.op is not Op.LOAD)
    return None


# --- effects, derived ------------------------------------------------------------------------------------


def written(inst):
    """The tensor or buffer operand `inst` writes, or None."""
    i = OPS[inst.op].effects.writes
    return None if i is None or i >= len(inst.operands) else inst.operands[i]


def read_from(inst):
    """The tensor or buffer operand `inst` reads memory from, or None."""
    i = OPS[inst.op].effects.reads
    return None if i is None or i >= len(inst.operands) else inst.operands[i]


def pinned(op: Op) -> bool:
    """Kept even when its results are unused: it writes memory, synchronizes, is control flow
    or annotates a value."""
    e = OPS[op].effects
    return e.writes is not None or e.syncs or e.control or e.annotates


WRITES_MEMORY = ops_where(lambda d: d.effects.writes is not None)
READS_MEMORY = ops_where(lambda d: d.effects.reads is not None)
PINNED = frozenset(op for op in Op if pinned(op))
NEVER_MERGED = PINNED | READS_MEMORY | ops_where(lambda d: d.effects.fresh)
