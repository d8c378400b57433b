"""Python `ast` of a kernel -> IR at stage "ir".

`function.build_function` binds the call's argument specs to the kernel's parameters, then
`_Lowerer` walks the body statement by statement, keeping a name -> value environment.
Python-level constants fold at compile time with Python's rules (`tables.py`); everything else
becomes IR through `tiledsl.ir.Builder`, which types each inst by the op rules. Builtins (`td.*`)
are handled by the table in `builtins.py`; runtime loops and branches by `control.py`.
"""

from __future__ import annotations

import ast
import builtins as py
import contextlib
import math
import operator
import struct
from functools import reduce

from tiledsl.dtypes import DType, promote
from tiledsl.errors import ArgumentError, FrontendError, KernelTypeError, LevelError, TypeCheckError
from tiledsl.frontend.source import KernelSource, bind_params, func_source
from tiledsl.frontend.tables import (
    BINOPS,
    CMPOPS,
    FOLD,
    FOLD_HINT,
    PYCMP,
    TYPE_HINT,
    TYPE_HINT_ANY,
    UNSUPPORTED_HINT,
    int_max,
    int_min,
)
from tiledsl.frontend.values import KnobRef, Unbound, describe, is_const
from tiledsl.ir.builder import Builder
from tiledsl.ir.nodes import Knob, Loc, Param, Space, Value
from tiledsl.ir.ops import Op

PIPELINED_IN_THREADS_HINT = ("td.pipelined pipelines a tile program's loads: loop with it outside td.threads, "
                             "or use range(...) inside")


def _promote_all(dts: list[DType]) -> DType | None:
    return reduce(promote, dts) if dts else None


def _by_category(higher: DType | None, lower: DType | None) -> DType | None:
    """`higher` (the dtype of the operands of higher priority) unless `lower` is of a higher
    category (bool < int < float), then the two promote (torch's `combine_categories`)."""
    if higher is None or lower is None:
        return lower if higher is None else higher
    if higher.is_float:
        return higher
    if higher.is_bool or lower.is_float:
        return promote(higher, lower)
    return higher


