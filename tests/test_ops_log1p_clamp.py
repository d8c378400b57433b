"""td.log1p and td.clamp on eager, the IR interpreter and Triton's interpreter, against torch.

td.log1p is a transcendental: f16/bf16 compute in f32 and round once, so the reference is
torch.log1p in f32 rounded to the input's dtype. Tiny arguments are the point of the op:
log(1 + 1e-8) is 0 in f32 where log1p gives 1e-8. Triton's interpreter cannot run libdevice (it
returns None), so interpreter builds compute it from core tl ops (`_td_log1p`, in f64): within an
f32 ulp (after 16-bit rounding: a 16-bit ulp on a nearly tied value).

td.clamp is torch.clamp: min(max(x, lo), hi), so lo > hi gives hi; a NaN in x, lo or hi gives
NaN; the operands meet in torch's promoted dtype (numbers weakly). It only selects values, so
every backend must agree with torch bit for bit. TileLang needs a GPU to run: its program text is
checked for the calls (and the NaN tests).
"""

from __future__ import annotations

import re

import pytest
import torch

import tiledsl as td
from tiledsl.dtypes import DType
from tiledsl.errors import KernelTypeError, TiledslError
from tiledsl.specs import TensorSpec

pytestmark = [pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]

BACKENDS = ["eager", "ir", "triton"]
FLOATS = [torch.float32, torch.float16, torch.bfloat16]
N = 256
NAN = float("nan")
_ULP = {torch.float32: 4e-6, torch.float16: 1e-3, torch.bfloat16: 8e-3}
_DT = {torch.float32: DType.f32, torch.float16: DType.f16, torch.bfloat16: DType.bf16,
       torch.int32: DType.i32, torch.int8: DType.i8}


# --- kernels ---------------------------------------------------------------------------------------

@td.kernel
def log1p_tile(x, y, BLOCK: td.constexpr = 128):
    with td.grid(td.cdiv(x.shape[0], BLOCK)) as pid:
        t = td.load(x, (pid * BLOCK,), (BLOCK,))
        td.store(y, (pid * BLOCK,), td.log1p(t))


@td.kernel
def log1p_whole(x):
    return td.log1p(x)


@td.kernel
def softplus(x):
    """log(1 + exp(x)), the reference kernels' use: exact for very negative x."""
    return td.log1p(td.exp(x))


@td.kernel
def clamp_tile(x, lo, y, BLOCK: td.constexpr = 128):
    """A tile lower bound and a number upper bound."""
    with td.grid(td.cdiv(x.shape[0], BLOCK)) as pid:
        t = td.load(x, (pid * BLOCK,), (BLOCK,))
        lo_t = td.load(lo, (pid * BLOCK,), (BLOCK,))
        td.store(y, (pid * BLOCK,), td.clamp(t, lo_t, 20))


@td.kernel
def clamp_rows(x, lo, hi, y, BM: td.constexpr = 8, BN: td.constexpr = 16):
    """Bounds that broadcast: lo a row (one per column), hi a column (one per row)."""
    with td.grid(td.cdiv(x.shape[0], BM)) as pid:
        t = td.load(x, (pid * BM, 0), (BM, BN))
        lo_t = td.load(lo, (0,), (BN,))
        hi_t = td.load(hi, (pid * BM,), (BM,))
        td.store(y, (pid * BM, 0), td.clamp(t, td.expand_dims(lo_t, 0), td.expand_dims(hi_t, 1)))


@td.kernel
def clamp_whole(x, lo, hi):
    return td.clamp(x, lo, hi)


@td.kernel
def clamp_numbers(x):
    return td.clamp(x, -0.1, 0.1)


@td.kernel
def clamp_lo_only(x):
    return td.clamp(x, lo=0.0)


@td.kernel
def clamp_hi_only(x):
    return td.clamp(x, hi=0.0)


@td.kernel
def clamp_no_bound(x):
    return td.clamp(x)


@td.kernel
def clamp_mask(x):
    m = x > 0
    return td.clamp(m, m, m)  # torch: "clamp" not implemented for 'Bool'


# --- helpers -----------------------------------------------------------------------------------------

