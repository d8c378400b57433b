"""Error classes. Each names the problem, where it is, and what to do instead.

`SourceError` and its subclasses carry the kernel's file, line and column and show the source line
with a caret, like Python's own syntax errors.
"""

from __future__ import annotations

import linecache


class TiledslError(Exception):
    """Base class of every error tiledsl raises on purpose."""


class TypeCheckError(TiledslError):
    """A shape or dtype rule failed. Raised without a location by `tiledsl.ir.infer`; the front end
    re-raises it as `KernelTypeError` at the kernel line that caused it."""


class SourceError(TiledslError):
    """An error at a place in a kernel's source."""

    kind = "error"

    def __init__(self, message: str, loc=None, hint: str | None = None):
        self.message = message
        self.loc = loc
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        parts = [self.message]
        loc = self.loc
        if loc is not None:
            parts.append(f'  File "{loc.file}", line {loc.line}, column {loc.col + 1}')
            text = linecache.getline(loc.file, loc.line).rstrip("\n")
            if text:
                parts.append("    " + text.strip())
                indent = len(text) - len(text.lstrip())
                parts.append("    " + " " * max(0, loc.col - indent) + "^")
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class FrontendError(SourceError):
    """The kernel uses Python the language does not accept."""


class KernelTypeError(SourceError):
    """A shape or dtype mismatch in a kernel."""


class LevelError(SourceError):
    """A construct used where its level cannot go (e.g. a level-3 op outside a thread region)."""


class ArgumentError(TiledslError):
    """A kernel was called with arguments that do not fit its signature."""


class ParseError(TiledslError):
    """Malformed textual IR."""

    def __init__(self, message: str, line: int, column: int, text: str | None = None):
        self.line, self.column = line, column
        msg = f"line {line}, column {column}: {message}"
        if text is not None:
            lines = text.splitlines()
            if 1 <= line <= len(lines):
                msg += "\n    " + lines[line - 1] + "\n    " + " " * (column - 1) + "^"
        super().__init__(msg)


class VerifyError(TiledslError):
    """An IR breaks an invariant of its stage."""


class ScheduleError(SourceError):
    """No schedule fits, or an explicit knob breaks a hardware limit."""


class BackendError(SourceError):
    """A backend cannot take a construct, or its compiler rejected the generated code."""


class CannotExecuteError(TiledslError):
    """The chosen backend cannot run here (e.g. TileLang code on CPU tensors)."""


class InterpreterError(SourceError):
    """The IR interpreter (``backend="ir"``) cannot run an inst: a tile shape that is still
    symbolic, threads that diverge at a shuffle or barrier, an index out of range in a gather."""
