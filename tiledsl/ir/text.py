"""The textual form of the IR: `print_ir` and its inverse `parse_ir`.

The text reads like MLIR: one inst per line, result types after ``:``, attrs in braces, regions
in braces with their block args, source locations at the end of the line::

    func @scale(%x: global<f32[x.0]>, %s: f32 scalar) knobs(BLOCK=auto, num_warps=auto) {
      %n = dim %x {axis=0} : i32
      grid %n ^(%pid: i32) {
        %t = load %x, %pid {shape=(#BLOCK,), masked=false} : tile<f32[BLOCK]>  loc("k.py":5:12)
        %r = for %c0, %n, %c1, %t : tile<f32[BLOCK]> ^(%i: i32, %acc: tile<f32[BLOCK]>) {
          ...
          yield %acc
        }
      }
    }

One inst per line (the newline ends it); ``//`` starts a comment.

Every valid `Function` prints and parses back to an equal one (``parse_ir(print_ir(fn)) == fn``),
and printed text reprints unchanged. The grammar is ``grammar.lark`` beside this file; the parser
is built once, on first use. Malformed text raises `ParseError` with a 1-based line and column,
both for syntax (a stray token) and for meaning (an unknown op or dtype, an undefined or
redefined value). Type errors are the verifier's job: the parser only rebuilds what it reads.
"""

from __future__ import annotations

import functools
import json
import re
from typing import NoReturn

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from tiledsl.dtypes import DType
from tiledsl.errors import ParseError
from tiledsl.ir.nodes import (
    Attr,
    Block,
    Dim,
    Function,
    Inst,
    Knob,
    Loc,
    Param,
    ParamKind,
    Space,
    Sym,
    Type,
    Value,
)
from tiledsl.ir.ops import BY_NAME

__all__ = ["parse_ir", "print_ir"]

_INDENT = "  "
_BARE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_BARE_VALUE = re.compile(r"[A-Za-z0-9_.]+")
# Words the grammar spells as keywords or the parser reads specially; identifiers equal to one
# of them are printed quoted so that they can never be misread.
_RESERVED = frozenset({"func", "knobs", "attrs", "loc", "true", "false", "none", "inf", "nan",
                       "auto", "tensor", "scalar", "output"})
_WORDS: dict[str, Attr] = {"true": True, "false": False, "none": None}
_DTYPES = {d.value: d for d in DType}
_SPACES = {s.value: s for s in Space}
_KINDS = {k.value: k for k in ParamKind}


# --------------------------------------------------------------------------------------------
# printing


def print_ir(fn: Function) -> str:
    """The text of `fn`, ending in a newline. Deterministic: equal functions print equal text."""
    out = [_header(fn) + " {"]
    _insts(fn.body.insts, 1, out)
    out.append("}")
    return "\n".join(out) + "\n"


def _header(fn: Function) -> str:
    params = ", ".join(_param(p) for p in fn.params)
    head = f"func @{_ident(fn.name)}({params})"
    if fn.knobs:
        head += " knobs(" + ", ".join(_knob(k) for k in fn.knobs) + ")"
    if fn.attrs:
        head += " attrs" + _attr_dict(fn.attrs)
    if fn.loc is not None:
        head += " " + _loc(fn.loc)
    return head


def _param(p: Param) -> str:
    kind = "" if p.kind is ParamKind.TENSOR else " " + p.kind.value
    return f"{_value(p.value)}: {_type(p.value.type)}{kind}"


def _knob(k: Knob) -> str:
    return f"{_ident(k.name)}={'auto' if k.value is None else k.value}"


def _insts(insts, depth: int, out: list[str]) -> None:
    for inst in insts:
        _inst(inst, depth, out)


def _inst(inst: Inst, depth: int, out: list[str]) -> None:
    """Appends the lines of `inst`: one line, or a head line, region bodies and closing braces."""
    pad = _INDENT * depth
    line = pad
    if inst.results:
        line += ", ".join(_value(v) for v in inst.results) + " = "
    line += inst.op.ir_name
    if inst.operands:
        line += " " + ", ".join(_value(v) for v in inst.operands)
    if inst.attrs:
        line += " " + _attr_dict(inst.attrs)
    if inst.results:
        line += " : " + ", ".join(_type(v.type) for v in inst.results)
    for region in inst.regions:
        if region.args:
            args = ", ".join(f"{_value(a)}: {_type(a.type)}" for a in region.args)
            line += f" ^({args})"
        out.append(line + " {")
        _insts(region.insts, depth + 1, out)
        line = pad + "}"
    if inst.loc is not None:
        line += "  " + _loc(inst.loc)
    out.append(line)


