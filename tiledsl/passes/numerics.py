"""compute_in_f32: transcendentals and sums of 16/8-bit floats compute in f32 and round once.

Torch's rule for a half-precision tensor: ``torch.exp(x_bf16)`` and ``x_bf16.sum()`` compute in
f32 and round the result to bf16 once; plain ``+ - *`` round once per op (already what every op
of the IR does). Backends differ in what they do with an f16/bf16 ``exp`` or ``sum`` (Triton's
interpreter computes in the narrow type, a GPU accumulates a sum chunk by chunk in the accumulator's
dtype), so the rule is written into the IR once, here, and every backend gets it::

    %e = exp %x : tile<bf16[4,64]>
  ->
    %x_f32 = cast %x {dtype=f32} : tile<f32[4,64]>
    %e_f32 = exp %x_f32 : tile<f32[4,64]>
    %e = cast %e_f32 {dtype=bf16} : tile<bf16[4,64]>

The result keeps its name and type, so no use changes. A reduction over all axes of a tile
(``td.sum(t)``, a chain of one-axis reductions marked ``all_axes`` by the front end) stays in f32
from link to link and rounds once, at the end, as torch's ``t.sum()`` does. max/min/argmax/argmin, comparisons,
neg/abs/floor/ceil and ``+ - *`` are exact or already rounded once and are left alone.
"""

from __future__ import annotations

from tiledsl.dtypes import DType
from tiledsl.ir.infer import result_space
from tiledsl.ir.nodes import Block, Function, Inst, Type, Value, walk
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import F32_COMPUTE, REDUCE_KINDS, SCAN_KINDS

# elementwise ops whose f32 result rounded once differs from the op computed in the narrow type
# (declared per op in the op table)
TRANSCENDENTAL = F32_COMPUTE
# reductions and scans by kind: the accumulation is what needs the f32
_SUMS = tuple(k for k, d in REDUCE_KINDS.items() if d.accumulates)
ACCUMULATING = {Op.REDUCE: _SUMS, Op.TILE_REDUCE: _SUMS, Op.SCAN: SCAN_KINDS}


def is_narrow_float(dt: DType) -> bool:
    """f16, bf16 and the fp8 types: computed in f32, rounded once."""
    return dt.is_float and dt.bits < 32


def needs_f32(inst: Inst) -> bool:
    if not inst.operands or len(inst.results) != 1:
        return False
    if not is_narrow_float(inst.operands[0].type.dtype):
        return False
    if inst.op in TRANSCENDENTAL:
        return True
    return inst.attr("kind", "sum") in ACCUMULATING.get(inst.op, ())


def compute_in_f32(fn: Function) -> Function:
    names = {p.value.name for p in fn.params} | {v.name for i in walk(fn.body) for v in i.results}
    names |= {a.name for i in walk(fn.body) for r in i.regions for a in r.args}
    return Function(fn.name, fn.params, fn.knobs, _Rewriter(names).block(fn.body), fn.loc, fn.attrs)


class _Rewriter:
    def __init__(self, names: set[str]):
        self.names = names
        # f32 results of the links of an all-axes reduction (`td.sum(t)`, written by the front end
        # as a chain of one-axis reductions marked all_axes): the next link reads the f32 value,
        # so the whole reduction rounds once, at its end
        self.chain: dict[str, Value] = {}

    def fresh(self, base: str, t: Type) -> Value:
        name, n = base, 0
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return Value(name, t)

    def block(self, b: Block) -> Block:
        out: list[Inst] = []
        for inst in b.insts:
            if inst.regions:
                inst = Inst(inst.op, inst.results, inst.operands, inst.attrs,
                            tuple(self.block(r) for r in inst.regions), inst.loc)
            out.extend(self.rewrite(inst) if needs_f32(inst) else (inst,))
        return Block(b.args, tuple(out))

    def rewrite(self, inst: Inst) -> list[Inst]:
        casts, wide = [], []
        chained = bool(inst.attr("all_axes"))
        for v in inst.operands:
            if chained and v.name in self.chain:
                wide.append(self.chain[v.name])
                continue
            w = self.fresh(f"{v.name}_f32", Type(DType.f32, v.type.shape, result_space([v.type])))
            casts.append(Inst(Op.CAST, (w,), (v,), (("dtype", DType.f32),), (), inst.loc))
            wide.append(w)
        r = inst.result
        r32 = self.fresh(f"{r.name}_f32", r.type.with_(dtype=DType.f32))
        op32 = Inst(inst.op, (r32,), tuple(wide), inst.attrs, (), inst.loc)
        back = Inst(Op.CAST, (r,), (r32,), (("dtype", r.type.dtype),), (), inst.loc)
        if chained:  # the rounded `r` stays for other uses; cleanup drops it when the chain was its only one
            self.chain[r.name] = r32
        return [*casts, op32, back]
