"""Eager memory ops: td.load, td.store, atomics, td.copy, buffers, td.annotate_layout.

A *window* is what an access addresses in a tensor, one entry per axis: an int offset and a size
(a block), a 1-D int tile of indices (a gather), or an int offset and no size (one index; the axis
is dropped). Elements outside the tensor are never touched: loads read `other`, stores and
atomics skip them, and `mask=` removes more. Programs run one after another and the lanes of one
access in row-major order of the window, so a store through repeated gather indices keeps the
last value, and an atomic applies repeated updates one after another, each seeing the previous.
"""

from __future__ import annotations

import torch

from tiledsl.dtypes import DType
from tiledsl.eager.ops import need_dtype, need_grid, static_shape
from tiledsl.eager.values import (
    BUFFERS,
    STATE,
    TORCH,
    Val,
    cast_t,
    const_t,
    describe,
    device,
    fail,
    is_num,
    read,
    store_into_buffer,
    up,
)
from tiledsl.errors import KernelTypeError, LevelError


# --- windows -----------------------------------------------------------------------------------------
def _target(name: str, x) -> Val:
    if not isinstance(x, Val) or not (x.kind == "global" or x.kind in BUFFERS):
        raise fail(KernelTypeError, f"td.{name} addresses a tensor parameter or a buffer, got {describe(x)}")
    return x


def _offsets(name: str, x: Val, offsets) -> list:
    """Per axis: an int (a scalar offset) or an int64 tensor (a gather's indices)."""
    if not isinstance(offsets, (tuple, list)):
        offsets = (offsets,)
    if len(offsets) != x.t.dim():
        raise fail(KernelTypeError, f"td.{name} into a rank-{x.t.dim()} tensor needs {x.t.dim()} offsets, got {len(offsets)}")
    out = []
    for o in offsets:
        if isinstance(o, int) and not isinstance(o, bool):
            out.append(o)
        elif isinstance(o, Val) and o.dt.is_int and o.t.dim() == 0:
            out.append(int(o.t))
        elif isinstance(o, Val) and o.dt.is_int and o.t.dim() == 1:
            out.append(read(o).long().to(x.t.device))
        else:
            raise fail(KernelTypeError, f"td.{name} offsets must be integer scalars or 1-D integer tiles, got {describe(o)}")
    return out


def _covered(offs: list, covered: tuple) -> tuple:
    """The window a value of shape `covered` occupies: a gather axis takes its index count; the
    value's other axes cover the trailing scalar-offset axes; leading ones are dropped."""
    shape: list = [None] * len(offs)
    dims = list(covered)
    gathers_left = sum(1 for o in offs if isinstance(o, torch.Tensor))
    for ax in reversed(range(len(offs))):
        if isinstance(offs[ax], torch.Tensor):
            shape[ax] = int(offs[ax].shape[0])
            gathers_left -= 1
            if dims:
                dims.pop()
        elif len(dims) > gathers_left:
            shape[ax] = dims.pop()
    return tuple(shape)


def _grid(name: str, x: Val, offs: list, sizes: tuple, mask) -> tuple[tuple, tuple, torch.Tensor]:
    """(clamped index tensors broadcastable to the window, the window's shape, where valid)."""
    dev = x.t.device
    kept = sum(1 for s in sizes if s is not None)
    win = tuple(s for s in sizes if s is not None)
    idxs, valid, k = [], None, 0
    for ax, (off, n) in enumerate(zip(offs, sizes)):
        size = int(x.t.shape[ax])
        if isinstance(off, torch.Tensor):
            if n is None or n != off.shape[0]:
                raise fail(KernelTypeError, f"td.{name} axis {ax} is indexed by a tile of {off.shape[0]} indices but its size is {n}")
            ix = off
        elif n is None:
            ix = torch.tensor(off, dtype=torch.long, device=dev)
        else:
            ix = torch.arange(off, off + n, dtype=torch.long, device=dev)
        if ix.dim():
            view = [1] * kept
            view[k] = -1
            ix = ix.view(view)
            k += 1
        ok = (ix >= 0) & (ix < size)
        valid = ok if valid is None else valid & ok
        idxs.append(ix.clamp(0, max(size - 1, 0)))
    if valid is None:
        valid = torch.ones((), dtype=torch.bool, device=dev)
    if mask is not None:
        m = _mask(name, mask, win).to(dev)
        valid = valid & m
    return tuple(idxs), win, valid.expand(win)


