"""Emission rules: one function per op, in `KERNEL_RULES` (inside ``@triton.jit``) and
`HOST_RULES` (the Python launcher). A rule reads the inst, writes lines through `Gen`, and names
its results; nothing else in the lowering switches on the op.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tiledsl.dtypes import DType
from tiledsl.errors import BackendError
from tiledsl.ir.nodes import Inst, Space
from tiledsl.ir.ops import Op
from tiledsl.ir.optable import window_of

from . import atomics, loops, tma
from .codegen import INDENT, TL_DTYPE, Gen, literal
from .reductions import REDUCE_RULES

Rule = Callable[[Gen, Inst], None]


def _assign(g: Gen, inst: Inst, expr: str, hint: str | None = None) -> None:
    """``name = expr``; in interpreter builds the result of an op that computes is rounded to its
    bf16/fp8 dtype here (such values are held as f32 there, see `helpers`)."""
    name = g.define(inst.result, hint)
    if inst.op in _COMPUTES:
        expr = g.rounded(expr, inst.result.type.dtype)
    g.line(f"{name} = {expr}", inst.loc)


def _convert(g: Gen, expr: str, src: DType, dst: DType) -> str:
    """`expr` (a tile) of dtype `src` as a value of dtype `dst` (unchanged when they are equal)."""
    return g.cast(expr, src, dst, scalar=False)


# --- CORE ------------------------------------------------------------------------------------

def _const(g: Gen, inst: Inst) -> None:
    """Constants are inlined as literals where they are read (see `Gen.ref`)."""


def _dim(g: Gen, inst: Inst) -> None:
    """A runtime size is the kernel's size argument; a static one is a number, known as such so
    that every rule treats it as it treats a constant (no ``1.to(...)``)."""
    (x,) = inst.operands
    size = g.tensors[x.name].sizes[inst.attr("axis")]
    if size.isdigit():
        g.literals[inst.result.name] = int(size)
    else:
        g.alias(inst.result, size)


def _host_dim(g: Gen, inst: Inst) -> None:
    (x,) = inst.operands
    _assign(g, inst, f"{g.ref(x)}.shape[{inst.attr('axis')}]")


def _yield_to(g: Gen, targets: list[str], values, loc) -> None:
    """Assign yielded values to the carried names (one tuple assignment: no clobbering)."""
    pairs = [(t, g.ref(v, materialize=True)) for t, v in zip(targets, values)]
    pairs = [(t, e) for t, e in pairs if t != e]
    if len(pairs) == 1:
        g.line(f"{pairs[0][0]} = {pairs[0][1]}", loc)
    elif pairs:
        g.line(f"{', '.join(t for t, _ in pairs)} = {', '.join(e for _, e in pairs)}", loc)


def _for(g: Gen, inst: Inst) -> None:
    start, stop, step, *inits = inst.operands
    body = inst.regions[0]
    iv, *carried = body.args
    targets = []
    for c, init, res in zip(carried, inits, inst.results):
        name = g.define(c)
        g.alias(res, name)
        targets.append(name)
        g.line(f"{name} = {g.ref(init, materialize=True)}", inst.loc)
    bounds = f"{g.ref(start)}, {g.ref(stop)}"
    step_text = g.ref(step)
    if step_text != "1":
        bounds += f", {step_text}"
    rng = loops.range_text(g, inst, bounds)  # a dot's loop takes the launch's stages (`loops`)
    g.line(f"for {g.define(iv)} in {rng}:", inst.loc)
    g.depth += 1
    if g.interpret:  # the interpreter's counter is a Python int (see `_typed_scalars`)
        g.line(f"{g.ref(iv)} = tl.cast({g.ref(iv)}, {g.tl_dtype(iv.type.dtype)})", inst.loc)
    before = len(g.lines)
    g.block(body, KERNEL_RULES)
    _yield_to(g, targets, body.insts[-1].operands, body.insts[-1].loc)
    if len(g.lines) == before:
        g.line("pass")
    g.depth -= 1


def _if(g: Gen, inst: Inst) -> None:
    targets = [g.define(r) for r in inst.results]
    g.line(f"if {g.ref(inst.operands[0])}:", inst.loc)
    for i, region in enumerate(inst.regions):
        if i == 1:
            g.line("else:", inst.loc)
        g.depth += 1
        before = len(g.lines)
        g.block(region, KERNEL_RULES)
        _yield_to(g, targets, region.insts[-1].operands, region.insts[-1].loc)
        if len(g.lines) == before:
            g.line("pass")
        g.depth -= 1


# --- MATH ------------------------------------------------------------------------------------

_BINARY = {Op.ADD: "+", Op.SUB: "-", Op.MUL: "*", Op.DIV: "/", Op.EQ: "==", Op.NE: "!=",
           Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">=", Op.AND: "&", Op.OR: "|",
           Op.XOR: "^", Op.SHL: "<<", Op.SHR: ">>"}

# Transcendentals: Triton wants fp32/fp64 inputs, so 16-bit and fp8 floats go through fp32.
_UNARY_FN = {Op.EXP: "tl.exp({})", Op.EXP2: "tl.exp2({})", Op.LOG: "tl.log({})",
             Op.LOG2: "tl.log2({})", Op.SQRT: "tl.sqrt({})", Op.RSQRT: "tl.rsqrt({})",
             Op.SIN: "tl.sin({})", Op.COS: "tl.cos({})", Op.ERF: "tl.erf({})",
             Op.FLOOR: "tl.floor({})", Op.CEIL: "tl.ceil({})",
             Op.SIGMOID: "(1.0 / (1.0 + tl.exp(-{})))",
             Op.TANH: "(2.0 / (1.0 + tl.exp(-2.0 * {})) - 1.0)",
             Op.LOG1P: "libdevice.log1p({})"}
# Interpreter builds: libdevice returns None there, so these compute from core tl ops (`helpers`).
_INTERPRETER_FN = {Op.LOG1P: "_td_log1p({})"}


def _wide(g: Gen, x, dtype: DType) -> str:
    text = g.ref(x, materialize=True)
    if dtype in (DType.f32, DType.f64) or g.held_as_f32(dtype):
        return text
    return g.cast(text, dtype, DType.f32, _scalar(x))


def _narrow(g: Gen, expr: str, dtype: DType, scalar: bool) -> str:
    """Back to `dtype` from f32 (values held as f32 are rounded by `_assign` instead)."""
    if dtype in (DType.f32, DType.f64) or g.held_as_f32(dtype):
        return expr
    return g.cast(expr, DType.f32, dtype, scalar)


def _scalar(v) -> bool:
    """A rank-0 value: possibly a plain Python number in the generated code (see `Gen.cast`)."""
    return v.type.rank == 0


def _unary_fn(op: Op) -> Rule:
    def rule(g: Gen, inst: Inst) -> None:
        (x,) = inst.operands
        dt = x.type.dtype
        fn = _INTERPRETER_FN.get(op, _UNARY_FN[op]) if g.interpret else _UNARY_FN[op]
        _assign(g, inst, _narrow(g, fn.format(_wide(g, x, dt)), dt, _scalar(x)))
    return rule


def _neg(g: Gen, inst: Inst) -> None:
    _assign(g, inst, f"-{g.ref(inst.operands[0], materialize=True)}")


def _not(g: Gen, inst: Inst) -> None:
    (x,) = inst.operands
    text = g.ref(x, materialize=True)
    _assign(g, inst, f"{text} == 0" if x.type.dtype.is_bool else f"~{text}")


def _abs(g: Gen, inst: Inst) -> None:
    _assign(g, inst, f"tl.abs({g.ref(inst.operands[0], materialize=True)})")


def _binary(op: Op) -> Rule:
    sym = _BINARY[op]

    def rule(g: Gen, inst: Inst) -> None:
        a, b = inst.operands
        # two numbers would compute in Python (no dtype, no wrapping): one is made a typed scalar
        both = g.is_literal(a) and g.is_literal(b)
        _assign(g, inst, f"{g.ref(a, materialize=both)} {sym} {g.ref(b)}")
    return rule


def _minmax(fn_name: str) -> Rule:
    """Elementwise maximum / minimum; on floats NaN propagates, as torch.maximum does."""
    def rule(g: Gen, inst: Inst) -> None:
        a, b = inst.operands
        nan = ", propagate_nan=tl.PropagateNan.ALL" if inst.result.type.dtype.is_float else ""
        _assign(g, inst, f"tl.{fn_name}({g.ref(a, True)}, {g.ref(b, True)}{nan})")
    return rule


def _clamp(g: Gen, inst: Inst) -> None:
    """torch.clamp as min(max(x, lo), hi) (lo > hi gives hi), NaN propagating as in `_minmax`
    (tl.clamp would not: it is for lo <= hi and drops NaN)."""
    x, lo, hi = (g.ref(v, True) for v in inst.operands)
    nan = ", propagate_nan=tl.PropagateNan.ALL" if inst.result.type.dtype.is_float else ""
    _assign(g, inst, f"tl.minimum(tl.maximum({x}, {lo}{nan}), {hi}{nan})")


def _floordiv(g: Gen, inst: Inst) -> None:
    """Python's floor division. Triton's ``//`` truncates, which agrees on non-negative ints."""
    a, b = inst.operands
    both = g.is_literal(a) and g.is_literal(b)
    x, y = g.ref(a, materialize=both), g.ref(b)
    if a.type.dtype.is_float:  # torch's algorithm (`helpers`), in f32 for 16-bit floats
        dt = a.type.dtype
        _assign(g, inst, _narrow(g, f"_td_floordiv({_wide(g, a, dt)}, {_wide(g, b, dt)})", dt,
                                 _scalar(inst.result)))
    elif g.is_nonneg(a) and g.is_nonneg(b):
        _assign(g, inst, f"{x} // {y}")
    else:
        q = g.fresh(f"{inst.result.name}_trunc")
        g.line(f"{q} = {x} // {y}", inst.loc)
        _assign(g, inst, f"tl.where(({x} % {y} != 0) & (({x} < 0) != ({y} < 0)), {q} - 1, {q})")


