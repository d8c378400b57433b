"""Random expressions rendered twice: as tiledsl source and as the torch expression that computes
the same thing (the oracle). Shared by the level-1 and level-2 generators.

Every expression keeps to a safe domain: a bound on its magnitude is tracked so that exp, ** 2,
products and sums never overflow fp16, logs and square roots only see non-negative inputs, and
divisions only divide by `1 + |x|`. Comparisons (conditions of `td.where`, masks) only look at
leaves, whose values are exact in every backend, so a one-ulp difference can never flip a branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

MAX_BOUND = 400.0  # magnitudes stay below this: sums of 64 of them fit fp16


@dataclass(frozen=True)
class Ex:
    """One expression: tiledsl text, torch text, kind ("f" float, "i" int, "b" bool), a bound on
    |value|, its rank (0 = a Python number), the casts it contains, and feature tags."""

    td: str
    pt: str
    kind: str
    bound: float
    rank: int
    casts: frozenset = frozenset()
    tags: frozenset = frozenset()
    has_nan: bool = False


@dataclass(frozen=True)
class Leaf:
    """A value the expression may read: a tensor or tile, or a runtime/compile-time number."""

    td: str
    pt: str
    kind: str  # "f" float, "f8" fp8 storage (must be cast before use), "i" int, "n" number
    bound: float
    rank: int
    nan: bool = False


@dataclass
class Env:
    leaves: list[Leaf]
    reductions: bool = False  # whole-tensor reductions with keepdims=True inside expressions
    tags: set = field(default_factory=set)


def _mk(td: str, pt: str, kind: str, bound: float, parts: tuple[Ex, ...], tag: str | None = None,
        casts: frozenset = frozenset(), rank: int | None = None) -> Ex:
    tags = frozenset().union(*(p.tags for p in parts)) | ({tag} if tag else set())
    return Ex(td, pt, kind, bound, max((p.rank for p in parts), default=0) if rank is None else rank,
              frozenset().union(*(p.casts for p in parts)) | casts, tags, any(p.has_nan for p in parts))


# unary float ops: name -> (tiledsl template, torch template, domain check on the bound, new bound)
UNARY = {
    "neg": ("(-{})", "(-{})", lambda b: True, lambda b: b),
    "abs": ("td.abs({})", "torch.abs({})", lambda b: True, lambda b: b),
    "pyabs": ("abs({})", "torch.abs({})", lambda b: True, lambda b: b),
    "exp": ("td.exp({})", "torch.exp({})", lambda b: b <= 4.0, lambda b: 2.72 ** b),
    "exp2": ("td.exp2({})", "torch.exp2({})", lambda b: b <= 6.0, lambda b: 2.0 ** b),
    "log2": ("td.log2(td.abs({}) + 1.0)", "torch.log2(torch.abs({}) + 1.0)", lambda b: True,
             lambda b: max(1.0, b)),
    "sin": ("td.sin({})", "torch.sin({})", lambda b: b <= 1000.0, lambda b: 1.0),
    "cos": ("td.cos({})", "torch.cos({})", lambda b: b <= 1000.0, lambda b: 1.0),
    "log1p": ("td.log1p(td.abs({}))", "torch.log1p(torch.abs({}))", lambda b: True, lambda b: max(1.0, b)),
    "log": ("td.log(td.abs({}) + 1.0)", "torch.log(torch.abs({}) + 1.0)", lambda b: True,
            lambda b: max(1.0, b)),
    "sqrt": ("td.sqrt(td.abs({}))", "torch.sqrt(torch.abs({}))", lambda b: True, lambda b: max(1.0, b) ** 0.5),
    "rsqrt": ("td.rsqrt(td.abs({}) + 1.0)", "torch.rsqrt(torch.abs({}) + 1.0)", lambda b: True, lambda b: 1.0),
    "tanh": ("td.tanh({})", "torch.tanh({})", lambda b: True, lambda b: 1.0),
    "sigmoid": ("td.sigmoid({})", "torch.sigmoid({})", lambda b: True, lambda b: 1.0),
    "erf": ("td.erf({})", "torch.erf({})", lambda b: True, lambda b: 1.0),
    "square": ("({} ** 2)", "({} ** 2)", lambda b: b <= 20.0, lambda b: b * b),
}

BINARY = {
    "add": ("({} + {})", "({} + {})", lambda a, b: a + b),
    "sub": ("({} - {})", "({} - {})", lambda a, b: a + b),
    "mul": ("({} * {})", "({} * {})", lambda a, b: a * b),
    "div": ("({} / (1.0 + td.abs({})))", "({} / (1.0 + torch.abs({})))", lambda a, b: a),
    "maximum": ("td.maximum({}, {})", "torch.maximum({}, {})", lambda a, b: max(a, b)),
    "minimum": ("td.minimum({}, {})", "torch.minimum({}, {})", lambda a, b: max(a, b)),
}

FLOAT_CASTS = {"float32": 3.0e38, "float16": 6.0e4, "bfloat16": 3.0e38}
FP8_CASTS = {"float8_e4m3": ("float8_e4m3fn", 400.0), "float8_e5m2": ("float8_e5m2", 5.0e4)}

NUMBERS = (0.5, 1.5, 2.0, -1.25, 3, 0.1, 1)


def leaf_ex(lf: Leaf, draw) -> Ex:
    """A leaf as a float or int expression (fp8 storage is cast to a compute type first)."""
    if lf.kind == "f8":
        dt = draw(st.sampled_from(["float32", "float16"]))
        return Ex(f"{lf.td}.to(td.{dt})", f"{lf.pt}.to(torch.{dt})", "f", lf.bound, lf.rank,
                  frozenset({dt}), frozenset({"fp8-in"}), lf.nan)
    kind = {"n": "f"}.get(lf.kind, lf.kind)
    if lf.rank == 0:  # torch functions take tensors: a number is a 0-d tensor (it does not promote)
        return Ex(lf.td, f"torch.as_tensor({lf.pt})", "i" if lf.kind == "i" else "f", lf.bound, 0,
                  frozenset(), frozenset({f"leaf-{lf.kind}"}))
    return Ex(lf.td, lf.pt, kind, lf.bound, lf.rank, frozenset(), frozenset({f"leaf-{lf.kind}"}), lf.nan)


def number_ex(draw) -> Ex:
    v = draw(st.sampled_from(NUMBERS))
    return Ex(repr(v), repr(v), "f" if isinstance(v, float) else "i", abs(v), 0, tags=frozenset({"pynum"}))


def cond_ex(draw, env: Env) -> Ex:
    """A boolean built from leaf comparisons with & | ~ (exact in every backend)."""
    cands = [lf for lf in env.leaves if lf.kind in ("f", "i") and lf.rank > 0]
    lf = draw(st.sampled_from(cands))
    op = draw(st.sampled_from(["<", ">", "<=", ">=", "!="]))
    thr = draw(st.sampled_from(["0", "0.5", "-1.0", "1"])) if lf.kind == "f" else draw(st.sampled_from(["0", "2", "-3"]))
    c = Ex(f"({lf.td} {op} {thr})", f"({lf.pt} {op} {thr})", "b", 1.0, lf.rank, tags=frozenset({"cmp"}))
    how = draw(st.sampled_from(["plain", "and", "or", "not", "xor"]))
    if how == "plain":
        return c
    if how == "not":
        return _mk(f"(~{c.td})", f"(~{c.pt})", "b", 1.0, (c,), "mask-not")
    d = cond_ex(draw, env) if draw(st.integers(0, 3)) == 0 else _cmp_simple(draw, env)
    sym = {"and": "&", "or": "|", "xor": "^"}[how]
    return _mk(f"({c.td} {sym} {d.td})", f"({c.pt} {sym} {d.pt})", "b", 1.0, (c, d), f"mask-{how}")


def _cmp_simple(draw, env: Env) -> Ex:
    cands = [lf for lf in env.leaves if lf.kind in ("f", "i") and lf.rank > 0]
    lf = draw(st.sampled_from(cands))
    return Ex(f"({lf.td} > 0)", f"({lf.pt} > 0)", "b", 1.0, lf.rank, tags=frozenset({"cmp"}))


def int_ex(draw, env: Env, depth: int) -> Ex | None:
    """An int expression over int leaves, or None when there are none."""
    ints = [lf for lf in env.leaves if lf.kind == "i"]
    if not ints:
        return None
    if depth <= 0 or draw(st.integers(0, 2)) == 0:
        return leaf_ex(draw(st.sampled_from(ints)), draw)
    a = int_ex(draw, env, depth - 1)
    op = draw(st.sampled_from(["add", "sub", "mul", "floordiv", "mod", "abs", "max", "min", "clamp"]))
    if op in ("floordiv", "mod"):
        k = draw(st.sampled_from([2, 3, -3, 5]))
        sym = "//" if op == "floordiv" else "%"
        return _mk(f"({a.td} {sym} {k})", f"({a.pt} {sym} {k})", "i", a.bound, (a,), f"int-{op}")
    if op == "abs":
        return _mk(f"td.abs({a.td})", f"torch.abs({a.pt})", "i", a.bound, (a,), "int-abs")
    b = int_ex(draw, env, depth - 1)
    if op == "clamp":
        k = draw(st.sampled_from([2, -3, 5]))
        n = Ex(repr(k), repr(k), "i", abs(k), 0, tags=frozenset({"pynum"}))
        return clamp_ex(a, *((b, n) if draw(st.booleans()) else (n, b)), "i")
    if op in ("max", "min"):
        fn = "maximum" if op == "max" else "minimum"
        return _mk(f"td.{fn}({a.td}, {b.td})", f"torch.{fn}({a.pt}, {b.pt})", "i", max(a.bound, b.bound),
                   (a, b), f"int-{op}")
    bound = a.bound * b.bound if op == "mul" else a.bound + b.bound
    if bound > 100:  # int8 must not overflow
        return a
    sym = {"add": "+", "sub": "-", "mul": "*"}[op]
    return _mk(f"({a.td} {sym} {b.td})", f"({a.pt} {sym} {b.pt})", "i", bound, (a, b), f"int-{op}")


def float_ex(draw, env: Env, depth: int) -> Ex:
    """A float expression over the environment's leaves."""
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return float_leaf(draw, env)
    choice = draw(st.sampled_from(["unary", "unary", "binary", "binary", "number", "where", "clamp", "cast",
                                   "int", "reduce"]))
    if choice == "unary":
        a = float_ex(draw, env, depth - 1)
        name = draw(st.sampled_from(sorted(UNARY)))
        tdt, ptt, ok, nb = UNARY[name]
        if not ok(a.bound):
            name, (tdt, ptt, ok, nb) = "tanh", UNARY["tanh"]
        return _mk(tdt.format(a.td), ptt.format(a.pt), "f", nb(a.bound), (a,), name)
    if choice == "binary":
        a, b = float_ex(draw, env, depth - 1), float_ex(draw, env, depth - 1)
        name = draw(st.sampled_from(sorted(BINARY)))
        tdt, ptt, nb = BINARY[name]
        if nb(a.bound, b.bound) > MAX_BOUND:
            name, (tdt, ptt, nb) = "div", BINARY["div"]
        return _mk(tdt.format(a.td, b.td), ptt.format(a.pt, b.pt), "f", nb(a.bound, b.bound), (a, b), name)
    if choice == "number":
        a, n = float_ex(draw, env, depth - 1), number_ex(draw)
        sym = draw(st.sampled_from(["+", "-", "*", "/"]))
        if sym == "/" and n.bound < 0.5:
            sym = "*"
        left = draw(st.booleans()) and sym != "/"
        tdt = f"({n.td} {sym} {a.td})" if left else f"({a.td} {sym} {n.td})"
        ptt = f"({n.pt} {sym} {a.pt})" if left else f"({a.pt} {sym} {n.pt})"
        bound = a.bound * n.bound if sym == "*" else (a.bound / n.bound if sym == "/" else a.bound + n.bound)
        return _mk(tdt, ptt, "f", bound, (a, n), "num-" + {"+": "add", "-": "sub", "*": "mul", "/": "div"}[sym])
    if choice == "where" and any(lf.kind in ("f", "i") and lf.rank > 0 for lf in env.leaves):
        c = cond_ex(draw, env)
        a = float_ex(draw, env, depth - 1)
        b = float_ex(draw, env, depth - 1) if draw(st.booleans()) else number_ex(draw)
        return _mk(f"td.where({c.td}, {a.td}, {b.td})", f"torch.where({c.pt}, {a.pt}, {b.pt})", "f",
                   max(a.bound, b.bound), (c, a, b), "where")
    if choice == "clamp":
        a = float_ex(draw, env, depth - 1)
        lo, hi = (float_ex(draw, env, depth - 1) if draw(st.booleans()) else number_ex(draw) for _ in "lh")
        return clamp_ex(a, lo, hi, "f")
    if choice == "cast":
        return _cast(draw, float_ex(draw, env, depth - 1))
    if choice == "int":
        i = int_ex(draw, env, depth - 1)
        if i is None:
            return float_leaf(draw, env)
        if draw(st.booleans()):
            return _int_to_float(i)
        a = float_ex(draw, env, depth - 1)
        return _mk(f"({a.td} + {i.td})", f"({a.pt} + {i.pt})", "f", a.bound + i.bound, (a, i), "mixed-int-float")
    if choice == "reduce" and env.reductions:
        return reduce_keepdims(draw, float_ex(draw, env, depth - 1))
    return float_leaf(draw, env)


