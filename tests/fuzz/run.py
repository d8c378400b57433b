"""Run the differential kernel fuzzer for a while.

    python tests/fuzz/run.py --minutes 10
    python tests/fuzz/run.py --examples 5000 --seed 7 --backends ir,triton --level 2
    python tests/fuzz/run.py --minutes 5 --level ops

Each generated kernel runs on every backend (and the torch oracle); disagreements are grouped by
signature, and the first case of each new signature is written (after dropping calls it does
not need) as a standalone xfail regression test under tests/fuzz/regressions/. Every failing
case is also appended to a JSON-lines log for triage. Prints a summary at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pprint
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from tqdm import tqdm  # noqa: E402

from tests.fuzz.gen import Case  # noqa: E402
from tests.fuzz.harness import Finding, backends, check_case  # noqa: E402
from tests.fuzz.known import KNOWN, known_bug  # noqa: E402

REG_DIR = ROOT / "tests" / "fuzz" / "regressions"
CHUNK = 20  # examples per hypothesis run (each with its own seed), so the clock is checked often


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=None, help="run this long (default 10 without --examples)")
    p.add_argument("--examples", type=int, default=None, help="run this many kernels' cases")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backends", default=None, help="comma list (default: eager if present, ir, triton)")
    p.add_argument("--level", choices=("1", "2", "ops"), default=None,
                   help="only level-1 expressions, level-2 tile programs, or the ops cases (tests/fuzz/ops.py)")
    p.add_argument("--regressions", type=Path, default=REG_DIR, help="where new findings' tests go")
    p.add_argument("--no-write", action="store_true", help="do not write regression files")
    p.add_argument("--log", type=Path, default=Path("/tmp/tiledsl-fuzz-failures.jsonl"))
    p.add_argument("--case-timeout", type=int, default=120, help="seconds one case may take")
    a = p.parse_args(argv)
    if a.minutes is None and a.examples is None:
        a.minutes = 10.0
    bes = tuple(a.backends.split(",")) if a.backends else backends()
    return Fuzzer(a, bes).run()


class Fuzzer:
    def __init__(self, a, bes: tuple[str, ...]):
        self.a, self.bes = a, bes
        self.cases = self.kernels = self.failing = 0
        self.per_backend: dict[str, int] = dict.fromkeys(bes, 0)  # kernel calls run on each backend
        self.seen: dict[str, int] = dict.fromkeys(_existing_signatures(a.regressions), 0)
        self.new: list[str] = []  # bug keys first seen in this run
        self.best: dict = {}  # bug key -> (rank, case, finding)
        self.paths: dict[str, Path] = {}
        self.deadline = time.time() + 60 * a.minutes if a.minutes else None

    def done(self) -> bool:
        if self.a.examples is not None and self.cases >= self.a.examples:
            return True
        return self.deadline is not None and time.time() >= self.deadline

    def run(self) -> int:
        from tests.fuzz.gen import case

        total = self.a.examples if self.a.examples else int(self.a.minutes * 60)
        unit = "case" if self.a.examples else "s"
        self.bar = tqdm(total=total, unit=unit, dynamic_ncols=True, mininterval=2.0)
        self.t0 = time.time()
        strategy = case(int(self.a.level) if self.a.level in ("1", "2") else self.a.level)
        chunk = 0
        while not self.done():
            n = CHUNK if self.a.examples is None else min(CHUNK, self.a.examples - self.cases)

            @seed(self.a.seed * 1_000_003 + chunk)
            @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(strategy)
            def one(c):
                if not self.done():
                    self.step(c)

            one()
            chunk += 1
        self.bar.close()
        if not self.a.no_write:
            self.write()
        self.summary()
        return 0

    def step(self, c: Case) -> None:
        findings, ran = _timed(self.a.case_timeout, c, self.bes)
        self.cases += 1
        self.kernels += ran
        for be in self.bes:
            self.per_backend[be] += len(c.calls)
        if findings:
            self.failing += 1
            with self.a.log.open("a") as f:
                f.write(json.dumps({"case": c.to_dict(), "findings": [x.__dict__ for x in findings]}) + "\n")
        keys = {bug_key(c, fd) for fd in findings}
        for fd in findings:
            key = bug_key(c, fd)
            if key not in self.seen:
                self.seen[key] = 0
                self.new.append(key)
                tqdm.write(f"new: {key}")
            self.seen[key] += 1
            # the smallest case that shows this bug and nothing else is the one worth keeping
            rank = (len(keys) > 1, len(c.source) + 300 * len(c.calls))
            if key in self.new and (key not in self.best or rank < self.best[key][0]):
                self.best[key] = (rank, c, fd)
        if self.a.examples:
            self.bar.update(1)
        else:
            self.bar.n = min(self.bar.total, int(time.time() - self.t0))
            self.bar.refresh()
        self.bar.set_postfix(cases=self.cases, kernels=self.kernels, failing=self.failing, sigs=len(self.new),
                             refresh=False)

    def write(self) -> None:
        for key in self.new:
            _, c, fd = self.best[key]
            self.paths[key] = write_regression(_minimal(c, fd, self.bes), fd, key, self.a.regressions)

    def summary(self) -> None:
        dt = time.time() - self.t0
        print(f"\n{self.cases} cases, {self.kernels} kernel runs on {'/'.join(self.bes)} in {dt:.0f} s; "
              f"{self.failing} failing cases, {len(self.new)} new signatures")
        print("  per backend: " + ", ".join(f"{be} {n}" for be, n in self.per_backend.items()))
        for sig, n in sorted(self.seen.items(), key=lambda kv: -kv[1]):
            if n:
                print(f"  {n:5d}  {sig}")
        for key, path in self.paths.items():
            print(f"  wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}  ({key})")


def _timed(limit: int, c: Case, bes) -> tuple[list[Finding], int]:
    def alarm(*_):
        raise TimeoutError(f"case ran over {limit} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(limit)
    try:
        return check_case(c, bes)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _minimal(c: Case, fd: Finding, bes) -> Case:
    """The case cut to the calls the finding needs: the failing call alone, else the calls up to it."""
    for calls in ([c.calls[fd.call]], c.calls[: fd.call + 1]):
        if len(calls) == len(c.calls):
            continue
        small = Case(c.level, c.source, c.ref, calls, c.outputs, c.casts, c.tags)
        try:
            if bug_key(c, fd) in {bug_key(small, x) for x in check_case(small, bes)[0]}:
                return small
        except Exception:  # noqa: BLE001 - keep the full case then
            pass
    return c


def _existing_signatures(d: Path) -> list[str]:
    out = []
    for f in d.glob("test_*.py"):
        for line in f.read_text().splitlines():
            if line.startswith("SIGNATURE = "):
                out.append(json.loads(line.removeprefix("SIGNATURE = ")))
    return out


def bug_key(c: Case, fd: Finding) -> str:
    """What findings are grouped by: the known bug they show, else their signature."""
    name = known_bug(c, fd)
    return f"known:{name}" if name else fd.signature


def write_regression(c: Case, fd: Finding, key: str, d: Path, variant: str = "") -> Path:
    """A standalone pytest file: the case, and the assertion that all backends and torch agree."""
    d.mkdir(parents=True, exist_ok=True)
    init = d / "__init__.py"
    if not init.exists():
        init.write_text("")
    h = hashlib.sha1((key + variant).encode()).hexdigest()[:8]
    kind = (key.removeprefix("known:") if key.startswith("known:") else fd.kind).replace("-", "_")
    path = d / f"test_{kind}_{h}.py"
    data = c.to_dict()
    src, ref = data.pop("source"), data.pop("ref")
    reason = (KNOWN[key.removeprefix("known:")][0] if key.startswith("known:") else fd.text.splitlines()[0])[:200]
    body = [
        f'"""Fuzzer finding ({fd.kind}), written by tests/fuzz/run.py.',
        "",
        *[_doc_line(ln) for ln in fd.text.splitlines()[:6]],
        '"""',
        "",
        "import pytest",
        "",
        "from tests.fuzz.harness import check_case_dict",
        "",
        f"SIGNATURE = {json.dumps(key)}",
        f"SOURCE = {_literal(src)}",
        f"REF = {_literal(ref)}",
        "CASE = dict(source=SOURCE, ref=REF, **" + pprint.pformat(data, width=110, compact=True).replace("\n", "\n    ") + ")",
        "",
        "",
        f"@pytest.mark.xfail(strict=True, reason={json.dumps(reason)})",
        f"def test_fuzz_{kind}_{h}():",
        "    check_case_dict(CASE)",
        "",
    ]
    path.write_text("\n".join(body))
    return path


def _doc_line(line: str) -> str:
    """A line of a finding's text made safe and short for a docstring."""
    return line.replace('"""', "'''").replace("\\", "/")[:200].rstrip()


def _literal(text: str) -> str:
    if "'''" in text or "\\" in text:
        return repr(text)
    return "'''\\\n" + text + "'''"


if __name__ == "__main__":
    sys.exit(main())