def _ident(name: str) -> str:
    return name if _BARE.fullmatch(name) and name not in _RESERVED else _quote(name)


def _value(v: Value) -> str:
    return "%" + (v.name if _BARE_VALUE.fullmatch(v.name) else _quote(v.name))


def _quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _type(t: Type) -> str:
    if t.space is Space.SCALAR and not t.shape:
        return t.dtype.value
    dims = ",".join(_dim(d) for d in t.shape)
    return f"{t.space.value}<{t.dtype.value}[{dims}]>"


def _dim(d: Dim) -> str:
    if type(d) is int:
        return str(d)
    if isinstance(d, str):
        return _ident(d)
    raise TypeError(f"shape dim {d!r} is neither an int nor a symbol name")


def _loc(loc: Loc) -> str:
    return f"loc({_quote(loc.file)}:{loc.line}:{loc.col})"


def _attr_dict(attrs) -> str:
    return "{" + ", ".join(f"{_ident(k)}={_attr(v)}" for k, v in attrs) + "}"


def _tuple(t: tuple) -> str:
    if len(t) == 1:
        return f"({_attr(t[0])},)"
    return "(" + ", ".join(_attr(x) for x in t) + ")"


# Keyed by exact type: a subclass (an IntEnum, say) would not read back as itself.
_ATTR_PRINTERS = {
    bool: lambda a: "true" if a else "false",
    int: str,
    float: repr,  # 1.0, 1e+16, -0.0, inf, -inf, nan: all read back by float()
    str: _quote,
    type(None): lambda a: "none",
    DType: lambda a: a.value,
    Sym: lambda a: "#" + _ident(a.name),
    tuple: _tuple,
}


def _attr(a: Attr) -> str:
    printer = _ATTR_PRINTERS.get(type(a))
    if printer is None:
        raise TypeError(f"attr value {a!r} ({type(a).__name__}) has no textual form; attrs are "
                        f"int, float, bool, str, None, DType, Sym or tuples of those")
    return printer(a)


# --------------------------------------------------------------------------------------------
# parsing


@functools.cache
def _parser() -> Lark:
    """The LALR parser, built on first use (building it costs ~0.1 s; parsing is then fast)."""
    return Lark.open("grammar.lark", rel_to=__file__, parser="lalr", maybe_placeholders=True)


def parse_ir(text: str) -> Function:
    """The `Function` that `text` spells. Raises `ParseError` (with line and column) if it is not
    well-formed IR text; does not type-check (run `tiledsl.ir.verify` for that)."""
    _check_depth(text)
    try:
        tree = _parser().parse(text if text.endswith("\n") else text + "\n")
    except UnexpectedInput as e:
        raise _syntax_error(e, text) from None
    return _Reader(text).function(tree)


MAX_DEPTH = 64  # nested braces and parentheses: regions and attr tuples
MAX_INT_DIGITS = 40  # i64 and u64 need 20; anything longer is no value an IR can hold
_BRACKETS = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|[{}()]|\n')


def _check_depth(text: str) -> None:
    """`ParseError` if regions or tuples nest deeper than `MAX_DEPTH`: the reader, the printer
    and the verifier recurse per level, and Python's stack would run out long before any real
    kernel gets there."""
    depth, line, line_start = 0, 1, 0
    for m in _BRACKETS.finditer(text):
        tok = m.group()
        if tok == "\n":
            line, line_start = line + 1, m.end()
        elif tok in "{(":
            depth += 1
            if depth > MAX_DEPTH:
                raise ParseError(f"nesting deeper than {MAX_DEPTH} levels of regions or tuples",
                                 line, m.start() - line_start + 1, text)
        elif tok in "})":
            depth = max(depth - 1, 0)


_FRIENDLY = {"VALUE": "a %value", "NAME": "a name", "STRING": "a string", "INT": "an integer",
             "FLOAT": "a float", "$END": "the end of the text", "_NL": "the end of the line"}


