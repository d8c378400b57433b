"""A kernel call's arguments bound to its parameters, and the IR built for them.

`source.bind_params` maps a call (or a @td.func call) onto the parameters; `build_function` makes
the parameters, knobs and environment, lowers the body with `lower._Lowerer`, and checks that the
kernel does something (returns, or writes memory).
"""

from __future__ import annotations

from tiledsl.dtypes import DType
from tiledsl.errors import ArgumentError, FrontendError
from tiledsl.frontend.lower import _Lowerer
from tiledsl.frontend.source import KernelSource
from tiledsl.frontend.values import KnobRef, describe, is_const
from tiledsl.ir.dims import size_sym
from tiledsl.ir.nodes import Block, Function, Knob, Loc, Param, ParamKind, Space, Type, Value
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import written
from tiledsl.schedule import constraints, roles
from tiledsl.specs import ScalarSpec, TensorSpec


def build_function(src: KernelSource, bound: dict, knob_values: dict | None = None) -> Function:
    """The IR of `src` for the bound arguments (specs, numbers, dtypes, `td.auto`)."""
    from tiledsl import language as L
    from tiledsl.specs import spec as to_spec

    low = _Lowerer(src)
    params: list[Param] = []
    knobs: list[Knob] = []
    env: dict = {}
    for p in src.params:
        arg = bound[p.name]
        if p.kind == "constexpr" or (p.kind == "any" and (L.is_auto(arg) or isinstance(arg, (DType, KnobRef)))):
            if L.is_auto(arg):
                knobs.append(Knob(p.name, None))
                env[p.name] = KnobRef(p.name)
            elif isinstance(arg, int) and not isinstance(arg, bool):
                knobs.append(Knob(p.name, arg))
                env[p.name] = arg
            elif is_const(arg):
                env[p.name] = arg
            else:
                raise ArgumentError(f"{src.name}(): constexpr {p.name!r} must be an int, float, bool, "
                                    f"dtype or td.auto, got {type(arg).__name__}")
            low.builder.reserve(p.name)
            continue
        s = to_spec(arg) if not isinstance(arg, (TensorSpec, ScalarSpec)) else arg
        if p.kind == "tensor" and not isinstance(s, TensorSpec):
            raise ArgumentError(f"{src.name}(): parameter {p.name!r} is a td.Tensor but got {describe(arg)}")
        if p.kind == "scalar" and not isinstance(s, ScalarSpec):
            raise ArgumentError(f"{src.name}(): parameter {p.name!r} is a number but got a tensor")
        if isinstance(s, TensorSpec):
            dims = tuple(1 if d == 1 else size_sym(p.name, i) for i, d in enumerate(s.shape))
            # the call's sizes: two runtime sizes that must agree but differ are an error now
            low.builder.unifier.sizes.update({size_sym(p.name, i): d for i, d in enumerate(s.shape)
                                              if isinstance(d, int)})
            v = Value(p.name, Type(s.dtype, dims, Space.GLOBAL))
            params.append(Param(v, ParamKind.TENSOR))
        else:
            v = Value(p.name, Type(s.dtype))
            params.append(Param(v, ParamKind.SCALAR))
            if s.dtype is DType.f64:  # a Python float: f64, weakly typed (`_Lowerer.is_weak`)
                low.weak.add(v.name)
        low.builder.reserve(p.name)
        env[p.name] = v
    for name, value in (knob_values or {}).items():
        if any(k.name == name for k in knobs):
            knobs = [Knob(k.name, value) if k.name == name else k for k in knobs]
        elif name == "num_warps":
            pass
        else:
            raise ArgumentError(f"{src.name}(): unknown knob {name!r}")
    knobs.append(Knob("num_warps", (knob_values or {}).get("num_warps")))
    cons = constraints.from_defaults(src.params)  # td.auto(divides=...) and the like
    constraints.check(src.name, cons, knobs, _param_locs(src))
    low.env = env
    low.knobs = knobs
    low.emit_dims(params)
    low.run()
    _check_effect(low)
    attrs = constraints.attr({**cons, **low.knob_constraints}) + roles.attr(_declared_roles(src, knobs))
    if low.builder.unifier.assumptions:
        attrs += (("assume", tuple(sorted(low.builder.unifier.assumptions))),)
    return Function(src.name, tuple(params), tuple(low.knobs), Block((), low.builder.top()),
                    src.loc(src.tree), attrs)


def _param_locs(src: KernelSource) -> dict[str, Loc]:
    """Each parameter's kernel source line (where its default, a constrained `td.auto`, is)."""
    args = src.tree.args
    return {a.arg: src.loc(a) for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}


# The language's rule for a knob the program uses only in scalar arithmetic (a grid size, a loop
# bound): its name says what it is for (``GROUP_*``, ``SPLIT_*``, ``STAGES``; the scheduler's
# error for an unplaceable knob says so). Declared here, on the IR (attr ``knob_roles``), so the
# scheduler reads roles and never names.
_ROLE_BY_PREFIX = (("GROUP", roles.GROUP), ("SPLIT", roles.SPLIT), ("STAGES", roles.STAGES),
                   ("NUM_STAGES", roles.STAGES))


def _declared_roles(src: KernelSource, knobs: list[Knob]) -> dict[str, str]:
    """The roles the kernel's own knobs declare by their names."""
    params = {p.name for p in src.params}
    out = {}
    for k in knobs:
        role = next((r for prefix, r in _ROLE_BY_PREFIX if k.name.upper().startswith(prefix)), None)
        if k.name in params and role is not None:
            out[k.name] = role
    return out


def _has_effect(block) -> bool:
    for inst in block.insts:
        dst = written(inst)  # which ops write memory: the op table's effects (a copy counts
        # when it writes a tensor; a store or atomic wherever it writes, as before)
        if inst.op is Op.RETURN or (dst is not None and (dst.type.space is Space.GLOBAL or inst.op is not Op.COPY)):
            return True
        if any(_has_effect(r) for r in inst.regions):
            return True
    return False


def _check_effect(low: _Lowerer) -> None:
    """A kernel that neither returns nor writes memory computes nothing anyone can see."""
    if not _has_effect(Block((), low.builder.top())):
        raise low.error(FrontendError, f"kernel {low.src.name}() has no effect: it returns nothing and writes "
                        "no tensor", "return the result (level 1: `return x + y`) or write it with "
                        "td.store / td.copy / td.atomic_* (level 2)", node=low.src.tree)