def _mod(g: Gen, inst: Inst) -> None:
    """Python's modulo (sign of the divisor). Triton's ``%`` is C's remainder."""
    a, b = inst.operands
    both = g.is_literal(a) and g.is_literal(b)
    x, y = g.ref(a, materialize=both), g.ref(b)
    if a.type.dtype.is_float:
        dt = a.type.dtype
        _assign(g, inst, _narrow(g, f"_td_remainder({_wide(g, a, dt)}, {_wide(g, b, dt)})", dt,
                                 _scalar(inst.result)))
    elif g.is_nonneg(a) and g.is_nonneg(b):
        _assign(g, inst, f"{x} % {y}")
    else:
        r = g.fresh(f"{inst.result.name}_rem")
        g.line(f"{r} = {x} % {y}", inst.loc)
        _assign(g, inst, f"tl.where(({r} != 0) & (({r} < 0) != ({y} < 0)), {r} + {y}, {r})")


# x ** n for small integer constants n: products (what torch does for 2 and 3), in every build.
_POW_INT = {0: "1", 1: "{x}", 2: "{x} * {x}", 3: "{x} * {x} * {x}", 4: "({x} * {x}) * ({x} * {x})",
            -1: "1.0 / {x}", -2: "1.0 / ({x} * {x})"}


