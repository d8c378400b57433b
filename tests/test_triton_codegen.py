"""Triton codegen: targeted checks of the generated text, determinism, identifier validation and
the rejection of what Triton cannot express. No execution here (see test_triton_interpret.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
import textwrap

import pytest
from tiledsl.lowering.triton.module import generate

from tests.test_triton_fixtures import FILE, elementwise_ir, gemm_ir, softmax_ir
from tiledsl.dtypes import DType
from tiledsl.errors import BackendError
from tiledsl.ir import Block, Builder, Function, Knob, Loc, Op, Param, Space, Type, Value


def test_gemm_reads_like_triton():
    src = generate(gemm_ir(DType.bf16, stages=3)).source
    assert "@triton.jit\ndef matmul_kernel(" in src
    assert "acc_2 = tl.dot(a_tile, b_tile, acc_1)" in src
    # the dot's loop takes the launch's num_stages: Triton then prefetches only the dot's
    # operands (`tiledsl.lowering.triton.loops`)
    assert "for k in range(0, tiles_2):" in src and "num_stages=3," in src
    assert "stages: tl.constexpr" in src and "stages=3" in src
    assert "offs_a0 = off_m + tl.arange(0, 32)" in src
    assert "mask_a_tile = (offs_a0[:, None] < a_size_0) & (offs_a1[None, :] < a_size_1)" in src
    assert "mask=mask_c)" in src
    assert "matmul_kernel[grid](" in src and "num_warps=4" in src
    # program ids and loop counters are known non-negative: no ">= 0" half in the masks
    assert ">= 0" not in src
    compile(src, "<gen>", "exec")


def test_src_comments_point_at_kernel_lines():
    src = generate(gemm_ir()).source
    for line in (3, 5, 7, 8, 9):
        assert f"# src: examples.py:{line}\n" in src
    # a comment precedes the first line of each source line, not every line (of each kernel)
    pointer_kernel = src.split("def matmul_kernel(")[1].split("def launch(")[0]
    assert pointer_kernel.count("# src: examples.py:8") == 1


def test_fp32_dot_is_ieee_and_bf16_upcast_only_in_interpreter_builds():
    assert 'input_precision="ieee"' in generate(gemm_ir(DType.f32)).source
    gpu = generate(gemm_ir(DType.bf16)).source
    interp = generate(gemm_ir(DType.bf16), interpret=True).source
    assert "tl.dot(a_tile, b_tile, acc_1)" in gpu and ".to(tl.float32)" not in gpu.split("tl.dot")[1]
    # interpreter builds hold bf16 as f32 (lowering/triton/helpers.py): decoded loads, IEEE dot
    assert "_td_decode_bf16(tl.load(" in interp
    assert 'tl.dot(a_tile, b_tile, acc_1, input_precision="ieee")' in interp
    f16 = generate(gemm_ir(DType.f16), interpret=True).source
    assert "tl.dot(a_tile, b_tile, acc_1)" in f16


def test_grouped_rasterization():
    src = generate(gemm_ir(group_m=8)).source
    assert "group_size = tl.minimum(tiles - first_m, 8)" in src
    assert "grid = (tiles * tiles_1,)" in src
    plain = generate(gemm_ir()).source
    assert "i = tl.program_id(0)" in plain and "j = tl.program_id(1)" in plain


def test_elementwise_scalar_arg_and_softmax_reductions():
    src = generate(elementwise_ir()).source
    assert "def launch(x, y, z, alpha):" in src
    assert "scaled = ex * alpha" in src
    sm = generate(softmax_ir(DType.f16)).source
    # max propagates NaN (as torch): a reduce whose combine function says so
    assert "tl.reduce(xf, combine_fn=_td_max_nan, axis=1, keep_dims=True)" in sm
    assert "propagate_nan=tl.PropagateNan.ALL" in sm
    assert "tl.sum(e, axis=1, keep_dims=True)" in sm
    assert 'other=(-float("inf"))' in sm
    # f16 exp goes through f32 (Triton's tl.exp wants fp32)
    assert "tl.exp(" in generate(elementwise_ir(DType.f16)).source
    assert ".to(tl.float32))).to(tl.float16)" in generate(elementwise_ir(DType.f16)).source


def test_codegen_is_deterministic_in_process():
    a = generate(gemm_ir(DType.bf16, group_m=4)).source
    b = generate(gemm_ir(DType.bf16, group_m=4)).source
    assert a == b


def test_codegen_is_deterministic_across_processes():
    here = hashlib.sha256(generate(softmax_ir(DType.f16)).source.encode()).hexdigest()
    code = textwrap.dedent("""
        import hashlib
        from tests.test_triton_fixtures import softmax_ir
        from tiledsl.dtypes import DType
        from tiledsl.lowering.triton.module import generate
        print(hashlib.sha256(generate(softmax_ir(DType.f16)).source.encode()).hexdigest())
    """)
    env = {"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=str(__import__("pathlib").Path(__file__).parents[1]), timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == here


@pytest.mark.parametrize("bad", ["x(); import os", "a b", "__class__", "def", "é", "a" * 65, ""])
def test_bad_kernel_names_are_legalized(bad):
    """No name is refused (lowering/triton/names.py): it becomes a legal identifier, so it can
    inject nothing and the module still parses."""
    import ast

    fn = dataclasses.replace(gemm_ir(), name=bad)
    mod = generate(fn)
    ast.parse(mod.source)
    assert mod.entry.isidentifier() and "import os" not in mod.source.split('"""')[-1]