def _describe(terminal: str) -> str:
    if terminal in _FRIENDLY:
        return _FRIENDLY[terminal]
    try:
        pattern = _parser().get_terminal(terminal).pattern
    except KeyError:
        return terminal
    return f"'{pattern.value}'" if isinstance(pattern, PatternStr) else terminal.lower()


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def _syntax_error(e: UnexpectedInput, text: str) -> ParseError:
    """A lark error as a `ParseError` saying what was found and what could have stood there."""
    expected = sorted(getattr(e, "expected", None) or getattr(e, "allowed", None) or ())
    want = ", ".join(_describe(t) for t in expected)
    if isinstance(e, UnexpectedCharacters):
        msg = f"unexpected character {text[e.pos_in_stream]!r}"
    elif isinstance(e, UnexpectedToken) and e.token.type == "_NL":
        msg = "unexpected end of the line"
    elif isinstance(e, UnexpectedToken) and e.token.type != "$END":
        msg = f"unexpected {str(e.token)!r}"
    else:
        msg = "unexpected end of the text"
    if want:
        msg += f"; expected {want}"
    line, col = getattr(e, "line", -1), getattr(e, "column", -1)
    if isinstance(e, UnexpectedEOF) or line is None or line < 1:
        line, col = _end_position(text)
    return ParseError(msg, line, col, text)


def _items(tree: Tree | None) -> list:
    """Children of an optional list rule, without the placeholder of an empty list."""
    return [] if tree is None else [c for c in tree.children if c is not None]


