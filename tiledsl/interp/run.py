"""Entry point of the interpreter: bind arguments, compile the plan, run it.

The rule table `RULES` maps every `Op` to a factory ``(inst, ctx) -> step``; the factories live
beside the ops they implement (`compute`, `memory`, `control`, `threads`). The plan is compiled
per call (its cost is linear in the IR's size, small next to running it) because runtime sizes of
the arguments are part of what it resolves.
"""

from __future__ import annotations

import contextlib

import torch

from tiledsl.errors import ArgumentError
from tiledsl.interp import compute, control, memory, threads
from tiledsl.interp.plan import Ctx, Factory, drive, run_block
from tiledsl.interp.values import TORCH, scalar
from tiledsl.ir.dims import is_size_sym, size_sym
from tiledsl.ir.nodes import Function, ParamKind
from tiledsl.ir.ops import Op


def _terminator(inst, ctx):  # YIELD / RETURN are read by `Ctx._block`, never run as steps
    ctx.fail(inst, "is only allowed as the last inst of a block")


RULES: dict[Op, Factory] = {
    **compute.RULES, **memory.RULES, **control.RULES, **threads.RULES,
    Op.YIELD: _terminator, Op.RETURN: _terminator,
}
# every op has its rule here: tests/test_op_coverage.py lists any that is missing


def run(fn: Function, args: list) -> list[torch.Tensor]:
    """Execute `fn` on CPU: `args` follow ``fn.params`` (torch tensors for TENSOR and OUTPUT
    params, written in place; Python numbers for SCALAR params). Returns the values of the
    function's RETURN (level-1 kernels run unscheduled), else an empty list."""
    if len(args) != len(fn.params):
        raise ArgumentError(f"{fn.name} takes {len(fn.params)} arguments "
                            f"({', '.join(p.value.name for p in fn.params)}), got {len(args)}")
    sizes = _sizes(fn, args)
    ctx = Ctx(fn, RULES, sizes, {k.name: k.value for k in fn.knobs})
    param_slots = [ctx.slot(p.value) for p in fn.params]
    body = ctx.block(fn.body)
    env: list = [None] * len(ctx.slots)
    for s, p, a in zip(param_slots, fn.params, args):
        env[s] = _bind(fn, p, a)
    with _one_torch_thread():
        out = drive(run_block(body, env))
    return list(out or [])


@contextlib.contextmanager
def _one_torch_thread():
    """Tiles are small: torch's intra-op threads cost far more than they save on them (a 16x128
    by 128x32 matmul takes 3 us on one thread, milliseconds on two busy ones)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _bind(fn: Function, p, a):
    t = p.value.type
    if p.kind is ParamKind.SCALAR:
        if isinstance(a, torch.Tensor) and a.numel() != 1:
            raise ArgumentError(f"{fn.name}: {p.value.name} is a scalar, got a tensor of shape {tuple(a.shape)}")
        return scalar(a, t.dtype)
    if not isinstance(a, torch.Tensor):
        raise ArgumentError(f"{fn.name}: {p.value.name} must be a torch tensor, got {type(a).__name__}")
    if a.device.type != "cpu":
        raise ArgumentError(f"{fn.name}: the IR interpreter runs on CPU tensors; {p.value.name} is on "
                            f"{a.device}. Use backend='triton' or 'tilelang' for GPU tensors")
    if a.dtype != TORCH[t.dtype]:
        raise ArgumentError(f"{fn.name}: {p.value.name} must be {t.dtype.value} ({TORCH[t.dtype]}), got {a.dtype}")
    return a


def _sizes(fn: Function, args: list) -> dict[str, int]:
    """Runtime sizes ``"x.0"`` of every tensor parameter, checked against static dims."""
    sizes: dict[str, int] = {}
    for p, a in zip(fn.params, args):
        if p.kind is ParamKind.SCALAR:
            continue
        shape = tuple(getattr(a, "shape", ()))
        t = p.value.type
        if len(shape) != t.rank:
            raise ArgumentError(f"{fn.name}: {p.value.name} must have rank {t.rank}, got shape {shape}")
        for i, (d, n) in enumerate(zip(t.shape, shape)):
            sizes[size_sym(p.value.name, i)] = int(n)
            if isinstance(d, int) and d != n:
                raise ArgumentError(f"{fn.name}: {p.value.name}.shape[{i}] must be {d}, got {n}")
            if is_size_sym(d):
                if sizes.setdefault(d, int(n)) != n:
                    raise ArgumentError(f"{fn.name}: {p.value.name}.shape[{i}] is {n} but {d} is {sizes[d]}")
    for a_, b_ in fn.attr("assume") or ():
        if a_ in sizes and b_ in sizes and sizes[a_] != sizes[b_]:
            raise ArgumentError(f"{fn.name}: sizes {a_} ({sizes[a_]}) and {b_} ({sizes[b_]}) must match: "
                                "the kernel combines them elementwise")
    return sizes
