"""Runtime loops and branches: which names they carry, and what a name holds afterwards.

Names rebind as in Python. A name bound before a runtime `for`/`if` and rebound inside it is
carried (a loop-carried value, an `if` result) whatever it held before: a runtime value, or a
Python number, which is then materialized with the dtype the joined value needs (the language's
promotion: `acc = 0` then `acc += <f32 tile>` carries an f32 tile). A number the body leaves
unchanged stays a folded constant.

What a loop carries is found by lowering the body, looking at what each name holds at its end,
and lowering it again with the joined types until nothing changes (usually once, twice when a
number becomes a runtime value); the discarded attempts leave no trace (`_Snapshot`).

After a loop, the loop variable holds the value of the last iteration (as Python), or its value
from before the loop if the loop ran zero times; a loop variable that was not bound before the
loop, and names first assigned inside a loop or in one branch of a runtime `if`, are unbound
after it (`Unbound`: using them is an error that says to bind them before).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import reduce

from tiledsl.dtypes import DType, promote
from tiledsl.errors import KernelTypeError
from tiledsl.frontend.values import KnobRef, Unbound, describe
from tiledsl.ir.nodes import Block, Inst, Space, Sym, Type, Value
from tiledsl.ir.ops import Op

_CARRIED_SPACES = (Space.SCALAR, Space.TILE)
_MAX_ATTEMPTS = 8


# --- what can be carried and how types join --------------------------------------------------------
def _is_number(x) -> bool:
    return isinstance(x, (bool, int, float, KnobRef))


def carriable(x) -> bool:
    """A runtime scalar or tile, or a number (which becomes one when it must be carried)."""
    if isinstance(x, Value):
        return x.type.space in _CARRIED_SPACES
    return _is_number(x)


def same(a, b) -> bool:
    """Whether `b` is still what `a` was: the same IR value, or an equal number of the same type."""
    if a is b:
        return True
    if isinstance(a, Value) or isinstance(b, Value) or type(a) is not type(b):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


def _number_dtype(x) -> DType:
    if isinstance(x, bool):
        return DType.i1
    if isinstance(x, KnobRef):
        return DType.i32
    if isinstance(x, int):
        return DType.i32 if -(2**31) <= x < 2**31 else DType.i64
    return DType.f32


def join(low, name: str, items: list, where: str) -> Type:
    """The type a carried `name` takes: one shape (numbers broadcast to it), the promoted dtype
    of its runtime values (numbers, and runtime floats, adapt to them, as in arithmetic)."""
    weak = [i for i in items if low.is_weak(i)]
    items = [i for i in items if not low.is_weak(i)]
    types = [i.type if isinstance(i, Value) else i for i in items if isinstance(i, (Value, Type))]
    numbers = [i for i in items if not isinstance(i, (Value, Type))] + [0.0] * len(weak)
    if weak and not types:
        return Type(DType.f64)  # runtime floats and numbers only: Python's double
    shapes = list(dict.fromkeys((t.shape, t.space) for t in types))
    if len(shapes) > 1:
        (s0, _), (s1, _) = shapes[:2]
        raise low.error(KernelTypeError, f"`{name}` changes type {where}: shape {_fmt(s0)} and shape {_fmt(s1)}",
                        "a carried value keeps one shape: start it as td.zeros / td.full of the final shape")
    shape, space = shapes[0] if shapes else ((), Space.SCALAR)
    if types:
        dt = reduce(promote, (t.dtype for t in types))
        if any(isinstance(x, float) for x in numbers) and not dt.is_float:
            dt = DType.f32
    else:
        dt = reduce(promote, (_number_dtype(x) for x in numbers))
    return Type(dt, shape, space)


def _join_or_none(low, name: str, items: list) -> Type | None:
    try:
        return join(low, name, items, "in the loop")
    except KernelTypeError:
        return None


def _fmt(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def materialize(low, x, t: Type) -> Value:
    """`x` (a value or a number) as a value of type `t`."""
    if isinstance(x, Value):
        return low.cast(x, t.dtype)
    if not t.shape:
        return low.const(x, t.dtype)
    shape = tuple(Sym(d) if isinstance(d, str) else d for d in t.shape)
    if isinstance(x, KnobRef):
        return low.value(Op.BROADCAST_TO, (low.const(x, t.dtype),), {"shape": shape})
    low.check_fits(x, t.dtype)
    value = float(x) if t.dtype.is_float else (bool(x) if t.dtype.is_bool else int(x))
    return low.value(Op.FULL, (), {"shape": shape, "value": value, "dtype": t.dtype}, hint="full")


# --- names in statements ------------------------------------------------------------------------------------
def assigned_names(stmts) -> list[str]:
    """Names a statement list binds, in order of first appearance."""
    out: dict[str, None] = {}
    for s in stmts:
        for node in ast.walk(s):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                out[node.id] = None
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                out[node.target.id] = None
    return list(out)


def read_names(stmts) -> set[str]:
    out: set[str] = set()
    for s in stmts:
        for node in ast.walk(s):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                out.add(node.id)
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                out.add(node.target.id)
    return out


def read_after(tree: ast.AST, loop: ast.For, name: str) -> bool:
    """Whether `name` may be read where it holds what `loop` left in it: anywhere outside the
    loop, except in the body of another loop that binds `name` itself (and does not enclose
    `loop`), where it holds that loop's variable."""
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    enclosing = set()
    node = loop
    while node in parents:
        node = parents[node]
        enclosing.add(node)

    def shadowed(n: ast.AST) -> bool:
        while n in parents:
            p = parents[n]
            if p is loop:
                return True
            if (isinstance(p, ast.For) and p not in enclosing and isinstance(p.target, ast.Name)
                    and p.target.id == name and n in p.body):
                return True
            n = p
        return False

    return any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load) and not shadowed(n)
               for n in ast.walk(tree))


