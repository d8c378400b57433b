"""Window axes that provably stay inside their tensor for the shapes a kernel is compiled for.

A load or store of a window masks each axis with ``index < size`` (and ``index >= 0`` unless
the ``nonneg`` fact of `analyses` covers it), which is right for every call. A compiled kernel is
keyed by its tensors' exact shapes (`tiledsl.runtime.args.compile_key`), so the sizes in the
call's specs are facts of the code the backend writes: where an axis's largest index is below
the size for those shapes, the ``index < size`` term can never be false and a backend may drop
it. The block-scaled FP8 GEMM reads its scales at ``(row, k)`` and ``(j * BN // 128, k)`` with
``k < cdiv(K, 128)`` and scale tensors of ``cdiv`` shape: no scale index leaves the tensor, yet
the masks cost instructions in the main loop (the hand-written kernel has none).

The largest value of each integer scalar is found by one walk, one rule per op, over values
`analyses.nonneg` knows to be >= 0 (so no rule meets a negative operand): constants, tensor
sizes from the specs (never an integer argument's value: that is not part of the compile key),
sums, products, floor division and remainder by positive constants, minimum and maximum, widening
casts, program ids (``< grid size``) and loop counters (``< stop`` for a positive constant
step). A result that could pass its dtype's largest value is left unknown (it could wrap).

`in_bounds(fn, specs)` -> the (access key, axis) pairs; `access_key` names an access: a LOAD or
ATOMIC by its result, a STORE as ``store <n>`` (n counting stores in program order).
"""

from __future__ import annotations

from collections.abc import Callable

from tiledsl.ir.dims import size_sym
from tiledsl.ir.nodes import Block, Function, Inst, Sym, walk
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import access_of
from tiledsl.passes.analyses import nonneg, wrap_int

Bounds = dict[str, int]  # value name -> its largest value


def access_keys(fn: Function) -> dict[int, str]:
    """``id(inst)`` -> the key `in_bounds` gives each LOAD, STORE and ATOMIC of a global tensor."""
    keys: dict[int, str] = {}
    stores = 0
    for inst in walk(fn.body):
        if inst.op is Op.STORE:
            keys[id(inst)] = f"store {stores}"
            stores += 1
        elif inst.op in (Op.LOAD, Op.ATOMIC) and inst.results:
            keys[id(inst)] = inst.result.name
    return keys


def _dtype_max(inst: Inst) -> int:
    dt = inst.result.type.dtype
    return (1 << (dt.bits - 1)) - 1 if dt.value.startswith("i") else (1 << dt.bits) - 1


def _known(inst: Inst, hi: Bounds) -> list[int] | None:
    vals = [hi.get(v.name) for v in inst.operands]
    return None if any(v is None for v in vals) else vals


def _const(inst: Inst, hi: Bounds) -> int | None:
    v = inst.attr("value")
    if isinstance(v, bool) or not isinstance(v, int):
        return None
    return wrap_int(v, inst.result.type.dtype)


def _positive_const(v, consts: dict[str, int]) -> int | None:
    c = consts.get(v.name)
    return c if c is not None and c > 0 else None


def _sum(inst: Inst, hi: Bounds) -> int | None:
    vals = _known(inst, hi)
    return None if vals is None else sum(vals)


def _product(inst: Inst, hi: Bounds) -> int | None:
    vals = _known(inst, hi)
    if vals is None:
        return None
    out = 1
    for v in vals:
        out *= v
    return out


def _minimum(inst: Inst, hi: Bounds) -> int | None:
    vals = [hi[v.name] for v in inst.operands if v.name in hi]
    return min(vals) if vals else None


def _maximum(inst: Inst, hi: Bounds) -> int | None:
    vals = _known(inst, hi)
    return None if vals is None else max(vals)


def _first(inst: Inst, hi: Bounds) -> int | None:
    return hi.get(inst.operands[0].name)


_RULES: dict[Op, Callable[[Inst, Bounds], int | None]] = {
    Op.CONST: _const, Op.ADD: _sum, Op.MUL: _product, Op.MINIMUM: _minimum, Op.MAXIMUM: _maximum,
    Op.CAST: _first,  # only casts `nonneg` trusts (no wrap) reach here
}


