"""Knob constraints: ``BN: td.constexpr = td.auto(divides=128)`` and the like.

The front end records a constrained knob's constraints on the function as the attr
``knob_constraints``: ``((knob, form, bound), ...)`` with form one of `language.CONSTRAINT_FORMS`
and bound an int or another knob's name. The scheduler enumerates only values that satisfy them
(`allowed`, `combo_ok`); an explicit value that breaks one is an `ArgumentError` (`check`).
"""

from __future__ import annotations

from tiledsl.errors import ArgumentError
from tiledsl.ir.nodes import Function, Knob
from tiledsl.language import knob_constraints, satisfying, violated

__all__ = ["allowed", "attr", "check", "combo_ok", "from_defaults", "of", "satisfying"]

ATTR = "knob_constraints"

Constraints = dict[str, tuple[tuple[str, int | str], ...]]


def from_defaults(params) -> Constraints:
    """Each kernel parameter's constraints, read off its default (a constrained `td.auto`)."""
    return {p.name: c for p in params if (c := knob_constraints(getattr(p, "default", None)))}


def attr(cons: Constraints) -> tuple[tuple[str, tuple], ...]:
    """The function attrs that carry `cons` (none when there are none)."""
    flat = tuple((name, form, bound) for name, cs in cons.items() for form, bound in cs)
    return ((ATTR, flat),) if flat else ()


def of(fn: Function) -> Constraints:
    """The constraints recorded on `fn`."""
    out: dict[str, list] = {}
    for name, form, bound in fn.attr(ATTR, ()) or ():
        out.setdefault(name, []).append((form, bound))
    return {k: tuple(v) for k, v in out.items()}


def check(kernel: str, cons: Constraints, knobs: list[Knob] | tuple[Knob, ...]) -> None:
    """Raise `ArgumentError` for an explicit knob value that breaks its constraint."""
    values = {k.name: k.value for k in knobs if k.value is not None}
    for name, cs in cons.items():
        if name in values:
            why = violated(values[name], cs, values)
            if why:
                spelled = ", ".join(f"{f}={b!r}" for f, b in cs)
                raise ArgumentError(f"{kernel}(): knob {name}={values[name]} {why}: it is declared "
                                    f"td.auto({spelled}); pass a value that does, or leave {name} out")


def allowed(name: str, cons: Constraints, candidates: tuple[int, ...]) -> tuple[int, ...]:
    """The candidates that satisfy `name`'s constraints with int bounds (knob bounds: `combo_ok`).
    When none does, the values in the range the constraints allow that are powers of two."""
    cs = cons.get(name, ())
    if not cs:
        return candidates
    ok = tuple(v for v in candidates if violated(v, cs) is None)
    if ok:
        return ok
    hi = max(candidates)
    more = tuple(1 << i for i in range(0, 14) if violated(1 << i, cs) is None and (1 << i) <= max(hi, 1 << 13))
    return more or candidates  # nothing satisfies: the check of the point reports it


def combo_ok(cons: Constraints, values: dict[str, int]) -> bool:
    """Whether one full assignment satisfies every constraint (including those naming knobs)."""
    return all(violated(values[n], cs, values) is None for n, cs in cons.items() if n in values)

