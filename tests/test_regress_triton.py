"""Regressions of the Triton lowering's numerics, run in Triton's interpreter on CPU tensors and
held to torch computed here (and, for GPU-only facts, to the generated source and an ahead-of-time
compile for sm_90).

bf16/fp8 in interpreter builds, pow, prod, f64 dots, NaN in max/min/argmax/argmin, 64-bit
offsets, identifier legalization, and a sweep of elementwise functions, reductions, casts,
integer division and where against torch and backend="ir".
"""

from __future__ import annotations

import pytest
import torch
from tiledsl.lowering.triton import BACKEND
from tiledsl.lowering.triton.analysis import offsets_need_int64
from tiledsl.lowering.triton.module import generate
from tiledsl.lowering.triton.names import Namer, legalize

import tiledsl as td
from tests.test_triton_fixtures import gemm_ir
from tiledsl.dtypes import DType
from tiledsl.specs import TensorSpec
from tiledsl.targets import get_target

H100 = get_target("h100")
pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]  # numpy on inf/NaN inputs


def _randn(*shape, dtype=torch.float32, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g) * scale).to(dtype)


def _same(got: torch.Tensor, ref: torch.Tensor) -> None:
    """Bit-for-bit equal values (NaN matching NaN), same dtype."""
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    g, r = got.float(), ref.float()
    ok = (g == r) | (g.isnan() & r.isnan())
    assert bool(ok.all()), f"{int((~ok).sum())} differ; first: got {g[~ok][:4]}, want {r[~ok][:4]}"


def _close(got: torch.Tensor, ref: torch.Tensor, rel: float) -> None:
    """Within `rel` of the reference's scale, NaN where the reference is NaN."""
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    g, r = got.double(), ref.double()
    assert bool((g.isnan() == r.isnan()).all()), "NaN positions differ"
    fin = ~r.isnan()
    assert bool((g[fin].isinf() == r[fin].isinf()).all()), "inf positions differ"
    fin &= ~r.isinf()
    if fin.any():
        err = (g[fin] - r[fin]).abs().max().item()
        assert err <= rel * max(r[fin].abs().max().item(), 1.0), err


# --- 1. bf16 and fp8 in interpreter builds ------------------------------------------------------

@td.kernel
def half_of(x: td.Tensor) -> td.Tensor:
    return 0.5 * x


@td.kernel
def add_mul(x: td.Tensor, y: td.Tensor) -> td.Tensor:
    return (x + y) * y


@td.kernel
def gelu(x: td.Tensor) -> td.Tensor:
    return 0.5 * x * (1.0 + td.erf(x * 0.70703125))


@td.kernel
def matmul_bias(a: td.Tensor, b: td.Tensor, bias: td.Tensor) -> td.Tensor:
    return a @ b + bias


def test_bf16_elementwise_rounds_like_torch():
    """Each bf16 op computes in f32 and rounds once (Triton's interpreter did integer math on the
    raw bits: 0.5 * x gave ~1e38)."""
    x, y = _randn(16, 96, dtype=torch.bfloat16), _randn(16, 96, dtype=torch.bfloat16, seed=1)
    _same(half_of(x, backend="triton"), 0.5 * x)
    _same(add_mul(x, y, backend="triton"), (x + y) * y)
    _same(gelu(x, backend="triton"), 0.5 * x * (1.0 + torch.erf(x * 0.70703125)))


def test_f16_elementwise_rounds_like_torch():
    x, y = _randn(16, 96, dtype=torch.float16), _randn(16, 96, dtype=torch.float16, seed=1)
    _same(add_mul(x, y, backend="triton"), (x + y) * y)
    _same(half_of(x, backend="triton"), 0.5 * x)


def test_bf16_matmul_bias_matches_torch():
    a, b = _randn(40, 48, dtype=torch.bfloat16), _randn(48, 24, dtype=torch.bfloat16, seed=1)
    bias = _randn(24, dtype=torch.bfloat16, seed=2)
    ref = (a.float() @ b.float()).bfloat16() + bias  # f32 accumulation, one rounding, then + bias
    _close(matmul_bias(a, b, bias, backend="triton"), ref, 1e-2)


