"""Knob substitution: the chosen values replace knob names in every type and `Sym` in every attr,
so the scheduled IR has static tile shapes and plain ints where knobs were."""

from __future__ import annotations

from tiledsl.ir.nodes import Block, Function, Inst, Knob, Param, Sym, Type, Value
from tiledsl.ir.ops import Op


class _Subst:
    def __init__(self, values: dict[str, int]):
        self.values = values
        self.cache: dict[str, Value] = {}

    def type(self, t: Type) -> Type:
        if not any(isinstance(d, str) and d in self.values for d in t.shape):
            return t
        return t.with_(shape=tuple(self.values.get(d, d) if isinstance(d, str) else d for d in t.shape))

    def value(self, v: Value) -> Value:
        got = self.cache.get(v.name)
        if got is None:
            got = Value(v.name, self.type(v.type))
            self.cache[v.name] = got
        return got

    def attr(self, a):
        if isinstance(a, Sym):
            return self.values.get(a.name, a)
        if isinstance(a, tuple):
            return tuple(self.attr(x) for x in a)
        return a

    def block(self, b: Block) -> Block:
        return Block(tuple(self.value(a) for a in b.args), tuple(self.inst(i) for i in b.insts))

    def inst(self, i: Inst) -> Inst:
        attrs = tuple((k, self.attr(v)) for k, v in i.attrs)
        knob = i.attr("value")
        if i.op is Op.CONST and isinstance(knob, Sym) and knob.name in self.values:
            attrs += (("knob", knob.name),)  # keeps BM and BN apart (and readable) when both are 128
        return Inst(i.op, tuple(self.value(v) for v in i.results), tuple(self.value(v) for v in i.operands),
                    attrs, tuple(self.block(r) for r in i.regions), i.loc)


def substitute_knobs(fn: Function, values: dict[str, int]) -> Function:
    """`fn` with each knob in `values` fixed (explicit knob values of `fn` are kept as given)."""
    values = {**values, **{k.name: k.value for k in fn.knobs if k.value is not None}}
    s = _Subst(values)
    params = tuple(Param(s.value(p.value), p.kind) for p in fn.params)
    knobs = tuple(Knob(k.name, values.get(k.name, k.value)) for k in fn.knobs)
    attrs = tuple((k, s.attr(v)) for k, v in fn.attrs)
    return Function(fn.name, params, knobs, s.block(fn.body), fn.loc, attrs)