class _Walk:
    """The largest values of one function's non-negative integer scalars (module docstring)."""

    def __init__(self, fn: Function, sizes: dict[str, tuple[int, ...]]):
        self.sizes = sizes
        self.nonneg = nonneg(fn)
        self.hi: Bounds = {}
        self.consts: dict[str, int] = {}

    def block(self, block: Block) -> None:
        for inst in block.insts:
            self.inst(inst)
            if inst.op is Op.GRID:
                for arg, dim in zip(inst.regions[0].args, inst.operands):
                    self._set(arg.name, self.hi.get(dim.name), -1)
            elif inst.op is Op.FOR and inst.regions:
                stop, step = inst.operands[1], inst.operands[2]
                if _positive_const(step, self.consts) is not None:
                    self._set(inst.regions[0].args[0].name, self.hi.get(stop.name), -1)
            for region in inst.regions:
                self.block(region)

    def _set(self, name: str, value: int | None, add: int = 0) -> None:
        if value is not None and name in self.nonneg:
            self.hi[name] = max(value + add, 0)

    def inst(self, inst: Inst) -> None:
        if len(inst.results) != 1 or inst.result.type.rank != 0 or not inst.result.type.dtype.is_int:
            return
        name = inst.result.name
        if inst.op is Op.CONST and (c := _const(inst, self.hi)) is not None:
            self.consts[name] = c
        value = self._value(inst)
        if value is not None and value <= _dtype_max(inst):
            self._set(name, value)

    def _value(self, inst: Inst) -> int | None:
        if inst.op is Op.DIM:
            shape = self.sizes.get(inst.operands[0].name)
            return shape[inst.attr("axis")] if shape is not None else None
        if inst.op in (Op.FLOORDIV, Op.MOD):
            a, b = inst.operands
            c = _positive_const(b, self.consts)
            if c is None:
                return None
            if inst.op is Op.MOD:  # of a non-negative value (else the result is not tracked)
                return min(self.hi.get(a.name, c - 1), c - 1)
            return self.hi[a.name] // c if a.name in self.hi else None
        rule = _RULES.get(inst.op)
        return rule(inst, self.hi) if rule is not None else None


def tensor_shapes(fn: Function, specs) -> dict[str, tuple[int, ...]]:
    """Param value name -> its concrete shape: the spec's for the params the specs cover, else
    the type's (sizes named after another param's axes, as outputs' are, resolved through them)."""
    named: dict[str, int] = {}
    out: dict[str, tuple[int, ...]] = {}
    for p, s in zip(fn.params, specs or ()):
        shape = getattr(s, "shape", None)
        if shape is not None and len(shape) == p.value.type.rank:
            out[p.value.name] = tuple(int(d) for d in shape)
            named.update({size_sym(p.value.name, i): int(d) for i, d in enumerate(shape)})
    for p in fn.params:
        if p.value.name in out or not p.value.type.rank:
            continue
        dims = [d if isinstance(d, int) else named.get(str(d)) for d in p.value.type.shape]
        if all(isinstance(d, int) for d in dims):
            out[p.value.name] = tuple(dims)
    return out


def in_bounds(fn: Function, specs) -> frozenset[tuple[str, int]]:
    """(access key, axis) for every window axis whose last index is below the tensor's size for
    these specs (no specs: nothing is known)."""
    if not specs:
        return frozenset()
    shapes = tensor_shapes(fn, specs)
    w = _Walk(fn, shapes)
    w.block(fn.body)
    knobs = {k.name: k.value for k in fn.knobs if k.value is not None}
    keys = access_keys(fn)
    out: set[tuple[str, int]] = set()
    for inst in walk(fn.body):
        acc = access_of(inst) if id(inst) in keys else None
        shape = shapes.get(acc.tensor.name) if acc is not None else None
        if shape is None:
            continue
        window = tuple(acc.shape) if acc.shape is not None else (None,) * len(acc.offsets)
        for ax, (off, d) in enumerate(zip(acc.offsets, window)):
            d = knobs.get(d.name) if isinstance(d, Sym) else d
            top = w.hi.get(off.name) if off.type.rank == 0 else None
            if top is not None and (d is None or isinstance(d, int)) and top + (d or 1) <= shape[ax]:
                out.add((keys[id(inst)], ax))
    return frozenset(out)