def test_bf16_special_values_and_subnormals_survive():
    x = torch.tensor([[0.0, -0.0, float("inf"), -float("inf"), float("nan"), 1e-40, -3e-39,
                       3.3e38]], dtype=torch.bfloat16)
    _same(half_of(x, backend="triton"), 0.5 * x)


@td.kernel
def bf16_row_sum(x: td.Tensor, out: td.Tensor):
    with td.grid(1) as i:
        s = td.zeros((64,), td.bfloat16)
        for k in range(x.shape[0]):  # a loop-carried bf16 tile, a scalar row index
            s = s + td.load(x, (k, 0), (None, 64))
        td.store(out, (0,), s)


def test_bf16_loop_carried_sum_rounds_every_step_like_torch():
    x = _randn(5, 64, dtype=torch.bfloat16)
    out = torch.empty(64, dtype=torch.bfloat16)
    bf16_row_sum(x, out, backend="triton")
    ref = x[0]
    for k in range(1, 5):
        ref = ref + x[k]
    _same(out, ref)


@td.kernel
def bf16_atomic(x: td.Tensor, out: td.Tensor):
    with td.grid(1) as i:
        td.atomic_add(out, (0,), td.load(x, (0,), (64,)))


def test_bf16_atomics_in_the_interpreter_say_so():
    x = _randn(64, dtype=torch.bfloat16)
    with pytest.raises(Exception, match="atomics on bf16 tensors do not run in Triton's interpreter"):
        bf16_atomic(x, torch.zeros(64, dtype=torch.bfloat16), backend="triton")


@td.kernel
def scale_to(x: td.Tensor, out: td.Tensor, s: float):
    with td.grid(td.cdiv(x.shape[0], 64)) as i:
        v = td.load(x, (i * 64,), (64,))
        td.store(out, (i * 64,), (v.to(td.float32) * s).to(out.dtype))


@pytest.mark.parametrize("src", [torch.float8_e4m3fn, torch.float8_e5m2, torch.bfloat16])
@pytest.mark.parametrize("dst", [torch.float8_e4m3fn, torch.float8_e5m2, torch.bfloat16])
def test_fp8_and_bf16_load_compute_store_round_like_torch(src, dst):
    """Decoding fp8/bf16 bits, computing in f32 and rounding (saturating for fp8, as the IR
    says) matches torch bit for bit, including ties, subnormals and out-of-range values."""
    x = (_randn(1000, scale=30.0)).clamp(-400, 400).to(src)
    out = torch.empty(1000, dtype=dst)
    scale_to(x, out, 1.7, backend="triton")
    wide = x.float() * 1.7
    if dst in (torch.float8_e4m3fn, torch.float8_e5m2):
        m = 448.0 if dst is torch.float8_e4m3fn else 57344.0
        wide = wide.clamp(-m, m)
    _same(out, wide.to(dst))


def test_gpu_build_of_a_bf16_gemm_has_no_interpreter_workarounds():
    fn = gemm_ir(DType.bf16)
    gpu, interp = generate(fn).source, generate(fn, interpret=True).source
    assert "_td_" not in gpu and "tl.dot(a_tile, b_tile, acc_1)" in gpu
    assert "_td_decode_bf16(" in interp and "_td_encode_bf16(" in interp


# --- 2. pow ----------------------------------------------------------------------------------------

@td.kernel
def square(x: td.Tensor) -> td.Tensor:
    return x ** 2


@td.kernel
def cube(x: td.Tensor) -> td.Tensor:
    return x ** 3


@td.kernel
def power(x: td.Tensor, y: td.Tensor) -> td.Tensor:
    return x ** y


@td.kernel
def root(x: td.Tensor) -> td.Tensor:
    return x ** 0.5