# --- discarded attempts ----------------------------------------------------------------------------------------
@dataclass
class _Snapshot:
    used: set
    knobs: list
    assumptions: set

    @classmethod
    def take(cls, low) -> _Snapshot:
        return cls(set(low.builder._used), list(low.knobs), set(low.builder.unifier.assumptions))

    def restore(self, low) -> None:
        low.builder._used = set(self.used)
        low.knobs = list(self.knobs)
        low.builder.unifier.assumptions = set(self.assumptions)


def literal_trips(call: ast.Call) -> int:
    """The iterations of ``range(...)`` written with int literals (``range(3)``, ``range(1, 9, 2)``);
    0 when any bound is not a literal (unknown). The eager mode's scoping keeps its own copy of
    this rule (it imports nothing of the compiler)."""
    vals = []
    for a in call.args:
        neg = isinstance(a, ast.UnaryOp) and isinstance(a.op, ast.USub)
        c = a.operand if neg else a
        if not (isinstance(c, ast.Constant) and type(c.value) is int):
            return 0
        vals.append(-c.value if neg else c.value)
    if call.keywords or not 1 <= len(vals) <= 3 or (len(vals) == 3 and vals[2] == 0):
        return 0
    return len(range(*vals))


# --- for ----------------------------------------------------------------------------------------------------------
def lower_for(low, s: ast.For, bounds: list[Value], stages, trips: int = 0, expect=None) -> None:
    """`trips`: the iteration count when the bounds are constants (0 when unknown); `expect`:
    the ``expect`` attr (`tiledsl.ir.trips`), None when the kernel states none."""
    target = s.target.id
    before = dict(low.env)
    assigned = [n for n in assigned_names(s.body) if n != target]
    reads = read_names(s.body)
    keep_target = (target in before and carriable(before[target])
                   and read_after(low.src.tree, s, target))
    carry: dict[str, Type] = {n: before[n].type for n in assigned if isinstance(before.get(n), Value)
                              and carriable(before[n]) and not low.is_weak(before[n])}
    if keep_target:
        carry[target] = _join_or_none(low, target, [before[target], bounds[0]])
        if carry[target] is None:
            del carry[target]
    init = before
    if (trips >= 1 and not keep_target and (target not in before or isinstance(before[target], Unbound))
            and read_after(low.src.tree, s, target)):
        # it runs at least once: after the loop the variable holds its last iteration's value,
        # carried from a placeholder start (the first iteration overwrites it)
        init = {**before, target: bounds[0]}
        carry[target] = bounds[0].type
    snap = _Snapshot.take(low)
    for _ in range(_MAX_ATTEMPTS):
        snap.restore(low)
        body, end, new = _for_attempt(low, s, bounds[0].type.dtype, init, assigned, reads, carry)
        if new == carry:
            break
        carry = new
    else:
        raise low.error(KernelTypeError, "the types of the values this loop carries do not settle",
                        "give each carried value its final dtype before the loop (e.g. .to(td.float32))")
    names = list(carry)
    inits = [materialize(low, init[n], carry[n]) for n in names]
    attrs = {"stages": stages} if expect is None else {"stages": stages, "expect": expect}
    inst = low.emit(Op.FOR, (*bounds, *inits), attrs, (body,), hint=tuple(names))
    low.env = before
    for n, r in zip(names, inst.results):
        low.env[n] = r
    for n in assigned:
        if n not in before or isinstance(before[n], Unbound):
            low.env[n] = Unbound(f"`{n}` is first assigned inside a runtime loop, which may run zero times",
                                 f"assign `{n}` before the loop to use it after")
        elif n not in carry and not same(before[n], end[n]):
            low.env[n] = Unbound(f"`{n}` is rebound to {describe(end[n])} inside a runtime loop",
                                 "only numbers, scalars and tiles are carried out of a loop")
    if target not in carry:
        if target in before and not isinstance(before[target], Unbound):
            low.env[target] = Unbound(f"`{target}` is {describe(before[target])} before the loop and the loop's "
                                      "variable in it: after the loop it could be either",
                                      "use another name for the loop variable")
        else:
            low.env[target] = Unbound(f"`{target}` is the variable of a runtime loop that may run zero times",
                                      f"assign `{target}` before the loop to use it after")


