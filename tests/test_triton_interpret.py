"""The generated Triton code run in Triton's interpreter on CPU tensors, against torch."""

from __future__ import annotations

import warnings

import pytest
import torch
from tiledsl.lowering.triton import BACKEND, TritonBackend
from tiledsl.lowering.triton.loader import interpreting, load_module, module_path

from tests.test_triton_fixtures import elementwise_ir, gemm_ir, softmax_ir
from tiledsl.dtypes import DType
from tiledsl.targets import get_target

H100 = get_target("h100")
TOL = {DType.f32: 1e-4, DType.f16: 1e-2, DType.bf16: 2e-2, DType.f8e4m3: 1e-5}


def _inputs(dt: DType, m: int, n: int, k: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(m, k, generator=g)
    b = torch.randn(k, n, generator=g)
    if dt.is_fp8:  # exactly representable values keep the fp32 reference exact
        a, b = a.clamp(-4, 4), b.clamp(-4, 4)
    return a.to(dt.to_torch()), b.to(dt.to_torch())


def _gemm(dt: DType, a, b, **kw):
    fn = gemm_ir(dt, **kw)
    out_dt = (DType.f32 if dt.is_fp8 else dt).to_torch()
    c = torch.full((a.shape[0], b.shape[1]), float("nan"), dtype=out_dt)
    BACKEND.execute(BACKEND.lower(fn, (), H100), fn, [a, b, c])
    return c


@pytest.mark.parametrize("dt", [DType.f32, DType.f16, DType.bf16, DType.f8e4m3])
@pytest.mark.parametrize("mnk", [(37, 29, 45), (16, 40, 7)])
def test_gemm_ragged_matches_torch(dt, mnk):
    m, n, k = mnk
    a, b = _inputs(dt, m, n, k)
    c = _gemm(dt, a, b)
    ref = a.float() @ b.float()
    scale = ref.abs().max().item()
    assert torch.isfinite(c.float()).all(), "some output elements were never written"
    assert (c.float() - ref).abs().max().item() <= TOL[dt] * max(scale, 1.0)


def test_gemm_non_contiguous_and_grouped():
    a, bt = _inputs(DType.f16, 45, 33, 50)
    b = bt.T.contiguous().T  # same values, column-major strides
    assert not b.is_contiguous()
    c = _gemm(DType.f16, a, b, group_m=2, bm=16, bn=16, bk=16)
    ref = (a.float() @ b.float()).half()
    assert (c.float() - ref.float()).abs().max().item() <= 1e-2 * ref.abs().max().item()


def test_bf16_dot_upcast_is_what_makes_the_interpreter_right():
    """The interpreter build upcasts bf16 dot operands; the GPU build run in the interpreter shows
    the Triton bug the upcast works around (if Triton fixes it, this says so)."""
    a, b = _inputs(DType.bf16, 32, 32, 32, seed=3)
    ref = a.float() @ b.float()
    fn = gemm_ir(DType.bf16)
    lowered = BACKEND.lower(fn, (), H100)
    assert lowered.interpret_source != lowered.source
    c = torch.empty(32, 32, dtype=torch.bfloat16)
    BACKEND.execute(lowered, fn, [a, b, c])
    assert (c.float() - ref).abs().max().item() <= 2e-2 * ref.abs().max().item()
    # the GPU build, interpreted as is
    mod = load_module(lowered.source, interpret=True)
    raw = torch.empty(32, 32, dtype=torch.bfloat16)
    with interpreting():
        mod.launch(a, b, raw)
    err = (raw.float() - ref).abs().max().item()
    if err <= 2e-2 * ref.abs().max().item():
        pytest.skip("Triton's interpreter now computes bf16 tl.dot correctly; the upcast can go")
    assert err > 1.0


def test_elementwise_with_scalar_matches_torch():
    fn = elementwise_ir()
    x, y = torch.randn(20, 70), torch.randn(20, 70)
    z = torch.empty_like(x)
    BACKEND.execute(BACKEND.lower(fn, (), H100), fn, [x, y, z, 0.25])
    torch.testing.assert_close(z, x.exp() * 0.25 + y)


@pytest.mark.parametrize("dt", [DType.f32, DType.f16])
def test_row_softmax_matches_torch(dt):
    fn = softmax_ir(dt)
    x = torch.randn(10, 50).to(dt.to_torch())
    out = torch.empty_like(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # padded rows: -inf - -inf, never stored
        BACKEND.execute(BACKEND.lower(fn, (), H100), fn, [x, out])
    torch.testing.assert_close(out.float(), x.float().softmax(-1), atol=2e-3, rtol=2e-3)


def test_warm_call_neither_regenerates_nor_reimports(monkeypatch):
    backend = TritonBackend()
    fn = elementwise_ir()
    lowered = backend.lower(fn, (), H100)
    x, y = torch.randn(4, 8), torch.randn(4, 8)
    z = torch.empty_like(x)
    backend.execute(lowered, fn, [x, y, z, 1.0])
    path = module_path(lowered.interpret_source)
    assert path.exists() and path.read_text() == lowered.interpret_source
    mtime = path.stat().st_mtime_ns

    import tiledsl.lowering.triton.loader as loader
    import tiledsl.lowering.triton.module as module

    def boom(*a, **k):
        raise AssertionError("warm call regenerated or reloaded")

    monkeypatch.setattr(module, "generate", boom)
    monkeypatch.setattr(loader, "load_module", boom)
    backend.execute(lowered, fn, [x, y, z, 2.0])
    torch.testing.assert_close(z, x.exp() * 2.0 + y)
    assert path.stat().st_mtime_ns == mtime
