"""Front-end and eager-mode semantics, round 2: aliasing (`v = u` then rebinding `v`), torch's
scalar promotion, `return` in a compile-time `if`, the statically rejected constructs (the same
in eager mode and in the compiler), `and`/`or`/`not`, and `buf.to(own dtype)`.

Every kernel that runs is checked on "eager", "ir" and "triton" (Triton's interpreter) against
torch computed here."""

from __future__ import annotations

import pytest
import torch

import tiledsl as td

BACKENDS = ["eager", "ir", "triton"]


# --- 1. v = u, then rebinding v ------------------------------------------------------------------------------
@td.kernel
def alias_l1(x: td.Tensor) -> td.Tensor:
    u = x * 2
    v = u
    v = v + 1
    return v + u


@td.kernel
def alias_l2(x: td.Tensor, out: td.Tensor, n: int, BM: td.constexpr):
    with td.grid(td.cdiv(x.shape[0], BM)) as i:
        t = td.load(x, (i * BM,), (BM,))
        u = t * 2
        v = u                      # straight line
        v = v + 1
        w = u
        for k in range(n):         # carried
            w = w + u
        c = u
        if n > 2:                  # a branch
            c = c * 3
        a, b = u, w                # tuple unpacking
        b = b * 3
        p = q = a + 1              # two names, one value
        for s in (1, 2):           # a compile-time tuple loop
            p = p + s
        td.store(out, (i * BM,), v + u + w + c + a + b + p + q)


@pytest.mark.parametrize("backend", BACKENDS)
def test_alias_then_rebind_level1(backend):
    x = torch.randn(37)
    torch.testing.assert_close(alias_l1(x, backend=backend), (x * 2 + 1) + x * 2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [0, 3])
def test_alias_then_rebind_in_loops_branches_and_tuples(backend, n):
    x = torch.randn(100)
    out = torch.zeros(100)
    alias_l2(x, out, n, 32, backend=backend)
    u = x * 2
    v, w = u + 1, u * (1 + n)
    c = u * 3 if n > 2 else u
    a, b = u, w * 3
    q = a + 1
    p = q + 3
    torch.testing.assert_close(out, v + u + w + c + a + b + p + q)


# --- 2. scalar promotion as torch ------------------------------------------------------------------------------------
@td.kernel
def scale_l1(x: td.Tensor, s: float, k: int) -> td.Tensor:
    return x * s + k


@td.kernel
def int_scale_l1(x: td.Tensor, k: int) -> td.Tensor:
    return x * k


@td.kernel
def const_math_l1(x: td.Tensor, C: td.constexpr) -> td.Tensor:
    return td.sigmoid(C) + x


@td.kernel
def float_scalar_int_tile(x: td.Tensor, s: float) -> td.Tensor:
    return x + s