def clamp_ex(a: Ex, lo: Ex, hi: Ex, kind: str) -> Ex:
    """td.clamp(a, lo, hi): lo may exceed hi (then hi). torch.clamp takes tensor bounds or number
    bounds, not one of each: numbers become 0-d tensors, which promote as numbers do."""
    args = ", ".join(f"torch.as_tensor({e.pt})" for e in (a, lo, hi))
    return _mk(f"td.clamp({a.td}, {lo.td}, {hi.td})", f"torch.clamp({args})", kind,
               max(a.bound, lo.bound, hi.bound), (a, lo, hi), "clamp" if kind == "f" else "int-clamp")


def float_leaf(draw, env: Env) -> Ex:
    cands = [lf for lf in env.leaves if lf.kind in ("f", "f8", "n")]
    if not cands:
        cands = env.leaves
    lf = draw(st.sampled_from(cands))
    ex = leaf_ex(lf, draw)
    return _int_to_float(ex) if ex.kind == "i" else ex


def _int_to_float(i: Ex) -> Ex:
    """A float from an int expression: a cast for tensors; a Python number has no `.to`."""
    if i.rank == 0:
        return _mk(f"({i.td} * 1.0)", f"({i.pt} * 1.0)", "f", i.bound, (i,), "int-num-to-float")
    return _mk(f"{i.td}.to(td.float32)", f"{i.pt}.to(torch.float32)", "f", i.bound, (i,), "int-to-float")


