"""Scheduled IR written by hand with `tiledsl.ir.Builder`, for the Triton backend's tests.

Three kernels cover the lowering: a 2-D GEMM with a pipelined K loop (optionally grouped), an
elementwise kernel with a scalar argument, and a row softmax with tile reductions. Each is at stage
"triton" (static tiles, knobs valued), as the scheduler would hand it over.
"""

from __future__ import annotations

import pytest

from tiledsl.dtypes import DType
from tiledsl.ir import Block, Builder, Function, Knob, Loc, Op, Param, ParamKind, Space, Sym, Type, verify

FILE = "/src/kernels/examples.py"


def _tensor(b: Builder, name: str, dt: DType, rank: int = 2) -> Param:
    b.reserve(name)
    from tiledsl.ir import Value

    return Param(Value(name, Type(dt, tuple(f"{name}.{i}" for i in range(rank)), Space.GLOBAL)))


def _const(b: Builder, value, dt: DType = DType.i32, line: int = 1):
    return b.value(Op.CONST, (), {"value": value, "dtype": dt}, loc=Loc(FILE, line), hint="c")


def _cdiv(b: Builder, x, d: int, line: int):
    loc = Loc(FILE, line)
    t = b.value(Op.ADD, (x, _const(b, d - 1, line=line)), loc=loc, hint="t")
    return b.value(Op.FLOORDIV, (t, _const(b, d, line=line)), loc=loc, hint="tiles")


def gemm_ir(dt: DType = DType.f16, out_dt: DType | None = None, bm: int = 32, bn: int = 32,
            bk: int = 32, stages: int = 2, warps: int = 4, group_m: int | None = None,
            name: str = "matmul") -> Function:
    """c = a @ b with an fp32 accumulator: tiles (bm, bn), K loop of bk pipelined `stages` deep."""
    out_dt = out_dt or (DType.f32 if dt.is_fp8 else dt)
    b = Builder()
    pa, pb, pc = _tensor(b, "a", dt), _tensor(b, "b", dt), _tensor(b, "c", out_dt)
    a, bb, c = pa.value, pb.value, pc.value
    M = b.value(Op.DIM, (a,), {"axis": 0}, loc=Loc(FILE, 3), hint="M")
    K = b.value(Op.DIM, (a,), {"axis": 1}, loc=Loc(FILE, 3), hint="K")
    N = b.value(Op.DIM, (bb,), {"axis": 1}, loc=Loc(FILE, 4), hint="N")
    gm, gn = _cdiv(b, M, bm, 5), _cdiv(b, N, bn, 5)
    k_tiles = _cdiv(b, K, bk, 7)
    i, j = b.fresh("i", Type(DType.i32)), b.fresh("j", Type(DType.i32))
    with b.block((i, j)) as grid_body:
        loc6 = Loc(FILE, 6)
        acc0 = b.value(Op.FULL, (), {"shape": (bm, bn), "value": 0.0, "dtype": DType.f32}, loc=loc6, hint="acc")
        om = b.value(Op.MUL, (i, _const(b, bm, line=6)), loc=loc6, hint="off_m")
        on = b.value(Op.MUL, (j, _const(b, bn, line=6)), loc=loc6, hint="off_n")
        k = b.fresh("k", Type(DType.i32))
        acc_c = b.fresh("acc", acc0.type)
        with b.block((k, acc_c)) as loop_body:
            loc8 = Loc(FILE, 8)
            ok = b.value(Op.MUL, (k, _const(b, bk, line=8)), loc=loc8, hint="off_k")
            ta = b.value(Op.LOAD, (a, om, ok), {"shape": (bm, bk)}, loc=loc8, hint="a_tile")
            tb = b.value(Op.LOAD, (bb, ok, on), {"shape": (bk, bn)}, loc=loc8, hint="b_tile")
            nxt = b.value(Op.DOT, (ta, tb, acc_c), {"dtype": DType.f32}, loc=loc8, hint="acc")
            b.emit(Op.YIELD, (nxt,), loc=loc8)
        acc = b.emit(Op.FOR, (_const(b, 0, line=7), k_tiles, _const(b, 1, line=7), acc0),
                     {"stages": Sym("stages")}, regions=tuple(loop_body), loc=Loc(FILE, 7)).result
        out = b.value(Op.CAST, (acc,), {"dtype": out_dt}, loc=Loc(FILE, 9), hint="c_tile")
        b.emit(Op.STORE, (c, om, on, out), {"shape": (bm, bn)}, loc=Loc(FILE, 9))
    attrs = {} if group_m is None else {"group_m": group_m}
    b.emit(Op.GRID, (gm, gn), attrs, regions=tuple(grid_body), loc=Loc(FILE, 5))
    fn = Function(name, (pa, pb, pc), (Knob("BM", bm), Knob("BN", bn), Knob("BK", bk),
                                       Knob("stages", stages), Knob("num_warps", warps)),
                  Block((), b.top()), loc=Loc(FILE, 2))
    return verify(fn, "triton")


