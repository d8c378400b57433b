"""Property tests: for many shapes and dtypes, every chosen schedule satisfies the target's limits
and the scheduled program matches torch through the IR interpreter (backend="ir")."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tiledsl as td
from tiledsl.dtypes import DType, from_torch
from tiledsl.interp import run
from tiledsl.ir import verify
from tiledsl.passes.pipeline import schedule
from tiledsl.schedule.analysis import analyze, tensor_sizes
from tiledsl.schedule.cost import limits
from tiledsl.schedule.roles import knob_roles
from tiledsl.specs import spec
from tiledsl.targets import TARGETS

PROPS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DTYPES = st.sampled_from([torch.float32, torch.float16, torch.bfloat16])
TARGET = st.sampled_from(["h100", "h200", "a100"])
TOL = {torch.float32: 1e-4, torch.float16: 2e-2, torch.bfloat16: 5e-2}


@td.kernel
def softmax(x: td.Tensor) -> td.Tensor:
    e = td.exp(x - td.max(x, axis=-1, keepdims=True))
    return e / td.sum(e, axis=-1, keepdims=True)


@td.kernel
def rmsnorm(x: td.Tensor, w: td.Tensor) -> td.Tensor:
    xf = x.to(td.float32)
    ms = td.sum(xf * xf, axis=1, keepdims=True) / x.shape[1]
    return (xf * td.rsqrt(ms + 1e-6) * w.to(td.float32)).to(x.dtype)


@td.kernel
def row_stats(x: td.Tensor):
    return td.max(x, axis=1), td.sum(x, axis=1, keepdims=True)


@td.kernel
def gelu_bias(x: td.Tensor, b: td.Tensor) -> td.Tensor:
    y = x + b
    return y * td.sigmoid(y * 1.702)


@td.kernel
def linear_relu(a: td.Tensor, b: td.Tensor, bias: td.Tensor) -> td.Tensor:
    return td.maximum(a @ b + bias, 0.0)


def _check(kernel, args, target, refs):
    specs = tuple(spec(a) for a in args)
    s = schedule(kernel.ir(*args), specs, target)
    verify(s.fn, "scheduled")
    values = s.schedule.as_dict()
    a = analyze(s.fn, tensor_sizes(s.fn, specs), values)
    assert limits(a, knob_roles(s.fn), values, TARGETS[target]) == []
    outs = [torch.empty_like(r) for r in refs]
    run(s.fn, [*args, *outs])
    for o, r in zip(outs, refs):
        tol = TOL.get(r.dtype, 1e-4)
        torch.testing.assert_close(o.float(), r.float(), rtol=tol, atol=tol)
    return s


@PROPS
@given(m=st.integers(1, 40), n=st.integers(2, 300), dt=DTYPES, target=TARGET)
def test_softmax(m, n, dt, target):
    x = torch.randn(m, n).to(dt)
    ref = torch.softmax(x.float(), -1).to(dt)
    _check(softmax, [x], target, [ref])


def test_softmax_wide_rows_chunked():
    x = torch.randn(3, 20000)
    s = _check(softmax, [x], "h100", [torch.softmax(x, -1)])
    assert "BLOCK_N" in s.schedule.as_dict()


@PROPS
@given(m=st.integers(1, 24), n=st.integers(2, 200), dt=DTYPES, target=TARGET)
def test_rmsnorm(m, n, dt, target):
    x, w = torch.randn(m, n).to(dt), torch.randn(n).to(dt)
    xf = x.float()
    ref = (xf * torch.rsqrt((xf * xf).sum(1, keepdim=True) / n + 1e-6) * w.float()).to(dt)
    _check(rmsnorm, [x, w], target, [ref])


@PROPS
@given(m=st.integers(1, 30), n=st.integers(2, 100), target=TARGET)
def test_two_outputs_in_return_order(m, n, target):
    x = torch.randn(m, n)
    s = _check(row_stats, [x], target, [x.max(1).values, x.sum(1, keepdim=True)])
    assert s.fn.attr("outputs") == ("out", "out1")


@PROPS
@given(m=st.integers(1, 70), n=st.integers(1, 70), dt=DTYPES, target=TARGET)
def test_elementwise_broadcast(m, n, dt, target):
    x, b = torch.randn(m, n).to(dt), torch.randn(n).to(dt)
    y = x + b
    ref = y * torch.sigmoid(y * torch.tensor(1.702, dtype=dt))
    _check(gelu_bias, [x, b], target, [ref])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=st.integers(2, 48), n=st.integers(2, 48), k=st.integers(2, 80),
       dt=st.sampled_from([torch.float32, torch.bfloat16]), target=TARGET)
def test_matmul_epilogue(m, n, k, dt, target):
    a, b, bias = torch.randn(m, k).to(dt), torch.randn(k, n).to(dt), torch.randn(n).to(dt)
    mm = (a.float() @ b.float()).to(dt)
    ref = torch.maximum(mm + bias, torch.tensor(0.0, dtype=dt))
    if dt is torch.bfloat16:  # bf16 rounding of the product: compare loosely
        s = schedule(linear_relu.ir(a, b, bias), tuple(spec(t) for t in (a, b, bias)), target)
        out = torch.empty(m, n, dtype=dt)
        run(s.fn, [a, b, bias, out])
        torch.testing.assert_close(out.float(), ref.float(), rtol=5e-2, atol=5e-2 * k ** 0.5)
        return
    _check(linear_relu, [a, b, bias], target, [ref])


def test_dtype_names_cover_torch():
    assert from_torch(torch.bfloat16) is DType.bf16


@pytest.mark.parametrize("target", ["h100", "a100"])
def test_fp8_inputs_schedule(target):
    a = torch.randn(64, 64).to(torch.float8_e4m3fn)
    b = torch.randn(64, 64).to(torch.float8_e4m3fn)
    specs = (spec(a), spec(b))

    @td.kernel
    def f8(a: td.Tensor, b: td.Tensor) -> td.Tensor:
        return (a.to(td.float32) + b.to(td.float32)).to(td.bfloat16)

    s = schedule(f8.ir(a, b), specs, target)
    out = torch.empty(64, 64, dtype=torch.bfloat16)
    run(s.fn, [a, b, out])
    torch.testing.assert_close(out, (a.float() + b.float()).to(torch.bfloat16))
