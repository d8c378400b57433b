"""The legality pass: a kernel checked against its backend's capability record
(`tiledsl.capabilities`) before any scheduling work.

One rule per op says, for a record, whether the inst is something that backend can take; one
more rule covers every tile-valued result (power-of-two tile sizes where the record demands them).
The first construct the backend cannot take raises `CapabilityError`: the construct as the user
wrote it, its kernel line, why, and the backends whose records take it (the same rule asked of
every other record), so the hint never points at a backend that would refuse it too.

`run_pipeline` runs it on the front end's IR (tile shapes may still name knobs: those with values
are resolved, auto ones are left to the cost model, which reads the same record). The backends run
the same check on the scheduled IR they are given, so hand-built IR meets the same rules and the
same error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tiledsl.capabilities import RECORDS, Capabilities, capabilities
from tiledsl.dtypes import PUBLIC_NAME, DType
from tiledsl.errors import CapabilityError
from tiledsl.ir.nodes import Function, Inst, Loc, walk
from tiledsl.ir.ops import Group, Op
from tiledsl.passes.registry import register

_LABEL = {"triton": "the Triton backend", "tilelang": "the TileLang backend", "ir": "the IR interpreter",
          "eager": "eager mode"}
_THREAD_NAMES = {Op.THREADS: "td.threads", Op.ALLOC_LOCAL: "td.alloc_local", Op.SHUFFLE: "td.shfl_*",
                 Op.BARRIER: "td.barrier", Op.LAYOUT: "td.annotate_layout",
                 Op.WARP_ROLE: "td.producer/td.consumer"}
_SHORT = {"triton": "Triton", "tilelang": "TileLang"}
_DOT_NAME = {"triton": "Triton's tl.dot", "tilelang": "TileLang's T.gemm"}


@dataclass(frozen=True)
class Facts:
    """What the rules need besides the inst: knob values known now, and the names of values that
    some inst uses."""

    knobs: dict[str, int]
    used: frozenset[str]


# A rule returns (construct, reason) when `caps` cannot take the inst, else None.
Rule = Callable[[Inst, Capabilities, Facts], "tuple[str, str] | None"]


def label(caps: Capabilities) -> str:
    return _LABEL.get(caps.name, f"the {caps.name} backend")


def _public(dt: DType) -> str:
    return PUBLIC_NAME[dt]


def _thread(inst: Inst, caps: Capabilities, facts: Facts):
    if caps.thread_level:
        return None
    what = _THREAD_NAMES.get(inst.op, inst.op.ir_name)
    return (f"{what} (a thread-level, level 3, construct)",
            f"{label(caps)} has no thread level and cannot express it")


def _reduce(inst: Inst, caps: Capabilities, facts: Facts):
    kind = inst.attr("kind")
    if kind in caps.reduce_kinds:
        return None
    return (f"td.{kind} (a {kind} reduction)",
            f"{label(caps)} has no {kind} reduction (it has {', '.join(sorted(caps.reduce_kinds))})")


def _scan(inst: Inst, caps: Capabilities, facts: Facts):
    kind = inst.attr("kind", "sum")
    if kind in caps.scan_kinds:
        return None
    what = "td.cumsum" if kind == "sum" else f"a {kind} scan"
    return what, f"{label(caps)} scans only with {', '.join(sorted(caps.scan_kinds))}"


def _atomic(inst: Inst, caps: Capabilities, facts: Facts):
    kind, dst = inst.attr("kind"), inst.operands[0]
    dt = dst.type.dtype
    name = f"td.atomic_{kind}"
    if kind not in caps.atomics:
        have = ", ".join(f"atomic_{k}" for k in sorted(caps.atomics)) or "none"
        return name, f"{label(caps)} has no atomic_{kind} (it has {have})"
    if dt not in caps.atomics[kind]:
        ok = ", ".join(sorted(_public(d) for d in caps.atomics[kind]))
        # a record with a narrower CPU table speaks of its GPU build here (the CPU one is checked
        # when the kernel is asked to run on CPU tensors)
        who = f"{_SHORT.get(caps.name, caps.name)} for GPUs" if caps.atomics_cpu is not None else label(caps)
        return f"{name} on {_public(dt)} tensors", f"{who} does atomic_{kind} on {ok} only"
    if dst.type.space.is_buffer and not caps.buffer_atomics:
        return (f"{name} on an on-chip buffer",
                f"{label(caps)} keeps buffers as tile values, with no addresses to update")
    res = inst.results[0] if inst.results else None
    if (res is not None and res.type.space.is_tile_like and res.name in facts.used
            and not caps.tile_atomic_results):
        return (f"a tile {name} whose old values are used",
                f"{label(caps)}'s tile atomics return no old values")
    return None


def _dot(inst: Inst, caps: Capabilities, facts: Facts):
    for x in inst.operands[:2]:
        if x.type.dtype not in caps.dot_dtypes:
            dt = _public(x.type.dtype)
            which = _DOT_NAME.get(caps.name, f"{label(caps)}'s dot")
            takes = ", ".join(sorted(_public(d) for d in caps.dot_dtypes))
            what = "td.dot" if inst.op is Op.DOT else "@ (matmul)"
            return f"{what} on {dt} operands", f"{which} does not take {dt} operands (it takes {takes})"
    return None


_RULES: dict[Op, Rule] = {
    **{op: _thread for op in Op if op.group is Group.THREAD},
    Op.REDUCE: _reduce, Op.TILE_REDUCE: _reduce, Op.SCAN: _scan, Op.ATOMIC: _atomic,
    Op.DOT: _dot, Op.MATMUL: _dot,
}


def known_dims(shape: tuple, knobs: dict[str, int]) -> tuple:
    """The tile shape with the knobs that have values resolved (auto knobs and sizes stay names)."""
    return tuple(knobs.get(d, d) if isinstance(d, str) else d for d in shape)


def _tiles(inst: Inst, caps: Capabilities, facts: Facts):
    """Tile-valued results with a known size the backend cannot hold (sizes still auto are the
    cost model's, which reads the same record)."""
    for v in inst.results:
        if not v.type.space.is_tile_like:
            continue
        dims = known_dims(v.type.shape, facts.knobs)
        if not caps.takes_tile(tuple(d for d in dims if isinstance(d, int))):
            shown = "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"
            return (f"a tile of shape {shown}",
                    f"{label(caps)} needs every tile dimension to be a power of two")
    return None


def problem(inst: Inst, caps: Capabilities, facts: Facts) -> tuple[str, str] | None:
    """(construct, reason) when `caps` cannot take `inst`, else None."""
    rule = _RULES.get(inst.op)
    return (rule(inst, caps, facts) if rule is not None else None) or _tiles(inst, caps, facts)


def takers(inst: Inst, facts: Facts, but: str) -> tuple[str, ...]:
    """The backends (other than `but`) whose records take `inst`."""
    return tuple(c.name for c in RECORDS.values() if c.name != but and problem(inst, c, facts) is None)


def takers_hint(names: tuple[str, ...]) -> str:
    if not names:
        return "no backend takes it: change the construct (docs/language.md lists what each backend takes)"
    return "backends that take it: " + ", ".join(f"backend='{n}' (on {RECORDS[n].where})" for n in names)


def unsupported(construct: str, reason: str, caps: Capabilities, loc: Loc | None, fn_name: str,
                names: tuple[str, ...]) -> CapabilityError:
    """The one error every capability refusal raises."""
    where = f"at line {loc.line} of {fn_name}" if loc is not None else f"in {fn_name}"
    return CapabilityError(f"{construct} {where}: {reason}", loc, takers_hint(names),
                           construct=construct, backend=caps.name, takers=names)


def facts_of(fn: Function) -> Facts:
    knobs = {k.name: k.value for k in fn.knobs if k.value is not None}
    used = frozenset(v.name for inst in walk(fn.body) for v in inst.operands)
    return Facts(knobs, used)


def check(fn: Function, backend: str | Capabilities) -> None:
    """Raise `CapabilityError` for the first construct of `fn` the backend cannot take."""
    caps = backend if isinstance(backend, Capabilities) else capabilities(backend)
    facts = facts_of(fn)
    for inst in walk(fn.body):
        found = problem(inst, caps, facts)
        if found is not None:
            raise unsupported(*found, caps, inst.loc, fn.name, takers(inst, facts, caps.name))


@register
@dataclass(frozen=True)
class CheckLegality:
    """The kernel against `backend`'s capability record; the function is returned unchanged."""

    name = "check_legality"
    backend: str = "ir"

    def __call__(self, fn: Function, ctx) -> Function:
        check(fn, self.backend)
        return fn
