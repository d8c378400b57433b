"""Scheduled IR for the TileLang backend's tests, built by hand with `tiledsl.ir.Builder` (the
shape the scheduler / front end produce): a level-2 GEMM, a scheduled level-1 row softmax and a
level-3 warp-shuffle row sum. Imported by the other test_tilelang_* files; holds no tests."""

from __future__ import annotations

from tiledsl.dtypes import DType
from tiledsl.ir import Block, Builder, Function, Knob, Loc, Op, Param, ParamKind, Space, Type, verify

F = "kernels_by_hand.py"


def _param(b: Builder, name: str, dtype: DType, rank: int, kind=ParamKind.TENSOR) -> Param:
    v = b.fresh(name, Type(dtype, tuple(f"{name}.{k}" for k in range(rank)), Space.GLOBAL))
    return Param(v, kind)


def _c(b: Builder, v, dtype=None):
    attrs = {"value": v} if dtype is None else {"value": v, "dtype": dtype}
    return b.value(Op.CONST, (), attrs, hint="c")


def _cdiv(b: Builder, x, n: int, loc):
    s = b.value(Op.ADD, (x, _c(b, n - 1)), loc=loc)
    return b.value(Op.FLOORDIV, (s, _c(b, n)), loc=loc)


def gemm_ir(dtype=DType.bf16, bm=128, bn=128, bk=64, stages=3, warps=4) -> Function:
    """c = a @ b: grid over (M/BM, N/BN) tiles, pipelined K loop, f32 accumulator."""
    b = Builder()
    a, bb, c = _param(b, "a", dtype, 2), _param(b, "b", dtype, 2), _param(b, "c", dtype, 2)
    L = lambda n: Loc(F, n)  # noqa: E731
    M = b.value(Op.DIM, (a.value,), {"axis": 0}, loc=L(5))
    K = b.value(Op.DIM, (a.value,), {"axis": 1}, loc=L(5))
    N = b.value(Op.DIM, (bb.value,), {"axis": 1}, loc=L(6))
    gm, gn = _cdiv(b, M, bm, L(7)), _cdiv(b, N, bn, L(7))
    i, j = b.fresh("i", Type(DType.i32)), b.fresh("j", Type(DType.i32))
    with b.block((i, j)) as grid_body:
        acc0 = b.value(Op.FULL, (), {"shape": (bm, bn), "value": 0.0, "dtype": DType.f32}, loc=L(8), hint="acc")
        nk = _cdiv(b, K, bk, L(9))
        k = b.fresh("k", Type(DType.i32))
        acc = b.fresh("acc", acc0.type)
        with b.block((k, acc)) as loop_body:
            om = b.value(Op.MUL, (i, _c(b, bm)), loc=L(10))
            ok = b.value(Op.MUL, (k, _c(b, bk)), loc=L(10))
            on = b.value(Op.MUL, (j, _c(b, bn)), loc=L(11))
            ta = b.value(Op.LOAD, (a.value, om, ok), {"shape": (bm, bk)}, loc=L(10), hint="a_tile")
            tb = b.value(Op.LOAD, (bb.value, ok, on), {"shape": (bk, bn)}, loc=L(11), hint="b_tile")
            d = b.value(Op.DOT, (ta, tb, acc), {"dtype": DType.f32}, loc=L(10))
            b.emit(Op.YIELD, (d,))
        loop = b.emit(Op.FOR, (_c(b, 0), nk, _c(b, 1), acc0), {"stages": stages}, loop_body, loc=L(9))
        out = b.value(Op.CAST, (loop.result,), {"dtype": dtype}, loc=L(12))
        om = b.value(Op.MUL, (i, _c(b, bm)), loc=L(12))
        on = b.value(Op.MUL, (j, _c(b, bn)), loc=L(12))
        b.emit(Op.STORE, (c.value, om, on, out), {"shape": (bm, bn)}, loc=L(12))
    b.emit(Op.GRID, (gm, gn), regions=grid_body, loc=L(7))
    knobs = (Knob("BM", bm), Knob("BN", bn), Knob("BK", bk), Knob("stages", stages), Knob("num_warps", warps))
    return verify(Function("matmul", (a, bb, c), knobs, Block((), b.top()), Loc(F, 1)), "tilelang")