def _for_attempt(low, s: ast.For, iv_dtype: DType, before: dict, assigned: list[str], reads: set[str],
                 carry: dict[str, Type]) -> tuple[Block, dict, dict[str, Type]]:
    """Lower the body once with `carry`; return the block, the names at its end and the joined
    carry the body asks for (equal to `carry` when this attempt is the loop)."""
    target = s.target.id
    iv = low.builder.fresh(target, Type(iv_dtype))
    names = list(carry)
    args = [low.builder.fresh(n, carry[n]) for n in names]
    low.env = dict(before)
    low.env.update(zip(names, args))
    low.env[target] = iv  # the counter: rebinding the name in the body does not change it
    with low.builder.block((iv, *args)) as out:
        low.block(s.body)
        end = dict(low.env)
        new = dict(carry)
        for n in (*assigned, target):
            e = end.get(n)
            if n == target and n in carry:
                # the loop variable is carried only to be seen after the loop: if it cannot be, it is unbound there
                t = _join_or_none(low, n, [carry[n], e]) if carriable(e) else None
                if t is None:
                    del new[n]
                else:
                    new[n] = t
            elif n in carry:
                if not carriable(e):
                    raise low.error(KernelTypeError, f"`{n}` is carried by the loop but becomes {describe(e)}",
                                    "keep a carried value a number, scalar or tile")
                new[n] = join(low, n, [carry[n], e], "in the loop")
                _check_not_narrowed(low, n, carry[n], e, new[n])
            elif n != target and n in before and not isinstance(before[n], Unbound) and not same(before[n], e):
                if carriable(before[n]) and carriable(e):
                    new[n] = join(low, n, [before[n], e], "in the loop")
                    _check_not_narrowed(low, n, before[n], e, new[n])
                elif n in reads:
                    raise _not_carried(low, n, before[n], e)
        if new == carry:
            low.emit(Op.YIELD, tuple(materialize(low, end[n], carry[n]) for n in names))
    return out[0], end, new


