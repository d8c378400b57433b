"""Level-2 cases: `with td.grid(...)` tile programs over ragged shapes, and their torch oracles.

Two templates:
- "map": a 2-D grid of (BM, BN) tiles; a masked load of x0 plus a row vector x1 and a column
  vector x2, an elementwise expression, then "stanzas" that carry numbers and tiles through
  runtime loops (`range(n)`, `range(K)` with K a constexpr), runtime `if`s on a number argument
  or a loaded scalar, compile-time loops over tuples and constexpr `if`s, loop variables
  reassigned in the body and read after the loop; a masked store (sometimes with an extra
  condition, sometimes with no mask: stores past the edge are skipped).
- "reduce": a 1-D grid over row (or column) blocks that walks the other axis in chunks of BN (BM)
  and folds `td.sum/max/min` of each chunk into an accumulator; or one chunk reduced with
  `td.argmax/argmin`.
The oracle replays the same statements with torch on whole tensors (same chunking), so Python's
rules for numbers (`0.0 + f16 tile` is f16) are the same on both sides.
"""

from __future__ import annotations

from hypothesis import strategies as st

from tests.fuzz.expr import Env, Ex, Leaf, cond_ex, float_ex, leaf_ex
from tests.fuzz.gen import Call, Case, call_tags, tensor_spec, vary_constexprs

SIZES = (1, 2, 3, 5, 16, 17, 33, 64)
BLOCKS = (1, 2, 4, 8, 16, 32, 64)
MASKS = {  # name -> tiledsl text; r, c are the global row / column indices of the tile
    "and": "(r < M)[:, None] & (c < N)[None, :]",
    "or-not": "~((r >= M)[:, None] | (c >= N)[None, :])",
    "cmp-bcast": "(r[:, None] < M) & (c[None, :] < N)",
    "and-not": "(r < M)[:, None] & ~(c >= N)[None, :]",
}


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


class Lines:
    """Statements emitted twice, for the kernel (tiledsl) and for the oracle (torch)."""

    def __init__(self):
        self.td: list[str] = []
        self.pt: list[str] = []
        self.tags: set[str] = set()

    def both(self, ind: int, text: str, pt: str | None = None) -> None:
        self.td.append(" " * ind + text)
        self.pt.append(" " * (ind - 4) + (text if pt is None else pt))  # the oracle has no `with`


def _range(draw, lo_zero_ok: bool = True) -> tuple[str, str]:
    """A loop range that may be empty (lo_zero_ok) or not, and its tag."""
    if lo_zero_ok:
        return draw(st.sampled_from([("range(n)", "range-n"), ("range(K)", "range-K"), ("range(2)", "range-lit"),
                                     ("range(1, n + 1)", "range-lo-hi"), ("range(0, n, 2)", "range-step")]))
    return draw(st.sampled_from([("range(n + 1)", "range-n"), ("range(K + 1)", "range-K"), ("range(3)", "range-lit")]))


