"""Analyses of scheduled IR, run as the last scheduling passes; their results are attributes of
the function, so the IR dump (`print_ir`, ``CompiledKernel.code("scheduled")``) shows them and every
reader (both backends, the tests) takes the same facts rather than deriving its own:

- ``nonneg``: the integer values known to be >= 0 (program ids, sizes, sums and products of
  such...): masks drop the ``>= 0`` half and ``//`` / ``%`` use C-style operators on them (equal to
  Python's on non-negative ints). Index arithmetic is in the IR's i32 (a DIM is i32), so sums and
  products of non-negative indices stay below 2**31 as long as sizes do; casts that can wrap and
  ``abs`` (of INT_MIN) are not trusted.
- ``divisors``: (value, d) pairs for integer scalars that d provably divides (0: the value is 0);
  the TMA plan needs last-axis offsets that are multiples of 16 bytes.
- ``shared``: the loads placed in shared memory because they feed a dot (directly or through
  casts and transposes, `tiledsl.ir.placement`, the rule the cost model prices): the TileLang
  lowering loads them straight into shared buffers.
- ``in_place``: the dots (result names) that may accumulate into their accumulator's storage
  (TileLang's ``T.gemm(a, b, acc)`` without a copy): the accumulator is a buffer the result is
  copied straight back into (``buf += dot``, as `fuse_dot_acc` made it), or a value nothing reads
  after the dot, defined in the same loop iteration as the dot (an accumulator defined before a
  loop and summed into inside it is read again by the next iteration).

- ``tma``: (access, alignment) pairs for the global reads a bulk tensor copy (Hopper's TMA) could
  move: inside a pipelined loop (a FOR with ``stages``), of a tensor the kernel never writes, an
  unmasked window with zero padding, rank 2 or 3, scalar integer offsets of at most 32 bits and a
  static window; `alignment` is the known byte divisor of the last-axis offset (0: the offset is
  0). The access is a LOAD's result name, or ``copy <n>`` for the n-th COPY (no result). Which of
  them a backend moves through descriptors (dtypes, box limits, its offset alignment rule) is the
  backend's decision (`tiledsl.lowering.triton.tma.plan`).
- ``tma_store``: (access, alignment) pairs for the epilogue stores a bulk tensor copy could move
  (keyed ``store <n>``, n counting STOREs in program order): a STORE of a whole 2-D tile (no
  user mask, not a broadcast scalar or a row) with the window rules of ``tma``, outside every loop and after
  a pipelined loop (an epilogue: once per program, where the tile leaves the tensor cores' layout
  through shared memory anyway), into a tensor that no other instruction of the kernel reads or
  writes. TMA stores run in the async proxy, which is not ordered with the same program's
  generic-proxy loads and stores of that memory, nor with a second bulk store to it: one
  access per tensor rules both out (`tma_store_sites`). A bulk store drops the elements of its
  box outside the tensor (index < 0 or >= size), exactly the IR's bounds masking of a STORE.

Readers call `nonneg`, `divisors`, `shared_loads`, `in_place`, `tma_candidates` and
`tma_store_candidates`: they return the attribute when the function
carries it (it went through `AnalyzeFacts`) and compute it otherwise (IR built by hand), with the
same code either way.

Before/after (attributes only; the body is unchanged)::

    func @k(%x: global<f32[x.0]>, ...) knobs(BLOCK=128, num_warps=4)
  analyze_facts ->
    func @k(...) knobs(...) attrs{nonneg=("pid", "mul", ...), divisors=(("mul", 128),), shared=()}
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from tiledsl.ir.nodes import Block, Function, Inst, Space, Sym, walk
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import access_of, written
from tiledsl.ir.placement import dot_fed_loads, tma_store_sites, tma_window
from tiledsl.passes.registry import register

FACT_ATTRS = ("nonneg", "divisors", "shared", "in_place", "tma", "tma_store")


def wrap_int(value: int, dtype) -> int:
    """`value` wrapped into `dtype`'s width, as the IR's integer semantics wrap (4294967295 as
    an i32 is -1)."""
    bits = dtype.bits
    if dtype.is_bool or bits >= 128:
        return int(value)
    value = int(value) & ((1 << bits) - 1)
    signed = dtype.value.startswith("i")
    return value - (1 << bits) if signed and value >= 1 << (bits - 1) else value


# --- non-negativity: one rule per op; a rule sees the inst and the set of known names ----------

def _all(inst: Inst, known: set[str]) -> bool:
    return all(v.name in known for v in inst.operands)


def _first(inst: Inst, known: set[str]) -> bool:
    return bool(inst.operands) and inst.operands[0].name in known


def _any(inst: Inst, known: set[str]) -> bool:
    return any(v.name in known for v in inst.operands)


def _const(inst: Inst, known: set[str]) -> bool:
    v = inst.attr("value")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    dt = inst.result.type.dtype
    return (wrap_int(v, dt) if dt.is_int and isinstance(v, int) else v) >= 0


def _arange(inst: Inst, known: set[str], knobs: dict[str, int]) -> bool:
    start = inst.attr("start")
    if isinstance(start, Sym):  # a knob: its value decides (a knob may be negative)
        start = knobs.get(start.name)
    return isinstance(start, int) and start >= 0


def _cast(inst: Inst, known: set[str]) -> bool:
    """A cast keeps a non-negative value so only when it cannot wrap: bool or an int into an int
    at least as wide (a float source may be NaN or out of range)."""
    src, dst = inst.operands[0].type.dtype, inst.attr("dtype")
    if not _first(inst, known) or not (dst.is_int or dst.is_bool):
        return False
    return src.is_bool or (src.is_int and dst.bits >= src.bits and dst.is_int)


_NONNEG: dict[Op, Callable[[Inst, set[str]], bool]] = {
    Op.CONST: _const,
    Op.DIM: lambda inst, known: True,
    Op.ADD: _all, Op.MUL: _all, Op.FLOORDIV: _all, Op.MOD: _all, Op.SHR: _all,
    Op.MINIMUM: _all, Op.MAXIMUM: _any,
    Op.CAST: _cast, Op.EXPAND_DIMS: _first, Op.BROADCAST_TO: _first, Op.RESHAPE: _first,
    Op.TRANSPOSE: _first,
}


def compute_nonneg(fn: Function, knobs: dict[str, int] | None = None) -> set[str]:
    """Names of integer values known to be >= 0 (program ids, sizes, sums of such...)."""
    known: set[str] = set()
    _nonneg_block(fn.body, known, knobs or {})
    return known


def _nonneg_block(block: Block, known: set[str], knobs: dict[str, int]) -> None:
    for inst in block.insts:
        if inst.op is Op.ARANGE:
            rule = lambda i, k: _arange(i, k, knobs)  # noqa: E731
        else:
            rule = _NONNEG.get(inst.op)
        if rule is not None and rule(inst, known):
            known.update(v.name for v in inst.results)
        if inst.op is Op.GRID:
            known.update(a.name for a in inst.regions[0].args)
        if inst.op is Op.FOR and inst.regions:
            start, step = inst.operands[0], inst.operands[2]
            if start.name in known and step.name in known:
                known.add(inst.regions[0].args[0].name)
        for region in inst.regions:
            _nonneg_block(region, known, knobs)


# --- known divisors of integer values ------------------------------------------------------------

def _gcd_all(inst: Inst, divs: dict[str, int]) -> int:
    return math.gcd(*(divs.get(v.name, 1) for v in inst.operands))


def _mul(inst: Inst, divs: dict[str, int]) -> int:
    a, b = (divs.get(v.name, 1) for v in inst.operands)
    return a * b


def _const_div(inst: Inst, divs: dict[str, int]) -> int:
    v = inst.attr("value")
    return abs(v) if isinstance(v, int) and not isinstance(v, bool) else 1


_DIV_RULES = {
    Op.CONST: _const_div, Op.ADD: _gcd_all, Op.SUB: _gcd_all, Op.MUL: _mul,
    Op.MINIMUM: _gcd_all, Op.MAXIMUM: _gcd_all, Op.NEG: _gcd_all,
    Op.CAST: lambda inst, divs: divs.get(inst.operands[0].name, 1)
    if inst.operands[0].type.dtype.is_int else 1,
}


def compute_divisors(fn: Function) -> dict[str, int]:
    """For integer scalars: a number that provably divides the value (0: the value is 0).
    Values not in the result are only known to be divisible by 1."""
    divs: dict[str, int] = {}
    _divisors_block(fn.body, divs)
    return divs


def _divisors_block(block: Block, divs: dict[str, int]) -> None:
    for inst in block.insts:
        rule = _DIV_RULES.get(inst.op)
        if rule is not None and len(inst.results) == 1 and inst.result.type.dtype.is_int \
                and inst.result.type.rank == 0:
            d = rule(inst, divs)
            if d != 1:
                divs[inst.result.name] = d
        if inst.op is Op.FOR and inst.regions:
            start, step = inst.operands[0], inst.operands[2]
            d = math.gcd(divs.get(start.name, 1), divs.get(step.name, 1))
            if d != 1:
                divs[inst.regions[0].args[0].name] = d
        for region in inst.regions:
            _divisors_block(region, divs)


# --- memory placement ---------------------------------------------------------------------------

def compute_shared_loads(fn: Function) -> set[str]:
    """Loads whose tile is a dot operand (directly or through casts and transposes): placed in
    shared memory, where the tensor cores read their operands. The rule is the cost model's too
    (`tiledsl.ir.placement`)."""
    return dot_fed_loads(fn.body)


# --- in-place accumulation ---------------------------------------------------------------------

@dataclass
class _Order:
    """Uses in emission order: an inst with regions reads its operands after its regions (a loop's
    inits are read when the loop is set up, after its body is written), others where they stand."""

    pos: int = 0
    last: dict[str, int] = field(default_factory=dict)  # value name -> position of its last use
    loops: dict[str, tuple] = field(default_factory=dict)  # value name -> FOR ids around its definition
    dots: list[tuple] = field(default_factory=list)  # (dot, position, enclosing FOR ids, next inst)

    def block(self, b: Block, loops: tuple[int, ...]) -> None:
        for a in b.args:
            self.loops[a.name] = loops
        for n, inst in enumerate(b.insts):
            for v in inst.results:
                self.loops[v.name] = loops
            inner = loops + (id(inst),) if inst.op is Op.FOR else loops
            for r in inst.regions:
                self.block(r, inner)
            self.pos += 1
            for v in inst.operands:
                self.last[v.name] = self.pos
            if inst.op is Op.DOT and len(inst.operands) == 3:
                after = b.insts[n + 1] if n + 1 < len(b.insts) else None
                self.dots.append((inst, self.pos, loops, after))


def compute_in_place(fn: Function) -> set[str]:
    uses: dict[str, int] = {}
    for inst in walk(fn.body):
        for v in inst.operands:
            uses[v.name] = uses.get(v.name, 0) + 1
    order = _Order()
    order.block(fn.body, ())
    out: set[str] = set()
    for dot, pos, loops, after in order.dots:
        acc, res = dot.operands[2], dot.result
        copied_back = (acc.type.space.is_buffer and uses.get(res.name) == 1 and after is not None
                       and after.op is Op.COPY and len(after.operands) == 2
                       and after.operands[0].name == res.name and after.operands[1].name == acc.name)
        dies_here = (sum(v.name == acc.name for v in dot.operands) == 1 and order.last[acc.name] == pos
                     and order.loops.get(acc.name) == loops)
        if copied_back or dies_here:
            out.add(res.name)
    return out


# --- TMA candidates ---------------------------------------------------------------------------



def access_keys(fn: Function) -> dict[int, str]:
    """``id(inst)`` -> the name the ``tma`` facts give each LOAD (its result), COPY (``copy <n>``,
    n counting COPYs in program order: a copy has no result to name it by) and STORE
    (``store <n>``)."""
    keys: dict[int, str] = {}
    copies = stores = 0
    for inst in walk(fn.body):
        if inst.op is Op.LOAD:
            keys[id(inst)] = inst.result.name
        elif inst.op is Op.COPY:
            keys[id(inst)] = f"copy {copies}"
            copies += 1
        elif inst.op is Op.STORE:
            keys[id(inst)] = f"store {stores}"
            stores += 1
    return keys


def _static_window(shape, rank: int, knobs: dict[str, int]) -> tuple | None:
    """The window with knobs bound (None entries: dropped axes), or None when not static."""
    shape = tuple(shape) if shape is not None else (None,) * rank
    shape = tuple(knobs.get(d.name) if isinstance(d, Sym) else d for d in shape)
    if len(shape) != rank or not all(d is None or (isinstance(d, int) and d > 0) for d in shape):
        return None
    return shape


def _tma_alignment(inst: Inst, knobs: dict[str, int], divs: dict[str, int]) -> int | None:
    """The byte divisor of the last-axis offset when `inst` reads a TMA-shaped window, else None."""
    acc = access_of(inst)
    if acc is None or acc.write or inst.attr("masked"):
        return None
    if inst.op is Op.LOAD and inst.attr("other") not in (None, 0, 0.0, False):
        return None  # a descriptor pads with zeros, nothing else
    if not tma_window(acc) or _static_window(acc.shape, acc.tensor.type.rank, knobs) is None:
        return None
    return divs.get(acc.offsets[-1].name, 1) * acc.tensor.type.dtype.itemsize


def compute_tma(fn: Function, knobs: dict[str, int], divs: dict[str, int]) -> dict[str, int]:
    """Access name -> alignment (bytes) of the reads that qualify for TMA (module docstring)."""
    keys = access_keys(fn)
    found: dict[str, tuple[str, int]] = {}  # key -> (tensor name, alignment)
    writes: set[str] = set()

    def visit(block: Block, pipelined: bool) -> None:
        for inst in block.insts:
            dst = written(inst)
            if dst is not None and dst.type.space is Space.GLOBAL:
                writes.add(dst.name)
            align = _tma_alignment(inst, knobs, divs) if pipelined else None
            if align is not None:
                found[keys[id(inst)]] = (inst.operands[0].name, align)
            inner = pipelined or (inst.op is Op.FOR and inst.attr("stages") is not None)
            for region in inst.regions:
                visit(region, inner)

    visit(fn.body, False)
    return {k: a for k, (t, a) in found.items() if t not in writes}


def compute_tma_store(fn: Function, knobs: dict[str, int], divs: dict[str, int]) -> dict[str, int]:
    """Access name -> alignment (bytes) of the epilogue stores that qualify for TMA."""
    keys = access_keys(fn)
    out: dict[str, int] = {}
    for inst in tma_store_sites(fn).values():
        acc = access_of(inst)
        if _static_window(acc.shape, acc.tensor.type.rank, knobs) is not None:
            out[keys[id(inst)]] = divs.get(acc.offsets[-1].name, 1) * acc.tensor.type.dtype.itemsize
    return out


# --- the facts, read from the IR or computed ----------------------------------------------------

def _knobs(fn: Function) -> dict[str, int]:
    return {k.name: k.value for k in fn.knobs if k.value is not None}


def nonneg(fn: Function) -> frozenset[str]:
    got = fn.attr("nonneg")
    return frozenset(got) if got is not None else frozenset(compute_nonneg(fn, _knobs(fn)))


def divisors(fn: Function) -> dict[str, int]:
    got = fn.attr("divisors")
    return dict(got) if got is not None else compute_divisors(fn)


def in_place(fn: Function) -> frozenset[str]:
    got = fn.attr("in_place")
    return frozenset(got) if got is not None else frozenset(compute_in_place(fn))


def shared_loads(fn: Function) -> frozenset[str]:
    got = fn.attr("shared")
    return frozenset(got) if got is not None else frozenset(compute_shared_loads(fn))


def tma_candidates(fn: Function) -> dict[str, int]:
    got = fn.attr("tma")
    return dict(got) if got is not None else compute_tma(fn, _knobs(fn), divisors(fn))


def tma_store_candidates(fn: Function) -> dict[str, int]:
    got = fn.attr("tma_store")
    return dict(got) if got is not None else compute_tma_store(fn, _knobs(fn), divisors(fn))


def _in_order(fn: Function, names: set[str]) -> tuple[str, ...]:
    """`names` in program order (deterministic attrs: the same IR gives the same text)."""
    seen: list[str] = []
    for block_args in _args(fn.body):
        seen.extend(a.name for a in block_args if a.name in names)
    order = {n: i for i, n in enumerate(seen)}
    for inst in walk(fn.body):
        for v in inst.results:
            if v.name in names and v.name not in order:
                order[v.name] = len(order)
    return tuple(sorted(names, key=lambda n: order.get(n, len(order))))


def _tma_order(fn: Function, tma: dict[str, int]) -> list[str]:
    keys = access_keys(fn)
    return [keys[id(i)] for i in walk(fn.body) if keys.get(id(i)) in tma]


def _args(block: Block):
    for inst in block.insts:
        for r in inst.regions:
            yield r.args
            yield from _args(r)


def annotate(fn: Function) -> Function:
    """`fn` with the facts as function attributes (replacing any earlier ones)."""
    nn = compute_nonneg(fn, _knobs(fn))
    divs = compute_divisors(fn)
    facts = (("nonneg", _in_order(fn, nn)),
             ("divisors", tuple((n, divs[n]) for n in _in_order(fn, set(divs)))),
             ("shared", _in_order(fn, compute_shared_loads(fn))),
             ("in_place", _in_order(fn, compute_in_place(fn))))
    tma = compute_tma(fn, _knobs(fn), divs)
    facts += (("tma", tuple((k, tma[k]) for k in _tma_order(fn, tma))),)
    stores = compute_tma_store(fn, _knobs(fn), divs)
    facts += (("tma_store", tuple((k, stores[k]) for k in _tma_order(fn, stores))),)
    kept = tuple((k, v) for k, v in fn.attrs if k not in FACT_ATTRS)
    return Function(fn.name, fn.params, fn.knobs, fn.body, fn.loc, kept + facts)


@register
@dataclass(frozen=True)
class AnalyzeFacts:
    """Value ranges, divisibility, memory placement, in-place accumulation and the TMA candidates
    (loads and epilogue stores) of the scheduled IR, as attributes."""

    name = "analyze_facts"

    def __call__(self, fn: Function, ctx) -> Function:
        return annotate(fn)