def _check_not_narrowed(low, n: str, was, now, joined: Type) -> None:
    """A carried value takes the promoted dtype of what it holds before and in the loop; a body
    that leaves it in another dtype (`v = v.to(td.int32)` for an f32 `v`) would be converted
    back each iteration, which is not what Python does: an error, as in eager mode."""
    if isinstance(now, Value) and now.type.dtype is not joined.dtype and not low.is_weak(now):
        old = was.dtype.value if isinstance(was, Type) else (
            was.type.dtype.value if isinstance(was, Value) else f"the number {was!r}")
        raise low.error(KernelTypeError, f"`{n}` is {old} before the loop and {now.type.dtype.value} after an "
                        f"iteration: a carried value keeps one dtype (here {joined.dtype.value})", NARROW_HINT)


NARROW_HINT = ("convert it before the loop (`v = v.to(td.int32)`), or bind the converted value to another name "
               "inside the loop")


def _not_carried(low, n: str, was, now) -> KernelTypeError:
    if any(isinstance(v, Value) and v.type.space is Space.GLOBAL for v in (was, now)):
        return low.error(KernelTypeError, f"`{n}` is a whole tensor rebound inside a runtime loop: whole tensors "
                         "are not carried by loops", "write the loop in a tile program (td.grid / td.load / "
                         "td.store), or unroll it over a compile-time tuple: for i in (0, 1, 2)")
    return low.error(KernelTypeError, f"`{n}` is {describe(was)} before the loop and {describe(now)} inside it",
                     "only numbers, scalars and tiles are carried by a runtime loop; use another name inside the loop")


# --- if -------------------------------------------------------------------------------------------------------------
def lower_if(low, s: ast.If, cond: Value) -> None:
    before = dict(low.env)
    envs, blocks = [], []
    for body in (s.body, s.orelse):
        low.env = dict(before)
        with low.builder.block() as out:
            low.block(body)
        envs.append(low.env)
        blocks.append(out[0])
    low.env = dict(before)
    names, types = [], []
    for n in dict.fromkeys([*envs[0], *envs[1]]):
        a, b = envs[0].get(n), envs[1].get(n)
        if same(before.get(n), a) and same(before.get(n), b):
            continue
        if a is None or b is None or isinstance(a, Unbound) or isinstance(b, Unbound):
            low.env[n] = Unbound(f"`{n}` is assigned in only one branch of a runtime `if`",
                                 f"assign `{n}` before the `if` (or in both branches)")
        elif same(a, b):
            low.env[n] = a
        elif carriable(a) and carriable(b):
            names.append(n)
            types.append(join(low, n, [a, b], "between the branches of the `if`"))
        elif isinstance(a, Value) and isinstance(b, Value):
            low.env[n] = Unbound(f"`{n}` is a different {a.type.space.value} value in each branch of a runtime "
                                 "`if`: only numbers, scalars and tiles are joined after it",
                                 "compute both and pick one with td.where(cond, a, b)")
        else:
            low.env[n] = Unbound(f"`{n}` is {describe(a)} in one branch of a runtime `if` and {describe(b)} "
                                 "in the other", "only numbers, scalars and tiles can differ between branches")
    regions = tuple(_with_yield(low, blk, [env[n] for n in names], types) for blk, env in zip(blocks, envs))
    inst = low.emit(Op.IF, (cond,), {}, regions, hint=tuple(names), result_types=tuple(types))
    for n, r in zip(names, inst.results):
        low.env[n] = r


def _with_yield(low, blk: Block, values: list, types: list[Type]) -> Block:
    """`blk` with `values` materialized at `types` and yielded at its end."""
    with low.builder.block() as out:
        vals = tuple(materialize(low, v, t) for v, t in zip(values, types))
    tail = out[0].insts
    return Block(blk.args, blk.insts + tail + (Inst(Op.YIELD, (), vals, (), (), low.loc),))
