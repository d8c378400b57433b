"""Interpreter rules of the memory ops: LOAD, STORE, ATOMIC, COPY, ALLOC, ALLOC_LOCAL.

A *window* is what a load/store addresses in a tensor (a global parameter or a buffer), one entry
per axis of the tensor (see `tiledsl.ir.ops`):

- ``block n``: a scalar offset and a size n: indices ``off .. off + n - 1``;
- ``gather n``: a 1-D int tile of n indices;
- ``drop``: a scalar offset, shape entry None: one index, the axis is dropped from the result.

Elements outside the tensor (index < 0 or >= size) are never touched: loads give `other`
(default 0), stores and atomics skip them; an explicit mask removes more. The common case, a block
window entirely in bounds and no gather, is a plain slice; only ragged edges pay for index grids.

Duplicate indices: STORE through gathered indices that repeat writes one of the values (the last
one here; unspecified on a GPU). ATOMIC applies updates to the same element one after another in
row-major order of the window, each update seeing the previous one, so it returns the old values a
GPU could have returned had the lanes run in order; programs of a grid run one after another.
COPY from a global window into a buffer fills out-of-bounds elements with 0 (so that a padded GEMM
tile multiplies zeros).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tiledsl.dtypes import DType
from tiledsl.interp.plan import Ctx, Factory, Kernel, bind, pure
from tiledsl.interp.values import TORCH, cast, constant, poison, upcast
from tiledsl.ir.nodes import Inst, Space, Type, Value
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import window_of

_DROP, _BLOCK, _GATHER = 0, 1, 2


@dataclass(frozen=True)
class Window:
    kinds: tuple[int, ...]  # per axis of the tensor: _DROP, _BLOCK or _GATHER
    aranges: tuple[torch.Tensor | None, ...]  # 0..n-1 (int64) of each block axis
    shape: tuple[int, ...]  # the window's shape (kept axes only)
    has_gather: bool

    @staticmethod
    def of(inst: Inst, ctx: Ctx, tensor: Type, offsets: tuple[Value, ...], shape_attr) -> Window:
        if shape_attr is None:
            shape_attr = (None,) * tensor.rank
        kinds, aranges, shape = [], [], []
        for off, d in zip(offsets, shape_attr):
            if off.type.rank == 1:
                kinds.append(_GATHER)
                aranges.append(None)
                shape.append(ctx.dim(off.type.shape[0], inst))
            elif d is None:
                kinds.append(_DROP)
                aranges.append(None)
            else:
                n = ctx.dim(d, inst)
                kinds.append(_BLOCK)
                aranges.append(torch.arange(n))
                shape.append(n)
        return Window(tuple(kinds), tuple(aranges), tuple(shape), _GATHER in kinds)

    def slices(self, sizes, offs) -> tuple | None:
        """Basic indexing for an in-bounds window without gathers, else None."""
        if self.has_gather:
            return None
        out: list = []
        for kind, ar, size, off in zip(self.kinds, self.aranges, sizes, offs):
            o = int(off)
            if kind == _BLOCK:
                if o < 0 or o + len(ar) > size:
                    return None
                out.append(slice(o, o + len(ar)))
            else:
                if o < 0 or o >= size:
                    return None
                out.append(o)
        return tuple(out)

    def grid(self, sizes, offs, mask) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """Index tensors (clamped in bounds, broadcastable to the window) and where it is valid."""
        nk = len(self.shape)
        idxs, valid, k = [], mask, 0
        for kind, ar, size, off in zip(self.kinds, self.aranges, sizes, offs):
            if kind == _DROP:
                ix = off.long()
            else:
                ix = ar + int(off) if kind == _BLOCK else off.long()
                view = [1] * nk
                view[k] = -1
                ix = ix.view(view)
                k += 1
            ok = (ix >= 0) & (ix < size)
            valid = ok if valid is None else valid & ok
            idxs.append(ix.clamp(0, max(size - 1, 0)))
        if valid is None:
            valid = torch.ones((), dtype=torch.bool)
        return tuple(idxs), valid

    def full_grid(self, sizes, offs, mask):
        """`grid` expanded to the window: per-element index tuples of the valid elements (in
        row-major order) and the window-shaped validity mask."""
        idxs, valid = self.grid(sizes, offs, mask)
        valid = valid.expand(self.shape)
        return tuple(ix.expand(self.shape)[valid] for ix in idxs), valid

    # --- the three accesses -------------------------------------------------------------------------
    def read(self, src: torch.Tensor, offs, mask, other: torch.Tensor) -> torch.Tensor:
        sl = self.slices(src.shape, offs)
        if sl is not None:
            vals = src[sl]
            return vals.clone() if mask is None else torch.where(mask, vals, other)
        if 0 in src.shape:
            return other.expand(self.shape).clone()
        idxs, valid = self.grid(src.shape, offs, mask)
        return torch.where(valid, src[idxs], other)

    def write(self, dst: torch.Tensor, offs, value: torch.Tensor, mask) -> None:
        sl = self.slices(dst.shape, offs)
        if sl is not None:
            if mask is None:
                dst[sl] = value
            else:
                region = dst[sl]
                region.copy_(torch.where(mask, value, region))
            return
        if 0 in dst.shape:
            return
        pos, valid = self.full_grid(dst.shape, offs, mask)
        dst[pos] = value.expand(self.shape)[valid]


# --- LOAD / STORE ---------------------------------------------------------------------------------------
def _split(inst: Inst) -> tuple[Value, tuple[Value, ...], list[Value], bool]:
    """(tensor, offsets, the rest without the mask, masked?)."""
    w = window_of(inst)
    return w.tensor, w.offsets, list(w.rest), w.mask is not None


def _load(inst: Inst, ctx: Ctx) -> Kernel:
    src, offsets, _, masked = _split(inst)
    win = Window.of(inst, ctx, src.type, offsets, inst.attr("shape"))
    try:
        other = constant(inst.attr("other", 0) or 0, src.type.dtype)
    except (ValueError, OverflowError):
        ctx.fail(inst, f"other={inst.attr('other')!r} is not a {src.type.dtype.value} value")
    rank = src.type.rank

    def load(t, *rest):
        return win.read(t, rest[:rank], rest[rank] if masked else None, other)
    return load


def _store(inst: Inst, ctx: Ctx) -> Kernel:
    dst, offsets, _, masked = _split(inst)
    win = Window.of(inst, ctx, dst.type, offsets, inst.attr("shape"))
    rank = dst.type.rank

    def store(t, *rest):
        win.write(t, rest[:rank], rest[rank], rest[rank + 1] if masked else None)
    return store


# --- ATOMIC ------------------------------------------------------------------------------------------------
def _combine(kind: str, dt: DType):
    """new value of an element from its current value and the update, rounded like the GPU op."""
    if kind == "add":
        return lambda cur, v: cast(upcast(cur) + upcast(v), dt)
    if kind == "max":
        return lambda cur, v: cast(torch.maximum(upcast(cur), upcast(v)), dt)
    if kind == "min":
        return lambda cur, v: cast(torch.minimum(upcast(cur), upcast(v)), dt)
    return lambda cur, v: v


def occurrence_rank(key: torch.Tensor) -> torch.Tensor:
    """For each element, how many earlier elements have the same key (0 for the first)."""
    m = key.numel()
    sk, perm = torch.sort(key, stable=True)
    ar = torch.arange(m)
    start = torch.ones(m, dtype=torch.bool)
    start[1:] = sk[1:] != sk[:-1]
    seg = torch.cummax(torch.where(start, ar, 0), 0).values
    rank = torch.empty(m, dtype=torch.long)
    rank[perm] = ar - seg
    return rank


def apply_atomic(dst: torch.Tensor, pos: tuple[torch.Tensor, ...], vals: torch.Tensor, combine,
                 may_repeat: bool) -> torch.Tensor:
    """Apply updates at `pos` in order; returns each update's old value. Updates that hit an
    element already updated run in later rounds, so each sees the ones before it."""
    olds = torch.empty_like(vals)
    if vals.numel() == 0:
        return olds
    rounds = None
    if may_repeat:
        key = torch.zeros_like(pos[0])
        for ix, size in zip(pos, dst.shape):
            key = key * size + ix
        rank = occurrence_rank(key)
        if int(rank.max()) > 0:
            rounds = rank
    if rounds is None:
        cur = dst[pos]
        dst[pos] = combine(cur, vals)
        return cur
    for r in range(int(rounds.max()) + 1):
        sel = rounds == r
        p = tuple(ix[sel] for ix in pos)
        cur = dst[p]
        olds[sel] = cur
        dst[p] = combine(cur, vals[sel])
    return olds


def _atomic(inst: Inst, ctx: Ctx) -> Kernel:
    dst, offsets, _, masked = _split(inst)
    win = Window.of(inst, ctx, dst.type, offsets, inst.attr("shape"))
    dt = dst.type.dtype
    combine = _combine(inst.attr("kind"), dt)
    rank = dst.type.rank
    zeros = torch.zeros(win.shape, dtype=TORCH[dt])

    def atomic(t, *rest):
        out = zeros.clone()
        if 0 in t.shape:
            return out
        value, mask = rest[rank], (rest[rank + 1] if masked else None)
        pos, valid = win.full_grid(t.shape, rest[:rank], mask)
        out[valid] = apply_atomic(t, pos, value.expand(win.shape)[valid], combine, win.has_gather)
        return out
    return atomic


# --- COPY and buffers ----------------------------------------------------------------------------------------
def _copy(inst: Inst, ctx: Ctx) -> Kernel:
    src, dst = inst.operands[0], inst.operands[1]
    offsets = inst.operands[2:]
    shape = inst.attr("shape")
    dst_dt = dst.type.dtype
    if src.type.space is Space.GLOBAL:
        win = Window.of(inst, ctx, src.type, offsets, shape)
        zero = constant(0, src.type.dtype)

        def copy_in(s, d, *offs):
            d.copy_(cast(win.read(s, offs, None, zero), dst_dt))
        return copy_in
    if dst.type.space is Space.GLOBAL:
        win = Window.of(inst, ctx, dst.type, offsets, shape)

        def copy_out(s, d, *offs):
            win.write(d, offs, cast(s, dst_dt), None)
        return copy_out

    def copy_local(s, d):
        d.copy_(cast(s, dst_dt))
    return copy_local


def _alloc(inst: Inst, ctx: Ctx):
    """ALLOC / ALLOC_LOCAL: a fresh buffer each time the inst runs (per program, per thread)."""
    t = inst.result.type
    shape, dt = ctx.shape(t, inst), t.dtype
    return bind(lambda: poison(shape, dt), (), ctx.slot(inst.result))


RULES: dict[Op, Factory] = {
    Op.LOAD: pure(_load),
    Op.STORE: pure(_store),
    Op.ATOMIC: pure(_atomic),
    Op.COPY: pure(_copy),
    Op.ALLOC: _alloc,
    Op.ALLOC_LOCAL: _alloc,
}
