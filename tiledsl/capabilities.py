"""What each backend can take: one record per backend, read by the legality pass, the cost model
and the backends themselves.

`tiledsl.passes.legality` checks a kernel against its backend's record before any scheduling
work and names, for an unsupported construct, the backends whose records take it; the cost model
reads the tile rules (`pow2_tiles`, `max_tile_numel`) when it prices schedule points; the Triton
and TileLang lowerings read their own tables (atomics, reductions) from here rather than keeping
copies. A leaf module (it imports only `tiledsl.dtypes`) so the IR verifier, the scheduler and the
backends can all read it.

Adding a backend: one `Capabilities` record in `RECORDS`; the legality pass and the hints of
every capability error pick it up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from tiledsl.dtypes import DType

ALL_DTYPES = frozenset(DType)
ALL_REDUCE_KINDS = frozenset({"sum", "max", "min", "prod", "argmax", "argmin"})
MAX_TILE_NUMEL = 1 << 20  # Triton's limit on the elements of one tile; the scheduler keeps it for all


def _table(d: dict[str, frozenset[DType]]) -> Mapping[str, frozenset[DType]]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True, eq=False)  # records are singletons: compared and hashed by identity
class Capabilities:
    """One backend's limits. `atomics` maps each atomic kind to the element dtypes it takes (on the
    backend's GPU build); `atomics_cpu`, where not None, is the narrower table of a CPU build, which
    is checked when the kernel is asked to run on CPU tensors (the GPU build may be fine)."""

    name: str
    where: str  # what it runs on, for hints: "a CUDA GPU", "CPU tensors", ...
    pow2_tiles: bool  # every tile dimension must be a power of two
    thread_level: bool  # level 3: td.threads, shuffles, barriers, warp roles
    reduce_kinds: frozenset[str]
    scan_kinds: frozenset[str]
    atomics: Mapping[str, frozenset[DType]]
    atomics_cpu: Mapping[str, frozenset[DType]] | None = None
    buffer_atomics: bool = True  # atomics on on-chip buffers (td.alloc_shared, td.alloc_local)
    tile_atomic_results: bool = True  # a tile atomic whose old values are used
    dot_dtypes: frozenset[DType] = ALL_DTYPES  # operand dtypes of td.dot / @
    max_tile_numel: int = MAX_TILE_NUMEL
    compiles: bool = True  # goes through the scheduler (eager mode runs the Python body instead)
    # on targets with TMA, epilogue stores (the IR's ``tma_store`` fact) go through descriptors,
    # staging the tile in shared memory: the scheduler budgets that buffer
    tma_store: bool = False
    # instructions a pipelined loop's iteration spends on its buffer and barrier-phase indices
    # beyond the power-of-two case, when the stage count is not a power of two (a modulo instead
    # of a mask); the scheduler breaks near-ties with it (`schedule.space.fragility`)
    stage_modulo_instrs: int = 0
    # a load of the leading columns of a page already in shared memory (V as the first DV columns
    # of an MLA K page: `tiledsl.ir.pages`) is a region of that page, not a second buffer: the
    # scheduler charges the page's shared memory once
    shared_page_views: bool = False
    # shared memory the backend adds beside the loads' buffers (the scheduler budgets it): a dot
    # operand computed in registers (``p.to(bf16)`` of attention) staged in a shared buffer for
    # the tensor cores; a workspace of this many bytes a thread for each tile reduction across
    # threads; this much static shared memory (barriers) in any kernel that uses shared memory
    shared_operands: bool = False
    reduce_workspace: int = 0
    static_smem: int = 0

    def takes_tile(self, dims: tuple[int, ...]) -> bool:
        """True when a tile of these static dims is one this backend can hold."""
        return not (self.pow2_tiles and any(d & (d - 1) for d in dims))


# Triton 3.9, measured (ahead-of-time compiles for sm_90, and runs in its interpreter; the table is
# docs/language.md "Atomics by backend"). In interpreter builds bf16/fp8 tensors hold their own bits
# while values are f32 (lowering/triton/helpers.py), so no atomic reaches them.
_WIDE = frozenset({DType.f64, DType.f32, DType.i32, DType.i64})
TRITON = Capabilities(
    name="triton", where="a CUDA GPU, or CPU tensors in Triton's interpreter",
    pow2_tiles=True,  # tl.arange and block shapes need powers of two
    thread_level=False,
    reduce_kinds=ALL_REDUCE_KINDS,
    scan_kinds=frozenset({"sum"}),
    atomics=_table({"add": _WIDE | {DType.f16, DType.bf16}, "max": _WIDE, "min": _WIDE, "xchg": _WIDE}),
    atomics_cpu=_table({"add": _WIDE | {DType.f16}, "max": _WIDE, "min": _WIDE,
                        "xchg": _WIDE}),  # f32/f64 exchanged through their bits as ints
    buffer_atomics=False,  # Triton keeps buffers as tile values: no addresses to update
    # what tl.dot takes (triton/language/semantic.py: `dot` asserts these)
    dot_dtypes=frozenset({DType.f16, DType.bf16, DType.f32, DType.f64, DType.i8, DType.u8,
                          DType.f8e4m3, DType.f8e5m2}),
    tma_store=True,  # lowering/triton/tma.py
)

TILELANG = Capabilities(
    name="tilelang", where="a CUDA GPU",
    pow2_tiles=False,  # fragments and shared buffers of any static shape (MLA's 576-wide head)
    thread_level=True,
    reduce_kinds=frozenset({"sum", "max", "min", "prod"}),  # T.reduce_sum / _max / _min; prod serially
    scan_kinds=frozenset({"sum"}),  # T.cumsum
    atomics=_table({"add": ALL_DTYPES, "max": ALL_DTYPES, "min": ALL_DTYPES}),  # no exchange
    tile_atomic_results=False,  # T.atomic_* on a tile returns nothing per element
    # T.Pipelined at 3 stages: 13-16 more SASS loop instructions than at 2 or 4 (bf16 GEMM
    # 64x7168x2048: 111 / 160 / 144 at 2 / 3 / 4 stages; FP8 4096x7168x2048: 128 / 141 / 128;
    # benchmarks/static_parity_tilelang.py). Triton's loop is the same at 2, 3 and 4 (106).
    stage_modulo_instrs=14,
    shared_page_views=True,  # lowering/tilelang/memory.py `_leading_region`
    # ptxas -v on the parity set (benchmarks/static_parity_tilelang.py): ``p_1`` of the paged
    # decode probe is a T.alloc_shared, each T.reduce_* across warps a float32 a thread, and
    # 1 KB static (the barriers, aligned) in every kernel
    shared_operands=True, reduce_workspace=4, static_smem=1024,
)

IR = Capabilities(
    name="ir", where="CPU tensors",
    pow2_tiles=False, thread_level=True, reduce_kinds=ALL_REDUCE_KINDS, scan_kinds=frozenset({"sum"}),
    atomics=_table({"add": ALL_DTYPES, "max": ALL_DTYPES, "min": ALL_DTYPES, "xchg": ALL_DTYPES}),
)

EAGER = Capabilities(
    name="eager", where="CPU or CUDA tensors",
    pow2_tiles=False, thread_level=True, reduce_kinds=ALL_REDUCE_KINDS, scan_kinds=frozenset({"sum"}),
    atomics=IR.atomics, compiles=False,
)

RECORDS: Mapping[str, Capabilities] = MappingProxyType(
    {c.name: c for c in (TRITON, TILELANG, IR, EAGER)})

# A schedule made for no particular backend (`tiledsl.schedule.schedule` without one) must fit
# every compiled backend: the strictest tile rules of them all.
ANY = Capabilities(
    name="any", where="every backend",
    pow2_tiles=any(c.pow2_tiles for c in RECORDS.values() if c.compiles),
    thread_level=all(c.thread_level for c in RECORDS.values() if c.compiles),
    reduce_kinds=frozenset.intersection(*(c.reduce_kinds for c in RECORDS.values())),
    scan_kinds=frozenset.intersection(*(c.scan_kinds for c in RECORDS.values())),
    atomics=_table({}),
    max_tile_numel=min(c.max_tile_numel for c in RECORDS.values()),
    tma_store=any(c.tma_store for c in RECORDS.values() if c.compiles),  # budget the buffer if any does
    shared_page_views=all(c.shared_page_views for c in RECORDS.values() if c.compiles),  # a copy if any makes one
    # shared_operands, reduce_workspace, static_smem: left at none (Triton's: a schedule for no
    # backend is priced as Triton's, tests/test_triton_tma.py)
)


def capabilities(backend: str | None) -> Capabilities:
    """The record of `backend` ("triton", "tilelang", "ir", "eager"); `None` gives `ANY`."""
    if backend is None:
        return ANY
    try:
        return RECORDS[backend]
    except KeyError:
        raise ValueError(f"unknown backend {backend!r}; backends: {', '.join(RECORDS)}") from None
