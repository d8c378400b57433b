"""Hypothesis strategies of whole kernels: tiledsl module source, the torch oracle's source, and
several calls of the one kernel object with different shapes, dtypes and constexprs.

Level 1 returns whole-tensor expressions (broadcasting, reductions with every axis form, casts,
Python numbers, a compile-time number loop and constexprs). Level 2 writes `td.grid` tile
programs over ragged shapes with masks, carrying numbers and tiles through runtime loops and
branches (see `tests/fuzz/level2.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hypothesis import strategies as st

from tests.fuzz.expr import Env, Ex, Leaf, float_ex, float_leaf, int_ex, reduction

FLOAT_DTYPES = ("float32", "float16", "bfloat16")
INT_DTYPES = ("int8", "int32")
FP8_DTYPES = ("float8_e4m3", "float8_e5m2")
SIZES = (1, 2, 3, 5, 8, 17, 33, 64)
SIZES_3D = (1, 2, 3, 5, 8, 17)


@dataclass
class Call:
    """One call: positional argument specs and keyword argument specs (see `harness.make_arg`)."""

    args: list
    kwargs: dict = field(default_factory=dict)


@dataclass
class Case:
    level: int
    source: str  # a module defining the @td.kernel `kern`
    ref: str  # a module defining `ref(...)` with the same parameters, computing with torch
    calls: list
    outputs: list  # level 2: indices of positional args whose contents are the results
    casts: list  # dtypes the program casts to (they widen the tolerance)
    tags: list

    def to_dict(self) -> dict:
        return {"level": self.level, "source": self.source, "ref": self.ref,
                "calls": [{"args": c.args, "kwargs": c.kwargs} for c in self.calls],
                "outputs": self.outputs, "casts": self.casts, "tags": self.tags}

    @classmethod
    def from_dict(cls, d: dict) -> Case:
        return cls(d["level"], d["source"], d["ref"], [Call(c["args"], c["kwargs"]) for c in d["calls"]],
                   d["outputs"], d["casts"], d["tags"])


def tensor_spec(draw, shape, kind: str, nan: bool, rank_layouts: bool = True) -> dict:
    dtype = draw(st.sampled_from({"f": FLOAT_DTYPES, "i": INT_DTYPES, "f8": FP8_DTYPES}[kind]))
    layouts = ["contig", "contig", "strided"] + (["T"] if len(shape) >= 2 and rank_layouts else [])
    return {"kind": "tensor", "shape": list(shape), "dtype": dtype, "layout": draw(st.sampled_from(layouts)),
            "seed": draw(st.integers(0, 2**16)), "nan": nan and kind == "f"}


def call_tags(calls: list) -> set[str]:
    """Tags of how a case calls its kernel: several calls, constexprs passed positionally."""
    tags = {"multi-call"} if len(calls) > 1 else set()
    if any(a.get("cx") for c in calls for a in c.args):
        tags.add("cx-positional")
    return tags


def vary_constexprs(draw, calls: list, names: list[str], change) -> list:
    """Sometimes append a call with the last call's tensors and new constexpr values, passed the
    same way (positionally or by keyword): the compiled kernel must not be reused."""
    if not calls or draw(st.integers(0, 2)):
        return calls
    last = calls[-1]
    cx_pos = [i for i, a in enumerate(last.args) if a.get("cx")]
    if not cx_pos and not last.kwargs:
        return calls
    args = [dict(a, value=change(a["value"])) if a.get("cx") else a for a in last.args]
    kwargs = {k: dict(v, value=change(v["value"])) for k, v in last.kwargs.items()}
    return calls + [Call(args, kwargs)]


# --- level 1 -------------------------------------------------------------------------------------

@st.composite
def level1_case(draw) -> Case:
    rank = draw(st.integers(1, 3))
    n_t = draw(st.integers(1, 3))
    nan = draw(st.integers(0, 5)) == 0
    # per tensor: kind, rank (right-aligned broadcasting), which dims are kept at size 1
    tensors = []
    for k in range(n_t):
        kind = draw(st.sampled_from(["f", "f", "f", "i", "f8"])) if k else "f"
        r = rank if k == 0 else draw(st.integers(1, rank))
        ones = tuple(draw(st.integers(0, 7)) == 0 for _ in range(r))  # a broadcast (size-1) axis
        tensors.append((f"a{k}", kind, r, ones))
    leaves = [Leaf(n, n, kind, 8.0 if kind == "i" else 3.0, r, nan and kind == "f") for n, kind, r, _ in tensors]
    params, pre_td, pre_pt, tags = [], [], [], set()
    scalars = draw(st.sampled_from(["", "s", "sk", "C", "sC"]))
    if "s" in scalars:
        leaves.append(Leaf("s", "s", "n", 2.0, 0))
    if "k" in scalars:
        leaves.append(Leaf("k", "k", "i", 4.0, 0))
    if "C" in scalars:
        leaves.append(Leaf("C", "C", "n", 4.0, 0))
    if draw(st.integers(0, 3)) == 0:  # a number carried through a compile-time loop
        n_it = draw(st.sampled_from(["3", "C"])) if "C" in scalars else "3"
        step = draw(st.sampled_from(["c0 = c0 * 0.5 + q", "c0 = c0 + 1", "q = q * 2\n        c0 = c0 + q"]))
        body = "\n".join("        " + ln.strip() for ln in step.split("\n"))
        after = draw(st.booleans())
        # a loop variable read after a runtime loop must be bound before it (docs/language.md)
        bind = ["    q = 0"] if after else []
        for out in (pre_td, pre_pt):
            out += ["    c0 = 1.0", *bind, f"    for q in range({n_it}):", body]
        if after:
            for out in (pre_td, pre_pt):
                out.append("    c0 = c0 + q")  # the loop variable after the loop (range is never empty)
            tags.add("loopvar-after")
        leaves.append(Leaf("c0", "c0", "n", 40.0, 0))
        tags.add("const-loop")
    env = Env(leaves, reductions=True)
    root, bad_axis = _l1_root(draw, env)
    if root.rank == 0:
        root = Ex(f"({root.td} + {tensors[0][0]})", f"({root.pt} + {tensors[0][0]})", root.kind, root.bound,
                  tensors[0][2], root.casts, root.tags)
    ret_td, ret_pt = f"    return {root.td}\n", f"    return {root.pt}\n"
    if root.kind == "f" and draw(st.integers(0, 3)) == 0:  # names: an alias rebound keeps the original
        step = draw(st.sampled_from([("v = v + 1.0", "v = v + 1.0"), ("v += 1.0", "v = v + 1.0"),
                                     ("v = td.abs(v)", "v = torch.abs(v)")]))
        ret_td = f"    u = {root.td}\n    v = u\n    {step[0]}\n    return v + u\n"
        ret_pt = f"    u = {root.pt}\n    v = u\n    {step[1]}\n    return v + u\n"
        tags.add("alias")
    used = [t for t in tensors if _uses(root.td, t[0])] or tensors[:1]
    for name, *_ in used:
        params.append(f"{name}: td.Tensor")
    if "s" in scalars and _uses(root.td + "\n".join(pre_td), "s"):
        params.append("s: float")
    if "k" in scalars and _uses(root.td, "k"):
        params.append("k: int")
    use_c = "C" in scalars and _uses(root.td + "\n".join(pre_td), "C")
    if use_c:
        params.append("C: td.constexpr")
    sig = ", ".join(params)
    source = ("import tiledsl as td\n\n\n@td.kernel\n"
              f"def kern({sig}):\n" + "".join(ln + "\n" for ln in pre_td) + ret_td)
    ref = ("import torch\n\n\n" + SOFTMAX_REF +
           f"def ref({', '.join(p.split(':')[0] for p in params)}):\n"
           + "".join(ln + "\n" for ln in pre_pt) + ret_pt)
    calls = [_l1_call(draw, rank, used, "s: float" in params, "k: int" in params, use_c, nan)
             for _ in range(draw(st.integers(1, 3)))]
    calls = vary_constexprs(draw, calls, ["C"], lambda v: (v + 1) % 5)
    tags |= set(root.tags) | ({"bad-axis"} if bad_axis else set()) | {f"rank{rank}"} | call_tags(calls)
    return Case(1, source, ref, calls, [], sorted(root.casts), sorted(tags))


SOFTMAX_REF = """def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def _prod(x, dim, keepdim=False):
    # 16-bit floats multiply in f32 and round once (docs/language.md "Numerics"); torch's CPU
    # prod of f16/bf16 accumulates in the 16-bit type instead
    wide = x.float() if x.is_floating_point() and x.element_size() < 4 else x
    return torch.prod(wide, dim=dim, keepdim=keepdim).to(x.dtype)


