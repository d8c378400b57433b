"""Emission rules for ops that move data or need storage: LOAD, STORE, ATOMIC, COPY, DOT,
TILE_REDUCE, SCAN.

Windows of global tensors go through ``T.copy`` whenever the access is a plain block (no mask,
zero padding): TileLang then picks TMA / vectorised accesses and guards the ragged edges itself.
Anything else (masks, gathers, a non-zero ``other``, per-thread code) is an element-wise
expression guarded by explicit bounds checks, so the IR's semantics (out-of-bounds elements read
``other`` and are never written) hold for every shape.
"""

from __future__ import annotations

import re

from tiledsl.lowering.tilelang import layouts
from tiledsl.lowering.tilelang.emit import Emitter
from tiledsl.lowering.tilelang.values import Global, Scalar, Tile, broadcast_index, literal

from tiledsl.errors import BackendError
from tiledsl.ir.nodes import Inst
from tiledsl.ir.optable import window_of
from tiledsl.ir.pages import leading_view

# the kinds of `capabilities.TILELANG` (reductions, scans, atomics, tile atomics whose old values
# are used): the legality pass refuses the rest before these rules run
REDUCE_FN = {"sum": "T.reduce_sum", "max": "T.reduce_max", "min": "T.reduce_min"}
_ATOMIC_FN = {"add": "T.atomic_add", "max": "T.atomic_max", "min": "T.atomic_min"}


class _Window:
    """A window of a tensor or buffer addressed by a LOAD/STORE/ATOMIC/COPY.

    Per axis: a block (scalar offset + size), a point (scalar offset, axis dropped) or a gather
    (a 1-D tile of indices). `index(idx)` gives the element address for result index `idx`."""

    def __init__(self, em: Emitter, inst: Inst, src, offsets, shape_attr):
        self.src, self.axes, out = src, [], []
        shape_attr = shape_attr or (None,) * len(offsets)
        for off, d in zip(offsets, shape_attr):
            if isinstance(off, Tile):
                self.axes.append(("gather", off, len(out)))
                out.append(off.shape[0])
            elif d is None:
                self.axes.append(("point", off, None))
            else:
                n = em.knob(d) if not isinstance(d, str) else em.static_shape((d,), inst)[0]
                self.axes.append(("block", off, len(out)))
                out.append(n)
        self.shape = tuple(out)

    @property
    def is_block(self) -> bool:
        """Every axis a scalar offset: expressible as one ``T.copy`` region."""
        return all(kind != "gather" for kind, _, _ in self.axes) and bool(self.shape)

    def index(self, idx) -> list[str]:
        out = []
        for kind, off, pos in self.axes:
            if kind == "gather":
                out.append(off.at((idx[pos],)))
            elif kind == "point":
                out.append(off.expr)
            else:
                out.append(idx[pos] if off.const == 0 else f"{off.expr} + {idx[pos]}")
        return out

    def region(self) -> str:
        """``x[a:a + n, b]``-style region text for ``T.copy``. Offsets loaded from read-only
        tensors are spelled as the load itself, not the let bound to it: TileLang moves the
        copies of a pipelined loop (TMA issue, warp specialisation) out of the let's scope
        ("variable g has been used before definition")."""
        parts = []
        for kind, off, pos in self.axes:
            n = 1 if kind == "point" else self.shape[pos]
            if isinstance(off.const, int):
                parts.append(f"{off.const}:{off.const + n}")
            else:
                e = off.pure or off.expr
                parts.append(f"{e}:{e} + {n}")
        return f"{self.src.name}[{', '.join(parts)}]"

    def in_bounds(self, idx) -> list[str]:
        """Conditions that element `idx` lies inside the source (constant-true ones left out)."""
        conds = []
        for (kind, off, pos), addr, size in zip(self.axes, self.index(idx), self.src.shape):
            if kind == "block" and isinstance(off.const, int) and 0 <= off.const and off.const + self.shape[pos] <= size:
                continue
            if kind == "point" and isinstance(off.const, int) and 0 <= off.const < size:
                continue
            if not (isinstance(off.const, int) and off.const >= 0):
                conds.append(f"0 <= {addr}")
            conds.append(f"{addr} < {size}")
        return conds

    def reads(self) -> frozenset[str]:
        out = frozenset({self.src.name}) if isinstance(self.src, _BufferSource) else frozenset()
        for _, off, _ in self.axes:
            out |= off.reads
        return out


