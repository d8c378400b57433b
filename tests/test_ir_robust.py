"""Malformed IR text gives `ParseError` or `VerifyError` with a location, never a raw Python
exception: huge integers, deep nesting, wrong attr forms and operand counts, and random token
edits of printed IR."""

from __future__ import annotations

import re

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_ir_verify import gemm_text
from tiledsl.errors import ParseError, VerifyError
from tiledsl.ir import parse_ir, print_ir, verify
from tiledsl.ir.text import MAX_DEPTH

STAGES = ("ir", "scheduled", "triton", "tilelang")


def check(text: str) -> None:
    """Parse and verify at every stage; only ParseError / VerifyError may escape."""
    fn = parse_ir(text)
    for stage in STAGES:
        try:
            verify(fn, stage)
        except VerifyError:
            pass
    print_ir(fn)


def verify_error(text: str, *needles: str) -> str:
    fn = parse_ir(text)
    with pytest.raises(VerifyError) as info:
        verify(fn, "ir")
    msg = str(info.value)
    for n in needles:
        assert n in msg, msg
    return msg


# --- integers and nesting ---------------------------------------------------------------------

@pytest.mark.parametrize("where", ["{axis=%s}", "knobs(BM=%s,", "loc(\"k.py\":%s:0)"])
def test_huge_integers_are_parse_errors(where):
    text = gemm_text()
    big = "9" * 5000
    if where.startswith("{axis"):
        text = text.replace("{axis=0}", where % big)
    elif where.startswith("knobs"):
        text = text.replace("knobs(BM=64,", where % big).replace("knobs(BM=auto,", where % big)
    else:
        text = text.replace(": i32\n", ": i32  " + where % big + "\n", 1)
    assert big in text
    with pytest.raises(ParseError) as info:
        parse_ir(text)
    assert "out of range" in str(info.value) and info.value.line >= 1


def test_deeply_nested_regions_are_a_parse_error():
    body = "yield\n"
    for _ in range(199):
        body = "if %c {\n" + body + "yield\n} {\nyield\n}\n"
    text = "func @f(%c: i1 scalar) {\n" + body.replace("yield\n", "", 1) + "}\n"
    with pytest.raises(ParseError) as info:
        parse_ir(text)
    assert "nesting deeper" in str(info.value) and info.value.line == MAX_DEPTH + 1


@pytest.mark.parametrize("n", [200, 5000])
def test_deeply_nested_tuples_are_a_parse_error(n):
    with pytest.raises(ParseError, match="nesting deeper"):
        parse_ir("func @f() attrs{a=" + "(" * n + "1" + ",)" * n + "} {\n}\n")


def test_nesting_within_the_limit_still_works():
    body = "yield\n"
    for _ in range(MAX_DEPTH - 2):
        body = "if %c {\n" + body + "yield\n} {\nyield\n}\n"
    text = "func @f(%c: i1 scalar) {\n" + body.replace("yield\n", "", 1) + "}\n"
    fn = verify(parse_ir(text))
    assert parse_ir(print_ir(fn)) == fn


def test_brackets_inside_strings_do_not_count():
    text = gemm_text().replace("%c0 = const {value=0} : i32",
                               '%c0 = const {value=0} : i32  loc("' + "{(" * 300 + '.py":1:0)')
    verify(parse_ir(text))


# --- attr forms and operand counts ------------------------------------------------------------

