"""What is a valid kernel, checked in eager mode the way the compiler decides it, so that both
modes accept the same programs (docs/language.md, "What a kernel may not do").

Two parts, neither importing the front end:

- `check_syntax`: constructs the compiler has no meaning for (`while`, nested `def`, `try`,
  `break`, lambdas, comprehensions, for-else, ...) are rejected before the body runs, wherever
  they are (the compiler rejects them when it reaches them). The arguments of `print(...)` are
  exempt: printing is eager mode's own debugging aid.
- `Scoper`: names that the compiled kernel leaves unbound after a runtime construct are made
  unbound here too, at run time (a sentinel whose every read raises `FrontendError`): the
  variable of a runtime loop (`range` / `td.pipelined`) not bound before it, a name first
  assigned inside a runtime loop (after the loop, and at the start of each iteration: the
  compiled loop carries only names bound before it), and a name first assigned in only one
  branch of an `if` whose condition is a runtime value. Names a `td.grid` body assigns do not
  leak out of it, and each program starts from the values they had before the grid.
"""

from __future__ import annotations

import ast

from tiledsl.dtypes import DType, promote
from tiledsl.errors import FrontendError, KernelTypeError

_STMTS = (ast.Expr, ast.Pass, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Return, ast.Assert, ast.If, ast.For,
          ast.With)
_EXPRS = (ast.Constant, ast.Name, ast.Tuple, ast.List, ast.Attribute, ast.BinOp, ast.UnaryOp, ast.Compare,
          ast.BoolOp, ast.IfExp, ast.Subscript, ast.Call, ast.Slice)
# the compiler's hints for what to write instead (frontend/tables.py says the same)
_HINTS = {
    "While": "use `for i in range(n)` with a bound, or td.pipelined",
    "Try": "kernels cannot catch exceptions",
    "FunctionDef": "define helpers outside the kernel and inline them by hand",
    "Lambda": "write the expression out",
    "ListComp": "build tiles with td.arange / td.full",
    "Global": "pass values as parameters",
    "Delete": "rebind the name instead",
    "Raise": "kernels cannot raise",
}


_RETURN_HINT = "level-2 kernels write results with td.store; level-1 kernels return at the end"


def _err(loc_of, node: ast.AST, msg: str, hint: str | None = None) -> FrontendError:
    return FrontendError(msg, loc_of(node), hint)


def _is_print(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "breakpoint")


def check_syntax(body: list[ast.stmt], loc_of) -> None:
    """Raise `FrontendError` (at its line) for the first construct a kernel may not use."""
    for s in body:
        _check(s, loc_of)


def _check(node: ast.AST, loc_of) -> None:
    if _is_print(node):
        return
    name = type(node).__name__
    if isinstance(node, ast.stmt) and not isinstance(node, _STMTS):
        raise _err(loc_of, node, f"`{name}` statements are not supported in a kernel", _HINTS.get(name))
    if isinstance(node, ast.expr) and not isinstance(node, _EXPRS):
        raise _err(loc_of, node, f"`{name}` expressions are not supported in a kernel", _HINTS.get(name))
    if isinstance(node, ast.For) and node.orelse:
        raise _err(loc_of, node, "for-else is not supported")
    if isinstance(node, ast.For) and is_runtime_loop(node):
        if not isinstance(node.target, ast.Name):
            raise _err(loc_of, node, "the loop variable must be a single name")
        for sub in ast.walk(node):
            if isinstance(sub, ast.Return):
                raise _err(loc_of, sub, "return inside a grid, loop or branch", _RETURN_HINT)
    if isinstance(node, ast.Assert):  # the message is only evaluated when the assertion fails
        _check(node.test, loc_of)
        return
    if isinstance(node, ast.With) and len(node.items) != 1:
        raise _err(loc_of, node, "one context per `with` in a kernel")
    if isinstance(node, ast.AugAssign) and not isinstance(node.target, ast.Name):
        raise _err(loc_of, node, "augmented assignment to something other than a name",
                   "write `x = x + y` with td.store for memory")
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
            for sub in ast.walk(t):
                if isinstance(sub, (ast.Subscript, ast.Attribute)) and isinstance(sub.ctx, ast.Store):
                    raise _err(loc_of, node, "assignment to a subscript or attribute is not supported",
                               "use td.store(tensor, offsets, value) or td.copy(value, buffer)")
    for child in ast.iter_child_nodes(node):
        _check(child, loc_of)


