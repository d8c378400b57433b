"""Bugs the fuzzer finds that are known and not yet fixed on this branch, so that the CI share
(tests/test_fuzz_differential.py) fails only on new ones. Each entry says how to recognise its
findings from the case's tags and the finding; delete an entry when its fix lands (the CI share
and the regression files under tests/fuzz/regressions/ then guard it). tests/fuzz/FINDINGS.md
has a minimal repro of each.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.fuzz.gen import Case
from tests.fuzz.harness import Finding

# statements that carry Python numbers (or numbers that become tiles) through loops and branches
CARRY = {"loop-sum", "loop-num", "loopvar-reassign", "loopvar-after", "if-flag", "if-load", "const-loop",
         "acc-number"}
REDUCTIONS = {"red-sum", "red-max", "red-min", "red-prod", "red-argmax", "red-argmin", "softmax", "reduce"}
WRONG = ("wrong", "backends-differ")


def _dtypes(c: Case) -> set[str]:
    out = set(c.casts)
    for call in c.calls:
        for a in list(call.args) + list(call.kwargs.values()):
            if a["kind"] == "tensor":
                out.add(a["dtype"])
    return out


def _nan(c: Case) -> bool:
    return any(a.get("nan") for call in c.calls for a in call.args)


def _reuses_positional(c: Case, k: int) -> bool:
    """Call k passes constexprs positionally with other values than an earlier call whose
    tensors have the same shapes and dtypes (what the runtime's fast path keys on)."""
    def key(call):
        return [(tuple(a["shape"]), a["dtype"]) for a in call.args if a["kind"] == "tensor"]

    def cx(call):
        return [a["value"] for a in call.args if a.get("cx")]

    if k >= len(c.calls) or not cx(c.calls[k]):
        return False
    return any(key(p) == key(c.calls[k]) and cx(p) != cx(c.calls[k]) for p in c.calls[:k])


def _triton(f: Finding) -> bool:
    return "triton" in f.signature.split("|")[1]


KNOWN: dict[str, tuple[str, Callable[[Case, Finding], bool]]] = {
    "number-carry": (
        "Python numbers are not carried through runtime loops and `if`s (a number that becomes a tile "
        "in a loop is rejected; a number updated in a loop or branch keeps its first value)",
        lambda c, f: bool(CARRY & set(c.tags)) and (
            f.kind in WRONG + ("dtype",)
            or (f.kind == "rejects-valid" and "has no attribute" in f.text))),
    "loop-variable": (
        "loop variables: not defined after the loop (the front end now says the loop \"may run zero "
        "times\" where eager mode runs it); reassigning one in the body changes the iteration",
        lambda c, f: ("loopvar-after" in c.tags and f.kind in ("rejects-valid", "error-split")
                      and ("is not defined" in f.text or "may run zero times" in f.text))
        or ({"loopvar-reassign", "loopvar-after"} & set(c.tags) and f.kind in WRONG)),
    "positional-constexpr": (
        "a constexpr passed positionally is ignored on the next call with the same tensor shapes",
        lambda c, f: f.kind in WRONG and _reuses_positional(c, f.call)),
    "triton-bf16": (
        "Triton's interpreter: bf16 arithmetic gives garbage, and a kernel called with fp16 then bf16 "
        "reuses the fp16 interpreter module",
        lambda c, f: _triton(f) and f.kind in WRONG and "bfloat16" in _dtypes(c)),
    "triton-mask-ops": (
        "`& | ~` on masks (and `if` on a loaded scalar) fail on Triton: the generated value is named "
        "after a Python keyword",
        lambda c, f: f.kind == "error-split" and re.search(r"value name '(not|and|or|xor|if)'", f.text) is not None),
    "triton-pow": (
        "`x ** 2` fails on Triton",
        lambda c, f: f.kind == "raw" and _triton(f) and "square" in c.tags),
    "nan-max": (
        "max/argmax of data with NaN differ from torch",
        lambda c, f: f.kind in WRONG and _nan(c) and bool(REDUCTIONS & set(c.tags))),
    "bad-axis": (
        "an out-of-range reduction axis wraps around instead of raising",
        lambda c, f: f.kind == "accepts-invalid"),
    "half-softmax": (
        "bf16 (and fp16) softmax computed in bf16 (fp16), not in fp32 with one rounding",
        lambda c, f: f.kind in WRONG and "softmax" in c.tags and bool({"bfloat16", "float16"} & _dtypes(c))),
    # found by this fuzzer (tests/fuzz/FINDINGS.md), not fixed yet
    "scalar-promotes": (
        "numbers promote f16/bf16 (int8) tensors to f32 (int32) where torch keeps the tensor's dtype: a "
        "runtime `float`/`int` argument, and td math on a number (`td.sigmoid(C) + x`)",
        lambda c, f: f.kind == "dtype" and re.search(r"\b\w+: (float|int|td.constexpr)\b", c.source) is not None
        and re.search(r"float32 vs b?float16|int32 vs int8", f.text) is not None),
    "alias-rebind": (
        "`v = u` then rebinding `v` (`v = v + 1`) breaks `u`: VerifyError 'operand %u is not defined'",
        lambda c, f: f.kind in ("rejects-valid", "error-split") and "is not defined before this use" in f.text),
    "triton-scalar-cast": (
        "Triton: casting a scalar value (a runtime argument `td.cast(s, td.float16)`, or an int carried "
        "through a loop added to a tile) calls `.to` on a Python number: AttributeError",
        lambda c, f: f.kind == "raw" and _triton(f) and "has no attribute 'to'" in f.text),
    "triton-int-to-fp8": (
        "Triton: casting an int tile to fp8 (`td.where(m, C, C).to(td.float8_e5m2)`) fails in the interpreter",
        lambda c, f: f.kind == "raw" and _triton(f) and re.search(r"cannot cast .* fp8", f.text, re.S) is not None),
    "triton-prod": (
        "td.prod has no Triton lowering (the IR interpreter runs it)",
        lambda c, f: f.kind == "error-split" and "tile reduction 'prod'" in f.text),
    "l1-multi-reduce": (
        "level 1 reduces several axes in one kernel only when whole rows of all of them fit in one "
        "program, and tiles at most 3 other sizes in the grid of a reduction (a limitation)",
        lambda c, f: f.kind == "rejects-valid" and re.search(r"one reduced axis at a time|sizes besides the "
                                                             r"reduced one", f.text) is not None),
}


def known_bug(c: Case, f: Finding) -> str | None:
    """The name of the known bug this finding shows, or None when it is new."""
    for name, (_, pred) in KNOWN.items():
        if pred(c, f):
            return name
    return None
