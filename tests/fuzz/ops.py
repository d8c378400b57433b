"""Cases for the constructs the expression templates leave out, one small kernel each: tile
`td.dot` (fp32/fp16/bf16/fp8 operands, ragged M/N/K, masked and unmasked edge loads), level-1
`a @ b`, atomics (scatters with masks), gathers (level-1 `x[idx]` / `td.take`, level-2 loads with
an int-tile index), `td.cumsum`, casts through every dtype pair, integer `//` and `%` with
negative operands, `@td.func` helpers, runtime scalars of every type (int, int past 2**31,
float, bool) and level 3 (threads, shuffles, barriers: eager and ir only, Triton must reject).

Every case runs against eager (the harness's oracle); most also carry a torch oracle. Several
calls of one kernel object change dtypes, shapes and constexprs.
"""

from __future__ import annotations

from hypothesis import strategies as st

from tests.fuzz.gen import Call, Case, tensor_spec

HEAD = "import tiledsl as td\n\n\n"
REF_HEAD = "import torch\n\n\n"
TD_DT = {"float32": "td.float32", "float16": "td.float16", "bfloat16": "td.bfloat16", "float8_e4m3": "td.float8_e4m3",
         "float8_e5m2": "td.float8_e5m2", "int8": "td.int8", "int16": "td.int16", "int32": "td.int32",
         "int64": "td.int64", "uint8": "td.uint8", "bool": "td.bool_", "float64": "td.float64"}
PT_DT = {k: "torch." + ("float8_e4m3fn" if k == "float8_e4m3" else k) for k in TD_DT}
BIG = (1, 5, 16, 17, 33, 64, 100, 128)  # sizes on the axes that may reach 128


def _t(shape, dtype: str, seed: int, **extra) -> dict:
    return {"kind": "tensor", "shape": list(shape), "dtype": dtype, "layout": "contig", "seed": seed, **extra}


def _out(shape, dtype: str, fill: float = 0.0) -> dict:
    return {"kind": "tensor", "shape": list(shape), "dtype": dtype, "layout": "contig", "seed": 1, "fill": fill}


def _num(v) -> dict:
    return {"kind": "num", "value": v}


