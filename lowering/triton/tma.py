"""TMA (Hopper's tensor memory accelerator) for the tile loads of pipelined loops and the epilogue
stores after them: which accesses qualify, the descriptors they go through, and the source that
loads and stores through them.

API choice: host-side ``triton.tools.tensor_descriptor.TensorDescriptor``, built by the generated
launcher and passed as kernel arguments (``a_desc.load([mul, mul_1])`` in the kernel). It behaves
the same in Triton 3.6 and the newest release (``tensordesc<bf16[128, 128]>`` in ahead-of-time
signatures), needs no ``triton.set_allocator`` (device-side ``tl.make_tensor_descriptor`` does: it
writes the descriptor to a global scratch buffer, and setting the process-wide allocator from
generated code would overwrite the user's), and the driver encodes the ``CUtensorMap`` on the host.

Semantics: a TMA load fills elements outside the tensor (index < 0 or >= size) with zeros, which is
exactly the IR's bounds masking of a LOAD with ``other`` 0; so only windows with no user mask, no
gather axis and ``other`` 0 qualify. A TMA store writes only the elements of its box inside the
tensor (the rest is dropped, at ragged edges and below 0 alike), which is exactly the IR's bounds
masking of a STORE; so only stores with no user mask qualify.

What qualifies: the scheduled IR's ``tma`` fact (`tiledsl.passes.analyses`, the pass
``analyze_facts``) lists the reads of the first four kinds below with the byte alignment of their
last-axis offset; `plan` keeps those TMA's box limits and Triton's offset rule allow:
  - the load is inside a pipelined loop (``td.pipelined`` / a FOR with ``stages``): that is where
    the asynchronous copy feeds the tensor cores; one-off loads stay pointer-based;
  - the tensor is not written in the kernel (TMA reads run in the async proxy, which is not
    ordered with the same program's generic-proxy stores);
  - the tensor has rank 2 or 3 and an element type TMA moves (no i1, no 64-bit types);
  - every offset is a scalar integer; axes with shape None (dropped) become block dims of 1 and the
    loaded block is reshaped;
  - the block's last dim is at least 16 bytes, every block dim is at most 256 (TMA's box limit);
  - the last-axis offset is provably a multiple of 16 bytes (Triton's rule for descriptor
    offsets): the known divisors of integer values are a fact of the scheduled IR
    (`tiledsl.passes.analyses.divisors`).
Stores: the ``tma_store`` fact lists the epilogue stores (outside every loop, after a pipelined
loop, a whole 2-D tile into a tensor no other instruction of the kernel reads or writes: TMA stores run
in the async proxy, unordered with the program's own generic-proxy accesses of that memory), with
the same window, dtype, box and 16-byte offset rules as loads. ``desc.store`` stages the tile in
a shared-memory buffer of the tile's size in the tensor's dtype (64 KB for a 128x256 bf16 tile,
not shared with the loop's buffers): the scheduler budgets it on targets with TMA for backends
whose record has ``tma_store`` (`tiledsl.schedule.analysis`, `tiledsl.capabilities`).
What is checked per call, in the launcher (`launch_check`): 16-byte aligned base, last stride 1,
other strides multiples of 16 bytes, sizes in 1..2**31-1. A call whose tensors fail takes the
pointer kernel, which the module always contains next to the TMA one. `spec_allows_tma` is the
same check on a `TensorSpec`, for ahead-of-time compiles (pointers are taken to be aligned, as
Triton's own signatures assume).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tiledsl.dtypes import DType
from tiledsl.ir.nodes import Function, Inst, Value, walk
from tiledsl.ir.optable import access_of
from tiledsl.passes.analyses import access_keys, tma_candidates, tma_store_candidates  # the IR's facts
from tiledsl.specs import TensorSpec

from .analysis import resolve

if TYPE_CHECKING:
    from .codegen import Gen

TMA_DTYPES = frozenset({DType.f32, DType.f16, DType.bf16, DType.f8e4m3, DType.f8e5m2, DType.i8,
                        DType.u8, DType.i16, DType.i32})
MAX_BOX_DIM = 256  # elements per dim of one TMA box
MIN_INNER_BYTES = 16

@dataclass(frozen=True)
class Access:
    """One global-memory window that goes through a descriptor."""

    tensor: Value
    offsets: tuple[Value, ...]
    block: tuple[int, ...]  # descriptor block shape: 1 on dropped axes
    shape: tuple[int, ...]  # the tile the IR sees (dropped axes removed)

    @property
    def reshaped(self) -> bool:
        return self.block != self.shape


# --- which loads go through descriptors -----------------------------------------------------------

def _box(inst: Inst, knobs: dict[str, int], write: bool) -> Access | None:
    """The `Access` of a candidate read (or, `write`, store) when Hopper's TMA can move its box,
    else None."""
    acc = access_of(inst)
    if acc is None or acc.write != write:  # each fact names one direction; a hand-edited one may not
        return None
    dt = acc.tensor.type.dtype
    if dt not in TMA_DTYPES:
        return None
    shape = resolve(acc.shape, knobs)
    shape = tuple(shape) if shape is not None else (None,) * len(acc.offsets)
    block = tuple(1 if d is None else d for d in shape)
    if not all(isinstance(d, int) and 0 < d <= MAX_BOX_DIM for d in block):
        return None
    if block[-1] * dt.itemsize < MIN_INNER_BYTES:
        return None
    return Access(acc.tensor, tuple(acc.offsets), block, tuple(d for d in shape if d is not None))


def plan(fn: Function, knobs: dict[str, int]) -> dict[int, Access]:
    """Loads and stores (keyed by ``id(inst)``) that go through descriptors: the scheduled IR's
    ``tma`` and ``tma_store`` facts (the target-independent part: pipelined read-only loads,
    epilogue stores, unmasked static windows; see the module docstring), narrowed by TMA's limits
    and Triton's 16-byte rule for descriptor offsets."""
    loads, stores = tma_candidates(fn), tma_store_candidates(fn)
    keys = access_keys(fn)
    found: dict[int, Access] = {}
    for inst in walk(fn.body):
        key = keys.get(id(inst), "")
        write = key in stores
        align = stores[key] if write else loads.get(key)
        if align is None or (align != 0 and align % MIN_INNER_BYTES):
            continue
        acc = _box(inst, knobs, write)
        if acc is not None:
            found[id(inst)] = acc
    return found


