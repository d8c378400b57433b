"""Eager mode (`backend="eager"`), part 2: level 3 (threads in lockstep, shuffles, barriers, warp
roles), debugging (print, pdb, tracebacks and errors at the user's lines) and the runtime hooks.
Part 1, tests/test_eager.py, covers levels 1 and 2 and the probes."""

from __future__ import annotations

import sys
import types

import pytest
import torch

import tiledsl as td
from tests import kernels_for_tests as K
from tests.test_eager import line_of

E = "eager"


# --- level 3 -------------------------------------------------------------------------------------------------
@td.kernel
def barrier_neighbours(out: td.Tensor):
    with td.grid(2) as p:
        smem = td.alloc_shared((8,), td.int32)
        with td.threads(8) as tid:
            td.store(smem, (tid,), tid * tid + p)
            td.barrier()
            got = td.load(smem, ((tid + 1) % 8,))
            td.store(out, (p * 8 + tid,), got)


def test_barrier_orders_shared_memory_between_threads():
    out = torch.zeros(16, dtype=torch.int32)
    barrier_neighbours(out, backend=E)
    assert out.tolist() == [((t + 1) % 8) ** 2 + p for p in range(2) for t in range(8)]


@td.kernel
def shuffles(out: td.Tensor, LANE: td.constexpr, WIDTH: td.constexpr):
    with td.grid(1) as p:
        with td.threads(64) as tid:
            v = tid * 10
            td.store(out, (0, tid), td.shfl_xor(v, LANE, WIDTH))
            td.store(out, (1, tid), td.shfl_down(v, LANE, width=WIDTH))
            td.store(out, (2, tid), td.shfl_up(v, LANE, WIDTH))
            td.store(out, (3, tid), td.shfl_idx(v, LANE, WIDTH))


@pytest.mark.parametrize("lane,width", [(3, 32), (1, 8), (2, 8), (5, 16), (8, 8)])
def test_shuffle_modes_follow_cuda(lane, width):
    out = torch.zeros(4, 64, dtype=torch.int32)
    shuffles(out, lane, width, backend=E)
    for t in range(64):
        w, l = t - t % 32, t % 32
        seg = l - l % width
        src = {"xor": (l ^ lane, (l ^ lane) < seg + width), "down": (l + lane, l + lane < seg + width),
               "up": (l - lane, l - lane >= seg), "idx": (seg + lane % width, True)}
        for row, mode in enumerate(("xor", "down", "up", "idx")):
            j, ok = src[mode]
            assert out[row, t].item() == 10 * (w + j if ok else t), (mode, t)


@td.kernel
def locals_per_thread(x: td.Tensor, out: td.Tensor):
    with td.grid(1) as p:
        total = td.zeros((1,), td.float32)
        with td.threads(4) as tid:
            reg = td.alloc_local((2,), td.float32)
            td.copy(td.load(x, (tid * 2,), (2,)), reg)
            reg += 1.0
            total = td.sum(td.load(reg, (0,), (2,)))  # a thread's own name: not shared
            td.store(out, (tid,), total)
        td.store(out, (4,), td.sum(total))  # the name outside is unchanged


def test_alloc_local_and_names_are_per_thread():
    x = torch.arange(8.0)
    out = torch.zeros(5)
    locals_per_thread(x, out, backend=E)
    assert out.tolist() == [0 + 1 + 2, 2 + 3 + 2, 4 + 5 + 2, 6 + 7 + 2, 0.0]


@td.kernel
def divergent_barrier(out: td.Tensor):
    with td.grid(1) as p:
        with td.threads(4) as tid:
            if tid < 2:
                td.barrier()  # MARK-divergent


def test_barrier_in_divergent_code_is_an_error():
    with pytest.raises(td.InterpreterError, match="finished while the others wait") as e:
        divergent_barrier(torch.zeros(1), backend=E)
    assert e.value.loc.line == line_of(divergent_barrier, "MARK-divergent")


@td.kernel
def thread_error(out: td.Tensor):
    with td.grid(1) as p:
        with td.threads(4) as tid:
            td.barrier()
            if tid == 2:
                td.store(out, (0,), td.zeros((2,), td.float32))  # MARK-thread-error


def test_an_error_in_one_thread_stops_the_block_and_names_its_line():
    with pytest.raises(td.KernelTypeError, match="needs 2 offsets") as e:
        thread_error(torch.zeros(1, 1), backend=E)
    assert e.value.loc.line == line_of(thread_error, "MARK-thread-error")


