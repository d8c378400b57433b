"""Atomics: which element dtypes Triton can do each kind on, per build, and their emission.

Measured with Triton 3.9 (ahead-of-time compiles for sm_90, and runs in its interpreter); the
tables are Triton's capability record (`tiledsl.capabilities.TRITON`) and docs/language.md
"Atomics by backend". A GPU build that cannot do an atomic raises
`BackendError` at lowering; an interpreter build records the error (`Gen.refusal`), raised by
`Backend.execute` when it is asked to run on CPU tensors, since the GPU build may be fine.
"""

from __future__ import annotations

from tiledsl.capabilities import TRITON
from tiledsl.dtypes import DType
from tiledsl.ir.nodes import Inst, Space
from tiledsl.passes import legality

from .codegen import Gen

_XCHG_BITS = {DType.f32: ("tl.int32", "tl.float32"), DType.f64: ("tl.int64", "tl.float64")}


def check(g: Gen, inst: Inst, kind: str, dt: DType) -> bool:
    """True when this build can do the atomic. The GPU build's table is Triton's capability record
    (`capabilities.TRITON.atomics`), which the legality pass checked before scheduling; an
    interpreter build has a narrower one (`atomics_cpu`): it records the refusal, raised when it is
    asked to run (the GPU build of the same kernel may be fine, e.g. a bf16 atomic_add)."""
    table = TRITON.atomics_cpu if g.interpret else TRITON.atomics
    if dt in table.get(kind, ()):
        return True
    ok = ", ".join(sorted(d.value for d in table.get(kind, ())))
    facts = legality.facts_of(g.fn)
    err = legality.unsupported(
        f"td.atomic_{kind} on {dt.value} tensors",
        f"atomics on {dt.value} tensors do not run in Triton's interpreter (CPU tensors), which does "
        f"atomic_{kind} on {ok} only" if g.interpret else
        f"Triton does atomic_{kind} on {ok} only", TRITON, inst.loc, g.fn.name,
        legality.takers(inst, facts, "triton"))
    if not g.interpret:
        raise err
    g.refusal = g.refusal or err
    return False


def emit(g: Gen, inst: Inst, name: str, ptr: str, value, mask_name: str | None) -> None:
    """``name = tl.atomic_<kind>(ptr, value, mask=...)``; in interpreter builds an f32/f64
    exchange goes through the bits as ints (the interpreter's xchg takes no floats)."""
    kind, dt = inst.attr("kind"), inst.operands[0].type.dtype
    tail = "" if mask_name is None else f", mask={mask_name}"
    if g.interpret and kind == "xchg" and dt in _XCHG_BITS:
        ity, fty = _XCHG_BITS[dt]
        bits = g.fresh(f"{name}_bits")
        value_bits = f"{_atom_text(g.ref(value, True))}.to({ity}, bitcast=True)"
        g.line(f"{bits} = tl.atomic_xchg(({ptr}).to(tl.pointer_type({ity}), bitcast=True), "
               f"{value_bits}{tail})", inst.loc)
        old = f"{bits}.to({fty}, bitcast=True)"
        g.line(f"{name} = {old if mask_name is None else f'tl.where({mask_name}, {old}, 0.0)'}",
               inst.loc)
        return
    if inst.result.type.space is Space.SCALAR:
        # the language's memory order (docs/language.md "Memory order"): a scalar atomic of a tile
        # program orders every write the program made before it, by any of its threads, before
        # itself. Triton issues it from one thread with acq_rel at GPU scope and hands its result to
        # the others through shared memory behind a barrier (the acquire side); the barrier here is
        # the release side, stated rather than left to Triton's shared-memory barrier placement.
        g.line("tl.debug_barrier()", inst.loc)
        tail += ', sem="acq_rel", scope="gpu"'
    g.line(f"{name} = tl.atomic_{kind}({ptr}, {g.ref(value)}{tail})", inst.loc)
    if mask_name is not None:  # the language gives masked-off lanes 0 as their old value; Triton leaves garbage
        g.line(f"{name} = tl.where({mask_name}, {name}, 0)", inst.loc)


def _atom_text(text: str) -> str:
    return text if text.isidentifier() else f"({text})"
