"""`tiledsl check`: each registered kernel against its torch reference at small shapes."""

from __future__ import annotations

import time
from dataclasses import dataclass

CPU_BACKENDS = ("ir", "triton", "eager")
GPU_BACKENDS = ("triton", "tilelang", "eager")


@dataclass
class CheckRow:
    kernel: str
    backend: str
    error: float | None  # max |out - ref| / max |ref|; None when the call failed
    tol: float
    seconds: float
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.error is not None and self.error <= self.tol


def default_backends(device: str) -> tuple[str, ...]:
    return GPU_BACKENDS if device == "cuda" else CPU_BACKENDS


def check_one(entry, backend: str, device: str, seed: int = 0) -> CheckRow:
    """Run `entry` on `backend` at its small shape and compare with its reference."""
    import torch

    from tiledsl.kernels.registry import relative_error

    torch.manual_seed(seed)
    t0 = time.perf_counter()
    try:
        inputs = entry.inputs(dict(entry.small), device)
        mod = entry.mod()
        out = entry.call(mod, inputs, backend)
        ref = entry.ref(mod, inputs)
        err = relative_error(entry.valid(inputs, out), entry.valid(inputs, ref))
        return CheckRow(entry.name, backend, err, entry.tol, time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 - one failing kernel must not hide the others
        msg = str(e).splitlines()[0] if str(e) else ""
        return CheckRow(entry.name, backend, None, entry.tol, time.perf_counter() - t0,
                        f"{type(e).__name__}: {msg}")


def check(entries, backends: tuple[str, ...], device: str, progress: bool = False) -> list[CheckRow]:
    from tqdm.auto import tqdm

    cases = [(e, b) for e in entries for b in backends]
    return [check_one(e, b, device) for e, b in tqdm(cases, desc="check", unit="case", disable=not progress)]


def format_rows(rows: list[CheckRow]) -> list[tuple]:
    out = []
    for r in rows:
        err = "-" if r.error is None else f"{r.error:.2e}"
        verdict = "pass" if r.ok else ("FAIL " + r.problem if r.problem else "FAIL")
        out.append((r.kernel, r.backend, err, f"{r.tol:.1e}", f"{r.seconds:.1f}", verdict))
    return out


HEADER = ("kernel", "backend", "max rel err", "tolerance", "seconds", "result")