def _renamed(obj, old: str, new: str):
    """`obj` (an IR node tree) with every value called `old` called `new`."""
    if isinstance(obj, Value):
        return dataclasses.replace(obj, name=new) if obj.name == old else obj
    if isinstance(obj, tuple):
        return tuple(_renamed(o, old, new) for o in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: _renamed(getattr(obj, f.name), old, new) for f in dataclasses.fields(obj)}
        return dataclasses.replace(obj, **changes)
    return obj


def test_bad_argument_and_knob_names_are_legalized_not_injected():
    import ast

    fn = gemm_ir()
    evil = _renamed(fn, fn.params[0].value.name, "a=__import__('os')")
    src = generate(evil).source
    ast.parse(src)
    assert "__import__(" not in src and "def launch(a___import____os__, " in src


def test_reserved_names_are_renamed_not_shadowed():
    fn = gemm_ir()
    params = tuple(Param(Value(n, p.value.type)) for n, p in zip(("tl", "triton", "grid"), fn.params))
    # rebuild with the renamed params: values keep their IR names, Python names get a suffix
    renamed = _rename_params(fn, params)
    src = generate(renamed).source
    assert "def launch(tl_1, triton_1, grid_1):" in src
    compile(src, "<gen>", "exec")


def _rename_params(fn: Function, params) -> Function:
    from tiledsl.ir.text import parse_ir, print_ir  # noqa: F401 - only if the text form exists

    text = print_ir(fn)
    for old, new in zip(fn.params, params):
        text = text.replace(f"%{old.value.name}", f"%{new.value.name}")
    return parse_ir(text)


def _thread_ir() -> Function:
    b = Builder()
    b.reserve("x")
    px = Param(Value("x", Type(DType.f32, ("x.0",), Space.GLOBAL)))
    one = b.value(Op.CONST, (), {"value": 1, "dtype": DType.i32})
    pid = b.fresh("pid", Type(DType.i32))
    tid = b.fresh("tid", Type(DType.i32))
    with b.block((tid,)) as threads:
        b.emit(Op.BARRIER, (), loc=Loc(FILE, 42))
    with b.block((pid,)) as body:
        b.emit(Op.THREADS, (), {"count": 128}, regions=tuple(threads), loc=Loc(FILE, 41))
    b.emit(Op.GRID, (one,), regions=tuple(body), loc=Loc(FILE, 40))
    return Function("threaded", (px,), (Knob("num_warps", 4),), Block((), b.top()))


def test_level3_is_rejected_with_construct_line_and_backend():
    with pytest.raises(BackendError) as e:
        generate(_thread_ir())
    msg = str(e.value)
    assert "threads" in msg and "line 41" in msg and "backend='tilelang'" in msg
    assert e.value.loc.line == 41


def test_non_power_of_two_tiles_are_rejected_at_compile_time():
    with pytest.raises(BackendError, match="power of two") as e:
        generate(gemm_ir(bm=48))
    assert e.value.loc is not None
