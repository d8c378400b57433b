"""Text that reaches generated Python source or the file system, made safe in one place.

Both backends emit Python modules (a Triton module, a TileLang program). Strings that come from
the user or from IR text (kernel and file names, source locations, value names) must never be
able to end a comment, close a string or a docstring, or name a path outside the cache:

- `comment`: text for a ``#`` comment. Python's tokenizer ends a line at ``\\n`` and ``\\r``, and
  ``str.splitlines`` (editors, linecache) at ``\\x0b \\x0c \\x1c-\\x1e \\x85 \\u2028 \\u2029`` too; a NUL
  makes the whole file unreadable. Every character outside printable ASCII is written as an
  escape, so a comment is always one harmless line.
- `docstring`: text for the inside of a ``\"\"\"`` docstring: the same escapes, plus backslashes and
  double quotes escaped, so no sequence can close the string.
- `literal`: a Python string literal (``ascii()``: pure ASCII, always well-formed).
- `identifier`: a Python identifier for a name, mangled (not rejected) so that any kernel name
  works: characters outside ``[A-Za-z0-9_]`` become ``_``, keywords, builtins and the generated
  module's own globals get a prefix, long names are cut and get a hash so they stay unique.
- `file_component`: one path component for a file name: no separators, no ``..``, bounded
  length, a hash of the original when anything had to change.

Escaping is deterministic: generated code stays byte-identical for the same input.
"""

from __future__ import annotations

import builtins
import hashlib
import keyword
import re

MAX_COMMENT = 200  # characters of user text in one comment or docstring line
MAX_IDENT = 64
MAX_FILE = 48

_PRINTABLE = re.compile(r"[ -~]")  # printable ASCII, one character
_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")
BUILTINS = frozenset(dir(builtins))


def _escape_char(c: str) -> str:
    if _PRINTABLE.fullmatch(c):
        return c
    code = ord(c)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{text[:limit]}...[{digest}]"


def comment(text: object, limit: int = MAX_COMMENT) -> str:
    """`text` as the body of a one-line ``#`` comment: printable ASCII only, bounded length."""
    return _clip("".join(_escape_char(c) for c in str(text)), limit)


def docstring(text: object, limit: int = MAX_COMMENT) -> str:
    """`text` for the inside of a triple-double-quoted string: escapes for everything outside
    printable ASCII, and for backslashes and double quotes, so nothing can end the string."""
    out = []
    for c in str(text):
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        else:
            out.append(_escape_char(c))
    escaped = "".join(out)
    if len(escaped) <= limit:
        return escaped
    cut = escaped[:limit]
    # never leave half an escape (a lone trailing backslash would escape the closing quotes)
    while cut.endswith("\\") and (len(cut) - len(cut.rstrip("\\"))) % 2 == 1:
        cut = cut[:-1]
    digest = hashlib.sha256(str(text).encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cut}...[{digest}]"


def literal(text: str) -> str:
    """A Python string literal whose value is `text` (ASCII only, any content)."""
    return ascii(str(text))


def source_file(path: str) -> str:
    """A source location's file as generated code shows it: the base name only (generated code is
    the same in every checkout), escaped for a comment."""
    base = re.split(r"[/\\]", str(path))[-1]
    return comment(base, limit=80)


def _digest(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def identifier(name: str, reserved: frozenset[str] | set[str] = frozenset()) -> str:
    """A Python identifier for `name`: `name` itself when it is a plain ASCII identifier that is
    not a keyword, a builtin, a dunder or in `reserved`; otherwise a mangled form of it. Callers
    that need distinct names add their own suffixes (two hints may mangle alike)."""
    name = str(name)
    base = _NOT_IDENT.sub("_", name) or "v"
    if len(base) > MAX_IDENT:
        base = f"{base[:MAX_IDENT - 9]}_{_digest(name)}"
    if base.startswith("__"):
        return "v" + base
    if base[0].isdigit() or keyword.iskeyword(base) or base in BUILTINS or base in reserved:
        return "v_" + base
    return base


def file_component(name: str, limit: int = MAX_FILE) -> str:
    """One safe path component derived from `name`: ``[A-Za-z0-9_]`` only, no ``..``, at most
    `limit` characters plus a hash of the original whenever it had to change."""
    name = str(name)
    safe = re.sub(r"[^A-Za-z0-9_]", "_", name)[:limit] or "x"
    if safe != name:
        safe = f"{safe}_{_digest(name)}"
    return safe


__all__ = ["BUILTINS", "comment", "docstring", "file_component", "identifier", "literal", "source_file"]