def _offsets(em: Emitter, inst: Inst) -> list:
    return [em.get(v) for v in inst.operands[1:]]


def _src_of(em: Emitter, v):
    x = em.get(v)
    if isinstance(x, Tile):
        if not x.is_buffer:
            raise BackendError("loads and stores address a tensor or a buffer, not a computed tile")
        return _BufferSource(x)
    return x


class _BufferSource:
    """A buffer seen as an addressable source (same interface as `Global`)."""

    def __init__(self, t: Tile):
        self.tile, self.name, self.shape, self.dtype = t, t.buf, t.shape, t.dtype


def _parts(em: Emitter, inst: Inst, value: bool):
    """(source, window, value val or None, mask val or None) of a LOAD/STORE/ATOMIC."""
    w = window_of(inst)
    src = _src_of(em, w.tensor)
    offs = [em.get(v) for v in w.offsets]
    val = em.get(w.value) if value else None
    mask = em.get(w.mask) if w.mask is not None else None
    return src, _Window(em, inst, src, offs, inst.attr("shape")), val, mask


def _guard(win: _Window, idx, mask) -> str | None:
    conds = win.in_bounds(idx)
    if mask is not None:
        conds.append(mask.at(broadcast_index(mask.shape, win.shape, idx)) if isinstance(mask, Tile) else mask.expr)
    return _and(conds) if conds else None


def _and(conds: list[str]) -> str:
    out = conds[0]
    for c in conds[1:]:
        out = f"T.And({out}, {c})"
    return out


# --- LOAD ------------------------------------------------------------------------------------------
def load(em: Emitter, inst: Inst) -> None:
    src, win, _, mask = _parts(em, inst, value=False)
    other = literal(inst.attr("other") or 0, src.dtype)
    res = inst.result
    if res.name in em.mask_true:  # a peeled loop's full iterations (`control.peel_plan`)
        mask = None
    if (isinstance(src, Global) and win.is_block and mask is None and not inst.attr("other")
            and not em.threads_region):
        scope = "shared" if res.name in em.shared_loads else "fragment"
        if scope == "shared" and _reuse_copied_page(em, src, win, res.name):
            return
        buf = em.alloc(res.name, win.shape, src.dtype, scope)
        em.line(f"T.copy({win.region()}, {buf.buf})")
        em.env[res.name] = buf
        if scope == "shared" and em.blocks and isinstance(src, Global) and src.name not in em.written:
            em.shared_pages[_copied_key(em, win)] = (win.shape, buf)
        return
    reads = win.reads() | (mask.reads if mask is not None else frozenset())

    def at(idx, win=win, mask=mask, other=other):
        elem = f"{src.name}[{', '.join(win.index(idx))}]"
        g = _guard(win, idx, mask)
        return elem if g is None else f"T.if_then_else({g}, {elem}, {other})"

    if not win.shape:  # a scalar: read once, here (the source may change later)
        # of a tensor the kernel never writes, the read itself can be repeated: T.copy regions
        # use that (`_Window.region`)
        pure = at(()) if isinstance(src, Global) and inst.operands[0].name not in em.written else None
        if pure is not None and any(isinstance(v, Scalar) and v.reads for v in _offsets(em, inst)):
            pure = None  # an offset read from a buffer: not repeatable
        inline = _inline_read(em, inst, src, other) if pure is not None and mask is None else None
        if inline is not None:
            em.env[res.name] = Scalar(inline, src.dtype, pure=inline)
            return
        em.env[res.name] = em.let(at(()), src.dtype, res.name, pure=pure)
        return
    tile = Tile(win.shape, src.dtype, at, reads=reads)
    if res.name in em.shared_loads and len(win.shape) == 2 and not em.threads_region:
        # a gemm operand (a masked page of a KV cache): straight into shared memory, once, in
        # its own layout; a transposed use is the gemm's transpose flag, not a second copy; a
        # second load of the page's leading columns (V, the first DV of the K page's D) is a
        # region of the first, not a second copy
        key = _page_key(em, src, win, mask, other)
        earlier = em.shared_pages.get(key[0]) if key is not None else None
        view = _leading_region(earlier, key, win) if earlier is not None else None
        if view is not None:
            em.env[res.name] = view
            return
        buf = em.materialize(tile, scope="shared", hint=res.name)
        if key is not None:
            em.shared_pages[key[0]] = (key[1], buf)
        em.env[res.name] = buf
        return
    em.bind(res, tile)


