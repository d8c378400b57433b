"""The Python module `generate` writes for one scheduled function: the kernel (and its TMA
variant), emitted by the rules (`rules`) through `codegen.Gen`, and the host launcher."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tiledsl.lowering import escape

from tiledsl.errors import BackendError
from tiledsl.ir.nodes import Block, Function, Inst, ParamKind, Space, attr_syms, walk
from tiledsl.ir.ops import Op
from tiledsl.ir.verify import verify
from tiledsl.passes import bounds, legality
from tiledsl.targets import get_target

from . import loops
from . import tma as tma_mod
from .analysis import offsets_need_int64
from .codegen import INDENT, Gen, Module, TensorArg
from .helpers import helpers_source
from .names import legalize
from .rules import HOST_RULES, KERNEL_RULES
from .tma import launch_check


def generate(fn: Function, target_name: str = "h100", interpret: bool = False,
             tma: bool = True, specs: tuple | None = None) -> Module:
    """Scheduled IR (stage "triton") -> the source of a Python module with kernel and launcher.

    `specs` (one per parameter, as `Backend.lower` receives them) bound each tensor's largest
    element offset: tensors whose offsets can pass int32 are addressed with int64 products, the
    others keep int32. Without specs, a tensor with a runtime size gets int64 (conservative).

    With `tma` on a target that has TMA, loads of pipelined loops and epilogue stores that fit
    (`tma.plan`) get a second kernel that moves them through descriptors; the launcher takes it
    when the call's tensors allow (alignment, strides) and the pointer kernel otherwise.
    """
    kname = legalize(fn.name)  # every name reaching the module text is legalized (`names`)
    legality.check(fn, "triton")  # hand-built IR meets the pipeline's rules and error
    verify(fn, "triton")
    host, grid = _split(fn)
    g = Gen(fn, target_name, interpret)
    g.launch_stages = loops.kernel_stages(g)
    if specs is not None and len(specs) == len(fn.params):  # masks the compiled shapes never need
        g.in_bounds, g.access_keys = bounds.in_bounds(fn, specs), bounds.access_keys(fn)
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
    num_stages = g.launch_stages
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
    # user text (file name, knob names) reaches the docstring only through `escape.docstring`
    loc = f" ({escape.docstring(escape.source_file(g.fn.loc.file))}:{int(g.fn.loc.line)})" if g.fn.loc else ""
    schedule = escape.docstring(" ".join(f"{k.name}={k.value}" for k in g.fn.knobs))
    flavour = "Triton interpreter" if g.interpret else f"target {escape.docstring(g.target_name)}"
    out = [f'"""Triton code generated by tiledsl from kernel `{kname}`{loc} for {flavour}.',
           "", f"Schedule: {schedule or '-'}."]
    if tma_kernel:
        out += [f"`{tma_kernel.entry}` moves the pipelined tiles (and epilogue stores) through TMA "
                f"descriptors; the", f"launcher uses it when the tensors allow, and `{kernel.entry}` "
                f"otherwise."]
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
