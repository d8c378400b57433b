"""Knob constraints: ``BN: td.constexpr = td.auto(divides=128)`` and the like.

The front end records a constrained knob's constraints on the function as the attr
``knob_constraints``: ``((knob, form, bound), ...)`` with form one of `language.CONSTRAINT_FORMS`
and bound an int or another knob's name. The scheduler enumerates only values that satisfy them
(`allowed`, `combo_ok`); an explicit value that breaks one is an `ArgumentError` (`check`).
"""

from __future__ import annotations

import linecache
import math

from tiledsl.errors import ArgumentError
from tiledsl.ir.nodes import Function, Knob, Loc
from tiledsl.language import knob_constraints, satisfying, violated

__all__ = ["allowed", "allowed_values", "attr", "check", "combo_ok", "from_defaults", "of", "satisfying"]

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


def check(kernel: str, cons: Constraints, knobs: list[Knob] | tuple[Knob, ...],
          declared: dict[str, Loc] | None = None) -> None:
    """Raise `ArgumentError` for an explicit knob value that breaks its constraint; the hint lists
    the values the constraints allow and where they are declared (`declared`: parameter -> the
    kernel source line of its ``td.auto(...)``)."""
    values = {k.name: k.value for k in knobs if k.value is not None}
    for name, cs in cons.items():
        if name in values:
            why = violated(values[name], cs, values)
            if why:
                spelled = ", ".join(f"{f}={b!r}" for f, b in cs)
                raise ArgumentError(f"{kernel}(): knob {name}={values[name]} {why}: it is declared "
                                    f"td.auto({spelled}); pass a value that does, or leave {name} out",
                                    hint=_hint(name, cs, values, (declared or {}).get(name)))


MAX_LISTED = 16  # allowed values spelled out in a hint


def allowed_values(cs, knobs: dict[str, int]) -> tuple[tuple[int, ...], bool]:
    """The positive values meeting `cs` (bounds naming a knob: its value in `knobs`), the first
    `MAX_LISTED` of them, and whether there are more (no upper bound, or a long range)."""
    bounds = [(f, b if isinstance(b, int) else knobs.get(b)) for f, b in cs]
    bounds = [(f, b) for f, b in bounds if b is not None]
    divides = [b for f, b in bounds if f == "divides"]
    if divides:  # the divisors of their gcd, in order
        g = math.gcd(*divides)
        small = [d for d in range(1, math.isqrt(g) + 1) if g % d == 0]
        candidates = iter(sorted(set(small + [g // d for d in small])))
    else:
        lo = max([1] + [b for f, b in bounds if f in ("min", "multiple_of")])
        step = math.lcm(*[b for f, b in bounds if f == "multiple_of"] or [1])
        hi = min((b for f, b in bounds if f == "max"), default=None)
        candidates = iter(range(-(-lo // step) * step, (hi or 1 << 62) + 1, step))
    found = [v for v in candidates if violated(v, bounds) is None][:MAX_LISTED + 1] if divides else []
    if not divides:
        for v in candidates:
            if violated(v, bounds) is None:
                found.append(v)
                if len(found) > MAX_LISTED:
                    break
    unbounded = not divides and not any(f == "max" for f, _ in bounds)
    return tuple(found[:MAX_LISTED]), len(found) > MAX_LISTED or (unbounded and bool(found))


def _hint(name: str, cs, knobs: dict[str, int], where: Loc | None) -> str:
    ok, more = allowed_values(cs, knobs)
    if not ok:
        values = f"no value of {name} meets these constraints"
    elif more and all(b - a == 1 for a, b in zip(ok, ok[1:])):
        values = f"{name} may be any value >= {ok[0]}"
    else:
        values = f"{name} may be {', '.join(map(str, ok))}" + (", ..." if more else "")
    if where is not None:
        line = linecache.getline(where.file, where.line).strip().rstrip(",")
        values += f"; the constraint is declared at {where.file}:{where.line}" + (f" (`{line}`)" if line else "")
    return values + f"; or leave {name} out and the scheduler picks a value that meets it"


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

