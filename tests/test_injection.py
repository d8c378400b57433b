"""No code injection through generated source, no file written outside the cache.

Every user-controlled string that reaches generated code (kernel and file names, source
locations from IR text, value names) is tried with payloads that would create a marker file if
they ever ran, for both backends: the Triton module is generated, imported and run on CPU
tensors in Triton's interpreter; the TileLang program is generated and (tilelang installed)
imported the way `.compile(..., backend="tilelang")` imports it.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path

import pytest
import torch
from tiledsl.lowering import escape
from tiledsl.lowering.tilelang import BACKEND as TL
from tiledsl.lowering.triton.backend import TritonBackend

import tiledsl as td
from tiledsl.errors import BackendError, TiledslError
from tiledsl.ir.nodes import Function, Loc
from tiledsl.ir.text import parse_ir, print_ir
from tiledsl.specs import ArgSpec, spec
from tiledsl.targets import get_target

H100 = get_target("h100")
HAS_TILELANG = importlib.util.find_spec("tilelang") is not None
MARK = "PWNED_MARK"
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


@td.kernel
def addone(x: td.Tensor, out: td.Tensor, BLOCK: td.constexpr = 128):
    n = x.shape[0]
    with td.grid(td.cdiv(n, BLOCK)) as pid:
        t = td.load(x, (pid * BLOCK,), (BLOCK,))
        td.store(out, (pid * BLOCK,), t + 1)


def _payloads(marker: Path) -> list[str]:
    """Strings that run `touch marker` if they escape into code, by each route a string can take."""
    # relative to the working directory (the fixture changes into tmp_path): no '/' in the
    # payload, which a base-name cut would otherwise remove along with the attack
    touch = f"__import__('pathlib').Path({marker.name!r}).touch()"
    return [
        f'a""" if {touch} else """b',                          # close a docstring
        f"a''' if {touch} else '''b",
        f"a\n{touch}\n#",                                     # end a comment
        f"a\r{touch}\r#",
        *(f"a{br}{touch}{br}#" for br in LINE_BREAKS[2:]),
        f"a\\\n{touch}",                                      # backslash continuation
        f"a\x00{touch}",                                      # NUL
        f'a"\n{touch}\n"',
        "a\\",                                                # a trailing backslash
        "é漢\U0001f600\ud800",                                # non-ASCII, a lone surrogate
        "x" * 5000 + f"\n{touch}",                            # very long
    ]


@pytest.fixture
def marker(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path / MARK


def _scheduled() -> tuple[Function, tuple[ArgSpec, ...], torch.Tensor, torch.Tensor]:
    x, out = torch.randn(300), torch.empty(300)
    ck = addone.compile(x, out, backend="triton")
    return ck.fn, (spec(x), spec(out)), x, out


def _with_locs(fn: Function, file: str) -> Function:
    """`fn` with `file` as the file of its own and every inst's location, through IR text (the
    route an attacker who hands tiledsl IR text takes)."""
    text = re.sub(r'loc\("[^"]*"', lambda m: f"loc({json.dumps(file)}", print_ir(fn))
    back = parse_ir(text)
    assert back.loc is not None and back.loc.file == file
    return back


def _assert_safe_python(src: str) -> None:
    """The generated module parses, and no name a payload needs appears as code."""
    tree = ast.parse(src)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "__import__" not in names
    for line in src.splitlines():
        assert not any(br in line for br in LINE_BREAKS), line


def _run_triton(fn: Function, specs, x, out) -> str:
    be = TritonBackend()
    lowered = be.lower(fn, specs, H100)
    _assert_safe_python(lowered.source)
    _assert_safe_python(lowered.interpret_source)
    be.execute(lowered, fn, [x, out])
    torch.testing.assert_close(out, x + 1)
    return lowered.source


def _load_tilelang(fn: Function, specs) -> str:
    lowered = TL.lower(fn, specs, H100)
    _assert_safe_python(lowered.source)
    if HAS_TILELANG:
        from tiledsl.lowering.tilelang import build

        build.prim_func(lowered.source, lowered.entry)  # imports the program, as `.compile` does
    return lowered.source


# --- a. locations written in IR text ------------------------------------------------------------

@pytest.mark.parametrize("which", range(15))
def test_ir_text_location_cannot_inject_into_triton(marker, which):
    payload = _payloads(marker)[which]
    fn, specs, x, out = _scheduled()
    _run_triton(_with_locs(fn, payload), specs, x, out)
    assert not marker.exists()


@pytest.mark.parametrize("which", range(15))
def test_ir_text_location_cannot_inject_into_tilelang(marker, which):
    payload = _payloads(marker)[which]
    fn, specs, _, _ = _scheduled()
    _load_tilelang(_with_locs(fn, payload), specs)
    assert not marker.exists()


def test_src_comments_show_the_base_name_only():
    fn, specs, x, out = _scheduled()
    fn = _with_locs(fn, "/home/someone/checkout/kernels/k.py")
    for source in (TritonBackend().lower(fn, specs, H100).source, TL.lower(fn, specs, H100).source):
        assert "/home/someone" not in source
        assert "# src: k.py:" in source


def test_generated_code_is_the_same_in_every_checkout():
    fn, specs, _, _ = _scheduled()
    a, b = _with_locs(fn, "/one/checkout/k.py"), _with_locs(fn, "/another/place/k.py")
    assert TritonBackend().lower(a, specs, H100).source == TritonBackend().lower(b, specs, H100).source
    assert TL.lower(a, specs, H100).source == TL.lower(b, specs, H100).source


# --- b. the kernel's file name ------------------------------------------------------------------

KERNEL_FILE = '''
import tiledsl as td


@td.kernel
def {name}(x: td.Tensor, out: td.Tensor, BLOCK: td.constexpr = 128):
    n = x.shape[0]
    with td.grid(td.cdiv(n, BLOCK)) as pid:
        t = td.load(x, (pid * BLOCK,), (BLOCK,))
        td.store(out, (pid * BLOCK,), t + 1)
'''

HOSTILE_FILE_NAMES = [
    'k""" if __import__("pathlib").Path("{m}").touch() else """.py',
    "k''' if __import__('pathlib').Path('{m}').touch() else '''.py",
    "k\n__import__('pathlib').Path('{m}').touch()\n.py",
    "k\u2028__import__('pathlib').Path('{m}').touch()\u2028.py",
    "k\\\\.py",
    "ké漢.py",
    "k" * 200 + ".py",
]


def _import_kernel(path: Path, name: str = "addone"):
    spec = importlib.util.spec_from_file_location(f"hostile_{abs(hash(str(path)))}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, name)


@pytest.mark.parametrize("fname", HOSTILE_FILE_NAMES)
def test_kernel_file_name_cannot_inject(marker, tmp_path, fname):
    path = tmp_path / fname.format(m=MARK)
    path.write_text(KERNEL_FILE.format(name="addone"))
    k = _import_kernel(path)
    x, out = torch.randn(300), torch.empty(300)
    _assert_safe_python(k.compile(x, out, backend="triton").code("triton"))
    k(x, out, backend="triton")  # imports and runs the generated module on CPU
    torch.testing.assert_close(out, x + 1)
    _assert_safe_python(k.compile(x, out, backend="tilelang").code("tilelang"))
    assert not marker.exists()


# --- d. names ---------------------------------------------------------------------------------

def _renamed(fn: Function, name: str) -> Function:
    import dataclasses

    return dataclasses.replace(fn, name=name)


HOSTILE_NAMES = ["../../escaped", "T", "tilelang", "tvm", "make_swizzled_layout", "class", "print",
                 "__import__", "a b", "x" * 500, "é", "1abc", "", "a\nb", "/abs/path", "..", "x.y"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_tilelang_function_names_are_mangled(tmp_path, monkeypatch, name):
    import tiledsl.settings as s

    cache = tmp_path / "deep" / "cache"
    monkeypatch.setattr(s, "_current", s.Settings(cache_dir=cache))
    fn, specs, _, _ = _scheduled()
    fn = _renamed(fn, name)
    lowered = TL.lower(fn, specs, H100)
    _assert_safe_python(lowered.source)
    assert lowered.entry.isidentifier() and len(lowered.entry) <= 80
    assert lowered.entry not in ("T", "tilelang", "tvm") and not lowered.entry.startswith("__")
    assert re.search(rf"^def {re.escape(lowered.entry)}\(", lowered.source, re.M)
    if HAS_TILELANG:
        from tiledsl.lowering.tilelang import build

        monkeypatch.setattr(build, "_loaded", {})  # really write and import the program here
        build.prim_func(lowered.source, lowered.entry)
        written = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert written and all(cache in p.parents for p in written), written


@pytest.mark.parametrize("name", ["launch", "tl", "triton", "T", "grid", "libdevice", "print", "x"])
def test_kernels_named_like_the_generated_modules_globals(tmp_path, name):
    path = tmp_path / f"k_{name}.py"
    path.write_text(KERNEL_FILE.format(name=name))
    k = _import_kernel(path, name)
    x, out = torch.randn(300), torch.empty(300)
    k(x, out, backend="triton")
    torch.testing.assert_close(out, x + 1)
    _assert_safe_python(k.compile(x, out, backend="tilelang").code("tilelang"))


@pytest.mark.skipif(not HAS_TILELANG, reason="needs tilelang")
def test_tilelang_kernel_named_T_compiles(tmp_path):
    path = tmp_path / "kT.py"
    path.write_text(KERNEL_FILE.format(name="T"))
    k = _import_kernel(path, "T")
    x, out = torch.randn(300), torch.empty(300)
    ck = k.compile(x, out, backend="tilelang", target="h100")
    assert "cuda" in ck.stages


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_triton_rejects_or_mangles_hostile_names(marker, name):
    fn, specs, x, out = _scheduled()
    try:
        _run_triton(_renamed(fn, name), specs, x, out)
    except BackendError:
        pass  # refused with a tiledsl error: fine
    assert not marker.exists()


@pytest.mark.parametrize("name", ["tl", "triton", "launch", "grid", "libdevice", "TensorDescriptor",
                                  "addone_kernel", "print", "None"])
def test_triton_value_names_that_equal_module_globals(name):
    fn, specs, x, out = _scheduled()
    text = print_ir(fn).replace("%t ", f"%{name} ").replace("%t,", f"%{name},")
    fn2 = parse_ir(text)
    try:
        _run_triton(fn2, specs, x, out)
    except TiledslError:
        pass


def test_file_names_of_the_tilelang_cache_stay_inside_it():
    from tiledsl.lowering.tilelang import build

    for entry in HOSTILE_NAMES:
        p = build.artifact_path(entry, "src", ".py")
        assert p.parent == build.program_dir()
        assert "/" not in p.name and ".." not in p.name.replace("..py", "") and len(p.name) < 120


# --- the escaping functions themselves ----------------------------------------------------------

@pytest.mark.parametrize("text", ["plain", 'q"""q', "b\\", "n\nl", "\x00", "é\u2028\ud800", "x" * 1000])
def test_escape_functions(text):
    c = escape.comment(text)
    assert c.isascii() and c.isprintable() and len(c) < 300
    d = escape.docstring(text)
    src = f'"""{d}"""'
    assert isinstance(ast.literal_eval(src), str)
    if len(text) < 100:
        assert ast.literal_eval(src) == text.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass") \
            or "\ud800" in text
    assert ast.literal_eval(escape.literal(text)) == text
    ident = escape.identifier(text)
    assert ident.isidentifier() and ident.isascii()
    f = escape.file_component(text)
    assert re.fullmatch(r"[A-Za-z0-9_]+", f) and len(f) <= 60


