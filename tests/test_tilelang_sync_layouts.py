"""TileLang lowering: no shared-memory write predicated to one replica of a vector fragment (which
TileLang's barrier insertion reported as "[ThreadSync] Hoisting sync out of an if whose condition
is not safe ... race remains"), and row reductions of shapes TileLang's own fragment layout cannot
reduce ("no available layout found"). Compile-only (CUDA C, no GPU).

The race report, read off the CUDA of the minimal kernel below (before the fix): ``pos`` (an
index vector, ``i * BN + arange``) was stored in a fragment; its other use (a ``where`` beside the
gemm's accumulator) gave it the accumulator's column layout, replicated over the 32 threads that
share a column; the masked load into shared memory read ``pos``, so TileLang partitioned that loop
like ``pos`` and wrapped it in ``if (tx % 32 // 4 * 4 + tx % 128 // 32 == 0)``: 8 of 256 threads
wrote the whole 32x64 tile. Those 8 threads wrote disjoint addresses and the barrier TileLang
hoisted before the branch still separated the writes from the gemm's reads, so the CUDA computed
the right values (the report was a false positive for this code), but a page of MLA's KV cache was
loaded by 1/32 of the block. Now index vectors stay expressions, and a vector fragment that a
shared-memory write reads goes through a shared copy first: every thread takes part and nothing is
predicated but that copy.
"""

from __future__ import annotations

import re

import pytest
from tiledsl.lowering.tilelang import layouts

import tiledsl as td
from tiledsl.dtypes import DType
from tiledsl.specs import TensorSpec as T

pytest.importorskip("tilelang")

f32, bf16, i32 = DType.f32, DType.bf16, DType.i32
THREADSYNC = "[ThreadSync]"
REPLICA_GUARD = re.compile(r"if \(\(\(\(\(\(\(int\)threadIdx\.x\) & 31\) >> 2\) \* 4\)")


@td.kernel
def index_vector_mask(x: td.Tensor, w: td.Tensor, out: td.Tensor, n: int,
                      BM: td.constexpr = 64, BN: td.constexpr = 32):
    """The minimal MLA pattern: a position vector masks a load that feeds a gemm and masks the
    gemm's result."""
    with td.grid(td.cdiv(n, BN)) as i:
        pos = i * BN + td.arange(0, BN)
        c = td.load(x, (i * BN, 0), (BN, 64), mask=(pos < n)[:, None])
        q = td.load(w, (0, 0), (BM, 64))
        s = td.dot(q, c.T)
        td.store(out, (0, i * BN), td.where(pos[None, :] < n - 1, s, 0.0))