def _copied_key(em: Emitter, win: _Window) -> tuple:
    """The key of a whole-block ``T.copy`` page: region, tensor, the offsets' pure forms."""
    offs = tuple((kind, off.pure or off.expr) for kind, off, _ in win.axes)
    return (id(em.blocks[-1]), "copy", win.src.name, offs)


def _reuse_copied_page(em: Emitter, src, win: _Window, name: str) -> bool:
    """Bind `name` to the leading columns of an earlier ``T.copy`` page of the same block of the
    same read-only tensor (V as the first DV columns of the K page), also in a pipelined loop:
    the region's wgmma descriptors take the stage buffer's offset like the whole page's (checked
    on the paged decode probe's CUDA: ``increase_descriptor_offset`` on both gemms)."""
    if not em.blocks or src.name in em.written or any(off.reads and off.pure is None for _, off, _ in win.axes):
        return False
    earlier = em.shared_pages.get(_copied_key(em, win))
    view = _leading_region(earlier, (None, win.shape), win) if earlier is not None else None
    if view is None:
        return False
    em.env[name] = view
    return True


def _page_key(em: Emitter, src, win: _Window, mask, other: str):
    """((region, tensor, per-axis offsets, mask text, other), extents) of a masked shared load
    that a later load of the same rows may reuse, or None. Offsets and mask must be expressions
    whose value cannot change within the region (no buffer reads), the window plain blocks and
    points of a tensor the kernel never writes."""
    if (not isinstance(src, Global) or src.name in em.written or not em.blocks or not win.is_block
            or em.pipelined):  # a multi-buffered page's region: not checked against TileLang's pipeliner
        return None
    offs = tuple((kind, off.expr) for kind, off, _ in win.axes)
    if any(off.reads for _, off, _ in win.axes) or (mask is not None and mask.reads):
        return None
    idx = tuple(f"__i{k}" for k in range(len(win.shape)))
    mask_text = None
    if mask is not None:
        mask_text = mask.at(broadcast_index(mask.shape, win.shape, idx)) if isinstance(mask, Tile) else mask.expr
    return (id(em.blocks[-1]), src.name, offs, mask_text, other), win.shape


def _leading_region(earlier, key, win: _Window) -> Tile | None:
    """This load as the leading columns of an earlier shared page (same region, tensor,
    offsets, mask, fill; the same rows; no more columns), or None."""
    shape, buf = earlier
    # the rule the cost model charges shared memory by (`tiledsl.ir.pages`); anything else is
    # loaded again
    if key[1] == shape or not leading_view(tuple(win.shape), tuple(shape), buf.dtype.itemsize):
        return None
    region = f"{buf.buf}[{', '.join(f'0:{n}' for n in win.shape)}]"
    return Tile(win.shape, buf.dtype, buf.at, reads=frozenset({buf.buf}), region_of=(buf, region))


