"""What an IR value becomes in the generated TileLang program.

The IR is SSA over immutable tiles; TileLang programs write buffers. The emitter bridges the two
by giving every IR value one of these forms:

- `Scalar`: a TIR expression as text (``pid0 * 128``), folded to a Python number when constant,
  so host-side sizes (grid extents) come out as literals.
- `Global`: a kernel parameter tensor (a ``T.Tensor`` of the specialised shape).
- `Tile`: an element function ``index names -> expression text`` over a static shape. A tile
  backed by a buffer (``buf``) indexes it; an unbacked tile is an expression (elementwise math,
  broadcasts, masked loads) that is fused into whatever consumes it and only *materialised* into a
  fragment when an op needs storage (gemm, reduce, copy, a second use).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tiledsl.dtypes import DType
from tiledsl.specs import TensorSpec

TL_DTYPE: dict[DType, str] = {
    DType.f64: "float64", DType.f32: "float32", DType.f16: "float16", DType.bf16: "bfloat16",
    DType.f8e4m3: "float8_e4m3fn", DType.f8e5m2: "float8_e5m2", DType.i64: "int64",
    DType.i32: "int32", DType.i16: "int16", DType.i8: "int8", DType.u8: "uint8", DType.i1: "bool",
}
"""TileLang / TVM spelling of each element type."""

Index = tuple[str, ...]


@dataclass(frozen=True)
class Scalar:
    expr: str
    dtype: DType
    const: int | float | bool | None = None
    reads: frozenset[str] = frozenset()  # buffers (e.g. one-element cells) the expression reads
    # the value recomputed from read-only tensors, without the lets it is bound to: what a
    # ``T.copy`` region inside a pipelined loop uses (see `memory._Window.region`)
    pure: str | None = None


@dataclass(frozen=True)
class Global:
    name: str
    spec: TensorSpec

    @property
    def dtype(self) -> DType:
        return self.spec.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return self.spec.shape


@dataclass(frozen=True)
class Tile:
    shape: tuple[int, ...]
    dtype: DType
    at: Callable[[Index], str] = field(compare=False)
    buf: str | None = None  # name of the buffer this tile *is* (identity view), if any
    scope: str | None = None  # "shared" | "fragment" | "local" for buffer tiles
    reads: frozenset[str] = frozenset()  # buffers the element function reads
    fill: str | None = None  # constant value when the tile is a FULL (materialised with T.fill)
    cheap: bool = False  # recomputing the expression per use costs nothing (arange, full, views)
    transposed_of: Tile | None = None  # a 2-D transpose of a buffer tile (gemm takes it in place)
    # a leading block of a shared buffer, as a region (``k[0:64, 0:512]``): a gemm takes it in place
    region_of: tuple[Tile, str] | None = None

    @property
    def is_buffer(self) -> bool:
        return self.buf is not None


Val = Scalar | Global | Tile


def buffer_tile(name: str, shape: tuple[int, ...], dtype: DType, scope: str) -> Tile:
    """The tile that is buffer `name` itself."""
    return Tile(tuple(shape), dtype, lambda idx: f"{name}[{', '.join(idx)}]", name, scope,
                frozenset({name}))


def broadcast_index(shape: tuple[int, ...], out: tuple[int, ...], idx: Index) -> Index:
    """Indices into an operand of `shape` for element `idx` of a result of shape `out` (numpy
    broadcasting: shapes align on the right, size-1 axes read index 0)."""
    lead = len(out) - len(shape)
    return tuple("0" if d == 1 and out[lead + k] != 1 else idx[lead + k] for k, d in enumerate(shape))


def literal(value, dtype: DType) -> str:
    """A typed TIR constant, so mixed-precision expressions never guess a literal's type."""
    if dtype is DType.i1:
        return "True" if value else "False"
    if dtype.is_float:
        v = float(value)
        if v != v:
            text = 'float("nan")'
        elif v in (float("inf"), float("-inf")):
            text = 'float("inf")' if v > 0 else '-float("inf")'
        else:
            text = repr(v)
        return f"T.{TL_DTYPE[dtype]}({text})" if dtype is not DType.f32 else f"T.float32({text})"
    if dtype is DType.i32:
        return str(int(value))
    return f"T.{TL_DTYPE[dtype]}({int(value)})"
