"""The kernel's own body, made runnable: its source is parsed with `ast`, a few constructs are
rewritten, and the result is compiled with the original file name and line numbers, so
tracebacks, `print` and `pdb` point at the user's lines.

Rewrites (everything else is the user's Python, unchanged):

- ``with td.grid(a, b) as (i, j): body`` -> ``for (i, j) in _td_grid(2, td.grid, a, b): body``;
- ``with td.threads(n) as tid: body`` -> a nested ``def _td_threads_body(tid, _td_env): body``
  (names the body assigns start from their values outside, as copies: a thread's names are its
  own) and ``_td_run_threads(_td_threads_body, locals(), td.threads, n)``;
- ``a < b < c`` -> ``_td_chain(a, "Lt", b, "Lt", c)`` (elementwise `and` on tiles), ``not x``
  -> ``_td_not(x)``, ``a if c else b`` -> ``_td_ifexp(c, lambda: a, lambda: b)``;
- ``td.float16(x)`` (a call of a name spelled like a dtype) -> ``_td_call(td.float16, x)``.

The function's globals are a copy of its module's, with the tiledsl module, `td.*` builtins and
`@td.func` helpers (also closure values of those) replaced by their eager versions, and `range`,
`min`, `max`, `abs` by the language's meaning unless the module defines them.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types

from tiledsl.eager.scoping import Scoper, check_syntax
from tiledsl.eager.values import Loc
from tiledsl.errors import FrontendError

GRID_NAMES = frozenset({"grid"})
THREAD_NAMES = frozenset({"threads"})
ROLE_NAMES = frozenset({"producer", "consumer"})
DTYPE_NAMES = frozenset({"float64", "float32", "float16", "bfloat16", "float8_e4m3", "float8_e5m2",
                         "int64", "int32", "int16", "int8", "uint8", "bool_"})
_CMP_OK = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


def _called_name(node) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        if isinstance(f, ast.Attribute):
            return f.attr
        if isinstance(f, ast.Name):
            return f.id
    return None


def _name(id_: str, ctx=None) -> ast.Name:
    return ast.Name(id=id_, ctx=ctx or ast.Load())


def _assigned(stmts) -> list[str]:
    """Names the statements bind in their own scope (not inside nested functions or lambdas)."""
    out: dict[str, None] = {}

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
                             ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out[node.name] = None
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out[node.id] = None
        for child in ast.iter_child_nodes(node):
            visit(child)

    for s in stmts:
        visit(s)
    return list(out)


_NOARGS = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
                        defaults=[])


class _Rewriter(ast.NodeTransformer):
    def __init__(self, file: str):
        self.file = file
        self.scopes: list[str] = []  # innermost last: "loop" or "region"
        self.count = 0

    def error(self, node, msg: str, hint: str | None = None) -> FrontendError:
        return FrontendError(msg, Loc(self.file, getattr(node, "lineno", 1), getattr(node, "col_offset", 0)), hint)

    # --- control flow that a region boundary would change ---------------------------------------------
    def _loop(self, node):
        self.scopes.append("loop")
        try:
            return self.generic_visit(node)
        finally:
            self.scopes.pop()

    visit_For = visit_While = visit_AsyncFor = _loop

    def _new_scope(self, node):
        saved, self.scopes = self.scopes, []
        try:
            return self.generic_visit(node)
        finally:
            self.scopes = saved

    visit_FunctionDef = visit_Lambda = _new_scope

    def visit_Break(self, node):
        if self.scopes and self.scopes[-1] == "region":
            raise self.error(node, "break/continue directly inside a grid or threads region")
        return node

    visit_Continue = visit_Break

    def visit_Return(self, node):
        if "region" in self.scopes:
            raise self.error(node, "return inside a grid or threads region",
                             "level-2 kernels write results with td.store; level-1 kernels return at the end")
        return self.generic_visit(node)

    # --- expressions ---------------------------------------------------------------------------------------
    def visit_Compare(self, node):
        self.generic_visit(node)
        if len(node.ops) < 2 or not all(isinstance(op, _CMP_OK) for op in node.ops):
            return node
        args = [node.left]
        for op, right in zip(node.ops, node.comparators):
            args += [ast.Constant(type(op).__name__), right]
        return ast.copy_location(ast.Call(_name("_td_chain"), args, []), node)

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Not):
            return ast.copy_location(ast.Call(_name("_td_not"), [node.operand], []), node)
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        word = "and" if isinstance(node.op, ast.And) else "or"
        thunks = [ast.copy_location(ast.Lambda(_NOARGS, v), v) for v in node.values]
        return ast.copy_location(ast.Call(_name("_td_boolop"), [ast.Constant(word), *thunks], []), node)

    def visit_IfExp(self, node):
        self.generic_visit(node)
        noargs = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                               kwarg=None, defaults=[])
        lam = [ast.copy_location(ast.Lambda(noargs, e), e) for e in (node.body, node.orelse)]
        return ast.copy_location(ast.Call(_name("_td_ifexp"), [node.test, *lam], []), node)

    def visit_Call(self, node):
        self.generic_visit(node)
        if _called_name(node) in DTYPE_NAMES:
            return ast.copy_location(ast.Call(_name("_td_call"), [node.func, *node.args], node.keywords), node)
        return node

    # --- regions -----------------------------------------------------------------------------------------------
    def visit_With(self, node):
        name = _called_name(node.items[0].context_expr) if len(node.items) == 1 else None
        if name in ROLE_NAMES and node.items[0].optional_vars is not None:
            raise self.error(node, f"`with td.{name}()` binds no name")
        if name not in GRID_NAMES and name not in THREAD_NAMES:
            return self.generic_visit(node)
        call = node.items[0].context_expr
        self.scopes.append("region")
        try:
            call = self.visit(call)
            body = [self.visit(s) for s in node.body]
        finally:
            self.scopes.pop()
        body = _flatten(body)
        target = node.items[0].optional_vars
        if name in GRID_NAMES:
            return self._grid(node, call, target, body)
        return self._threads(node, call, target, body)

    def _grid(self, node, call, target, body):
        if target is None:
            nbind, tgt = -1, _name("_td_pid", ast.Store())
        elif isinstance(target, ast.Name):
            nbind, tgt = 0, target
        elif isinstance(target, ast.Tuple) and all(isinstance(e, ast.Name) for e in target.elts):
            nbind, tgt = len(target.elts), target
        else:
            raise self.error(node, "bind the program ids to plain names")
        it = ast.Call(_name("_td_grid"), [ast.Constant(nbind), call.func, *call.args], call.keywords)
        return ast.copy_location(ast.For(tgt, ast.copy_location(it, call), body, []), node)

    def _threads(self, node, call, target, body):
        if target is not None and not isinstance(target, ast.Name):
            raise self.error(node, "bind the thread id to one name: `with td.threads(n) as tid:`")
        tid = target.id if target is not None else "_td_tid"
        self.count += 1
        fname = f"_td_threads_body_{self.count}"
        prologue = []
        for n in _assigned(body):  # a thread starts from the values outside, as its own copies
            if n == tid:
                continue
            test = ast.Compare(ast.Constant(n), [ast.In()], [_name("_td_env")])
            get = ast.Subscript(_name("_td_env"), ast.Constant(n), ast.Load())
            prologue.append(ast.If(test, [ast.Assign([_name(n, ast.Store())], get)], []))
        args = ast.arguments(posonlyargs=[], args=[ast.arg(tid), ast.arg("_td_env")], vararg=None,
                             kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
        fdef = ast.FunctionDef(fname, args, [*prologue, *body] or [ast.Pass()], [], None)
        locs = ast.Call(_name("locals"), [], [])
        run = ast.Expr(ast.Call(_name("_td_run_threads"), [_name(fname), locs, call.func, *call.args], call.keywords))
        for s in prologue:
            for n in ast.walk(s):
                ast.copy_location(n, node)
        return [ast.copy_location(fdef, node), ast.copy_location(run, node)]


def _shift(tree: ast.AST, lines: int, cols: int) -> None:
    for node in ast.walk(tree):
        if hasattr(node, "lineno"):
            node.lineno += lines
            if getattr(node, "end_lineno", None) is not None:
                node.end_lineno += lines
            node.col_offset += cols
            if getattr(node, "end_col_offset", None) is not None:
                node.end_col_offset += cols


def compile_function(fn) -> types.CodeType:
    """The code object of `fn`'s rewritten body, with `fn`'s file, lines and columns."""
    try:
        lines, first = inspect.getsourcelines(fn)
        file = inspect.getsourcefile(fn) or fn.__code__.co_filename
    except (OSError, TypeError) as e:
        raise FrontendError(f"cannot read the source of {getattr(fn, '__name__', fn)!r}: {e}",
                            hint="define kernels in a .py file (not in a REPL or exec string)") from None
    indent = len(lines[0]) - len(lines[0].lstrip())
    module = ast.parse(textwrap.dedent("".join(lines)))
    fdef = module.body[0]
    if not isinstance(fdef, ast.FunctionDef):
        raise FrontendError("@td.kernel decorates a plain `def` function", Loc(file, first, 0))
    fdef.decorator_list = []
    fdef.returns = None
    a = fdef.args
    a.defaults, a.kw_defaults = [], [None] * len(a.kwonlyargs)
    for arg in a.posonlyargs + a.args + a.kwonlyargs:
        arg.annotation = None
    _shift(module, first - 1, indent)  # errors the rewriter raises name the file's own lines
    check_syntax(fdef.body, lambda node: Loc(file, getattr(node, "lineno", first), getattr(node, "col_offset", 0)))
    scoper = Scoper()  # names unbound after runtime loops/branches, grid bodies' own names (scoping.py)
    fdef.body = _flatten([scoper.visit(s) for s in fdef.body])
    ast.fix_missing_locations(module)
    rw = _Rewriter(file)
    fdef.body = _flatten([rw.visit(s) for s in fdef.body])
    ast.fix_missing_locations(module)
    code = compile(module, file, "exec", dont_inherit=True)
    return next(c for c in code.co_consts if isinstance(c, types.CodeType) and c.co_name == fdef.name)


def _flatten(stmts) -> list:
    out = []
    for s in stmts:
        if isinstance(s, list):
            out.extend(s)
        elif s is not None:
            out.append(s)
    return out


def referenced_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= referenced_names(c)
    return names