# --- names unbound after runtime constructs ------------------------------------------------------------------
def assigned(stmts) -> list[str]:
    out: dict[str, None] = {}
    for s in stmts:
        for node in ast.walk(s):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                out[node.id] = None
    return list(out)


def is_runtime_loop(node: ast.For) -> bool:
    """`for ... in range(...)` / `td.range(...)` / `td.pipelined(...)` (a tuple is unrolled at
    compile time)."""
    f = node.iter.func if isinstance(node.iter, ast.Call) else None
    return (isinstance(f, ast.Name) and f.id == "range") or (
        isinstance(f, ast.Attribute) and f.attr in ("pipelined", "range"))


def literal_trips(node: ast.For) -> int:
    """The iterations of ``for ... in range(...)`` written with int literals; 0 when unknown (the
    front end's rule, `frontend/control.literal_trips`, kept here as eager imports no compiler)."""
    call = node.iter
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "range"):
        return 0
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


def _call(fn: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.Name(fn, ast.Load()), list(args), [])


def _set(name: str, value: ast.expr) -> ast.stmt:
    return ast.Assign([ast.Name(name, ast.Store())], value)


def _poison(name: str, reason: str, hint: str) -> ast.stmt:
    return _set(name, _call("_td_unbound", ast.Constant(reason), ast.Constant(hint)))


def _bound(names: list[str]) -> ast.expr:
    """`_td_bound(locals(), (names...))`: which of `names` hold a value now."""
    return _call("_td_bound", _call("locals"), ast.Tuple([ast.Constant(n) for n in names], ast.Load()))


def _if_not_in(name: str, var: str, then: list[ast.stmt], cond: ast.expr | None = None) -> ast.stmt:
    test: ast.expr = ast.Compare(ast.Constant(name), [ast.NotIn()], [ast.Name(var, ast.Load())])
    if cond is not None:
        test = ast.BoolOp(ast.And(), [cond, test])
    return ast.If(test, then, [])


def _flat(stmts) -> list:
    out = []
    for s in stmts:
        out.extend(s if isinstance(s, list) else [s])
    return out


