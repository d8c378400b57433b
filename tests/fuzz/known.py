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
WRONG = ("wrong", "backends-differ")


def _dtypes(c: Case) -> set[str]:
    out = set(c.casts)
    for call in c.calls:
        for a in list(call.args) + list(call.kwargs.values()):
            if a["kind"] == "tensor":
                out.add(a["dtype"])
    return out


def _triton(f: Finding) -> bool:
    return "triton" in f.signature.split("|")[1]


KNOWN: dict[str, tuple[str, Callable[[Case, Finding], bool]]] = {
    "number-carry": (
        "level 1: a Python number carried through a runtime loop (`for q in range(3): c0 = c0 * 0.5 + q`) "
        "and then used with a whole tensor: ir and triton raise ScheduleError 'for cannot be fused here'",
        lambda c, f: bool(CARRY & set(c.tags)) and f.kind in ("error-split", "rejects-valid")
        and "cannot be fused" in f.text),
    # found by this fuzzer (tests/fuzz/FINDINGS.md), not fixed yet
    "scalar-promotes": (
        "a runtime `float`/`int` argument promotes f16/bf16 (int8) tensors to f32 (int32) where torch keeps "
        "the tensor's dtype (eager agrees with the compiled backends: a question of the language's rule)",
        lambda c, f: f.kind == "dtype" and (re.search(r"\b\w+: (float|int|td.constexpr)\b", c.source) is not None
                                            or "const-loop" in c.tags)
        and re.search(r"float32 vs b?float16|int32 vs int8", f.text) is not None),
    "carried-number-promotes": (
        "a Python number rebound in a runtime loop or `if` (`v = 1.5; if flag > 0: v = 2.5`, `w = w + 0.5` in a "
        "`range(n)` loop) becomes an f32 scalar in the compiled kernel and promotes f16/bf16 tiles to f32; eager "
        "(and torch) keep it a weak Python number, so the tile math rounds to f16/bf16",
        lambda c, f: f.kind in WRONG and "vs-eager" in f.signature and bool(CARRY & set(c.tags))
        and bool({"bfloat16", "float16"} & _dtypes(c))),
    "l1-matvec": (
        "level 1: `a @ b` with a size-1 axis raises ScheduleError 'a matmul with a size-1 axis (a matrix-vector "
        "product)' (eager runs it)",
        lambda c, f: f.kind in ("error-split", "rejects-valid") and "a matmul with a size-1 axis" in f.text),
    "eager-gather-index": (
        "eager: a gather index that is negative or out of range raises KernelTypeError, where the language "
        "guide says negative indices count from the end and out-of-range ones read 0 (ir and triton do that)",
        lambda c, f: f.kind == "error-split" and f.signature.split("|")[1] == "eager"
        and "is out of range for axis" in f.text),
    "triton-atomic-xchg-float": (
        "Triton: `td.atomic_xchg` on a float32 tensor raises InterpreterError: ValueError('Unsupported data type') "
        "(int32 works; eager and ir run it)",
        lambda c, f: _triton(f) and f.kind in ("raw", "error-split") and "Unsupported data type" in f.text
        and "atomic_xchg" in c.source),
    "triton-atomic-old-masked": (
        "Triton: the old value an atomic returns for a masked-off lane is garbage (`prev = td.atomic_max(out, (b,), "
        "v, mask=m & (v > 0))` gives 1 where eager and ir give 0); the guide states 0 for eager only",
        lambda c, f: _triton(f) and f.kind in WRONG and "atomic-distinct" in c.tags),
    "alias-rebind": (
        "`v = u` then rebinding `v` (`v = v + 1`) breaks `u`: VerifyError 'operand %u is not defined'",
        lambda c, f: f.kind in ("rejects-valid", "error-split") and "is not defined before this use" in f.text),
    "triton-scalar-cast": (
        "Triton: casting a scalar value (a runtime argument `td.cast(s, td.float16)`, or an int carried "
        "through a loop added to a tile) calls `.to` on a Python number: AttributeError",
        lambda c, f: _triton(f) and f.kind in ("raw", "error-split") and "has no attribute 'to'" in f.text),
}


def known_bug(c: Case, f: Finding) -> str | None:
    """The name of the known bug this finding shows, or None when it is new."""
    for name, (_, pred) in KNOWN.items():
        if pred(c, f):
            return name
    return None
