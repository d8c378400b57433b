"""The `with` forms of a kernel: `td.grid` (a tile program), `td.threads` (level 3) and the
warp-specialized `td.producer()` / `td.consumer()` regions. One handler per name in `CONTEXTS`."""

from __future__ import annotations

import ast

from tiledsl.dtypes import DType
from tiledsl.errors import FrontendError, KernelTypeError, LevelError
from tiledsl.frontend.builtins import _in_grid, _need_value, _sig
from tiledsl.frontend.values import KnobRef
from tiledsl.ir.nodes import Space
from tiledsl.ir.ops import Op


def ctx_grid(low, s: ast.With, item, args, kwargs):
    if low.in_grid:
        raise low.error(LevelError, "td.grid inside a td.grid", "one grid per kernel body")
    if kwargs or not 1 <= len(args) <= 3:
        raise low.error(KernelTypeError, "td.grid takes 1 to 3 sizes")
    sizes = [_need_value(low, "td.grid size", a) for a in args]
    for v in sizes:
        if v.type.space is not Space.SCALAR or not v.type.dtype.is_int:
            raise low.error(KernelTypeError, f"grid sizes are integer scalars, got {v.type}")
    names = _target_names(low, item, len(sizes))
    pids = tuple(low.builder.fresh(n or f"pid{i}", sizes[0].type.with_(dtype=sizes[0].type.dtype))
                 for i, n in enumerate(names))
    before = dict(low.env)
    for n, p in zip(names, pids):
        if n:
            low.env[n] = p
    low.in_grid = True
    try:
        body = low.region_body(s.body, pids)
    finally:
        low.in_grid = False
    low.env = before
    low.emit(Op.GRID, sizes, {}, (body,))


MAX_THREADS = 1024  # threads in one block (CUDA's limit)


def ctx_threads(low, s, item, args, kwargs):
    (count,) = _sig(low, "threads", args, kwargs, ("count",), {})
    _in_grid(low, "threads")
    if low.in_threads:
        raise low.error(LevelError, "td.threads inside td.threads")
    if not (isinstance(count, (int, KnobRef)) and not isinstance(count, bool)):
        raise low.error(KernelTypeError, "td.threads count is a compile-time int")
    if isinstance(count, int) and not 1 <= count <= MAX_THREADS:
        raise low.error(KernelTypeError, f"td.threads count must be 1 to {MAX_THREADS}, got {count}",
                        f"a thread block has at most {MAX_THREADS} threads; split the work over td.grid programs")
    names = _target_names(low, item, 1)
    from tiledsl.ir.nodes import Type

    tid = low.builder.fresh(names[0] or "tid", Type(DType.i32))
    before = dict(low.env)
    if names[0]:
        low.env[names[0]] = tid
    low.in_threads = True
    try:
        body = low.region_body(s.body, (tid,))
    finally:
        low.in_threads = False
    low.env = before
    low.emit(Op.THREADS, (), {"count": count.sym if isinstance(count, KnobRef) else count}, (body,))


def _role(role):
    def ctx(low, s, item, args, kwargs):
        _sig(low, role, args, kwargs, (), {})
        _in_grid(low, role)
        if item.optional_vars is not None:
            raise low.error(FrontendError, f"`with td.{role}()` binds no name")
        body = low.region_body(s.body, ())
        low.emit(Op.WARP_ROLE, (), {"role": role}, (body,))
    return ctx


def _target_names(low, item, n) -> list:
    t = item.optional_vars
    if t is None:
        return [None] * n
    if isinstance(t, ast.Name):
        if n != 1:
            raise low.error(FrontendError, f"this grid has {n} axes: bind `as ({', '.join('pid' + str(i) for i in range(n))})`")
        return [t.id]
    if isinstance(t, ast.Tuple) and all(isinstance(e, ast.Name) for e in t.elts):
        if len(t.elts) != n:
            raise low.error(FrontendError, f"{len(t.elts)} names for {n} axes")
        return [e.id for e in t.elts]
    raise low.error(FrontendError, "bind the program ids to plain names")


CONTEXTS = {"grid": ctx_grid, "threads": ctx_threads, "producer": _role("producer"), "consumer": _role("consumer")}
