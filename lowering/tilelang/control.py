"""Emission rules for structure and level-3 ops: GRID, FOR, IF, THREADS, SHUFFLE, BARRIER,
LAYOUT, WARP_ROLE, RETURN.

Loop-carried and branch results live in storage (a fragment / local buffer for tiles, a
one-element local cell for scalars) that the YIELD writes; a yield whose value is already that
storage (an in-place ``T.gemm`` accumulator) writes nothing.
"""

from __future__ import annotations

from tiledsl.lowering.tilelang.emit import Emitter, kernel_body_split
from tiledsl.lowering.tilelang.peel import peel_plan
from tiledsl.lowering.tilelang.values import Scalar, Tile, Val

from tiledsl.errors import BackendError
from tiledsl.ir.nodes import Block, Inst, Space, Value

_SHUFFLE_FN = {"xor": "T.shfl_xor", "down": "T.shfl_down", "up": "T.shfl_up", "idx": "T.shfl_sync"}
WARP_GROUP = 128


# --- GRID -------------------------------------------------------------------------------------------
def grid(em: Emitter, inst: Inst) -> None:
    if em.grids:
        raise BackendError("the TileLang backend takes one grid per kernel", inst.loc,
                           hint="split the kernel in two, or use backend='triton'")
    em.grids += 1
    sizes = [em.get(v).expr for v in inst.operands]
    nw = em.knobs.get("num_warps") or 4
    em.block_threads = 32 * nw
    pids = [em.name(a.name) for a in inst.regions[0].args]
    for a, n in zip(inst.regions[0].args, pids):
        em.env[a.name] = Scalar(n, a.type.dtype)
    bound = f"({pids[0]},)" if len(pids) == 1 else f"({', '.join(pids)})"
    em.line(f"with T.Kernel({', '.join(sizes)}, threads={em.block_threads}) as {bound}:")
    em.indent += 1
    start = len(em.lines)
    group = inst.attr("group_m")
    if isinstance(group, int) and group > 1 and len(pids) >= 2:
        em.line(f"T.use_swizzle(panel_size={group})  # grouped launch order: L2 reuse")
    em.region(inst.regions[0])
    kernel_body_split(em, start)
    em.indent -= 1


# --- FOR / IF ---------------------------------------------------------------------------------------
def _storage(em: Emitter, v: Value, init: Val | None, init_name: str | None, hint: str | None = None) -> Val:
    """Where a carried value / branch result lives; initialised from `init` when given."""
    if v.type.space is Space.SCALAR:
        return em.cell(init.expr if init is not None else None, v.type.dtype, hint or v.name)
    if (isinstance(init, Tile) and init.scope in ("fragment", "local") and init_name is not None
            and em.uses[init_name] == 1):
        em.before_write(init.buf)
        return init  # the loop is the init's only user: carry it in place
    shape = em.static_shape(v.type.shape)
    buf = em.alloc(hint or v.name, shape, v.type.dtype, em.default_scope())
    if init is not None:
        em.materialize(init, into=buf)
    return buf


def _write(em: Emitter, dst: Val, src: Val, src_name: str) -> None:
    """Store a yielded value into its storage."""
    if isinstance(dst, Tile):
        if isinstance(src, Tile) and src.buf == dst.buf:
            return
        em.before_write(dst.buf, keep=src_name)
        if isinstance(src, Scalar):
            src = Tile(dst.shape, dst.dtype, lambda idx, e=src.expr: e)
        em.materialize(src, into=dst)
        return
    if src.expr == dst.expr:
        return
    cell = dst.expr.removesuffix("[0]")
    em.before_write(cell, keep=src_name)
    em.line(f"{dst.expr} = {src.expr}")


def _yield(em: Emitter, term: Inst, storage: list[Val]) -> None:
    """Write the yielded values. A value that reads storage an earlier write clobbers (a swap,
    or ``m_new`` feeding ``l_new``) is first snapshotted, so all writes see the old state."""
    srcs = [em.get(v) for v in term.operands]
    targets = [s.buf if isinstance(s, Tile) else s.expr.removesuffix("[0]") for s in storage]
    for k in range(len(srcs)):
        for j in range(k + 1, len(srcs)):
            if targets[k] in srcs[j].reads and targets[k] != targets[j]:
                srcs[j] = _snapshot(em, srcs[j], term.operands[j].name)
    for dst, src, v in zip(storage, srcs, term.operands):
        _write(em, dst, src, v.name)
    em.consume(term)


