"""What each op's operand count and attrs must look like, checked before its type rule runs.

The type rules (`tiledsl.ir.infer`) read attrs and operands trusting their form: a front end
builds them right. IR text can spell anything (``eq`` with no operands, ``dtype="i32"`` as a
string, ``axis="a"``, no ``kind``), so `check_inst` checks the form first and returns a message
(never raises), and the verifier reports it as a `VerifyError` at the inst. Attrs not listed
for an op are left alone (passes may add hints); listed ones must have their form.
"""

from __future__ import annotations

from collections.abc import Callable

from tiledsl.dtypes import DType
from tiledsl.ir.dims import SIZE_SYM
from tiledsl.ir.nodes import Function, Inst, Sym
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import ATOMIC_KINDS, OPS, REDUCE_KINDS
from tiledsl.ir.trips import is_expect

MAX_DIM = 2**31 - 1  # a tile or tensor size beyond this is no size tiledsl can lower

Check = Callable[[object], bool]


def _int(a) -> bool:
    return type(a) is int


def _int_in(lo: int, hi: int = MAX_DIM) -> Check:
    return lambda a: _int(a) and lo <= a <= hi


def _knob_int(lo: int) -> Check:
    return lambda a: isinstance(a, Sym) or (_int(a) and lo <= a <= MAX_DIM)


def _optional(check: Check) -> Check:
    return lambda a: a is None or check(a)


def _one_of(*words: str) -> Check:
    return lambda a: isinstance(a, str) and a in words


def _tuple_of(check: Check) -> Check:
    return lambda a: isinstance(a, tuple) and all(check(x) for x in a)


_BOOL: Check = lambda a: isinstance(a, bool)  # noqa: E731
_DTYPE: Check = lambda a: isinstance(a, DType)  # noqa: E731
_NUMBER: Check = lambda a: type(a) in (int, float, bool)  # noqa: E731
_AXIS = _int_in(-64, 64)
_DIM = lambda d: _knob_int(1)(d) or (isinstance(d, str) and SIZE_SYM.fullmatch(d) is not None)  # noqa: E731
_SHAPE = _tuple_of(_DIM)
_WINDOW = _optional(_tuple_of(lambda d: d is None or _DIM(d)))

# (check, what the attr must be): for messages
_FORMS: dict[str, tuple[Check, str]] = {
    "axis": (_AXIS, "an integer axis"),
    "dtype": (_DTYPE, "a dtype (f32, bf16, i32, ...)"),
    "value": (lambda a: _NUMBER(a) or isinstance(a, Sym), "a number, true/false or a #knob"),
    "shape": (_SHAPE, "a tuple of positive sizes, #knobs or tensor sizes"),
    "window": (_WINDOW, "a tuple of positive sizes, #knobs, tensor sizes or none"),
    "perm": (_tuple_of(_int_in(0, 64)), "a tuple of axis numbers"),
    "keepdims": (_BOOL, "true or false"),
    "masked": (_BOOL, "true or false"),
    "other": (_optional(_NUMBER), "a number or none"),
    "stages": (_optional(_knob_int(0)), "none, a stage count or a #knob"),
    "group_m": (_optional(_knob_int(1)), "none, a positive integer or a #knob"),
    "bound": (_knob_int(0), "an integer or a #knob"),
    "expect": (is_expect, "a trip count: an integer >= 0, a #knob, a tensor size or (op, a, b) of those"),
    "count": (_knob_int(1), "a positive thread count or a #knob"),
    "width": (_optional(_int_in(1, 32)), "a lane count from 1 to 32"),
    "swizzle": (_optional(_int_in(0, 1024)), "a byte count (0 for none)"),
    "reduce_kind": (_one_of(*REDUCE_KINDS), "one of " + ", ".join(REDUCE_KINDS)),
    "scan_kind": (_one_of(*REDUCE_KINDS), "one of " + ", ".join(REDUCE_KINDS)),
    "atomic_kind": (_one_of(*ATOMIC_KINDS), "one of " + ", ".join(ATOMIC_KINDS)),
    "mode": (_one_of("xor", "down", "up", "idx"), "one of xor, down, up, idx"),
    "space": (_one_of("shared", "fragment"), "shared or fragment"),
    "role": (_one_of("producer", "consumer"), "producer or consumer"),
}

# op -> {attr: (form, required)}, op -> (fewest, most) operands: declared in the op table
ATTRS: dict[Op, dict[str, tuple[str, bool]]] = {op: dict(d.attrs) for op, d in OPS.items() if d.attrs}
ARITY: dict[Op, tuple[int, int | None]] = {op: d.arity for op, d in OPS.items()}
# ops whose results are counted by their rule, not by the inst (loops and ifs carry values)
_RESULTS: dict[Op, int] = {op: d.results for op, d in OPS.items() if d.results is not None}
assert all(form in _FORMS for a in ATTRS.values() for form, _ in a.values())


def check_inst(inst: Inst, static: bool = False) -> str | None:
    """None if `inst` has the operand count and attr forms its op needs, else what is wrong.
    With `static` (after scheduling) shape attrs may not name tensor sizes."""
    lo, hi = ARITY[inst.op]
    n = len(inst.operands)
    if n < lo or (hi is not None and n > hi):
        want = f"{lo}" if lo == hi else f"{lo} or more" if hi is None else f"{lo} to {hi}"
        return f"takes {want} operand(s), has {n}"
    names = [k for k, _ in inst.attrs]
    if len(set(names)) != len(names):
        return "an attr is given twice"
    attrs = dict(inst.attrs)
    for name, (form, required) in ATTRS.get(inst.op, {}).items():
        if name not in attrs:
            if required:
                return f"needs the attr {name} ({_FORMS[form][1]})"
            continue
        check, what = _FORMS[form]
        if not check(attrs[name]):
            return f"attr {name}={attrs[name]!r} must be {what}"
        if static and form in ("shape", "window") and any(isinstance(d, str) for d in attrs[name] or ()):
            return f"attr {name}={attrs[name]!r} names a tensor size; tile shapes are static after scheduling"
    want_results = _RESULTS.get(inst.op)
    if want_results is not None and len(inst.results) != want_results:
        return f"has {len(inst.results)} result(s); it produces none"
    return None


def check_function(fn: Function) -> str | None:
    """None if the function-level attrs have their form, else what is wrong."""
    attrs = dict(fn.attrs)
    if len(attrs) != len(fn.attrs):
        return "an attr is given twice"
    assume = attrs.get("assume")
    if assume is not None and not (isinstance(assume, tuple) and all(
            isinstance(p, tuple) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in assume)):
        return "attr assume must be a tuple of pairs of size names, e.g. ((\"a.0\", \"b.0\"),)"
    outputs = attrs.get("outputs")
    if outputs is not None and not _tuple_of(lambda s: isinstance(s, str))(outputs):
        return "attr outputs must be a tuple of value names"
    knobs = [k.name for k in fn.knobs]
    if len(set(knobs)) != len(knobs):
        return "a knob is declared twice"
    for k in fn.knobs:
        if k.value is not None and not _int_in(0)(k.value):
            return f"knob {k.name}={k.value!r} must be auto or an integer from 0 to {MAX_DIM}"
    return None
