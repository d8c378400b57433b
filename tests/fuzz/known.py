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
        "level 1: a Python number carried through a runtime loop (`for q in range(3): c0 = c0 * 0.5 + q`) "
        "and then used with a whole tensor: ir and triton raise ScheduleError 'for cannot be fused here'",
        lambda c, f: bool(CARRY & set(c.tags)) and f.kind in ("error-split", "rejects-valid")
        and "cannot be fused" in f.text),
    # found by this fuzzer (tests/fuzz/FINDINGS.md), not fixed yet
    "scalar-promotes": (
        "a runtime `float`/`int` argument promotes f16/bf16 (int8) tensors to f32 (int32) where torch keeps "
        "the tensor's dtype (eager agrees with the compiled backends: a question of the language's rule)",
        lambda c, f: f.kind == "dtype" and re.search(r"\b\w+: (float|int|td.constexpr)\b", c.source) is not None
        and re.search(r"float32 vs b?float16|int32 vs int8", f.text) is not None),
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
