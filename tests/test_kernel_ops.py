"""The reference kernels as torch custom ops (tiledsl.kernels.ops): in eager calls, under fake
tensors, inside torch.compile graphs and in the profiler. All on CPU (the interpreters)."""

from __future__ import annotations

import pytest
import tiledsl.kernels  # noqa: F401  (registers torch.ops.tiledsl.*)
import torch
from tiledsl.kernels import ops
from tiledsl.kernels.fp8 import per_token_cast_to_fp8_ref
from torch._subclasses.fake_tensor import FakeTensorMode

GEMM = torch.ops.tiledsl.gemm


def _ab(m=33, k=40, n=17, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    return torch.randn(m, k, generator=g).to(dtype), torch.randn(k, n, generator=g).to(dtype)


def test_every_op_is_registered_under_tiledsl():
    names = {op._qualified_op_name for op in ops.OPS}
    for name in ("gemm", "fp8_gemm_nt", "per_token_cast_to_fp8", "per_block_cast_to_fp8",
                 "m_grouped_gemm_nt_contiguous", "m_grouped_fp8_gemm_nt_masked", "mla_decode",
                 "moe_dispatch_fp8", "moe_combine"):
        assert f"tiledsl::{name}" in names
        assert hasattr(torch.ops.tiledsl, name)


def test_gemm_op_matches_torch():
    a, b = _ab()
    torch.testing.assert_close(GEMM(a, b, backend="ir"), a @ b, rtol=1e-5, atol=1e-5)
    out = GEMM(a.half(), b.half(), torch.float32, "ir")  # out_dtype positional, as in the schema
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, a.half().float() @ b.half().float(), rtol=1e-4, atol=1e-4)


def test_cast_op_matches_reference():
    x = torch.randn(5, 300)
    q, s = torch.ops.tiledsl.per_token_cast_to_fp8(x, 128, "ir")
    rq, rs = per_token_cast_to_fp8_ref(x)
    assert torch.equal(q.float(), rq.float()) and torch.equal(s, rs)


def test_backward_is_refused_not_wrong():
    from tiledsl.errors import ArgumentError

    a, b = _ab(m=8, k=8, n=8)
    out = GEMM(a.requires_grad_(), b, backend="ir")
    assert out.requires_grad  # a node that refuses, not a detached result that hides the missing backward
    with pytest.raises(ArgumentError, match="no backward pass"):
        out.sum().backward()


def test_op_errors_are_the_wrappers():
    from tiledsl.errors import TiledslError

    a, b = _ab()
    with pytest.raises(TiledslError, match="K of b"):
        GEMM(a, b[:3], backend="ir")


# --- fake tensors: shapes and dtypes without running anything -------------------------------------


def test_fake_gemm_gives_shape_and_dtype():
    with FakeTensorMode():
        a = torch.empty(4096, 7168, dtype=torch.bfloat16)
        b = torch.empty(7168, 2112, dtype=torch.bfloat16)
        c = GEMM(a, b)
        c32 = GEMM(a, b, torch.float32)
    assert c.shape == (4096, 2112) and c.dtype == torch.bfloat16
    assert c32.shape == (4096, 2112) and c32.dtype == torch.float32


def test_fake_shapes_of_the_other_ops():
    bf, e4m3, f32 = torch.bfloat16, torch.float8_e4m3fn, torch.float32
    with FakeTensorMode():
        q, s = torch.ops.tiledsl.per_block_cast_to_fp8(torch.empty(300, 200, dtype=bf))
        c = torch.ops.tiledsl.fp8_gemm_nt(torch.empty(64, 256, dtype=e4m3), torch.empty(64, 2),
                                          torch.empty(96, 256, dtype=e4m3), torch.empty(1, 2))
        g = torch.ops.tiledsl.m_grouped_gemm_nt_masked(torch.empty(4, 64, 256, dtype=bf),
                                                      torch.empty(4, 96, 256, dtype=bf),
                                                      torch.empty(4, dtype=torch.int32), 32)
        o, lse = torch.ops.tiledsl.mla_decode(torch.empty(2, 1, 16, 576, dtype=bf),
                                              torch.empty(8, 64, 1, 576, dtype=bf),
                                              torch.empty(2, 4, dtype=torch.int32),
                                              torch.empty(2, dtype=torch.int32))
        y = torch.ops.tiledsl.moe_combine(torch.empty(32, 256, dtype=bf), torch.empty(16, 2, dtype=torch.int32),
                                          torch.empty(16, 2))
    assert (q.shape, q.dtype, s.shape, s.dtype) == ((300, 200), e4m3, (3, 2), f32)
    assert (c.shape, c.dtype) == ((64, 96), bf)
    assert (g.shape, g.dtype) == ((4, 64, 96), bf)
    assert (o.shape, o.dtype, lse.shape, lse.dtype) == ((2, 1, 16, 512), bf, (2, 16, 1), f32)
    assert (y.shape, y.dtype) == ((16, 256), bf)


def test_opcheck_gemm():
    # schema, fake-vs-real metadata, dispatcher registrations (torch's own checker)
    a, b = _ab(m=9, k=12, n=7)
    torch.library.opcheck(GEMM, (a, b), {"backend": "ir"},
                          test_utils=("test_schema", "test_faketensor"))


# --- torch.compile and the profiler -------------------------------------------------------------


def test_gemm_op_inside_torch_compile_fullgraph():
    torch._dynamo.reset()

    def f(a, b, bias):
        return torch.relu(torch.ops.tiledsl.gemm(a * 2, b, backend="ir") + bias)

    graphs = []

    def backend(gm, example_inputs):  # records the graph dynamo built, then runs it through AOTAutograd
        graphs.append(gm)
        return torch._dynamo.backends.common.aot_autograd(fw_compiler=lambda g, _: g)(gm, example_inputs)

    a, b = _ab()
    bias = torch.randn(17)
    compiled = torch.compile(f, fullgraph=True, backend=backend)  # fake propagation, no C++ compiler
    torch.testing.assert_close(compiled(a, b, bias), torch.relu((a * 2) @ b + bias), rtol=1e-5, atol=1e-5)
    (gm,) = graphs
    targets = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert torch.ops.tiledsl.gemm.default in targets or torch.ops.tiledsl.gemm in targets, targets


def test_gemm_op_shows_in_profiler():
    a, b = _ab(m=8, k=8, n=8)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        GEMM(a, b, backend="ir")
    names = {e.name for e in prof.events()}
    assert "tiledsl::gemm" in names, sorted(names)[:20]


def test_gemm_op_in_an_exported_program():
    class Scaled(torch.nn.Module):
        def forward(self, a, b):
            return GEMM(a, b, backend="ir") * 2

    a, b = _ab(m=8, k=16, n=4)
    ep = torch.export.export(Scaled(), (a, b))
    assert torch.ops.tiledsl.gemm.default in [n.target for n in ep.graph.nodes if n.op == "call_function"]
    torch.testing.assert_close(ep.module()(a, b), 2 * (a @ b), rtol=1e-5, atol=1e-5)