def _pow(g: Gen, inst: Inst) -> None:
    """``a ** b`` with torch's semantics: small integer constant exponents as products; otherwise
    libdevice's pow on GPUs and, in interpreter builds (where libdevice does not run), `_td_pow`
    in f64 rounded once."""
    a, b = inst.operands
    dt = inst.result.type.dtype
    n = _int_constant(g, b)
    if n in _POW_INT and (n >= 0 or dt.is_float):
        x = _wide(g, a, dt) if dt.is_float else g.ref(a, True)
        if n == 0:
            _assign(g, inst, f"tl.full({_shape_text(inst.result.type.shape)}, 1, {g.tl_dtype(dt)})")
            return
        _assign(g, inst, _narrow(g, f"({_POW_INT[n].format(x=x)})", dt, _scalar(inst.result))
                if dt.is_float else
                _POW_INT[n].format(x=x))
        return
    if g.interpret:
        out = "tl.float32" if g.held_as_f32(dt) else TL_DTYPE[dt]
        _assign(g, inst, f"_td_pow({g.ref(a, True)}, {g.ref(b, True)}).to({out})")
        return
    _assign(g, inst, _narrow(g, f"libdevice.pow({_wide(g, a, dt)}, {_wide(g, b, dt)})", dt,
                             _scalar(inst.result)))


