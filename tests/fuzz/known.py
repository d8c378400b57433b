"""Bugs the fuzzer finds that are known and not yet fixed on this branch, so that the CI share
(tests/test_fuzz_differential.py) fails only on new ones. Each entry says how to recognise its
findings from the case's tags and the finding; delete an entry when its fix lands (the CI share
and the regression files under tests/fuzz/regressions/ then guard it). tests/fuzz/FINDINGS.md
has a minimal repro of each.
"""

from __future__ import annotations

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
    # found by this fuzzer (tests/fuzz/FINDINGS.md), not fixed yet: none
}


def known_bug(c: Case, f: Finding) -> str | None:
    """The name of the known bug this finding shows, or None when it is new."""
    for name, (_, pred) in KNOWN.items():
        if pred(c, f):
            return name
    return None
