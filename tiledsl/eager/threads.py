"""Eager grids, thread blocks and warp roles.

Grid: `with td.grid(a, b) as (i, j): body` is rewritten to a loop over `grid(...)`: the body runs
once per program, one program after another, axis 0 fastest.

Threads: `with td.threads(n) as tid: body` is rewritten to a nested function of `tid` that
`run_threads` calls on n Python threads, one per GPU thread, in lockstep. One thread runs at a
time, in thread-id order, until it reaches a synchronization point (`td.barrier()`, a shuffle) or
its end; when every thread has reached the same point, the point is resolved for all of them at
once (a shuffle hands each thread its source lane's value) and the next round starts at thread 0.
Between synchronization points threads run in thread-id order, a legal interleaving of a GPU
block, so results are deterministic. Threads that reach different points, or a barrier that only
some reach, are errors (a GPU deadlocks or is undefined there). `print` and `pdb` work in the
body: only one thread runs at a time.

Warp roles: `with td.producer():` / `with td.consumer():` run their bodies in program order.
"""

from __future__ import annotations

import itertools
import threading

import torch

from tiledsl.dtypes import DType
from tiledsl.eager.ops import need_grid, need_val
from tiledsl.eager.values import STATE, TORCH, Loc, Val, describe, fail, user_frame
from tiledsl.errors import FrontendError, InterpreterError, KernelTypeError, LevelError

WARP = 32
MAX_THREADS = 1024
_DONE = object()


class Marker:
    """`td.grid` / `td.threads` in eager mode: only meaningful as the `with` the rewrite turns
    into a loop or a thread block."""

    def __init__(self, name: str):
        self.name = name
        self.__tiledsl_eager__ = name

    def __call__(self, *args, **kwargs):
        raise fail(FrontendError, f"td.{self.name} is used as `with td.{self.name}(...) as ...:`",
                   f"write the `with td.{self.name}(...)` statement directly in the kernel or @td.func body")

    def __repr__(self) -> str:
        return f"<eager td.{self.name}>"


GRID, THREADS = Marker("grid"), Marker("threads")


def _check_marker(fn, marker: Marker) -> None:
    if getattr(fn, "__tiledsl_eager__", None) != marker.name:
        raise fail(FrontendError, f"`with {getattr(fn, '__name__', fn)}(...)` is not a kernel context",
                   "use td.grid, td.threads, td.producer or td.consumer")


def _int_size(what: str, x) -> int:
    if isinstance(x, int) and not isinstance(x, bool):
        return x
    if isinstance(x, Val) and x.dt.is_int and x.t.dim() == 0:
        return int(x.t)
    raise fail(KernelTypeError, f"{what} must be an integer scalar, got {describe(x)}")


# --- grid -------------------------------------------------------------------------------------------
def grid(nbind: int, fn, *sizes, **kwargs):
    """The program ids of a grid, one program after another (axis 0 fastest). `nbind`: -1 when
    the `with` binds no name, 0 for one name, n for a tuple of n names."""
    _check_marker(fn, GRID)
    if STATE.in_grid:
        raise fail(LevelError, "td.grid inside a td.grid", "one grid per kernel body")
    if kwargs or not 1 <= len(sizes) <= 3:
        raise fail(KernelTypeError, "td.grid takes 1 to 3 sizes")
    n = [_int_size("a grid size", s) for s in sizes]
    if nbind == 0 and len(n) != 1:
        raise fail(FrontendError, f"this grid has {len(n)} axes: bind `as ({', '.join(f'pid{i}' for i in range(len(n)))})`")
    if nbind > 0 and nbind != len(n):
        raise fail(FrontendError, f"{nbind} names for {len(n)} axes")
    dt = sizes[0].dt if isinstance(sizes[0], Val) else (DType.i32 if -(2**31) <= n[0] < 2**31 else DType.i64)
    return _programs(n, dt, nbind)


def _programs(n: list[int], dt: DType, nbind: int):
    STATE.in_grid = True
    try:
        for ids in itertools.product(*(range(max(s, 0)) for s in reversed(n))):
            pids = tuple(Val(torch.tensor(i, dtype=TORCH[dt]), dt, "scalar") for i in reversed(ids))
            yield None if nbind < 0 else pids[0] if nbind == 0 else pids
    finally:
        STATE.in_grid = False


