"""Run a generated case through every backend and the oracles, and say where they disagree.

A case's kernel module is written to a real file (the front end reads the function's source with
`inspect`) and imported once; each call then runs on every backend with fresh arguments built
from the same seeds. The oracle is `backend="eager"` (the kernel's own body on torch tensors, no
code shared with the compiler): ir and triton must agree with it within a few ulps of each result
dtype (`VS_EAGER`). Where the generator also wrote a torch oracle (`Case.ref`), every backend,
eager included, must agree with it within the looser `TOL` of the coarsest dtype the call computes
in. NaN positions must match; a program one backend rejects with a `TiledslError` must be
rejected by all; any other exception is a finding. Level-3 cases (`td.threads`) run on eager and
ir; Triton must reject them with an error that names `backend="tilelang"`.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from tests.fuzz.gen import Case

# relative tolerance per dtype: about two steps of the format (fp32: transcendental libraries)
TOL = {"float64": 1e-6, "float32": 1e-4, "float16": 2e-3, "bfloat16": 1.6e-2,
       "float8_e4m3": 0.13, "float8_e4m3fn": 0.13, "float8_e5m2": 0.26}
# ir/triton against eager, relative to each element plus the largest magnitude (see compare): ir
# computes op by op with the same roundings as eager (docs/language.md "Numerics"), so it differs
# only where a sum's order differs (f32 ulps that may flip one rounding of a 16-bit result, and
# propagate through the ops after it): about one ulp of the result dtype. Triton's interpreter
# evaluates transcendentals with numpy (a few f32 ulps apart from torch's): TRITON_FACTOR times that.
VS_EAGER = {"float64": 1e-9, "float32": 2e-5, "float16": 1e-3, "bfloat16": 8e-3,
            "float8_e4m3fn": 0.125, "float8_e5m2": 0.25}
TRITON_FACTOR = 4.0
_TD_TO_TORCH = {"float8_e4m3": "float8_e4m3fn"}
_MODULES = itertools.count()
_TMP: Path | None = None


def backends() -> tuple[str, ...]:
    """The backends that run on CPU tensors here: eager (when present), ir, triton."""
    from tiledsl.runtime.kernel import BACKENDS

    return tuple(b for b in ("eager", "ir", "triton") if b in BACKENDS)


def torch_dtype(name: str) -> torch.dtype:
    return getattr(torch, _TD_TO_TORCH.get(name, name))


def make_arg(spec: dict):
    """A call argument from its spec (deterministic: built again for every backend)."""
    if spec["kind"] == "num":
        return spec["value"]
    shape, dt = list(spec["shape"]), torch_dtype(spec["dtype"])
    layout = spec.get("layout", "contig")
    base = shape[:-2] + [shape[-1], shape[-2]] if layout == "T" else \
        shape[:-1] + [2 * shape[-1]] if layout == "strided" else shape
    g = torch.Generator().manual_seed(int(spec["seed"]))
    if "fill" in spec:
        t = torch.full(base, spec["fill"]).to(dt)
    elif dt.is_floating_point:
        v = (torch.rand(base, generator=g) * 6 - 3) * spec.get("scale", 1.0)
        if spec.get("nan"):
            v[torch.rand(base, generator=g) < 0.15] = float("nan")
        t = v.to(dt)
    elif spec.get("perm"):  # distinct indices: a permutation of range(n)
        t = torch.randperm(base[-1], generator=g).to(dt)
    elif "lo" in spec:  # an index tensor: values in [lo, hi)
        t = torch.randint(spec["lo"], spec["hi"], base, generator=g).to(dt)
    elif dt == torch.bool:
        t = torch.rand(base, generator=g) < 0.5
    else:
        t = torch.randint(-8, 9, base, generator=g)
        if spec.get("nonzero"):  # a divisor: no zeros (torch raises where tiledsl gives 0)
            t[t == 0] = 3
        t = t.to(dt)
    if layout == "T":
        t = t.transpose(-1, -2)
    elif layout == "strided":
        t = t[..., ::2]
    assert list(t.shape) == shape
    return t


def load_module(source: str, stem: str = "fz"):
    """Import `source` from a real file (kept until exit, so tracebacks and `inspect` work)."""
    global _TMP
    if _TMP is None:
        _TMP = Path(tempfile.mkdtemp(prefix="tiledsl-fuzz-"))
    name = f"{stem}_{next(_MODULES)}"
    path = _TMP / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@dataclass
class Outcome:
    status: str  # "ok", "tiledsl" (a TiledslError), "raw" (any other exception)
    values: tuple = ()
    error: str = ""  # exception class name
    message: str = ""


@dataclass
class Finding:
    kind: str
    signature: str
    call: int
    text: str


def _run(fn, args: list, kwargs: dict, outputs: list) -> Outcome:
    from tiledsl.errors import TiledslError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fn(*args, **kwargs)
    except TiledslError as e:
        return Outcome("tiledsl", error=type(e).__name__, message=str(e))
    except Exception as e:  # noqa: BLE001 - any other exception is what we are looking for
        return Outcome("raw", error=type(e).__name__, message=str(e))
    if outputs:
        return Outcome("ok", tuple(args[i] for i in outputs))
    vals = res if isinstance(res, tuple) else (res,)
    return Outcome("ok", tuple(torch.as_tensor(v) for v in vals))


def tolerance(case: Case, call, values: tuple) -> float:
    """The coarsest float format the call computes in: its outputs, float inputs, and casts."""
    names = [str(v.dtype).removeprefix("torch.") for v in values if isinstance(v, torch.Tensor)]
    names += [s["dtype"] for s in list(call.args) + list(call.kwargs.values())
              if s["kind"] == "tensor" and "float8" not in s["dtype"]]
    names += list(case.casts)
    return max([TOL.get(n, 0.0) for n in names] + [0.0])


def compare(a: torch.Tensor, b: torch.Tensor, tol: float) -> str | None:
    """None when `a` (a backend) agrees with `b` (the reference); else what differs. Elements may
    differ by `tol` relative to themselves plus `tol` times the largest magnitude (cancellation)."""
    if tuple(a.shape) != tuple(b.shape):
        return f"shape {tuple(a.shape)} vs {tuple(b.shape)}"
    if a.numel() == 0:
        return None
    if not (a.dtype.is_floating_point or b.dtype.is_floating_point) or tol == 0.0:
        eq = a.to(torch.float64) == b.to(torch.float64)
        eq |= torch.isnan(a.to(torch.float64)) & torch.isnan(b.to(torch.float64))
        if bool(eq.all()):
            return None
        bad = (~eq).nonzero()[0].tolist()
        return f"exact values differ at {bad}: {a[tuple(bad)].item()} vs {b[tuple(bad)].item()}"
    x, y = a.to(torch.float64), b.to(torch.float64)
    nx, ny = torch.isnan(x), torch.isnan(y)
    if not bool((nx == ny).all()):
        bad = (nx != ny).nonzero()[0].tolist()
        return f"NaN positions differ at {bad}: {x[tuple(bad)].item()} vs {y[tuple(bad)].item()}"
    fin = ~ny
    x, y = x[fin], y[fin]
    inf_bad = (torch.isinf(x) | torch.isinf(y)) & (x != y)
    scale = max(1.0, float(y[torch.isfinite(y)].abs().max()) if bool(torch.isfinite(y).any()) else 1.0)
    err = (x - y).abs()
    allowed = tol * (y.abs() + scale)
    bad = inf_bad | (err > allowed)
    if bool(bad.any()):
        k = int(bad.nonzero()[0])
        return f"max error {float(err[~inf_bad].max()) if bool((~inf_bad).any()) else 'inf'} (tol {tol}, scale {scale:.3g}); first bad: {x[k].item()} vs {y[k].item()}"
    return None


def _norm(msg: str) -> str:
    """The stable part of an error message: first line, no numbers, paths or quoted names."""
    first = msg.strip().splitlines()[0] if msg.strip() else ""
    first = re.sub(r"/[\w./-]+", "<path>", first)
    first = re.sub(r"'[^']*'", "'_'", first)
    return re.sub(r"\d+", "#", first)[:90]


def check_case(case: Case, bes: tuple[str, ...] | None = None) -> tuple[list[Finding], int]:
    """Run every call of `case` on each backend; returns the findings and how many kernels ran."""
    bes = bes or backends()
    kmod = load_module(case.source, "fz_kernel")
    rmod = load_module(case.ref, "fz_ref") if case.ref else None
    findings: list[Finding] = []
    ran = 0
    for ci, call in enumerate(case.calls):
        def args(call=call):
            return [make_arg(s) for s in call.args], {k: make_arg(s) for k, s in call.kwargs.items()}

        a, kw = args()
        ref = _run(rmod.ref, a, kw, case.outputs) if rmod else None
        outs = {}
        for be in bes:
            a, kw = args()
            outs[be] = _run(lambda *x, **k: kmod.kern(*x, backend=be, **k), a, kw, case.outputs)  # noqa: B023
            ran += 1
        if "level3" in case.tags:
            findings += _level3_triton(ci, outs.pop("triton", None))
        findings += _judge(case, call, ci, ref, outs)
    return findings, ran


def _level3_triton(ci: int, o: Outcome | None) -> list[Finding]:
    """Triton has no level 3: it must say so with a tiledsl error pointing at TileLang."""
    if o is None or (o.status == "tiledsl" and "tilelang" in o.message):
        return []
    what = "ran" if o.status == "ok" else f"raised {o.error}: {o.message[:300]}"
    return [Finding("wrong-error", f"wrong-error|triton|level3|{o.status}|{o.error}", ci,
                    f"triton {what} on a level-3 kernel (expected an error naming backend='tilelang')")]


def _judge(case: Case, call, ci: int, ref: Outcome, outs: dict) -> list[Finding]:
    found = []

    def add(kind: str, sig: str, text: str):
        found.append(Finding(kind, f"{kind}|{sig}", ci, text))

    for be, o in outs.items():
        if o.status == "raw":
            add("raw", f"{be}|{o.error}|{_norm(o.message)}", f"{be} raised {o.error}: {o.message}")
    errs = {be: o for be, o in outs.items() if o.status == "tiledsl"}
    oks = {be: o for be, o in outs.items() if o.status == "ok"}
    if errs and oks:
        e = next(iter(errs.values()))
        add("error-split", f"{'+'.join(errs)}|{e.error}|{_norm(e.message)}",
            f"{', '.join(errs)} raised {e.error} but {', '.join(oks)} ran: {e.message}")
    if ref is None:  # eager is the only oracle
        if errs and not oks:
            e = next(iter(errs.values()))
            add("rejects-valid", f"{e.error}|{_norm(e.message)}", f"all backends raised {e.error}: {e.message}")
        _vs_eager(case, call, oks, add, set())
        return found
    if ref.status != "ok":
        if oks and not errs and "bad-axis" in case.tags and ref.error == "IndexError":
            add("accepts-invalid", f"{'+'.join(oks)}|bad-axis",
                f"the oracle raised {ref.error}: {ref.message}, but {', '.join(oks)} ran")
        elif oks and not errs:
            add("oracle-error", f"{ref.error}|{_norm(ref.message)}", f"the oracle raised {ref.error}: {ref.message}")
        _cross_check(case, call, oks, add)
        return found
    if errs and not oks:
        e = next(iter(errs.values()))
        add("rejects-valid", f"{e.error}|{_norm(e.message)}", f"all backends raised {e.error}: {e.message}")
    bad, dts = {}, {}
    for be, o in oks.items():
        dt = _dtype_diff(o.values, ref.values)
        if dt:  # computed in another precision: the values are not comparable at torch's tolerance
            dts.setdefault(dt, []).append(be)
            continue
        why = _diff(case, call, o.values, ref.values)
        if why:
            bad[be] = why
    if bad:
        dt = "/".join(str(v.dtype).removeprefix("torch.") for v in ref.values)
        nan = "nan" if any("NaN" in w for w in bad.values()) else "value"
        add("wrong", f"{'+'.join(sorted(bad))}|L{case.level}|{dt}|{nan}",
            "; ".join(f"{be}: {w}" for be, w in bad.items()))
    for dt, bes in dts.items():
        add("dtype", f"{'+'.join(sorted(bes))}|L{case.level}|{dt}", f"{', '.join(bes)}: result dtype {dt} (got vs torch)")
    _vs_eager(case, call, oks, add, set(bad) | {b for v in dts.values() for b in v})
    return found


def _vs_eager(case: Case, call, oks: dict, add, flagged: set) -> None:
    """ir and triton against eager, the oracle: same dtypes, values within `VS_EAGER` (backends
    the torch oracle already flagged are not reported twice)."""
    if "eager" not in oks:
        if "eager" not in backends():
            _cross_check(case, call, oks, add)
        return
    want = oks["eager"].values
    for be, o in oks.items():
        if be == "eager" or be in flagged:
            continue
        if len(o.values) != len(want):
            why = f"{len(o.values)} results vs {len(want)}"
        elif any(g.dtype != w.dtype for g, w in zip(o.values, want)):
            why = "result dtype " + "/".join(str(g.dtype).removeprefix("torch.") for g in o.values) + " vs " + \
                "/".join(str(w.dtype).removeprefix("torch.") for w in want)
            add("dtype-vs-eager", f"{be}|L{case.level}|{why}", f"{be}: {why} (eager)")
            continue
        else:
            why = next((w for w in (compare(g, e, vs_eager_tol(be, g, e)) for g, e in zip(o.values, want)) if w), None)
        if why:
            dt = "/".join(str(v.dtype).removeprefix("torch.") for v in want)
            nan = "nan" if "NaN" in why else "value"
            add("wrong", f"{be}|L{case.level}|{dt}|{nan}|vs-eager", f"{be} vs eager: {why}")


def vs_eager_tol(be: str, got: torch.Tensor, want: torch.Tensor) -> float:
    tol = VS_EAGER.get(str(want.dtype).removeprefix("torch."), 0.0)
    return tol * (TRITON_FACTOR if be == "triton" else 1.0)


def _dtype_diff(got: tuple, want: tuple) -> str | None:
    """Result dtypes that differ from torch's (tiledsl's argmax/argmin give int32 by design)."""
    for g, w in zip(got, want):
        if g.dtype != w.dtype and not (w.dtype == torch.int64 and g.dtype == torch.int32):
            return f"{str(g.dtype).removeprefix('torch.')} vs {str(w.dtype).removeprefix('torch.')}"
    return None


def _diff(case: Case, call, got: tuple, want: tuple) -> str | None:
    if len(got) != len(want):
        return f"{len(got)} results vs {len(want)}"
    tol = tolerance(case, call, want)
    for g, w in zip(got, want):
        why = compare(g, w, tol)
        if why:
            return why
    return None


def _cross_check(case: Case, call, oks: dict, add) -> None:
    """Without an oracle, the backends must still agree with each other."""
    items = list(oks.items())
    for (b1, o1), (b2, o2) in zip(items, items[1:]):
        why = _diff(case, call, o2.values, o1.values)
        if why:
            add("backends-differ", f"{b1}+{b2}|L{case.level}", f"{b2} vs {b1}: {why}")


def describe(case: Case, findings: list[Finding]) -> str:
    """A readable report of a failing case."""
    lines = [f.text for f in findings]
    lines += ["--- kernel ---", case.source, "--- oracle ---", case.ref, "--- calls ---"]
    lines += [f"{i}: args={c.args} kwargs={c.kwargs}" for i, c in enumerate(case.calls)]
    return "\n".join(lines)


def check_case_dict(d: dict) -> None:
    """Assert that a stored case (a regression file's) runs the same on every backend and the oracle."""
    case = Case.from_dict(d)
    findings, _ = check_case(case)
    assert not findings, describe(case, findings)
