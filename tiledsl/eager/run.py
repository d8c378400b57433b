"""Running a kernel eagerly: bind the call's arguments, build the eager globals, call the
rewritten body, hand back what a level-1 kernel returns."""

from __future__ import annotations

import inspect
import os
import re
import sys
import threading
import types

import torch

from tiledsl import language as L
from tiledsl.dtypes import DType
from tiledsl.eager import memory, ops, scoping, threads
from tiledsl.eager.rewrite import compile_function, referenced_names
from tiledsl.eager.values import FROM_TORCH, STATE, Loc, Val, WeakVal, describe, number_val
from tiledsl.errors import ArgumentError, FrontendError, KernelTypeError, SourceError, TiledslError

_HERE = os.path.dirname(os.path.abspath(__file__))
KNOB_DEFAULT = 32  # a constexpr left as td.auto: a block size that suits most kernels on CPU

BUILTINS: dict[str, object] = {
    **ops.UNARY_BUILTINS, **ops.REDUCTIONS, **memory.ATOMICS, **memory.ALLOCS, **threads.SHUFFLES,
    **threads.ROLES,
    "maximum": ops.maximum, "minimum": ops.minimum, "where": ops.where, "clamp": ops.clamp, "cast": ops.cast, "cdiv": ops.cdiv,
    "cumsum": ops.cumsum, "expand_dims": ops.expand_dims, "trans": ops.trans, "reshape": ops.reshape,
    "broadcast_to": ops.broadcast_to, "dot": ops.dot, "matmul": ops.matmul, "take": ops.take,
    "grid": threads.GRID, "pipelined": ops.pipelined, "range": ops.td_range, "load": memory.load, "store": memory.store,
    "arange": ops.arange, "zeros": ops.zeros, "full": ops.full, "copy": memory.copy,
    "threads": threads.THREADS, "barrier": threads.barrier, "annotate_layout": memory.annotate_layout,
}
HELPERS = {"_td_grid": threads.grid, "_td_run_threads": threads.run_threads, "_td_chain": ops.chain,
           "_td_not": ops.not_, "_td_boolop": ops.boolop, "_td_ifexp": ops.ifexp, "_td_call": ops.call_maybe_dtype,
           **scoping.HELPERS}
_NO_PROXY = frozenset({"torch", "numpy", "math", "builtins", "operator", "functools", "itertools", "typing"})


def _tiledsl() -> types.ModuleType:
    """The `tiledsl` package: loaded before any of its submodules (this one included). Looked up,
    not imported: the package re-exports everything, so it sits above the eager mode."""
    return sys.modules["tiledsl"]


class _EagerTD(types.ModuleType):
    """`td` inside an eager kernel: the eager builtins; every other name is tiledsl's own."""

    def __getattr__(self, name):
        return getattr(_tiledsl(), name)


TD = _EagerTD("tiledsl (eager)")
for _n, _f in BUILTINS.items():
    setattr(TD, _n, _f)
TD.abs_ = BUILTINS["abs"]


class _ModuleProxy:
    """A module seen from an eager kernel: its `td.*` builtins and @td.func helpers are eager."""

    def __init__(self, mod: types.ModuleType):
        object.__setattr__(self, "_mod", mod)

    def __getattr__(self, name):
        return substitute(getattr(self._mod, name))

    def __repr__(self) -> str:
        return f"<eager view of {self._mod!r}>"


class EagerFunc:
    """A @td.func helper called from an eager kernel: its own body, rewritten the same way."""

    def __init__(self, func: L.Func):
        self.func = func
        self.__name__ = func.__name__

    def __call__(self, *args, **kwargs):
        return make_function(self.func.fn)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<eager @td.func {self.__name__}>"


def substitute(v):
    """What a global or closure value of kernel code is in eager mode."""
    if v is _tiledsl() or v is L:
        return TD
    if isinstance(v, L.Func):
        return EagerFunc(v)
    if isinstance(v, types.ModuleType):
        return v if v.__name__.split(".")[0] in _NO_PROXY else _ModuleProxy(v)
    if isinstance(v, types.FunctionType):
        name = getattr(v, "__tiledsl_builtin__", None)
        if name is not None:
            return BUILTINS[name]
    return v


# --- the rewritten function ----------------------------------------------------------------------------
_CODES: dict = {}
_NAMES: dict = {}
_LOCK = threading.Lock()


def _code(fn) -> types.CodeType:
    code = _CODES.get(fn.__code__)
    if code is None:
        with _LOCK:
            code = _CODES.get(fn.__code__)
            if code is None:
                code = compile_function(fn)
                _NAMES[code] = referenced_names(code)
                _CODES[fn.__code__] = code
    return code