class _Lowerer:
    def __init__(self, src: KernelSource):
        self.src = src
        self.builder = Builder()
        self.env: dict = {}
        self.knobs: list[Knob] = []
        self.knob_constraints: dict[str, tuple] = {}  # knobs made in the body: stages=td.auto(max=2)
        self.node: ast.AST = src.tree
        self.in_grid = False
        self.in_threads = False
        self.shape_cache: dict[str, tuple] = {}
        self.returned = False
        self.inlining: list[int] = []  # block depth at each @td.func being inlined
        self.inline_result = None
        # where the right-hand side of the assignment being lowered started (the innermost block and
        # its length then), and the values already renamed in it: only a value that RHS created may
        # take the assigned name (`rename_last`)
        self.rhs_mark: tuple[list, int] | None = None
        self.renamed: dict[str, Value] = {}
        # values that are Python floats at run time (float parameters, f64 scalars, and what is
        # computed from them and numbers only): weakly typed like a number (docs/language.md, "Numerics")
        self.weak: set[str] = set()

    def inline(self, func, args: list, kwargs: dict):
        """Lower a @td.func's body in place of its call, with its parameters bound to the
        call's arguments; its return value is the call's value."""
        if len(self.inlining) >= 32:
            raise self.error(FrontendError, f"@td.func {func.__name__} nests 32 deep", "recursion is not supported")
        src = func_source(func)
        try:
            bound = bind_params(src, tuple(args), kwargs)
        except ArgumentError as e:
            raise self.error(KernelTypeError, str(e)) from None
        saved = (self.src, self.env, self.returned, self.inline_result, self.node)
        self.src, self.env, self.returned, self.inline_result = src, dict(bound), False, None
        self.inlining.append(len(self.builder._blocks))
        try:
            self.check_constructs(src.tree.body)
            self.block(src.tree.body)
            return self.inline_result
        finally:
            self.inlining.pop()
            self.src, self.env, self.returned, self.inline_result, self.node = saved

    # --- helpers ---------------------------------------------------------------------------------
    @property
    def loc(self) -> Loc:
        return self.src.loc(self.node)

    def error(self, cls, msg: str, hint: str | None = None, node: ast.AST | None = None):
        return cls(msg, self.src.loc(node or self.node), hint)

    def emit(self, op: Op, operands=(), attrs=None, regions=(), hint=None, result_types=None):
        try:
            return self.builder.emit(op, operands, attrs, regions, self.loc, hint, result_types)
        except TypeCheckError as e:
            raise self.error(KernelTypeError, str(e), TYPE_HINT.get(op, TYPE_HINT_ANY)) from None

    def value(self, op: Op, operands=(), attrs=None, hint=None) -> Value:
        return self.emit(op, operands, attrs, hint=hint).result

    def new_knob(self, base: str) -> KnobRef:
        names = {k.name for k in self.knobs}
        name, n = base, 0
        while name in names:
            n += 1
            name = f"{base}_{n}"
        self.knobs.insert(len(self.knobs) - 1, Knob(name, None))
        return KnobRef(name)

    def emit_dims(self, params: list[Param]):
        """One DIM per tensor axis at the top, so sizes are in scope everywhere."""
        for p in params:
            t = p.value.type
            if t.space is Space.GLOBAL:
                dims = []
                for axis, d in enumerate(t.shape):
                    if d == 1:
                        dims.append(1)
                    else:
                        dims.append(self.value(Op.DIM, (p.value,), {"axis": axis}, hint=f"{p.value.name}_d{axis}"))
                self.shape_cache[p.value.name] = tuple(dims)

    def const(self, x, dtype: DType | None = None) -> Value:
        if isinstance(x, Value):
            return x if dtype is None or x.type.dtype is dtype else self.cast(x, dtype)
        if isinstance(x, KnobRef):
            v = self.value(Op.CONST, (), {"value": x.sym, "dtype": DType.i32}, hint=x.name)
            return v if dtype in (None, DType.i32) else self.cast(v, dtype)
        if isinstance(x, bool):
            dt = dtype or DType.i1
            val = x if dt is DType.i1 else (float(x) if dt.is_float else int(x))
        elif isinstance(x, int):
            dt = dtype or self.const_dtype(x)
            val = float(x) if dt.is_float else (bool(x) if dt.is_bool else x)
        elif isinstance(x, float):
            dt = dtype or DType.f32
            val = x
        else:
            raise self.error(KernelTypeError, f"expected a number or a value, got {describe(x)}")
        self.check_fits(x, dt)
        return self.value(Op.CONST, (), {"value": val, "dtype": dt}, hint="c")

    def check_fits(self, x, dtype: DType) -> None:
        """A Python number adapts to the dtype it meets, but only if it is representable there:
        a float in an int, or an int outside the int's range, is an error (never wrapped)."""
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            return
        if isinstance(x, float) and not dtype.is_float:
            raise self.error(KernelTypeError, f"float constant {x} used where {dtype.value} is needed",
                             "write an integer, or cast the other operand with .to(td.float32)")
        if isinstance(x, int) and dtype.is_int and not int_min(dtype) <= x <= int_max(dtype):
            raise self.error(KernelTypeError, f"the constant {x} does not fit in {dtype.value} "
                             f"([{int_min(dtype)}, {int_max(dtype)}])",
                             "use a wider dtype (td.int64), or a value in range")

    def cast(self, v: Value, dtype: DType) -> Value:
        if v.type.dtype is dtype:
            return v
        return self.value(Op.CAST, (v,), {"dtype": dtype}, hint=v.name)

    def convert(self, v: Value, dtype: DType) -> Value:
        """The user's `x.to(dtype)` / `td.cast`: a value; of a buffer, a snapshot of its contents
        even to its own dtype (later in-place updates of the buffer must not change it)."""
        if (v.type.space.is_buffer or self.is_weak(v)) and v.type.dtype is dtype:
            # a runtime float converted to f64 is a typed f64 scalar from here on
            return self.value(Op.CAST, (v,), {"dtype": dtype}, hint=v.name)
        return self.cast(v, dtype)

    def weak_dtype(self, x) -> DType | None:
        """dtype of a strongly typed operand, None for Python numbers (they adapt)."""
        return x.type.dtype if isinstance(x, Value) else None

    def unify_operands(self, xs, float_result: bool = False) -> tuple[list[Value], DType]:
        dt = self.meet_dtype(xs, float_result)
        return [self.const(x, dt) for x in xs], dt

    def meet_dtype(self, xs, float_result: bool = False) -> DType:
        dt = self.result_dtype(xs)
        if (float_result and not dt.is_float) or dt.is_fp8:
            dt = DType.f32  # fp8 is a storage type: arithmetic on it runs in f32
        return dt

    def result_dtype(self, xs) -> DType:
        """The dtype operands meet in, by torch's rule: values with axes (tiles, tensors) promote
        among themselves; 0-dim values (runtime scalars), then Python numbers, count only by
        category (bool < int < float) unless theirs is higher (docs/language.md, "Numerics").
        A runtime float (`is_weak`) counts as a Python number; among numbers alone it is f64."""
        dims = [x.type.dtype for x in xs if isinstance(x, Value) and x.type.rank > 0]
        zero = [x.type.dtype for x in xs if isinstance(x, Value) and x.type.rank == 0 and not self.is_weak(x)]
        nums = [DType.f32 if isinstance(x, Value) else DType.i32 if isinstance(x, KnobRef) else self.const_dtype(x)
                for x in xs if not isinstance(x, Value) or self.is_weak(x)]
        if not dims and not zero and any(isinstance(x, Value) for x in xs):
            return DType.f64  # runtime floats and numbers: Python's double
        return _by_category(_promote_all(dims), _by_category(_promote_all(zero), _promote_all(nums)))

    def is_weak(self, x) -> bool:
        """A Python float at run time: a `float` parameter or a value computed from such values
        and numbers only. It adapts to what it meets, like a number (torch's weak scalars)."""
        return isinstance(x, Value) and x.name in self.weak

    def mark_weak(self, v: Value, xs) -> Value:
        """`v`, computed from `xs`, is weak when every value among them is."""
        vals = [x for x in xs if isinstance(x, Value)]
        if vals and v.type.rank == 0 and v.type.dtype is DType.f64 and all(map(self.is_weak, vals)):
            self.weak.add(v.name)
        return v

    def const_dtype(self, x) -> DType:
        if isinstance(x, bool):
            return DType.i1
        if isinstance(x, int):
            return DType.i32 if -(2**31) <= x < 2**31 else DType.i64
        if isinstance(x, float):
            return DType.f32
        raise self.error(KernelTypeError, f"expected a number or a value, got {describe(x)}")

    def check_level(self, what: str, x: Value):
        if x.type.space is Space.GLOBAL and self.in_grid:
            raise self.error(LevelError, f"{what} on a whole tensor inside a tile program",
                             hint="inside td.grid, td.load a tile of the tensor first")

    # --- arithmetic -------------------------------------------------------------------------------
    def binop(self, op: Op, a, b):
        if is_const(a) and is_const(b) and op in FOLD:
            try:
                return FOLD[op](a, b)
            except (ArithmeticError, TypeError, ValueError) as e:
                raise self.error(KernelTypeError, f"cannot compute {a!r} {op.ir_name} {b!r} at compile time: {e}",
                                 FOLD_HINT) from None
        for x in (a, b):
            if isinstance(x, Value):
                self.check_level(op.ir_name, x)
        float_result = op in (Op.DIV, Op.POW)
        dt = self.meet_dtype([a, b], float_result)
        if op in (Op.MUL, Op.DIV) and dt.is_float and dt.bits < 32 and any(_opmath(x, dt) for x in (a, b)):
            return self.opmath(op, (a, b), dt)
        (x, y), _ = self.unify_operands([a, b], float_result)
        return self.mark_weak(self.value(op, (x, y)), (a, b))

    def opmath(self, op: Op, xs, dt: DType) -> Value:
        """`x * s`, `s * x`, `x / s` of an f16/bf16 value with a number or a 0-dim value `s`, as
        torch computes them: in f32 with `s` as an f32 value (not first rounded to f16/bf16), the
        result rounded once (docs/language.md, "Numerics")."""
        wide = [self.const(x, DType.f32) if _scalar(x) else self.cast(self.const(x, dt), DType.f32)
                for x in xs]
        return self.cast(self.value(op, tuple(wide)), dt)

    def unary(self, op: Op, a):
        if isinstance(a, Value):
            self.check_level(op.ir_name, a)
            if (not a.type.dtype.is_float and op not in (Op.NEG, Op.NOT, Op.ABS)) or a.type.dtype.is_fp8:
                a = self.cast(a, DType.f32)
            return self.mark_weak(self.value(op, (a,)), (a,))
        (x,), _ = self.unify_operands([a], float_result=op not in (Op.NEG, Op.NOT, Op.ABS))
        return self.value(op, (x,))

    # --- entry --------------------------------------------------------------------------------------
    def run(self):
        self.check_constructs(self.src.tree.body)
        self.block(self.src.tree.body)

    def check_constructs(self, stmts) -> None:
        """Reject the statements and expressions a kernel has no meaning for wherever they are,
        also in a compile-time branch not taken (eager mode checks the same before it runs);
        `print(...)`'s arguments and an assert's message are not checked (the first is eager
        mode's debugging aid, the second is only evaluated when the assertion fails)."""
        def visit(node: ast.AST) -> None:
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "breakpoint"):
                return
            kind = "stmt" if isinstance(node, ast.stmt) else "expr" if isinstance(node, ast.expr) else None
            name = type(node).__name__
            if kind and not hasattr(self, f"{kind}_{name}") and name != "Slice":
                what = "statements" if kind == "stmt" else "expressions"
                raise self.error(FrontendError, f"`{name}` {what} are not supported in a kernel",
                                 UNSUPPORTED_HINT.get(name), node=node)
            if isinstance(node, ast.For) and node.orelse:
                raise self.error(FrontendError, "for-else is not supported", node=node)
            children = [node.test] if isinstance(node, ast.Assert) else ast.iter_child_nodes(node)
            for child in children:
                visit(child)

        for s in stmts:
            visit(s)

    def block(self, stmts):
        prev = self.node
        for s in stmts:
            if self.returned:
                break  # as Python: a return (at the top, or in a compile-time `if` taken) ends the function
            self.node = s
            self.stmt(s)
        self.node = prev

    # --- statements ---------------------------------------------------------------------------------
    def stmt(self, s: ast.stmt):
        handler = getattr(self, "stmt_" + type(s).__name__, None)
        if handler is None:
            name = type(s).__name__
            raise self.error(FrontendError, f"`{name}` statements are not supported in a kernel",
                             UNSUPPORTED_HINT.get(name))
        handler(s)

    def stmt_Expr(self, s: ast.Expr):
        if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
            return  # docstring
        self.expr(s.value)

    def stmt_Pass(self, s):
        pass

    def stmt_Assign(self, s: ast.Assign):
        with self.fresh_rhs():
            value = self.expr(s.value)
            for t in s.targets:
                self.assign(t, value)

    def stmt_AnnAssign(self, s: ast.AnnAssign):
        if s.value is None:
            raise self.error(FrontendError, "a declaration without a value")
        with self.fresh_rhs():
            self.assign(s.target, self.expr(s.value))

    @contextlib.contextmanager
    def fresh_rhs(self):
        """Mark where an assignment's right-hand side starts, so that `rename_last` renames only
        a value that side created (never one another name already holds)."""
        saved = (self.rhs_mark, self.renamed)
        self.rhs_mark, self.renamed = (self.builder._blocks[-1], len(self.builder._blocks[-1])), {}
        try:
            yield
        finally:
            self.rhs_mark, self.renamed = saved

    def stmt_AugAssign(self, s: ast.AugAssign):
        if not isinstance(s.target, ast.Name):
            raise self.error(FrontendError, "augmented assignment to something other than a name",
                             "write `x = x + y` with td.store for memory")
        cur = self.lookup(s.target.id, s.target)
        op = BINOPS.get(type(s.op))
        if op is None:
            raise self.error(FrontendError, f"operator {type(s.op).__name__} is not supported")
        with self.fresh_rhs():
            new = self.binop(op, cur, self.expr(s.value))
            self._aug_store(s, cur, new)

    def _aug_store(self, s: ast.AugAssign, cur, new):
        if isinstance(cur, Value) and cur.type.space.is_buffer:
            # in-place update of on-chip storage: `acc += x` writes the buffer
            from tiledsl.frontend.builtins import check_narrowing

            check_narrowing(self, f"`{s.target.id} {ast.unparse(s)[len(s.target.id):].split()[0]}`",
                            new.type.dtype, cur.type.dtype)
            self.emit(Op.COPY, (self.cast(new, cur.type.dtype), cur))
        else:
            self.assign(s.target, new)

    def assign(self, target: ast.expr, value):
        if isinstance(target, ast.Name):
            if isinstance(value, Value):
                value = self.rename_last(value, target.id)
            self.env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            if not isinstance(value, tuple) or len(value) != len(target.elts):
                n = len(value) if isinstance(value, tuple) else 1
                raise self.error(KernelTypeError, f"cannot unpack {n} value(s) into {len(target.elts)} names")
            for t, v in zip(target.elts, value):
                self.assign(t, v)
        else:
            raise self.error(FrontendError, "assignment to a subscript or attribute is not supported",
                             "use td.store(tensor, offsets, value) or td.copy(value, buffer)")

    def rename_last(self, v: Value, name: str) -> Value:
        """Give the value the assigned name if it is the result of the last inst and that inst
        was emitted by the right-hand side being assigned. A value another name already holds
        (`v = u`, a tuple loop's item, a branch's result) keeps its name: renaming it would leave
        the other name's uses pointing at a value that no longer exists."""
        if v.name in self.renamed:  # `a = b = x * 2`, or one value twice in a tuple
            return self.renamed[v.name]
        insts = self.builder._blocks[-1]
        mark = self.rhs_mark
        if (mark is None or mark[0] is not insts or len(insts) <= mark[1] or insts[-1].results != (v,)
                or v.name.split("_")[0] == name):
            return v
        last = insts[-1]
        self.builder._used.discard(v.name)
        nv = self.builder.fresh(name, v.type)
        insts[-1] = type(last)(last.op, (nv,), last.operands, last.attrs, last.regions, last.loc)
        self.renamed[v.name] = nv
        if v.name in self.weak:
            self.weak.add(nv.name)
        return nv

    def stmt_Return(self, s: ast.Return):
        if self.inlining:
            if len(self.builder._blocks) != self.inlining[-1]:
                raise self.error(FrontendError, "return inside a loop, branch or region of a @td.func",
                                 "return once, at the end of the helper's body")
            self.inline_result = self.expr(s.value) if s.value is not None else None
            self.returned = True
            return
        if self.in_grid or self.in_threads or self.builder._blocks.__len__() > 1:
            raise self.error(FrontendError, "return inside a grid, loop or branch",
                             "level-2 kernels write results with td.store; level-1 kernels return at the end")
        vals = self.expr(s.value) if s.value is not None else ()
        vals = vals if isinstance(vals, tuple) else (vals,)
        for v in vals:
            if not isinstance(v, Value) or v.type.space is not Space.GLOBAL:
                raise self.error(KernelTypeError, f"a kernel returns whole tensors, not {describe(v)}")
        self.emit(Op.RETURN, vals)
        self.returned = True

    def stmt_Assert(self, s: ast.Assert):
        cond = self.expr(s.test)
        if not is_const(cond):
            raise self.error(FrontendError, "assert on a runtime value",
                             "assert only on compile-time values (shapes, dtypes, constexprs)")
        if not cond:
            msg = self.expr(s.msg) if s.msg is not None else ast.unparse(s.test)
            raise self.error(KernelTypeError, f"assertion failed: {msg}")

    def stmt_If(self, s: ast.If):
        cond = self.expr(s.test)
        if is_const(cond):
            self.block(s.body if cond else s.orelse)
            return
        if not isinstance(cond, Value) or cond.type.space is not Space.SCALAR:
            raise self.error(KernelTypeError, f"`if` needs a scalar condition, got {describe(cond)}",
                             "use td.where for tiles")
        if not cond.type.dtype.is_bool:
            cond = self.binop(Op.NE, cond, 0)
        from tiledsl.frontend.control import lower_if

        lower_if(self, s, cond)

    def stmt_For(self, s: ast.For):
        if s.orelse:
            raise self.error(FrontendError, "for-else is not supported")
        it = s.iter
        if not isinstance(it, ast.Call):
            seq = self.expr(it)
            if isinstance(seq, tuple):  # a compile-time tuple: unrolled, Python semantics
                for item in seq:
                    if self.returned:
                        break
                    self.assign(s.target, item)
                    self.block(s.body)
                return
            raise self.error(FrontendError, "a kernel loops over range(...), td.pipelined(...) or a "
                             f"compile-time tuple, not {describe(seq)}")
        fn = self.expr(it.func)
        from tiledsl import language as L

        args = [self.expr(a) for a in it.args]
        kwargs = {k.arg: self.auto_or_expr(k.value) for k in it.keywords}
        stages = None
        expect = None
        if fn is py.range:
            if kwargs:
                raise self.error(FrontendError, "range() takes no keyword arguments",
                                 "state an expected trip count with td.range(..., expect=n)")
        elif fn is L.range_:
            expect = kwargs.pop("expect", None)
            if kwargs:
                raise self.error(FrontendError, f"td.range got unexpected {', '.join(kwargs)}",
                                 "td.range takes 1 to 3 bounds and expect=")
        elif fn is L.pipelined:
            if self.in_threads:
                raise self.error(LevelError, "td.pipelined inside td.threads", PIPELINED_IN_THREADS_HINT)
            expect = kwargs.pop("expect", None)
            st = kwargs.pop("stages", L.auto)
            if kwargs:
                raise self.error(FrontendError, f"td.pipelined got unexpected {', '.join(kwargs)}")
            stages = self.new_knob("stages").sym if st is L.auto else st
            if isinstance(st, L.AutoKnob):  # a stages knob under constraints the scheduler honours
                stages = self.new_knob("stages").sym
                self.knob_constraints[stages.name] = st.constraints
            if isinstance(st, KnobRef):
                stages = st.sym
            if not (isinstance(stages, int) or hasattr(stages, "name")) or stages is True:
                raise self.error(KernelTypeError, f"stages must be an int or td.auto, got {st!r}")
        else:
            raise self.error(FrontendError, f"cannot loop over {ast.unparse(it.func)}(...)",
                             "loop over range(...), td.range(...) or td.pipelined(...)")
        if expect is not None:  # the cost model's trip count for data-dependent bounds
            from tiledsl.frontend.expect import expect_attr

            expect = expect_attr(self, expect)
        if not 1 <= len(args) <= 3:
            raise self.error(FrontendError, "range takes 1 to 3 arguments")
        start, stop, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], args[2] if len(args) == 3 else 1)
        if is_const(step) and step == 0:
            raise self.error(KernelTypeError, "loop step is 0")
        # a loop over literal bounds (`range(3)`) that runs at least once leaves its variable bound
        # after it; the eager mode's scoping (`eager/scoping.literal_trips`) reads the same literals
        from tiledsl.frontend.control import literal_trips, lower_for

        trips = literal_trips(it) if fn is py.range else 0
        bounds, _ = self.unify_operands([start, stop, step])
        for b in bounds:
            if not b.type.dtype.is_int or b.type.space is not Space.SCALAR:
                raise self.error(KernelTypeError, f"loop bounds must be integer scalars, got {b.type}")
        if not isinstance(s.target, ast.Name):
            raise self.error(FrontendError, "the loop variable must be a single name")
        lower_for(self, s, bounds, stages, trips, expect)

    def stmt_With(self, s: ast.With):
        if len(s.items) != 1:
            raise self.error(FrontendError, "one context per `with` in a kernel")
        item = s.items[0]
        call = item.context_expr
        if not isinstance(call, ast.Call):
            raise self.error(FrontendError, "`with` takes td.grid(...), td.threads(...), td.producer() or td.consumer()")
        fn = self.expr(call.func)
        from tiledsl.frontend.contexts import CONTEXTS

        handler = CONTEXTS.get(getattr(fn, "__tiledsl_builtin__", None))
        if handler is None:
            raise self.error(FrontendError, f"`with {ast.unparse(call.func)}(...)` is not a kernel context",
                             "use td.grid, td.threads, td.producer or td.consumer")
        args = [self.expr(a) for a in call.args]
        kwargs = {k.arg: self.expr(k.value) for k in call.keywords}
        handler(self, s, item, args, kwargs)

    def region_body(self, stmts, args: tuple[Value, ...]):
        """Lower `stmts` into a new block whose names do not leak out (tile programs, threads)."""
        before = dict(self.env)
        with self.builder.block(args) as out:
            self.block(stmts)
        self.env = before
        return out[0]

    # --- expressions ----------------------------------------------------------------------------------
    def expr(self, e: ast.expr):
        prev = self.node
        self.node = e
        try:
            handler = getattr(self, "expr_" + type(e).__name__, None)
            if handler is None:
                name = type(e).__name__
                raise self.error(FrontendError, f"`{name}` expressions are not supported in a kernel",
                                 UNSUPPORTED_HINT.get(name))
            return handler(e)
        finally:
            self.node = prev

    def expr_Constant(self, e: ast.Constant):
        return e.value

    def lookup(self, name: str, node):
        if name in self.env:
            v = self.env[name]
            if isinstance(v, Unbound):
                raise self.error(FrontendError, v.reason, v.hint, node=node)
            return v
        if name in self.src.closure:
            return self.src.closure[name]
        if name in self.src.globals:
            return self.src.globals[name]
        if hasattr(py, name):
            return getattr(py, name)
        raise self.error(FrontendError, f"name {name!r} is not defined", node=node)

    def expr_Name(self, e: ast.Name):
        return self.lookup(e.id, e)

    def expr_Tuple(self, e):
        return tuple(self.expr(x) for x in e.elts)

    expr_List = expr_Tuple

    def expr_Attribute(self, e: ast.Attribute):
        obj = self.expr(e.value)
        if isinstance(obj, Value):
            return self.value_attr(obj, e.attr)
        if isinstance(obj, KnobRef):
            raise self.error(FrontendError, f"a knob has no attribute {e.attr!r}")
        if isinstance(obj, (int, float, bool, tuple)) and not hasattr(obj, e.attr):
            raise self.error(FrontendError, f"{describe(obj)} has no attribute {e.attr!r}")
        try:
            return getattr(obj, e.attr)
        except AttributeError:
            raise self.error(FrontendError, f"{ast.unparse(e.value)} has no attribute {e.attr!r}") from None

    def value_attr(self, v: Value, attr: str):
        t = v.type
        if attr == "shape":
            if t.space is Space.GLOBAL and v.name in self.shape_cache:
                return self.shape_cache[v.name]
            if t.space is Space.GLOBAL:
                raise self.error(FrontendError, "the shape of a computed whole tensor is not available",
                                 "take sizes from the kernel's parameters")
            return tuple(KnobRef(d) if isinstance(d, str) else d for d in t.shape)
        if attr == "dtype":
            return t.dtype
        if attr == "ndim":
            return t.rank
        if attr == "T":
            if t.rank != 2:
                raise self.error(KernelTypeError, f".T needs a 2-D value, got {t}")
            return self.value(Op.TRANSPOSE, (v,), {"perm": (1, 0)})
        if attr in ("to", "astype"):
            return _BoundMethod(self, v, "to")
        raise self.error(FrontendError, f"a {t.space.value} value has no attribute {attr!r}",
                         "values have .shape, .dtype, .ndim, .T and .to(dtype)")

    def expr_BinOp(self, e: ast.BinOp):
        a, b = self.expr(e.left), self.expr(e.right)
        if isinstance(e.op, ast.MatMult):
            from tiledsl.frontend.builtins import matmul

            return matmul(self, a, b)
        op = BINOPS.get(type(e.op))
        if op is None:
            raise self.error(FrontendError, f"operator {type(e.op).__name__} is not supported")
        if isinstance(a, KnobRef) or isinstance(b, KnobRef):
            a, b = self.const(a) if isinstance(a, KnobRef) else a, self.const(b) if isinstance(b, KnobRef) else b
        return self.binop(op, a, b)

    def expr_UnaryOp(self, e: ast.UnaryOp):
        x = self.expr(e.operand)
        if is_const(x):
            fold = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
                    ast.Invert: operator.invert}[type(e.op)]
            try:
                return fold(x)
            except (ArithmeticError, TypeError, ValueError) as err:
                raise self.error(KernelTypeError, f"cannot compute {ast.unparse(e)} at compile time: {err}",
                                 FOLD_HINT) from None
        if isinstance(e.op, ast.UAdd):
            return x
        if isinstance(e.op, ast.USub):
            return self.unary(Op.NEG, x)
        if isinstance(e.op, ast.Not):
            self.check_truth(x, "not", e.operand)
            if not x.type.dtype.is_bool:
                return self.binop(Op.EQ, x, 0)
        if isinstance(e.op, ast.Invert) and isinstance(x, Value) and x.type.dtype.is_int:
            return self.binop(Op.XOR, x, -1)
        return self.unary(Op.NOT, x)

    def expr_Compare(self, e: ast.Compare):
        left = self.expr(e.left)
        result = None
        for op_node, right_node in zip(e.ops, e.comparators):
            right = self.expr(right_node)
            if is_const(left) and is_const(right):
                try:
                    r = PYCMP[type(op_node)](left, right)
                except (ArithmeticError, TypeError, ValueError) as err:
                    raise self.error(KernelTypeError, f"cannot compare {left!r} and {right!r} at compile time: {err}",
                                     FOLD_HINT) from None
            else:
                op = CMPOPS.get(type(op_node))
                if op is None:
                    raise self.error(FrontendError, f"comparison {type(op_node).__name__} on runtime values")
                r = self.binop(op, left, right)
            result = r if result is None else self.bool_and(result, r)
            left = right
        return result

    def bool_and(self, a, b):
        if is_const(a):
            return b if a else a
        if is_const(b):
            return a if b else b
        return self.binop(Op.AND, a, b)

    def expr_BoolOp(self, e: ast.BoolOp):
        """Python's `and`/`or`: compile-time operands short-circuit and the operand itself is the
        result. A runtime operand whose truth is tested must be a bool scalar (then every later
        operand is one too, or a Python bool, and the result is `&` / `|` of them, the value
        Python gives); on a tile, or a non-bool scalar (where Python returns an operand, not a
        bool) it is an error pointing at `&` / `|`."""
        is_and = isinstance(e.op, ast.And)
        word = "and" if is_and else "or"
        out = None  # the runtime bool scalar so far
        for i, node in enumerate(e.values):
            v = self.expr(node)
            last = i == len(e.values) - 1
            if out is None and is_const(v):
                if last or bool(v) != is_and:
                    return v
                continue
            if out is None and last:
                return v  # only the last operand is runtime: Python returns it, untested
            if is_const(v) and isinstance(v, bool):
                if v != is_and:
                    return v  # `a and False` is False, `a or True` is True
                continue
            self.check_truth(v, word, node)
            out = v if out is None else self.binop(Op.AND if is_and else Op.OR, out, v)
        return out

    def check_truth(self, v, word: str, node: ast.AST) -> None:
        """`v`'s truth may be tested by `and`/`or` (`not` takes any scalar): a bool scalar."""
        if isinstance(v, Value) and v.type.rank == 0 and (v.type.dtype.is_bool or word == "not"):
            return
        op = {"and": "&", "or": "|", "not": "~"}[word]
        raise self.error(KernelTypeError, f"`{word}` on {describe(v)}: only compile-time values and runtime "
                         f"{'scalars' if word == 'not' else 'bool scalars'} have a truth value in a kernel",
                         f"use `{op}` for elementwise logic on masks (`&`, `|`, `~`)", node=node)

    def expr_IfExp(self, e: ast.IfExp):
        c = self.expr(e.test)
        if is_const(c):
            return self.expr(e.body if c else e.orelse)
        from tiledsl.frontend.builtins import where

        return where(self, c, self.expr(e.body), self.expr(e.orelse))

    def expr_Subscript(self, e: ast.Subscript):
        obj = self.expr(e.value)
        from tiledsl.frontend.builtins import subscript

        return subscript(self, obj, e.slice)

    def auto_or_expr(self, node: ast.expr):
        """`node`'s value, where ``td.auto(max=2)`` (a constrained auto knob, as a keyword of
        td.pipelined) gives its `AutoKnob`."""
        if isinstance(node, ast.Call) and not node.args:
            from tiledsl import language as L

            if self.expr(node.func) is L.auto:
                kw = {k.arg: self.expr(k.value) for k in node.keywords}
                try:
                    return L.auto(**kw)
                except (ArgumentError, TypeError) as err:
                    raise self.error(FrontendError, f"{err}", "td.auto takes divides=, multiple_of=, min=, "
                                     "max= with int bounds or knob names", node=node) from None
        return self.expr(node)

    def expr_Call(self, e: ast.Call):
        fn = self.expr(e.func)
        args = [self.expr(a) for a in e.args]
        kwargs = {k.arg: self.expr(k.value) for k in e.keywords}
        if isinstance(fn, _BoundMethod):
            return fn(args, kwargs)
        from tiledsl.frontend.builtins import call_builtin

        return call_builtin(self, fn, args, kwargs)