# --- emission ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Descriptor:
    """A kernel argument the launcher builds: ``TensorDescriptor(t, t.shape, t.stride(), block)``."""

    name: str
    tensor: Value
    block: tuple[int, ...]


def descriptor(g: Gen, acc: Access) -> str:
    """The descriptor name for `acc`'s tensor and block shape (one per pair, first use names it)."""
    key = (acc.tensor.name, acc.block)
    d = g.descs.get(key)
    if d is None:
        name = g.fresh(f"{g.tensors[acc.tensor.name].host_name}_desc")
        d = g.descs[key] = Descriptor(name, acc.tensor, acc.block)
    return d.name


def _coords(g: Gen, acc: Access) -> str:
    return "[" + ", ".join(g.ref(o) for o in acc.offsets) + "]"


def load_expr(g: Gen, acc: Access) -> str:
    """``desc.load([...])``, reshaped to the IR's tile when axes were dropped."""
    expr = f"{descriptor(g, acc)}.load({_coords(g, acc)})"
    if acc.reshaped:
        expr = f"tl.reshape({expr}, {_shape_text(acc.shape)})"
    return expr


def store_stmt(g: Gen, acc: Access, value: str) -> str:
    """``desc.store([...], value)``: `value` (a tile of the IR's shape in the tensor's element type)
    reshaped to the descriptor's block when axes were dropped."""
    if acc.reshaped:
        value = f"tl.reshape({value}, {_shape_text(acc.block)})"
    return f"{descriptor(g, acc)}.store({_coords(g, acc)}, {value})"


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# --- per-call and ahead-of-time checks -----------------------------------------------------------

def spec_allows_tma(spec: TensorSpec) -> str | None:
    """None when a tensor of `spec` passes the launcher's `launch_check`, else why not (base pointers
    are taken to be 16-byte aligned, as Triton's own ahead-of-time signatures assume)."""
    strides = spec.effective_strides
    if strides[-1] != 1:
        return f"last stride is {strides[-1]}, not 1"
    for ax, s in enumerate(strides[:-1]):
        if (s * spec.dtype.itemsize) % 16:
            return f"stride {s} of axis {ax} is not a multiple of 16 bytes"
    if not all(0 < n < 2**31 for n in spec.shape):
        return f"shape {spec.shape} has an empty or too large axis"
    return None


def launch_check(host: str, dtype: DType, rank: int) -> str:
    """The launcher's condition (Python source) for host tensor `host` to go through a
    descriptor; written out per tensor because a warm call pays for every function call."""
    per16 = MIN_INNER_BYTES // dtype.itemsize
    terms = [f"{host}.data_ptr() % 16 == 0", f"{host}.stride({rank - 1}) == 1"]
    terms += [f"{host}.stride({ax}) % {per16} == 0" for ax in range(rank - 1)]
    terms += [f"0 < {host}.shape[{ax}] < 2**31" for ax in range(rank)]
    return " and ".join(terms)


def signature_type(block: tuple[int, ...], sig_dtype: str) -> str:
    """The ahead-of-time signature of a descriptor argument, e.g. ``tensordesc<bf16[128, 64]>``."""
    return f"tensordesc<{sig_dtype}[{', '.join(str(b) for b in block)}]>"