def _inline_read(em: Emitter, inst: Inst, src: Global, other: str) -> str | None:
    """A read-only scalar inside a pipelined loop (a block's scale, ``sfb[j, k]``) as the read
    itself, to be repeated where it is used, rather than a let: TileLang's warp specialisation
    keeps the copies that come before a let in the loop body with the consumer warps (the row
    scales' ``T.copy`` then loads from global memory in the wgmma loop, on 168 registers); without
    it the producer stages them (145). None when not in a pipelined loop or when an offset is a
    let with no let-free form (the read must mean the same wherever it is repeated)."""
    if not em.pipelined or em.threads_region:
        return None
    offs = []
    for v in _offsets(em, inst):
        if isinstance(v, Scalar) and v.pure is not None:
            v = Scalar(v.pure, v.dtype, v.const)
        if isinstance(v, Scalar) and any(re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", v.expr) for n in em.let_names):
            return None
        offs.append(v)
    win = _Window(em, inst, src, offs, inst.attr("shape"))
    elem = f"{src.name}[{', '.join(win.index(()))}]"
    g = _guard(win, (), None)
    return elem if g is None else f"T.if_then_else({g}, {elem}, {other})"


# --- STORE / ATOMIC --------------------------------------------------------------------------------
def store(em: Emitter, inst: Inst) -> None:
    dst, win, val, mask = _parts(em, inst, value=True)
    if isinstance(dst, _BufferSource):
        em.before_write(dst.name)
    if (isinstance(dst, Global) and win.is_block and mask is None and isinstance(val, Tile)
            and not em.threads_region):
        t = val if val.shape == win.shape else _broadcast(val, win.shape)
        buf = em.materialize(t, hint=inst.operands[-1].name) if t.scope not in ("shared", "fragment") else t
        em.line(f"T.copy({buf.buf}, {win.region()})")
        return
    _scatter(em, win, val, mask, lambda addr, v: f"{dst.name}[{addr}] = {v}")


def atomic(em: Emitter, inst: Inst) -> None:
    """Tile atomics: one per element, spread over the block's threads by ``T.Parallel``. A scalar
    atomic of a tile program happens once per program, so one thread issues it (TileLang runs a
    block-level scalar statement on every thread); when its old value is used, that thread puts
    it in shared memory and a barrier hands it to all (the branch is block-uniform: level-2
    scalars are). Inside ``td.threads`` each thread's atomic is its own."""
    kind = inst.attr("kind")
    used = em.uses[inst.result.name] > 0
    dst, win, val, mask = _parts(em, inst, value=True)
    fn = _ATOMIC_FN[kind]
    res = inst.result
    if win.shape:
        _scatter(em, win, val, mask, lambda addr, v: f"{fn}({dst.name}[{addr}], {v})")
        em.env[res.name] = Scalar("0", dst.dtype, 0)
        return
    target = f"{dst.name}[{', '.join(win.index(()))}], {val.expr}{', return_prev=True' if used else ''}"
    call = f"{fn}({target})"
    guard = _guard(win, (), mask)
    if em.threads_region:
        if used:
            em.env[res.name] = em.let(call if guard is None else f"T.if_then_else({guard}, {call}, 0)",
                                      dst.dtype, res.name)
        else:
            _guarded(em, guard, call)
            em.env[res.name] = Scalar("0", dst.dtype, 0)
        return
    # the language's memory order (docs/language.md "Memory order"): the program's earlier writes,
    # by all of its threads, are ordered before its scalar atomic (the barrier, then one thread's
    # acq_rel atomic at device scope), its later reads after it (the barrier handing the result on)
    call = f'{fn}({target}, memory_order="acq_rel")'
    em.line("T.sync_threads()")
    tid = em.name("tid")
    em.line(f"{tid} = T.get_thread_binding(0)")
    one = f"{tid} == 0" if guard is None else f"T.And({tid} == 0, {guard})"
    if not used:
        _guarded(em, one, call)
        em.env[res.name] = Scalar("0", dst.dtype, 0)
        return
    old = em.alloc(f"{res.name}_old", (1,), dst.dtype, "shared").buf
    em.line(f"if {tid} == 0:")
    em.indent += 1
    em.line(f"{old}[0] = {call}" if guard is None else f"{old}[0] = T.if_then_else({guard}, {call}, 0)")
    em.indent -= 1
    em.line("T.sync_threads()")
    em.env[res.name] = em.let(f"{old}[0]", dst.dtype, res.name)


def _scatter(em: Emitter, win: _Window, val, mask, write) -> None:
    """Element-wise write of `val` into the window, guarded by bounds and mask."""
    if not win.shape:
        g = _guard(win, (), mask)
        _guarded(em, g, write(", ".join(win.index(())), val.expr))
        return
    idx = em.index_names(len(win.shape))
    loop = "T.grid" if em.threads_region else "T.Parallel"
    em.line(f"for {', '.join(idx)} in {loop}({', '.join(map(str, win.shape))}):")
    em.indent += 1
    v = val.at(broadcast_index(val.shape, win.shape, idx)) if isinstance(val, Tile) else val.expr
    _guarded(em, _guard(win, idx, mask), write(", ".join(win.index(idx)), v))
    em.indent -= 1


def _guarded(em: Emitter, guard: str | None, stmt: str) -> None:
    if guard is None:
        em.line(stmt)
        return
    em.line(f"if {guard}:")
    em.indent += 1
    em.line(stmt)
    em.indent -= 1


def _broadcast(t: Tile, shape: tuple[int, ...]) -> Tile:
    return Tile(shape, t.dtype, lambda idx: t.at(broadcast_index(t.shape, shape, idx)), reads=t.reads)


# --- COPY ------------------------------------------------------------------------------------------
def copy(em: Emitter, inst: Inst) -> None:
    src, dst = em.get(inst.operands[0]), em.get(inst.operands[1])
    offs = [em.get(v) for v in inst.operands[2:]]
    if isinstance(src, Global):
        em.before_write(dst.buf)
        win = _Window(em, inst, src, offs, inst.attr("shape"))
        em.line(f"T.copy({win.region()}, {dst.buf})")
    elif isinstance(dst, Global):
        win = _Window(em, inst, dst, offs, inst.attr("shape"))
        buf = src if src.scope in ("shared", "fragment") else em.materialize(src, hint=inst.operands[0].name)
        em.line(f"T.copy({buf.buf}, {win.region()})")
    else:
        if isinstance(src, Tile) and src.is_buffer and src.buf == dst.buf:
            return  # already there (a gemm accumulated into the buffer in place)
        name = inst.operands[0].name
        # ``buf += v``: a value read nowhere after this copy whose expression reads `dst` only at
        # the element it writes goes straight into `dst`; any other reader of `dst` is stored first
        # and the copy then reads that storage (never the expression again: computed twice)
        keep = name if em.uses[name] == 1 and _reads_only_same_element(_as_tile(src, dst), dst) else None
        em.before_write(dst.buf, keep=keep)
        em.materialize(_as_tile(em.get(inst.operands[0]), dst), into=dst)


def _as_tile(src: Tile | Scalar, dst: Tile) -> Tile:
    """`src` (a tile or a scalar) as a tile of `dst`'s shape."""
    t = src if isinstance(src, Tile) else Tile(dst.shape, dst.dtype, lambda idx: src.expr)
    return t if t.shape == dst.shape else _broadcast(t, dst.shape)


def _reads_only_same_element(t: Tile, dst: Tile) -> bool:
    """Whether every read of buffer `dst` in `t`'s element expression is of the element written
    (``acc[i0] = acc[i0] + ...``), so writing `t` into `dst` in place reads no element it changed."""
    idx = tuple(f"__elem{k}" for k in range(len(dst.shape)))
    text = t.at(idx)
    name = rf"(?<![\w.]){re.escape(dst.buf)}\["
    return len(re.findall(name, text)) == len(re.findall(name + re.escape(", ".join(idx)) + r"\]", text))


# --- DOT -------------------------------------------------------------------------------------------
def dot(em: Emitter, inst: Inst) -> None:
    if em.threads_region:
        raise BackendError("dot inside a thread region: a gemm is a block-wide operation", inst.loc,
                           hint="move the dot out of `td.threads`")
    a, b = em.get(inst.operands[0]), em.get(inst.operands[1])
    res = inst.result
    # an A operand computed from another gemm's fragment goes through shared memory when the two
    # gemms' warp partitions cannot agree on its layout (`gemms.plan_gemms`)
    a_scopes = ("shared",) if res.name in em.gemms.stage_a else ("shared", "fragment")
    a_buf, ta = _operand(em, a, a_scopes, a_scopes[-1], inst.operands[0].name)
    b_buf, tb = _operand(em, b, ("shared",), "shared", inst.operands[1].name)
    shape = em.static_shape(res.type.shape, inst)
    acc_v = inst.operands[2] if len(inst.operands) == 3 else None
    clear = acc_v is None
    if acc_v is not None:
        acc = em.get(acc_v)
        # the IR's fact (`analyses.in_place`: nothing, in this iteration or a later one, reads the
        # accumulator after the dot), and here: its fragment has the result's shape and no lazily
        # bound expression still reads it
        in_place = acc.scope == "fragment" and acc.shape == shape and res.name in em.in_place and (
            em.uses[acc_v.name] == 1  # the accumulator value dies here
            or (acc.is_buffer and em.uses[res.name] == 1  # ``buf += dot``: result goes back into buf
                and em.copied_back.get(res.name) == acc_v.name))
        if in_place:
            em.before_write(acc.buf, keep=acc_v.name)
            c = acc
        elif acc.fill is not None and acc.fill in ("0", "T.float32(0.0)") and em.uses[acc_v.name] == 1:
            c, clear = em.alloc(res.name, shape, res.type.dtype, "fragment"), True
        else:
            c = em.materialize(acc if acc.shape == shape else _broadcast(acc, shape), hint=res.name,
                               into=em.alloc(res.name, shape, res.type.dtype, "fragment"))
    else:
        c = em.alloc(res.name, shape, res.type.dtype, "fragment")
    policy = em.gemms.policy.get(res.name)
    flags = "".join([", transpose_A=True" if ta else "", ", transpose_B=True" if tb else "",
                     ", clear_accum=True" if clear else "",
                     f", policy=T.GemmWarpPolicy.{policy}" if policy else ""])
    em.line(f"T.gemm({a_buf}, {b_buf}, {c.buf}{flags})")
    em.gemm_bufs.update({a_buf, c.buf})
    em.env[res.name] = c


def _operand(em: Emitter, t: Tile, scopes, fallback: str, hint: str) -> tuple[str, bool]:
    """(buffer name, transposed?) of a gemm operand, staging it into `fallback` storage if needed."""
    if t.transposed_of is not None and t.transposed_of.scope in scopes:
        return t.transposed_of.buf, True
    if t.region_of is not None and t.region_of[0].scope in scopes:
        return t.region_of[1], False
    if t.is_buffer and t.scope in scopes:
        return t.buf, False
    return em.materialize(t, scope=fallback, hint=hint).buf, False


# --- TILE_REDUCE / SCAN ---------------------------------------------------------------------------
def tile_reduce(em: Emitter, inst: Inst) -> None:
    kind = inst.attr("kind")
    if em.threads_region:
        raise BackendError("tile reduction inside a thread region", inst.loc,
                           hint="reduce per-thread values across lanes with td.shfl_xor")
    x = em.materialize(em.get(inst.operands[0]), scope="fragment", hint=inst.operands[0].name)
    axis = inst.attr("axis") % len(x.shape)
    _annotate_reduced(em, x, axis)
    kept = x.shape[:axis] + x.shape[axis + 1:]
    dst = em.alloc(inst.result.name, kept or (1,), x.dtype, "fragment")
    em.line(f"{REDUCE_FN[kind]}({x.buf}, {dst.buf}, dim={axis}, clear=True)")
    res = inst.result
    if not res.type.shape:
        em.env[res.name] = Scalar(f"{dst.buf}[0]", x.dtype, reads=frozenset({dst.buf}))
    elif inst.attr("keepdims"):
        out = em.static_shape(res.type.shape, inst)
        em.env[res.name] = Tile(out, x.dtype, lambda idx: dst.at(tuple(idx[:axis] + idx[axis + 1:]) or ("0",)),
                                reads=dst.reads, cheap=True)
    else:
        em.env[res.name] = dst


def _annotate_reduced(em: Emitter, x: Tile, axis: int) -> None:
    """Give the reduced fragment a layout TileLang can reduce where its own would fail
    (`layouts.row_reduce_layout`); not a gemm's fragment, whose layout the gemm fixes."""
    if x.buf in em.layouts or x.buf in em.gemm_bufs:
        return
    text = layouts.row_reduce_layout(x.buf, x.shape, axis, x.dtype.itemsize, em.block_threads or 0)
    if text is not None:
        em.layouts[x.buf] = text
        em.allocs.append(text)


def scan(em: Emitter, inst: Inst) -> None:
    x = em.materialize(em.get(inst.operands[0]), scope="fragment", hint=inst.operands[0].name)
    axis = inst.attr("axis") % len(x.shape)
    dst = em.alloc(inst.result.name, x.shape, x.dtype, "fragment")
    em.line(f"T.cumsum({x.buf}, {dst.buf}, dim={axis})")
    em.env[inst.result.name] = dst