def _stanza(draw, out: Lines, cur: str, nxt: str, ind: int) -> float:
    """Statements computing tile `nxt` from tile `cur`; returns the factor the bound grows by."""
    kind = draw(st.sampled_from(["loop-sum", "loop-num", "loopvar-reassign", "loopvar-after", "if-flag",
                                 "if-load", "tuple-loop", "constexpr-if", "alias"]))
    out.tags.add(kind)
    if kind == "loop-sum":
        rng, tag = _range(draw)
        init_td, init_pt = draw(st.sampled_from([("0.0", "0.0"), ("0", "0"),
                                                 ("td.zeros((BM, BN), td.float32)", "torch.zeros((M, N), dtype=torch.float32)")]))
        term = draw(st.sampled_from([cur, f"{cur} * q", f"{cur} * 0.5", "q"]))
        op = draw(st.sampled_from(["+=", "= acc +"]))
        out.tags |= {tag, f"init-{init_pt[:4]}"}
        out.both(ind, f"acc = {init_td}", f"acc = {init_pt}")
        out.both(ind, f"for q in {rng}:")
        out.both(ind + 4, f"acc {op} {term}" if op == "+=" else f"acc {op} {term}", f"acc = acc + {term}")
        out.both(ind, f"{nxt} = {cur} + acc")
        return 8.0
    if kind == "loop-num":
        rng, tag = _range(draw)
        step = draw(st.sampled_from(["f = f * 0.5", "f = f + 0.25", "f = f * 0.5 + q"]))
        out.tags.add(tag)
        out.both(ind, "f = 1.0")
        out.both(ind, f"for q in {rng}:")
        out.both(ind + 4, step)
        out.both(ind, f"{nxt} = {cur} * f")
        return 4.0
    if kind == "loopvar-reassign":
        rng, tag = _range(draw)
        out.tags.add(tag)
        out.both(ind, "z = 0")
        out.both(ind, f"for q in {rng}:")
        out.both(ind + 4, draw(st.sampled_from(["q = q * 2 + 1", "q = q - 1", "q += 3"])))
        out.both(ind + 4, "z = z + q")
        out.both(ind, f"{nxt} = {cur} + z")
        return 1.0 + 12.0
    if kind == "loopvar-after":
        rng, tag = _range(draw, lo_zero_ok=False)
        out.tags.add(tag)
        out.both(ind, "w = 0.0")
        out.both(ind, "q = 0")  # read after the runtime loop: bound before it (docs/language.md)
        out.both(ind, f"for q in {rng}:")
        out.both(ind + 4, draw(st.sampled_from(["w = w + 0.5", f"w = w + {cur} * 0.25"])))
        out.both(ind, f"{nxt} = {cur} + q + w")
        return 6.0
    if kind == "if-flag":
        then = draw(st.sampled_from([f"{cur} * 2.0", "2.5", f"{cur} - s", "-1"]))
        out.both(ind, "v = 1.5")
        out.both(ind, draw(st.sampled_from(["if flag > 0:", "if flag:", "if flag == 2:"])))
        out.both(ind + 4, f"v = {then}")
        if draw(st.booleans()):
            out.both(ind, "else:")
            out.both(ind + 4, draw(st.sampled_from(["v = -0.5", f"v = {cur} * 0.5"])))
        out.both(ind, f"{nxt} = {cur} + v")
        return 4.0
    if kind == "if-load":
        out.both(ind, "sv = td.load(sc, (0,))", "sv = sc[0]")
        out.both(ind, f"{nxt} = {cur}")
        out.both(ind, draw(st.sampled_from(["if sv > 0.0:", "if sv < 0.5:"])))
        out.both(ind + 4, f"{nxt} = {cur} * -1.0")
        return 1.0
    if kind == "alias":  # a second name for a tile, then rebound: the first name keeps its value
        out.both(ind, f"w2 = {cur}")
        out.both(ind, draw(st.sampled_from(["w2 = w2 * 0.5", "w2 += 1.0", "w2 = td.abs(w2)"])),
                 None)
        out.pt[-1] = out.pt[-1].replace("td.abs", "torch.abs").replace("w2 += 1.0", "w2 = w2 + 1.0")
        out.both(ind, f"{nxt} = w2 + {cur}")
        return 2.0
    if kind == "tuple-loop":
        out.both(ind, f"u = {cur}")
        out.both(ind, f"for wt in {draw(st.sampled_from(['(0.5, 2.0)', '(1, 2, 3)', '(0.25,)']))}:")
        out.both(ind + 4, "u = u * 0.5 + wt")
        out.both(ind, f"{nxt} = u")
        return 2.0
    out.both(ind, draw(st.sampled_from(["if K > 1:", "if K:", "if K == 0:"])))
    out.both(ind + 4, f"{nxt} = {cur} * 2.0")
    out.both(ind, "else:")
    out.both(ind + 4, f"{nxt} = {cur} - 1.0")
    return 2.0