def elementwise_ir(dt: DType = DType.f32, bm: int = 16, bn: int = 32) -> Function:
    """z = exp(x) * alpha + y on (bm, bn) tiles, `alpha` a runtime scalar."""
    b = Builder()
    px, py, pz = _tensor(b, "x", dt), _tensor(b, "y", dt), _tensor(b, "z", dt)
    from tiledsl.ir import Value

    b.reserve("alpha")
    palpha = Param(Value("alpha", Type(DType.f32)), ParamKind.SCALAR)
    x, y, z, alpha = px.value, py.value, pz.value, palpha.value
    R = b.value(Op.DIM, (x,), {"axis": 0}, loc=Loc(FILE, 13), hint="R")
    C = b.value(Op.DIM, (x,), {"axis": 1}, loc=Loc(FILE, 13), hint="C")
    g0, g1 = _cdiv(b, R, bm, 14), _cdiv(b, C, bn, 14)
    i, j = b.fresh("i", Type(DType.i32)), b.fresh("j", Type(DType.i32))
    with b.block((i, j)) as body:
        loc = Loc(FILE, 15)
        o0 = b.value(Op.MUL, (i, _const(b, bm, line=15)), loc=loc, hint="o0")
        o1 = b.value(Op.MUL, (j, _const(b, bn, line=15)), loc=loc, hint="o1")
        tx = b.value(Op.LOAD, (x, o0, o1), {"shape": (bm, bn)}, loc=loc, hint="xt")
        ty = b.value(Op.LOAD, (y, o0, o1), {"shape": (bm, bn)}, loc=loc, hint="yt")
        loc16 = Loc(FILE, 16)
        ex = b.value(Op.EXP, (tx,), loc=loc16, hint="ex")
        if dt is not DType.f32:
            al = b.value(Op.CAST, (alpha,), {"dtype": dt}, loc=loc16, hint="al")
        else:
            al = alpha
        s = b.value(Op.MUL, (ex, al), loc=loc16, hint="scaled")
        r = b.value(Op.ADD, (s, ty), loc=loc16, hint="res")
        b.emit(Op.STORE, (z, o0, o1, r), {"shape": (bm, bn)}, loc=Loc(FILE, 17))
    b.emit(Op.GRID, (g0, g1), regions=tuple(body), loc=Loc(FILE, 14))
    fn = Function("axpy_exp", (px, py, pz, palpha), (Knob("num_warps", 4),), Block((), b.top()),
                  loc=Loc(FILE, 12))
    return verify(fn, "triton")


def softmax_ir(dt: DType = DType.f32, rows: int = 4, cols: int = 64) -> Function:
    """Row softmax: each program takes `rows` rows of at most `cols` columns in one tile."""
    b = Builder()
    px, po = _tensor(b, "x", dt), _tensor(b, "out", dt)
    x, o = px.value, po.value
    R = b.value(Op.DIM, (x,), {"axis": 0}, loc=Loc(FILE, 21), hint="R")
    g = _cdiv(b, R, rows, 22)
    i = b.fresh("i", Type(DType.i32))
    with b.block((i,)) as body:
        loc = Loc(FILE, 23)
        r0 = b.value(Op.MUL, (i, _const(b, rows, line=23)), loc=loc, hint="row0")
        zero = _const(b, 0, line=23)
        t = b.value(Op.LOAD, (x, r0, zero), {"shape": (rows, cols), "other": float("-inf")},
                    loc=loc, hint="xt")
        if dt is not DType.f32:
            t = b.value(Op.CAST, (t,), {"dtype": DType.f32}, loc=loc, hint="xf")
        loc24 = Loc(FILE, 24)
        mx = b.value(Op.TILE_REDUCE, (t,), {"kind": "max", "axis": 1, "keepdims": True}, loc=loc24, hint="mx")
        e = b.value(Op.EXP, (b.value(Op.SUB, (t, mx), loc=loc24, hint="shifted"),), loc=loc24, hint="e")
        s = b.value(Op.TILE_REDUCE, (e,), {"kind": "sum", "axis": 1, "keepdims": True}, loc=loc24, hint="s")
        y = b.value(Op.DIV, (e, s), loc=loc24, hint="y")
        if dt is not DType.f32:
            y = b.value(Op.CAST, (y,), {"dtype": dt}, loc=loc24, hint="yo")
        b.emit(Op.STORE, (o, r0, zero, y), {"shape": (rows, cols)}, loc=Loc(FILE, 25))
    b.emit(Op.GRID, (g,), regions=tuple(body), loc=Loc(FILE, 22))
    fn = Function("softmax", (px, po), (Knob("num_warps", 4),), Block((), b.top()), loc=Loc(FILE, 20))
    return verify(fn, "triton")


@pytest.mark.parametrize("make", [gemm_ir, elementwise_ir, softmax_ir])
def test_fixture_is_triton_stage(make):
    fn = make()
    assert verify(fn, "triton") is fn