# --- warp roles -----------------------------------------------------------------------------------------
class _Role:
    def __init__(self, role: str):
        self.role = role

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _role(role: str):
    def make(*args, **kwargs):
        if args or kwargs:
            raise fail(KernelTypeError, f"td.{role}() takes no arguments")
        need_grid(role)
        return _Role(role)
    make.__name__ = role
    return make


ROLES = {"producer": _role("producer"), "consumer": _role("consumer")}


# --- thread blocks ----------------------------------------------------------------------------------------
class _Abort(BaseException):
    """Unwinds the other threads of a block after one failed."""


class _Sync:
    __slots__ = ("site", "kind", "payload", "resolve", "loc")

    def __init__(self, site, kind, payload, resolve, loc):
        self.site, self.kind, self.payload, self.resolve, self.loc = site, kind, payload, resolve, loc


class Block:
    def __init__(self, count: int):
        self.count = count
        self.cv = threading.Condition()
        self.turn = 0
        self.slots: list = [None] * count
        self.answers: list = [None] * count
        self.error: BaseException | None = None
        self.finished = False
        self.device = STATE.device

    # --- worker side (called with the condition held unless said otherwise) ------------------------
    def _wait_turn(self, tid: int) -> None:
        while self.turn != tid and self.error is None:
            self.cv.wait()
        if self.error is not None:
            raise _Abort

    def _arrived(self, tid: int) -> None:
        """This thread reached a synchronization point or its end: the next one runs."""
        if tid + 1 < self.count:
            self.turn = tid + 1
        else:
            self._end_round()
        self.cv.notify_all()

    def _end_round(self) -> None:
        waiting = [t for t, s in enumerate(self.slots) if s is not _DONE]
        if not waiting:
            self.finished = True
            self.turn = -1
            return
        first = self.slots[waiting[0]]
        if len(waiting) != self.count:
            done = [t for t, s in enumerate(self.slots) if s is _DONE]
            self.error = InterpreterError(
                f"threads {_ids(done)} finished while the others wait at td.{first.kind}; every thread "
                "must reach each barrier and shuffle", first.loc)
            return
        for t in waiting:
            s = self.slots[t]
            if s.site != first.site:
                self.error = InterpreterError(
                    f"threads diverged: thread {waiting[0]} waits at td.{first.kind} (line {first.loc.line}) and "
                    f"thread {t} at td.{s.kind} (line {s.loc.line}); synchronize outside divergent code", s.loc)
                return
        try:
            self.answers = first.resolve([s.payload for s in self.slots])
        except Exception as e:  # noqa: BLE001 - handed to the launching thread
            self.error = e
            return
        self.slots = [None] * self.count
        self.turn = 0

    def sync(self, kind: str, payload, resolve):
        """Wait until every thread of the block reaches this point; returns this thread's answer."""
        f = user_frame()
        site = (f.f_code.co_filename, f.f_lineno, kind) if f is not None else kind
        loc = Loc(f.f_code.co_filename, f.f_lineno, 0) if f is not None else None
        tid = STATE.tid
        with self.cv:
            self.slots[tid] = _Sync(site, kind, payload, resolve, loc)
            self._arrived(tid)
            self._wait_turn(tid)
            return self.answers[tid]

    def _worker(self, tid: int, body, env: dict) -> None:
        STATE.in_grid, STATE.in_threads, STATE.block, STATE.tid = True, True, self, tid
        STATE.device = self.device
        try:
            with self.cv:
                self._wait_turn(tid)
            body(Val(torch.tensor(tid, dtype=torch.int32), DType.i32, "scalar"), env)
        except _Abort:
            return
        except BaseException as e:  # noqa: BLE001 - re-raised in the launching thread
            with self.cv:
                if self.error is None:
                    self.error = e
                self.cv.notify_all()
            return
        with self.cv:
            self.slots[tid] = _DONE
            self._arrived(tid)

    # --- launching side -------------------------------------------------------------------------------------
    def run(self, body, env: dict) -> None:
        workers = [threading.Thread(target=self._worker, args=(t, body, env), daemon=True,
                                    name=f"tiledsl-eager-thread-{t}") for t in range(self.count)]
        for w in workers:
            w.start()
        try:
            with self.cv:
                while not self.finished and self.error is None:
                    self.cv.wait(0.5)
        except BaseException as e:  # KeyboardInterrupt: stop the block
            with self.cv:
                self.error = self.error or e
                self.cv.notify_all()
        for w in workers:
            w.join()
        if self.error is not None:
            raise self.error