@td.kernel
def loaded_vector_mask(x: td.Tensor, keep: td.Tensor, w: td.Tensor, out: td.Tensor,
                       BM: td.constexpr = 64, BN: td.constexpr = 32):
    """The same with a vector loaded from memory (it cannot be recomputed per use)."""
    with td.grid(x.shape[0] // BN) as i:
        k = td.load(keep, (i * BN,), (BN,))
        c = td.load(x, (i * BN, 0), (BN, 64), mask=(k > 0)[:, None])
        q = td.load(w, (0, 0), (BM, 64))
        s = td.dot(q, c.T)
        td.store(out, (0, i * BN), td.where(k[None, :] > 1, s, 0.0))


@td.kernel
def row_sum_residual(x: td.Tensor, out: td.Tensor, BM: td.constexpr = 4, W: td.constexpr = 576):
    with td.grid(x.shape[0] // BM) as i:
        t = td.load(x, (i * BM, 0), (BM, W))
        s = td.sum(t, axis=1)
        td.store(out, (i * BM, 0), t * 2.0 + s[:, None])


@td.kernel
def row_max(x: td.Tensor, out: td.Tensor, BM: td.constexpr = 16, W: td.constexpr = 576):
    with td.grid(x.shape[0] // BM) as i:
        t = td.load(x, (i * BM, 0), (BM, W))
        td.store(out, (i * BM,), td.max(t, axis=1))


def _cuda(ck, capfd) -> tuple[str, str]:
    """(CUDA C, what TileLang printed while lowering it): its warnings go to the process's stderr."""
    capfd.readouterr()
    cuda = ck.code("cuda")
    return cuda, capfd.readouterr().err


def test_index_vector_masking_a_shared_load_is_not_stored_or_predicated(capfd):
    ck = index_vector_mask.compile(T((256, 64), bf16), T((64, 64), bf16), T((64, 256), f32), 200,
                                   num_warps=8, backend="tilelang", target="h100")
    cuda, err = _cuda(ck, capfd)
    assert THREADSYNC not in err
    assert not REPLICA_GUARD.search(cuda)
    assert 'T.alloc_fragment((32,), "int32")' not in ck.code("tilelang")  # pos is recomputed, never stored


def test_loaded_vector_read_by_a_shared_write_goes_through_shared_memory(capfd):
    ck = loaded_vector_mask.compile(T((256, 64), bf16), T((256,), i32), T((64, 64), bf16), T((64, 256), f32),
                                    num_warps=8, backend="tilelang", target="h100")
    cuda, err = _cuda(ck, capfd)
    assert THREADSYNC not in err
    src = ck.code("tilelang")
    staged = re.search(r"T\.copy\((k\w*), (\w+_shared)\)", src)
    assert staged, src
    load = next(ln for ln in src.splitlines() if re.match(r"\s*c\w*\[i0\w*, i1\w*\] = ", ln))
    assert f"{staged.group(2)}[" in load and f"{staged.group(1)}[" not in load


@pytest.mark.slow
def test_mla_split_pass_lowers_without_an_unsafe_barrier(capfd):
    from tiledsl.kernels import mla

    from tests.test_kernels_mla import _split_specs

    args, kw = _split_specs()
    ck = mla.mla_split_kv.compile(*args, backend="tilelang", target="h100", **kw)
    src = ck.code("tilelang")
    assert not re.search(r"pos\w* = T\.alloc_fragment", src)
    cuda, err = _cuda(ck, capfd)
    assert THREADSYNC not in err
    assert not REPLICA_GUARD.search(cuda)  # every thread loads the KV page


@pytest.mark.parametrize("kernel, out_shape, bm, warps", [
    (row_sum_residual, (64, 576), 4, 4),  # was "no available layout found"
    (row_sum_residual, (64, 576), 16, 8),
    (row_max, (64,), 16, 4),  # was "no available layout found"
    (row_max, (64,), 4, 1),  # lowered before too
])
def test_576_wide_row_reductions_lower(kernel, out_shape, bm, warps):
    ck = kernel.compile(T((64, 576), f32), T(out_shape, f32), BM=bm, num_warps=warps,
                        backend="tilelang", target="h100")
    src = ck.code("tilelang")
    cuda = ck.code("cuda")
    assert "__global__" in cuda
    if layouts.row_reduce_layout("t", (bm, 576), 1, 4, 32 * warps) is not None:
        assert "T.annotate_layout({t: T.Fragment((" in src
        tpr = int(re.search(r"row groups of (\d+) threads", src).group(1))
        assert f"AllReduce<tl::{'Sum' if kernel is row_sum_residual else 'Max'}Op, {tpr}, 1," in cuda


def test_power_of_two_rows_keep_tilelangs_layout():
    ck = row_sum_residual.compile(T((64, 512), f32), T((64, 512), f32), BM=4, W=512, num_warps=4,
                                  backend="tilelang", target="h100")
    assert "annotate_layout" not in ck.code("tilelang")


def _layout_fns(text: str):
    m = re.search(r"forward_thread_fn=(lambda [^:]*:.*?), forward_index_fn=(lambda i, j: .*?)(, replicate=(\d+))?\)\}\)",
                  text)
    return eval(m.group(1)), eval(m.group(2)), int(m.group(4) or 1)  # noqa: S307 - our own text


@pytest.mark.parametrize("rows, cols, itemsize, threads", [
    (4, 576, 4, 128), (16, 576, 4, 128), (16, 576, 4, 256), (4, 576, 4, 32), (2, 576, 2, 256),
    (4, 640, 4, 128), (16, 320, 4, 128), (1, 576, 4, 128), (3, 96, 4, 64), (8, 768, 2, 256),
])
def test_row_reduce_layout_is_a_partition_by_row_groups(rows, cols, itemsize, threads):
    """Each thread (of each replica) holds each of its elements once, its elements fill its local
    array, and a row lives on one contiguous group of threads (what the all-reduce needs)."""
    text = layouts.row_reduce_layout("t", (rows, cols), 1, itemsize, threads)
    if text is None:
        return
    thread_fn, index_fn, rep = _layout_fns(text)
    per_thread = rows * cols * rep // threads
    seen: dict[int, set[int]] = {}
    row_threads: dict[int, set[int]] = {}
    for r in range(rep):
        for i in range(rows):
            for j in range(cols):
                th = thread_fn(i, j, r) if rep > 1 else thread_fn(i, j)
                k = index_fn(i, j)
                assert 0 <= th < threads and 0 <= k < per_thread
                assert k not in seen.setdefault(th, set())
                seen[th].add(k)
                if r == 0:
                    row_threads.setdefault(i, set()).add(th)
    assert len(seen) == threads and all(len(v) == per_thread for v in seen.values())
    for ths in row_threads.values():  # an aligned run of threads, as TileLang's AllReduce takes
        lo, n = min(ths), len(ths)
        assert ths == set(range(lo, lo + n)) and lo % n == 0 and threads % n == 0