def make_function(fn) -> types.FunctionType:
    """`fn` with its rewritten body and eager globals (built per call: module globals may change)."""
    code = _code(fn)
    g = dict(fn.__globals__)
    closure = _closure(fn)
    for name in _NAMES[code]:
        if name in closure:
            g[name] = substitute(closure[name])
        elif name in g:
            g[name] = substitute(g[name])
        elif name in ops.PY_SHADOWS:
            g[name] = ops.PY_SHADOWS[name]
    g.update(HELPERS)
    f = types.FunctionType(code, g, fn.__name__,
                           tuple(substitute(d) for d in fn.__defaults__) if fn.__defaults__ else None)
    f.__kwdefaults__ = fn.__kwdefaults__
    return f


def _closure(fn) -> dict:
    out = {}
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        try:
            out[name] = cell.cell_contents
        except ValueError:  # a cell not filled yet
            pass
    return out


# --- arguments ---------------------------------------------------------------------------------------------
_KINDS: dict = {}


def _kinds(fn) -> dict[str, str]:
    """Each parameter's kind from its annotation: tensor, scalar, constexpr or any."""
    kinds = _KINDS.get(fn.__code__)
    if kinds is not None:
        return kinds
    kinds = {}
    ann = getattr(fn, "__annotations__", {}) or {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise FrontendError("kernels take named parameters only (no *args / **kwargs)")
        a = ann.get(p.name, inspect.Parameter.empty)
        if isinstance(a, str):
            try:
                a = eval(a, dict(fn.__globals__), _closure(fn))  # noqa: S307 - the kernel's own annotation
            except Exception:
                raise FrontendError(f"cannot resolve annotation {a!r} of parameter {p.name!r}") from None
        if a is inspect.Parameter.empty:
            kinds[p.name] = "any"
        elif a is L.Tensor:
            kinds[p.name] = "tensor"
        elif a is L.constexpr:
            kinds[p.name] = "constexpr"
        elif a in (int, float, bool):
            kinds[p.name] = "scalar"
        else:
            raise FrontendError(f"parameter {p.name!r} has annotation {a!r}",
                                hint="annotate with td.Tensor, td.constexpr, int, float or bool")
    _KINDS[fn.__code__] = kinds
    return kinds


def bind(name: str, fn, args: tuple, kwargs: dict) -> dict:
    """The call's arguments by parameter name: by position, then keyword, then default."""
    params = list(inspect.signature(fn).parameters.values())
    names = [p.name for p in params]
    if len(args) > len(names):
        raise ArgumentError(f"{name}() takes {len(names)} arguments ({', '.join(names)}) but {len(args)} were given")
    bound = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in names:
            raise ArgumentError(f"{name}() has no parameter {k!r}; parameters: {', '.join(names)}")
        if k in bound:
            raise ArgumentError(f"{name}() got {k!r} twice")
        bound[k] = v
    missing = [p.name for p in params if p.name not in bound and p.default is inspect.Parameter.empty]
    if missing:
        raise ArgumentError(f"{name}() is missing argument(s): {', '.join(missing)}")
    return {p.name: bound[p.name] if p.name in bound else p.default for p in params}


def _scalar(name: str, pname: str, v):
    if isinstance(v, float):  # a Python float: an f64 scalar that adapts like a number
        return WeakVal(torch.tensor(v, dtype=torch.float64), DType.f64, "scalar")
    if isinstance(v, (bool, int)):
        return number_val(v)
    raise ArgumentError(f"{name}(): parameter {pname!r} is a number but got {type(v).__name__}")


def _tensor(name: str, pname: str, v):
    if not isinstance(v, torch.Tensor):
        raise ArgumentError(f"{name}(): parameter {pname!r} is a td.Tensor but got {type(v).__name__}")
    if v.dtype not in FROM_TORCH:
        raise ArgumentError(f"{name}(): tensors of dtype {v.dtype} are not supported")
    return Val(v, FROM_TORCH[v.dtype], "global")


def convert(name: str, pname: str, kind: str, v):
    """A bound argument as the kernel body sees it."""
    if L.is_auto(v) and kind in ("constexpr", "any"):  # a constrained td.auto: a value that meets it
        return L.satisfying(v, KNOB_DEFAULT)
    if kind == "constexpr" or (kind == "any" and isinstance(v, DType)):
        if isinstance(v, (bool, int, float, DType)):
            return v
        raise ArgumentError(f"{name}(): constexpr {pname!r} must be an int, float, bool, dtype or td.auto, "
                            f"got {type(v).__name__}")
    if kind == "tensor" or (kind == "any" and isinstance(v, torch.Tensor)):
        return _tensor(name, pname, v)
    return _scalar(name, pname, v)


def _outputs(name: str, out, inputs: list[torch.Tensor], loc: Loc | None = None):
    if out is None:
        return None
    items = out if isinstance(out, tuple) else (out,)
    res = []
    for v in items:
        if not isinstance(v, Val) or v.kind != "global":
            raise KernelTypeError(f"{name}: a kernel returns whole tensors, not {describe(v)}", loc)
        t = v.t
        if any(t.untyped_storage().data_ptr() == x.untyped_storage().data_ptr() for x in inputs):
            t = t.clone(memory_format=torch.contiguous_format)  # outputs never alias arguments
        res.append(t.contiguous())
    return res[0] if len(res) == 1 else tuple(res)


def _unbound_name(e: NameError) -> FrontendError:
    """Python's NameError / UnboundLocalError in the kernel as the compiler says it: a
    `FrontendError` "name 'x' is not defined" at the kernel's line."""
    m = re.search(r"'(\w+)'", str(e))
    name = getattr(e, "name", None) or (m.group(1) if m else "?")
    tb, loc = e.__traceback__, None
    while tb is not None:
        code = tb.tb_frame.f_code
        if os.path.dirname(os.path.abspath(code.co_filename)) != _HERE:
            col = 0
            try:
                pos = list(code.co_positions())[tb.tb_lasti // 2]
                col = pos[2] if pos[0] == tb.tb_lineno and pos[2] is not None else 0
            except (AttributeError, IndexError):
                pass
            loc = Loc(code.co_filename, tb.tb_lineno, col)
        tb = tb.tb_next
    return FrontendError(f"name {name!r} is not defined", loc)


def run_kernel(kernel, args: tuple, kwargs: dict):
    """`kernel(*args, backend="eager", **kwargs)`: run the kernel's own body on these tensors."""
    kwargs = dict(kwargs)
    kwargs.pop("target", None)
    nw = kwargs.pop("num_warps", None)
    if nw is not None and nw is not L.auto and (not isinstance(nw, int) or isinstance(nw, bool) or nw <= 0):
        raise ArgumentError(f"num_warps must be a positive int, got {nw!r}")
    fn = kernel.fn
    name = fn.__name__
    kinds = _kinds(fn)
    bound = bind(name, fn, args, kwargs)
    values = [convert(name, p, kinds[p], v) for p, v in bound.items()]
    f = make_function(fn)
    tensors = [v.t for v in values if isinstance(v, Val) and v.kind == "global"]
    saved = (STATE.in_grid, STATE.in_threads, STATE.block, STATE.tid, STATE.device)
    STATE.in_grid, STATE.in_threads, STATE.block, STATE.tid = False, False, None, None
    STATE.device = tensors[0].device if tensors else None
    try:
        out = f(*values)
    except SourceError as e:
        if e.loc is None:  # raised by an eager builtin: point at the kernel line that called it
            e.loc = _kernel_loc(e, kernel.source.file)
            e.args = (e._format(),)
        raise
    except TiledslError:
        raise
    except NameError as e:  # a name Python left unbound (e.g. in a compile-time branch not taken)
        raise _unbound_name(e) from None
    except Exception as e:  # a raw Python/torch error from the kernel's body: name the kernel line
        raise _kernel_error(e, kernel.source.file).with_traceback(e.__traceback__) from e
    finally:
        STATE.in_grid, STATE.in_threads, STATE.block, STATE.tid, STATE.device = saved
    return _outputs(name, out, tensors, Loc(kernel.source.file, kernel.source.first_line, 0))


def _kernel_loc(e: Exception, file: str) -> Loc | None:
    """The innermost frame of the kernel's own code in `e`'s traceback."""
    loc, tb = None, e.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == file:
            loc = Loc(file, tb.tb_lineno, 0)
        tb = tb.tb_next
    return loc


_BOTH: dict[type, type] = {}


def _kernel_error(e: Exception, file: str) -> TiledslError:
    """`e` as the error the compiler raises for the same kernel line. It stays an instance of `e`'s
    own class too (`except ZeroDivisionError` still catches it), and keeps its traceback, so eager
    mode debugs like plain Python."""
    loc = _kernel_loc(e, file)
    base = FrontendError if isinstance(e, NameError) else KernelTypeError
    cls = _BOTH.get(type(e))
    if cls is None:
        try:
            cls = type(f"{base.__name__}_{type(e).__name__}", (base, type(e)), {"__module__": base.__module__})
        except TypeError:  # a builtin exception whose layout does not mix (e.g. AttributeError)
            cls = base
        _BOTH[type(e)] = cls
    return cls(f"{type(e).__name__} in eager mode: {e}", loc)


missing = set(L.BUILTINS) - set(BUILTINS)
assert not missing, f"eager mode lacks builtins {missing}"