def _block(draw, n: int, choices=(16, 32, 64)) -> int:
    return draw(st.sampled_from([b for b in choices if -(-n // b) <= 8]))


# --- td.dot on tiles ------------------------------------------------------------------------------

EIGHT_BIT = ("int8", "float8_e4m3", "float8_e5m2")
DOT_STEPS = ["acc = td.dot(x, y, acc)", "acc += td.dot(x, y)", "acc = acc + td.dot(x, y)"]


@st.composite
def dot_case(draw) -> Case:
    step = draw(st.sampled_from(DOT_STEPS))
    masked, bt = draw(st.booleans()), draw(st.booleans())
    int8 = draw(st.integers(0, 4)) == 0  # int8 operands accumulate in i32
    km = "mask=(r < M)[:, None] & (kk < K)[None, :], other=0" if masked else ""
    if bt:  # b is (N, K): load a (BN, BK) tile and multiply by its transpose
        bload = f"td.load(b, (j * BN, k0), (BN, BK){', mask=(c < N)[:, None] & (kk < K)[None, :], other=0' if masked else ''}).T"
        nrow = "N = b.shape[0]"
    else:
        bload = f"td.load(b, (k0, j * BN), (BK, BN){', mask=(kk < K)[:, None] & (c < N)[None, :], other=0' if masked else ''})"
        nrow = "N = b.shape[1]"
    src = HEAD + f"""@td.kernel
def kern(a: td.Tensor, b: td.Tensor, out: td.Tensor, BM: td.constexpr, BN: td.constexpr, BK: td.constexpr):
    M, K = a.shape
    {nrow}
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        r = i * BM + td.arange(0, BM)
        c = j * BN + td.arange(0, BN)
        acc = td.zeros((BM, BN), {'td.int32' if int8 else 'td.float32'})
        for k0 in range(0, K, BK):
            kk = k0 + td.arange(0, BK)
            x = td.load(a, (i * BM, k0), (BM, BK){', ' + km if km else ''})
            y = {bload}
            {step}
        td.store(out, (i * BM, j * BN), acc.to(out.dtype), mask=(r < M)[:, None] & (c < N)[None, :])
"""
    up = "long" if int8 else "double"
    bb = f"b.{up}().T" if bt else f"b.{up}()"
    ref = REF_HEAD + f"def ref(a, b, out, BM, BN, BK):\n    out.copy_((a.{up}() @ {bb}).to(out.dtype))\n    return out\n"
    calls = []
    for _ in range(draw(st.integers(1, 3))):  # one kernel object, several dtypes and shapes
        dt = draw(st.sampled_from(["float32", "float16", "bfloat16", "float8_e4m3", "float8_e5m2"]))
        m, n, k = (draw(st.sampled_from(BIG)) for _ in range(3))
        if int8:
            dt = "int8"
        # 8-bit dots need a K tile of at least 32 on every target (the scheduler says so)
        bm, bn, bk = _block(draw, m), _block(draw, n), _block(draw, k, (32, 64) if dt in EIGHT_BIT else (16, 32, 64))
        sa = draw(st.integers(0, 2**16))
        lay = draw(st.sampled_from(["contig", "contig", "T", "strided"]))  # a transposed or strided operand
        calls.append(Call([_t((m, k), dt, sa, layout=lay), _t((n, k) if bt else (k, n), dt, sa + 1),
                           _out((m, n), "int32" if int8 else draw(st.sampled_from(["float32", "float16", "bfloat16"])), -7.0)],
                          {"BM": _num(bm), "BN": _num(bn), "BK": _num(bk)}))
    return Case(2, src, ref, calls, [2], [], ["dot", "dot-bT" if bt else "dot-b", "dot-masked" if masked else "dot-edge"]
                + (["dot-int8"] if int8 else []))


# --- level-1 matmul -------------------------------------------------------------------------------

@st.composite
def matmul_case(draw) -> Case:
    form, pt = draw(st.sampled_from([("a @ b", "a.double() @ b.double()"), ("td.matmul(a, b)", "a.double() @ b.double()"),
                                     ("td.dot(a, b)", "a.double() @ b.double()")]))
    post = draw(st.sampled_from([("", ""), (" * 0.5", " * 0.5")]))
    src = HEAD + f"@td.kernel\ndef kern(a: td.Tensor, b: td.Tensor):\n    return ({form}){post[0]}\n"
    ref = REF_HEAD + f"def ref(a, b):\n    return (({pt}).to(a.dtype)){post[1]}\n"
    calls = []
    for _ in range(draw(st.integers(1, 3))):
        dt = draw(st.sampled_from(["float32", "float16", "bfloat16"]))
        m, n, k = (draw(st.sampled_from(BIG)) for _ in range(3))
        calls.append(Call([_t((m, k), dt, draw(st.integers(0, 999))), _t((k, n), dt, draw(st.integers(0, 999)))]))
    return Case(1, src, ref, calls, [], [], ["matmul-l1"])


# --- atomics --------------------------------------------------------------------------------------

ATOMIC = {"add": ("index_add_(0, i, v)", 0.0), "max": ('scatter_reduce_(0, i, v, "amax")', -5.0),
          "min": ('scatter_reduce_(0, i, v, "amin")', 5.0), "xchg": ("index_copy_(0, i, v)", -7.0)}


@st.composite
def atomic_case(draw) -> Case:
    """Atomics scattered through an int tile. With repeated indices only the final contents are
    compared (add/max/min commute; f32 adds within tolerance); with distinct indices (a
    permutation) the order cannot matter, so `atomic_xchg` and the returned old values are
    compared too (masked-off lanes return 0)."""
    distinct = draw(st.booleans())
    op = draw(st.sampled_from(sorted(ATOMIC) if distinct else sorted(set(ATOMIC) - {"xchg"})))
    cond_td, cond_pt = draw(st.sampled_from([("", "torch.ones_like(x, dtype=torch.bool)"), (" & (v > 0)", "x > 0"),
                                             (" & (o % 3 != 1)", "torch.arange(x.shape[0]) % 3 != 1")]))
    old_td = ("        td.store(old, (p * B,), prev, mask=m)\n" if distinct else "")
    src = HEAD + f"""@td.kernel
def kern(x: td.Tensor, idx: td.Tensor, out: td.Tensor, old: td.Tensor, B: td.constexpr):
    N = x.shape[0]
    with td.grid(td.cdiv(N, B)) as p:
        o = p * B + td.arange(0, B)
        m = o < N
        v = td.load(x, (p * B,), (B,), mask=m, other=0)
        b = td.load(idx, (p * B,), (B,), mask=m, other=0)
        prev = td.atomic_{op}(out, (b,), v, mask=m{cond_td})
{old_td}"""
    red = ATOMIC[op][0]
    old_pt = ("    old.copy_(torch.where(keep, before[idx.long()], torch.zeros((), dtype=x.dtype)))\n" if distinct else "")
    ref = REF_HEAD + f"""def ref(x, idx, out, old, B):
    keep = {cond_pt}
    before = out.clone()
    i, v = idx[keep].long(), x[keep]
    out.{red}
{old_pt}    return out, old
"""
    calls = []
    for _ in range(draw(st.integers(1, 2))):
        dt = draw(st.sampled_from(["float32", "int32"]))
        n = draw(st.sampled_from(BIG))
        nb = n if distinct else draw(st.sampled_from([1, 3, 8]))
        ix = draw(st.sampled_from(["int32", "int64"]))
        idx = _t((n,), ix, 7, perm=True) if distinct else _t((n,), ix, 7, lo=0, hi=nb)
        calls.append(Call([_t((n,), dt, draw(st.integers(0, 999))), idx, _out((nb,), dt, ATOMIC[op][1]),
                           _out((n,), dt, -9)], {"B": _num(_block(draw, n, (8, 16, 32, 64)))}))
    return Case(2, src, ref, calls, [2, 3], [], ["atomic", f"atomic-{op}", "atomic-distinct" if distinct else "atomic-repeat"])


# --- gathers --------------------------------------------------------------------------------------

TAKE_REF = """def _take(x, idx, axis):
    n = x.shape[axis]
    i = idx.long()
    ok = (i >= -n) & (i < n)
    g = x.index_select(axis, torch.where(ok, i % max(n, 1), 0))
    shape = [1] * x.dim()
    shape[axis] = -1
    return torch.where(ok.view(shape), g, torch.zeros((), dtype=x.dtype))


"""


@st.composite
def gather_case(draw) -> Case:
    if draw(st.booleans()):
        return draw(_gather_l2())
    rank = draw(st.integers(1, 2))
    ax = draw(st.integers(0, rank - 1))
    form = draw(st.sampled_from(["x[idx]", "td.take(x, idx, AX)"])) if ax == 0 else "td.take(x, idx, AX)"
    post_td, post_pt = draw(st.sampled_from([("", ""), (" * 2", " * 2"), ("td.abs({}) + 1", "torch.abs({}) + 1")]))
    g_td = form.replace("AX", str(ax))
    body_td = post_td.format(g_td) if "{}" in post_td else f"{g_td}{post_td}"
    g_pt = f"_take(x, idx, {ax})"
    body_pt = post_pt.format(g_pt) if "{}" in post_pt else f"{g_pt}{post_pt}"
    src = HEAD + f"@td.kernel\ndef kern(x: td.Tensor, idx: td.Tensor):\n    return {body_td}\n"
    ref = REF_HEAD + TAKE_REF + f"def ref(x, idx):\n    return {body_pt}\n"
    calls = []
    for _ in range(draw(st.integers(1, 2))):
        shape = [draw(st.sampled_from((1, 3, 8, 17, 128))) for _ in range(rank)]
        n = shape[ax]
        calls.append(Call([tensor_spec(draw, shape, draw(st.sampled_from(["f", "i"])), False),
                           _t((draw(st.sampled_from((1, 4, 9, 33))),), draw(st.sampled_from(["int32", "int64"])),
                              draw(st.integers(0, 999)), lo=-n - 2, hi=n + 2)]))
    return Case(1, src, ref, calls, [], [], ["gather-l1"])


@st.composite
def _gather_l2(draw) -> Case:
    src = HEAD + """@td.kernel
def kern(x: td.Tensor, idx: td.Tensor, out: td.Tensor, B: td.constexpr, BN: td.constexpr):
    L = idx.shape[0]
    N = x.shape[1]
    with td.grid(td.cdiv(L, B), td.cdiv(N, BN)) as (p, j):
        o = p * B + td.arange(0, B)
        c = j * BN + td.arange(0, BN)
        ix = td.load(idx, (p * B,), (B,), mask=o < L, other=0)
        t = td.load(x, (ix, j * BN), (B, BN), mask=(o < L)[:, None] & (c < N)[None, :], other=0)
        td.store(out, (p * B, j * BN), (t * 2).to(out.dtype), mask=(o < L)[:, None] & (c < N)[None, :])
"""
    ref = REF_HEAD + TAKE_REF + "def ref(x, idx, out, B, BN):\n    out.copy_((_take(x, idx, 0) * 2).to(out.dtype))\n    return out\n"
    calls = []
    for _ in range(draw(st.integers(1, 2))):
        m, n, ln = draw(st.sampled_from((1, 5, 17, 64))), draw(st.sampled_from((1, 8, 33, 128))), draw(st.sampled_from((1, 7, 40)))
        dt = draw(st.sampled_from(["float32", "float16", "int32"]))
        calls.append(Call([_t((m, n), dt, draw(st.integers(0, 999))),
                           _t((ln,), draw(st.sampled_from(["int32", "int64"])), draw(st.integers(0, 999)), lo=0, hi=m + 3),
                           _out((ln, n), dt, -7)],
                          {"B": _num(_block(draw, ln, (8, 16, 64))), "BN": _num(_block(draw, n, (16, 32, 64)))}))
    return Case(2, src, ref, calls, [2], [], ["gather-l2"])


# --- cumsum ---------------------------------------------------------------------------------------

@st.composite
def cumsum_case(draw) -> Case:
    ax = draw(st.integers(0, 1))
    src = HEAD + f"""@td.kernel
def kern(x: td.Tensor, out: td.Tensor, BM: td.constexpr, BN: td.constexpr):
    M, N = x.shape
    with td.grid(td.cdiv(M, BM)) as i:
        r = i * BM + td.arange(0, BM)
        c = td.arange(0, BN)
        mask = (r < M)[:, None] & (c < N)[None, :]
        t = td.load(x, (i * BM, 0), (BM, BN), mask=mask, other=0)
        td.store(out, (i * BM, 0), td.cumsum(t, {draw(st.sampled_from([ax, ax - 2]))}).to(out.dtype), mask=mask)
"""
    per = "torch.cumsum(x.double(), 1)" if ax == 1 else \
        "torch.cat([torch.cumsum(x[k:k + BM].double(), 0) for k in range(0, x.shape[0], BM)])"
    ref = REF_HEAD + f"def ref(x, out, BM, BN):\n    out.copy_(({per}).to(out.dtype))\n    return out\n"
    calls = []
    for _ in range(draw(st.integers(1, 2))):
        m, n = draw(st.sampled_from((1, 5, 17, 64))), draw(st.sampled_from((1, 3, 16, 33, 100)))
        bn = 1 << max(0, (n - 1).bit_length())
        dt = draw(st.sampled_from(["float32", "float16", "bfloat16", "int32"]))
        odt = "int32" if dt == "int32" else draw(st.sampled_from(["float32", dt]))
        calls.append(Call([_t((m, n), dt, draw(st.integers(0, 999))), _out((m, n), odt, -7)],
                          {"BM": _num(draw(st.sampled_from([1, 4, 16]))), "BN": _num(bn)}))
    return Case(2, src, ref, calls, [1], [], ["cumsum", f"cumsum-ax{ax}"])


# --- casts, integer // and % ---------------------------------------------------------------------

FLOATS = ("float32", "float16", "bfloat16", "float8_e4m3", "float8_e5m2")
CAST_DTS = ("float32", "float16", "bfloat16", "float8_e4m3", "float8_e5m2", "int8", "int16", "int32", "int64",
            "uint8", "bool")


@st.composite
def cast_case(draw) -> Case:
    d1, d2 = draw(st.sampled_from(CAST_DTS)), draw(st.sampled_from(CAST_DTS))
    how = draw(st.sampled_from(["to", "cast"]))

    def td_cast(e: str, d: str) -> str:
        return f"{e}.to({TD_DT[d]})" if how == "to" else f"td.cast({e}, {TD_DT[d]})"

    # float -> unsigned of a negative value is unspecified (docs/language.md "Numerics"): abs first
    src_e = "td.abs(a)" if d1 == "uint8" else "a"
    pt_e = "torch.abs(a)" if d1 == "uint8" else "a"
    src = HEAD + f"@td.kernel\ndef kern(a: td.Tensor):\n    return {td_cast(td_cast(src_e, d1), d2)}\n"
    ref = REF_HEAD + f"def ref(a):\n    return {pt_e}.to({PT_DT[d1]}).to({PT_DT[d2]})\n"
    calls = []
    for _ in range(draw(st.integers(1, 2))):
        spec = tensor_spec(draw, (draw(st.sampled_from((1, 7, 64))), draw(st.sampled_from((3, 128)))),
                           draw(st.sampled_from(["f", "i", "f8"])), False)
        if d1 in FLOATS and d2 in FLOATS and spec["dtype"] in FLOATS and draw(st.booleans()):
            # wide values: fp8 saturation (e4m3 at 448 as torch; e5m2 saturates where torch gives inf,
            # so e5m2 only up to its range), f16/bf16 rounding of large values
            spec["scale"] = 40.0 if "float8_e5m2" in (d1, d2) else 400.0
        calls.append(Call([spec]))
    casts = [d for d in (d1, d2) if d in ("float16", "bfloat16")]
    return Case(1, src, ref, calls, [], casts, ["cast-pair", f"cast-{d1}-{d2}"])


INT_OPS = [("a // b", "a // b"), ("a % b", "a % b"), ("-a // b", "-a // b"), ("(a - 3) % b", "(a - 3) % b"),
           ("a // k", "a // k"), ("a % k", "a % k"), ("a // -3", "a // -3"), ("a % -3", "a % -3"),
           ("a // b * b + a % b", "a // b * b + a % b")]


@st.composite
def intdiv_case(draw) -> Case:
    td_e, pt_e = draw(st.sampled_from(INT_OPS))
    uses_k = "k" in td_e
    src = HEAD + f"@td.kernel\ndef kern(a: td.Tensor, b: td.Tensor{', k: int' if uses_k else ''}):\n    return {td_e}\n"
    ref = REF_HEAD + f"def ref(a, b{', k' if uses_k else ''}):\n    return {pt_e}\n"
    calls = []
    for _ in range(draw(st.integers(1, 2))):
        # a runtime int is an i32 scalar: with int32 tensors no promotion rule is in play
        da = "int32" if uses_k else draw(st.sampled_from(["int8", "int32", "int64"]))
        db = da if uses_k else draw(st.sampled_from(["int8", "int32", "int64"]))
        shape = (draw(st.sampled_from((1, 9, 64))), draw(st.sampled_from((2, 33))))
        args = [_t(shape, da, draw(st.integers(0, 999))), _t(shape[-1:], db, draw(st.integers(0, 999)), nonzero=True)]
        if uses_k:
            args.append(_num(draw(st.sampled_from([-5, -2, 3, 7]))))
        calls.append(Call(args))
    return Case(1, src, ref, calls, [], [], ["intdiv"])


# --- @td.func helpers -----------------------------------------------------------------------------

HELPERS = [("t * s + 1", "t * s + 1"), ("td.where(t > 0, t, t * s)", "torch.where(t > 0, t, t * s)"),
           ("td.maximum(t, s)", "torch.clamp_min(t, s)"), ("td.exp(-td.abs(t)) * s", "torch.exp(-torch.abs(t)) * s")]


@st.composite
def func_case(draw) -> Case:
    (h_td, h_pt), (g_td, g_pt) = draw(st.sampled_from(HELPERS)), draw(st.sampled_from(HELPERS))
    level2 = draw(st.booleans())
    helpers = (f"@td.func\ndef h(t, s):\n    return {h_td}\n\n\n"
               f"@td.func\ndef g(t, s):\n    return h({g_td}, s * 0.5)\n\n\n")
    refs = f"def h(t, s):\n    return {h_pt}\n\n\ndef g(t, s):\n    return h({g_pt}, s * 0.5)\n\n\n"
    if level2:
        body = """    N = x.shape[0]
    with td.grid(td.cdiv(N, B)) as p:
        o = p * B + td.arange(0, B)
        t = td.load(x, (p * B,), (B,), mask=o < N, other=0)
        td.store(out, (p * B,), g(t, 2.0) + h(t, -1.5), mask=o < N)
"""
        src = HEAD + helpers + f"@td.kernel\ndef kern(x: td.Tensor, out: td.Tensor, B: td.constexpr):\n{body}"
        ref = REF_HEAD + refs + "def ref(x, out, B):\n    out.copy_(g(x, 2.0) + h(x, -1.5))\n    return out\n"
        calls = [Call([_t((n,), "float32", draw(st.integers(0, 999))), _out((n,), "float32", -7)],
                      {"B": _num(_block(draw, n, (8, 32)))}) for n in [draw(st.sampled_from(BIG))]]
        return Case(2, src, ref, calls, [1], [], ["func", "func-l2"])
    src = HEAD + helpers + "@td.kernel\ndef kern(x: td.Tensor):\n    return g(x, 2.0) + h(x, -1.5)\n"
    ref = REF_HEAD + refs + "def ref(x):\n    return g(x, 2.0) + h(x, -1.5)\n"
    calls = [Call([tensor_spec(draw, (draw(st.sampled_from(BIG)),), "f", False)]) for _ in range(draw(st.integers(1, 2)))]
    return Case(1, src, ref, calls, [], [], ["func", "func-l1"])


# --- runtime scalars of every type ----------------------------------------------------------------

@st.composite
def scalars_case(draw) -> Case:
    src = HEAD + """@td.kernel
def kern(x: td.Tensor, out: td.Tensor, out2: td.Tensor, k: int, big: int, s: float, flag: bool, B: td.constexpr):
    N = x.shape[0]
    with td.grid(td.cdiv(N, B)) as p:
        o = p * B + td.arange(0, B)
        t = td.load(x, (p * B,), (B,), mask=o < N, other=0)
        v = t * s + k
        if flag:
            v = v - (big - 3000000000)
        td.store(out, (p * B,), v.to(out.dtype), mask=o < N)
        td.store(out2, (p * B,), o.to(td.int64) + big, mask=o < N)
"""
    ref = REF_HEAD + """def ref(x, out, out2, k, big, s, flag, B):
    v = x.double() * s + k
    if flag:
        v = v - (big - 3000000000)
    out.copy_(v.to(out.dtype))
    out2.copy_(torch.arange(x.shape[0], dtype=torch.int64) + big)
    return out, out2
"""
    calls = []
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.sampled_from(BIG))
        calls.append(Call([_t((n,), "float32", draw(st.integers(0, 999))), _out((n,), "float32", -7), _out((n,), "int64", -7),
                           _num(draw(st.sampled_from([0, -3, 2**31 - 1 - 2**30]))),
                           _num(draw(st.sampled_from([3000000000, 3000000007, 2**40 + 1]))),
                           _num(draw(st.sampled_from([0.5, -2.25, 1e-3]))), _num(draw(st.booleans()))],
                          {"B": _num(_block(draw, n, (8, 32, 128)))}))
    return Case(2, src, ref, calls, [1, 2], [], ["scalars"])


# --- level 3: threads, shuffles, barriers (eager vs ir; Triton must reject) -----------------------

L3 = {
    "warp-sum": ("""        with td.threads(T) as tid:
            v = td.load(x, (p * T + tid,))
            for s in (16, 8, 4, 2, 1):
                v = v + td.shfl_xor(v, s)
            td.store(out, (p * T + tid,), v)
"""),
    "shfl": ("""        with td.threads(T) as tid:
            v = td.load(x, (p * T + tid,))
            td.store(out, (p * T + tid,), td.SHFL(v, LANE, WIDTH))
"""),
    "lane0": ("""        with td.threads(T) as tid:
            reg = td.alloc_local((1,), x.dtype)
            td.copy(td.load(x, (p * T + tid,), (1,)), reg)
            v = td.load(reg, (0,))
            for s in (16, 8, 4, 2, 1):
                v = td.maximum(v, td.shfl_down(v, s))
            if tid % 32 == 0:
                td.store(out, (p * T + tid,), v)
"""),
    "barrier": ("""        smem = td.alloc_shared((T,), x.dtype)
        with td.threads(T) as tid:
            td.store(smem, (tid,), td.load(x, (p * T + tid,)))
            td.barrier()
            got = td.load(smem, ((tid + LANE) % T,))
            td.store(out, (p * T + tid,), got)
"""),
}


@st.composite
def level3_case(draw) -> Case:
    kind = draw(st.sampled_from(sorted(L3)))
    body = L3[kind].replace("SHFL", draw(st.sampled_from(["shfl_xor", "shfl_down", "shfl_up", "shfl_idx"])))
    src = HEAD + ("@td.kernel\ndef kern(x: td.Tensor, out: td.Tensor, T: td.constexpr, LANE: td.constexpr, "
                  "WIDTH: td.constexpr):\n    N = x.shape[0]\n    with td.grid(td.cdiv(N, T)) as p:\n" + body)
    calls = []
    for _ in range(draw(st.integers(1, 2))):
        t = draw(st.sampled_from([32, 64]))
        n = t * draw(st.integers(1, 3))
        dt = draw(st.sampled_from(["float32", "int32", "float16"]))
        calls.append(Call([_t((n,), dt, draw(st.integers(0, 999))), _out((n,), dt, 0)],
                          {"T": _num(t), "LANE": _num(draw(st.integers(0, 9))), "WIDTH": _num(draw(st.sampled_from([8, 16, 32])))}))
    return Case(3, src, "", calls, [1], [], ["level3", f"l3-{kind}"])


def ops_case():
    return st.one_of(dot_case(), matmul_case(), atomic_case(), gather_case(), cumsum_case(), cast_case(),
                     intdiv_case(), func_case(), scalars_case(), level3_case())