@pytest.mark.parametrize("dt,rel", [(torch.float32, 1e-6), (torch.float16, 1e-3), (torch.bfloat16, 8e-3)])
def test_pow_matches_torch(dt, rel):
    x = _randn(8, 64, dtype=dt)
    y = _randn(8, 64, seed=1).round().to(dt)  # integer exponents: negative bases stay real
    y[0] = _randn(64, seed=2).to(dt)  # and some fractional ones: NaN for negative bases
    x[1, :6] = torch.tensor([0.0, -0.0, float("nan"), 1.0, -2.0, 0.0], dtype=dt)
    y[1, :6] = torch.tensor([-1.0, 2.0, 0.0, float("nan"), 3.0, 0.0], dtype=dt)
    _close(square(x, backend="triton"), x ** 2, rel)
    _close(cube(x, backend="triton"), x ** 3, rel)
    _close(power(x, y, backend="triton"), x ** y, rel)
    _close(root(x, backend="triton"), x ** 0.5, rel)


def test_pow_is_libdevice_on_gpu_and_products_for_small_integer_exponents():
    x = _randn(8, 64)
    gpu = power.compile(x, x, backend="triton").code("triton")
    assert "libdevice.pow(" in gpu
    assert "libdevice" not in square.compile(x, backend="triton").code("triton")
    assert "ld.global" in _ptx(power, x, x)


def _ptx(kernel, *args) -> str:
    """PTX of `kernel` for these arguments (outputs included), compiled ahead of time for sm_90."""
    ck = kernel.compile(*args, backend="triton", target="h100")
    bound, _ = kernel._bind(args, {})
    texts, _ = BACKEND.compile(ck.lowered, ck.scheduled.fn, ck._all_specs(bound), H100)
    return texts["ptx"]


# --- 3. prod ----------------------------------------------------------------------------------------

@td.kernel
def row_prod(x: td.Tensor) -> td.Tensor:
    return td.prod(x, axis=-1)


@pytest.mark.parametrize("dt,rel", [(torch.float32, 1e-5), (torch.float16, 2e-3), (torch.bfloat16, 1e-2),
                                    (torch.int32, 0)])
def test_prod_matches_torch(dt, rel):
    x = (_randn(6, 12, scale=1.3) + 0.2)
    x[2, 3] = 0.0
    x = x.round().clamp(-3, 3).to(dt) if not dt.is_floating_point else x.to(dt)
    ref = torch.prod(x.float() if dt.is_floating_point else x, dim=-1).to(dt)
    _close(row_prod(x, backend="triton"), ref, rel)


def test_prod_compiles_for_sm90():
    x = _randn(64, 128)
    src = row_prod.compile(x, backend="triton").code("triton")
    assert "combine_fn=_td_mul" in src
    assert "mul.f32" in _ptx(row_prod, x)


# --- 4. f64 dots --------------------------------------------------------------------------------------

@td.kernel
def mm(a: td.Tensor, b: td.Tensor) -> td.Tensor:
    return a @ b


def test_f64_gemm_accumulates_in_f64():
    a, b = _randn(48, 300, dtype=torch.float64), _randn(300, 40, dtype=torch.float64, seed=1)
    err = (mm(a, b, backend="triton") - a @ b).abs().max().item()
    assert err < 1e-10  # f32 accumulation gives ~1e-5, Triton's mixed f64/f32 dot gave ~20


def test_f64_gemm_compiles_for_sm90_with_f64_accumulator():
    a = _randn(64, 64, dtype=torch.float64)
    src = mm.compile(a, a, backend="triton").code("triton")
    assert "out_dtype=tl.float64" in src and "dtype=tl.float64" in src
    assert "f64" in _ptx(mm, a, a)


# --- 5. NaN in max / min / argmax / argmin ------------------------------------------------------------

@td.kernel
def row_max(x: td.Tensor) -> td.Tensor:
    return td.max(x, axis=-1)


@td.kernel
def row_min(x: td.Tensor) -> td.Tensor:
    return td.min(x, axis=-1)


@td.kernel
def row_argmax(x: td.Tensor) -> td.Tensor:
    return td.argmax(x, axis=-1)


