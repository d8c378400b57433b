"""Front-end semantics regressions: names rebind as in Python (numbers carried through runtime
loops and branches, loop variables), value names valid in generated code, axis and dtype checks,
and bad kernels that must raise a tiledsl error with the source line and a hint.

Every kernel that runs is checked on backend="ir" and on backend="triton" (Triton's
interpreter on CPU tensors) against torch computed here."""

from __future__ import annotations

import pytest
import torch

import tiledsl as td
from tiledsl.ir.ops import Op

BACKENDS = ["ir", "triton"]


def _walk(block):
    for inst in block.insts:
        yield inst
        for r in inst.regions:
            yield from _walk(r)


def _insts(fn, op):
    return [i for i in _walk(fn.body) if i.op is op]


# --- 1. numbers carried through runtime loops and branches ------------------------------------------------
@td.kernel
def rowsum_from_float(x: td.Tensor, out: td.Tensor, N: td.constexpr):
    with td.grid(x.shape[0]) as r:
        acc = 0.0
        for c in range(N):
            acc += td.load(x, (r, c), None)
        td.store(out, (r,), acc)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_literal_accumulator_is_carried(backend):
    x = torch.randn(5, 7)
    out = torch.zeros(5)
    rowsum_from_float(x, out, 7, backend=backend)
    torch.testing.assert_close(out, x.sum(1))


@td.kernel
def count_positive(x: td.Tensor, out: td.Tensor, n: int):
    with td.grid(1) as r:
        cnt = 0
        for c in range(n):
            cnt = cnt + (td.load(x, (c,), None) > 0).to(td.int32)
        td.store(out, (0,), cnt)


@pytest.mark.parametrize("backend", BACKENDS)
def test_int_literal_counter_is_carried(backend):
    x = torch.randn(37)
    out = torch.full((1,), -5, dtype=torch.int32)
    count_positive(x, out, 37, backend=backend)
    assert out.item() == int((x > 0).sum())


@td.kernel
def count_up(out: td.Tensor, n: int):
    with td.grid(1) as r:
        k = 0
        for c in range(n):
            k = k + 1
        td.store(out, (0,), k)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [0, 1, 9])
def test_int_literal_incremented_by_a_literal_is_carried(backend, n):
    out = torch.full((1,), -5, dtype=torch.int32)
    count_up(out, n, backend=backend)
    assert out.item() == n


@td.kernel
def pick(x: td.Tensor, out: td.Tensor, flag: int):
    with td.grid(1) as r:
        v = 1.5
        if flag > 0:
            v = td.load(x, (0,), None)
        td.store(out, (0,), v)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("flag", [0, 1])
def test_float_literal_reassigned_in_one_branch(backend, flag):
    x = torch.tensor([3.25, 0.0])
    out = torch.zeros(1)
    pick(x, out, flag, backend=backend)
    assert out.item() == (3.25 if flag else 1.5)


@td.kernel
def pick_both(x: td.Tensor, out: td.Tensor, flag: int):
    with td.grid(1) as r:
        v = 0
        if flag > 0:
            v = 2.5
        else:
            v = td.load(x, (1,), None)
        w = 7
        if flag > 0:
            w = 7
        td.store(out, (0,), v * w)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("flag", [0, 1])
def test_numbers_reassigned_in_both_branches(backend, flag):
    x = torch.tensor([0.0, -4.5])
    out = torch.zeros(1)
    pick_both(x, out, flag, backend=backend)
    assert out.item() == (2.5 if flag else -4.5) * 7
    fn = pick_both.ir(x, out, flag)
    (if_inst, _) = _insts(fn, Op.IF)
    assert len(if_inst.results) == 1  # w is the same number in both branches: still folded


@td.kernel
def row_tile_sum(x: td.Tensor, out: td.Tensor, BN: td.constexpr):
    M, N = x.shape
    with td.grid(td.cdiv(N, BN)) as j:
        cols = j * BN + td.arange(0, BN)
        acc = 0
        for r in range(M):
            acc += td.load(x, (r, j * BN), (None, BN), mask=cols < N)
        td.store(out, (j * BN,), acc, mask=cols < N)