"""


def _uses(text: str, name: str) -> bool:
    return re.search(rf"\b{name}\b", text) is not None


def _l1_root(draw, env: Env) -> tuple[Ex, bool]:
    how = draw(st.sampled_from(["expr", "expr", "reduce", "reduce", "arg", "int", "bool", "softmax"]))
    depth = draw(st.integers(1, 3))
    if how == "int":
        i = int_ex(draw, env, depth)
        if i is not None:
            return i, False
    if how == "bool":
        from tests.fuzz.expr import cond_ex

        return cond_ex(draw, env), False
    a = float_ex(draw, env, depth)
    if how == "softmax" and draw(st.booleans()):
        a = float_leaf(draw, env)
    if a.rank == 0 or how == "expr":
        return a, False
    if how == "softmax":
        return _softmax(draw, a)
    kind = draw(st.sampled_from(["argmax", "argmin"])) if how == "arg" else \
        draw(st.sampled_from(["sum", "max", "min", "prod", "sum", "max"]))
    # a rank-1 result keeps its axis: a 0-d torch tensor would not promote like tiledsl's value
    return reduction(draw, a, kind, keepdims=a.rank == 1 or draw(st.booleans()), allow_bad_axis=True)


def _softmax(draw, a: Ex) -> tuple[Ex, bool]:
    """The brief's softmax along one axis. Each op rounds once to the input's dtype (16-bit
    exp and sums compute in f32), so the oracle is the same formula op by op in torch."""
    axis = draw(st.integers(-a.rank, a.rank - 1))
    td_ = (f"td.exp({a.td} - td.max({a.td}, axis={axis}, keepdims=True))")
    text = f"(({td_}) / td.sum({td_}, axis={axis}, keepdims=True))"
    pt = f"_softmax({a.pt}, {axis})"
    return Ex(text, pt, "f", 1.0, a.rank, a.casts, a.tags | {"softmax"}, a.has_nan), False


def _l1_call(draw, rank: int, used, has_s: bool, has_k: bool, has_c: bool, nan: bool) -> Call:
    pool = SIZES if rank <= 2 else SIZES_3D
    dims = [draw(st.sampled_from(pool)) for _ in range(rank)]
    args = []
    for _name, kind, r, ones in used:
        shape = [1 if one else d for one, d in zip(ones, dims[rank - r:])]
        args.append(tensor_spec(draw, shape, kind, nan=nan and draw(st.booleans())))
    if has_s:
        args.append({"kind": "num", "value": draw(st.sampled_from([0.5, -1.5, 2.0, 0.0]))})
    if has_k:
        args.append({"kind": "num", "value": draw(st.integers(-3, 4))})
    kwargs = {}
    if has_c:
        c = {"kind": "num", "value": draw(st.integers(0, 4))}
        if draw(st.booleans()):
            args.append(dict(c, cx=True))
        else:
            kwargs["C"] = c
    return Call(args, kwargs)


def case(level: int | str | None = None):
    """Cases of one kind: level 1 expressions, level 2 tile programs, "ops" (dot, atomics,
    gathers, cumsum, casts, integer division, helpers, scalars, level 3: tests/fuzz/ops.py); or all."""
    from tests.fuzz.level2 import level2_case
    from tests.fuzz.ops import ops_case

    kinds = {1: level1_case, 2: level2_case, "ops": ops_case}
    if level is not None:
        return kinds[level]()
    return st.one_of(level1_case(), level2_case(), ops_case())