@td.kernel
def row_argmin(x: td.Tensor) -> td.Tensor:
    return td.argmin(x, axis=-1)


@td.kernel
def pair_max(x: td.Tensor, y: td.Tensor) -> td.Tensor:
    return td.maximum(x, y)


@td.kernel
def pair_min(x: td.Tensor, y: td.Tensor) -> td.Tensor:
    return td.minimum(x, y)


_NAN, _INF = float("nan"), float("inf")
_ROWS = [[1.0, _NAN, 3.0, -2.0], [_NAN, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, _NAN], [_NAN, _NAN, _NAN, _NAN],
         [2.0, 5.0, 5.0, 1.0], [1.0, 1.0, -4.0, -4.0], [-_INF, -_INF, -_INF, -_INF], [_INF, 1.0, _INF, _NAN],
         [-_INF, 0.0, _INF, -0.0], [3.0, _NAN, _NAN, -_INF]]


@pytest.mark.parametrize("dt", [torch.float32, torch.float16, torch.bfloat16])
def test_nan_propagates_through_max_and_min_like_torch(dt):
    x = torch.tensor(_ROWS, dtype=dt)
    _same(row_max(x, backend="triton"), torch.amax(x, dim=-1))
    _same(row_min(x, backend="triton"), torch.amin(x, dim=-1))
    y = torch.flip(x, dims=[0])
    _same(pair_max(x, y, backend="triton"), torch.maximum(x, y))
    _same(pair_min(x, y, backend="triton"), torch.minimum(x, y))


@pytest.mark.parametrize("dt", [torch.float32, torch.bfloat16])
def test_argmax_argmin_give_the_first_nan_or_first_extreme_like_torch(dt):
    x = torch.tensor(_ROWS, dtype=dt)
    assert row_argmax(x, backend="triton").tolist() == torch.argmax(x, dim=-1).tolist()
    assert row_argmin(x, backend="triton").tolist() == torch.argmin(x, dim=-1).tolist()


def test_max_keeps_nan_on_gpu_too():
    x = _randn(32, 64)
    src = row_max.compile(x, backend="triton").code("triton")
    assert "propagate_nan=tl.PropagateNan.ALL" in src
    assert "max.NaN.f32" in _ptx(row_max, x)


# TileLang: the same semantics in its program text, compiled for sm_90a (no GPU needed)

def _tilelang(kernel, *specs):
    return kernel.compile(*specs, backend="tilelang", target="h100")


_F32 = TensorSpec((32, 64), DType.f32)


def test_tilelang_max_min_and_maximum_propagate_nan():
    src = _tilelang(row_max, _F32).code("tilelang")
    assert "T.reduce_max(" in src and 'T.float32(float("nan"))' in src and "_nans" in src
    src = _tilelang(pair_max, _F32, _F32).code("tilelang")
    assert "T.if_then_else(T.isnan(x_tile[i0, i1]), x_tile[i0, i1]" in src


def test_tilelang_prod_is_a_serial_product_per_row():
    src = _tilelang(row_prod, _F32).code("tilelang")
    assert "for r in T.serial(64):" in src and "* T.cast(" in src


@pytest.mark.nvcc
@pytest.mark.slow
@pytest.mark.parametrize("kernel, nargs", [(row_max, 1), (row_min, 1), (row_prod, 1), (pair_max, 2)])
def test_tilelang_nan_and_prod_reductions_compile_for_sm90_without_spills(kernel, nargs):
    r = _tilelang(kernel, *([_F32] * nargs)).report
    assert r.arch == "sm_90a" and r.spill_stores == 0 and r.spill_loads == 0


def test_tilelang_16_bit_transcendentals_and_float_divmod_follow_the_ir():
    h = TensorSpec((32, 64), DType.f16)
    assert 'T.cast(T.exp2((T.cast(x_tile[i0, i1], "float32")) * T.float32(1.4426950408889634)), "float16")' in (
        _tilelang(k_exp, h).code("tilelang"))
    v = TensorSpec((256,), DType.f32)
    src = _tilelang(int_div_mod, v, v, v, v).code("tilelang")
    assert "T.fmod(" in src and "T.floordiv" not in src and "T.floormod" not in src