class Scoper(ast.NodeTransformer):
    """Rewrites runtime loops, runtime `if`s and grids so that names the compiler leaves unbound
    are unbound here too, and reads of such names raise (`_td_read`). Runs before `_Rewriter`."""

    def __init__(self):
        self.count = 0
        self.watched: set[str] = set()  # names that may be poisoned: their reads are checked
        self.conds: list[str] = []  # the names holding the conditions of the enclosing `if`s

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"_td_{base}_{self.count}"

    def visit_Name(self, node: ast.Name):
        if isinstance(node.ctx, ast.Load) and node.id in self.watched:
            return ast.copy_location(_call("_td_read", ast.Constant(node.id), node), node)
        return node

    def visit_AugAssign(self, node: ast.AugAssign):
        self.generic_visit(node)
        if isinstance(node.target, ast.Name) and node.target.id in self.watched:
            check = ast.Expr(_call("_td_read", ast.Constant(node.target.id), ast.Name(node.target.id, ast.Load())))
            return [ast.copy_location(check, node), node]
        return node

    def visit_FunctionDef(self, node):
        return node  # rejected by check_syntax; never reached

    def visit_For(self, node: ast.For):
        if not is_runtime_loop(node) or not isinstance(node.target, ast.Name):
            return self.generic_visit(node)
        target = node.target.id
        inner = [n for n in assigned(node.body) if n != target]
        self.watched |= {target, *inner}
        node = self.generic_visit(node)
        before = self.fresh("bound")
        names = [target, *inner]
        pre = [_set(before, _bound(names))]
        first = "`{n}` is first assigned inside a runtime loop, which may run zero times"
        # each iteration starts without the names the body assigns first (the loop carries only names bound before)
        reset = [_if_not_in(n, before, [_poison(n, f"name {n!r} is not defined", f"assign `{n}` before the loop")])
                 for n in inner]
        # a carried value keeps one dtype (the compiler's rule): checked at the end of each iteration
        start = self.fresh("start")
        names_t = ast.Tuple([ast.Constant(n) for n in inner], ast.Load())
        snap = _set(start, _call("_td_save", _call("locals"), names_t))
        check = ast.Expr(_call("_td_carry_check", ast.Name(start, ast.Load()), _call("locals"), names_t))
        node.body = reset + [snap] + node.body + [check]
        reset = reset + [snap, check]
        post = [_if_not_in(n, before, [_poison(n, first.format(n=n), f"assign `{n}` before the loop to use it after")])
                for n in inner]
        if literal_trips(node) < 1:  # a literal range that runs leaves its variable bound (the compiler's rule)
            post.append(_if_not_in(target, before, [_poison(
                target, f"`{target}` is the variable of a runtime loop that may run zero times",
                f"assign `{target}` before the loop to use it after")]))
        pre = [ast.copy_location(s, node) for s in pre]
        for s in reset + post:
            for sub in ast.walk(s):
                ast.copy_location(sub, node)
        for s in pre:
            ast.fix_missing_locations(s)
        return [*pre, node, *post]

    def visit_Return(self, node: ast.Return):
        """A return under an `if` whose condition is a runtime value is an error (the compiler's)."""
        self.generic_visit(node)
        if not self.conds:
            return node
        conds = ast.Tuple([ast.Name(c, ast.Load()) for c in self.conds], ast.Load())
        check = ast.Expr(_call("_td_return_ok", conds))
        for sub in ast.walk(check):
            ast.copy_location(sub, node)
        return [check, node]

    def visit_If(self, node: ast.If):
        one = sorted(set(assigned(node.body)) ^ set(assigned(node.orelse)))
        returns = any(isinstance(n, ast.Return) for s in node.body + node.orelse for n in ast.walk(s))
        if not one and not returns:
            return self.generic_visit(node)
        self.watched |= set(one)
        before, cond = self.fresh("bound"), self.fresh("cond")
        node.test = self.visit(node.test)
        self.conds.append(cond)
        try:
            node.body = _flat([self.visit(s) for s in node.body])
            node.orelse = _flat([self.visit(s) for s in node.orelse])
        finally:
            self.conds.pop()
        pre = [_set(before, _bound(one))]
        node.test = ast.NamedExpr(ast.Name(cond, ast.Store()), node.test)
        is_rt = _call("_td_is_runtime", ast.Name(cond, ast.Load()))
        post = [_if_not_in(n, before, [_poison(n, f"`{n}` is assigned in only one branch of a runtime `if`",
                                               f"assign `{n}` before the `if` (or in both branches)")], is_rt)
                for n in one]
        for s in pre + post:
            for sub in ast.walk(s):
                ast.copy_location(sub, node)
        ast.copy_location(node.test, node.test.value)
        return [*pre, node, *post]

    def visit_With(self, node: ast.With):
        call = node.items[0].context_expr if len(node.items) == 1 else None
        f = call.func if isinstance(call, ast.Call) else None
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        if name != "grid":
            return self.generic_visit(node)
        names = assigned(node.body)
        if node.items[0].optional_vars is not None:
            names += [n for n in assigned([ast.Assign([node.items[0].optional_vars], ast.Constant(0))])
                      if n not in names]
        self.watched |= set(names)
        node = self.generic_visit(node)
        saved = self.fresh("saved")
        # each program, and the code after the grid, see the values from before it
        pre = [_set(saved, _call("_td_save", _call("locals"),
                                 ast.Tuple([ast.Constant(n) for n in names], ast.Load())))]
        body_names = assigned(node.body)
        def back(n: str, after: bool) -> ast.stmt:
            return _set(n, _call("_td_restore", ast.Name(saved, ast.Load()), ast.Constant(n), ast.Constant(after)))

        restore = [back(n, False) for n in body_names]
        node.body = restore + node.body
        post = [back(n, True) for n in names]
        for s in pre + restore + post:
            for sub in ast.walk(s):
                ast.copy_location(sub, node)
        return [*pre, node, *post]


