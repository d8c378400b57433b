"""Scheduled IR -> Triton module source: the kernel (``@triton.jit``) and its Python launcher.

The IR at stage "triton" is one top-level block: host code (sizes via DIM, scalar math for the
grid) and one GRID whose region is the tile program. The region becomes the kernel; the host code
becomes ``launch(...)``, which computes the grid from the arguments and calls ``kernel[grid](...)``.
Each inst is written by the rule for its op in `rules.KERNEL_RULES` / `rules.HOST_RULES`.

Codegen is a pure function of (IR, target, interpret flag, specs): names come from the IR
(legalized, see `names`), nothing depends on dict order of unordered sets, ids or time, so the
same input gives the same bytes.

Interpreter builds differ from GPU builds only where Triton's interpreter needs it: bf16 and fp8
values are held as f32 and converted by the helpers in `helpers` (the interpreter does integer
math on their raw bits), and pow avoids libdevice. Every such difference goes through the
`Gen.held_as_f32` / `Gen.interpret` checks, so a GPU build never sees them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tiledsl.lowering import escape

from tiledsl.dtypes import FP8_MAX, DType
from tiledsl.errors import BackendError
from tiledsl.ir.nodes import Block, Function, Inst, Loc, Sym, Value
from tiledsl.ir.ops import Op
from tiledsl.passes import analyses

from .analysis import resolve, wrap_int
from .helpers import LOW_FLOATS
from .names import Namer

TL_DTYPE: dict[DType, str] = {
    DType.f64: "tl.float64", DType.f32: "tl.float32", DType.f16: "tl.float16",
    DType.bf16: "tl.bfloat16", DType.f8e4m3: "tl.float8e4nv", DType.f8e5m2: "tl.float8e5",
    DType.i64: "tl.int64", DType.i32: "tl.int32", DType.i16: "tl.int16", DType.i8: "tl.int8",
    DType.u8: "tl.uint8", DType.i1: "tl.int1",
}

INDENT = "    "


def _round_value(value, dtype: DType) -> float:
    """`value` rounded to `dtype` the way the IR rounds a constant (fp8 saturating)."""
    import torch

    from tiledsl.interp.values import constant

    return constant(value, dtype).to(torch.float64).item()


def literal(value, dtype: DType) -> str:
    """Python source for a constant of `dtype` (negative numbers parenthesised)."""
    if dtype.is_bool:
        return "True" if value else "False"
    if dtype.is_int:
        text = str(wrap_int(value, dtype))
    else:
        v = float(value)
        if v != v:
            return 'float("nan")'
        if v in (float("inf"), float("-inf")):
            return 'float("inf")' if v > 0 else '(-float("inf"))'
        text = repr(v)
    return f"({text})" if text.startswith("-") else text


@dataclass
class TensorArg:
    """Kernel-side names of a tensor parameter: base pointer, per-axis sizes and strides."""

    ptr: str
    sizes: list[str]
    strides: list[str]
    host_name: str
    int64: bool = False  # element offsets can exceed int32: index * stride computed in int64


@dataclass
class Module:
    """What `generate` produces: the source and the facts the runtime needs to call it."""

    source: str
    entry: str
    launcher: str
    num_warps: int
    num_stages: int | None
    kernel_args: tuple[tuple[str, tuple], ...] = field(default=())  # (name, arg info)
    constexprs: tuple[tuple[str, int], ...] = field(default=())
    tma_entry: str | None = None  # the kernel that loads through TMA descriptors, if any
    tma_kernel_args: tuple[tuple[str, tuple], ...] = field(default=())
    refusal: BackendError | None = None  # why this (interpreter) build cannot run, if it cannot


class Gen:
    """State of one code generation: names, constants, lines, current indentation."""

    def __init__(self, fn: Function, target_name: str, interpret: bool):
        self.fn = fn
        self.target_name = target_name
        self.interpret = interpret
        self.knobs = {k.name: k.value for k in fn.knobs}
        self.namer = Namer()
        self.names: dict[str, str] = {}
        self.consts: dict[str, Inst] = {}
        self.literals: dict[str, int] = {}  # values known as numbers without a CONST (static sizes)
        self.nonneg = analyses.nonneg(fn)  # the scheduled IR's fact (attribute), or computed
        self.tensors: dict[str, TensorArg] = {}
        self.buffers: set[str] = set()
        self.lines: list[str] = []
        self.depth = 0
        self._last_loc: tuple[str, int] | None = None
        self.host_values: dict[str, Value] = {}  # defined at host level
        self.kernel_uses: dict[str, Value] = {}  # host values the kernel reads, in first-use order
        # the launch's ``num_stages``: the most stages of any pipelined loop (`loops.kernel_stages`)
        self.launch_stages: int | None = None
        self.in_kernel = False
        self.grid_launch = "(1,)"  # the launcher's grid expression, set by the GRID rule
        # f64 scalar arguments -> the kernel parameters holding their bits' high and low words
        # (Triton types a Python float as fp32: `_typed_scalars` joins the words)
        self.f64_parts: dict[str, tuple[str, str]] = {}
        self.tma: dict = {}  # id(inst) -> tma.Access: loads that go through descriptors
        self.descs: dict = {}  # (tensor name, block) -> tma.Descriptor, in first-use order
        self.refusal: BackendError | None = None  # the first construct this build cannot run
        # (access key, axis) of window axes inside their tensor for the compiled shapes
        # (`tiledsl.passes.bounds`): their ``< size`` mask term is dropped; set by `generate`
        self.in_bounds: frozenset[tuple[str, int]] = frozenset()
        self.access_keys: dict[int, str] = {}

    def snapshot(self) -> tuple:
        """The state a kernel emission changes, to emit a second kernel from the same start."""
        return (self.namer.copy(), dict(self.names), dict(self.kernel_uses),
                self._last_loc, self.depth)

    def restore(self, state: tuple) -> None:
        namer, names, uses, last, depth = state
        self.namer, self.names, self.kernel_uses = namer.copy(), dict(names), dict(uses)
        self._last_loc, self.depth, self.lines = last, depth, []
        self.f64_parts = {}

    # --- output -----------------------------------------------------------------------------
    def line(self, text: str, loc: Loc | None = None) -> None:
        """Append one line at the current depth, preceded by a ``# src:`` comment when the kernel
        line it comes from changes."""
        if loc is not None:
            key = (escape.source_file(loc.file), int(loc.line))
            if key != self._last_loc:
                self.lines.append(f"{INDENT * self.depth}# src: {key[0]}:{key[1]}")
                self._last_loc = key
        self.lines.append(f"{INDENT * self.depth}{text}")

    def block(self, block: Block, rules, skip_yield: bool = True) -> None:
        """Emit every inst of `block` with `rules` (a dict[Op, fn]); YIELDs are left to the owner."""
        start = len(self.lines)
        for inst in block.insts:
            if inst.op is Op.YIELD and skip_yield:
                continue
            rule = rules.get(inst.op)
            if rule is None:
                where = "host code (outside the grid)" if not self.in_kernel else "a Triton kernel"
                raise BackendError(f"{inst.op.ir_name} cannot be lowered in {where}", loc=inst.loc,
                                   hint="use backend='tilelang' or backend='ir'")
            rule(self, inst)
        if len(self.lines) == start and not skip_yield:
            self.line("pass")

    # --- names and references ----------------------------------------------------------------
    def define(self, v: Value, hint: str | None = None) -> str:
        """Give SSA value `v` a fresh Python name (its IR name, validated)."""
        name = self.namer.take(hint or v.name, "value name")
        self.names[v.name] = name
        return name

    def alias(self, v: Value, name: str) -> None:
        self.names[v.name] = name

    def fresh(self, hint: str) -> str:
        return self.namer.take(hint)

    def ref(self, v: Value, materialize: bool = False) -> str:
        """Source text that reads `v`: a literal for constants (``tl.full`` where Triton needs a
        typed scalar, e.g. loop-carried values), else its name."""
        const = self.consts.get(v.name)
        if const is not None or v.name in self.literals:
            value = const.attr("value") if const is not None else self.literals[v.name]
            text = self.literal(value, v.type.dtype)
            if materialize:
                return f"tl.full((), {text}, {self.tl_dtype(v.type.dtype)})"
            return text
        if self.in_kernel and v.name in self.host_values:
            self.kernel_uses.setdefault(v.name, v)
        try:
            return self.names[v.name]
        except KeyError:
            raise BackendError(f"value %{v.name} is used before it is defined") from None

    def is_literal(self, v: Value) -> bool:
        """True when `ref(v)` is a number in the text (a constant or a static size)."""
        return v.name in self.consts or v.name in self.literals

    def cast(self, expr: str, src: DType, dst: DType, scalar: bool) -> str:
        """`expr` (of IR dtype `src`, as this build holds it) converted to IR dtype `dst`.

        A scalar may be a plain Python number: a literal, or, in Triton's interpreter (and on a
        GPU when the JIT specialises an argument equal to 1 to a constant), a kernel argument or
        a loop counter. Numbers have no ``.to``, so scalars go through ``tl.cast``, which takes
        both. Triton cannot convert between ints (or f64) and fp8, so such casts pass through f32,
        as torch's conversions do (`int_tensor.to(torch.float8_e4m3fn)` converts via float).
        Casts to fp8 from wider floats saturate first (the IR's semantics, PTX ``satfinite``).
        """
        if src is dst:
            return expr

        def to(e: str, d: str) -> str:
            return f"tl.cast({e}, {d})" if scalar else f"{_atom(e)}.to({d})"
        f32 = src is DType.f32 or self.held_as_f32(src)
        if self.held_as_f32(dst):  # the rounding helper saturates fp8 itself
            return self.rounded(expr if f32 else to(expr, "tl.float32"), dst)
        if f32 and dst is DType.f32:
            return expr
        if dst.is_fp8:
            wide = expr if f32 else to(expr, "tl.float32")
            if not src.is_bool:
                wide = f"tl.clamp({wide}, -{FP8_MAX[dst]}, {FP8_MAX[dst]})"
            return to(wide, TL_DTYPE[dst])
        if src.is_fp8 and dst not in (DType.f16, DType.bf16, DType.f32):
            return to(to(expr, "tl.float32"), TL_DTYPE[dst])
        return to(expr, TL_DTYPE[dst])

    def knob(self, attr) -> str:
        """A knob reference (`Sym`) as the kernel's constexpr name, or an int literal."""
        if isinstance(attr, Sym):
            return self.names[f"knob:{attr.name}"]
        return str(attr)

    def value(self, attr):
        return resolve(attr, self.knobs)

    def is_nonneg(self, v: Value) -> bool:
        return v.name in self.nonneg

    # --- dtypes the interpreter build holds as f32 (see `helpers`) ---------------------------
    def held_as_f32(self, dt: DType) -> bool:
        """True in interpreter builds for bf16/fp8: such values are f32 tensors there."""
        return self.interpret and dt in LOW_FLOATS

    def tl_dtype(self, dt: DType) -> str:
        """The Triton dtype a value of IR dtype `dt` has in this build."""
        return "tl.float32" if self.held_as_f32(dt) else TL_DTYPE[dt]

    def literal(self, value, dt: DType) -> str:
        """A constant of `dt`; interpreter builds round bf16/fp8 constants here, as the IR does."""
        if self.held_as_f32(dt) and not isinstance(value, bool):
            value = _round_value(value, dt)
        return literal(value, dt)

    def rounded(self, expr: str, dt: DType) -> str:
        """`expr` (computed in f32) rounded to `dt` where this build holds `dt` as f32."""
        return f"{LOW_FLOATS[dt]['round']}({expr})" if self.held_as_f32(dt) else expr

    def decoded(self, expr: str, dt: DType) -> str:
        """A loaded tile of a `dt` tensor as this build holds it."""
        return f"{LOW_FLOATS[dt]['decode']}({expr})" if self.held_as_f32(dt) else expr

    def encoded(self, expr: str, dt: DType) -> str:
        """A value to store into a `dt` tensor, as the tensor's own element type."""
        return f"{LOW_FLOATS[dt]['encode']}({expr})" if self.held_as_f32(dt) else expr

    # --- memory windows -------------------------------------------------------------------------
    def window(self, src: Value, offsets, shape_attr, loc, inst: Inst | None = None) -> tuple[str, list[str]]:
        """Pointer expression and bounds-mask terms for the window of `src` at `offsets`.

        Each blocked axis gets a named offset vector (``offs_a0 = i * 128 + tl.arange(0, 128)``)
        broadcast into place; axes with a scalar offset and no size are indexed and dropped. An
        axis of `inst`'s window that stays inside the tensor (`in_bounds`) has no ``< size`` term.
        """
        t = self.tensors[src.name]
        key = self.access_keys.get(id(inst)) if inst is not None else None
        shape = tuple(self.value(shape_attr)) if shape_attr is not None else (None,) * len(offsets)
        axes: list[tuple[int, str, bool]] = []  # (axis, index expr, is_block)
        for ax, (off, d) in enumerate(zip(offsets, shape)):
            if off.type.rank == 1:
                axes.append((ax, self.ref(off), True))
            elif d is None:
                axes.append((ax, self.ref(off), False))
            else:
                name = self.fresh(f"offs_{t.host_name}{ax}")
                base = self.ref(off)
                rng = f"tl.arange(0, {d})"
                self.line(f"{name} = {rng}" if base == "0" else f"{name} = {base} + {rng}", loc)
                axes.append((ax, name, True))
        rank = sum(1 for _, _, blk in axes if blk)
        terms, masks, pos = [t.ptr], [], 0
        dropped: list[str] = []  # in-bounds terms of block axes
        for ax, idx, blk in axes:
            if blk:
                idx = idx + _bcast(pos, rank)
                pos += 1
            terms.append(f"{_int64(idx, blk) if t.int64 else idx} * {t.strides[ax]}")
            bound = f"({idx} < {t.sizes[ax]})"
            if (key, ax) not in self.in_bounds:
                masks.append(bound)
            elif blk:
                dropped.append(bound)
            if not self.is_nonneg(offsets[ax]):
                masks.append(f"({idx} >= 0)")
        if self.interpret and dropped and masks and len(dropped) == rank:
            # Triton's interpreter takes no scalar mask for a block: keep one (true) block term
            masks.insert(0, dropped[0])
        return " + ".join(terms), masks

    def mask_line(self, hint: str, terms: list[str], loc) -> str | None:
        """Name the conjunction of `terms` (None when there is nothing to mask).

        Masks of several terms in interpreter builds end in ``!= 0``: Triton's interpreter gives
        a scalar ``&`` block of booleans int32 data, which its loads and stores reject ("mask
        has unsupported dtype"); the comparison makes it boolean again.
        """
        if not terms:
            return None
        name = self.fresh(hint)
        expr = " & ".join(terms)
        if self.interpret and len(terms) > 1:
            expr = f"({expr}) != 0"
        self.line(f"{name} = {expr}", loc)
        return name


def _atom(expr: str) -> str:
    """`expr` as it can be followed by ``.to(...)``: parenthesised unless a plain name."""
    return expr if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", expr) else f"({expr})"


def _int64(idx: str, block: bool) -> str:
    """An index as int64, so its product with a stride cannot wrap. A scalar index may be a plain
    Python int (a literal, or a loop counter in Triton's interpreter): ``tl.cast`` takes both."""
    text = idx.strip("()")
    if text.lstrip("-").isdigit() and int(text) == 0:
        return idx
    return f"{idx}.to(tl.int64)" if block else f"tl.cast({idx}, tl.int64)"


def _bcast(pos: int, rank: int) -> str:
    """Indexing that puts a 1-D vector at axis `pos` of a rank-`rank` block (``[:, None]``)."""
    if rank <= 1:
        return ""
    return "[" + ", ".join(":" if i == pos else "None" for i in range(rank)) + "]"