MALFORMED = [
    ("%m = dim %x {axis=0} : i32", "%m = eq : i1", "takes 2 operand(s), has 0"),
    ("%m = dim %x {axis=0} : i32", "%m = dim %x {axis=\"a\"} : i32", "attr axis"),
    ("%m = dim %x {axis=0} : i32", "%m = dim %x : i32", "needs the attr axis"),
    ("%m = dim %x {axis=0} : i32", "%m = dim %x {axis=(0,)} : i32", "attr axis"),
    ("%m = dim %x {axis=0} : i32", "%m = dim {axis=0} : i32", "takes 1 operand(s)"),
    ("%m = dim %x {axis=0} : i32", "%m = dim %x, %x {axis=0} : i32", "takes 1 operand(s)"),
    ("%c0 = const {value=0} : i32", "%c0 = const {value=0, dtype=\"i32\"} : i32", "attr dtype"),
    ("%c0 = const {value=0} : i32", "%c0 = const : i32", "needs the attr value"),
    ("%c0 = const {value=0} : i32", "%c0 = const {value=\"x\"} : i32", "attr value"),
    ("%c0 = const {value=0} : i32", "%c0 = const {value=0, value=1} : i32", "given twice"),
    ("%acc = full {shape=(#BM, 16), value=0.0, dtype=f32}", "%acc = full {shape=(#BM, 16), value=0.0}",
     "needs the attr dtype"),
    ("%acc = full {shape=(#BM, 16), value=0.0, dtype=f32}", "%acc = full {shape=#BM, value=0.0, dtype=f32}",
     "attr shape"),
    ("%acc = full {shape=(#BM, 16), value=0.0, dtype=f32}",
     "%acc = full {shape=(#BM, -16), value=0.0, dtype=f32}", "attr shape"),
    ("%s = add %a, %t", "%s = add %a", "takes 2 operand(s), has 1"),
    ("%s = add %a, %t : tile<f32[BM,16]>", "%s = tile_reduce %t {axis=0} : tile<f32[BM,16]>", "needs the attr kind"),
    ("%s = add %a, %t : tile<f32[BM,16]>", "%s = tile_reduce %t {axis=0, kind=\"mean\"} : tile<f32[BM,16]>",
     "attr kind"),
    ("%s = add %a, %t : tile<f32[BM,16]>", "%s = tile_reduce %t {axis=\"a\", kind=\"sum\"} : tile<f32[BM,16]>",
     "attr axis"),
    ("%s = add %a, %t : tile<f32[BM,16]>", "%s = cast %t : tile<f32[BM,16]>", "needs the attr dtype"),
    ("%s = add %a, %t : tile<f32[BM,16]>", "%s = transpose %t {perm=\"10\"} : tile<f32[BM,16]>", "attr perm"),
    ("%s = add %a, %t : tile<f32[BM,16]>", "%s = reshape %t {shape=5} : tile<f32[BM,16]>", "attr shape"),
    ("%s = add %a, %t : tile<f32[BM,16]>", "%s = add %a, %t {x=1} : tile<f32[BM,16]>\n%q = where %a : tile<f32[BM,16]>",
     "takes 3 operand(s)"),
    ("{stages=#stages}", "{stages=\"2\"}", "attr stages"),
    ("{stages=#stages}", "{stages=-1}", "attr stages"),
    ("store %y, %pid, %c0, %r {shape=(#BM, 16), masked=false}",
     "%z = atomic %y, %pid, %c0, %r {shape=(#BM, 16), masked=false} : tile<f32[BM,16]>", "needs the attr kind"),
    ("store %y, %pid, %c0, %r {shape=(#BM, 16), masked=false}",
     "store %y, %pid, %c0, %r {shape=(#BM, 16), masked=1}", "attr masked"),
    ("store %y, %pid, %c0, %r {shape=(#BM, 16), masked=false}",
     "store %y, %pid, %c0, %r {shape=(#BM, 16), masked=true}", "mask"),
    ("grid %m ^(%pid: i32) {", "grid %m {group_m=\"x\"} ^(%pid: i32) {", "attr group_m"),
    ("grid %m ^(%pid: i32) {", "grid ^(%pid: i32) {", "takes 1 to 3 operand(s)"),
]


@pytest.mark.parametrize("old,new,needle", MALFORMED, ids=[m[2] + str(i) for i, m in enumerate(MALFORMED)])
def test_malformed_insts_are_verify_errors(old, new, needle):
    text = gemm_text()
    assert old in text, old
    msg = verify_error(text.replace(old, new, 1), needle)
    assert re.search(r"\((at .+|defining %\S+|using %\S+|inst [\d >]+ of the function body)\)", msg), msg  # says where


def test_malformed_inst_error_names_the_source_location():
    text = gemm_text().replace("%m = dim %x {axis=0} : i32", '%m = eq : i1  loc("k.py":7:3)')
    assert "k.py:7:3" in verify_error(text) or "k.py" in verify_error(text)


def test_malformed_function_attrs():
    text = gemm_text().replace("num_warps=4)", "num_warps=4) attrs{assume=5}")
    verify_error(text, "assume")
    text = gemm_text().replace("knobs(BM=64,", "knobs(BM=64, BM=32,")
    verify_error(text, "declared twice")