@td.kernel
def roles(a: td.Tensor, out: td.Tensor):
    with td.grid(1) as p:
        buf = td.alloc_shared((4,), td.float32)
        with td.producer():
            td.copy(a, buf, (0,))
        with td.consumer():
            td.store(out, (0,), td.load(buf, (0,), (4,)) * 2)


def test_warp_roles_run_in_program_order():
    a, out = torch.arange(4.0), torch.zeros(4)
    roles(a, out, backend=E)
    assert out.tolist() == [0.0, 2.0, 4.0, 6.0]


# --- debugging: print, pdb, tracebacks ------------------------------------------------------------------------
@td.kernel
def chatty(x: td.Tensor):
    with td.grid(2) as p:
        t = td.load(x, (p * 2,), (2,))
        print(f"program {p} sum {td.sum(t):.1f}")
        with td.threads(2) as tid:
            print("thread", tid, "of", p)


def test_print_inside_a_kernel_shows_up(capsys):
    chatty(torch.arange(4.0), backend=E)
    assert capsys.readouterr().out.splitlines() == [
        "program 0 sum 1.0", "thread 0 of 0", "thread 1 of 0", "program 1 sum 5.0", "thread 0 of 1", "thread 1 of 1"]


@td.kernel
def with_breakpoint(x: td.Tensor):
    with td.grid(1) as p:
        t = td.load(x, (0,), (4,))
        breakpoint()  # MARK-breakpoint  # noqa: T100


def test_pdb_stops_at_the_users_line_with_its_names(monkeypatch):
    seen = {}

    def hook(*args, **kwargs):
        f = sys._getframe(1)
        seen.update(file=f.f_code.co_filename, line=f.f_lineno, t=f.f_locals["t"], p=f.f_locals["p"])

    monkeypatch.setattr(sys, "breakpointhook", hook)
    with_breakpoint(torch.arange(4.0), backend=E)
    assert seen["file"] == __file__ and seen["line"] == line_of(with_breakpoint, "MARK-breakpoint")
    assert seen["t"].t.tolist() == [0.0, 1.0, 2.0, 3.0] and int(seen["p"]) == 0


@td.kernel
def python_error(x: td.Tensor):
    with td.grid(1) as p:
        t = td.load(x, (0,), (4,))
        bad = 1 // 0  # MARK-zerodiv


@td.kernel
def shape_error(x: td.Tensor):
    with td.grid(1) as p:
        t = td.load(x, (0,), (4,)) + td.load(x, (0,), (3,))  # MARK-shape


def test_tracebacks_and_errors_point_at_the_users_line():
    with pytest.raises(ZeroDivisionError) as e:
        python_error(torch.zeros(4), backend=E)
    mine = [tb for tb in e.traceback if str(tb.path) == __file__]
    assert mine[-1].lineno + 1 == line_of(python_error, "MARK-zerodiv")
    with pytest.raises(td.KernelTypeError, match=r"shapes \(4,\) and \(3,\) do not broadcast") as e:
        shape_error(torch.zeros(4), backend=E)
    assert e.value.loc.file == __file__ and e.value.loc.line == line_of(shape_error, "MARK-shape")
    assert "MARK-shape" in str(e.value)  # the source line is shown


@td.kernel
def misuse_load(x: td.Tensor, y: td.Tensor):
    t = td.load(x, (0,), (4,))  # MARK-outside


@td.kernel
def misuse_store(x: td.Tensor, y: td.Tensor):
    with td.grid(1) as p:
        td.store(y, (0,), td.load(x, (0,), (4,)))  # MARK-dtype


@td.kernel
def misuse_shape(x: td.Tensor, n: int):
    with td.grid(1) as p:
        t = td.zeros((n,), td.float32)  # MARK-runtime-shape


@td.kernel
def misuse_axis(x: td.Tensor):
    return td.sum(x, axis=2)  # MARK-axis


@td.kernel
def misuse_shuffle(x: td.Tensor):
    with td.grid(1) as p:
        v = td.shfl_xor(p, 1)  # MARK-shfl