def test_tilelang_argmax_points_to_a_backend_that_has_it():
    from tiledsl.errors import BackendError

    with pytest.raises(BackendError, match="backend='triton'"):
        _tilelang(row_argmax, _F32).code("tilelang")
    x = _randn(4, 64)  # and that backend does have it
    assert row_argmax(x, backend="triton").tolist() == torch.argmax(x, dim=-1).tolist()


# --- 6. 64-bit offsets -----------------------------------------------------------------------------

def _gemm_specs(m: int, n: int, k: int, dt=DType.bf16):
    return (TensorSpec((m, k), dt), TensorSpec((k, n), dt), TensorSpec((m, n), dt))


def test_offsets_are_64_bit_only_where_a_tensor_can_pass_int32():
    fn = gemm_ir(DType.bf16, bm=128, bn=128, bk=64)
    small = generate(fn, specs=_gemm_specs(4096, 4096, 4096)).source
    assert ".to(tl.int64)" not in small  # common kernels keep 32-bit offsets
    big = generate(fn, specs=_gemm_specs(65536, 128, 65536)).source  # a: 2**32 elements
    assert "offs_a0[:, None].to(tl.int64) * a_stride_0" in big
    assert "offs_b0[:, None] * b_stride_0" in big  # b is small: 32-bit
    # without the call's shapes, a runtime size is unbounded: 64-bit
    assert "offs_a0[:, None].to(tl.int64) * a_stride_0" in generate(fn).source


def test_offset_width_from_shapes_and_strides():
    assert not offsets_need_int64(("m", "n"), TensorSpec((46340, 46340), DType.f16))
    assert offsets_need_int64(("m", "n"), TensorSpec((46341, 46341), DType.f16))
    # a small view of a huge buffer (a KV-cache slice): strides decide
    assert offsets_need_int64(("m", "n"), TensorSpec((2, 8), DType.f16, (2**31, 1)))
    assert offsets_need_int64(("m",), None) and not offsets_need_int64((1024, 1024), None)


@td.kernel
def wrapped_index(x: td.Tensor, out: td.Tensor):
    with td.grid(1) as i:
        k = (i.to(td.int64) + 4294967295).to(td.int32)  # wraps to -1 in 32 bits
        td.store(out, (0,), td.load(x, (k,), None))


def test_index_that_wraps_negative_keeps_its_lower_bound_mask():
    """An i32 constant is its wrapped value (-1, not 4294967295), so the `>= 0` half of the mask
    stays and the load reads `other` instead of the element before the buffer."""
    x = torch.arange(1.0, 65.0)
    for backend in ("triton", "ir"):
        out = torch.full((1,), 7.0)
        wrapped_index(x, out, backend=backend)
        assert out.tolist() == [0.0], backend
    assert "(k >= 0)" in wrapped_index.compile(x, out, backend="triton").code("triton")


def test_big_tensor_gemm_compiles_for_sm90_with_64_bit_offsets():
    """The pointer kernel multiplies a's offsets in 64 bits; with TMA (the kernel these specs take
    by default) a's tiles come through descriptors, which address in 64 bits themselves."""
    fn = gemm_ir(DType.bf16, bm=128, bn=128, bk=64, stages=3, warps=8)
    specs = _gemm_specs(65536, 128, 65536)
    texts, _ = BACKEND.compile(BACKEND.lower(fn, specs, H100), fn, specs, H100)
    assert "cp.async.bulk.tensor" in texts["ptx"]
    td.configure(tma=False)  # the autouse fixture restores the settings
    texts, _ = BACKEND.compile(BACKEND.lower(fn, specs, H100), fn, specs, H100)
    assert "cp.async.bulk.tensor" not in texts["ptx"]
    assert "mul.wide.s32" in texts["ptx"] or "mul.lo.s64" in texts["ptx"]


# --- 7. names ------------------------------------------------------------------------------------

