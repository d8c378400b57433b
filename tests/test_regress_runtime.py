"""Regressions of the runtime: what a compiled kernel is cached under (warm call and slow path,
launchers, interpreter builds), ahead-of-time stages of every kernel, and call arguments that no
backend can take. Every number is checked against torch computed directly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tiledsl as td
from tiledsl.demo import matmul  # the brief's GEMM, shared with the demo
from tiledsl.errors import ArgumentError, BackendError, CannotExecuteError
from tiledsl.runtime.kernel import CompiledKernel
from tiledsl.targets import get_target

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@td.kernel
def scale(x: td.Tensor, s: td.constexpr) -> td.Tensor:
    return x * s


@td.kernel
def pick(x: td.Tensor, flag: td.constexpr) -> td.Tensor:
    if flag:
        y = x + 1.0
    else:
        y = x - 1.0
    return y


@td.kernel
def cast(x: td.Tensor, dt: td.constexpr) -> td.Tensor:
    return x.to(dt)


@td.kernel
def mul(x: td.Tensor, s) -> td.Tensor:
    return x * s


@td.kernel
def add(x: td.Tensor, y: td.Tensor) -> td.Tensor:
    return x + y


@td.kernel
def softmax(x: td.Tensor) -> td.Tensor:
    e = td.exp(x - td.max(x, axis=-1, keepdims=True))
    return e / td.sum(e, axis=-1, keepdims=True)


@td.kernel
def addn(x: td.Tensor, o: td.Tensor, n: int):
    with td.grid(td.cdiv(x.shape[0], 16)) as i:
        t = td.load(x, (i * 16,), (16,))
        td.store(o, (i * 16,), t + n)


@td.kernel
def matmul_f32_out(a: td.Tensor, b: td.Tensor, c: td.Tensor,
                   BM: td.constexpr = td.auto, BN: td.constexpr = td.auto, BK: td.constexpr = td.auto):
    """No dtype of a or b appears in the GPU source: fp16 and bf16 calls share it."""
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(K, BK), stages=td.auto):
            acc += td.dot(td.load(a, (i * BM, k * BK), (BM, BK)),
                          td.load(b, (k * BK, j * BN), (BK, BN)))
        td.store(c, (i * BM, j * BN), acc)


BACKENDS = ["ir", "triton"]


def _ran_with(monkeypatch) -> list:
    """The compiled kernels calls run, in order."""
    seen: list = []
    real = CompiledKernel.run

    def run(self, bound):
        seen.append(self)
        return real(self, bound)

    monkeypatch.setattr(CompiledKernel, "run", run)
    return seen


# --- 1. constexpr values are part of the warm key, however passed ---------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_positional_constexpr_value_is_keyed(backend):
    x = torch.randn(4, 8)
    torch.testing.assert_close(scale(x, 2.0, backend=backend), 2.0 * x)
    torch.testing.assert_close(scale(x, 3.0, backend=backend), 3.0 * x)
    torch.testing.assert_close(scale(x, s=4.0, backend=backend), 4.0 * x)
    torch.testing.assert_close(scale(x, 5.0, backend=backend), 5.0 * x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_constexpr_int_and_float_of_equal_value_are_different_kernels(backend):
    x = torch.arange(6, dtype=torch.int32).reshape(2, 3)
    for s in (2, 2.0, 3, True, 2.5):
        got, want = scale(x, s, backend=backend), x * s
        assert got.dtype == want.dtype, s
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_positional_bool_and_dtype_constexprs_are_keyed(backend):
    x = torch.randn(4, 8)
    torch.testing.assert_close(pick(x, True, backend=backend), x + 1.0)
    torch.testing.assert_close(pick(x, False, backend=backend), x - 1.0)
    assert cast(x, td.float16, backend=backend).dtype == torch.float16
    y = cast(x, td.bfloat16, backend=backend)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y, x.to(torch.bfloat16))


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_zero_and_nan_constexprs(backend):
    x = torch.tensor([1.0, -2.0, 3.0])
    for s in (0.0, -0.0, 0.0):
        got = scale(x, s, backend=backend)
        assert torch.equal(got.signbit(), (x * s).signbit()), s
    n = len(scale._compiled)
    for _ in range(3):
        assert scale(x, float("nan"), backend=backend).isnan().all()
    assert len(scale._compiled) == n + 1  # one kernel for nan, not one per call


def test_positional_knob_values_get_their_own_kernels(monkeypatch):
    a, b = torch.randn(64, 64), torch.randn(64, 64)
    seen = _ran_with(monkeypatch)
    for bm in (td.auto, 16, 32, 16):
        c = torch.empty(64, 64)
        matmul(a, b, c, bm, backend="ir")
        torch.testing.assert_close(c, a @ b, rtol=1e-4, atol=1e-4)
    bms = [ck.schedule["BM"] for ck in seen[1:]]
    assert bms == [16, 32, 16]
    assert seen[1] is seen[3] and seen[1] is not seen[2]


# --- 2. the interpreter build is keyed by its own source ------------------------------------------
@pytest.mark.parametrize("first", [torch.float16, torch.float32])
def test_bf16_after_another_dtype_runs_its_own_interpreter_build(first):
    for dt in (first, torch.bfloat16):
        a, b = torch.randn(64, 128, dtype=dt), torch.randn(128, 64, dtype=dt)
        c = torch.empty(64, 64)
        matmul_f32_out(a, b, c, backend="triton")
        torch.testing.assert_close(c, a.float() @ b.float(), rtol=1e-4, atol=1e-3)


def test_launchers_of_equal_gpu_sources_are_told_apart_by_interpreter_source():
    from tiledsl.lowering.triton import BACKEND

    a16, b16 = torch.randn(32, 32, dtype=torch.float16), torch.randn(32, 32, dtype=torch.float16)
    ck16 = matmul_f32_out.compile(a16, b16, torch.empty(32, 32), backend="triton")
    ckbf = matmul_f32_out.compile(a16.bfloat16(), b16.bfloat16(), torch.empty(32, 32), backend="triton")
    assert ck16.lowered.source == ckbf.lowered.source  # what made the two collide
    assert ck16.lowered.interpret_source != ckbf.lowered.interpret_source
    assert BACKEND.launcher(ck16.lowered, interpret=True) is not BACKEND.launcher(ckbf.lowered, interpret=True)


# --- 3. int scalars: i32 and i64 are different kernels; a bool is not an int ----------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("by_keyword", [False, True])
def test_int_scalar_that_needs_i64_after_one_that_fits_i32(backend, by_keyword):
    x = torch.arange(32, dtype=torch.int64)
    for n in (5, 2**40 + 3, -(2**40), 7, 2**31, -(2**31)):
        o = torch.zeros(32, dtype=torch.int64)
        if by_keyword:
            addn(x, o, n=n, backend=backend)
        else:
            addn(x, o, n, backend=backend)
        torch.testing.assert_close(o, x + n)


@pytest.mark.parametrize("backend", BACKENDS)
def test_runtime_scalar_types_are_keyed(backend):
    x = torch.randn(4, 8)
    torch.testing.assert_close(mul(x, 2.5, backend=backend), x * 2.5)
    torch.testing.assert_close(mul(x, 3, backend=backend), x * 3)
    torch.testing.assert_close(mul(x, True, backend=backend), x * True)
    xi = torch.arange(8, dtype=torch.int64)
    torch.testing.assert_close(mul(xi, 3, backend=backend), xi * 3)
    torch.testing.assert_close(mul(xi, 2**40, backend=backend), xi * 2**40)
    torch.testing.assert_close(mul(xi, 2.5, backend=backend), xi * 2.5)


def test_int_beyond_i64_is_an_argument_error():
    x, o = torch.arange(32, dtype=torch.int64), torch.zeros(32, dtype=torch.int64)
    addn(x, o, 5, backend="ir")
    for call in (lambda: addn(x, o, 2**70, backend="ir"), lambda: addn(x, o, n=-(2**63) - 1, backend="ir")):
        with pytest.raises(ArgumentError, match="'?n'?.*64-bit|n=.*64-bit"):
            call()


# --- 4. ahead-of-time stages of kernels that return their output -------------------------------------
def _check_aot(ck):
    assert ck.stages == ["python", "ir", "scheduled", "triton", "ttir", "ttgir", "llir", "ptx"]
    for stage in ck.stages:
        assert isinstance(ck.code(stage), str) and ck.code(stage).strip(), stage
    assert ".entry" in ck.code("ptx")
    report = ck.report
    assert report.arch == "sm_90a"
    assert report.estimate  # the cost model's figures ride along
    return report


def test_aot_of_level1_softmax_that_returns_its_output():
    ck = softmax.compile(torch.randn(33, 100), backend="triton", target=get_target("h100"))
    _check_aot(ck)
    ck = softmax.compile(torch.randn(4096, 4096, dtype=torch.bfloat16), backend="triton", target="h100")
    _check_aot(ck)


def test_aot_of_level2_gemm():
    a = torch.randn(256, 256, dtype=torch.bfloat16)
    ck = matmul.compile(a, a, torch.empty_like(a), backend="triton", target="h100")
    report = _check_aot(ck)
    assert report.uses_mma and report.uses_tma


# --- 5. everything that changes the kernel is in the key ---------------------------------------------
def test_transposed_view_after_contiguous_gets_its_own_aot_kernel():
    a = torch.randn(256, 256, dtype=torch.bfloat16)
    b = torch.randn(256, 256, dtype=torch.bfloat16)
    bt = torch.randn(256, 256, dtype=torch.bfloat16).t()  # same shape, column-major
    c = torch.empty_like(a)
    ck = matmul.compile(a, b, c, backend="triton", target="h100")
    ckt = matmul.compile(a, bt, c, backend="triton", target="h100")
    assert ck is not ckt
    assert ck.code("ttir") != ckt.code("ttir")
    assert "TMA kernel" in ck.report.notes[0] and "pointer kernel" in ckt.report.notes[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_strided_inputs_and_outputs_after_contiguous_ones(backend):
    a, b = torch.randn(32, 48), torch.randn(48, 40)
    c = torch.empty(32, 40)
    matmul_f32_out(a, b, c, backend=backend)
    torch.testing.assert_close(c, a @ b, rtol=1e-4, atol=1e-4)
    bt = b.t().contiguous().t()
    ct = torch.empty(40, 32).t()
    matmul_f32_out(a, bt, ct, backend=backend)
    torch.testing.assert_close(ct, a @ b, rtol=1e-4, atol=1e-4)
    x = torch.randn(16, 8)
    torch.testing.assert_close(add(x, x, backend=backend), 2 * x)
    xt = torch.randn(8, 16).t()
    torch.testing.assert_close(add(xt, x, backend=backend), xt + x)
    xs = torch.randn(16, 16)[:, ::2]
    torch.testing.assert_close(add(xs, x, backend=backend), xs + x)


def test_tilelang_compile_of_a_transposed_view_after_a_contiguous_one():
    pytest.importorskip("tilelang")
    a = torch.randn(256, 256, dtype=torch.bfloat16)
    ck = matmul.compile(a, a, torch.empty_like(a), backend="tilelang", target="h100")
    assert {"tilelang", "cuda"} <= set(ck.stages) and "T.prim_func" in ck.code("tilelang")
    with pytest.raises(BackendError, match="not contiguous"):
        matmul.compile(a, a.t(), torch.empty_like(a), backend="tilelang", target="h100")


def test_tilelang_run_checks_contiguity_per_call():
    from tiledsl.lowering.tilelang import check_contiguous

    a = torch.randn(64, 64)
    ck = add.compile(a, a, backend="triton")
    check_contiguous(ck.fn, [a, a, torch.empty_like(a)])
    with pytest.raises(BackendError, match="argument y is not contiguous"):
        check_contiguous(ck.fn, [a, a.t(), torch.empty_like(a)])


def test_tilelang_on_cpu_tensors_cannot_execute():
    with pytest.raises(CannotExecuteError, match="compile"):
        softmax(torch.randn(4, 8), backend="tilelang")


def test_tma_setting_is_keyed_for_calls_and_compiles(monkeypatch):
    from tiledsl.lowering.triton import BACKEND

    a, b = torch.randn(64, 64, dtype=torch.float16), torch.randn(64, 64, dtype=torch.float16)
    ran: list = []
    real = BACKEND.execute
    monkeypatch.setattr(BACKEND, "execute", lambda lowered, fn, args: (ran.append(lowered), real(lowered, fn, args)))
    for tma in (True, False, True):
        td.configure(tma=tma)
        c = torch.empty(64, 64, dtype=torch.float16)
        matmul(a, b, c, backend="triton")
        torch.testing.assert_close(c.float(), a.float() @ b.float(), rtol=1e-2, atol=1e-2)
        assert (ran[-1].tma_entry is not None) is tma
        code = matmul.compile(a, b, c, backend="triton", target="h100").code("triton")
        assert ("TensorDescriptor" in code) is tma


def test_default_backend_setting_is_keyed(monkeypatch):
    seen = _ran_with(monkeypatch)
    x = torch.randn(4, 8)
    for backend in (None, "triton", None):
        td.configure(backend=backend)
        torch.testing.assert_close(softmax(x), torch.softmax(x, -1))
    assert [ck.backend for ck in seen] == ["ir", "triton", "ir"]


def test_target_gives_different_correct_kernels():
    a, b = torch.randn(64, 64, dtype=torch.float16), torch.randn(64, 64, dtype=torch.float16)
    codes = {}
    for target in ("h100", "a100", "h100"):
        c = torch.empty(64, 64, dtype=torch.float16)
        matmul(a, b, c, backend="triton", target=target)
        torch.testing.assert_close(c.float(), a.float() @ b.float(), rtol=1e-2, atol=1e-2)
        codes[target] = matmul.compile(a, b, c, backend="triton", target=target).code("triton")
    assert "TensorDescriptor" in codes["h100"] and "TensorDescriptor" not in codes["a100"]


def test_num_warps_gives_different_correct_kernels():
    a, b = torch.randn(64, 64), torch.randn(64, 64)
    warps = {}
    for nw in (4, 8, 4):
        c = torch.empty(64, 64)
        matmul(a, b, c, backend="triton", num_warps=nw)
        torch.testing.assert_close(c, a @ b, rtol=1e-4, atol=1e-4)
        ck = matmul.compile(a, b, c, backend="triton", num_warps=nw)
        assert ck.schedule["num_warps"] == nw
        warps[nw] = ck.code("triton")
    assert "num_warps=4" in warps[4] and "num_warps=8" in warps[8]


@pytest.mark.parametrize("backend", BACKENDS)
def test_dtype_is_keyed_for_level1_kernels(backend):
    for dt in (torch.float32, torch.float16, torch.bfloat16, torch.float32):
        x = torch.randn(8, 64, dtype=dt)
        y = softmax(x, backend=backend)
        assert y.dtype == dt
        torch.testing.assert_close(y.float(), torch.softmax(x.float(), -1), rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_size_one_axes_zero_sizes_and_broadcasts_do_not_share_kernels(backend):
    ones = torch.ones(4, 1)
    torch.testing.assert_close(add(ones, ones, backend=backend), ones + ones)
    x, y = torch.randn(4, 5), torch.randn(4, 5)
    torch.testing.assert_close(add(x, y, backend=backend), x + y)
    row = torch.randn(1, 5)
    torch.testing.assert_close(add(x, row, backend=backend), x + row)
    assert softmax(torch.randn(0, 8), backend=backend).shape == (0, 8)
    x1 = torch.randn(1, 8)
    torch.testing.assert_close(softmax(x1, backend=backend), torch.softmax(x1, -1))
    x3 = torch.randn(3, 8)
    torch.testing.assert_close(softmax(x3, backend=backend), torch.softmax(x3, -1))


def test_target_objects_in_calls_and_keys():
    import dataclasses

    x = torch.randn(4, 8)
    for _ in range(2):
        torch.testing.assert_close(scale(x, 2.0, target=get_target("h100")), 2.0 * x)
    h100 = get_target("h100")
    small = dataclasses.replace(h100, smem_per_block=48 * 1024, smem_per_sm=48 * 1024)
    a = torch.randn(512, 512, dtype=torch.float16)
    big = matmul.compile(a, a, torch.empty_like(a), backend="triton", target=h100)
    ck = matmul.compile(a, a, torch.empty_like(a), backend="triton", target=small)
    assert ck is not big and ck.target is small
    assert ck.estimate.smem_bytes <= 48 * 1024 < big.estimate.smem_bytes


# --- 6. bad arguments: one ArgumentError, naming the parameter and what to pass -------------------
@pytest.mark.parametrize("call, match", [
    (lambda x: scale(np.ones((4, 8), np.float32), 2.0), r"'x'.*numpy\.ndarray.*torch\.from_numpy"),
    (lambda x: add(x, np.ones((4, 8), np.float32)), r"'y'.*numpy\.ndarray"),
    (lambda x: scale(torch.empty(4, 8, device="meta"), 2.0), r"'x'.*meta device.*compile"),
    (lambda x: add(x, torch.empty(4, 8, device="meta")), r"different devices.*x on cpu.*y on meta"),
    (lambda x: scale(x, "16"), r"constexpr 's'.*str.*s=16"),
    (lambda x: scale(x, None), r"constexpr 's'.*NoneType"),
    (lambda x: cast(x, torch.float16), r"constexpr 'dt'.*pass td\.float16"),
    (lambda x: scale(x, np.float32(2.0)), r"constexpr 's'.*s\.item\(\)"),
    (lambda x: scale(x, [2.0]), r"constexpr 's'.*list"),
    (lambda x: scale(x, 2.0, num_warps=0), r"num_warps=0.*from 1 to 32"),
    (lambda x: scale(x, 2.0, num_warps=2.5), r"num_warps=2\.5"),
    (lambda x: scale(x, 2.0, num_warps=True), r"num_warps=True"),
    (lambda x: scale(x, 2.0, 3.0), r"takes 2 arguments"),
    (lambda x: scale(x), r"missing argument.*s"),
    (lambda x: scale(x, 2.0, foo=1), r"no parameter 'foo'"),
    (lambda x: scale(x, s=2.0, x=x), r"'x' twice|got 'x'|x"),
    (lambda x: mul(x, "2"), r"'s'.*str"),
    (lambda x: scale(x, 2.0, target="h1000"), r"unknown target 'h1000'.*h100, h200, a100, l40s"),
    (lambda x: scale(x, 2.0, backend="cuda"), r"unknown backend 'cuda'"),
    (lambda x: scale(x.to(torch.complex64), 2.0), r"'x'.*complex64"),
])
def test_bad_arguments_give_one_argument_error(call, match):
    x = torch.randn(4, 8)
    scale(x, 2.0)  # a warm entry exists: bad calls must not slip through the warm path
    with pytest.raises(ArgumentError, match=match):
        call(x)


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_float_scalars_are_still_numbers(backend):
    x = torch.randn(4, 8)
    for _ in range(2):
        torch.testing.assert_close(scale(x, np.float64(0.5), backend=backend), x * 0.5)
        torch.testing.assert_close(mul(x, np.float64(0.25), backend=backend), x * 0.25)
    with pytest.raises(ArgumentError, match=r"'s'.*numpy\.int64.*s\.item\(\)"):
        mul(x, np.int64(3), backend=backend)


def test_meta_tensors_still_compile():
    ck = softmax.compile(torch.empty(64, 128, device="meta"), backend="triton")
    assert "triton" in ck.stages[:4]


@pytest.mark.parametrize("name", ["sm_90", "sm90", "sm_90a", "H100", "NVIDIA H100 80GB HBM3"])
def test_target_aliases(name):
    assert get_target(name).name == "h100"
    x = torch.randn(4, 8)
    torch.testing.assert_close(scale(x, 2.0, target=name), 2.0 * x)


def test_unknown_targets_are_never_a_silent_fallback():
    for name in ("h1000", "sm_75", "rtx4090", "a1000"):
        with pytest.raises(ArgumentError, match="known targets: h100, h200, a100, l40s"):
            get_target(name)


@pytest.mark.parametrize("dtype, out", [(torch.int32, torch.int32), (torch.bool, torch.float32),
                                        (torch.int64, torch.int64)])
def test_integer_gemm_on_triton_is_a_backend_error_and_runs_on_ir(dtype, out):
    a = torch.randint(0, 3, (16, 16)).to(dtype)
    b = torch.randint(0, 3, (16, 16)).to(dtype)
    with pytest.raises(BackendError, match=r"tl\.dot does not take (int32|bool|int64)") as e:
        matmul(a, b, torch.empty(16, 16, dtype=out), backend="triton")
    assert "backend='ir'" in str(e.value)
    c = torch.empty(16, 16, dtype=out)
    matmul(a, b, c, backend="ir")
    torch.testing.assert_close(c, (a.long() @ b.long()).to(out))


def test_generated_modules_are_keyed_by_their_own_text():
    from tiledsl.lowering.triton.loader import load_module, module_path

    src_a = "import triton\n\ndef launch():\n    return 'a'\n"
    src_b = src_a.replace("'a'", "'b'")
    assert module_path(src_a) != module_path(src_b)
    for interpret in (False, True):
        assert load_module(src_a, interpret=interpret).launch() == "a"
        assert load_module(src_b, interpret=interpret).launch() == "b"
    assert load_module(src_a, interpret=True) is not load_module(src_a, interpret=False)


def test_offsets_widen_to_int64_only_where_shape_and_strides_need_it():
    """The Triton code takes 64-bit offsets from the specs' shapes and strides, so strides are
    part of both cache keys: a same-shape view of a huge buffer must not reuse a 32-bit kernel."""
    from tiledsl.dtypes import DType
    from tiledsl.specs import TensorSpec

    @td.kernel
    def cp(x: td.Tensor, y: td.Tensor, BM: td.constexpr = 16):
        with td.grid(td.cdiv(x.shape[0], BM)) as i:
            td.store(y, (i * BM, 0), td.load(x, (i * BM, 0), (BM, 8)))

    out = TensorSpec((64, 8), DType.f16)
    small = cp.compile(TensorSpec((64, 8), DType.f16), out, backend="triton").code("triton")
    huge = cp.compile(TensorSpec((64, 8), DType.f16, (2**31, 1)), out, backend="triton").code("triton")
    assert "tl.int64" not in small and "tl.int64" in huge

    x = torch.randn(64, 8, dtype=torch.float16)
    xt = torch.randn(8, 64, dtype=torch.float16).T
    for src in (x, xt, x):
        y = torch.empty(64, 8, dtype=torch.float16)
        cp(src, y, backend="triton")
        assert torch.equal(src, y)
    assert len({id(ck) for ck, _ in cp._fast.values()}) == 2  # one kernel per stride pattern
