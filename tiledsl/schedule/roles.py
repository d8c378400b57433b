"""What each knob of a level-2 program is for, read off the IR.

A knob is a *block* size when it appears in a tile shape (LOAD/STORE/ATOMIC/COPY windows, FULL,
ALLOC, ARANGE); the tensor sizes it tiles come from the windows, and a DOT whose operand shapes
name it says whether it tiles M, N or K. It is a pipeline depth when a FOR's ``stages`` names it,
a group size when a GRID's ``group_m`` names it, and ``num_warps`` (a name the IR reserves) is
the warp count. A knob the program uses only in scalar arithmetic (a split factor in a grid
size) has the role its function declares in the attr ``knob_roles`` (``((knob, role), ...)``,
written by the front end, see `tiledsl.frontend.function`); nothing here reads meaning into a
knob's name. A knob the scheduler cannot place is an error: it would otherwise be chosen blindly.
"""

from __future__ import annotations

from dataclasses import dataclass

from tiledsl.errors import ScheduleError
from tiledsl.ir.dims import is_size_sym
from tiledsl.ir.nodes import Function, Space, Sym, walk
from tiledsl.ir.ops import Op
from tiledsl.schedule.blame import knob_use_loc

BLOCK, STAGES, WARPS, GROUP, SPLIT = "block", "stages", "warps", "group", "split"
ROLES = (BLOCK, STAGES, WARPS, GROUP, SPLIT)
ATTR = "knob_roles"  # the function attr that declares roles: ((knob, role), ...)


def attr(roles: dict[str, str]) -> tuple[tuple[str, tuple], ...]:
    """The function attrs that declare `roles` (none when there are none)."""
    return ((ATTR, tuple(sorted(roles.items()))),) if roles else ()


def declared(fn: Function) -> dict[str, str]:
    """The roles `fn` declares for its knobs."""
    return dict(fn.attr(ATTR) or ())


@dataclass(frozen=True)
class KnobInfo:
    name: str
    role: str
    value: int | None = None  # an explicit value, or None for td.auto
    dims: tuple[str, ...] = ()  # tensor sizes ("x.1") a block knob tiles
    dot: str = ""  # "m", "n" or "k" (joined, e.g. "mk") when it tiles a dot operand axis
    dot_dtype: str = ""  # the dtype of that dot's operands


def _sym_names(attr) -> list[str]:
    if isinstance(attr, Sym):
        return [attr.name]
    if isinstance(attr, tuple):
        return [n for a in attr for n in _sym_names(a)]
    return []


class _Collector:
    def __init__(self, fn: Function):
        self.knobs = {k.name for k in fn.knobs}
        self.role: dict[str, str] = {}
        self.dims: dict[str, set[str]] = {}
        self.dot: dict[str, set[str]] = {}
        self.dot_dtype: dict[str, str] = {}
        self.scalar_use: set[str] = set()

    def mark(self, name: str, role: str) -> None:
        if name in self.knobs:
            self.role.setdefault(name, role)

    def window(self, tensor_type, shape_attr) -> None:
        """A load/store/copy window: knob entries tile the tensor's matching axis."""
        for ax, entry in enumerate(shape_attr or ()):
            if isinstance(entry, Sym) and entry.name in self.knobs:
                self.mark(entry.name, BLOCK)
                if tensor_type.space is Space.GLOBAL and ax < tensor_type.rank:
                    d = tensor_type.shape[ax]
                    if is_size_sym(d):
                        self.dims.setdefault(entry.name, set()).add(d)

    def inst(self, inst) -> None:
        op = inst.op
        if op in (Op.LOAD, Op.STORE, Op.ATOMIC):
            self.window(inst.operands[0].type, inst.attr("shape"))
        elif op is Op.COPY:
            src, dst = inst.operands[0], inst.operands[1]
            glob = src if src.type.space is Space.GLOBAL else dst
            self.window(glob.type, inst.attr("shape"))
        elif op is Op.FOR:
            for n in _sym_names(inst.attr("stages")):
                self.mark(n, STAGES)
        elif op is Op.GRID:
            for n in _sym_names(inst.attr("group_m")):
                self.mark(n, GROUP)
        elif op is Op.DOT:
            self.dot_axes(inst)
        elif op is Op.CONST:
            self.scalar_use.update(_sym_names(inst.attr("value")))
        for name in _sym_names(tuple(v for k, v in inst.attrs if k in ("shape", "start", "end"))):
            self.mark(name, BLOCK)
        for v in inst.results:
            for d in v.type.shape:
                if isinstance(d, str) and d in self.knobs:
                    self.mark(d, BLOCK)

    def dot_axes(self, inst) -> None:
        a, b = inst.operands[0].type, inst.operands[1].type
        for d, axis in ((a.shape[0], "m"), (a.shape[1], "k"), (b.shape[0], "k"), (b.shape[1], "n")):
            if isinstance(d, str) and d in self.knobs:
                self.dot.setdefault(d, set()).add(axis)
                self.dot_dtype[d] = a.dtype.value


def knob_roles(fn: Function) -> tuple[KnobInfo, ...]:
    """One `KnobInfo` per knob of `fn`, in knob order. Raises `ScheduleError` for an auto knob
    whose purpose cannot be read off the program."""
    c = _Collector(fn)
    for inst in walk(fn.body):
        c.inst(inst)
    said = declared(fn)
    out = []
    for k in fn.knobs:
        role = c.role.get(k.name) or said.get(k.name) or (WARPS if k.name == "num_warps" else None)
        if role is None:
            if k.value is not None:
                role = "other"
            else:
                where = "scalar arithmetic only" if k.name in c.scalar_use else "nowhere in a tile shape"
                raise ScheduleError(
                    f"cannot tell what knob {k.name!r} of {fn.name} is for: it is used in {where}",
                    knob_use_loc(fn, {k.name}), f"give {k.name} an explicit value, or use it as a tile size, a "
                    f"td.pipelined stages= value, or name it GROUP_* / SPLIT_*")
        out.append(KnobInfo(k.name, role, k.value, tuple(sorted(c.dims.get(k.name, ()))),
                            "".join(sorted(c.dot.get(k.name, ()))), c.dot_dtype.get(k.name, "")))
    return tuple(out)