def _cast(draw, a: Ex) -> Ex:
    if a.rank == 0:  # a number has no `.to`: td.cast
        name = draw(st.sampled_from(sorted(FLOAT_CASTS)))
        if a.bound > FLOAT_CASTS[name]:
            return a
        return _mk(f"td.cast({a.td}, td.{name})", f"torch.as_tensor({a.pt}).to(torch.{name})", "f", a.bound * 1.01,
                   (a,), "cast-number", frozenset({name}))
    if draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from(sorted(FP8_CASTS)))
        tname, lim = FP8_CASTS[name]
        if a.bound <= lim:
            to = draw(st.sampled_from(["float32", "float16"]))
            return _mk(f"{_paren(a.td)}.to(td.{name}).to(td.{to})", f"{_paren(a.pt)}.to(torch.{tname}).to(torch.{to})",
                       "f", a.bound * 1.07, (a,), "cast-fp8", frozenset({name, to}))
    name = draw(st.sampled_from(sorted(FLOAT_CASTS)))
    if a.bound > FLOAT_CASTS[name]:
        return a
    return _mk(f"{_paren(a.td)}.to(td.{name})", f"{_paren(a.pt)}.to(torch.{name})", "f", a.bound * 1.01, (a,),
               f"cast-{name}", frozenset({name}))