@td.kernel
def scalars_l2(x: td.Tensor, h: td.Tensor, out: td.Tensor, s: float, BM: td.constexpr):
    with td.grid(td.cdiv(x.shape[0], BM)) as i:
        t = td.load(x, (i * BM,), (BM,), mask=i * BM + td.arange(0, BM) < x.shape[0])
        hs = td.load(h, (0,), None)                 # an f32 scalar
        tot = td.sum(td.load(h, (0,), (4,)))        # an f32 scalar from a whole-tile reduction
        r = (t * s + hs) * tot
        td.store(out, (i * BM,), r, mask=i * BM + td.arange(0, BM) < x.shape[0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_and_int_scalars_keep_a_half_tensor_half(backend):
    x = torch.randn(100).half()
    r = scale_l1(x, 0.5, 3, backend=backend)
    assert r.dtype == (x * 0.5 + 3).dtype == torch.float16
    torch.testing.assert_close(r, x * 0.5 + 3)


@pytest.mark.parametrize("backend", ["eager", "ir"])  # Triton's interpreter: int8 math is not checked here
def test_int_scalar_keeps_an_int8_tensor_int8(backend):
    x = torch.randint(-10, 10, (50,), dtype=torch.int8)
    r = int_scale_l1(x, 3, backend=backend)
    assert r.dtype == torch.int8
    assert torch.equal(r, x * 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_td_math_on_a_number_is_weak(backend):
    x = torch.randn(64).half()
    r = const_math_l1(x, 2.0, backend=backend)
    ref = torch.sigmoid(torch.tensor(2.0)) + x
    assert r.dtype == ref.dtype == torch.float16
    torch.testing.assert_close(r, ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_float_scalar_with_an_int_tensor_gives_f32(backend):
    x = torch.arange(10, dtype=torch.int32)
    r = float_scalar_int_tile(x, 0.5, backend=backend)
    ref = x + torch.tensor(0.5)
    assert r.dtype == ref.dtype == torch.float32
    torch.testing.assert_close(r, ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loaded_and_reduced_scalars_do_not_widen_a_half_tile(backend):
    x = torch.randn(100).half()
    h = torch.rand(4) + 0.5
    out = torch.zeros(100, dtype=torch.float16)
    scalars_l2(x, h, out, 0.5, 32, backend=backend)
    ref = (x * torch.tensor(0.5) + h[0]) * h.sum()  # f16 tile with f32 0-dim tensors: f16, op by op
    assert ref.dtype == torch.float16
    torch.testing.assert_close(out, ref, atol=2e-3, rtol=2e-3)


# --- 3. return in a compile-time if ------------------------------------------------------------------------------
KIND = "sum"


@td.kernel
def pick_reduction(x: td.Tensor, kind: td.constexpr) -> td.Tensor:
    if kind == 1:
        return td.sum(x, axis=1)
    if KIND == "max" or kind == 2:
        return td.max(x, axis=1)
    for c in (3, 4):
        if kind == c:
            return td.min(x, axis=1) * c
    return td.min(x, axis=1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", [1, 2, 3, 4, 5])
def test_return_in_a_compile_time_if_ends_the_function_only_when_taken(backend, kind):
    x = torch.randn(8, 16)
    ref = {1: x.sum(1), 2: x.amax(1), 3: x.amin(1) * 3, 4: x.amin(1) * 4, 5: x.amin(1)}[kind]
    torch.testing.assert_close(pick_reduction(x, kind, backend=backend), ref)


# --- 4. what a kernel may not do: the same in eager mode and compiled -------------------------------------
@td.kernel
def bad_loopvar_after(x: td.Tensor, out: td.Tensor, n: int):
    with td.grid(1) as p:
        w = 0.0
        for q in range(n):
            w = w + 0.5
        td.store(out, (0,), w + q)


@td.kernel
def bad_first_in_loop(x: td.Tensor, out: td.Tensor, n: int):
    with td.grid(1) as p:
        for q in range(n):
            z = td.load(x, (q,), None)
        td.store(out, (0,), z)


@td.kernel
def bad_previous_iteration(x: td.Tensor, out: td.Tensor, n: int):
    with td.grid(1) as p:
        s = 0.0
        for q in range(n):
            if q > 0:
                s = s + prev  # noqa: F821 - the point of the test
            prev = td.load(x, (q,), None)
        td.store(out, (0,), s)


@td.kernel
def bad_one_branch(x: td.Tensor, out: td.Tensor, n: int):
    with td.grid(1) as p:
        if n > 2:
            z = td.load(x, (0,), None)
        td.store(out, (0,), z)


@td.kernel
def bad_while(x: td.Tensor, out: td.Tensor, n: int):
    with td.grid(1) as p:
        i = 0
        while i < n:
            i = i + 1


@td.kernel
def bad_nested_def(x: td.Tensor, out: td.Tensor):
    def helper(v):
        return v * 2
    with td.grid(1) as p:
        td.store(out, (0,), helper(td.load(x, (0,), None)))


@td.kernel
def bad_dead_while(x: td.Tensor, out: td.Tensor, C: td.constexpr):
    with td.grid(1) as p:
        if C > 100:
            while True:
                pass
        td.store(out, (0,), td.load(x, (0,), None))


@td.kernel
def bad_break(x: td.Tensor, out: td.Tensor, n: int):
    with td.grid(1) as p:
        for q in range(n):
            break


@td.kernel
def bad_and_on_tiles(x: td.Tensor, out: td.Tensor):
    with td.grid(1) as p:
        t = td.load(x, (0,), (4,))
        td.store(out, (0,), ((t > 0) and (t < 1)).to(td.float32))


@td.kernel
def bad_not_on_a_tile(x: td.Tensor, out: td.Tensor):
    with td.grid(1) as p:
        t = td.load(x, (0,), (4,))
        td.store(out, (0,), (not (t > 0)).to(td.float32))


@td.kernel
def bad_or_int_scalar(x: td.Tensor, out: td.Tensor, n: int):
    with td.grid(1) as p:
        if n or n > 3:
            td.store(out, (0,), 1.0)


@td.kernel
def bad_untaken_compile_time_branch(x: td.Tensor, out: td.Tensor, C: td.constexpr):
    with td.grid(1) as p:
        if C > 2:
            w = td.load(x, (0,), None)
        td.store(out, (0,), w)


@td.kernel
def bad_return_in_runtime_if(x: td.Tensor, out: td.Tensor, n: int) -> td.Tensor:
    if n > 2:
        return x * 2
    return x


@td.kernel
def bad_return_in_runtime_loop(x: td.Tensor, out: td.Tensor, n: int) -> td.Tensor:
    for i in range(n):
        return x
    return x * 2


REJECTED = [
    (bad_return_in_runtime_if, (3,), "FrontendError", "return inside a grid, loop or branch"),
    (bad_return_in_runtime_loop, (3,), "FrontendError", "return inside a grid, loop or branch"),
    (bad_untaken_compile_time_branch, (1,), "FrontendError", "name 'w' is not defined"),
    (bad_loopvar_after, (3,), "FrontendError", "`q` is the variable of a runtime loop that may run zero times"),
    (bad_first_in_loop, (3,), "FrontendError", "`z` is first assigned inside a runtime loop"),
    (bad_previous_iteration, (3,), "FrontendError", "name 'prev' is not defined"),
    (bad_one_branch, (3,), "FrontendError", "`z` is assigned in only one branch of a runtime `if`"),
    (bad_while, (3,), "FrontendError", "`While` statements are not supported in a kernel"),
    (bad_nested_def, (), "FrontendError", "`FunctionDef` statements are not supported in a kernel"),
    (bad_break, (3,), "FrontendError", "`Break` statements are not supported in a kernel"),
    (bad_and_on_tiles, (), "KernelTypeError", "`and` on a tile"),
    (bad_not_on_a_tile, (), "KernelTypeError", "`not` on a tile"),
    (bad_or_int_scalar, (3,), "KernelTypeError", "`or` on a scalar"),
]


@pytest.mark.parametrize("backend", ["eager", "ir"])
@pytest.mark.parametrize("kernel, args, cls, words", REJECTED, ids=[k.name for k, *_ in REJECTED])
def test_eager_and_compiled_reject_the_same_programs(backend, kernel, args, cls, words):
    x, out = torch.randn(8), torch.zeros(8)
    with pytest.raises(td.TiledslError) as e:
        kernel(x, out, *args, backend=backend)
    assert type(e.value).__name__ == cls
    assert words in str(e.value)
    assert "test_regress_frontend2.py" in str(e.value)  # at the kernel's line


@pytest.mark.parametrize("backend", ["eager", "ir"])
def test_rejected_even_where_not_reached(backend):
    """A `while` in a compile-time branch the call does not take is rejected in both modes."""
    with pytest.raises(td.FrontendError, match="`While` statements are not supported"):
        bad_dead_while(torch.randn(8), torch.zeros(8), 1, backend=backend)


@td.kernel
def grid_names_are_per_program(x: td.Tensor, out: td.Tensor):
    c = 0
    with td.grid(4) as i:
        c = c + 1
        td.store(out, (i,), c + td.load(x, (i,), None))


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_program_starts_from_the_values_before_the_grid(backend):
    x, out = torch.randn(4), torch.zeros(4)
    grid_names_are_per_program(x, out, backend=backend)
    torch.testing.assert_close(out, x + 1)


# --- 5. and / or / not; buf.to(own dtype) ------------------------------------------------------------------------------
@td.kernel
def logic_ok(x: td.Tensor, out: td.Tensor, n: int, C: td.constexpr):
    with td.grid(1) as p:
        t = td.load(x, (0,), (4,))
        v = (C > 1 and t) if C > 1 else (C > 1 or t * 2)  # compile-time: Python's meaning
        if n > 0 and n < 10 and not (n == 5):              # runtime bool scalars: & of them
            v = v + 1
        if not n or n > 100:
            v = v + 10
        a = td.alloc_fragment((4,), td.float32)
        td.copy(t, a)
        snap = a.to(td.float32)   # a snapshot, not the buffer
        a += 1.0
        td.store(out, (0,), v + snap + a.to(td.float32))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n, C", [(3, 1), (5, 2), (0, 3), (20, 2)])
def test_and_or_not_on_compile_time_values_and_bool_scalars(backend, n, C):
    x, out = torch.randn(4), torch.zeros(4)
    logic_ok(x, out, n, C, backend=backend)
    v = x if C > 1 else x * 2
    if 0 < n < 10 and n != 5:
        v = v + 1
    if not n or n > 100:
        v = v + 10
    torch.testing.assert_close(out, v + x + (x + 1))
