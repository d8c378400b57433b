"""Bad kernels get a tiledsl error naming the problem, the kernel's file, line and column, the
source line itself, and what to do."""

import inspect

import pytest
import torch

import tiledsl as td


def _line_of(kernel, marker: str) -> int:
    lines, first = inspect.getsourcelines(kernel.fn)
    for i, text in enumerate(lines):
        if marker in text:
            return first + i
    raise AssertionError(marker)


def _check(err, kernel, marker, *words):
    msg = str(err.value)
    line = _line_of(kernel, marker)
    assert f'File "{__file__}", line {line}' in msg, msg
    assert marker in msg  # the offending source line is shown
    assert err.value.loc.line == line
    for w in words:
        assert w in msg, (w, msg)


def test_unsupported_statement():
    @td.kernel
    def k(x: td.Tensor):
        with td.grid(1) as pid:
            while True:  # MARK-while
                pass

    with pytest.raises(td.FrontendError) as e:
        k.ir(torch.zeros(4))
    _check(e, k, "# MARK-while", "`While` statements are not supported", "hint:")


def test_dot_shape_mismatch():
    @td.kernel
    def k(x: td.Tensor, y: td.Tensor):
        with td.grid(1) as pid:
            t = td.load(x, (0, 0), (16, 8))
            u = td.dot(t, t)  # MARK-dot
            td.store(y, (0, 0), u)

    with pytest.raises(td.KernelTypeError) as e:
        k.ir(torch.zeros(16, 8), torch.zeros(16, 16))
    _check(e, k, "# MARK-dot", "dot inner sizes differ", "(16, 8) @ (16, 8)")


def test_store_dtype_mismatch_says_how_to_cast():
    @td.kernel
    def k(x: td.Tensor, y: td.Tensor):
        with td.grid(1) as pid:
            t = td.load(x, (0,), (16,))
            td.store(y, (0,), t)  # MARK-store

    with pytest.raises(td.KernelTypeError) as e:
        k.ir(torch.zeros(16), torch.zeros(16, dtype=torch.float16))
    _check(e, k, "# MARK-store", "f32 into a f16 tensor", ".to(")


def test_elementwise_broadcast_mismatch():
    @td.kernel
    def k(x: td.Tensor):
        with td.grid(1) as pid:
            t = td.load(x, (0, 0), (16, 8))
            u = td.load(x, (0, 0), (8, 16))
            td.store(x, (0, 0), t + u)  # MARK-add

    with pytest.raises(td.KernelTypeError) as e:
        k.ir(torch.zeros(16, 16))
    _check(e, k, "# MARK-add", "do not broadcast")


def test_tile_op_outside_grid_is_a_level_error():
    @td.kernel
    def k(x: td.Tensor):
        t = td.load(x, (0,), (16,))  # MARK-load

    with pytest.raises(td.LevelError) as e:
        k.ir(torch.zeros(16))
    _check(e, k, "# MARK-load", "needs a tile program", "td.grid")


def test_thread_op_outside_threads_is_a_level_error():
    @td.kernel
    def k(x: td.Tensor):
        with td.grid(1) as pid:
            v = td.load(x, (0,))
            w = td.shfl_xor(v, 1)  # MARK-shfl

    with pytest.raises(td.LevelError) as e:
        k.ir(torch.zeros(16))
    _check(e, k, "# MARK-shfl", "thread-level", "td.threads")


def test_whole_tensor_math_inside_grid_is_a_level_error():
    @td.kernel
    def k(x: td.Tensor):
        with td.grid(1) as pid:
            y = x * 2.0  # MARK-global

    with pytest.raises(td.LevelError) as e:
        k.ir(torch.zeros(16))
    _check(e, k, "# MARK-global", "whole tensor inside a tile program")


def test_undefined_name():
    @td.kernel
    def k(x: td.Tensor):
        with td.grid(1) as pid:
            td.store(x, (0,), nope)  # MARK-name  # noqa: F821

    with pytest.raises(td.FrontendError) as e:
        k.ir(torch.zeros(16))
    _check(e, k, "# MARK-name", "'nope' is not defined")


def test_loop_carried_shape_change():
    @td.kernel
    def k(x: td.Tensor):
        with td.grid(1) as pid:
            v = td.zeros((8,), td.float32)
            for i in range(3):  # MARK-for
                v = td.zeros((16,), td.float32)

    with pytest.raises(td.KernelTypeError) as e:
        k.ir(torch.zeros(16))
    assert "changes type in the loop" in str(e.value)


def test_level3_rejected_by_triton_backend_names_construct_line_and_tilelang():
    @td.kernel
    def k(x: td.Tensor, out: td.Tensor):
        with td.grid(1) as pid:
            with td.threads(32) as tid:  # MARK-l3
                v = td.load(x, (tid,))
                v = v + td.shfl_xor(v, 16)
                td.store(out, (tid,), v)

    with pytest.raises(td.BackendError) as e:
        k.compile(torch.zeros(32), torch.zeros(32), backend="triton", target="h100")
    _check(e, k, "# MARK-l3", "td.threads", "Triton", "backend='tilelang'")


def test_wrong_arguments():
    @td.kernel
    def k(x: td.Tensor, n: int):
        pass

    with pytest.raises(td.ArgumentError, match=r"takes 2 arguments \(x, n\) but 3 were given"):
        k.ir(torch.zeros(2), 1, 2)
    with pytest.raises(td.ArgumentError, match="missing argument"):
        k.ir(torch.zeros(2))
    with pytest.raises(td.ArgumentError, match="is a number but got a tensor"):
        k.ir(torch.zeros(2), torch.zeros(2))
    with pytest.raises(td.ArgumentError, match="no parameter 'm'"):
        k.ir(torch.zeros(2), 1, m=3)


def test_unsupported_annotation_points_at_parameter():
    with pytest.raises(td.FrontendError, match="annotate with td.Tensor"):
        @td.kernel
        def k(x: list):
            pass