def test_legalize_is_deterministic_and_collision_free():
    n = Namer()
    got = [n.take(s) for s in ["and", "tl", "a.b", "a_b", "1x", "__x", "é", "", "_td_mul", "a_b"]]
    assert got == ["and_1", "tl_1", "a_b", "a_b_1", "v1x", "v__x", "_", "v", "_td_mul_1", "a_b_2"]
    assert all(s.isidentifier() for s in got) and len(set(got)) == len(got)
    assert legalize("x" * 100) == "x" * 64


@td.kernel
def keyword_values(x: td.Tensor) -> td.Tensor:
    return td.where((x > 0) & (x < 1), x, -x)  # the front end names the mask %and


def test_ir_values_named_like_keywords_are_renamed_not_refused():
    x = _randn(4, 32)
    _same(keyword_values(x, backend="triton"), torch.where((x > 0) & (x < 1), x, -x))


@td.kernel
def names_clash(tl, triton, launch, grid):
    lambda_ = tl + triton
    return lambda_ * launch - grid


def test_argument_names_that_shadow_the_module_still_run():
    a, b, c, d = (_randn(4, 32, seed=s) for s in range(4))
    _close(names_clash(a, b, c, d, backend="triton"), (a + b) * c - d, 1e-6)


# --- 8. sweep against torch and backend="ir" ---------------------------------------------------------

@td.kernel
def k_exp(x):
    return td.exp(x)


@td.kernel
def k_exp2(x):
    return td.exp2(x)


@td.kernel
def k_log(x):
    return td.log(x)


@td.kernel
def k_log2(x):
    return td.log2(x)


@td.kernel
def k_sqrt(x):
    return td.sqrt(x)


@td.kernel
def k_rsqrt(x):
    return td.rsqrt(x)


@td.kernel
def k_sin(x):
    return td.sin(x)


@td.kernel
def k_cos(x):
    return td.cos(x)


@td.kernel
def k_tanh(x):
    return td.tanh(x)


@td.kernel
def k_sigmoid(x):
    return td.sigmoid(x)


@td.kernel
def k_erf(x):
    return td.erf(x)


@td.kernel
def k_floor(x):
    return td.floor(x)


@td.kernel
def k_ceil(x):
    return td.ceil(x)


@td.kernel
def k_abs(x):
    return abs(x)


@td.kernel
def k_neg(x):
    return -x


_UNARY = {
    "exp": (k_exp, torch.exp), "exp2": (k_exp2, torch.exp2), "log": (k_log, torch.log),
    "log2": (k_log2, torch.log2), "sqrt": (k_sqrt, torch.sqrt), "rsqrt": (k_rsqrt, torch.rsqrt),
    "sin": (k_sin, torch.sin), "cos": (k_cos, torch.cos), "tanh": (k_tanh, torch.tanh),
    "sigmoid": (k_sigmoid, torch.sigmoid), "erf": (k_erf, torch.erf), "floor": (k_floor, torch.floor),
    "ceil": (k_ceil, torch.ceil), "abs": (k_abs, torch.abs), "neg": (k_neg, torch.neg),
}
# f32 libm-level agreement; 16-bit results may differ by one rounding of a nearly-tied f32 value
_REL = {torch.float32: 4e-6, torch.float16: 1e-3, torch.bfloat16: 8e-3}


def _sweep_input(dt):
    x = _randn(8, 64, scale=3.0)
    x[0, :8] = torch.tensor([0.0, -0.0, _INF, -_INF, _NAN, 1e-30, -1.5, 2.5])
    return x.to(dt)


def _ref(fn, x):
    """torch in f32, rounded once to the input's dtype (the IR's semantics for 16-bit floats)."""
    return fn(x.float()).to(x.dtype)