def _mask(name: str, mask, win: tuple) -> torch.Tensor:
    if isinstance(mask, bool):
        return torch.tensor(mask)
    if not isinstance(mask, Val) or not mask.dt.is_bool:
        raise fail(KernelTypeError, f"td.{name} mask must be a bool value, got {describe(mask)}",
                   "compare to build a mask, e.g. rows < n")
    try:
        if tuple(torch.broadcast_shapes(tuple(mask.t.shape), win)) != win:
            raise RuntimeError
    except RuntimeError:
        raise fail(KernelTypeError, f"td.{name} mask of shape {tuple(mask.t.shape)} does not fit the window {win}") from None
    return read(mask)


def _value(name: str, x: Val, value, offs: list) -> tuple[torch.Tensor, tuple]:
    """The value of a store-like op as a tensor of x's dtype, and the window it covers."""
    if is_num(value):
        value = Val(const_t(value, x.dt), x.dt, "scalar")
    if not isinstance(value, Val):
        raise fail(KernelTypeError, f"td.{name} needs a value, got {describe(value)}")
    if value.dt is not x.dt:
        raise fail(KernelTypeError, f"td.{name} of {value.dt.value} into a {x.dt.value} tensor",
                   "cast first: value.to(x.dtype)")
    sizes = _covered(offs, tuple(value.t.shape))
    win = tuple(s for s in sizes if s is not None)
    ok = not value.t.dim() or value.t.dim() == len(win)
    if ok:
        try:
            ok = tuple(torch.broadcast_shapes(tuple(value.t.shape), win)) == win
        except RuntimeError:
            ok = False
    if not ok:
        raise fail(KernelTypeError, f"td.{name} of a {tuple(value.t.shape)} value into a rank-{x.t.dim()} tensor "
                   f"at these offsets (window {win})")
    return read(value), sizes


def _keys(pos: tuple, shape) -> torch.Tensor:
    key = torch.zeros_like(pos[0])
    for ix, size in zip(pos, shape):
        key = key * int(size) + ix
    return key


def _occurrence(key: torch.Tensor) -> torch.Tensor:
    """For each element, how many earlier elements (in order) have the same key."""
    m = key.numel()
    sk, perm = torch.sort(key, stable=True)
    ar = torch.arange(m, device=key.device)
    start = torch.ones(m, dtype=torch.bool, device=key.device)
    start[1:] = sk[1:] != sk[:-1]
    first = torch.cummax(torch.where(start, ar, torch.zeros_like(ar)), 0).values
    rank = torch.empty(m, dtype=torch.long, device=key.device)
    rank[perm] = ar - first
    return rank


# --- load / store / atomics --------------------------------------------------------------------------
def load(x, offsets, shape=None, mask=None, other=0):
    need_grid("load")
    x = _target("load", x)
    offs = _offsets("load", x, offsets)
    if shape is None:
        sizes = (None,) * len(offs)
    else:
        sizes = static_shape("td.load", shape, allow_none=True)
        if len(sizes) != len(offs):
            raise fail(KernelTypeError, f"td.load shape {sizes} has {len(sizes)} entries; the tensor has rank {len(offs)}")
    if not is_num(other):
        raise fail(KernelTypeError, f"td.load other= must be a number, got {describe(other)}")
    other_t = const_t(float(other) if x.dt.is_float else int(other), x.dt).to(x.t.device)
    idxs, win, valid = _grid("load", x, offs, sizes, mask)
    if x.t.numel() == 0:
        out = other_t.expand(win).clone()
    else:
        out = torch.where(valid, x.t[idxs], other_t)
    return Val(out, x.dt, "tile" if win else "scalar")