# --- masks must fit their windows ----------------------------------------------------------------

MASKED_LOAD = gemm_text(static=True).replace(
    "      %t = load %x, %pid, %i {shape=(64, 16), masked=false} : tile<f32[64,16]>",
    "      %ar = arange {start=0, end=MASKN} : tile<i32[MASKN]>\n"
    "      %lim = const {value=3} : i32\n"
    "      %mk = lt %ar, %lim : tile<i1[MASKN]>\n"
    "      %t = load %x, %pid, %i, %mk {shape=(64, 16), masked=true} : tile<f32[64,16]>")


def test_load_mask_that_does_not_fit_the_window_is_rejected():
    verify_error(MASKED_LOAD.replace("MASKN", "8"), "mask of shape (8,) does not match the (64, 16) window")
    verify_error(MASKED_LOAD.replace("MASKN", "32"), "does not match")


def test_load_mask_that_broadcasts_is_accepted():
    verify(parse_ir(MASKED_LOAD.replace("MASKN", "16")), "scheduled")


def test_store_mask_that_does_not_fit_the_window_is_rejected():
    text = gemm_text(static=True).replace(
        "    store %y, %pid, %c0, %r {shape=(64, 16), masked=false}",
        "    %ar = arange {start=0, end=4} : tile<i32[4]>\n"
        "    %mk = lt %ar, %c1 : tile<i1[4]>\n"
        "    store %y, %pid, %c0, %r, %mk {shape=(64, 16), masked=true}")
    verify_error(text, "mask of shape (4,) does not match the (64, 16) window")


# --- random edits of printed IR ----------------------------------------------------------------

def _printed_texts() -> list[str]:
    import tiledsl as td
    from tests.kernels_for_tests import softmax

    @td.kernel
    def scale(x: td.Tensor, out: td.Tensor, s: float, BLOCK: td.constexpr = 64):
        n = x.shape[0]
        with td.grid(td.cdiv(n, BLOCK)) as pid:
            offs = pid * BLOCK + td.arange(0, BLOCK)
            t = td.load(x, (pid * BLOCK,), (BLOCK,), mask=offs < n)
            for i in range(2):
                t = t * s
            td.store(out, (pid * BLOCK,), t, mask=offs < n)

    x = torch.randn(100)
    ck = scale.compile(x, torch.empty(100), 2.0, backend="ir")
    sm = softmax.compile(torch.randn(8, 40), backend="ir")
    return [gemm_text(), gemm_text(static=True), ck.code("ir"), ck.code("scheduled"), sm.code("scheduled")]


TEXTS = _printed_texts()
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|%[A-Za-z0-9_.]+|[A-Za-z_][A-Za-z0-9_.]*|-?\d+(?:\.\d*)?|\s+|.')
HOSTILE = ["(", ")", "{", "}", "%", "#", "=", ",", ":", "\n", '"', "99999999999999999999999", "-1", "0",
           "none", "true", "i32", "f32", "tile", "global", "scalar", "output", "yield", "grid", "for", "if",
           "eq", "load", "store", "dim", "const", '"x"', "#BM", "#nope", "^(", "loc", "auto", "1e999", "nan"]


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(TEXTS))
    toks = _TOKEN.findall(text)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(toks) - 1))
        how = draw(st.sampled_from(("delete", "duplicate", "replace", "hostile")))
        if how == "delete":
            del toks[i]
        elif how == "duplicate":
            toks.insert(i, toks[i])
        elif how == "replace":
            toks[i] = draw(st.sampled_from(toks))
        else:
            toks[i] = draw(st.sampled_from(HOSTILE))
        if not toks:
            toks = ["x"]
    return "".join(toks)


@settings(max_examples=400, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_ir_text_gives_only_parse_or_verify_errors(text):
    try:
        check(text)
    except (ParseError, VerifyError):
        pass


def test_negative_knob_values_are_verify_errors():
    verify_error(gemm_text().replace("knobs(BM=64,", "knobs(BM=-64,"), "knob BM=-64")


def test_function_level_errors_name_the_function_location():
    text = gemm_text().replace("num_warps=4)", 'num_warps=4) attrs{assume=5} loc("k.py":3:0)')
    assert "function at" in verify_error(text, "assume")
