"""Reading a kernel's Python source and signature once, at decoration time."""

from __future__ import annotations

import ast
import inspect
import textwrap
import weakref
from dataclasses import dataclass
from typing import Any

from tiledsl import language as L
from tiledsl.errors import ArgumentError, FrontendError
from tiledsl.ir.nodes import Loc

_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True)
class ParamInfo:
    name: str
    kind: str  # "tensor" | "scalar" | "constexpr" | "any" (decided by the argument at call time)
    default: Any = inspect.Parameter.empty


@dataclass(frozen=True)
class KernelSource:
    name: str
    file: str
    first_line: int  # line of the `def` in the file
    col_offset: int  # indentation removed by dedent
    tree: ast.FunctionDef
    text: str
    params: tuple[ParamInfo, ...]
    globals: dict
    closure: dict

    def loc(self, node: ast.AST) -> Loc:
        line = getattr(node, "lineno", 1) + self.first_line - 1
        col = getattr(node, "col_offset", 0) + self.col_offset
        return Loc(self.file, line, col)


def read_kernel(fn) -> KernelSource:
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError) as e:
        raise FrontendError(f"cannot read the source of {getattr(fn, '__name__', fn)!r}: {e}",
                            hint="define kernels in a .py file (not in a REPL or exec string)") from None
    raw = "".join(lines)
    text = textwrap.dedent(raw)
    indent = len(lines[0]) - len(lines[0].lstrip()) if lines else 0
    file = inspect.getsourcefile(fn) or "<unknown>"
    try:
        module = ast.parse(text)
    except SyntaxError:  # e.g. a lambda: its source line is not a whole statement
        module = None
    tree = module.body[0] if module is not None and module.body else None
    if not isinstance(tree, ast.FunctionDef):
        raise FrontendError("@td.kernel decorates a plain `def` function",
                            Loc(file, first, 0))
    # ast line 1 is the first decorator line; the def's own line numbers count from there
    src = KernelSource(fn.__name__, file, first, indent, tree, text, (), fn.__globals__,
                       _closure(fn))
    params = tuple(_param_info(src, a, d) for a, d in _args_with_defaults(tree, fn))
    return KernelSource(src.name, file, first, indent, tree, text, params, fn.__globals__,
                        src.closure)


def _closure(fn) -> dict:
    if not fn.__closure__:
        return {}
    out = {}
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
        try:
            out[name] = cell.cell_contents
        except ValueError:
            pass
    return out


def _args_with_defaults(tree: ast.FunctionDef, fn):
    sig = inspect.signature(fn)
    a = tree.args
    if a.vararg or a.kwarg:
        raise FrontendError("kernels take named parameters only (no *args / **kwargs)",
                            Loc(fn.__code__.co_filename, fn.__code__.co_firstlineno, 0))
    for arg in a.posonlyargs + a.args + a.kwonlyargs:
        yield arg, sig.parameters[arg.arg].default


def _param_info(src: KernelSource, arg: ast.arg, default) -> ParamInfo:
    ann = arg.annotation
    kind = "any"
    if ann is not None:
        val = _eval_annotation(src, ann)
        if val is L.Tensor:
            kind = "tensor"
        elif val is L.constexpr:
            kind = "constexpr"
        elif val in (int, float, bool):
            kind = "scalar"
        else:
            raise FrontendError(f"parameter {arg.arg!r} has annotation {ast.unparse(ann)!r}",
                                src.loc(arg),
                                hint="annotate with td.Tensor, td.constexpr, int, float or bool")
    return ParamInfo(arg.arg, kind, default)


def _eval_annotation(src: KernelSource, node: ast.expr):
    try:
        return eval(compile(ast.Expression(node), src.file, "eval"), dict(src.globals), dict(src.closure))
    except Exception:
        raise FrontendError(f"cannot resolve annotation {ast.unparse(node)!r}", src.loc(node)) from None


_FUNC_SOURCES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def func_source(func: L.Func) -> KernelSource:
    """The source of a ``@td.func`` helper, read once (at its first call from a kernel)."""
    src = _FUNC_SOURCES.get(func)
    if src is None:
        src = _FUNC_SOURCES[func] = read_kernel(func.fn)
    return src


def bind_params(src: KernelSource, args: tuple, kwargs: dict) -> dict:
    """Map the call's arguments onto the kernel's parameters (by position, then name, then default)."""
    names = [p.name for p in src.params]
    if len(args) > len(names):
        raise ArgumentError(f"{src.name}() takes {len(names)} arguments ({', '.join(names)}) "
                            f"but {len(args)} were given")
    bound = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in names:
            raise ArgumentError(f"{src.name}() has no parameter {k!r}; parameters: {', '.join(names)}")
        if k in bound:
            raise ArgumentError(f"{src.name}() got {k!r} twice")
        bound[k] = v
    for p in src.params:
        if p.name not in bound:
            if p.default is not _EMPTY:
                bound[p.name] = p.default
            else:
                missing = [q.name for q in src.params if q.name not in bound and q.default is _EMPTY]
                raise ArgumentError(f"{src.name}() is missing argument(s): {', '.join(missing)}")
    return bound