def store(x, offsets, value, mask=None):
    need_grid("store")
    x = _target("store", x)
    offs = _offsets("store", x, offsets)
    v, sizes = _value("store", x, value, offs)
    idxs, win, valid = _grid("store", x, offs, sizes, mask)
    _write(x, idxs, win, valid, v.to(x.t.device), any(isinstance(o, torch.Tensor) for o in offs))


def _write(x: Val, idxs: tuple, win: tuple, valid: torch.Tensor, v: torch.Tensor, gathers: bool) -> None:
    if x.t.numel() == 0:
        return
    pos = tuple(ix.expand(win)[valid] for ix in idxs)
    vals = v.expand(win)[valid]
    if gathers and vals.numel():  # repeated indices: the last write (row-major order) wins
        last = _occurrence(_keys(pos, x.t.shape).flip(0)).flip(0) == 0  # no later lane has its key
        pos = tuple(p[last] for p in pos)
        vals = vals[last]
    x.t[pos] = vals


def _combine(kind: str, dt: DType):
    if kind == "add":
        return lambda cur, v: cast_t(up(cur) + up(v), _dt_of(up(cur)), dt)
    if kind == "max":
        return lambda cur, v: cast_t(torch.maximum(up(cur), up(v)), _dt_of(up(cur)), dt)
    if kind == "min":
        return lambda cur, v: cast_t(torch.minimum(up(cur), up(v)), _dt_of(up(cur)), dt)
    return lambda cur, v: v


def _dt_of(t: torch.Tensor) -> DType:
    from tiledsl.eager.values import FROM_TORCH

    return FROM_TORCH[t.dtype]


def _atomic(kind: str):
    name = f"atomic_{kind}"

    def atomic(x, offsets, value, mask=None):
        need_grid(name)
        x = _target(name, x)
        offs = _offsets(name, x, offsets)
        v, sizes = _value(name, x, value, offs)
        idxs, win, valid = _grid(name, x, offs, sizes, mask)
        old = torch.zeros(win, dtype=TORCH[x.dt], device=x.t.device)  # masked-off lanes read 0
        if x.t.numel():
            pos = tuple(ix.expand(win)[valid] for ix in idxs)
            vals = v.to(x.t.device).expand(win)[valid]
            old[valid] = _apply(x.t, pos, vals, _combine(kind, x.dt),
                                any(isinstance(o, torch.Tensor) for o in offs))
        return Val(old, x.dt, "tile" if win else "scalar")
    atomic.__name__ = name
    return atomic


def _apply(dst: torch.Tensor, pos: tuple, vals: torch.Tensor, combine, may_repeat: bool) -> torch.Tensor:
    """Apply the updates in order; each update to an element already updated runs in a later
    round, so it sees the earlier ones. Returns each update's old value."""
    olds = torch.empty_like(vals)
    if not vals.numel():
        return olds
    rank = _occurrence(_keys(pos, dst.shape)) if may_repeat else torch.zeros(vals.shape, dtype=torch.long, device=vals.device)
    for r in range(int(rank.max()) + 1):
        sel = rank == r
        p = tuple(ix[sel] for ix in pos)
        cur = dst[p]
        olds[sel] = cur
        dst[p] = combine(cur, vals[sel])
    return olds


ATOMICS = {f"atomic_{k}": _atomic(k) for k in ("add", "max", "min", "xchg")}


# --- buffers and copies ---------------------------------------------------------------------------------
def _poison(shape: tuple, dt: DType) -> torch.Tensor:
    """Fresh buffers hold garbage on a GPU: NaN (floats) or a marker (ints) here, so a kernel
    that reads a buffer before writing it shows it."""
    if dt.is_float:
        return torch.full(shape, float("nan"), dtype=TORCH[dt], device=device())
    if dt.is_bool:
        return torch.zeros(shape, dtype=torch.bool, device=device())
    marker = 0xA5 if dt is DType.u8 else torch.iinfo(TORCH[dt]).min + 0x5A
    return torch.full(shape, marker, dtype=TORCH[dt], device=device())