def softmax_ir(dtype=DType.f32, bm=4, bn=256, warps=4) -> Function:
    """Row softmax as the scheduler emits it for a level-1 kernel: a row block per program, the
    whole row in one (padded) tile, out-of-range columns read -inf."""
    b = Builder()
    x, y = _param(b, "x", dtype, 2), _param(b, "out", dtype, 2, ParamKind.OUTPUT)
    L = lambda n: Loc(F, n)  # noqa: E731
    M = b.value(Op.DIM, (x.value,), {"axis": 0}, loc=L(20))
    i = b.fresh("i", Type(DType.i32))
    with b.block((i,)) as body:
        om = b.value(Op.MUL, (i, _c(b, bm)), loc=L(21))
        z = _c(b, 0)
        t = b.value(Op.LOAD, (x.value, om, z), {"shape": (bm, bn), "other": float("-inf")}, loc=L(21), hint="x_tile")
        if dtype is not DType.f32:
            t = b.value(Op.CAST, (t,), {"dtype": DType.f32}, loc=L(21))
        m = b.value(Op.TILE_REDUCE, (t,), {"kind": "max", "axis": 1, "keepdims": True}, loc=L(22), hint="row_max")
        e = b.value(Op.EXP, (b.value(Op.SUB, (t, m), loc=L(22)),), loc=L(22), hint="e")
        s = b.value(Op.TILE_REDUCE, (e,), {"kind": "sum", "axis": 1, "keepdims": True}, loc=L(23), hint="row_sum")
        r = b.value(Op.DIV, (e, s), loc=L(23))
        if dtype is not DType.f32:
            r = b.value(Op.CAST, (r,), {"dtype": dtype}, loc=L(23))
        b.emit(Op.STORE, (y.value, om, z, r), {"shape": (bm, bn)}, loc=L(24))
    b.emit(Op.GRID, (_cdiv(b, M, bm, L(20)),), regions=body, loc=L(20))
    knobs = (Knob("BM", bm), Knob("BN", bn), Knob("num_warps", warps))
    return verify(Function("softmax", (x, y), knobs, Block((), b.top()), Loc(F, 19)), "tilelang")


def warp_rowsum_ir(threads=128, dtype=DType.f32) -> Function:
    """Level 3: one block per row; each thread sums a strided slice, warps reduce with xor
    shuffles, lane 0 of each warp parks its partial in shared memory, thread 0 adds them up."""
    b = Builder()
    x, y = _param(b, "x", dtype, 2), _param(b, "out", dtype, 1)
    L = lambda n: Loc(F, n)  # noqa: E731
    M = b.value(Op.DIM, (x.value,), {"axis": 0}, loc=L(30))
    N = b.value(Op.DIM, (x.value,), {"axis": 1}, loc=L(30))
    warps = threads // 32
    row = b.fresh("row", Type(DType.i32))
    with b.block((row,)) as gbody:
        part = b.value(Op.ALLOC, (), {"shape": (warps,), "dtype": dtype, "space": "shared"}, loc=L(31), hint="part")
        tid = b.fresh("tid", Type(DType.i32))
        with b.block((tid,)) as tbody:
            steps = _cdiv(b, N, threads, L(33))
            c = b.fresh("c", Type(DType.i32))
            accv = b.fresh("acc", Type(dtype))
            with b.block((c, accv)) as lbody:
                col = b.value(Op.ADD, (b.value(Op.MUL, (c, _c(b, threads)), loc=L(34)), tid), loc=L(34))
                v = b.value(Op.LOAD, (x.value, row, col), {"shape": (None, None)}, loc=L(34), hint="v")
                b.emit(Op.YIELD, (b.value(Op.ADD, (accv, v), loc=L(34)),))
            total = b.emit(Op.FOR, (_c(b, 0), steps, _c(b, 1), _c(b, 0.0, dtype)), {"stages": None},
                           lbody, loc=L(33)).result
            for off in (16, 8, 4, 2, 1):
                other = b.value(Op.SHUFFLE, (total, _c(b, off)), {"mode": "xor", "width": 32}, loc=L(36))
                total = b.value(Op.ADD, (total, other), loc=L(36))
            lane = b.value(Op.MOD, (tid, _c(b, 32)), loc=L(37))
            warp = b.value(Op.FLOORDIV, (tid, _c(b, 32)), loc=L(37))
            with b.block() as then:
                b.emit(Op.STORE, (part, warp, total), {"shape": (None,)}, loc=L(38))
                b.emit(Op.YIELD, ())
            with b.block() as other_branch:
                b.emit(Op.YIELD, ())
            b.emit(Op.IF, (b.value(Op.EQ, (lane, _c(b, 0)), loc=L(37)),), regions=(then[0], other_branch[0]), loc=L(37))
            b.emit(Op.BARRIER, (), loc=L(39))
            with b.block() as then2:
                s = _c(b, 0.0, dtype)
                for w in range(warps):
                    s = b.value(Op.ADD, (s, b.value(Op.LOAD, (part, _c(b, w)), {"shape": (None,)}, loc=L(41))), loc=L(41))
                b.emit(Op.STORE, (y.value, row, s), {"shape": (None,)}, loc=L(42))
                b.emit(Op.YIELD, ())
            with b.block() as else2:
                b.emit(Op.YIELD, ())
            b.emit(Op.IF, (b.value(Op.EQ, (tid, _c(b, 0)), loc=L(40)),), regions=(then2[0], else2[0]), loc=L(40))
        b.emit(Op.THREADS, (), {"count": threads}, tbody, loc=L(32))
    b.emit(Op.GRID, (M,), regions=gbody, loc=L(30))
    knobs = (Knob("num_warps", threads // 32),)
    return verify(Function("warp_rowsum", (x, y), knobs, Block((), b.top()), Loc(F, 29)), "tilelang")
