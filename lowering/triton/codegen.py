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

from tiledsl.dtypes import DType
from tiledsl.errors import BackendError
from tiledsl.ir.nodes import Block, Function, Inst, Loc, ParamKind, Space, Sym, Value, attr_syms, walk
from tiledsl.ir.ops import Op
from tiledsl.ir.verify import verify
from tiledsl.schedule.targets import get_target

from .analysis import check_supported, nonneg_values, offsets_need_int64, resolve, wrap_int
from .helpers import LOW_FLOATS, helpers_source
from .names import Namer, legalize

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
        self.nonneg = nonneg_values(fn, self.knobs)
        self.tensors: dict[str, TensorArg] = {}
        self.buffers: set[str] = set()
        self.lines: list[str] = []
        self.depth = 0
        self._last_loc: tuple[str, int] | None = None
        self.host_values: dict[str, Value] = {}  # defined at host level
        self.kernel_uses: dict[str, Value] = {}  # host values the kernel reads, in first-use order
        self.stages: list[int] = []
        self.in_kernel = False
        self.grid_launch = "(1,)"  # the launcher's grid expression, set by the GRID rule
        # f64 scalar arguments -> the kernel parameters holding their bits' high and low words
        # (Triton types a Python float as fp32: `_typed_scalars` joins the words)
        self.f64_parts: dict[str, tuple[str, str]] = {}
        self.tma: dict = {}  # id(inst) -> tma.Access: loads that go through descriptors
        self.descs: dict = {}  # (tensor name, block) -> tma.Descriptor, in first-use order
        self.refusal: BackendError | None = None  # the first construct this build cannot run

    def snapshot(self) -> tuple:
        """The state a kernel emission changes, to emit a second kernel from the same start."""
        return (self.namer.copy(), dict(self.names), dict(self.kernel_uses), list(self.stages),
                self._last_loc, self.depth)

    def restore(self, state: tuple) -> None:
        namer, names, uses, stages, last, depth = state
        self.namer, self.names, self.kernel_uses, self.stages = namer.copy(), dict(names), dict(uses), list(stages)
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
                wide = f"tl.clamp({wide}, -{_FP8_MAX[dst]}, {_FP8_MAX[dst]})"
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
    def window(self, src: Value, offsets, shape_attr, loc) -> tuple[str, list[str]]:
        """Pointer expression and bounds-mask terms for the window of `src` at `offsets`.

        Each blocked axis gets a named offset vector (``offs_a0 = i * 128 + tl.arange(0, 128)``)
        broadcast into place; axes with a scalar offset and no size are indexed and dropped.
        """
        t = self.tensors[src.name]
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
        for ax, idx, blk in axes:
            if blk:
                idx = idx + _bcast(pos, rank)
                pos += 1
            terms.append(f"{_int64(idx, blk) if t.int64 else idx} * {t.strides[ax]}")
            masks.append(f"({idx} < {t.sizes[ax]})")
            if not self.is_nonneg(offsets[ax]):
                masks.append(f"({idx} >= 0)")
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


_FP8_MAX = {DType.f8e4m3: 448.0, DType.f8e5m2: 57344.0}


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


# --- the module ------------------------------------------------------------------------------