@pytest.mark.parametrize("backend", BACKENDS)
def test_int_literal_joined_with_f32_tile_carries_f32_tile(backend):
    x = torch.randn(6, 21) * 0.3
    out = torch.zeros(21)
    row_tile_sum(x, out, 8, backend=backend)
    torch.testing.assert_close(out, x.sum(0))
    fn = row_tile_sum.ir(x, out, 8)
    (loop,) = _insts(fn, Op.FOR)
    (carried,) = loop.results
    assert carried.type.dtype is td.float32 and carried.type.shape == (8,)


@td.kernel
def nested_sum(x: td.Tensor, out: td.Tensor, R: int, C: int):
    with td.grid(1) as p:
        acc = 0.0
        scale = 2.0
        for i in range(R):
            for j in range(C):
                acc = acc + td.load(x, (i, j), None) * scale
        td.store(out, (0,), acc)


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_loops_carry_a_float_literal(backend):
    x = torch.randn(4, 5)
    out = torch.zeros(1)
    nested_sum(x, out, 4, 5, backend=backend)
    torch.testing.assert_close(out[0], (x * 2).sum(), rtol=1e-5, atol=1e-5)
    fn = nested_sum.ir(x, out, 4, 5)
    assert all(len(f.results) == 1 for f in _insts(fn, Op.FOR))  # scale stays a folded constant


@td.kernel
def pipelined_sum(x: td.Tensor, out: td.Tensor, BK: td.constexpr):
    N = x.shape[0]
    with td.grid(1) as p:
        acc = 0
        for k in td.pipelined(td.cdiv(N, BK), stages=2):
            cols = k * BK + td.arange(0, BK)
            acc += td.sum(td.load(x, (k * BK,), (BK,), mask=cols < N))
        td.store(out, (0,), acc)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pipelined_loop_carries_an_int_literal_as_f32(backend):
    x = torch.randn(50)
    out = torch.zeros(1)
    pipelined_sum(x, out, 16, backend=backend)
    torch.testing.assert_close(out[0], x.sum(), rtol=1e-5, atol=1e-5)


@td.kernel
def conditional_in_loop(x: td.Tensor, out: td.Tensor, n: int):
    with td.grid(1) as p:
        best = -1.0
        for i in range(n):
            v = td.load(x, (i,), None)
            if v > best:
                best = v
        td.store(out, (0,), best)


@pytest.mark.parametrize("backend", BACKENDS)
def test_literal_reassigned_under_if_inside_loop(backend):
    x = torch.tensor([-3.0, 0.5, 2.0, 1.0, -7.0])
    out = torch.zeros(1)
    conditional_in_loop(x, out, 5, backend=backend)
    assert out.item() == 2.0
    conditional_in_loop(x, out, 1, backend=backend)  # max(-1.0, -3.0)
    assert out.item() == -1.0


# --- 2. loop variables behave as in Python ----------------------------------------------------------------
@td.kernel
def loopvar(out: td.Tensor, n: int):
    with td.grid(1) as p:
        acc = 0
        i = -1
        for i in range(n):
            acc += i
            i = i * 10  # does not change the counter
            acc += i
        td.store(out, (0,), acc)
        td.store(out, (1,), i)
        for t in td.pipelined(n, stages=2):
            t = t + 1000
        j = 5
        for j in td.pipelined(n, stages=2):
            j = j + 1000
        td.store(out, (2,), j)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [0, 1, 4])
def test_loop_variable_reassigned_in_the_body_and_after_the_loop(backend, n):
    out = torch.zeros(3, dtype=torch.int32)
    loopvar(out, n, backend=backend)
    acc, i_after, j_after = (0, -1, 5)
    for i in range(n):
        acc += i
        i = i * 10
        acc += i
        i_after = i
    for j in range(n):
        j_after = j + 1000
    assert out.tolist() == [acc, i_after, j_after]


@td.kernel
def unrolled(out: td.Tensor):
    with td.grid(1) as p:
        acc = 0
        for s in (16, 8, 4):
            acc += s
            s = s * 100
        td.store(out, (0,), acc + s)


