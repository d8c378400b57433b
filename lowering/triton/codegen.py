"""Scheduled IR -> Triton module source: the kernel (``@triton.jit``) and its Python launcher.

The IR at stage "triton" is one top-level block: host code (sizes via DIM, scalar math for the
grid) and one GRID whose region is the tile program. The region becomes the kernel; the host code
becomes ``launch(...)``, which computes the grid from the arguments and calls ``kernel[grid](...)``.
Each inst is written by the rule for its op in `rules.KERNEL_RULES` / `rules.HOST_RULES`.

Codegen is a pure function of (IR, target, interpret flag): names come from the IR (validated),
nothing depends on dict order of unordered sets, ids or time, so the same input gives the same
bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from tiledsl.dtypes import DType
from tiledsl.errors import BackendError
from tiledsl.ir.nodes import Block, Function, Inst, Loc, ParamKind, Space, Sym, Value, attr_syms, walk
from tiledsl.ir.ops import Op
from tiledsl.ir.verify import verify

from .analysis import check_supported, nonneg_values, resolve
from .names import Namer, check_identifier

TL_DTYPE: dict[DType, str] = {
    DType.f64: "tl.float64", DType.f32: "tl.float32", DType.f16: "tl.float16",
    DType.bf16: "tl.bfloat16", DType.f8e4m3: "tl.float8e4nv", DType.f8e5m2: "tl.float8e5",
    DType.i64: "tl.int64", DType.i32: "tl.int32", DType.i16: "tl.int16", DType.i8: "tl.int8",
    DType.u8: "tl.uint8", DType.i1: "tl.int1",
}

INDENT = "    "


def literal(value, dtype: DType) -> str:
    """Python source for a constant of `dtype` (negative numbers parenthesised)."""
    if dtype.is_bool:
        return "True" if value else "False"
    if dtype.is_int:
        text = str(int(value))
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
        self.nonneg = nonneg_values(fn)
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

    # --- output -----------------------------------------------------------------------------
    def line(self, text: str, loc: Loc | None = None) -> None:
        """Append one line at the current depth, preceded by a ``# src:`` comment when the kernel
        line it comes from changes."""
        if loc is not None:
            key = (os.path.basename(loc.file), loc.line)
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
        if const is not None:
            text = literal(const.attr("value"), v.type.dtype)
            if materialize:
                return f"tl.full((), {text}, {TL_DTYPE[v.type.dtype]})"
            return text
        if self.in_kernel and v.name in self.host_values:
            self.kernel_uses.setdefault(v.name, v)
        try:
            return self.names[v.name]
        except KeyError:
            raise BackendError(f"value %{v.name} is used before it is defined") from None

    def knob(self, attr) -> str:
        """A knob reference (`Sym`) as the kernel's constexpr name, or an int literal."""
        if isinstance(attr, Sym):
            return self.names[f"knob:{attr.name}"]
        return str(attr)

    def value(self, attr):
        return resolve(attr, self.knobs)

    def is_nonneg(self, v: Value) -> bool:
        return v.name in self.nonneg

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
            terms.append(f"{idx} * {t.strides[ax]}")
            masks.append(f"({idx} < {t.sizes[ax]})")
            if not self.is_nonneg(offsets[ax]):
                masks.append(f"({idx} >= 0)")
        return " + ".join(terms), masks

    def mask_line(self, hint: str, terms: list[str], loc) -> str | None:
        """Name the conjunction of `terms` (None when there is nothing to mask)."""
        if not terms:
            return None
        name = self.fresh(hint)
        self.line(f"{name} = {' & '.join(terms)}", loc)
        return name


def _bcast(pos: int, rank: int) -> str:
    """Indexing that puts a 1-D vector at axis `pos` of a rank-`rank` block (``[:, None]``)."""
    if rank <= 1:
        return ""
    return "[" + ", ".join(":" if i == pos else "None" for i in range(rank)) + "]"


# --- the module ------------------------------------------------------------------------------

