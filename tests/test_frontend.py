"""The front end: Python source -> IR at stage "ir" (structure, types, knobs, locations)."""

import inspect

import pytest
import torch

import tiledsl as td
from tests import kernels_for_tests as K
from tiledsl.ir import Op, Space, Sym, verify, walk


def _ops(fn):
    return [i.op for i in walk(fn.body)]


def test_gemm_structure_and_knobs():
    a, b, c = torch.randn(77, 130), torch.randn(130, 45), torch.empty(77, 45)
    fn = verify(K.matmul.ir(a, b, c))
    assert [k.name for k in fn.knobs] == ["BM", "BN", "BK", "stages", "num_warps"]
    assert all(k.value is None for k in fn.knobs)
    ops = _ops(fn)
    assert ops.count(Op.GRID) == 1 and ops.count(Op.DOT) == 1 and ops.count(Op.STORE) == 1
    loop = next(i for i in walk(fn.body) if i.op is Op.FOR)
    assert loop.attr("stages") == Sym("stages")
    assert loop.results[0].type.shape == ("BM", "BN")  # the accumulator is carried
    dot = next(i for i in walk(fn.body) if i.op is Op.DOT)
    assert dot.result.type.dtype is td.float32


def test_explicit_constexprs_are_substituted():
    a, b, c = torch.randn(77, 130), torch.randn(130, 45), torch.empty(77, 45)
    fn = verify(K.matmul.ir(a, b, c, BM=16, BN=32, BK=8))
    assert [(k.name, k.value) for k in fn.knobs][:3] == [("BM", 16), ("BN", 32), ("BK", 8)]
    load = next(i for i in walk(fn.body) if i.op is Op.LOAD)
    assert load.result.type.shape == (16, 8)


def test_tensor_params_have_symbolic_dims_and_size_one_is_specialised():
    fn = K.softmax.ir(torch.randn(1, 8))
    assert fn.params[0].value.type.shape == (1, "x.1")
    assert fn.params[0].value.type.space is Space.GLOBAL


def test_level1_softmax_is_dataflow():
    fn = verify(K.softmax.ir(torch.randn(4, 8)))
    ops = _ops(fn)
    assert ops.count(Op.REDUCE) == 2 and Op.GRID not in ops and ops[-1] is Op.RETURN


def test_locations_point_at_the_kernel_source():
    fn = K.matmul.ir(torch.randn(8, 8), torch.randn(8, 8), torch.empty(8, 8), BM=8, BN=8, BK=8)
    lines, first = inspect.getsourcelines(K.matmul.fn)
    dot = next(i for i in walk(fn.body) if i.op is Op.DOT)
    assert dot.loc.file.endswith("demo.py")
    assert "td.dot" in lines[dot.loc.line - first]


def test_python_constants_fold_and_weak_typing():
    @td.kernel
    def k(x: td.Tensor, y: td.Tensor):
        with td.grid(1) as pid:
            t = td.load(x, (0,), (16,))
            td.store(y, (0,), t * (2 * 3) + 1)

    x = torch.zeros(16, dtype=torch.float16)
    fn = verify(k.ir(x, x.clone()))
    consts = [i.attr("value") for i in walk(fn.body) if i.op is Op.CONST]
    assert 6.0 in consts and 1.0 in consts  # folded, and typed like the tile (f16)
    mul = next(i for i in walk(fn.body) if i.op is Op.MUL)
    assert mul.result.type.dtype is td.float16


def test_mixed_dtypes_promote_with_explicit_casts():
    @td.kernel
    def k(x: td.Tensor, y: td.Tensor, z: td.Tensor):
        with td.grid(1) as pid:
            s = td.load(x, (0,), (16,)) + td.load(y, (0,), (16,))
            td.store(z, (0,), s)

    fn = verify(k.ir(torch.zeros(16, dtype=torch.float16), torch.zeros(16, dtype=torch.bfloat16),
                     torch.zeros(16)))
    casts = [i for i in walk(fn.body) if i.op is Op.CAST]
    assert len(casts) == 2 and all(c.result.type.dtype is td.float32 for c in casts)


def test_static_if_and_unrolled_tuple_loop():
    @td.kernel
    def k(x: td.Tensor, FLAG: td.constexpr):
        with td.grid(1) as pid:
            v = td.load(x, (0,), (8,))
            if FLAG:
                v = v * 2.0
            for s in (1, 2, 3):
                v = v + s
            td.store(x, (0,), v)

    fn = verify(k.ir(torch.zeros(8), FLAG=False))
    assert _ops(fn).count(Op.ADD) == 3 and Op.MUL not in _ops(fn) and Op.IF not in _ops(fn)