def _finish(lines: Lines, head_td: list[str], head_pt: list[str], params: list[str]) -> tuple[str, str, list[str]]:
    """Both modules, declaring only the parameters the kernel reads."""
    import re

    body = "\n".join(head_td + lines.td)
    used = [p for p in params if re.search(rf"\b{p.split(':')[0]}\b", body)]
    src = ("import tiledsl as td\n\nNEG_INF = float(\"-inf\")\nPOS_INF = float(\"inf\")\n\n\n@td.kernel\n"
           f"def kern({', '.join(used)}):\n" + "\n".join(head_td + lines.td) + "\n")
    names = [p.split(":")[0] for p in used]
    ref = ("import torch\n\nNEG_INF = float(\"-inf\")\nPOS_INF = float(\"inf\")\n\n\n"
           "def _t(a, like):\n    return a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=like.dtype)\n\n\n"
           f"def ref({', '.join(names)}):\n" + "\n".join(head_pt + lines.pt) + "\n    return out\n")
    return src, ref, names


@st.composite
def level2_case(draw) -> Case:
    return draw(map_case()) if draw(st.integers(0, 2)) else draw(reduce_case())


@st.composite
def map_case(draw) -> Case:
    kinds = {"x0": draw(st.sampled_from(["f", "f", "i", "f8"])), "x1": draw(st.sampled_from(["f", "i"])),
             "x2": draw(st.sampled_from(["f", "f8"]))}
    nan = draw(st.integers(0, 5)) == 0
    leaves = [Leaf("t0", "t0", kinds["x0"], 8.0 if kinds["x0"] == "i" else 3.0, 2, nan),
              Leaf("t1", "t1", kinds["x1"], 8.0 if kinds["x1"] == "i" else 3.0, 2),
              Leaf("t2", "t2", kinds["x2"], 3.0, 2), Leaf("s", "s", "n", 2.0, 0)]
    env = Env(leaves)
    e = float_ex(draw, env, draw(st.integers(0, 2)))
    if "t0" not in e.td:
        t0 = leaf_ex(leaves[0], draw)
        if t0.kind == "i":
            t0 = Ex(f"{t0.td}.to(td.float32)", f"{t0.pt}.to(torch.float32)", "f", 8.0, 2)
        e = Ex(f"({e.td} + {t0.td})", f"({e.pt} + {t0.pt})", "f", e.bound + t0.bound, 2, e.casts | t0.casts, e.tags)
    if e.bound > 20:
        e = Ex(f"td.tanh({e.td})", f"torch.tanh({e.pt})", "f", 1.0, 2, e.casts, e.tags)
    mask = draw(st.sampled_from(sorted(MASKS) + ["none"] * 3))  # Triton rejects &|~ masks on main
    lines = Lines()
    lines.tags |= set(e.tags) | {f"mask-{mask}"}
    lines.both(8, f"v0 = {e.td}", f"v0 = {e.pt}")
    cur = "v0"
    for k in range(draw(st.integers(0, 2))):
        _stanza(draw, lines, cur, f"v{k + 1}", 8)
        cur = f"v{k + 1}"
    extra = cond_ex(draw, env) if draw(st.integers(0, 3)) == 0 else None
    smask = "mask" if mask != "none" else None
    if extra is not None:
        smask = f"{smask} & {extra.td}" if smask else extra.td
        lines.tags.add("store-cond")
    tail = f", mask={smask}" if smask else ""
    lines.td.append(f"        td.store(out, (i * BM, j * BN), {cur}.to(out.dtype){tail})")
    keep = extra.pt if extra is not None else "torch.ones((M, N), dtype=torch.bool)"
    lines.pt.append(f"    out.copy_(torch.where(torch.broadcast_to({keep}, (M, N)), "
                    f"torch.broadcast_to({cur}.to(out.dtype), (M, N)), out))")
    head_td = ["    M, N = out.shape",
               "    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):",
               "        r = i * BM + td.arange(0, BM)",
               "        c = j * BN + td.arange(0, BN)"]
    other = "0" if kinds["x0"] != "f" else draw(st.sampled_from(["0", "0.0", "1.0"]))
    if mask == "none":
        head_td.append("        t0 = td.load(x0, (i * BM, j * BN), (BM, BN))")
    else:
        head_td += [f"        mask = {MASKS[mask]}",
                    f"        t0 = td.load(x0, (i * BM, j * BN), (BM, BN), mask=mask, other={other})"]
    body = "\n".join(lines.td)
    head_pt = ["    M, N = out.shape", "    t0 = x0"]
    if "t1" in body:
        head_td.append("        t1 = td.load(x1, (j * BN,), (BN,)" + (", mask=c < N" if draw(st.booleans()) else "")
                       + ")[None, :]")
        head_pt.append("    t1 = x1[None, :]")
    if "t2" in body:
        head_td.append("        t2 = td.load(x2, (i * BM,), (BM,)" + (", mask=r < M" if draw(st.booleans()) else "")
                       + ")[:, None]")
        head_pt.append("    t2 = x2[:, None]")
    params = ["x0: td.Tensor", "x1: td.Tensor", "x2: td.Tensor", "sc: td.Tensor", "out: td.Tensor",
              "n: int", "flag: int", "s: float", "BM: td.constexpr", "BN: td.constexpr", "K: td.constexpr"]
    src, ref, names = _finish(lines, head_td, head_pt, params)
    calls = [_map_call(draw, names, kinds, nan) for _ in range(draw(st.integers(1, 3)))]
    calls = vary_constexprs(draw, calls, names, _bigger)
    return Case(2, src, ref, calls, [names.index("out")], sorted(e.casts), sorted(lines.tags | {"map"} | call_tags(calls)))


