"""Error classes. Each names the problem, where it is, and what to do instead.

`SourceError` and its subclasses carry the kernel's file, line and column and show the source line
with a caret, like Python's own syntax errors. Every error's text ends with a `hint:` line: the one
given where it is raised, else its class's `default_hint` (one place for the advice that fits every
error of a kind, rather than a hint repeated at hundreds of raise sites).
"""

from __future__ import annotations

import linecache

HINT_PREFIX = "hint: "


def where_lines(loc) -> list[str]:
    """`File "...", line N, column C`, the source line and a caret under the column."""
    if loc is None:
        return []
    out = [f'  File "{loc.file}", line {loc.line}, column {loc.col + 1}']
    text = linecache.getline(loc.file, loc.line).rstrip("\n")
    if text:
        out.append("    " + text.strip())
        indent = len(text) - len(text.lstrip())
        out.append("    " + " " * max(0, loc.col - indent) + "^")
    return out


class TiledslError(Exception):
    """Base class of every error tiledsl raises on purpose."""

    default_hint = "see docs/language.md for what the language accepts"
    hint: str | None = None
    loc = None

    def __str__(self) -> str:
        text = BaseException.__str__(self)  # not KeyError's quoting, for errors that are also one
        if ("\n" + HINT_PREFIX) in text or text.startswith(HINT_PREFIX):
            return text
        hint = self.hint or type(self).default_hint
        return f"{text}\n{HINT_PREFIX}{hint}" if hint else text


class TypeCheckError(TiledslError):
    """A shape or dtype rule failed. Raised without a location by `tiledsl.ir.infer`; the front end
    re-raises it as `KernelTypeError` at the kernel line that caused it."""

    default_hint = "make the operands' shapes broadcast and their dtypes agree (cast with .to(dtype))"


class SourceError(TiledslError):
    """An error at a place in a kernel's source."""

    kind = "error"
    default_hint = "change the marked kernel line; docs/language.md lists what the language accepts"

    def __init__(self, message: str, loc=None, hint: str | None = None):
        self.message = message
        self.loc = loc
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [self.message, *where_lines(self.loc)]
        hint = self.hint or type(self).default_hint
        if hint:
            parts.append(HINT_PREFIX + hint)
        return "\n".join(parts)


class FrontendError(SourceError):
    """The kernel uses Python the language does not accept."""

    default_hint = ("kernels take a subset of Python: names, numbers, tuples, `if`, `for ... in range(...)`, "
                    "`with td.grid(...)` / `td.threads(...)` and the td.* builtins (docs/language.md); "
                    "rewrite the marked line with those, or move the computation out of the kernel")


class KernelTypeError(SourceError):
    """A shape or dtype mismatch in a kernel."""

    default_hint = ("check the arguments of the marked call against its signature in docs/language.md: "
                    "shapes must broadcast, axes must be compile-time ints in range, and dtypes must agree "
                    "(cast with .to(dtype))")


class LevelError(SourceError):
    """A construct used where its level cannot go (e.g. a level-3 op outside a thread region)."""

    default_hint = ("whole-tensor code goes outside any grid, tile code (td.load, td.store, td.dot, ...) "
                    "inside `with td.grid(...)`, thread code (td.shfl_*, td.barrier, td.alloc_local) "
                    "inside `with td.threads(...)`")


class ArgumentError(TiledslError):
    """A kernel was called with arguments that do not fit its signature."""

    default_hint = ("pass one argument per kernel parameter: a torch tensor for td.Tensor, a Python int or "
                    "float for a number, a compile-time value for td.constexpr")

    def __init__(self, message: str, hint: str | None = None):
        self.hint = hint
        super().__init__(message)


class StageError(ArgumentError, KeyError):
    """`CompiledKernel.code(stage)` with a stage this compiled kernel does not have (still a
    `KeyError`, as a lookup by name)."""


class ParseError(TiledslError):
    """Malformed textual IR."""

    default_hint = "fix the IR text at the caret; print_ir() of a valid function shows the accepted form"

    def __init__(self, message: str, line: int, column: int, text: str | None = None):
        self.line, self.column = line, column
        msg = f"line {line}, column {column}: {message}"
        if text is not None:
            lines = text.splitlines()
            if 1 <= line <= len(lines):
                msg += "\n    " + lines[line - 1] + "\n    " + " " * (column - 1) + "^"
        super().__init__(msg)


class VerifyError(TiledslError):
    """An IR breaks an invariant of its stage. With `loc` (an inst that came from kernel code) the
    message also shows the kernel line."""

    default_hint = ("the IR does not hold at this stage: for IR text, fix the named inst; from a kernel, "
                    "the marked line uses a form or value the compiler cannot take (change it, and please "
                    "report it if the kernel looks valid)")

    def __init__(self, message: str, loc=None, hint: str | None = None):
        self.loc = loc
        self.hint = hint
        super().__init__("\n".join([message, *where_lines(loc)]))


class ScheduleError(SourceError):
    """No schedule fits, or an explicit knob breaks a hardware limit."""

    default_hint = ("leave block sizes as td.auto, or choose smaller constexpr block sizes, stages and "
                    "num_warps that fit the target's shared memory and register limits")


class BackendError(SourceError):
    """A backend cannot take a construct, or its compiler rejected the generated code."""

    default_hint = "compile for another backend (backend='tilelang' takes every level), or change the marked construct"


class CapabilityError(BackendError):
    """A construct the chosen backend cannot take (`tiledsl.capabilities`): the message names the
    construct, its kernel line and why; the hint names the backends that take it."""

    def __init__(self, message: str, loc=None, hint: str | None = None, *, construct: str = "",
                 backend: str = "", takers: tuple[str, ...] = ()):
        self.construct, self.backend, self.takers = construct, backend, takers
        super().__init__(message, loc, hint)


class CannotExecuteError(TiledslError):
    """The chosen backend cannot run here (e.g. TileLang code on CPU tensors)."""

    default_hint = "run with backend='ir' or backend='triton' on CPU, or compile only with .compile(...)"


class InterpreterError(SourceError):
    """The IR interpreter (``backend="ir"``) cannot run an inst: a tile shape that is still
    symbolic, threads that diverge at a shuffle or barrier, an index out of range in a gather."""

    default_hint = "run on backend='triton', or give the kernel's block sizes as constexprs"