@pytest.mark.parametrize("name", sorted(_UNARY))
@pytest.mark.parametrize("dt", [torch.float32, torch.float16, torch.bfloat16])
def test_unary_sweep_matches_torch_and_ir(name, dt):
    kernel, fn = _UNARY[name]
    x = _sweep_input(dt)
    if name in ("tanh", "sigmoid"):  # computed through exp: a few ulp in f32
        rel = max(_REL[dt], 2e-6 * 8)
    else:
        rel = _REL[dt]
    got = kernel(x, backend="triton")
    _close(got, _ref(fn, x), rel)
    _close(got, kernel(x, backend="ir"), rel)


@td.kernel
def r_sum(x):
    return td.sum(x, axis=-1)


@td.kernel
def r_max(x):
    return td.max(x, axis=-1)


@td.kernel
def r_min(x):
    return td.min(x, axis=-1)


@td.kernel
def r_prod(x):
    return td.prod(x, axis=-1)


@td.kernel
def r_argmax(x):
    return td.argmax(x, axis=-1)


@td.kernel
def r_argmin(x):
    return td.argmin(x, axis=-1)


_REDUCTIONS = {
    "sum": (r_sum, lambda x: x.sum(-1)), "max": (r_max, lambda x: x.amax(-1)),
    "min": (r_min, lambda x: x.amin(-1)), "prod": (r_prod, lambda x: x.prod(-1)),
    "argmax": (r_argmax, lambda x: x.argmax(-1)), "argmin": (r_argmin, lambda x: x.argmin(-1)),
}


@pytest.mark.parametrize("name", sorted(_REDUCTIONS))
@pytest.mark.parametrize("dt", [torch.float32, torch.float16, torch.bfloat16, torch.int32])
def test_reduction_sweep_matches_torch_and_ir(name, dt):
    kernel, fn = _REDUCTIONS[name]
    x = _randn(6, 40, scale=1.2) + (0.3 if name == "prod" else 0.0)
    x = x.round().clamp(-2, 2) if dt is torch.int32 else x
    x = x.to(dt)
    if dt.is_floating_point:
        x[1, 5] = _NAN
    got = kernel(x, backend="triton")
    ir = kernel(x, backend="ir")
    if name.startswith("arg"):
        assert got.tolist() == fn(x).tolist() == ir.tolist()
        return
    ref = fn(x.float()).to(dt) if dt.is_floating_point else fn(x).to(dt)
    rel = 0 if dt is torch.int32 else _REL[dt] * 10
    _close(got, ref, rel)
    _close(got, ir, rel)


@td.kernel
def scan_rows(x: td.Tensor, out: td.Tensor):
    with td.grid(x.shape[0]) as i:
        v = td.load(x, (i, 0), (None, 64))
        td.store(out, (i, 0), td.cumsum(v, 0))


@pytest.mark.parametrize("dt", [torch.float32, torch.float16, torch.bfloat16, torch.int32])
def test_cumsum_matches_torch_and_ir(dt):
    x = _randn(4, 64).clamp(-3, 3)
    x = (x * 3).round().to(dt) if dt is torch.int32 else x.to(dt)
    out, ir = torch.empty_like(x), torch.empty_like(x)
    scan_rows(x, out, backend="triton")
    scan_rows(x, ir, backend="ir")
    ref = torch.cumsum(x.float() if dt.is_floating_point else x, dim=-1).to(dt)
    _close(out, ref, 0 if dt is torch.int32 else _REL[dt] * 20)
    _close(out, ir, 0 if dt is torch.int32 else _REL[dt] * 20)


@td.kernel
def cast_to(x: td.Tensor, out: td.Tensor):
    with td.grid(td.cdiv(x.shape[0], 128)) as i:
        v = td.load(x, (i * 128,), (128,))
        td.store(out, (i * 128,), v.to(out.dtype))


_CAST_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float8_e4m3fn, torch.float8_e5m2,
                torch.int8, torch.int32, torch.int64]


def _cast_ref(x: torch.Tensor, dst: torch.dtype) -> torch.Tensor:
    """The IR's cast: float -> fp8 saturates, float -> int truncates toward zero."""
    if dst in (torch.float8_e4m3fn, torch.float8_e5m2) and x.is_floating_point():
        m = 448.0 if dst is torch.float8_e4m3fn else 57344.0
        return x.float().clamp(-m, m).to(dst)
    if x.dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
        x = x.float()
    return x.to(dst)


