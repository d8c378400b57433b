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