def test_misuse_raises_tiledsl_errors_with_the_kernel_line():
    x, y = torch.zeros(4), torch.zeros(4, dtype=torch.float16)
    cases = [(misuse_load, (x, y), td.LevelError, "needs a tile program", "MARK-outside"),
             (misuse_store, (x, y), td.KernelTypeError, "cast first", "MARK-dtype"),
             (misuse_shape, (x, 3), td.KernelTypeError, "compile-time", "MARK-runtime-shape"),
             (misuse_axis, (torch.zeros(2, 2),), td.KernelTypeError, "axis 2 is out of range", "MARK-axis"),
             (misuse_shuffle, (x,), td.LevelError, "thread-level", "MARK-shfl")]
    for k, args, cls, msg, mark in cases:
        with pytest.raises(cls, match=msg) as e:
            k(*args, backend=E)
        assert e.value.loc.line == line_of(k, mark), k.name


@td.kernel
def grid_break(x: td.Tensor):
    for i in range(2):
        with td.grid(2) as p:
            break  # MARK-break


def test_break_out_of_a_grid_body_is_refused():
    with pytest.raises(td.FrontendError, match="break") as e:
        grid_break(torch.zeros(1), backend=E)
    assert e.value.loc.line == line_of(grid_break, "MARK-break")


def test_bad_arguments_are_argument_errors():
    a = torch.zeros(4, 4)
    with pytest.raises(td.ArgumentError, match="missing"):
        K.matmul(a, a, backend=E)
    with pytest.raises(td.ArgumentError, match="no parameter"):
        K.matmul(a, a, a, BX=3, backend=E)
    with pytest.raises(td.ArgumentError, match="td.Tensor"):
        K.matmul(a, a, 3, backend=E)
    with pytest.raises(td.ArgumentError, match="num_warps"):
        K.matmul(a, a, a, num_warps=0, backend=E)


# --- the runtime hooks ------------------------------------------------------------------------------------------
def test_runtime_hooks():
    from tiledsl.runtime.kernel import BACKENDS

    assert "eager" in BACKENDS
    a = torch.randn(8, 8)
    with pytest.raises(td.ArgumentError, match="compiles nothing"):
        K.matmul.compile(a, a, a, backend=E)
    c = torch.zeros(8, 8)
    K.matmul(a, a, c)  # no backend, no setting: never eager (CPU tensors: the IR interpreter)
    assert any(key[2] == "ir" for key in K.matmul._compiled)
    td.configure(backend="eager")  # what TILEDSL_BACKEND=eager sets
    try:
        c = torch.zeros(8, 8)
        before = len(K.matmul._compiled)
        K.matmul(a, a, c)
        assert len(K.matmul._compiled) == before  # nothing compiled: the body ran
        torch.testing.assert_close(c, a @ a)
        assert K.matmul.compile(a, a, a, backend="ir").backend == "ir"
    finally:
        td.configure(backend=None)


def test_settings_read_eager_from_the_environment():
    from tiledsl.settings import Settings

    assert Settings.from_env({"TILEDSL_BACKEND": "eager"}).backend == "eager"


def test_every_builtin_has_an_eager_version():
    from tiledsl.eager.run import BUILTINS
    from tiledsl.language import BUILTINS as LANG

    assert set(LANG) <= set(BUILTINS)


def test_eager_shares_no_code_with_the_compiler():
    import pathlib

    for f in pathlib.Path(td.__file__).parent.joinpath("eager").glob("*.py"):
        text = f.read_text()
        for part in ("tiledsl.frontend", "tiledsl.ir", "tiledsl.interp", "tiledsl.passes", "tiledsl.schedule"):
            assert part not in text.replace('"' + part, ""), (f.name, part)


def _twice(t):
    return t * 2


helpers = types.ModuleType("eager_test_helpers")
helpers.twice = td.func(_twice)


@td.kernel
def via_module(x: td.Tensor, y: td.Tensor, flag: bool):
    with td.grid(1) as p:
        t = td.load(x, (0,), (4,))
        if flag:
            t = helpers.twice(t)  # a @td.func reached through a module attribute
        td.store(y, (0,), t)


def test_func_helpers_through_modules_and_bool_parameters():
    x = torch.arange(4.0)
    for flag, want in ((True, x * 2), (False, x)):
        y = torch.zeros(4)
        via_module(x, y, flag, backend=E)
        assert torch.equal(y, want)


def test_decorator_default_backend_is_eager():
    k = td.kernel(backend="eager")(via_module.fn)
    y = torch.zeros(4)
    k(torch.arange(4.0), y, True)
    assert y.tolist() == [0.0, 2.0, 4.0, 6.0] and not k._compiled
