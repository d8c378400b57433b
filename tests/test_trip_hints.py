"""Expected trip counts of data-dependent loops: `td.range(..., expect=)` and
`td.pipelined(..., expect=)` reach the FOR's ``expect`` attr and the cost model's walk, which
prices such a loop by the hint, else by a ``min(runtime, size)`` bound, else by the table axis
its variable indexes, else by `UNKNOWN_TRIPS`. Bad hints are errors at the loop's line; the hint
never changes results."""

from __future__ import annotations

import pytest
import torch

import tiledsl as td
from tiledsl.dtypes import DType
from tiledsl.errors import KernelTypeError
from tiledsl.ir.nodes import Sym, walk
from tiledsl.ir.ops import Op
from tiledsl.ir.text import parse_ir, print_ir
from tiledsl.ir.trips import evaluate, is_expect
from tiledsl.schedule.analysis import UNKNOWN_TRIPS, analyze, tensor_sizes
from tiledsl.specs import TensorSpec as T


@td.kernel
def hinted(x: td.Tensor, n: td.Tensor, tab: td.Tensor, out: td.Tensor, ROWS: td.constexpr = 16):
    """Sums `n[0]` blocks of ROWS rows per program, expecting half the table's width times
    64 // ROWS steps."""
    with td.grid(x.shape[0] // 64) as i:
        acc = td.zeros((ROWS, 16), td.float32)
        for j in td.range(td.load(n, (0,)), expect=td.cdiv(tab.shape[1], 2) * (64 // ROWS)):
            acc += td.load(x, (i * 64 + j * ROWS, 0), (ROWS, 16)).to(td.float32)
        td.store(out, (i * ROWS, 0), acc)


@td.kernel
def pipelined_hint(x: td.Tensor, n: td.Tensor, out: td.Tensor, PAGES: td.constexpr = 3):
    with td.grid(x.shape[0] // 64) as i:
        acc = td.zeros((16, 16), td.float32)
        for j in td.pipelined(td.load(n, (0,)), stages=2, expect=PAGES):
            acc += td.load(x, (i * 64 + j * 16, 0), (16, 16)).to(td.float32)
        td.store(out, (i * 16, 0), acc)


@td.kernel
def unhinted(x: td.Tensor, n: td.Tensor, tab: td.Tensor, out: td.Tensor, BOUND: td.constexpr = 0):
    """No hint: bounded by min(n, x.shape[1] // 16) when BOUND, else walks tab's columns."""
    with td.grid(x.shape[0] // 64) as i:
        acc = td.zeros((16, 16), td.float32)
        m = td.load(n, (0,))
        stop = td.minimum(m, x.shape[1] // 16) if BOUND else m
        for j in range(stop):
            p = td.load(tab, (i, j)) if not BOUND else j
            acc += td.load(x, (i * 64, p * 16), (16, 16)).to(td.float32)
        td.store(out, (i * 16, 0), acc)


def _specs(rows=256, width=10):
    return (T((rows, 16), DType.f32), T((1,), DType.i32), T((4, width), DType.i32), T((rows // 4, 16), DType.f32))


def _trips(kernel, specs, **knobs):
    fn = kernel.ir(*specs, **knobs)
    return analyze(fn, tensor_sizes(fn, specs), {"num_warps": 4, **knobs}).loop_trips


def test_the_hint_is_carried_in_the_ir_and_reads_back():
    fn = hinted.ir(*_specs())
    (loop,) = [i for i in walk(fn.body) if i.op is Op.FOR]
    assert loop.attr("expect") == ("mul", ("floordiv", ("add", "tab.1", 1), 2), 4)
    assert print_ir(parse_ir(print_ir(fn))) == print_ir(fn)


def test_the_analysis_prices_the_loop_at_the_hint():
    # cdiv(10, 2) * (64 // 16) = 20 iterations; with 8 rows a step, 5 * 8 = 40
    assert _trips(hinted, _specs()) == [(20, "expect")]
    assert _trips(hinted, _specs(), ROWS=8) == [(40, "expect")]
    assert _trips(hinted, _specs(width=30)) == [(60, "expect")]
    specs = (T((256, 16), DType.f32), T((1,), DType.i32), T((64, 16), DType.f32))
    assert _trips(pipelined_hint, specs) == [(3, "expect")]
    assert _trips(pipelined_hint, specs, PAGES=12) == [(12, "expect")]


def test_a_knob_in_the_hint_is_read_with_its_value():
    fn = hinted.ir(*_specs(), ROWS=td.auto)
    (loop,) = [i for i in walk(fn.body) if i.op is Op.FOR]
    assert loop.attr("expect")[2] == ("floordiv", 64, Sym("ROWS"))
    sizes = tensor_sizes(fn, _specs())
    assert analyze(fn, sizes, {"ROWS": 32, "num_warps": 4}).loop_trips == [(10, "expect")]


def test_the_estimate_grows_with_the_hint():
    specs = (T((132 * 64, 16), DType.f32), T((1,), DType.i32), T((132 * 16, 16), DType.f32))
    times = [pipelined_hint.compile(*specs, PAGES=p, backend="ir", target="h200").estimate.time_us
             for p in (4, 64, 1024)]
    assert times[0] < times[1] < times[2], times


def test_without_a_hint_a_bound_or_the_table_width_prices_the_loop():
    assert _trips(unhinted, _specs(width=12)) == [(12, "table")]  # j indexes tab's 12 columns
    specs = (T((256, 48), DType.f32), *_specs()[1:])
    assert _trips(unhinted, specs, BOUND=1) == [(3, "bound")]  # min(n, 48 // 16)


def test_without_anything_the_default_is_not_one_iteration():
    @td.kernel
    def bare(x: td.Tensor, n: td.Tensor, out: td.Tensor):
        with td.grid(1) as i:
            acc = td.zeros((16, 16), td.float32)
            for j in range(td.load(n, (0,))):
                acc += td.load(x, (j * 16, 0), (16, 16))
            td.store(out, (i * 16, 0), acc)

    specs = (T((64, 16), DType.f32), T((1,), DType.i32), T((16, 16), DType.f32))
    assert _trips(bare, specs) == [(UNKNOWN_TRIPS, "default")] and UNKNOWN_TRIPS > 1


@pytest.mark.parametrize("backend", ["eager", "ir", "triton"])
def test_results_do_not_depend_on_the_hint(backend):
    x = torch.randn(256, 16)
    ref = torch.stack([x[i * 64:i * 64 + 48].view(3, 16, 16).sum(0) for i in range(4)]).view(64, 16)
    for tab_width in (1, 10):
        out = torch.zeros(64, 16)
        hinted(x, torch.tensor([3], dtype=torch.int32), torch.zeros(4, tab_width, dtype=torch.int32), out,
               backend=backend)
        torch.testing.assert_close(out, ref)
    for pages in (1, 100):
        out = torch.zeros(64, 16)
        pipelined_hint(x, torch.tensor([3], dtype=torch.int32), out, PAGES=pages, backend=backend)
        torch.testing.assert_close(out, ref)


def _bad(expect_src: str, tmp_path):
    """A kernel whose loop hint is `expect_src` (a module-level kernel: eager mode needs source)."""
    ns: dict = {}
    src = (
        "import tiledsl as td\n"
        "@td.kernel\n"
        "def bad(x: td.Tensor, n: td.Tensor, k: int, F: td.constexpr = 2.5):\n"
        "    with td.grid(1) as i:\n"
        "        acc = td.zeros((16,), td.float32)\n"
        f"        for j in td.range(td.load(n, (0,)), expect={expect_src}):\n"
        "            acc += td.load(x, (j * 16,), (16,))\n"
        "        td.store(x, (0,), acc)\n")
    path = tmp_path / "bad_expect.py"
    path.write_text(src)
    exec(compile(src, str(path), "exec"), ns)
    return ns["bad"]


@pytest.mark.parametrize("src, words", [
    ("-1", "expect= must be at least 0, got -1"),
    ("2.5", "expect= must be an integer trip count"),
    ("F", "expect= must be an integer trip count"),
    ("True", "expect= must be an integer trip count"),
    ("td.load(n, (0,))", "must not depend on runtime data"),
    ("td.load(n, (0,)) + x.shape[0]", "must not depend on runtime data"),
    ("k", "must not depend on runtime data"),
    ("i + 4", "must not depend on runtime data"),
    ("td.zeros((4,), td.int32)", "must be an integer scalar"),
])
def test_bad_hints_are_errors_at_the_loop_line(src, words, tmp_path):
    bad = _bad(src, tmp_path)
    args = (torch.zeros(64), torch.tensor([2], dtype=torch.int32), 3)
    with pytest.raises(KernelTypeError) as e:
        bad.ir(*args)
    msg = str(e.value)
    assert words in msg and "line 6" in msg and f"expect={src}" in msg, msg
    assert "hint:" in msg and "expect=" in msg


@pytest.mark.parametrize("src", ["-1", "2.5", "True", "td.zeros((4,), td.int32)"])
def test_eager_mode_refuses_the_same_bad_hints(src, tmp_path):
    bad = _bad(src, tmp_path)
    with pytest.raises(KernelTypeError, match="expect="):
        bad(torch.zeros(64), torch.tensor([2], dtype=torch.int32), 3, backend="eager")


def test_attr_form():
    assert is_expect(3) and is_expect(Sym("BN")) and is_expect("x.1")
    assert is_expect(("mul", ("sub", "x.0", -1), Sym("BN")))
    assert not is_expect(-1) and not is_expect(2.5) and not is_expect("BN") and not is_expect(("pow", 1, 2))
    sizes = {"x.0": 10, "BN": 4}
    assert evaluate(("mul", ("sub", "x.0", 1), Sym("BN")), sizes.get) == 36
    assert evaluate(("floordiv", "x.0", 0), sizes.get) is None and evaluate("y.0", sizes.get) is None


def test_a_bad_expect_attr_in_ir_text_is_a_verify_error():
    from tiledsl.errors import VerifyError
    from tiledsl.ir.verify import verify

    fn = hinted.ir(*_specs())
    text = print_ir(fn).replace('expect=("mul"', 'expect=("pow"')
    with pytest.raises(VerifyError, match="attr expect"):
        verify(parse_ir(text), "ir")


# --- MLA decode: the split pass's page loop is priced at the expected pages -------------------------
def _mla_estimate(b: int, seqlen: int, lens_device: str = "meta") -> tuple[float, dict]:
    from tiledsl.kernels import mla

    q = torch.empty(b, 1, 128, 576, dtype=torch.bfloat16, device="meta")
    blocks = -(-seqlen // 64)
    kv = torch.empty(b * blocks, 64, 1, 576, dtype=torch.bfloat16, device="meta")
    table = torch.empty(b, blocks, dtype=torch.int32, device="meta")
    lens = torch.full((b,), seqlen, dtype=torch.int32, device=lens_device)
    launch = mla.decode_launches(q, kv, table, lens, target="h200").launches[0]
    ck = launch.compile("ir", "h200")
    return ck.estimate.time_us, ck.schedule.as_dict()


def test_mla_estimate_grows_with_the_sequence_length():
    """Was the same (about 471 us) for every length at b=128: the loop counted UNKNOWN_TRIPS."""
    t1k, k1 = _mla_estimate(128, 1024)
    t4k, k4 = _mla_estimate(128, 4096)
    t8k, _ = _mla_estimate(128, 8192)
    assert k1["EXPECT_PAGES"] == 16 and k4["EXPECT_PAGES"] == 64
    assert 3.0 < t4k / t1k < 4.5 and 1.8 < t8k / t4k < 2.2, (t1k, t4k, t8k)


def test_mla_expected_pages_rule():
    from tiledsl.kernels.mla import expected_pages

    table = torch.zeros(2, 100, dtype=torch.int32)
    on_cpu = torch.tensor([100, 3000], dtype=torch.int32)
    assert expected_pages(table, on_cpu) == 64  # 47 pages, rounded up to a power of two
    assert expected_pages(table, on_cpu, max_seqlen=6000) == 100  # 94 -> 128, capped at the width
    assert expected_pages(table, on_cpu, max_seqlen=0) == 1
    meta = torch.empty(2, dtype=torch.int32, device="meta")
    assert expected_pages(table, meta) == 100  # not readable: the table's width


def test_mla_register_estimate_counts_the_hoisted_q_descriptors():
    """ptxas keeps one 64-bit shared-memory descriptor per 16-wide K step of the loop-invariant
    q (K = 512 + 64: 36 descriptors, 72 registers) beside the 64x512 fp32 accumulator: 255
    registers and 8 B of spills on sm_90a at BN=32, 8 warps, where the model said 165 (now 237)."""
    from tiledsl.kernels import mla

    from tiledsl.schedule.cost import registers
    from tiledsl.targets import get_target

    q = torch.empty(128, 1, 128, 576, dtype=torch.bfloat16, device="meta")
    kv = torch.empty(128 * 64, 64, 1, 576, dtype=torch.bfloat16, device="meta")
    table = torch.empty(128, 64, dtype=torch.int32, device="meta")
    lens = torch.empty(128, dtype=torch.int32, device="meta")
    launch = mla.decode_launches(q, kv, table, lens, target="h200").launches[0]
    specs = launch.specs()
    fn = launch.kernel.ir(*specs, **launch.knobs)
    vals = {**launch.knobs, "BN": 32, "STAGES": 3, "num_warps": 8}
    a = analyze(fn, tensor_sizes(fn, specs), vals)
    assert a.invariant_desc_regs == 2 * (512 + 64) // 16
    assert 230 <= registers(a, vals, get_target("h100")) <= 255


def test_a_gemm_has_no_invariant_descriptors():
    from tests.kernels_for_tests import matmul

    specs = (T((512, 512), DType.bf16), T((512, 512), DType.bf16), T((512, 512), DType.bf16))
    fn = matmul.ir(*specs)
    vals = {"BM": 128, "BN": 128, "BK": 64, "num_warps": 4}
    a = analyze(fn, tensor_sizes(fn, specs), vals)
    assert a.dots and a.dots[0].k == 64 and a.invariant_desc_regs == 0


def test_the_paged_probe_takes_more_than_one_warp():
    """It took num_warps=1: the loop counted one iteration, then 64 whatever the table, and one
    warp per SM looked as fast as four."""
    from tests.kernels_for_tests import HOPPER_CASES

    k, sp, kw = HOPPER_CASES["paged_decode"]
    for target in ("h100", "h200"):
        s = k.compile(*sp, **kw, backend="ir", target=target).schedule
        assert s.num_warps >= 2, str(s)
