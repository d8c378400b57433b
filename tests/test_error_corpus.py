"""The error corpus (tests/error_corpus/): hundreds of bad kernels, bad IR texts and bad arguments.

Only tiledsl errors may escape, each with a `hint:` line; errors about kernel code also name the
kernel's file and line and show that line. Bad kernels are compiled for backend "ir" and "triton"
(compile only) and run on "eager", which must raise the same family of errors; a sample also
compiles for "tilelang"."""

from __future__ import annotations

import importlib.util
import linecache

import pytest
import torch

import tiledsl as td
from tests.error_corpus import arguments, ir_texts, kernels
from tiledsl.ir import parse_ir, verify

KERNEL_CASES = kernels.cases()
IR_CASES = ir_texts.texts()
ARG_CASES = arguments.cases()
# errors about a place in kernel code (the compiler's verifier also names the kernel line)
KERNEL_CODE_ERRORS = (td.SourceError, td.VerifyError)


def test_corpus_size():
    assert len({c.source() for c in KERNEL_CASES}) == len(KERNEL_CASES) >= 500
    assert len({t for _, t in IR_CASES}) == len(IR_CASES) >= 150
    assert len(ARG_CASES) >= 200


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The bad kernels as one real module (the front end reads kernel source from files)."""
    path = tmp_path_factory.mktemp("error_corpus") / "bad_kernels.py"
    path.write_text(kernels.module_text(KERNEL_CASES))
    linecache.checkcache(str(path))
    spec = importlib.util.spec_from_file_location("tiledsl_bad_kernels", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, str(path)


def _args(case: kernels.KernelCase) -> tuple:
    if case.template == "raw":
        return (torch.zeros(32),)
    return torch.zeros(8, 8), torch.zeros(32), torch.zeros(8, dtype=torch.int32), 4


def _raises(thunk) -> BaseException | None:
    try:
        thunk()
    except Exception as e:  # the checks below decide whether it is an acceptable one
        return e
    return None


def check_error(e: BaseException | None, what: str, file: str | None = None) -> None:
    """`e` is a tiledsl error with a hint; with `file`, it names a line of that file and shows it."""
    assert e is not None, f"{what}: no error raised"
    assert isinstance(e, td.TiledslError), f"{what}: raw {type(e).__name__}: {e}"
    msg = str(e)
    assert "\nhint: " in msg, f"{what}: no hint in {type(e).__name__}: {msg}"
    assert "Value(" not in msg and "Type(" not in msg, msg
    if file is None:
        return
    assert isinstance(e, KERNEL_CODE_ERRORS), f"{what}: {type(e).__name__} about kernel code: {msg}"
    loc = e.loc
    assert loc is not None and loc.file == file, f"{what}: no kernel location in {msg}"
    assert f'File "{file}", line {loc.line}' in msg, msg
    text = linecache.getline(file, loc.line).strip()
    assert text and text in msg, f"{what}: the kernel line is not shown: {msg}"


def _family(e: BaseException) -> type:
    return td.SourceError if isinstance(e, KERNEL_CODE_ERRORS) else type(e)


def _params():
    for c in KERNEL_CASES:
        marks = [pytest.mark.xfail(strict=True, reason="accepted; looks wrong (see SUSPECT)")] \
            if kernels._key(c.body) in kernels.SUSPECT else []
        yield pytest.param(c, id=c.name, marks=marks)


@pytest.mark.parametrize("case", _params())
def test_bad_kernel(case: kernels.KernelCase, corpus):
    mod, file = corpus
    fn = getattr(mod, case.name)
    if case.decorate_error:  # at @td.kernel, or at the first compile
        e = _raises(lambda: td.kernel(fn).compile(*_args(case), backend="ir", target="h100"))
        # a signature the front end takes but no call can satisfy is an argument error at the call
        check_error(e, f"{case.name} @td.kernel", None if isinstance(e, td.ArgumentError) else file)
        return
    k = td.kernel(fn)
    triton_only = kernels._key(case.body) in kernels.TRITON_ONLY
    for backend in ("triton",) if triton_only else ("ir", "triton"):
        e = _raises(lambda b=backend: k.compile(*_args(case), backend=b, target="h100"))
        check_error(e, f"{case.name} on {backend}", file)
    if triton_only:  # the backends whose records take it compile it
        assert _raises(lambda: k.compile(*_args(case), backend="ir", target="h100")) is None
    e = _raises(lambda: k(*_args(case), backend="eager"))
    if kernels._key(case.body) in kernels.FORMERLY_SUSPECT:
        assert e is not None, f"{case.name}: eager accepts it"
    if e is not None:  # eager may accept what it can run (see EAGER_GAPS in the report)
        check_error(e, f"{case.name} on eager")
        if isinstance(e, td.SourceError):
            check_error(e, f"{case.name} on eager", file)


TILELANG_SAMPLE = KERNEL_CASES[::40]


@pytest.mark.parametrize("case", TILELANG_SAMPLE, ids=[c.name for c in TILELANG_SAMPLE])
def test_bad_kernel_on_tilelang(case: kernels.KernelCase, corpus):
    if case.decorate_error or kernels._key(case.body) in kernels.SUSPECT | kernels.TRITON_ONLY:
        pytest.skip("raises at decoration / accepted")
    mod, file = corpus
    k = td.kernel(getattr(mod, case.name))
    check_error(_raises(lambda: k.compile(*_args(case), backend="tilelang", target="h100")),
                f"{case.name} on tilelang", file)


def _ir_check(text: str) -> None:
    fn = parse_ir(text)
    for stage in ir_texts.STAGES:
        verify(fn, stage)


@pytest.mark.parametrize("text", [t for _, t in IR_CASES], ids=[n for n, _ in IR_CASES])
def test_bad_ir_text(text: str):
    e = _raises(lambda: _ir_check(text))
    check_error(e, "IR text")
    assert isinstance(e, (td.ParseError, td.VerifyError)), type(e)
    if isinstance(e, td.ParseError):
        assert e.line >= 1 and e.column >= 1


@pytest.mark.parametrize("thunk", [t for _, t in ARG_CASES], ids=[n for n, _ in ARG_CASES])
def test_bad_arguments(thunk):
    check_error(_raises(thunk), "call")


def test_unknown_code_stage_is_an_argument_error_and_still_a_key_error():
    ck = arguments.add_one.compile(torch.zeros(16), torch.zeros(16), 16, backend="ir", target="h100")
    with pytest.raises(KeyError) as e:
        ck.code("nope")
    assert isinstance(e.value, td.ArgumentError) and "no stage 'nope'" in str(e.value)
    assert "\nhint: " in str(e.value) and not str(e.value).startswith('"')


def test_eager_python_error_is_a_kernel_error_of_both_classes(corpus):
    mod, file = corpus
    name = next(c.name for c in KERNEL_CASES if c.body == "r = -'a'")
    with pytest.raises(TypeError) as e:
        td.kernel(getattr(mod, name))(*_args(KERNEL_CASES[0]), backend="eager")
    assert isinstance(e.value, td.KernelTypeError) and e.value.loc.file == file
    assert "r = -'a'" in str(e.value)


def test_verifier_errors_from_kernel_code_show_the_line(corpus):
    mod, file = corpus
    name = next(c.name for c in KERNEL_CASES if "width=33" in c.body)
    with pytest.raises(td.VerifyError) as e:
        td.kernel(getattr(mod, name)).compile(*_args(KERNEL_CASES[0]), backend="ir", target="h100")
    assert e.value.loc.file == file and "width=33" in str(e.value) and "\nhint: " in str(e.value)