def _int_constant(g: Gen, v) -> int | None:
    """The value of `v` when it is a constant with an integer value, else None."""
    const = g.consts.get(v.name)
    value = None if const is None else const.attr("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return int(value) if float(value).is_integer() else None


def _where(g: Gen, inst: Inst) -> None:
    c, a, b = inst.operands
    _assign(g, inst, f"tl.where({g.ref(c)}, {g.ref(a, True)}, {g.ref(b, True)})")


def _cast(g: Gen, inst: Inst) -> None:
    """``x.to(dtype)`` (`Gen.cast`: scalars that may be numbers, fp8 through f32, saturation).
    Not `_assign`ed as a computing op: `Gen.cast` rounds to a dtype held as f32 itself."""
    (x,) = inst.operands
    dt: DType = inst.attr("dtype")
    expr = g.cast(g.ref(x, materialize=True), x.type.dtype, dt, _scalar(x))
    g.line(f"{g.define(inst.result)} = {expr}", inst.loc)


# --- SHAPE -------------------------------------------------------------------------------------

def _expand_dims(g: Gen, inst: Inst) -> None:
    (x,) = inst.operands
    rank = inst.result.type.rank
    axis = inst.attr("axis") % rank
    idx = ", ".join("None" if i == axis else ":" for i in range(rank))
    _assign(g, inst, f"{g.ref(x, True)}[{idx}]")


def _transpose(g: Gen, inst: Inst) -> None:
    (x,) = inst.operands
    perm = tuple(inst.attr("perm"))
    if perm == (1, 0):
        _assign(g, inst, f"tl.trans({g.ref(x)})")
    else:
        _assign(g, inst, f"tl.permute({g.ref(x)}, {perm})")


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _reshape(g: Gen, inst: Inst) -> None:
    """``tl.reshape``; a scalar is broadcast instead (the interpreter cannot reshape a scalar)."""
    (x,) = inst.operands
    fn = "tl.broadcast_to" if _scalar(x) else "tl.reshape"
    _assign(g, inst, f"{fn}({g.ref(x, True)}, {_shape_text(inst.result.type.shape)})")


def _broadcast_to(g: Gen, inst: Inst) -> None:
    _assign(g, inst, f"tl.broadcast_to({g.ref(inst.operands[0], True)}, "
                     f"{_shape_text(inst.result.type.shape)})")


# --- TILE --------------------------------------------------------------------------------------

def _grid(g: Gen, inst: Inst) -> None:
    """Program ids; with ``group_m`` the 2-D tile order is grouped (L2 reuse along M)."""
    pids = inst.regions[0].args
    g.depth = 1
    group = inst.attr("group_m")
    group = g.value(group) if group is not None else None
    in_kernel, g.in_kernel = g.in_kernel, False
    sizes_host = [g.ref(s) for s in inst.operands]
    g.in_kernel = in_kernel
    if group and len(pids) >= 2:
        _grouped_pids(g, inst, pids, group)
        rest = sizes_host[2:]
        g.grid_launch = "(" + ", ".join([f"{sizes_host[0]} * {sizes_host[1]}"] + rest) + ",)"
    else:
        for axis, pid in enumerate(pids):
            g.line(f"{g.define(pid)} = tl.program_id({axis})", inst.loc)
        g.grid_launch = "(" + ", ".join(sizes_host) + ",)"
    start = len(g.lines)
    g.block(inst.regions[0], KERNEL_RULES)
    g.lines[start:start] = _typed_scalars(g)
    if len(g.lines) == 0:
        g.line("pass")


def _typed_scalars(g: Gen) -> list[str]:
    """``s = tl.cast(s, tl.float32)`` for each scalar argument the kernel reads.

    Triton's interpreter passes scalar arguments as Python numbers, and the GPU JIT turns an int
    argument equal to 1 into a constant: numbers have no ``.to``, no ``[None]``, no ``tl.reshape``,
    and Python ints do not wrap. The cast makes each a scalar tensor of its IR dtype in both builds
    (for an argument that is a tensor already it is no operation)."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(g.lines)))
    values = [p.value for p in g.fn.params if p.value.name not in g.tensors]
    values += list(g.kernel_uses.values())
    out = []
    for v in values:
        name = g.names[v.name]
        if name not in words:
            continue
        if v.type.dtype is DType.f64:  # passed as the two 32-bit words of its bits (`_f64_hi`)
            hi, lo = g.namer.take(f"{name}_hi"), g.namer.take(f"{name}_lo")
            g.f64_parts[v.name] = (hi, lo)
            bits = f"(tl.cast({hi}, tl.int64) << 32) | (tl.cast({lo}, tl.int64) & 0xFFFFFFFF)"
            out.append(f"{INDENT * g.depth}{name} = tl.cast({bits}, tl.float64, bitcast=True)")
        else:
            out.append(f"{INDENT * g.depth}{name} = tl.cast({name}, {g.tl_dtype(v.type.dtype)})")
    return out


def _grouped_pids(g: Gen, inst: Inst, pids, group: int) -> None:
    n0, n1 = g.ref(inst.operands[0]), g.ref(inst.operands[1])
    loc = inst.loc
    pid, width, gid, first, gsize = (g.fresh(n) for n in
                                     ("pid", "tiles_per_group", "group_id", "first_m", "group_size"))
    g.line(f"{pid} = tl.program_id(0)", loc)
    g.line(f"{width} = {group} * {n1}", loc)
    g.line(f"{gid} = {pid} // {width}", loc)
    g.line(f"{first} = {gid} * {group}", loc)
    g.line(f"{gsize} = tl.minimum({n0} - {first}, {group})", loc)
    g.line(f"{g.define(pids[0])} = {first} + ({pid} % {width}) % {gsize}", loc)
    g.line(f"{g.define(pids[1])} = ({pid} % {width}) // {gsize}", loc)
    for axis, p in enumerate(pids[2:], start=1):
        g.line(f"{g.define(p)} = tl.program_id({axis})", loc)


def _other_text(g: Gen, inst: Inst, dtype: DType) -> str:
    other = inst.attr("other")
    return g.literal(0 if other is None else other, dtype)


def _split_operands(inst: Inst, n_fixed: int):
    """(target, offsets, rest, user mask) of a load / store / atomic (`optable.window_of`)."""
    w = window_of(inst)
    return w.tensor, list(w.offsets), list(w.rest), w.mask


def _is_buffer(v) -> bool:
    return v.type.space.is_buffer


def _whole_buffer(g: Gen, inst: Inst, buf, offsets, what: str) -> None:
    """Triton has no addressable on-chip buffers: only whole-buffer access maps to a tile value."""
    shape = inst.attr("shape")
    full = shape is None or tuple(g.value(shape)) == tuple(buf.type.shape)
    zero = all(g.ref(o) == "0" for o in offsets)
    if not (full and zero) or inst.attr("masked"):
        raise BackendError(f"{what} of a part of on-chip buffer %{buf.name}: Triton keeps buffers as "
                           f"whole tiles", loc=inst.loc,
                           hint="access the whole buffer, or use backend='tilelang'")


def _load(g: Gen, inst: Inst) -> None:
    src, offsets, _, mask = _split_operands(inst, 0)
    if _is_buffer(src):
        _whole_buffer(g, inst, src, offsets, "load")
        _assign(g, inst, g.ref(src))
        return
    acc = g.tma.get(id(inst))
    if acc is not None:
        _assign(g, inst, g.decoded(tma.load_expr(g, acc), src.type.dtype))
        return
    ptr, terms = g.window(src, offsets, inst.attr("shape"), inst.loc, inst)
    if mask is not None:
        terms.append(g.ref(mask))
    name = g.define(inst.result)
    mask_name = g.mask_line(f"mask_{name}", terms, inst.loc)
    args = ptr if mask_name is None else \
        f"{ptr}, mask={mask_name}, other={_other_text(g, inst, src.type.dtype)}"
    g.line(f"{name} = {g.decoded(f'tl.load({args})', src.type.dtype)}", inst.loc)


def _store(g: Gen, inst: Inst) -> None:
    dst, offsets, (value,), mask = _split_operands(inst, 1)
    if _is_buffer(dst):
        _whole_buffer(g, inst, dst, offsets, "store")
        g.line(f"{g.ref(dst)} = {g.ref(value, True)}", inst.loc)
        return
    acc = g.tma.get(id(inst))
    if acc is not None:  # an epilogue store through a descriptor: TMA drops what is out of bounds
        g.line(tma.store_stmt(g, acc, _stored(g, value, dst.type.dtype)), inst.loc)
        return
    ptr, terms = g.window(dst, offsets, inst.attr("shape"), inst.loc, inst)
    if mask is not None:
        terms.append(g.ref(mask))
    mask_name = g.mask_line(f"mask_{g.tensors[dst.name].host_name}", terms, inst.loc)
    tail = "" if mask_name is None else f", mask={mask_name}"
    g.line(f"tl.store({ptr}, {_stored(g, value, dst.type.dtype)}{tail})", inst.loc)


def _stored(g: Gen, value, dt: DType) -> str:
    """A value stored into a `dt` tensor: encoded where this build holds `dt` as f32."""
    if not g.held_as_f32(dt):
        return g.ref(value)
    text = g.ref(value, True)
    if not g.held_as_f32(value.type.dtype):
        text = g.cast(text, value.type.dtype, DType.f32, _scalar(value))
    return g.encoded(text, dt)


def _atomic(g: Gen, inst: Inst) -> None:
    dst, offsets, (value,), mask = _split_operands(inst, 1)
    # atomics on buffers and the kinds Triton lacks were refused by `tiledsl.passes.legality`
    kind, dt = inst.attr("kind"), dst.type.dtype
    if not atomics.check(g, inst, kind, dt):  # never run: `Backend.execute` raises the refusal
        g.line(f'tl.static_assert(False, "atomic_{kind} on {dt.value} tensors does not run in '
               f'Triton\'s interpreter")', inst.loc)
    ptr, terms = g.window(dst, offsets, inst.attr("shape"), inst.loc, inst)
    if mask is not None:
        terms.append(g.ref(mask))
    name = g.define(inst.result)
    mask_name = g.mask_line(f"mask_{name}", terms, inst.loc)
    atomics.emit(g, inst, name, ptr, value, mask_name)


def _arange(g: Gen, inst: Inst) -> None:
    _assign(g, inst, f"tl.arange({g.knob(inst.attr('start'))}, {g.knob(inst.attr('end'))})")


def _full(g: Gen, inst: Inst) -> None:
    t = inst.result.type
    value = g.value(inst.attr("value"))
    shape = _shape_text(t.shape)
    if value == 0 and not isinstance(value, bool):
        _assign(g, inst, f"tl.zeros({shape}, dtype={g.tl_dtype(t.dtype)})")
    else:
        _assign(g, inst, f"tl.full({shape}, {g.literal(value, t.dtype)}, {g.tl_dtype(t.dtype)})")


def _dot(g: Gen, inst: Inst) -> None:
    """``tl.dot``. fp32 operands use IEEE products (the IR's semantics). In interpreter builds bf16
    and fp8 operands are f32 already (`helpers`; Triton's interpreter computes bf16 ``tl.dot``
    wrongly) and get IEEE products too."""
    a, b = inst.operands[:2]
    acc = inst.operands[2] if len(inst.operands) == 3 else None
    out = inst.result.type
    held = g.held_as_f32(a.type.dtype) or g.held_as_f32(b.type.dtype)
    args = [_dot_operand(g, a, held), _dot_operand(g, b, held)]
    if acc is not None:
        acc_text = g.ref(acc, True)
        if tuple(acc.type.shape) != tuple(out.shape):
            acc_text = f"tl.broadcast_to({acc_text}, {_shape_text(out.shape)})"
        args.append(acc_text)
    if a.type.dtype is DType.f32 or held:
        args.append('input_precision="ieee"')
    if DType.f64 in (a.type.dtype, b.type.dtype) and out.dtype is not DType.f64:
        # f64 products accumulate in f64 (Triton would take the f32 accumulator's precision,
        # and its interpreter gets such mixed dots badly wrong), rounded once per dot
        if acc is not None:
            args[2] = f"{args[2]}.to(tl.float64)"
        args.append("out_dtype=tl.float64")
        _assign(g, inst, f"tl.dot({', '.join(args)}).to({g.tl_dtype(out.dtype)})")
        return
    if out.dtype not in (DType.f32, DType.i32) and not g.held_as_f32(out.dtype):
        args.append(f"out_dtype={TL_DTYPE[out.dtype]}")
    _assign(g, inst, f"tl.dot({', '.join(args)})")


def _dot_operand(g: Gen, v, held: bool) -> str:
    """An operand; next to an operand held as f32, a 16-bit one is widened to match."""
    text = g.ref(v)
    if held and v.type.dtype is not DType.f32 and not g.held_as_f32(v.type.dtype):
        text = f"{text}.to(tl.float32)"
    return text


def _reduce(g: Gen, inst: Inst) -> None:
    """Tile reductions with torch's semantics: 16-bit sums and products in f32 rounded once,
    max/min propagate NaN, argmax/argmin give the first NaN or else the first extreme index."""
    (x,) = inst.operands
    kind = inst.attr("kind")
    rule = REDUCE_RULES[kind]  # the kinds of `capabilities.TRITON` (checked by the legality pass)
    axis = inst.attr("axis") % x.type.rank
    keep = ", keep_dims=True" if inst.attr("keepdims") else ""
    _assign(g, inst, rule(g, x, inst.result.type.dtype, f"axis={axis}{keep}"))


def _scan(g: Gen, inst: Inst) -> None:
    (x,) = inst.operands
    axis = inst.attr("axis") % x.type.rank
    out = inst.result.type.dtype
    wide = out in (DType.f16, DType.bf16) and not g.held_as_f32(out)
    src = g.ref(x) + (".to(tl.float32)" if wide else "")
    expr = f"tl.cumsum({src}, axis={axis})"
    if out not in (DType.f32, DType.f64, DType.i32, DType.i64) and not g.held_as_f32(out):
        expr = f"{expr}.to({TL_DTYPE[out]})"
    _assign(g, inst, expr)


def _alloc(g: Gen, inst: Inst) -> None:
    """A buffer is a tile variable, reassigned by copies (Triton carries it through loops)."""
    t = inst.result.type
    g.buffers.add(inst.result.name)
    _assign(g, inst, f"tl.zeros({_shape_text(t.shape)}, dtype={g.tl_dtype(t.dtype)})")


def _copy(g: Gen, inst: Inst) -> None:
    src, dst = inst.operands[:2]
    offsets = inst.operands[2:]
    shape = inst.attr("shape")
    if src.type.space is Space.GLOBAL:
        name = g.ref(dst)
        acc = g.tma.get(id(inst))
        if acc is not None:
            expr = tma.load_expr(g, acc)
        else:
            ptr, terms = g.window(src, offsets, shape or dst.type.shape, inst.loc)
            mask_name = g.mask_line(f"mask_{name}", terms, inst.loc)
            tail = "" if mask_name is None else f", mask={mask_name}, other={literal(0, src.type.dtype)}"
            expr = f"tl.load({ptr}{tail})"
        expr = _convert(g, g.decoded(expr, src.type.dtype), src.type.dtype, dst.type.dtype)
        g.line(f"{name} = {expr}", inst.loc)
    elif dst.type.space is Space.GLOBAL:
        ptr, terms = g.window(dst, offsets, shape or src.type.shape, inst.loc)
        mask_name = g.mask_line(f"mask_{g.tensors[dst.name].host_name}", terms, inst.loc)
        value = _convert(g, g.ref(src), src.type.dtype, dst.type.dtype)
        value = g.encoded(value, dst.type.dtype)
        tail = "" if mask_name is None else f", mask={mask_name}"
        g.line(f"tl.store({ptr}, {value}{tail})", inst.loc)
    else:
        value = _convert(g, g.ref(src, True), src.type.dtype, dst.type.dtype)
        if tuple(src.type.shape) != tuple(dst.type.shape):
            value = f"tl.broadcast_to({value}, {_shape_text(dst.type.shape)})"
        g.line(f"{g.ref(dst)} = {value}", inst.loc)


KERNEL_RULES: dict[Op, Rule] = {
    Op.CONST: _const, Op.DIM: _dim, Op.FOR: _for, Op.IF: _if,
    Op.NEG: _neg, Op.NOT: _not, Op.ABS: _abs, Op.FLOORDIV: _floordiv, Op.MOD: _mod,
    Op.POW: _pow, Op.MAXIMUM: _minmax("maximum"), Op.MINIMUM: _minmax("minimum"),
    Op.WHERE: _where, Op.CLAMP: _clamp, Op.CAST: _cast,
    Op.EXPAND_DIMS: _expand_dims, Op.TRANSPOSE: _transpose, Op.RESHAPE: _reshape,
    Op.BROADCAST_TO: _broadcast_to,
    Op.GRID: _grid, Op.LOAD: _load, Op.STORE: _store, Op.ATOMIC: _atomic, Op.ARANGE: _arange,
    Op.FULL: _full, Op.DOT: _dot, Op.TILE_REDUCE: _reduce, Op.SCAN: _scan, Op.ALLOC: _alloc,
    Op.COPY: _copy,
}
KERNEL_RULES.update({op: _binary(op) for op in _BINARY})
# Ops whose result is computed (not moved): in interpreter builds a bf16/fp8 result is rounded.
_COMPUTES = frozenset({Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.FLOORDIV, Op.MOD, Op.POW,
                       Op.DOT, Op.TILE_REDUCE, Op.SCAN, *_UNARY_FN})
KERNEL_RULES.update({op: _unary_fn(op) for op in _UNARY_FN})


# --- host code (the launcher): plain Python on ints and floats ---------------------------------

def _host_binary(sym: str) -> Rule:
    def rule(g: Gen, inst: Inst) -> None:
        a, b = inst.operands
        _assign(g, inst, f"{g.ref(a)} {sym} {g.ref(b)}")
    return rule


def _host_call(fn_name: str) -> Rule:
    def rule(g: Gen, inst: Inst) -> None:
        _assign(g, inst, f"{fn_name}({', '.join(g.ref(v) for v in inst.operands)})")
    return rule


def _host_cast(g: Gen, inst: Inst) -> None:
    dt: DType = inst.attr("dtype")
    conv = "bool" if dt.is_bool else "int" if dt.is_int else "float"
    _assign(g, inst, f"{conv}({g.ref(inst.operands[0])})")


HOST_RULES: dict[Op, Rule] = {
    Op.CONST: _const, Op.DIM: _host_dim, Op.CAST: _host_cast,
    Op.MAXIMUM: _host_call("max"), Op.MINIMUM: _host_call("min"), Op.ABS: _host_call("abs"),
    Op.NEG: lambda g, inst: _assign(g, inst, f"-{g.ref(inst.operands[0])}"),
}
HOST_RULES.update({op: _host_binary(sym) for op, sym in
                   {**_BINARY, Op.FLOORDIV: "//", Op.MOD: "%", Op.POW: "**"}.items()
                   })