def test_runtime_if_yields_changed_values():
    @td.kernel
    def k(x: td.Tensor, n: int):
        with td.grid(1) as pid:
            v = td.load(x, (0,), (8,))
            if n > 3:
                v = v + 1.0
            td.store(x, (0,), v)

    fn = verify(k.ir(torch.zeros(8), 5))
    branch = next(i for i in walk(fn.body) if i.op is Op.IF)
    assert len(branch.results) == 1 and branch.results[0].type.shape == (8,)


def test_buffers_update_in_place():
    @td.kernel
    def k(a: td.Tensor, c: td.Tensor):
        with td.grid(1) as pid:
            s = td.alloc_shared((16, 16), a.dtype)
            acc = td.alloc_fragment((16, 16), td.float32)
            td.copy(td.zeros((16, 16), td.float32), acc)
            for k in range(2):
                td.copy(a, s, offsets=(0, k * 16))
                acc += td.dot(s, s)
            td.copy(acc, c, offsets=(0, 0))

    fn = verify(k.ir(torch.zeros(16, 32), torch.zeros(16, 16)))
    loop = next(i for i in walk(fn.body) if i.op is Op.FOR)
    assert loop.results == ()  # buffers are not loop-carried values
    assert _ops(fn).count(Op.COPY) == 4


def test_probes_of_reference_kernel_constructs_build():
    B, H, D, DV, PAGE = 2, 8, 40, 32, 16
    verify(K.paged_decode.ir(torch.randn(B, H, D), torch.randn(10, PAGE, D),
                             torch.zeros(B, 4, dtype=torch.int32), torch.tensor([20, 33], dtype=torch.int32),
                             torch.empty(B, H, DV), 0.1, D=D, DV=DV))
    a8 = torch.randn(64, 256).to(torch.float8_e4m3fn)
    b8 = torch.randn(96, 256).to(torch.float8_e4m3fn)
    verify(K.fp8_gemm_nt.ir(a8, torch.rand(64, 2), b8, torch.rand(1, 2),
                            torch.empty(64, 96, dtype=torch.bfloat16)))
    fn = verify(K.grouped_gemm_masked.ir(torch.randn(3, 64, 32), torch.randn(3, 48, 32),
                                         torch.tensor([5, 0, 64], dtype=torch.int32), torch.empty(3, 64, 48)))
    assert Op.IF in _ops(fn)
    fn = verify(K.dispatch_rows.ir(torch.randn(10, 64), torch.zeros(10, 2, dtype=torch.int32),
                                   torch.zeros(4, dtype=torch.int32), torch.zeros(4, dtype=torch.int32),
                                   torch.empty(20, 64), torch.empty(10, 2, dtype=torch.int32), H=64))
    assert Op.ATOMIC in _ops(fn)
    fn = verify(K.warp_sum.ir(torch.randn(64), torch.empty(2)))
    assert _ops(fn).count(Op.SHUFFLE) == 5 and Op.THREADS in _ops(fn)


def test_import_does_not_pull_backends():
    import subprocess
    import sys

    code = "import sys, tiledsl; print(any(m in sys.modules for m in ('triton', 'tilelang')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("bad", [(), (torch.zeros(4),)])
def test_wrong_argument_count(bad):
    with pytest.raises(td.ArgumentError, match="matmul"):
        K.matmul.ir(*bad)


@td.func
def _scaled_row_sum(t, scale):
    s = td.sum(t, axis=1) * scale
    return s


@td.func
def _early_return_in_loop(t):
    for i in range(2):
        return t


def test_td_func_helpers_are_inlined_and_run():
    @td.kernel
    def k(x: td.Tensor, out: td.Tensor):
        with td.grid(1) as pid:
            t = td.load(x, (0, 0), (16, 32))
            td.store(out, (0,), _scaled_row_sum(t, scale=0.5))

    x = torch.randn(16, 32)
    out = torch.empty(16)
    fn = verify(k.ir(x, out))
    assert any(i.loc.file == __file__ and i.op is Op.TILE_REDUCE for i in walk(fn.body))
    k(x, out, backend="ir")
    torch.testing.assert_close(out, x.sum(1) * 0.5)


def test_td_func_return_must_end_the_helper():
    @td.kernel
    def k(x: td.Tensor):
        with td.grid(1) as pid:
            td.store(x, (0,), _early_return_in_loop(td.load(x, (0,), (16,))))

    with pytest.raises(td.FrontendError, match="return inside a loop"):
        k.ir(torch.zeros(16))
