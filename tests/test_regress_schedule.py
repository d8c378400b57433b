"""Regressions of the scheduler, the passes and the IR interpreter, each checked against torch
computed here (backend="ir", and backend="triton" through Triton's CPU interpreter).

Constexpr arguments are passed by keyword throughout.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

import tiledsl as td

HAS_TRITON = importlib.util.find_spec("triton") is not None
BACKENDS = ["ir", pytest.param("triton", marks=pytest.mark.skipif(not HAS_TRITON, reason="needs triton"))]


# --- kernels ---------------------------------------------------------------------------------------------
@td.kernel
def softmax(x: td.Tensor) -> td.Tensor:
    e = td.exp(x - td.max(x, axis=-1, keepdims=True))
    return e / td.sum(e, axis=-1, keepdims=True)


@td.kernel
def layernorm(x: td.Tensor, w: td.Tensor, b: td.Tensor) -> td.Tensor:
    xf = x.to(td.float32)
    mean = td.sum(xf, axis=-1, keepdims=True) / x.shape[-1]
    d = xf - mean
    var = td.sum(d * d, axis=-1, keepdims=True) / x.shape[-1]
    y = d * td.rsqrt(var + 1e-5) * w.to(td.float32) + b.to(td.float32)
    return y.to(x.dtype)


@td.kernel
def r_sum(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.sum(x, axis=axis, keepdims=keep)


@td.kernel
def r_max(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.max(x, axis=axis, keepdims=keep)


@td.kernel
def r_min(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.min(x, axis=axis, keepdims=keep)


@td.kernel
def r_argmax(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.argmax(x, axis=axis, keepdims=keep)


@td.kernel
def r_argmin(x: td.Tensor, axis: td.constexpr, keep: td.constexpr) -> td.Tensor:
    return td.argmin(x, axis=axis, keepdims=keep)


REDUCE = {"sum": r_sum, "max": r_max, "min": r_min, "argmax": r_argmax, "argmin": r_argmin}
_TORCH_REDUCE = {"sum": torch.sum, "max": torch.amax, "min": torch.amin, "argmax": torch.argmax,
                 "argmin": torch.argmin}


def _layernorm_ref(x, w, b):
    n = x.shape[-1]
    return torch.nn.functional.layer_norm(x.float(), (n,), w.float(), b.float(), 1e-5).to(x.dtype)


# --- 1. reductions over size-1 axes and over every axis ---------------------------------------------------
SHAPES = [(7,), (1,), (5, 1), (1, 7), (5, 7), (1, 1), (3, 4, 5), (3, 1, 5), (1, 4, 1), (2, 3, 1)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", ["sum", "max", "min", "argmax", "argmin"])
def test_reduce_over_every_axis_and_size_one_axes(backend, shape, kind):
    gen = torch.Generator().manual_seed(len(shape) * 31 + shape[-1])
    x = torch.randn(shape, generator=gen)
    for axis in range(len(shape)):
        for keep in (True, False):
            if len(shape) == 1 and not keep:
                continue  # a 0-d result: a scalar, which a level-1 kernel does not return
            got = REDUCE[kind](x, axis=axis, keep=keep, backend=backend)
            ref = _TORCH_REDUCE[kind](x, axis, keepdim=keep)
            assert got.shape == ref.shape, (axis, keep)
            torch.testing.assert_close(got.to(ref.dtype), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(5, 1), (1, 1), (1, 9), (3, 4, 1), (2, 1, 6)], ids=str)
def test_softmax_and_layernorm_over_size_one_rows(backend, shape):
    x = torch.randn(shape)
    torch.testing.assert_close(softmax(x, backend=backend), torch.softmax(x, -1))
    w, b = torch.randn(shape[-1:]), torch.randn(shape[-1:])
    torch.testing.assert_close(layernorm(x, w, b, backend=backend), _layernorm_ref(x, w, b),
                               rtol=1e-5, atol=1e-5)