@pytest.mark.parametrize("backend", BACKENDS)
def test_unrolled_loop_variable(backend):
    out = torch.zeros(1, dtype=torch.int32)
    unrolled(out, backend=backend)
    assert out.item() == 28 + 400


def test_loop_variable_unbound_after_a_loop_that_may_not_run():
    @td.kernel
    def k(out: td.Tensor, n: int):
        with td.grid(1) as p:
            for i in range(n):
                pass
            td.store(out, (0,), i)  # MARK-after

    with pytest.raises(td.FrontendError) as e:
        k.ir(torch.zeros(1, dtype=torch.int32), 3)
    msg = str(e.value)
    assert "may run zero times" in msg and "# MARK-after" in msg and "hint: assign `i` before the loop" in msg


def test_name_first_bound_in_a_loop_or_one_branch_is_unbound_after():
    @td.kernel
    def k(out: td.Tensor, n: int):
        with td.grid(1) as p:
            for i in range(n):
                t = i * 2
            td.store(out, (0,), t)  # MARK-t

    @td.kernel
    def k2(out: td.Tensor, n: int):
        with td.grid(1) as p:
            if n > 0:
                u = 3
            td.store(out, (0,), u)  # MARK-u

    for kern, mark in ((k, "# MARK-t"), (k2, "# MARK-u")):
        with pytest.raises(td.FrontendError) as e:
            kern.ir(torch.zeros(1, dtype=torch.int32), 3)
        assert mark in str(e.value) and "hint:" in str(e.value)


# --- 3. value names are valid identifiers in generated code -----------------------------------------------
@td.kernel
def masked_copy_2d(x: td.Tensor, y: td.Tensor, lo: int, hi: int, BM: td.constexpr, BN: td.constexpr):
    M, N = x.shape
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        r = i * BM + td.arange(0, BM)
        c = j * BN + td.arange(0, BN)
        mask = (r < M)[:, None] & (c < N)[None, :]
        t = td.load(x, (i * BM, j * BN), (BM, BN), mask=mask)
        band = (c >= lo) & (c < hi)
        t = td.where(~band[None, :] | (t > 0), t, 0.0)
        td.store(y, (i * BM, j * BN), t, mask=mask & ((c >= lo) | (c < hi))[None, :])


@pytest.mark.parametrize("backend", BACKENDS)
def test_masks_with_and_or_not(backend):
    x = torch.randn(13, 21)
    y = torch.full_like(x, 9.0)
    masked_copy_2d(x, y, 3, 11, 8, 8, backend=backend)
    c = torch.arange(21)
    band = (c >= 3) & (c < 11)
    ref = torch.where(~band[None, :] | (x > 0), x, torch.zeros(()))
    torch.testing.assert_close(y, ref)


@td.kernel
def branch_tile(x: td.Tensor, y: td.Tensor, flag: int, BN: td.constexpr):
    N = x.shape[0]
    with td.grid(td.cdiv(N, BN)) as j:
        c = j * BN + td.arange(0, BN)
        t = td.load(x, (j * BN,), (BN,), mask=c < N)
        if flag > 0 and flag < 10:
            t = t * 2.0
        elif not flag:
            t = -t
        td.store(y, (j * BN,), t, mask=(c < N) & (c >= 0))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("flag", [0, 1, 20])
def test_runtime_if_reassigning_a_tile(backend, flag):
    x = torch.randn(19, dtype=torch.float16)
    y = torch.zeros_like(x)
    branch_tile(x, y, flag, 8, backend=backend)
    ref = x * 2 if 0 < flag < 10 else (-x if flag == 0 else x)
    torch.testing.assert_close(y, ref)


def test_value_names_are_never_python_keywords():
    import keyword

    fn = masked_copy_2d.ir(torch.zeros(4, 4), torch.zeros(4, 4), 1, 2, 8, 8)
    names = [r.name for i in _walk(fn.body) for r in i.results]
    names += [a.name for i in _walk(fn.body) for reg in i.regions for a in reg.args]
    assert names and not [n for n in names if keyword.iskeyword(n) or not n.isidentifier()]


