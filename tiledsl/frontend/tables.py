"""The front end's tables: Python operators to IR ops, compile-time folding with Python's rules,
and the hints attached to errors (unsupported statements, rejected operand types)."""

from __future__ import annotations

import ast
import operator

from tiledsl.dtypes import DType
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import BINARY, OPS

BINOPS = {ast.Add: Op.ADD, ast.Sub: Op.SUB, ast.Mult: Op.MUL, ast.Div: Op.DIV,
          ast.FloorDiv: Op.FLOORDIV, ast.Mod: Op.MOD, ast.Pow: Op.POW, ast.BitAnd: Op.AND,
          ast.BitOr: Op.OR, ast.BitXor: Op.XOR, ast.LShift: Op.SHL, ast.RShift: Op.SHR}
CMPOPS = {ast.Eq: Op.EQ, ast.NotEq: Op.NE, ast.Lt: Op.LT, ast.LtE: Op.LE, ast.Gt: Op.GT,
          ast.GtE: Op.GE}
PYCMP = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
         ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_,
         ast.IsNot: operator.is_not, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
UNSUPPORTED_HINT = {
    "While": "use `for i in range(n)` with a bound, or td.pipelined",
    "Try": "kernels cannot catch exceptions",
    "FunctionDef": "define helpers outside the kernel and inline them by hand",
    "Lambda": "write the expression out",
    "ListComp": "build tiles with td.arange / td.full",
    "Global": "pass values as parameters",
    "Delete": "rebind the name instead",
    "Raise": "kernels cannot raise",
}


def int_min(dt: DType) -> int:
    return 0 if dt is DType.u8 else -(2 ** (dt.bits - 1))


def int_max(dt: DType) -> int:
    return 2**dt.bits - 1 if dt is DType.u8 else 2 ** (dt.bits - 1) - 1


# what to do when an op's shape/dtype rule rejects its operands (the rule says what is wrong)
TYPE_HINT_ANY = "check the operands' shapes and dtypes (x.shape, x.dtype); cast with .to(...)"
_MATMUL_HINT = "the operands must be (M, K) and (K, N): check the tile shapes and the K block size"
TYPE_HINT = {
    Op.DOT: _MATMUL_HINT, Op.MATMUL: _MATMUL_HINT,
    Op.LOAD: "a tile's shape must match the offsets: one size per scalar offset, None to drop an axis",
    Op.STORE: "the value's shape must cover the window: broadcast it or pick the offsets' shape",
    Op.ATOMIC: "the value's shape must cover the window: broadcast it or pick the offsets' shape",
    Op.COPY: "the buffer's shape must equal the window's shape",
    Op.RESHAPE: "a reshape keeps the number of elements",
    Op.BROADCAST_TO: "shapes broadcast as in numpy: from the right, sizes equal or 1",
    Op.WHERE: "shapes broadcast as in numpy: from the right, sizes equal or 1",
    Op.CLAMP: "shapes broadcast as in numpy: from the right, sizes equal or 1",
}
TYPE_HINT.update({op: "shapes broadcast as in numpy: from the right, sizes equal or 1; dtypes promote, or "
                   "cast with .to(...)" for op in BINOPS.values()})


FOLD_HINT = ("compile-time values (numbers, constexprs, shapes) fold with Python's rules; "
              "check the operand types and values")


# compile-time folding of binary ops with Python's rules: each op's fold is in the op table
FOLD = {op: OPS[op].fold for op in BINARY if OPS[op].fold is not None}