def _ids(ts: list[int]) -> str:
    return ", ".join(map(str, ts[:8])) + (", ..." if len(ts) > 8 else "")


def run_threads(body, env: dict, fn, *args, **kwargs) -> None:
    """`with td.threads(n) as tid:`: run the body (a function of tid) once per thread."""
    _check_marker(fn, THREADS)
    if not STATE.in_grid:
        raise fail(LevelError, "td.threads needs a tile program", "put it inside `with td.grid(...) as pid:`")
    if STATE.in_threads:
        raise fail(LevelError, "td.threads inside td.threads")
    if kwargs.keys() - {"count"} or len(args) + len(kwargs) != 1:
        raise fail(KernelTypeError, "td.threads takes one count")
    count = args[0] if args else kwargs["count"]
    if not isinstance(count, int) or isinstance(count, bool):
        raise fail(KernelTypeError, f"td.threads count is a compile-time int, got {describe(count)}")
    if not 1 <= count <= MAX_THREADS:
        raise fail(KernelTypeError, f"td.threads count must be 1 to {MAX_THREADS}, got {count}",
                   f"a thread block has at most {MAX_THREADS} threads; split the work over td.grid programs")
    Block(count).run(body, env)


# --- shuffles and barriers ---------------------------------------------------------------------------------
def source_lane(mode: str, tid: int, lane: int, width: int, count: int) -> int:
    """The thread whose value `tid` receives, as CUDA's __shfl_*_sync: within segments of
    `width` lanes of a warp; a source outside the caller's segment (later segments for xor) or
    past the last thread gives the caller its own value; idx wraps modulo width."""
    base, l = tid - tid % WARP, tid % WARP
    seg = l - l % width
    if mode == "xor":
        j = l ^ lane
        ok = 0 <= j < seg + width
    elif mode == "down":
        j = l + lane
        ok = j < seg + width
    elif mode == "up":
        j = l - lane
        ok = j >= seg
    else:
        j, ok = seg + lane % width, True
    src = base + j
    return src if ok and src < count else tid


def _shuffle(mode: str):
    name = f"shfl_{mode}"

    def shfl(value, lane, width=32):
        if not STATE.in_threads:
            raise fail(LevelError, f"td.{name} is a thread-level (level 3) op",
                       "put it inside `with td.threads(n) as tid:` within a td.grid")
        v = need_val(f"td.{name}", value)
        if v.kind == "global":
            raise fail(LevelError, f"td.{name} of a whole tensor",
                       "shuffle a thread's own value: td.load the element first (a = td.load(x, (tid,)))")
        ln = _int_size(f"td.{name} lane", lane)
        if width not in (1, 2, 4, 8, 16, 32) or isinstance(width, bool):
            raise fail(KernelTypeError, f"shuffle width must be a power of two up to {WARP}, got {width!r}")

        def resolve(payloads: list) -> list:
            n = len(payloads)
            return [payloads[source_lane(mode, t, payloads[t][1], payloads[t][2], n)][0] for t in range(n)]

        return STATE.block.sync(name, (v, ln, width), resolve)
    shfl.__name__ = name
    return shfl


SHUFFLES = {f"shfl_{m}": _shuffle(m) for m in ("xor", "down", "up", "idx")}


def barrier():
    if not STATE.in_threads:
        raise fail(LevelError, "td.barrier is a thread-level (level 3) op",
                   "put it inside `with td.threads(n) as tid:` within a td.grid")
    STATE.block.sync("barrier", None, lambda payloads: [None] * len(payloads))