def generate(fn: Function, target_name: str = "h100", interpret: bool = False,
             tma: bool = True, specs: tuple | None = None) -> Module:
    """Scheduled IR (stage "triton") -> the source of a Python module with kernel and launcher.

    `specs` (one per parameter, as `Backend.lower` receives them) bound each tensor's largest
    element offset: tensors whose offsets can pass int32 are addressed with int64 products, the
    others keep int32. Without specs, a tensor with a runtime size gets int64 (conservative).

    With `tma` on a target that has TMA, loads of pipelined loops that fit (`tma.plan`) get a
    second kernel that reads them through descriptors; the launcher takes it when the call's
    tensors allow (alignment, strides) and the pointer kernel otherwise.
    """
    from . import tma as tma_mod
    from .rules import HOST_RULES, KERNEL_RULES

    kname = legalize(fn.name)  # every name reaching the module text is legalized (`names`)
    check_supported(fn)
    verify(fn, "triton")
    host, grid = _split(fn)
    g = Gen(fn, target_name, interpret)
    accesses = tma_mod.plan(fn, g.knobs) if tma and get_target(target_name).has_tma else {}
    entry = g.namer.take(f"{kname}_kernel")
    tma_entry = g.namer.take(f"{kname}_kernel_tma") if accesses else None
    launcher = g.namer.take("launch")
    launch_params = _declare_params(g, specs)
    constexprs = _declare_knobs(g)
    for inst in walk(fn.body):
        if inst.op is Op.CONST:
            g.consts[inst.result.name] = inst
    for inst in host:
        for v in inst.results:
            g.host_values[v.name] = v

    # Host code first, into a scratch list: it names the values the kernel will receive.
    g.depth = 1
    g.block(Block((), tuple(host)), HOST_RULES)
    host_lines, g.lines, g._last_loc = g.lines, [], None
    g.in_kernel = True
    start = g.snapshot()
    KERNEL_RULES[Op.GRID](g, grid)
    kernel = _Emitted(entry, g.lines, *_kernel_signature(g))
    tma_kernel = None
    if accesses:
        g.restore(start)
        g.tma = accesses
        KERNEL_RULES[Op.GRID](g, grid)
        params, call_args = _used_only(g.lines, *_kernel_signature(g))
        for d in g.descs.values():
            index = next(i for i, p in enumerate(fn.params) if p.value.name == d.tensor.name)
            params.append((d.name, d.name, ("desc", index, d.block)))
            call_args.append(d.name)
        tma_kernel = _Emitted(tma_entry, g.lines, params, call_args, tuple(g.descs.values()))
    g.in_kernel = False

    num_warps = g.knobs.get("num_warps") or 4
    num_stages = max(g.stages) if g.stages else None
    src = _assemble(g, kname, launcher, launch_params, constexprs, host_lines, kernel, tma_kernel,
                    num_warps, num_stages)
    return Module(src, entry, launcher, num_warps, num_stages,
                  tuple((name, info) for name, _, info in kernel.params), tuple(constexprs),
                  tma_entry, tuple((name, info) for name, _, info in tma_kernel.params)
                  if tma_kernel else (), g.refusal)