def generate(fn: Function, target_name: str = "h100", interpret: bool = False) -> Module:
    """Scheduled IR (stage "triton") -> the source of a Python module with kernel and launcher."""
    from .rules import HOST_RULES, KERNEL_RULES

    kname = check_identifier(fn.name, "kernel name")
    for p in fn.params:  # before anything else looks at them: names reach the module text
        check_identifier(p.value.name, "argument name")
    for k in fn.knobs:
        check_identifier(k.name, "knob name")
    check_supported(fn)
    verify(fn, "triton")
    host, grid = _split(fn)
    g = Gen(fn, target_name, interpret)
    entry = g.namer.take(f"{kname}_kernel")
    launcher = g.namer.take("launch")
    launch_params = _declare_params(g)
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
    KERNEL_RULES[Op.GRID](g, grid)
    kernel_lines = g.lines
    g.in_kernel = False

    kernel_params, call_args = _kernel_signature(g)
    num_warps = g.knobs.get("num_warps") or 4
    num_stages = max(g.stages) if g.stages else None
    src = _assemble(g, kname, entry, launcher, launch_params, kernel_params, constexprs, call_args,
                    host_lines, kernel_lines, grid, num_warps, num_stages)
    return Module(src, entry, launcher, num_warps, num_stages,
                  tuple((name, info) for name, _, info in kernel_params), tuple(constexprs))


def _split(fn: Function) -> tuple[list[Inst], Inst]:
    grids = [i for i in fn.body.insts if i.op is Op.GRID]
    if len(grids) != 1:
        raise BackendError(f"{fn.name}: the Triton backend needs exactly one grid at the top level, "
                           f"found {len(grids)}", loc=fn.loc,
                           hint="launch several kernels, or use backend='ir'")
    host = [i for i in fn.body.insts if i.op is not Op.GRID]
    return host, grids[0]


def _declare_params(g: Gen) -> list[str]:
    """Name each parameter's kernel arguments; return the launcher's parameter names."""
    out = []
    for p in g.fn.params:
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
        g.tensors[v.name] = TensorArg(ptr, sizes, strides, host)
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
        params.append((g.names[name], g.names[name], ("host", v.type.dtype.value)))
    return params, [e for _, e, _ in params]


def _groups(kernel_params, col: int) -> list[list[str]]:
    """Kernel parameters (col 0) or launcher expressions (col 1), one line per source argument."""
    out: list[list[str]] = []
    last = None
    for row in kernel_params:
        info = row[2]
        key = info[1] if info[0] in ("ptr", "size", "stride") else ("own", row[0])
        if key != last:
            out.append([])
            last = key
        out[-1].append(row[col])
    return out


def _assemble(g: Gen, kname, entry, launcher, launch_params, kernel_params, constexprs, call_args,
              host_lines, kernel_lines, grid: Inst, num_warps: int, num_stages: int | None) -> str:
    loc = f" ({os.path.basename(g.fn.loc.file)}:{g.fn.loc.line})" if g.fn.loc else ""
    schedule = " ".join(f"{k.name}={k.value}" for k in g.fn.knobs)
    flavour = "Triton interpreter" if g.interpret else f"target {g.target_name}"
    out = [f'"""Triton code generated by tiledsl from kernel `{kname}`{loc} for {flavour}.',
           "", f"Schedule: {schedule or '-'}.",
           "Regenerated from the kernel on every change; edits here are not kept.", '"""',
           "import triton", "import triton.language as tl"]
    if "libdevice." in "\n".join(kernel_lines):
        out.append("from triton.language.extra import libdevice")
    out += ["", "", "@triton.jit", f"def {entry}("]
    out += [f"{INDENT}{', '.join(group)}," for group in _groups(kernel_params, 0)]
    out += [f"{INDENT}{name}: tl.constexpr," for name, _ in constexprs]
    out += ["):"] + kernel_lines
    grid_expr = g.grid_launch
    kw = [f"{name}={value}" for name, value in constexprs] + [f"num_warps={num_warps}"]
    if num_stages is not None:
        kw.append(f"num_stages={num_stages}")
    out += ["", "", f"def {launcher}({', '.join(launch_params)}):",
            f'{INDENT}"""Compute the grid from the arguments and launch `{entry}`."""']
    out += host_lines
    out.append(f"{INDENT}grid = {grid_expr}")
    out.append(f"{INDENT}{entry}[grid](")
    out += [f"{INDENT * 2}{', '.join(group)}," for group in _groups(kernel_params, 1)]
    out.append(f"{INDENT * 2}{', '.join(kw)},")
    out.append(f"{INDENT})")
    return "\n".join(out) + "\n"