def _snapshot(em: Emitter, v: Val, hint: str) -> Val:
    if isinstance(v, Tile):
        return em.materialize(v, hint=hint, into=em.alloc(hint, v.shape, v.dtype, em.default_scope()))
    return em.let(v.expr, v.dtype, hint)


def for_(em: Emitter, inst: Inst) -> None:
    start, stop, step = (em.get(v) for v in inst.operands[:3])
    body: Block = inst.regions[0]
    inits = inst.operands[3:]
    storage = [_storage(em, r, em.get(i), i.name, a.name) for r, i, a in zip(inst.results, inits, body.args[1:])]
    iv = em.name(body.args[0].name)
    em.env[body.args[0].name] = Scalar(iv, body.args[0].type.dtype)
    for a, s in zip(body.args[1:], storage):
        em.env[a.name] = s
    header = _loop_header(em, inst, start, stop, step)
    plan = peel_plan(em, inst) if header.startswith("T.Pipelined") and _peelable(em) else None
    if plan is None:
        _loop(em, body, iv, header, storage, frozenset())
    else:  # full iterations pipelined with unmasked copies, then the partial one (`peel`)
        n, c, loads = plan
        ne = em.get(n).expr
        saved_uses, saved_lazy = em.uses.copy(), dict(em.lazy)
        _loop(em, body, iv, header.replace(stop.expr, f"T.floordiv({ne}, {c})", 1), storage, loads)
        em.uses, em.lazy = saved_uses, saved_lazy
        # the iteration j = n // c exists when n is not a multiple of c and positive (no
        # iteration at all for n <= 0, as ``range((n + c - 1) // c)``)
        em.line(f"if T.And({ne} > 0, T.floormod({ne}, {c}) > 0):  # the last, partial block: masked")
        em.indent += 1
        em.env[body.args[0].name] = em.let(f"T.floordiv({ne}, {c})", body.args[0].type.dtype, iv)
        term = em.region(body)
        if term is not None:
            _yield(em, term, storage)
        em.indent -= 1
    for r, s in zip(inst.results, storage):
        em.env[r.name] = s


def _loop(em: Emitter, body: Block, iv: str, header: str, storage: list[Val], mask_true: frozenset[str]) -> None:
    em.line(f"for {iv} in {header}:")
    em.indent += 1
    pipelined = header.startswith("T.Pipelined")
    em.pipelined += pipelined
    was, em.mask_true = em.mask_true, mask_true
    term = em.region(body)
    if term is not None:
        _yield(em, term, storage)
    em.mask_true = was
    em.pipelined -= pipelined
    if em.lines[-1].strip().endswith(":"):
        em.line("pass")
    em.indent -= 1


def _peelable(em: Emitter) -> bool:
    """Whether the body can be emitted twice: no live unstored expression reads a buffer (the
    first emission could store it inside the pipelined loop, which may not run, and the second
    would read that storage)."""
    return not any(em.uses[name] > 0 and t.reads for name, t in em.lazy.items())


def _loop_header(em: Emitter, inst: Inst, start: Scalar, stop: Scalar, step: Scalar) -> str:
    stages = inst.attr("stages")
    stages = em.knob(stages) if stages is not None else None
    unit = step.const == 1
    bounds = stop.expr if start.const == 0 else f"{start.expr}, {stop.expr}"
    if stages and unit and not em.threads_region:
        return f"T.Pipelined({bounds}, num_stages={stages})"
    if unit:
        return f"T.serial({bounds})"
    return f"T.serial({start.expr}, {stop.expr}, {step.expr})"