def _bigger(v: int) -> int:
    """Another valid value of a block size (BM, BN: twice, up to 64) or of K (0..3)."""
    if v in (0, 3):
        return 1 if v == 0 else 2
    return v * 2 if v * 2 <= 64 else v


def _blocks(draw, m: int, n: int) -> tuple[int, int]:
    """Block sizes with at most 8 programs (or chunks) per axis, so a call stays fast."""
    bm = draw(st.sampled_from([b for b in BLOCKS if -(-m // b) <= 8]))
    bn = draw(st.sampled_from([b for b in BLOCKS if -(-n // b) <= 8]))
    return bm, bn


def _constexprs(draw, names: list[str], values: dict) -> tuple[list, dict]:
    """Constexprs positionally (all, or a prefix) and the rest by keyword."""
    cx = [n for n in names if n in values]
    n_pos = draw(st.integers(0, len(cx)))
    pos = [{"kind": "num", "value": values[n], "cx": True} for n in cx[:n_pos]]
    kw = {n: {"kind": "num", "value": values[n]} for n in cx[n_pos:]}
    return pos, kw


def _map_call(draw, names: list[str], kinds: dict, nan: bool) -> Call:
    m, n = draw(st.sampled_from(SIZES)), draw(st.sampled_from(SIZES))
    bm, bn = _blocks(draw, m, n)
    specs = {"x0": tensor_spec(draw, (m, n), kinds["x0"], nan and draw(st.booleans())),
             "x1": tensor_spec(draw, (n,), kinds["x1"], False),
             "x2": tensor_spec(draw, (m,), kinds["x2"], False),
             "sc": tensor_spec(draw, (2,), "f", False),
             "out": {"kind": "tensor", "shape": [m, n], "dtype": draw(st.sampled_from(["float32", "float16", "bfloat16"])),
                     "layout": draw(st.sampled_from(["contig", "contig", "T"])), "seed": 1, "fill": -7.0},
             "n": {"kind": "num", "value": draw(st.integers(0, 3))},
             "flag": {"kind": "num", "value": draw(st.integers(-1, 2))},
             "s": {"kind": "num", "value": draw(st.sampled_from([0.5, -1.5, 2.0]))}}
    args = [specs[nm] for nm in names if nm in specs]
    pos, kw = _constexprs(draw, names, {"BM": bm, "BN": bn, "K": draw(st.integers(0, 3))})
    return Call(args + pos, kw)


REDUCE = {  # kind -> (identity for padding, accumulator init (tile, number), combine)
    "sum": ("0.0", ("td.zeros((B,), td.float32)", "torch.zeros((L,), dtype=torch.float32)"), "0.0",
            "acc + td.sum(v, axis=AX)", "acc + torch.sum(v, dim=AX)"),
    "max": ("NEG_INF", ("td.full((B,), NEG_INF, td.float32)", "torch.full((L,), NEG_INF)"), "NEG_INF",
            "td.maximum(acc, td.max(v, axis=AX))", "torch.maximum(_t(acc, v), torch.amax(v, dim=AX))"),
    "min": ("POS_INF", ("td.full((B,), POS_INF, td.float32)", "torch.full((L,), POS_INF)"), "POS_INF",
            "td.minimum(acc, td.min(v, axis=AX))", "torch.minimum(_t(acc, v), torch.amin(v, dim=AX))"),
}


@st.composite
def reduce_case(draw) -> Case:
    kind = draw(st.sampled_from(["sum", "max", "min", "sum", "argmax", "argmin"]))
    ax = draw(st.integers(0, 1))
    axs = draw(st.sampled_from([str(ax), str(ax - 2)]))
    xkind = draw(st.sampled_from(["f", "f", "f8", "i"]))
    nan = draw(st.integers(0, 3)) == 0
    leaves = [Leaf("t0", "t0", xkind, 8.0 if xkind == "i" else 3.0, 2, nan), Leaf("s", "s", "n", 2.0, 0)]
    env = Env(leaves)
    if kind.startswith("arg"):
        t0 = leaf_ex(leaves[0], draw)
        tf = t0 if t0.kind == "f" else Ex(f"{t0.td}.to(td.float32)", f"{t0.pt}.to(torch.float32)", "f", 8.0, 2)
        e = draw(st.sampled_from([tf, Ex(f"(-{tf.td})", f"(-{tf.pt})", "f", 8, 2, tf.casts),
                                  Ex(f"({tf.td} * s)", f"({tf.pt} * s)", "f", 16, 2, tf.casts)]))
    else:
        e = float_ex(draw, env, draw(st.integers(0, 2)))
        if "t0" not in e.td:
            t0 = leaf_ex(leaves[0], draw)
            tf = t0 if t0.kind == "f" else Ex(f"{t0.td}.to(td.float32)", f"{t0.pt}.to(torch.float32)", "f", 8.0, 2)
            e = Ex(f"({e.td} + {tf.td})", f"({e.pt} + {tf.pt})", "f", e.bound + 8, 2, e.casts | tf.casts, e.tags)
    mask = draw(st.sampled_from(sorted(MASKS)))
    lines = Lines()
    lines.tags |= set(e.tags) | {f"mask-{mask}", f"reduce-{kind}", f"axis{axs}"}
    outer, inner = ("i", "c0") if ax == 1 else ("j", "r0")
    big, small = ("BM", "BN") if ax == 1 else ("BN", "BM")
    length = "M" if ax == 1 else "N"
    head_td = ["    M, N = x0.shape", f"    with td.grid(td.cdiv({length}, {big})) as {outer}:"]
    head_pt = ["    M, N = x0.shape"]
    own = f"{'r' if ax == 1 else 'c'} = {outer} * {big} + td.arange(0, {big})"
    head_td.append("        " + own)
    if kind.startswith("arg"):
        walk = "c = td.arange(0, BN)" if ax == 1 else "r = td.arange(0, BM)"
        offs = "(i * BM, 0)" if ax == 1 else "(0, j * BN)"
        lines.td.append(f"        {walk}")
        lines.td.append(f"        mask = {MASKS[mask]}")
        lines.td.append(f"        t0 = td.load(x0, {offs}, (BM, BN), mask=mask, other=0)")
        ident = "NEG_INF" if kind == "argmax" else "POS_INF"
        lines.td.append(f"        v = td.where(mask, {e.td}, {ident})")
        lines.td.append(f"        idx = td.{kind}(v, axis={axs})")
        lines.td.append(f"        td.store(out, ({outer} * {big},), idx.to(out.dtype), mask={own.split(' = ')[0]} < {length})")
        lines.pt += ["    t0 = x0", f"    out.copy_(torch.{kind}({e.pt}, dim={axs}).to(out.dtype))"]
    else:
        ident, (init_t, init_p), init_n, comb_t, comb_p = REDUCE[kind]
        as_number = draw(st.integers(0, 2)) == 0
        lines.tags.add("acc-number" if as_number else "acc-tile")
        lines.td.append("        acc = " + (init_n if as_number else init_t.replace("B", big)))
        lines.pt.append("    acc = " + (init_n if as_number else init_p.replace("L", length)))
        lines.td.append(f"        for {inner} in range(0, {'N' if ax == 1 else 'M'}, {small}):")
        lines.pt.append(f"    for {inner} in range(0, {'N' if ax == 1 else 'M'}, {small}):")
        walk = "c = c0 + td.arange(0, BN)" if ax == 1 else "r = r0 + td.arange(0, BM)"
        offs = "(i * BM, c0)" if ax == 1 else "(r0, j * BN)"
        lines.td += [f"            {walk}", f"            mask = {MASKS[mask]}",
                     f"            t0 = td.load(x0, {offs}, (BM, BN), mask=mask, other=0)",
                     f"            v = td.where(mask, {e.td}, {ident})",
                     f"            acc = {comb_t.replace('AX', axs)}"]
        sl = "x0[:, c0:c0 + BN]" if ax == 1 else "x0[r0:r0 + BM, :]"
        lines.pt += [f"        t0 = {sl}", f"        v = {e.pt}", f"        acc = {comb_p.replace('AX', axs)}"]
        lines.td.append(f"        td.store(out, ({outer} * {big},), acc.to(out.dtype), mask={own.split(' = ')[0]} < {length})")
        lines.pt.append("    out.copy_(torch.broadcast_to(torch.as_tensor(acc).to(out.dtype), out.shape))")
    params = ["x0: td.Tensor", "out: td.Tensor", "s: float", "BM: td.constexpr", "BN: td.constexpr"]
    src, ref, names = _finish(lines, head_td, head_pt, params)
    calls = [_reduce_call(draw, names, kind, ax, xkind, nan) for _ in range(draw(st.integers(1, 3)))]
    calls = vary_constexprs(draw, calls, names, _bigger)
    return Case(2, src, ref, calls, [names.index("out")], sorted(e.casts), sorted(lines.tags | {"reduce"} | call_tags(calls)))


def _reduce_call(draw, names: list[str], kind: str, ax: int, xkind: str, nan: bool) -> Call:
    m, n = draw(st.sampled_from(SIZES)), draw(st.sampled_from(SIZES))
    bm, bn = _blocks(draw, m, n)
    if kind.startswith("arg"):  # one chunk covers the reduced axis
        if ax == 1:
            bn = draw(st.sampled_from([b for b in BLOCKS if b >= _pow2_at_least(n)]))
        else:
            bm = draw(st.sampled_from([b for b in BLOCKS if b >= _pow2_at_least(m)]))
    out_len = m if ax == 1 else n
    out_dt = draw(st.sampled_from(["int32", "int64"] if kind.startswith("arg") else ["float32", "float16", "bfloat16"]))
    specs = {"x0": tensor_spec(draw, (m, n), xkind, nan and draw(st.booleans())),
             "out": {"kind": "tensor", "shape": [out_len], "dtype": out_dt, "layout": "contig", "seed": 1,
                     "fill": -7.0},
             "s": {"kind": "num", "value": draw(st.sampled_from([0.5, -1.5, 2.0]))}}
    args = [specs[nm] for nm in names if nm in specs]
    pos, kw = _constexprs(draw, names, {"BM": bm, "BN": bn})
    return Call(args + pos, kw)
