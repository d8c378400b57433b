"""The cleanup pass: folds knob arithmetic, merges duplicates, drops dead code, keeps effects."""

import torch

import tiledsl as td
from tests import kernels_for_tests as K
from tiledsl.dtypes import DType
from tiledsl.ir import Block, Builder, Function, Op, Param, Space, Type, verify, walk
from tiledsl.passes.cleanup import cleanup


def _count(fn, op):
    return sum(1 for i in walk(fn.body) if i.op is op)


def test_cleanup_merges_repeated_constants_and_keeps_the_program():
    fn = K.matmul.ir(torch.randn(77, 130), torch.randn(130, 45), torch.empty(77, 45), BM=16, BN=16, BK=16)
    out = verify(cleanup(fn))
    values = [i.attr("value") for i in walk(out.body) if i.op is Op.CONST]
    assert len(values) == len(set(values))  # each constant once
    for op in (Op.GRID, Op.FOR, Op.DOT, Op.LOAD, Op.STORE):
        assert _count(out, op) == _count(fn, op)


def test_cleanup_folds_integer_scalars_and_drops_dead_values():
    b = Builder()
    x = b.fresh("x", Type(DType.f32, ("x.0",), Space.GLOBAL))
    three = b.value(Op.CONST, (), {"value": 3, "dtype": DType.i32})
    four = b.value(Op.CONST, (), {"value": 4, "dtype": DType.i32})
    twelve = b.value(Op.MUL, (three, four))
    one = b.value(Op.CONST, (), {"value": 1, "dtype": DType.i32})
    with b.block((b.fresh("pid", Type(DType.i32)),)) as body:
        v = b.value(Op.LOAD, (x, twelve), {"shape": (16,)})
        b.value(Op.EXP, (v,))  # dead
        b.emit(Op.STORE, (x, twelve, v), {"shape": (16,)})
    b.emit(Op.GRID, (one,), {}, (body[0],))
    fn = Function("k", (Param(x),), (), Block((), b.top()))
    out = verify(cleanup(verify(fn)), "scheduled")
    assert _count(out, Op.EXP) == 0 and _count(out, Op.MUL) == 0 and _count(out, Op.STORE) == 1
    assert 12 in [i.attr("value") for i in walk(out.body) if i.op is Op.CONST]


def test_cleanup_does_not_merge_loads_or_atomics():
    @td.kernel
    def k(x: td.Tensor, c: td.Tensor):
        with td.grid(1) as pid:
            a = td.atomic_add(c, (0,), 1)
            b = td.atomic_add(c, (0,), 1)
            td.store(x, (0,), (a + b).to(x.dtype))

    out = verify(cleanup(k.ir(torch.zeros(4), torch.zeros(4, dtype=torch.int32))))
    assert _count(out, Op.ATOMIC) == 2


def test_cleanup_is_deterministic():
    fn = K.paged_decode.ir(torch.randn(2, 8, 40), torch.randn(10, 16, 40), torch.zeros(2, 4, dtype=torch.int32),
                           torch.tensor([20, 33], dtype=torch.int32), torch.empty(2, 8, 32), 0.1, D=40, DV=32)
    assert cleanup(fn) == cleanup(fn)