@pytest.mark.parametrize("src", _CAST_DTYPES)
@pytest.mark.parametrize("dst", _CAST_DTYPES)
def test_cast_sweep_matches_torch_and_ir(src, dst):
    x = _randn(300, scale=40.0)
    if not dst.is_floating_point or not src.is_floating_point:
        x = x.clamp(-100, 100)  # int8 range, and floats whose truncation is defined
    x = x.to(src) if src.is_floating_point else x.trunc().to(src)
    out, ir = torch.empty(300, dtype=dst), torch.empty(300, dtype=dst)
    cast_to(x, out, backend="triton")
    cast_to(x, ir, backend="ir")
    _same(out, _cast_ref(x, dst))
    _same(ir, _cast_ref(x, dst))


@td.kernel
def int_div_mod(a: td.Tensor, b: td.Tensor, q: td.Tensor, r: td.Tensor):
    with td.grid(td.cdiv(a.shape[0], 64)) as i:
        x = td.load(a, (i * 64,), (64,))
        y = td.load(b, (i * 64,), (64,), other=1)
        td.store(q, (i * 64,), x // y)
        td.store(r, (i * 64,), x % y)


@pytest.mark.parametrize("dt", [torch.int32, torch.int64, torch.float32])
def test_floor_division_and_modulo_of_negative_numbers_follow_python(dt):
    a = torch.tensor([7, -7, 7, -7, 0, 6, -6, 5, -1, 1] * 7, dtype=dt)
    b = torch.tensor([2, 2, -2, -2, 3, -3, 3, -5, 4, -4] * 7, dtype=dt)
    for backend in ("triton", "ir"):
        q, r = torch.empty_like(a), torch.empty_like(a)
        int_div_mod(a, b, q, r, backend=backend)
        assert q.tolist() == torch.div(a, b, rounding_mode="floor").tolist(), backend
        assert r.tolist() == torch.remainder(a, b).tolist(), backend


@pytest.mark.parametrize("dt", [torch.float32, torch.float16, torch.bfloat16])
def test_float_floor_division_and_remainder_follow_torch(dt):
    """From fmod, as torch: 1.0 // 0.1 is 9 and 1.0 % 0.1 is 0.0999..., not floor(1.0 / 0.1)."""
    a = torch.tensor([1.0, -1.0, 1.0, 5.5, -5.5, 0.3, 7.0, 1e4, 3.0, -3.0, 0.0, 2.0] * 6, dtype=dt)
    b = torch.tensor([0.1, 0.1, -0.1, 2.0, 2.0, 0.1, -0.7, 3.0, _INF, _INF, -2.0, 0.0] * 6, dtype=dt)
    for backend in ("triton", "ir"):
        q, r = torch.empty_like(a), torch.empty_like(a)
        int_div_mod(a, b, q, r, backend=backend)
        _same(q, torch.div(a.float(), b.float(), rounding_mode="floor").to(dt))
        _same(r, torch.remainder(a.float(), b.float()).to(dt))


@pytest.mark.slow
def test_float_floor_division_compiles_for_sm90():
    a = torch.empty(256)
    assert "div.rn.f32" in _ptx(int_div_mod, a, a, a, a)


@td.kernel
def select(c: td.Tensor, x: td.Tensor, y: td.Tensor) -> td.Tensor:
    return td.where(c > 0, x, y)


@pytest.mark.parametrize("dt", [torch.float32, torch.bfloat16, torch.int32])
def test_where_matches_torch_and_ir(dt):
    c, x, y = _randn(8, 32), _randn(8, 32, seed=1), _randn(8, 32, seed=2)
    x, y = (x * 10).to(dt), (y * 10).to(dt)
    _same(select(c, x, y, backend="triton"), torch.where(c > 0, x, y))
    _same(select(c, x, y, backend="ir"), torch.where(c > 0, x, y))