def _alloc(space: str):
    name = f"alloc_{space}"

    def alloc(shape, dtype):
        need_grid(name)
        if space == "local" and not STATE.in_threads:
            raise fail(LevelError, "td.alloc_local is a thread-level (level 3) op",
                       "put it inside `with td.threads(n) as tid:` within a td.grid")
        shape = static_shape(f"td.{name}", shape)
        dtype = need_dtype(f"td.{name}", dtype)
        return Val(_poison(shape, dtype), dtype, space)
    alloc.__name__ = name
    return alloc


ALLOCS = {f"alloc_{s}": _alloc(s) for s in ("shared", "fragment", "local")}


def copy(src, dst, offsets=None):
    """tensor window -> buffer (elements past the edge read 0), buffer or tile -> tensor window
    (out-of-bounds elements skipped), value -> buffer (cast to the buffer's dtype)."""
    need_grid("copy")
    if is_num(src):
        src = Val(const_t(src, DType.f32 if isinstance(src, float) else DType.i32), DType.f32 if isinstance(src, float) else DType.i32, "scalar")
    for v in (src, dst):
        if not isinstance(v, Val):
            raise fail(KernelTypeError, f"td.copy needs values, got {describe(v)}")
    if src.kind == "global" and dst.kind == "global":
        raise fail(KernelTypeError, "td.copy between two global tensors", "load into a buffer first")
    if src.kind == "global" or dst.kind == "global":
        glob, other = (src, dst) if src.kind == "global" else (dst, src)
        if offsets is None:
            raise fail(KernelTypeError, "td.copy to or from a tensor needs offsets=(...)")
        if src.dt is not dst.dt:
            raise fail(KernelTypeError, f"td.copy from {src.dt.value} to {dst.dt.value}", "cast the value with .to() and copy that")
        if glob is src and dst.kind not in BUFFERS:
            raise fail(KernelTypeError, f"td.copy writes into a buffer or a tensor, not {describe(dst)}")
        offs = _offsets("copy", glob, offsets)
        sizes = _covered(offs, tuple(other.t.shape))
        win = tuple(s for s in sizes if s is not None)
        if win != tuple(other.t.shape):
            raise fail(KernelTypeError, f"td.copy window {win} does not match the shape {tuple(other.t.shape)} of {describe(other)}")
        idxs, win, valid = _grid("copy", glob, offs, sizes, None)
        if glob is src:
            zero = torch.zeros((), dtype=TORCH[src.dt], device=src.t.device)
            vals = torch.where(valid, src.t[idxs], zero) if src.t.numel() else zero.expand(win)
            dst.t.copy_(vals.to(dst.t.device))
        else:
            _write(dst, idxs, win, valid, read(src).to(dst.t.device), any(isinstance(o, torch.Tensor) for o in offs))
        return
    if offsets is not None:
        raise fail(KernelTypeError, "td.copy between on-chip values takes no offsets")
    if dst.kind not in BUFFERS:
        raise fail(KernelTypeError, f"td.copy writes into a buffer (alloc_shared / alloc_fragment), not {describe(dst)}")
    store_into_buffer(dst, src)


def annotate_layout(buffer, swizzle=128):
    """Swizzling changes where bytes sit in shared memory, never what a load returns: checked,
    then nothing to do."""
    need_grid("annotate_layout")
    if not isinstance(buffer, Val) or buffer.kind != "shared":
        raise fail(KernelTypeError, f"td.annotate_layout takes a shared buffer, got {describe(buffer)}")
    if swizzle not in (0, 32, 64, 128) or isinstance(swizzle, bool):
        raise fail(KernelTypeError, f"swizzle must be 0, 32, 64 or 128 bytes, got {swizzle!r}")