def test_distinct_names_give_distinct_file_components():
    assert escape.file_component("a/b") != escape.file_component("a_b")
    assert escape.file_component("../../x") != escape.file_component("______x")


def test_loc_is_escaped_on_the_node_level_too():
    # a Loc built in Python (not parsed) with a hostile file still prints and reparses
    fn, _, _, _ = _scheduled()
    import dataclasses

    fn2 = dataclasses.replace(fn, loc=Loc('x"\n\u2028', 1, 0))
    assert parse_ir(print_ir(fn2)) == fn2


# --- attr spellings ---------------------------------------------------------------------------

TOUCH = f"__import__('pathlib').Path('{MARK}').touch()"
HOSTILE_ATTRS = [
    ("{axis=0}", '{axis="0) or ' + TOUCH.replace('"', "'") + ' #"}'),
    ("value=127, dtype=i32", 'value="1 if ' + TOUCH.replace('"', "'") + ' else 2", dtype=i32'),
    ("value=127, dtype=i32", 'value=127, dtype="tl.int32 if ' + TOUCH.replace('"', "'") + ' else 0"'),
    ("{shape=(128,)}", '{shape=("x.0) if ' + TOUCH.replace('"', "'") + ' else (1",)}'),
    ("{shape=(128,)}", '{shape=(128,), masked="true"}'),
    ("{shape=(128,)}", '{shape=(128,), other="0.0 if ' + TOUCH.replace('"', "'") + ' else 1"}'),
]


@pytest.mark.parametrize("old,new", HOSTILE_ATTRS)
def test_attr_spellings_cannot_reach_generated_code(marker, old, new):
    fn, specs, x, out = _scheduled()
    text = print_ir(fn)
    assert old in text
    hostile = parse_ir(text.replace(old, new))
    for lower in (lambda f: _run_triton(f, specs, x, out), lambda f: _load_tilelang(f, specs)):
        with pytest.raises(TiledslError):
            lower(hostile)
    assert not marker.exists()