def if_(em: Emitter, inst: Inst) -> None:
    cond = em.get(inst.operands[0])
    storage = [_storage(em, r, None, None) for r in inst.results]
    if cond.const is not None:  # decided by the specialised shapes: emit the taken branch only
        _branch(em, inst.regions[0 if cond.const else 1], storage)
    else:
        em.line(f"if {cond.expr}:")
        em.indent += 1
        _branch(em, inst.regions[0], storage)
        em.indent -= 1
        if len(inst.regions) > 1 and (storage or len(inst.regions[1].insts) > 1):
            em.line("else:")
            em.indent += 1
            _branch(em, inst.regions[1], storage)
            em.indent -= 1
    for r, s in zip(inst.results, storage):
        em.env[r.name] = s


def _branch(em: Emitter, block: Block, storage: list[Val]) -> None:
    start = len(em.lines)
    term = em.region(block)
    if term is not None:
        _yield(em, term, storage)
    if len(em.lines) == start:
        em.line("pass")


# --- level 3 ------------------------------------------------------------------------------------------
def threads(em: Emitter, inst: Inst) -> None:
    count = em.knob(inst.attr("count"))
    if em.block_threads is not None and count > em.block_threads:
        raise BackendError(f"td.threads({count}) asks for more threads than the block has "
                           f"({em.block_threads} = 32 * num_warps)", inst.loc,
                           hint=f"set num_warps={-(-count // 32)} or use fewer threads")
    tid_arg = inst.regions[0].args[0]
    tid = em.name(tid_arg.name)
    em.line(f"{tid} = T.get_thread_binding(0)")
    em.env[tid_arg.name] = Scalar(tid, tid_arg.type.dtype)
    guarded = count < (em.block_threads or count)
    if guarded:
        em.line(f"if {tid} < {count}:")
        em.indent += 1
    was, em.threads_region = em.threads_region, True
    start = len(em.lines)
    em.region(inst.regions[0])
    if len(em.lines) == start:
        em.line("pass")
    em.threads_region = was
    if guarded:
        em.indent -= 1


def shuffle(em: Emitter, inst: Inst) -> None:
    value, lane = em.get(inst.operands[0]), em.get(inst.operands[1])
    if not isinstance(value, Scalar):
        raise BackendError("shuffles move one value per thread; shuffle each element of a local buffer",
                           inst.loc)
    fn = _SHUFFLE_FN[inst.attr("mode")]
    width = inst.attr("width") or 32
    em.env[inst.result.name] = em.cell(f"{fn}({value.expr}, {lane.expr}, {width})", value.dtype,
                                       inst.result.name)


def barrier(em: Emitter, inst: Inst) -> None:
    em.line("T.sync_threads()")


def layout(em: Emitter, inst: Inst) -> None:
    buf = em.get(inst.operands[0])
    swizzle = inst.attr("swizzle") or 0
    if not isinstance(buf, Tile) or buf.scope != "shared":
        raise BackendError("layout annotations apply to shared buffers (td.alloc_shared)", inst.loc)
    if swizzle == 0:
        em.allocs.append(f"# {buf.buf}: no swizzle requested")
        return
    em.imports.add("from tilelang.layout import make_swizzled_layout")
    em.allocs.append(f"T.annotate_layout({{{buf.buf}: make_swizzled_layout({buf.buf})}})  "
                     f"# swizzle {swizzle} B requested; TileLang picks the widest the row allows")


def warp_role(em: Emitter, inst: Inst) -> None:
    groups = (em.block_threads or 0) // WARP_GROUP
    if groups < 2 or (em.block_threads or 0) % WARP_GROUP:
        raise BackendError(f"warp specialization needs at least two warp groups of 128 threads; the block "
                           f"has {em.block_threads}", inst.loc, hint="set num_warps=8 (or 12)")
    role = inst.attr("role")
    ids = "0" if role == "producer" else ", ".join(str(g) for g in range(1, groups))
    em.line(f"with T.ws({ids}):  # {role} warp group{'s' if role != 'producer' and groups > 2 else ''}")
    em.indent += 1
    start = len(em.lines)
    em.region(inst.regions[0])
    if len(em.lines) == start:
        em.line("pass")
    em.indent -= 1


def return_(em: Emitter, inst: Inst) -> None:
    if inst.operands:
        raise BackendError("returned values remain after scheduling; the scheduler should turn them into "
                           "output parameters", inst.loc)
