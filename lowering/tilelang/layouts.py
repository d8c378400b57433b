"""Explicit fragment layouts for row reductions whose shape TileLang's own partition cannot reduce.

TileLang gives a fragment with no other constraint (the destination of a ``T.copy`` or a
``T.Parallel`` loop) the layout of its loop partition: the tile's elements, fused row-major, in
16-byte vectors dealt round-robin to the block's threads. A row reduction (``T.reduce_*`` over
the last axis) then needs every thread's vectors to fall in rows that the same set of threads
holds; when a row's vector count and the thread count do not divide one way or the other (a
(4, 576) f32 tile on 128 threads: 144 vectors a row), layout inference fails with "no available
layout found" (or, for a bare reduction, works only for some warp counts). Measured on TileLang
0.1.15 for f32 rows of 96..1024 elements, 2..64 rows, 1..8 warps: every shape where `_default_ok`
holds lowered; the others failed for ``sum`` followed by an elementwise use of the row and the sum.

For those shapes the reduced fragment is annotated with a layout that gives each row to a whole
group of threads: `threads_per_row` threads (a divisor of both the thread count and the row's
vector count) each hold every `threads_per_row`-th vector of it, and the row groups take the rows
round-robin. The reduction is then a per-thread loop and one all-reduce over a contiguous group.
"""

from __future__ import annotations

import math

VECTOR_BYTES = 16  # TileLang vectorises fragment loops to 128-bit accesses


def _vector(cols: int, itemsize: int) -> int:
    """The widest vector (elements) of at most 16 bytes that divides a row."""
    v = max(1, VECTOR_BYTES // itemsize)
    while cols % v:
        v //= 2
    return v


def _default_ok(rows: int, cols: int, itemsize: int, threads: int) -> bool:
    """TileLang's own partition reduces rows: a row's vectors fill whole rounds of the threads,
    or a round of the threads takes whole rows and the tile whole rounds."""
    per_row = cols // _vector(cols, itemsize)
    return per_row % threads == 0 or (threads % per_row == 0 and (rows * per_row) % threads == 0)


def row_reduce_layout(buf: str, shape: tuple[int, ...], axis: int, itemsize: int, threads: int) -> str | None:
    """A ``T.annotate_layout`` line for fragment `buf` reduced along `axis`, or None where TileLang's
    own layout does (or the shape is not a 2-D row reduction)."""
    if len(shape) != 2 or axis != 1 or threads < 1:
        return None
    rows, cols = shape
    if _default_ok(rows, cols, itemsize, threads):
        return None
    for vec in _vectors(cols, itemsize):
        tpr = math.gcd(cols // vec, threads)  # threads per row: divides both
        groups = threads // tpr  # row groups, each `tpr` contiguous threads
        if rows % groups == 0:
            return _annotation(buf, shape, vec, tpr, groups, 1)
    # fewer rows than groups for every vector width: replicate each row over the spare groups
    vec = 1
    tpr = math.gcd(cols, threads)
    groups = math.gcd(rows, threads // tpr)
    return _annotation(buf, shape, vec, tpr, groups, threads // (tpr * groups))


def _vectors(cols: int, itemsize: int) -> list[int]:
    v, out = _vector(cols, itemsize), []
    while v >= 1:
        out.append(v)
        v //= 2
    return out


def _annotation(buf: str, shape: tuple[int, int], vec: int, tpr: int, groups: int, rep: int) -> str:
    rows, cols = shape
    per_thread = cols // (vec * tpr)  # vectors of one row a thread holds
    col = f"(j // {vec}) % {tpr}" if vec > 1 else f"j % {tpr}"
    thread = f"(i % {groups}) * {tpr} + {col}"
    index = f"(i // {groups}) * {per_thread * vec} + (j // {vec * tpr}) * {vec} + j % {vec}"
    if rep > 1:
        fn = f"lambda i, j, rep: rep * {groups * tpr} + {thread}"
        extra = f", replicate={rep}"
    else:
        fn = f"lambda i, j: {thread}"
        extra = ""
    return (f"T.annotate_layout({{{buf}: T.Fragment(({rows}, {cols}), forward_thread_fn={fn}, "
            f"forward_index_fn=lambda i, j: {index}{extra})}})  # row groups of {tpr} threads (layouts.py)")