class _BoundMethod:
    def __init__(self, low: _Lowerer, v: Value, name: str):
        self.low, self.v, self.name = low, v, name

    def __call__(self, args, kwargs):
        if len(args) != 1 or not isinstance(args[0], DType):
            raise self.low.error(KernelTypeError, ".to() takes one dtype, e.g. x.to(td.float16)")
        return self.low.convert(self.v, args[0])


def _scalar(x) -> bool:
    """A Python number or a 0-dim value."""
    return not isinstance(x, Value) or x.type.rank == 0


def _opmath(x, dt: DType) -> bool:
    """Whether `x` times / over a 16-bit value computes in f32 (torch's opmath): a 0-dim value
    (its value is only known at run time), or a Python number `dt` cannot hold exactly (one it
    holds gives the same result either way, so such kernels keep their 16-bit ops)."""
    if isinstance(x, Value):
        return x.type.rank == 0
    if isinstance(x, KnobRef):
        return True
    return not _exact_in(float(x), dt)


def _exact_in(v: float, dt: DType) -> bool:
    """Whether the 16-bit float type `dt` holds `v` exactly."""
    if not math.isfinite(v):
        return True
    try:
        f32 = struct.unpack("<f", struct.pack("<f", v))[0]
        if dt is DType.f16:
            return struct.unpack("<e", struct.pack("<e", v))[0] == v
    except OverflowError:
        return False
    bits = struct.unpack("<I", struct.pack("<f", f32))[0]
    return dt is DType.bf16 and f32 == v and bits & 0xFFFF == 0
