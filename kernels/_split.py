"""The epilogue of a kernel whose K loop is split over several programs per output tile (split-K),
shared by the GEMM and the FP8 GEMM.

Each split stores its fp32 partial sum into ``ws [SPLIT_K, M, N]`` (fp32, any contents) and counts
itself on its tile's counter in ``counts`` (int32, one per output tile, zero on entry). The split
that counts last sums the partials in split order, rounds once into c and puts the counter back
to zero: the result is the same bits whichever split finishes last (no fp32 atomics), and no pass
before or after the kernel zero-fills or rounds a workspace. The order is the language's: a
scalar atomic orders the program's earlier stores before it (docs/language.md "Memory order").
With SPLIT_K = 1 it is the plain store (ws and counts are never touched).
"""

from __future__ import annotations

import torch
from tiledsl.kernels._knobs import scheduled_knobs
from tiledsl.kernels._validate import Validator

import tiledsl as td

# the split factors a split kernel's workspace must hold at most (`space.values_for`: 1..16)
MAX_SPLIT = 16


@td.func
def store_split(c, ws, counts, acc, i, j, s, BM, BN, SPLIT_K):
    """Store the (BM, BN) fp32 tile `acc` of output tile (i, j), split `s` of SPLIT_K."""
    if SPLIT_K == 1:
        td.store(c, (i * BM, j * BN), acc.to(c.dtype))
    else:
        td.store(ws, (s, i * BM, j * BN), acc[None, :, :])
        tile = i * td.cdiv(c.shape[1], BN) + j
        if td.atomic_add(counts, (tile,), 1) == SPLIT_K - 1:  # every other split has stored
            total = td.load(ws, (0, i * BM, j * BN), (1, BM, BN))
            for t in range(1, SPLIT_K):
                total += td.load(ws, (t, i * BM, j * BN), (1, BM, BN))
            td.store(c, (i * BM, j * BN), td.reshape(total, (BM, BN)).to(c.dtype))
            td.store(counts, (tile,), 0)  # ready for the next launch


def check_split(v: Validator, knobs: dict) -> None:
    """A given ``SPLIT_K`` is a positive int or ``td.auto``."""
    given = knobs.get("SPLIT_K")
    if given is not None and given is not td.auto and (not isinstance(given, int) or given < 1):
        raise v.fail(f"SPLIT_K={given!r}", "SPLIT_K must be an int of at least 1 (or td.auto)")


def choose(kernel: td.Kernel, args: tuple, c: torch.Tensor, knobs: dict) -> tuple[int, dict]:
    """The split factor of a call of the split `kernel` on ``(*args, c)`` and the knobs to launch
    with: a given ``SPLIT_K``, else the scheduler's choice (1: launch the plain kernel with the
    other given knobs). A split fixes BM and BN (they size the tile counters) from the schedule
    where not given. Scheduling only, once per shape (`scheduled_knobs` caches it)."""
    given = knobs.get("SPLIT_K")
    rest = {k: v for k, v in knobs.items() if k != "SPLIT_K"}
    if given is not None and given is not td.auto and given == 1:
        return 1, rest
    fixed = {k: v for k, v in rest.items() if isinstance(v, int)}
    fixed["SPLIT_K"] = td.auto if given is None or given is td.auto else given
    chosen = scheduled_knobs(kernel, (*args, c, *scheduling_buffers(c)), **fixed)
    if chosen["SPLIT_K"] == 1:
        return 1, rest
    return chosen["SPLIT_K"], rest | {"BM": chosen["BM"], "BN": chosen["BN"], "SPLIT_K": chosen["SPLIT_K"]}


def scheduling_buffers(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Meta stand-ins for ws and counts when asking the scheduler for a split: a workspace as deep
    as the largest split it tries (its windows, not its size, are what the cost model prices; a
    shallower one would cap the bytes the splits write)."""
    return (torch.empty((MAX_SPLIT, *c.shape), dtype=torch.float32, device="meta"),
            torch.empty((1,), dtype=torch.int32, device="meta"))


def buffers(knobs: dict, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The workspace of a split launch with these knobs (`choose`) and the stream's tile counters
    (`tile_counters`, one per (BM, BN) tile of c)."""
    (M, N), bm, bn = c.shape, knobs["BM"], knobs["BN"]
    return (torch.empty((knobs["SPLIT_K"], M, N), dtype=torch.float32, device=c.device),
            tile_counters(-(-M // bm) * -(-N // bn), c.device))


_COUNTERS: dict[tuple, torch.Tensor] = {}


def tile_counters(n: int, device: torch.device) -> torch.Tensor:
    """``n`` zeroed int32 tile counters for a split launch on the current stream. A split launch
    leaves its counters zero again (the last split of each tile resets its own), so one zero-filled
    buffer per device and stream serves every later launch in stream order with no fill pass.
    Launches on two streams may overlap: each stream has its own. While a CUDA graph is being
    captured the counters are a fresh zero-filled tensor (its fill is part of the graph)."""
    device = torch.device(device)
    if device.type == "meta":
        return torch.zeros(n, dtype=torch.int32, device=device)
    stream = 0
    if device.type == "cuda":
        if torch.cuda.is_current_stream_capturing():
            return torch.zeros(n, dtype=torch.int32, device=device)
        stream = torch.cuda.current_stream(device).cuda_stream
    key = (str(device), stream)
    buf = _COUNTERS.get(key)
    if buf is None or buf.numel() < n:
        buf = _COUNTERS[key] = torch.zeros(max(n, 1024), dtype=torch.int32, device=device)
    return buf[:n]