def _log1p_input(dt: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    x = torch.randn(N, generator=g) * 3.0
    x[10:60] = torch.rand(50, generator=g) * 2.0 - 1.0  # (-1, 1), where log1p's care matters
    special = [0.0, -0.0, 1e-8, -1e-8, 3e-20, 1e-30, -1.0, -2.0, -0.999, 1e30, float("inf"), float("-inf"), NAN,
               1e-4, -1e-4, 6e-5]
    x[:len(special)] = torch.tensor(special)
    return x.to(dt)


def _check(got: torch.Tensor, ref: torch.Tensor, rel: float, what: str) -> None:
    """Same dtype, NaN and infinities at the same places (signs included), finite values within
    `rel` relative (of max(|ref|, tiny): tiny values are compared relatively, the point of log1p)."""
    assert got.dtype == ref.dtype, f"{what}: dtype {got.dtype}, expected {ref.dtype}"
    g, r = got.double(), ref.double()
    assert torch.equal(g.isnan(), r.isnan()), f"{what}: NaN positions differ"
    fin = ~r.isnan()
    inf = fin & r.isinf()
    assert torch.equal(g[inf], r[inf]) and not g[fin & ~r.isinf()].isinf().any(), f"{what}: infinities differ"
    fin &= ~r.isinf()
    assert torch.equal(torch.signbit(g[fin & (r == 0)]), torch.signbit(r[fin & (r == 0)])), f"{what}: zero signs"
    err = ((g - r).abs() / r.abs().clamp(min=1e-37))[fin & (r != 0)]
    assert float(err.max()) <= rel, f"{what}: off by {float(err.max())} (relative)"


# --- td.log1p --------------------------------------------------------------------------------------------

def test_the_reference_is_what_log_loses():
    """The small-argument cases really test something: in f32, log(1 + x) gives 0 for 1e-8."""
    x = torch.tensor([1e-8, 3e-20])
    assert torch.equal(torch.log(1 + x), torch.zeros(2)) and torch.equal(torch.log1p(x), x)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", FLOATS)
def test_log1p_matches_torch(backend, dt):
    x = _log1p_input(dt)
    y = torch.empty_like(x)
    log1p_tile(x, y, backend=backend)
    ref = torch.log1p(x.float()).to(dt)
    # eager and the interpreter round torch's own f32 value: bit for bit; Triton within an ulp
    _check(y, ref, 0.0 if backend != "triton" else _ULP[dt], f"log1p on {dt} ({backend})")
    # 1e-8, 3e-20, ... (those that are not 0 in `dt`), where log1p(x) rounds to x itself
    tiny = (x != 0) & (x.abs() < (1e-7 if dt is torch.float32 else 1e-4))
    assert tiny.any() and (y[tiny] == x[tiny]).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", [torch.bfloat16, torch.float32])
def test_level1_log1p_rounds_once_from_f32(backend, dt):
    x = _log1p_input(dt).reshape(16, 16)
    _check(log1p_whole(x, backend=backend), torch.log1p(x.float()).to(dt), 0.0 if backend != "triton" else _ULP[dt],
           backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_log1p_of_ints_is_f32_as_torch(backend):
    x = torch.arange(-1, 63, dtype=torch.int32)
    got = log1p_whole(x, backend=backend)
    _check(got, torch.log1p(x), 0.0 if backend != "triton" else _ULP[torch.float32], backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_softplus_keeps_tiny_exponentials(backend):
    x = torch.tensor([-30.0, -20.0, -5.0, 0.0, 5.0, 20.0, -80.0, -100.0])
    ref = torch.log1p(torch.exp(x))
    _check(softplus(x, backend=backend), ref, 0.0 if backend != "triton" else 1e-5, backend)
    assert float(softplus(x, backend=backend)[0]) > 0.0  # log(1 + 9e-14) would be 0


def test_triton_builds_use_libdevice_on_gpus_and_core_ops_in_the_interpreter():
    x = _log1p_input(torch.float32)
    lowered = log1p_tile.compile(x, torch.empty_like(x), backend="triton", target="h100").lowered
    assert "libdevice.log1p(" in lowered.source and "_td_log1p" not in lowered.source
    assert "_td_log1p(" in lowered.interpret_source and "libdevice" not in lowered.interpret_source


@pytest.mark.parametrize("dt, dtype", [(DType.f32, "float32"), (DType.f16, "float16"), (DType.bf16, "bfloat16")])
def test_tilelang_emits_log1p(dt, dtype):
    src = log1p_tile.compile(TensorSpec((N,), dt), TensorSpec((N,), dt), backend="tilelang",
                             target="h100").code("tilelang")
    if dt is DType.f32:
        assert "T.log1p(" in src
    else:  # computed in f32 (the numerics pass casts the input up), rounded once to 16 bits
        assert re.search(rf'T\.cast\(T\.log1p\(T\.cast\([^()]*, "float32"\)\), "{dtype}"\)', src), src


# --- td.clamp ----------------------------------------------------------------------------------------------

def _clamp_inputs(dt: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(N, generator=g) * 30.0
    lo = torch.randn(N, generator=g) * 10.0
    lo[:8] = torch.tensor([50.0, 25.0, 0.0, -5.0, 30.0, 19.0, 21.0, -100.0])  # 50, 25, 30, 21: lo > hi (20)
    if dt.is_floating_point:
        x[8:12] = torch.tensor([NAN, 1.0, NAN, float("inf")])
        lo[8:12] = torch.tensor([0.0, NAN, NAN, float("-inf")])
    else:
        x = x.clamp(-120, 120)
    return x.to(dt), lo.to(dt)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", [*FLOATS, torch.int32, torch.int8])
def test_clamp_matches_torch(backend, dt):
    x, lo = _clamp_inputs(dt)
    y = torch.empty_like(x)
    clamp_tile(x, lo, y, backend=backend)
    ref = torch.clamp(x, lo, torch.full_like(x, 20))
    assert torch.equal(y.isnan(), ref.isnan()), f"{backend}: NaN positions differ"
    assert torch.equal(torch.nan_to_num(y), torch.nan_to_num(ref)), backend
    assert (y[[0, 1, 4, 6]] == 20).all(), "lo > hi gives hi"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", [torch.float32, torch.bfloat16, torch.int32])
def test_clamp_with_broadcasting_tile_bounds(backend, dt):
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(32, 16, generator=g) * 10).to(dt)
    lo = (torch.randn(16, generator=g) * 5 - 2).to(dt)
    hi = (torch.randn(32, generator=g) * 5 + 2).to(dt)
    y = torch.empty_like(x)
    clamp_rows(x, lo, hi, y, backend=backend)
    assert torch.equal(y, torch.clamp(x, lo[None, :], hi[:, None])), backend


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dts", [(torch.float16, torch.float32), (torch.int32, torch.float16),
                                 (torch.bfloat16, torch.bfloat16), (torch.int8, torch.int32)])
def test_level1_clamp_promotes_as_torch(backend, dts):
    g = torch.Generator().manual_seed(9)
    x = (torch.randn(8, 16, generator=g) * 10).to(dts[0])
    lo = (torch.randn(16, generator=g) * 5).to(dts[1])
    hi = (torch.randn(8, 1, generator=g) * 5).to(dts[1])
    if x.is_floating_point():
        x[0, 0] = NAN
    got = clamp_whole(x, lo, hi, backend=backend)
    ref = torch.clamp(x, lo, hi)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    assert torch.equal(torch.nan_to_num(got), torch.nan_to_num(ref)) and torch.equal(got.isnan(), ref.isnan())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", [torch.float16, torch.int32])
def test_clamp_with_numbers_and_one_bound(backend, dt):
    x = (torch.randn(64, generator=torch.Generator().manual_seed(1)) * 4).to(dt)
    for kernel, ref in ((clamp_numbers, torch.clamp(x, -0.1, 0.1)), (clamp_lo_only, torch.clamp(x, min=0.0)),
                        (clamp_hi_only, torch.clamp(x, max=0.0))):
        got = kernel(x, backend=backend)
        assert got.dtype == ref.dtype and torch.equal(got, ref), (kernel.__name__, backend)


@pytest.mark.parametrize("backend", ["eager", "ir"])
def test_clamp_refuses_no_bound_and_masks(backend):
    x = torch.randn(16)
    with pytest.raises(KernelTypeError, match="bound"):
        clamp_no_bound(x, backend=backend)
    with pytest.raises(TiledslError, match="bool"):
        clamp_mask(x, backend=backend)


@pytest.mark.parametrize("dt", [DType.f32, DType.bf16, DType.i32])
def test_tilelang_emits_clamp(dt):
    specs = [TensorSpec((N,), dt) for _ in range(3)]
    src = clamp_tile.compile(*specs, backend="tilelang", target="h100").code("tilelang")
    assert "T.min(T.max(" in src
    assert ("T.isnan(" in src) is dt.is_float  # NaN propagates; ints need no test


def test_gpu_builds_compile_for_sm90():
    """The GPU build's libdevice.log1p and NaN-propagating min/max compile ahead of time (no GPU
    needed): the interpreter never runs that text."""
    from tiledsl.lowering.triton import BACKEND

    from tiledsl.targets import get_target

    h100 = get_target("h100")
    for kernel, args in ((log1p_tile, (torch.randn(N, dtype=torch.float16), torch.empty(N, dtype=torch.float16))),
                         (clamp_tile, (torch.randn(N), torch.randn(N), torch.empty(N)))):
        ck = kernel.compile(*args, backend="triton", target="h100")
        bound, _ = kernel._bind(args, {})
        texts, _ = BACKEND.compile(ck.lowered, ck.scheduled.fn, ck._all_specs(bound), h100)
        assert ".entry" in texts["ptx"], kernel.__name__
