"""Differential fuzzing of whole kernels: generated level-1, level-2, and "ops" programs (dot,
atomics, gathers, cumsum, casts, level 3, ...) run on every CPU backend; ir and triton agree with
eager (the oracle), and every backend with the generator's torch oracle where it wrote one.

CI runs a fixed-seed share (derandomized, 40 cases, under a minute on two busy cores); `python tests/fuzz/run.py --minutes 10`
runs the same generators for longer and writes new findings to tests/fuzz/regressions/.
Findings that match a bug in `tests/fuzz/known.py` (bugs being fixed elsewhere) are reported but
do not fail this test; delete an entry when its fix lands, and the test then guards it.
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings

from tests.fuzz.gen import Case, case
from tests.fuzz.harness import check_case, describe
from tests.fuzz.known import known_bug

SEEN_KNOWN: dict[str, int] = {}


@settings(max_examples=40, derandomize=True, deadline=None, database=None, print_blob=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(case())
def test_backends_agree_with_torch(c: Case):
    findings, _ = check_case(c)
    new = []
    for f in findings:
        bug = known_bug(c, f)
        if bug is None:
            new.append(f)
        else:
            SEEN_KNOWN[bug] = SEEN_KNOWN.get(bug, 0) + 1
    assert not new, describe(c, new)


@pytest.fixture(scope="module", autouse=True)
def _report_known():
    yield
    if SEEN_KNOWN:
        warnings.warn("known bugs hit by the fuzzer: " + ", ".join(f"{k} ({n})" for k, n in sorted(SEEN_KNOWN.items())),
                      stacklevel=1)
