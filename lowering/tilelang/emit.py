"""Scheduled IR -> TileLang program text.

`emit_program` walks the function once. Each op's rule (`rules.RULES`, keyed by `Op`) turns the
op's operand values (see `values`) into program lines and result values. This module holds the
state the rules share: the line buffer, the hoisted allocations, fresh names, use counts, and the
two operations that keep the SSA-to-buffer mapping sound:

- `materialize`: give an expression tile storage (a fragment, a per-thread local array, or shared
  memory) by a ``T.Parallel`` loop, a ``T.fill`` or a ``T.copy``.
- `before_write`: before a buffer is overwritten (copy into it, in-place gemm, loop-carried
  update), materialise every still-live expression tile that reads it, so each value keeps the
  contents it had at its own program point.

The output is deterministic: it depends only on the IR, the specs and the target.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter

from tiledsl.lowering import escape
from tiledsl.lowering.tilelang.gemms import plan_gemms
from tiledsl.lowering.tilelang.values import TL_DTYPE, Scalar, Tile, Val, buffer_tile

from tiledsl.dtypes import DType
from tiledsl.errors import BackendError
from tiledsl.ir.dims import split_size_sym
from tiledsl.ir.nodes import Block, Function, Inst, Loc, Sym, Value, walk
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import written
from tiledsl.passes import analyses
from tiledsl.specs import ArgSpec, TensorSpec
from tiledsl.targets import Target

# The program's own globals (and what its imports bind): no user name may shadow them. Python's
# builtins are kept free too (`escape.identifier`).
_RESERVED = frozenset({"T", "tilelang", "tvm", "make_swizzled_layout"})


class Emitter:
    """Per-function emission state. Rules read and write it; see the module docstring."""

    def __init__(self, fn: Function, specs: tuple[ArgSpec, ...], target: Target, rules: dict):
        if len(specs) != len(fn.params):
            raise BackendError(f"{fn.name} takes {len(fn.params)} arguments, got {len(specs)} specs")
        self.fn, self.specs, self.target = fn, specs, target
        self.rules = rules  # op -> emission rule (`rules.RULES`), handed in by `program.emit_program`
        self.knobs = {k.name: k.value for k in fn.knobs}
        self.env: dict[str, Val] = {}
        self.uses: Counter[str] = Counter(v.name for i in walk(fn.body) for v in i.operands)
        self.shared_loads = analyses.shared_loads(fn)  # placement: the scheduled IR's fact
        self.in_place = analyses.in_place(fn)  # dots that may write their accumulator: the IR's fact
        self.copied_back = _copied_back(fn.body)
        self.written = _written(fn.body)
        self.gemms = plan_gemms(fn.body, self.knobs.get("num_warps") or 4, target,
                                lambda v: self.static_shape(v.type.shape))
        self.lines: list[str] = []
        self.allocs: list[str] = []
        self.layouts: dict[str, str] = {}  # fragment -> its T.annotate_layout line (`layouts`)
        self.gemm_bufs: set[str] = set()  # fragments a gemm reads or writes (their layout is the gemm's)
        self.buffers: dict[str, Tile] = {}  # every allocated buffer by name (its scope and shape)
        self.indent = 0
        self.used_names: set[str] = set()
        self.lazy: dict[str, Tile] = {}  # live unbacked tiles by IR value name
        self.blocks: list[Block] = []  # the regions being emitted, innermost last
        self.let_names: set[str] = set()  # names bound by `let` (scoped: not repeatable elsewhere)
        self.pipelined = 0  # depth of T.Pipelined loops being emitted
        self.shared_pages: dict[tuple, tuple] = {}  # masked shared loads a later one may reuse (memory)
        self.mask_true: frozenset[str] = frozenset()  # loads whose mask is all true here (control.peel_plan)
        self.defs = {r.name: i for i in walk(fn.body) for r in i.results}  # value name -> defining inst
        self.threads_region = False  # inside a THREADS region: tiles are per-thread arrays
        self.block_threads: int | None = None
        self.last_loc: Loc | None = None
        self.pending_loc: Loc | None = None
        self.grids = 0
        self.imports: set[str] = set()  # extra import lines the program needs

    # --- names and lines ------------------------------------------------------------------------
    def name(self, hint: str) -> str:
        """A fresh Python identifier derived from `hint` (IR names may hold dots, or anything at
        all when they come from IR text: `escape.identifier` mangles them)."""
        base = escape.identifier(hint, _RESERVED)
        name, n = base, 0
        while name in self.used_names:
            n += 1
            name = f"{base}_{n}"
        self.used_names.add(name)
        return name

    def line(self, text: str) -> None:
        if self.pending_loc is not None:  # the source comment goes above the first line it explains
            loc, self.pending_loc = self.pending_loc, None
            self.lines.append("    " * self.indent + f"# src: {escape.source_file(loc.file)}:{int(loc.line)}")
        self.lines.append("    " * self.indent + text)

    def alloc(self, hint: str, shape: tuple[int, ...], dtype, scope: str) -> Tile:
        """Declare a buffer at the top of the kernel (TileLang wants allocations there)."""
        name = self.name(hint)
        fn = {"shared": "T.alloc_shared", "fragment": "T.alloc_fragment", "local": "T.alloc_local"}[scope]
        self.allocs.append(f"{name} = {fn}({_shape(shape)}, \"{TL_DTYPE[dtype]}\")")
        self.buffers[name] = buffer_tile(name, shape, dtype, scope)
        return self.buffers[name]

    def cell(self, expr: str | None, dtype, hint: str) -> Scalar:
        """A one-element local buffer holding `expr` as of this point (loaded values, shuffles,
        loop-carried scalars): a value must not change when its source does later."""
        buf = self.alloc(hint, (1,), dtype, "local").buf
        if expr is not None:
            self.line(f"{buf}[0] = {expr}")
        return Scalar(f"{buf}[0]", dtype, reads=frozenset({buf}))

    def let(self, expr: str, dtype, hint: str, pure: str | None = None) -> Scalar:
        """A scalar bound once, here (``m = masked_m[g]``, a TIR let): its value is fixed at this
        point however its source changes later. Preferred to a `cell` for values that are never
        reassigned: TileLang's warp specialisation gives a local buffer's write to the consumer
        warps only, so a producer reading the cell (a branch around a pipelined loop) would see
        it uninitialised; a let stays where it is, visible to both."""
        name = self.name(hint)
        self.line(f"{name} = {expr}")
        self.let_names.add(name)
        return Scalar(name, dtype, reads=frozenset(), pure=pure)

    def src_comment(self, inst: Inst) -> None:
        """A ``# src: file:line`` comment whenever the kernel line changes."""
        loc = inst.loc
        if loc is None or (self.last_loc and (loc.file, loc.line) == (self.last_loc.file, self.last_loc.line)):
            return
        self.last_loc = loc
        self.pending_loc = loc

    # --- values -------------------------------------------------------------------------------------
    def get(self, v: Value) -> Val:
        return self.env[v.name]

    def bind(self, v: Value, val: Val) -> None:
        if (isinstance(val, Scalar) and val.reads and self.uses[v.name] > 1
                and not re.fullmatch(r"\w+\[0\]", val.expr)):
            val = self.let(val.expr, val.dtype, v.name)  # read memory once, not once per use
        self.env[v.name] = val
        if isinstance(val, Tile) and not val.is_buffer and not val.cheap:
            # Masks (i1 tiles) are recomputed per use rather than stored: TVM's CUDA code cannot
            # spell the vectorised bool stores a fragment write becomes ("Cannot convert type
            # boolx16"), and a comparison costs no more than the load of a stored one would.
            # `before_write` still materialises one whose inputs change while it is live.
            if self.uses[v.name] > 1 and val.dtype is not DType.i1:  # a costly expression: store it once
                val = self.materialize(val, hint=v.name)
                self.env[v.name] = val
            else:
                self.lazy[v.name] = val

    def consume(self, inst: Inst) -> None:
        """Count down the uses of `inst`'s operands (live-ness for `before_write`)."""
        for v in inst.operands:
            self.uses[v.name] -= 1
            if self.uses[v.name] <= 0:
                self.lazy.pop(v.name, None)

    def knob(self, a) -> int:
        if isinstance(a, Sym):
            val = self.knobs.get(a.name)
            if val is None:
                raise BackendError(f"knob {a.name} has no value; schedule the kernel before lowering")
            return val
        return a

    def static_shape(self, shape, inst: Inst | None = None) -> tuple[int, ...]:
        out = []
        for d in shape:
            if isinstance(d, str):
                d = self.knobs.get(d, None) if "." not in d else self.dim(d)
            if not isinstance(d, int):
                raise BackendError(f"tile shape {tuple(shape)} is not static; schedule the kernel first",
                                   inst.loc if inst else None)
            out.append(d)
        return tuple(out)

    def dim(self, sym: str) -> int:
        """The concrete size of a tensor axis symbol such as ``"a.0"`` (shapes are specialised)."""
        pname, axis = split_size_sym(sym)
        for p, s in zip(self.fn.params, self.specs):
            if p.value.name == pname and isinstance(s, TensorSpec):
                return s.shape[axis]
        raise BackendError(f"size {sym} names no tensor parameter")

    # --- storage ------------------------------------------------------------------------------------
    def default_scope(self) -> str:
        return "local" if self.threads_region else "fragment"

    def materialize(self, t: Tile, scope: str | None = None, hint: str = "t", into: Tile | None = None) -> Tile:
        """`t` as a buffer of `scope` (or written into the buffer `into`)."""
        scope = scope or self.default_scope()
        if into is None and t.is_buffer and (t.scope == scope or (scope == "fragment" and t.scope == "local")):
            return t
        dst = into or self.alloc(hint, t.shape, t.dtype, scope)
        if dst.buf == t.buf:
            return dst
        if t.fill is not None and not self.threads_region:
            self.line(f"T.fill({dst.buf}, {t.fill})")
        elif t.is_buffer and t.shape == dst.shape and not self.threads_region:
            self.line(f"T.copy({t.buf}, {dst.buf})")
        else:
            if dst.scope == "shared" and not self.threads_region:
                t = self.stage_broadcast_reads(t, dst.shape)
            self.elementwise(dst, t)
        return dst

    def stage_broadcast_reads(self, t: Tile, shape: tuple[int, ...]) -> Tile:
        """`t` with every fragment it reads broadcast (a fragment of another shape, e.g. a row or
        column vector) read from a shared copy instead.

        Why: TileLang lays out a ``T.Parallel`` loop after the fragments it reads. A vector
        fragment is replicated across the threads that hold one row or column of a gemm's
        accumulator, so a loop writing shared memory that reads one is partitioned like the
        vector and predicated to one replica (``tx % 32 // 4 * 4 + tx % 128 // 32 == 0``): a
        handful of threads do the whole write, and TileLang's barrier insertion cannot place a
        sync inside that branch ("[ThreadSync] Hoisting sync out of an if whose condition is not
        safe"). Read from shared memory, the vector constrains nothing: every thread takes part
        and no write is predicated but the vector's own whole-fragment ``T.copy``."""
        staged: dict[str, str] = {}
        for name in sorted(t.reads):
            buf = self.buffers.get(name)
            if buf is not None and buf.scope == "fragment" and buf.shape != shape:
                copy = self.alloc(f"{name}_shared", buf.shape, buf.dtype, "shared")
                self.line(f"T.copy({name}, {copy.buf})")
                staged[name] = copy.buf
        if not staged:
            return t
        # buffer names are fresh identifiers (`name`): a whole-word match before "[" is a read
        pattern = re.compile(r"\b(" + "|".join(map(re.escape, staged)) + r")\[")
        reads = (t.reads - staged.keys()) | frozenset(staged.values())
        return dataclasses.replace(t, at=lambda idx: pattern.sub(lambda m: staged[m.group(1)] + "[", t.at(idx)),
                                   reads=reads)

    def elementwise(self, dst: Tile, t: Tile, guard: str | None = None) -> None:
        """``dst[idx] = t(idx)`` over the tile: ``T.Parallel`` across the block's threads, or a
        serial loop when the code already runs per thread."""
        idx = self.index_names(len(dst.shape))
        loop = "T.grid" if self.threads_region else "T.Parallel"
        self.line(f"for {', '.join(idx)} in {loop}({', '.join(str(d) for d in dst.shape)}):")
        self.indent += 1
        body = f"{dst.at(idx)} = {t.at(idx)}"
        if guard:
            self.line(f"if {guard}:")
            self.indent += 1
            self.line(body)
            self.indent -= 1
        else:
            self.line(body)
        self.indent -= 1

    def index_names(self, rank: int) -> tuple[str, ...]:
        return tuple(self.name(f"i{k}") for k in range(rank))

    def before_write(self, buf: str, keep: str | None = None) -> None:
        """Materialise live expressions that read `buf` before it changes (except `keep`)."""
        for vname, t in list(self.lazy.items()):
            if vname != keep and buf in t.reads and self.uses[vname] > 0:
                self.env[vname] = self.materialize(t, hint=vname)
                del self.lazy[vname]

    # --- regions ------------------------------------------------------------------------------------
    def region(self, block: Block) -> Inst | None:
        """Emit a region's insts; return its terminator (YIELD) for the caller to handle."""
        self.blocks.append(block)
        try:
            for inst in block.insts:
                if inst.op is Op.YIELD:
                    return inst
                rule = self.rules.get(inst.op)
                if rule is None:
                    raise BackendError(f"the TileLang backend has no lowering for {inst.op.ir_name}", inst.loc)
                self.src_comment(inst)
                rule(self, inst)
                self.consume(inst)
            return None
        finally:
            self.blocks.pop()


def _copied_back(body: Block) -> dict[str, str]:
    """Results copied into a buffer by the very next inst (``%d = dot ..., %buf`` then ``copy %d,
    %buf``): value name -> buffer name. A gemm whose result only goes back into its accumulator
    buffer can write that buffer in place."""
    out: dict[str, str] = {}
    for inst in walk(body):
        for region in inst.regions:
            insts = region.insts
            for first, nxt in zip(insts, insts[1:]):
                if (nxt.op is Op.COPY and len(nxt.operands) == 2 and first.results
                        and nxt.operands[0].name == first.results[0].name
                        and nxt.operands[1].type.space.is_buffer):
                    out[first.results[0].name] = nxt.operands[1].name
    return out


def _written(body: Block) -> frozenset[str]:
    """Names of the values (tensors, buffers) some inst writes."""
    return frozenset(v.name for v in map(written, walk(body)) if v is not None)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def kernel_body_split(em: Emitter, body_start: int) -> None:
    """Move the allocations collected while emitting a GRID body to the top of that body."""
    pad = "    " * em.indent
    em.lines[body_start:body_start] = [pad + a for a in em.allocs]
    em.allocs.clear()


__all__ = ["Emitter", "kernel_body_split"]