def _used_only(lines: list[str], params, call_args):
    """Drop tensor arguments the kernel body never reads (a pointer whose tile loads all go
    through descriptors, sizes only the pointer kernel's masks needed): fewer launch arguments."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(lines)))
    keep = [i for i, row in enumerate(params)
            if row[2][0] not in ("ptr", "size", "stride") or row[0] in words]
    return [params[i] for i in keep], [call_args[i] for i in keep]


@dataclass
class _Emitted:
    """One emitted kernel: name, body lines, (param, launcher expr, arg info) rows, call args."""

    entry: str
    lines: list[str]
    params: list[tuple[str, str, tuple]]
    call_args: list[str]
    descs: tuple = ()


def _split(fn: Function) -> tuple[list[Inst], Inst]:
    grids = [i for i in fn.body.insts if i.op is Op.GRID]
    if len(grids) != 1:
        raise BackendError(f"{fn.name}: the Triton backend needs exactly one grid at the top level, "
                           f"found {len(grids)}", loc=fn.loc,
                           hint="launch several kernels, or use backend='ir'")
    host = [i for i in fn.body.insts if i.op is not Op.GRID]
    return host, grids[0]


def _declare_params(g: Gen, specs: tuple | None) -> list[str]:
    """Name each parameter's kernel arguments; return the launcher's parameter names."""
    out = []
    if specs is not None and len(specs) != len(g.fn.params):
        specs = None  # not this function's: fall back to the IR's own shapes
    for i, p in enumerate(g.fn.params):
        v = p.value
        host = g.namer.take(v.name, "argument name")
        g.names[v.name] = host
        out.append(host)
        if p.kind is ParamKind.SCALAR or v.type.space is Space.SCALAR:
            continue
        ptr = g.namer.take(f"{host}_ptr")
        sizes = [str(d) if isinstance(d, int) else g.namer.take(f"{host}_size_{ax}")
                 for ax, d in enumerate(v.type.shape)]
        strides = [g.namer.take(f"{host}_stride_{ax}") for ax in range(v.type.rank)]
        wide = offsets_need_int64(tuple(v.type.shape), specs[i] if specs else None)
        g.tensors[v.name] = TensorArg(ptr, sizes, strides, host, wide)
    return out


def _declare_knobs(g: Gen) -> list[tuple[str, int]]:
    """Knobs the kernel reads by name (``Sym`` attrs, e.g. ``num_stages=stages``) become
    ``tl.constexpr`` parameters; the others are already folded into the tile shapes."""
    used = {s for inst in walk(g.fn.body) for _, a in inst.attrs for s in attr_syms(a)}
    out = []
    for k in g.fn.knobs:
        if k.name == "num_warps" or k.name not in used:
            continue
        name = g.namer.take(k.name, "knob name")
        g.names[f"knob:{k.name}"] = name
        out.append((name, int(k.value)))
    return out


def _kernel_signature(g: Gen) -> tuple[list[tuple[str, str, tuple]], list[str]]:
    """(kernel parameter, launcher expression, arg info) triples, and the launcher's call args.

    Arg info says where a value comes from, for ahead-of-time signatures: ``("ptr", i)``,
    ``("size", i, axis)``, ``("stride", i, axis)``, ``("scalar", i)`` for parameter ``i``, or
    ``("host", dtype)`` for a scalar the launcher computes.
    """
    params: list[tuple[str, str, tuple]] = []
    for i, p in enumerate(g.fn.params):
        v = p.value
        host = g.names[v.name]
        t = g.tensors.get(v.name)
        if t is None and v.name in g.f64_parts:
            hi, lo = g.f64_parts[v.name]
            params += [(hi, f"_f64_hi({host})", ("scalar_hi", i)), (lo, f"_f64_lo({host})", ("scalar_lo", i))]
            continue
        if t is None:
            params.append((host, host, ("scalar", i)))
            continue
        params.append((t.ptr, host, ("ptr", i)))
        for ax, s in enumerate(t.sizes):
            if not s.isdigit():
                params.append((s, f"{host}.shape[{ax}]", ("size", i, ax)))
        for ax, s in enumerate(t.strides):
            params.append((s, f"{host}.stride({ax})", ("stride", i, ax)))
    for name, v in g.kernel_uses.items():
        if name in g.f64_parts:
            hi, lo = g.f64_parts[name]
            host = g.names[name]
            params += [(hi, f"_f64_hi({host})", ("host_hi", "i32")), (lo, f"_f64_lo({host})", ("host_lo", "i64"))]
            continue
        params.append((g.names[name], g.names[name], ("host", v.type.dtype.value)))
    return params, [e for _, e, _ in params]


def _groups(kernel_params, col: int) -> list[list[str]]:
    """Kernel parameters (col 0) or launcher expressions (col 1), one line per source argument."""
    out: list[list[str]] = []
    last = None
    for row in kernel_params:
        info = row[2]
        key = info[1] if info[0] in ("ptr", "size", "stride") else \
            ("desc",) if info[0] == "desc" else ("own", row[0])
        if key != last:
            out.append([])
            last = key
        out[-1].append(row[col])
    return out


# an f64 scalar argument travels as the two words of its bits (Triton types a Python float fp32)
_F64_WORDS = '''

def _f64_hi(x):
    """The high 32-bit word (signed) of the IEEE bits of the double `x`."""
    import struct
    return struct.unpack("<q", struct.pack("<d", float(x)))[0] >> 32


def _f64_lo(x):
    """The low 32-bit word (unsigned) of the IEEE bits of the double `x`."""
    import struct
    return struct.unpack("<q", struct.pack("<d", float(x)))[0] & 0xFFFFFFFF
'''


def _kernel_source(g: Gen, k: _Emitted, constexprs) -> list[str]:
    words = [name for name, _, info in k.params if info[0] in ("scalar_hi", "scalar_lo", "host_hi", "host_lo")]
    # the words of an f64's bits are any ints: no specialization on their values (== 1, % 16)
    jit = f"@triton.jit(do_not_specialize={words!r})" if words else "@triton.jit"
    out = ["", "", jit, f"def {k.entry}("]
    out += [f"{INDENT}{', '.join(group)}," for group in _groups(k.params, 0)]
    out += [f"{INDENT}{name}: tl.constexpr," for name, _ in constexprs]
    return out + ["):"] + k.lines


def _launch_call(k: _Emitted, kw: list[str], depth: int) -> list[str]:
    pad = INDENT * depth
    out = [f"{pad}{k.entry}[grid]("]
    out += [f"{pad}{INDENT}{', '.join(group)}," for group in _groups(k.params, 1)]
    return out + [f"{pad}{INDENT}{', '.join(kw)},", f"{pad})"]


def _assemble(g: Gen, kname, launcher, launch_params, constexprs, host_lines, kernel: _Emitted,
              tma_kernel: _Emitted | None, num_warps: int, num_stages: int | None) -> str:
    from .tma import launch_check

    # user text (file name, knob names) reaches the docstring only through `escape.docstring`
    loc = f" ({escape.docstring(escape.source_file(g.fn.loc.file))}:{int(g.fn.loc.line)})" if g.fn.loc else ""
    schedule = escape.docstring(" ".join(f"{k.name}={k.value}" for k in g.fn.knobs))
    flavour = "Triton interpreter" if g.interpret else f"target {escape.docstring(g.target_name)}"
    out = [f'"""Triton code generated by tiledsl from kernel `{kname}`{loc} for {flavour}.',
           "", f"Schedule: {schedule or '-'}."]
    if tma_kernel:
        out += [f"`{tma_kernel.entry}` loads the pipelined tiles through TMA descriptors; the "
                f"launcher uses it", f"when the tensors allow, and `{kernel.entry}` otherwise."]
    out += ["Regenerated from the kernel on every change; edits here are not kept.", '"""',
            "import triton", "import triton.language as tl"]
    body = "\n".join(kernel.lines + (tma_kernel.lines if tma_kernel else []))
    if "libdevice." in body:
        out.append("from triton.language.extra import libdevice")
    if tma_kernel:
        out.append("from triton.tools.tensor_descriptor import TensorDescriptor")
    helpers = helpers_source(body, g.interpret)
    if helpers:
        out += helpers.rstrip("\n").split("\n")
    if any(info[0] in ("scalar_hi", "host_hi") for _, _, info in kernel.params):
        out += _F64_WORDS.rstrip("\n").split("\n")
    if tma_kernel:
        out += _kernel_source(g, tma_kernel, constexprs)
    out += _kernel_source(g, kernel, constexprs)
    kw = [f"{name}={value}" for name, value in constexprs] + [f"num_warps={num_warps}"]
    if num_stages is not None:
        kw.append(f"num_stages={num_stages}")
    doc = f"`{tma_kernel.entry}` or `{kernel.entry}`" if tma_kernel else f"`{kernel.entry}`"
    out += ["", "", f"def {launcher}({', '.join(launch_params)}):",
            f'{INDENT}"""Compute the grid from the arguments and launch {doc}."""']
    out += host_lines
    out.append(f"{INDENT}grid = {g.grid_launch}")
    if tma_kernel:
        tensors = {d.tensor.name: d.tensor for d in tma_kernel.descs}  # first-use order, no repeats
        checks = [launch_check(g.names[name], t.type.dtype, t.type.rank) for name, t in tensors.items()]
        out.append(f"{INDENT}if ({(' and' + chr(10) + INDENT * 3).join(checks)}):")
        for d in tma_kernel.descs:
            host = g.names[d.tensor.name]
            block = ", ".join(str(b) for b in d.block)
            out.append(f"{INDENT * 2}{d.name} = TensorDescriptor({host}, {host}.shape, "
                       f"{host}.stride(), [{block}])")
        out += _launch_call(tma_kernel, kw, 2)
        out.append(f"{INDENT}else:")
        out += _launch_call(kernel, kw, 2)
    else:
        out += _launch_call(kernel, kw, 1)
    return "\n".join(out) + "\n"