def _paren(s: str) -> str:
    return s if s.startswith("(") and s.endswith(")") else f"({s})"


# prod: `_prod` (tests/fuzz/gen.py's REF_HELPERS) multiplies 16-bit floats in f32 and rounds once, as
# the language does; torch's CPU prod of f16/bf16 accumulates in the 16-bit type, in an order that
# depends on the layout (0.35 % off over 64 rows where the f32 product is within 0.04 %)
REDUCE_PT = {"sum": "torch.sum", "max": "torch.amax", "min": "torch.amin", "prod": "_prod",
             "argmax": "torch.argmax", "argmin": "torch.argmin"}


def prod_safe(a: Ex) -> Ex:
    """Factors in (0.9, 1.1): a product of 64 of them stays finite and well conditioned."""
    return _mk(f"(td.sigmoid({a.td}) * 0.2 + 0.9)", f"(torch.sigmoid({a.pt}) * 0.2 + 0.9)", "f", 1.1, (a,))


def reduction(draw, a: Ex, kind: str, keepdims: bool, allow_bad_axis: bool = False) -> tuple[Ex, bool]:
    """`td.<kind>(a, axis=..., keepdims=...)`; returns it and whether the axis is out of range."""
    rank = a.rank
    bad = allow_bad_axis and draw(st.integers(0, 24)) == 0
    axis = draw(st.sampled_from([rank, -rank - 1])) if bad else draw(st.integers(-rank, rank - 1))
    if kind == "prod":
        a = prod_safe(a)
    if kind == "sum" and a.bound * 64 > 3.0e4:
        a = _mk(f"td.tanh({a.td})", f"torch.tanh({a.pt})", "f", 1.0, (a,))
    kw = draw(st.sampled_from(["axis={}", "{}"])).format(axis)
    keep = ", keepdims=True" if keepdims else draw(st.sampled_from(["", ", keepdims=False"]))
    pkeep = ", keepdim=True" if keepdims else ""
    bound = a.bound * 64 if kind == "sum" else (a.bound if kind in ("max", "min") else 445.0 if kind == "prod" else 64)
    ex = _mk(f"td.{kind}({a.td}, {kw}{keep})", f"{REDUCE_PT[kind]}({a.pt}, dim={axis}{pkeep})",
             "i" if kind.startswith("arg") else a.kind, bound, (a,), f"red-{kind}", rank=rank if keepdims else rank - 1)
    tags = {f"axis{'-neg' if axis < 0 else ''}"} | ({"bad-axis"} if bad else set())
    return Ex(ex.td, ex.pt, ex.kind, ex.bound, ex.rank, ex.casts, ex.tags | tags, ex.has_nan), bad


def reduce_keepdims(draw, a: Ex) -> Ex:
    if a.rank == 0:
        return a
    kind = draw(st.sampled_from(["sum", "max", "min", "prod"]))
    return reduction(draw, a, kind, keepdims=True)[0]