class _Reader:
    """Walks the parse tree in text order, keeping the values in scope, and builds nodes."""

    def __init__(self, text: str):
        self.text = text
        self.defined: set[str] = set()

    def error(self, tok: Token, msg: str) -> NoReturn:
        raise ParseError(msg, tok.line or 1, tok.column or 1, self.text)

    def string(self, tok: Token) -> str:
        try:
            return json.loads(str(tok), strict=False)
        except ValueError as e:
            self.error(tok, f"bad string {str(tok)}: {e.msg}")

    def int(self, tok: Token) -> int:
        """An INT token's value; one too long for any dtype is a `ParseError`, not Python's
        ValueError about integer string conversion."""
        digits = str(tok).lstrip("-")
        if len(digits) > MAX_INT_DIGITS:
            self.error(tok, f"integer of {len(digits)} digits is out of range (at most {MAX_INT_DIGITS})")
        return int(str(tok))

    def ident(self, tree: Tree) -> str:
        (tok,) = tree.children
        return self.string(tok) if tok.type == "STRING" else str(tok)

    # --- the function ------------------------------------------------------------------------

    def function(self, tree: Tree) -> Function:
        name, params_t, knobs_t, fattrs_t, loc_t, *insts = tree.children
        scope: dict[str, Value] = {}
        params = tuple(self.param(p, scope) for p in _items(params_t))
        knobs = tuple(self.knob(k) for k in _items(knobs_t))
        attrs = self.attr_dict(fattrs_t.children[0]) if fattrs_t is not None else ()
        body = Block((), self.insts(insts, scope))
        return Function(self.ident(name), params, knobs, body, self.loc(loc_t), attrs)

    def param(self, tree: Tree, scope: dict[str, Value]) -> Param:
        tok, type_t, kind_t = tree.children
        value = self.define(tok, self.type(type_t), scope)
        if kind_t is None:
            return Param(value)
        kind = _KINDS.get(str(kind_t))
        if kind is None:
            self.error(kind_t, f"unknown parameter kind {str(kind_t)!r}; use {', '.join(_KINDS)}")
        return Param(value, kind)

    def knob(self, tree: Tree) -> Knob:
        name, tok = tree.children
        if tok.type == "INT":
            return Knob(self.ident(name), self.int(tok))
        if str(tok) != "auto":
            self.error(tok, f"knob value must be an integer or auto, got {str(tok)!r}")
        return Knob(self.ident(name), None)

    def loc(self, tree: Tree | None) -> Loc | None:
        if tree is None:
            return None
        file, line, col = tree.children
        return Loc(self.string(file), self.int(line), self.int(col))

    # --- values and scopes -------------------------------------------------------------------

    def value_name(self, tok: Token) -> str:
        body = str(tok)[1:]
        return self.string(Token("STRING", body, line=tok.line, column=tok.column)) if body.startswith(
            '"') else body

    def define(self, tok: Token, type: Type, scope: dict[str, Value]) -> Value:
        name = self.value_name(tok)
        if name in self.defined:
            self.error(tok, f"value %{name} is defined twice; SSA names are unique in a function")
        self.defined.add(name)
        scope[name] = Value(name, type)
        return scope[name]

    def use(self, tok: Token, scope: dict[str, Value]) -> Value:
        name = self.value_name(tok)
        if name not in scope:
            self.error(tok, f"value %{name} is not defined before this use")
        return scope[name]

    # --- insts -------------------------------------------------------------------------------

    def insts(self, trees, scope: dict[str, Value]) -> tuple[Inst, ...]:
        return tuple(self.inst(t, scope) for t in trees)

    def inst(self, tree: Tree, scope: dict[str, Value]) -> Inst:
        results_t, name, operands_t, attrs_t, types_t, *regions_t, loc_t = tree.children
        op = BY_NAME.get(str(name))
        if op is None:
            self.error(name, f"unknown op {str(name)!r}")
        operands = tuple(self.use(tok, scope) for tok in _items(operands_t))
        attrs = self.attr_dict(attrs_t) if attrs_t is not None else ()
        result_toks = _items(results_t)
        types = tuple(self.type(t) for t in _items(types_t))
        if len(types) != len(result_toks):
            self.error(name, f"{op.ir_name} has {len(result_toks)} results but {len(types)} result "
                             f"types; write the types after ':', one per result")
        regions = tuple(self.region(r, scope) for r in regions_t)
        results = tuple(self.define(tok, t, scope) for tok, t in zip(result_toks, types))
        return Inst(op, results, operands, attrs, regions, self.loc(loc_t))

    def region(self, tree: Tree, scope: dict[str, Value]) -> Block:
        args_t, *insts = tree.children
        inner = dict(scope)
        args = tuple(self.define(a.children[0], self.type(a.children[1]), inner) for a in _items(args_t))
        return Block(args, self.insts(insts, inner))

    # --- types -------------------------------------------------------------------------------

    def dtype(self, tok: Token) -> DType:
        dt = _DTYPES.get(str(tok))
        if dt is None:
            self.error(tok, f"unknown dtype {str(tok)!r}; dtypes are {', '.join(_DTYPES)}")
        return dt

    def type(self, tree: Tree) -> Type:
        if tree.data == "scalar_type":
            return Type(self.dtype(tree.children[0]))
        space_t, dtype_t, *dims = tree.children
        space = _SPACES.get(str(space_t))
        if space is None:
            self.error(space_t, f"unknown memory space {str(space_t)!r}; spaces are {', '.join(_SPACES)}")
        return Type(self.dtype(dtype_t), tuple(self.dim(d) for d in dims if d is not None), space)

    def dim(self, tree: Tree) -> Dim:
        (tok,) = tree.children
        if tok.type == "INT":
            return self.int(tok)
        return self.string(tok) if tok.type == "STRING" else str(tok)

    # --- attrs -------------------------------------------------------------------------------

    def attr_dict(self, tree: Tree) -> tuple[tuple[str, Attr], ...]:
        return tuple((self.ident(a.children[0]), self.attr(a.children[1])) for a in tree.children)

    def attr(self, tree: Tree) -> Attr:
        return _ATTR_READERS[tree.data](self, tree)

    def word(self, tree: Tree) -> Attr:
        tok = tree.children[0]
        if str(tok) in _WORDS:
            return _WORDS[str(tok)]
        if str(tok) in _DTYPES:
            return _DTYPES[str(tok)]
        self.error(tok, f"unknown attr word {str(tok)!r}; bare words are true, false, none or a "
                        f"dtype ({', '.join(_DTYPES)}); quote strings, write knobs as #name")


_ATTR_READERS = {
    "int_value": lambda r, t: r.int(t.children[0]),
    "float_value": lambda r, t: float(t.children[0]),
    "str_value": lambda r, t: r.string(t.children[0]),
    "word_value": _Reader.word,
    "sym_value": lambda r, t: Sym(r.ident(t.children[0])),
    "tuple_value": lambda r, t: tuple(r.attr(c) for c in t.children if c is not None),
}