# --- what the rewritten body calls ------------------------------------------------------------------------------
class Unbound:
    """A name the compiled kernel leaves unbound here: reading it raises, with the reason."""

    __slots__ = ("reason", "hint")

    def __init__(self, reason: str, hint: str | None):
        self.reason, self.hint = reason, hint

    def __repr__(self) -> str:
        return "an unbound name"


def unbound(reason: str, hint: str) -> Unbound:
    return Unbound(reason, hint)


def read(name: str, v):
    if isinstance(v, Unbound):
        from tiledsl.eager.values import fail

        raise fail(FrontendError, v.reason, v.hint)
    return v


def bound(scope: dict, names: tuple) -> frozenset:
    return frozenset(n for n in names if n in scope and not isinstance(scope[n], Unbound))


def is_runtime(cond) -> bool:
    from tiledsl.eager.values import Val

    return isinstance(cond, Val)


def return_ok(conds: tuple) -> None:
    if any(is_runtime(c) for c in conds):
        from tiledsl.eager.values import fail

        raise fail(FrontendError, "return inside a grid, loop or branch", _RETURN_HINT)


def save(scope: dict, names: tuple) -> dict:
    return {n: scope[n] for n in names if n in scope}


def restore(saved: dict, name: str, after: bool):
    if name in saved:
        return saved[name]
    hint = (f"`{name}` is assigned inside the td.grid body; names bound in a tile program do not leak out of it"
            if after else None)
    return Unbound(f"name {name!r} is not defined", hint)


def carry_check(start: dict, scope: dict, names: tuple) -> None:
    """A name bound before a runtime loop and left by an iteration in a dtype other than the
    promotion of the two (`v = v.to(td.int32)` for an f32 `v`): the compiled kernel would carry
    the promoted dtype, Python the new one; an error in both."""
    from tiledsl.eager.values import Val, WeakVal, fail, is_num

    for n in names:
        was, now = start.get(n), scope.get(n)
        if not isinstance(now, Val) or isinstance(now, WeakVal) or isinstance(was, Unbound) or was is None:
            continue  # a number or a runtime float adapts to the carried dtype
        if isinstance(was, WeakVal):
            was = float(was.t)
        if isinstance(was, Val):
            joined, old = promote(was.dt, now.dt), was.dt.value
        elif is_num(was):
            joined = DType.f32 if isinstance(was, float) and not now.dt.is_float else now.dt
            old = f"the number {was!r}"
        else:
            continue
        if joined is not now.dt:
            raise fail(KernelTypeError, f"`{n}` is {old} before the loop and {now.dt.value} after an iteration: "
                       f"a carried value keeps one dtype (here {joined.value})",
                       "convert it before the loop (`v = v.to(td.int32)`), or bind the converted value to "
                       "another name inside the loop")


HELPERS = {"_td_carry_check": carry_check, "_td_unbound": unbound, "_td_read": read, "_td_bound": bound, "_td_is_runtime": is_runtime,
           "_td_save": save, "_td_return_ok": return_ok, "_td_restore": restore}