# --- 4-7. bad kernels: one tiledsl error with the source line and a hint ----------------------------------
def _f(*shape):
    return torch.zeros(*shape)


def _i(*shape, dtype=torch.int32):
    return torch.zeros(*shape, dtype=dtype)


@td.kernel
def bad_sum_axis(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        t = td.load(x, (0, 0), (4, 4))
        td.store(y, (0,), td.sum(t, axis=5))  # MARK


@td.kernel
def bad_sum_axis_l1(x: td.Tensor) -> td.Tensor:
    return td.sum(x, axis=-3)  # MARK


@td.kernel
def bad_argmax_axis(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        t = td.load(x, (0, 0), (4, 4))
        td.store(y, (0,), td.argmax(t, axis=2).to(td.float32))  # MARK


@td.kernel
def bad_expand_dims(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        t = td.load(y, (0,), (4,))
        td.store(x, (0, 0), td.expand_dims(t, 7))  # MARK


@td.kernel
def bad_expand_dims_float(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        t = td.load(y, (0,), (4,))
        td.store(x, (0, 0), td.expand_dims(t, 1.5))  # MARK


@td.kernel
def bad_slices(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        t = td.load(y, (0,), (4,))
        td.store(y, (0,), t[:, :, :])  # MARK


@td.kernel
def bad_trans(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        t = td.load(x, (0, 0), (4, 4))
        td.store(x, (0, 0), td.trans(t, 0, 2))  # MARK


@td.kernel
def bad_cumsum_axis(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        t = td.load(y, (0,), (4,))
        td.store(y, (0,), td.cumsum(t, axis=3))  # MARK


@td.kernel
def bad_cumsum_none(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        t = td.load(y, (0,), (4,))
        td.store(y, (0,), td.cumsum(t, axis=None))  # MARK


@td.kernel
def bad_cumsum_scalar(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        t = td.load(y, (0,))
        td.store(y, (0,), td.cumsum(t))  # MARK


@td.kernel
def bad_take_axis(x: td.Tensor, idx: td.Tensor) -> td.Tensor:
    return td.take(x, idx, 4)  # MARK


@td.kernel
def bad_take_none(x: td.Tensor, idx: td.Tensor) -> td.Tensor:
    return td.take(x, idx, axis=None)  # MARK


@td.kernel
def bad_shape_index(x: td.Tensor) -> td.Tensor:
    n = x.shape[2]  # MARK
    return x + n


@td.kernel
def bad_invert_float(x: td.Tensor) -> td.Tensor:
    return x + ~1.5  # MARK


@td.kernel
def bad_compare_str(x: td.Tensor) -> td.Tensor:
    if 1 < "a":  # MARK
        return x
    return x + 1


@td.kernel
def bad_cdiv_zero(x: td.Tensor) -> td.Tensor:
    return x + td.cdiv(4, 0)  # MARK


@td.kernel
def bad_int_str(x: td.Tensor) -> td.Tensor:
    return x + int("abc")  # MARK


@td.kernel
def bad_dtype_call(x: td.Tensor) -> td.Tensor:
    return td.float32(1, 2)  # MARK


@td.kernel
def bad_full_nan(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        td.store(y, (0,), td.full((4,), float("nan"), td.int32))  # MARK


@td.kernel
def bad_full_huge(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        td.store(y, (0,), td.full((4,), 2**70, td.int32))  # MARK


@td.kernel
def bad_store_300_int8(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        td.store(y, (0,), 300)  # MARK


@td.kernel
def bad_store_i64_into_i32(x: td.Tensor, y: td.Tensor, v: int):
    with td.grid(1) as p:
        td.store(y, (0,), v)  # MARK


@td.kernel
def bad_atomic_i64_into_i32(x: td.Tensor, y: td.Tensor, v: int):
    with td.grid(1) as p:
        td.atomic_add(y, (0,), v)  # MARK


@td.kernel
def bad_buffer_narrowing(x: td.Tensor, y: td.Tensor, v: int):
    with td.grid(1) as p:
        b = td.alloc_fragment((4,), td.int32)
        td.copy(td.zeros((4,), td.int32), b)
        b += td.zeros((4,), td.int64) + v  # MARK: an i64 tile (an i64 scalar alone adapts to i32, as in torch)
        td.copy(b, y, (0,))


@td.kernel
def bad_copy_narrowing(x: td.Tensor, y: td.Tensor, v: int):
    with td.grid(1) as p:
        b = td.alloc_fragment((4,), td.int32)
        td.copy(td.zeros((4,), td.int64) + v, b)  # MARK
        td.copy(b, y, (0,))


@td.kernel
def bad_load_other(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        td.store(y, (0,), td.load(y, (0,), (4,), other=2**40))  # MARK


@td.kernel
def bad_runtime_shape(x: td.Tensor, y: td.Tensor, n: int):
    with td.grid(1) as p:
        td.store(y, (0,), td.load(y, (0,), (n,)))  # MARK


@td.kernel
def bad_dot_k(x: td.Tensor, y: td.Tensor, BM: td.constexpr = td.auto, BN: td.constexpr = td.auto):
    with td.grid(1) as p:
        a = td.load(x, (0, 0), (BM, 32))
        b = td.load(x, (0, 0), (16, BN))
        td.store(x, (0, 0), td.dot(a, b))  # MARK


@td.kernel
def bad_broadcast(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        a = td.load(x, (0, 0), (16, 32))
        b = td.load(x, (0, 0), (16, 16))
        td.store(x, (0, 0), a + b)  # MARK


@td.kernel
def bad_matmul_l1(a: td.Tensor, b: td.Tensor) -> td.Tensor:
    return a @ b  # MARK


@td.kernel
def bad_broadcast_l1(a: td.Tensor, b: td.Tensor) -> td.Tensor:
    return a + b  # MARK


@td.kernel
def bad_full_reduce_l1(x: td.Tensor) -> td.Tensor:
    return td.sum(x)  # MARK


@td.kernel
def bad_no_effect(x: td.Tensor, y: td.Tensor):  # MARK
    z = x + 1


@td.kernel
def bad_no_effect_l2(x: td.Tensor, y: td.Tensor):  # MARK
    with td.grid(1) as p:
        t = td.load(y, (0,), (4,))


@td.kernel
def bad_whole_tensor_loop(x: td.Tensor, n: int) -> td.Tensor:
    y = x * 1
    for i in range(n):  # MARK
        y = y + x
    return y


@td.kernel
def bad_whole_tensor_if(x: td.Tensor, flag: int) -> td.Tensor:
    y = x * 2
    if flag > 0:
        y = x + 1
    return y  # MARK


BAD = [
    (bad_sum_axis, lambda: (_f(8, 8), _f(8)), ["axis 5 is out of range", "2-D"]),
    (bad_sum_axis_l1, lambda: (_f(8, 8),), ["axis -3 is out of range"]),
    (bad_argmax_axis, lambda: (_f(8, 8), _f(8)), ["axis 2 is out of range"]),
    (bad_expand_dims, lambda: (_f(8, 8), _f(8)), ["axis 7 is out of range", "-2 to 1"]),
    (bad_expand_dims_float, lambda: (_f(8, 8), _f(8)), ["axis must be a compile-time int"]),
    (bad_slices, lambda: (_f(8, 8), _f(8)), ["3 `:` entries index a 1-D value"]),
    (bad_trans, lambda: (_f(8, 8), _f(8)), ["axis 2 is out of range"]),
    (bad_cumsum_axis, lambda: (_f(8, 8), _f(8)), ["axis 3 is out of range"]),
    (bad_cumsum_none, lambda: (_f(8, 8), _f(8)), ["axis must be a compile-time int"]),
    (bad_cumsum_scalar, lambda: (_f(8, 8), _f(8)), ["td.cumsum of a scalar"]),
    (bad_take_axis, lambda: (_f(8, 8), _i(3)), ["axis 4 is out of range"]),
    (bad_take_none, lambda: (_f(8, 8), _i(3)), ["axis must be a compile-time int"]),
    (bad_shape_index, lambda: (_f(8, 8),), ["index 2 is out of range for x.shape of length 2"]),
    (bad_invert_float, lambda: (_f(8),), ["cannot compute ~1.5"]),
    (bad_compare_str, lambda: (_f(8),), ["cannot compare 1 and 'a'"]),
    (bad_cdiv_zero, lambda: (_f(8),), ["td.cdiv by zero"]),
    (bad_int_str, lambda: (_f(8),), ["int('abc')"]),
    (bad_dtype_call, lambda: (_f(8),), ["casts one value, got 2 arguments"]),
    (bad_full_nan, lambda: (_f(8), _i(8)), ["nan is not an integer"]),
    (bad_full_huge, lambda: (_f(8), _i(8)), [f"{2**70} does not fit in i32"]),
    (bad_store_300_int8, lambda: (_f(8), _i(8, dtype=torch.int8)), ["300 does not fit in i8"]),
    (bad_store_i64_into_i32, lambda: (_f(8), _i(8), 2**40 + 7), ["i64 into a i32 tensor would narrow", ".to("]),
    (bad_atomic_i64_into_i32, lambda: (_f(8), _i(8), 2**40 + 7), ["i64 into a i32 tensor would narrow"]),
    (bad_buffer_narrowing, lambda: (_f(8), _i(8), 2**40 + 7), ["i64 value into an i32 buffer", ".to(td.int32)"]),
    (bad_copy_narrowing, lambda: (_f(8), _i(8), 5), ["i64 value into an i32 buffer"]),
    (bad_load_other, lambda: (_f(8), _i(8)), ["does not fit in i32"]),
    (bad_runtime_shape, lambda: (_f(8), _f(8), 4), ["`n`, a runtime i32 value", "compile-time constants"]),
    (bad_dot_k, lambda: (_f(64, 64), _f(8)), ["inner sizes differ: (BM, 32) @ (16, BN)"]),
    (bad_broadcast, lambda: (_f(64, 64), _f(8)), ["(16, 32) and (16, 16) do not broadcast"]),
    (bad_matmul_l1, lambda: (_f(5, 6), _f(7, 3)), ["inner sizes differ", "a.1 (6 in this call)", "b.0 (7)"]),
    (bad_broadcast_l1, lambda: (_f(5, 6), _f(7, 6)), ["do not broadcast", "a.0 (5 in this call)", "b.0 (7)"]),
    (bad_full_reduce_l1, lambda: (_f(5, 6),), ["over all its axes"]),
    (bad_whole_tensor_loop, lambda: (_f(4, 8), 3), ["whole tensors are not carried by loops"]),
    (bad_whole_tensor_if, lambda: (_f(4, 8), 1), ["different global value in each branch", "td.where"]),
    (bad_no_effect, lambda: (_f(5, 6), _f(5, 6)), ["has no effect"]),
    (bad_no_effect_l2, lambda: (_f(5, 6), _f(8)), ["has no effect"]),
]


@pytest.mark.parametrize("kernel, args, words", BAD, ids=[k.name for k, _, _ in BAD])
def test_bad_kernel_raises_a_tiledsl_error_with_line_and_hint(kernel, args, words):
    import inspect

    with pytest.raises(td.TiledslError) as e:
        kernel(*args(), backend="ir")
    assert isinstance(e.value, (td.FrontendError, td.KernelTypeError)), type(e.value)
    msg = str(e.value)
    lines, first = inspect.getsourcelines(kernel.fn)
    mark = next(first + i for i, text in enumerate(lines) if "# MARK" in text)
    assert f"line {mark}," in msg and "# MARK" in msg, msg
    assert "\nhint: " in msg, msg
    assert "Value(" not in msg and "Type(" not in msg, msg
    for w in words:
        assert w in msg, (w, msg)


# --- valid axes, literals that fit, explicit casts ----------------------------------------------------------
@td.kernel
def axes_ok(x: td.Tensor, y: td.Tensor, BM: td.constexpr, BN: td.constexpr):
    M, N = x.shape
    with td.grid(1) as p:
        r = td.arange(0, BM)
        c = td.arange(0, BN)
        t = td.load(x, (0, 0), (BM, BN), mask=(r < M)[:, None] & (c < N)[None, :])
        s = td.sum(t, axis=-1)  # (BM,)
        m = td.max(t, axis=-2)  # (BN,)
        col = td.expand_dims(s, 1) + td.expand_dims(m, -2)  # (BM, 1) + (1, BN)
        col = col + td.trans(t, -1, 0).T + td.cumsum(t, axis=-1)
        td.store(y, (0, 0), col, mask=(r < M)[:, None] & (c < N)[None, :])


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_and_inserted_axes(backend):
    x = torch.randn(8, 7)  # all 8 rows real: the column max sees no padding
    y = torch.zeros(8, 7)
    axes_ok(x, y, 8, 8, backend=backend)
    ref = x.sum(-1)[:, None] + x.max(-2).values[None, :] + x + x.cumsum(-1)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)


@td.kernel
def literals_fit(y8: td.Tensor, y32: td.Tensor, v: int):
    with td.grid(1) as p:
        td.store(y8, (0,), 100)
        td.store(y8, (1,), -128)
        td.store(y32, (0,), td.full((2,), 3.0, td.int32))
        td.store(y32, (2,), v.to(td.int32))  # an explicit cast wraps, as torch's


@pytest.mark.parametrize("backend", BACKENDS)
def test_literals_adapt_to_the_tensor_dtype_and_explicit_casts_narrow(backend):
    y8 = torch.zeros(2, dtype=torch.int8)
    y32 = torch.zeros(3, dtype=torch.int32)
    literals_fit(y8, y32, 2**40 + 7, backend=backend)
    assert y8.tolist() == [100, -128]
    assert y32.tolist() == [3, 3, torch.tensor(2**40 + 7).to(torch.int32).item()]


def test_discarded_attempts_leave_no_knobs_or_names_behind():
    @td.kernel
    def k(x: td.Tensor, out: td.Tensor, BK: td.constexpr):
        N = x.shape[0]
        with td.grid(1) as p:
            acc = 0
            for rep in range(2):
                for kk in td.pipelined(td.cdiv(N, BK), stages=td.auto):
                    acc += td.sum(td.load(x, (kk * BK,), (BK,)))
            td.store(out, (0,), acc)

    fn = k.ir(torch.zeros(32), torch.zeros(1), 16)
    assert [kn.name for kn in fn.knobs] == ["BK", "stages", "num_warps"]
    loops = _insts(fn, Op.FOR)
    assert [len(f.results) for f in loops] == [1, 1]
    assert [r.name for f in loops for r in f.results] == ["acc", "acc_1"] or all(
        r.name.startswith("acc") for f in loops for r in f.results)


# --- Python semantics of folding, and runtime // and % ---------------------------------------------------
@td.kernel
def int_division(x: td.Tensor, y: td.Tensor, out: td.Tensor, fout: td.Tensor, BN: td.constexpr):
    with td.grid(1) as p:
        a = td.load(x, (0,), (BN,))
        b = td.load(y, (0,), (BN,))
        td.store(out, (0, 0), a // b)
        td.store(out, (1, 0), a % b)
        td.store(fout, (0,), 7 / 2)  # true division of ints folds to a float
        td.store(fout, (1,), -7 // 2 + 0.0)
        td.store(fout, (2,), -7 % 3 + 0.0)
        td.store(fout, (3,), 7 % -3 + 2 ** -1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_folding_and_runtime_floor_division_follow_python(backend):
    x = torch.tensor([7, -7, 7, -7, 0, 5, -1, 9], dtype=torch.int32)
    y = torch.tensor([2, 2, -2, -2, 3, -5, 4, -4], dtype=torch.int32)
    out = torch.zeros(2, 8, dtype=torch.int32)
    fout = torch.zeros(4)
    int_division(x, y, out, fout, 8, backend=backend)
    assert out[0].tolist() == [a // b for a, b in zip(x.tolist(), y.tolist())]
    assert out[1].tolist() == [a % b for a, b in zip(x.tolist(), y.tolist())]
    assert fout.tolist() == [3.5, -4.0, 2.0, -1.5]
