"""The analytical cost model: hard limits, then a time estimate, for one schedule point.

Limits (`limits`) are what a compiler or the hardware would reject or what cannot run well at all:
shared memory per block, registers per thread and per SM, threads per block, power-of-two tile
sizes, tensor-core shapes and dtypes, the split of a dot's tile over the warps, tile size. Each
broken limit is one sentence naming it.

Time (`estimate`) is a roofline with the usual corrections:
- compute: per program, tensor-core cycles (wgmma where the tile allows it, else mma.sync, and
  never faster than shared memory can feed the operands), ALU cycles, loop and program overheads;
  programs are spread over SMs, so partial waves cost a whole program time; a loop whose trip
  count is data-dependent counts its `expect=`, a size that bounds it, or `analysis.UNKNOWN_TRIPS`
  (64) iterations (`analysis._Walker.trips`); fewer than 4 warps on an SM leave sub-partitions idle;
- memory: DRAM bytes after L2 reuse: programs resident together (one *wave*) share every window
  whose offsets do not depend on the grid axes they differ in, and the launch order (row-major or
  grouped by ``group_m``) decides how many distinct windows a wave touches; a second read of the
  same windows later in a program hits L2 when the wave's footprint fits;
- coalescing: windows with rows narrower than 64 contiguous bytes waste DRAM bandwidth;
- latency: bandwidth is only reached with enough bytes in flight per SM (stages x occupancy);
- overlap: compute and memory overlap when the loop is pipelined or several programs share an SM.
"""

from __future__ import annotations

import math

from tiledsl.capabilities import ANY, Capabilities
from tiledsl.schedule.analysis import Access, Analysis
from tiledsl.schedule.records import Estimate
from tiledsl.schedule.roles import BLOCK, KnobInfo
from tiledsl.targets import Target

PROGRAM_OVERHEAD_CLK = 400  # launch of a program, address setup, epilogue
LOOP_OVERHEAD_CLK = 24  # per loop iteration: barriers, pointer bumps
# SASS instructions each warp issues per iteration of a tensor-core loop besides its wgmma
# steps (`loop_instrs`; benchmarks/static_parity.py: 85-106 in all from 64x32 to 128x256 tiles):
# an SM's 4 schedulers issue them at one a clock, so narrow tiles pay them on fewer flops
DOT_LOOP_INSTRS = 70
LAUNCH_US = 2.5  # kernel launch
REG_BASE = 32  # registers a program needs besides its tiles
# A kernel without dots needs fewer besides its tiles: ptxas gives the 8192-column softmax rows
# 16-27 registers beyond the row's fp32 values on 4-16 warps (benchmarks/static_parity.py).
REG_BASE_NO_DOT = 16
# A kernel without a pipelined loop or tensor cores (load a row, reduce, compute, store) has no
# asynchronous copies in flight while it computes: each warp waits out the DRAM latency of its own
# loads, then runs its reductions (shared-memory exchanges and barriers) and transcendentals
# serially, so only other resident warps hide the latency. It needs at least this share of the
# SM's warp slots resident (the usual floor for memory-bound kernels); fewer is *starved*.
MIN_UNPIPELINED_OCCUPANCY = 0.5
HBM_EFF, L2_HIT_COST = 0.9, 0.25
L2_SM_BYTES_PER_CLK = 64  # what one SM can take from L2 per clock
CONTENTION = 0.05  # share of the smaller of two overlapped activities that still shows
SUBPARTITIONS = 4  # warp schedulers per SM, each with its own ALU lanes and tensor core
# a tile accumulated atomically (split-K) needs its output zero-filled before the kernel and, for a
# 16-bit result, rounded from the fp32 workspace after it: two more passes on the stream, each a
# dependent kernel's start (graph-captured) and its bytes (`_accumulate_s`)
EXTRA_PASS_US = 0.5


def smem_bytes(a: Analysis, values: dict[str, int]) -> int:
    """Shared memory of one program: the walk's, the reductions' workspaces, which grow with the
    threads (`Analysis.smem_per_warp`), and the computed dot operands staged in shared memory
    (`Analysis.smem_operands`) unless every gemm can put all warps along its rows: the TileLang
    lowering then keeps them in registers (lowering/tilelang/gemms.py, FullRow)."""
    warps = values.get("num_warps", 4)
    smem = a.smem + a.smem_per_warp * warps
    if a.smem_operands and any(d.m % (FULL_ROW_M * warps) for d in a.dots):
        smem += a.smem_operands
    return int(smem)


# rows of one warp's share of a gemm: a gemm of M rows puts all its warps along them when M is a
# multiple of this times num_warps (lowering/tilelang/gemms.py `_M_PER_WARP`)
FULL_ROW_M = 16


def limits(a: Analysis, knobs: tuple[KnobInfo, ...], values: dict[str, int], t: Target,
           regs: int | None = None, caps: Capabilities = ANY) -> list[str]:
    """Every hard limit the point breaks, as sentences naming the limit and the numbers. The tile
    rules (power-of-two sizes, elements per tile) are the backend's (`caps`; ANY: every backend's)."""
    out: list[str] = []
    warps = values.get("num_warps", 4)
    for k in knobs:
        v = values.get(k.name)
        if v is None:
            continue
        if k.role == BLOCK and (v < 1 or not caps.takes_tile((v,))):
            out.append(f"alignment: {k.name}={v} is not a power of two (tile sizes must be)")
        if k.role in ("stages", "group", "split") and v < 1:
            out.append(f"{k.name}={v} must be at least 1")
    if a.warp_roles:
        if warps % 4 or warps < 8 or warps > 32:
            out.append(f"warp specialization: producer/consumer regions need whole warp groups, at "
                       f"least two (num_warps a multiple of 4, >= 8); num_warps={warps}")
    elif warps < 1 or warps & (warps - 1) or warps > 32:
        out.append(f"threads: num_warps={warps} must be a power of two from 1 to 32")
    if warps * 32 > t.max_threads_per_block:
        out.append(f"threads: num_warps={warps} gives {warps * 32} threads; {t.name} allows "
                   f"{t.max_threads_per_block} per block")
    smem = smem_bytes(a, values)
    if smem > t.smem_per_block:
        out.append(f"shared memory: this point needs {smem} B per block; {t.name} allows "
                   f"{t.smem_per_block} B (fewer stages or smaller blocks)")
    out += register_limits(registers(a, values, t) if regs is None else regs, warps, t)
    for shape in sorted(s for s in a.odd_tiles if not caps.takes_tile(s)):
        out.append(f"alignment: a tile of shape {shape} has a size that is not a power of two (tile sizes must be)")
    if a.max_numel > caps.max_tile_numel:
        out.append(f"tile size: a tile of {a.max_numel} elements exceeds {caps.max_tile_numel}")
    for d in a.dots:
        out += _dot_limits(d, t, warps)
    return sorted(set(out))


def register_limits(regs: int, warps: int, t: Target) -> list[str]:
    """The register limits (per thread, and per SM for the block's threads) a point needing
    `regs` registers per thread on `warps` warps breaks. Most points a search rejects break these
    (large tiles on few warps), so it checks them before anything else (`space._Search`)."""
    if regs > t.max_regs_per_thread:
        return [f"registers: about {regs} per thread are needed; {t.name} allows "
                f"{t.max_regs_per_thread} (more warps or smaller blocks)"]
    if regs * warps * 32 > t.regs_per_sm:
        return [f"registers: {regs} per thread x {warps * 32} threads exceed the "
                f"{t.regs_per_sm} registers of an SM"]
    return []


def warp_partition(m: int, n: int, warps: int) -> tuple[int, int] | None:
    """(warps along M, warps along N) that split an m x n dot so each warp owns a multiple of 16
    rows and 8 columns (the mma fragment), or None when no split does. TileLang refuses a gemm
    without one; Triton would replicate work across warps.

    A 16-row dot (the paged decode's 16x16 scores) therefore takes at most 2 warps: checked
    compile-only for h100 (sm_90a), Triton lowers 1, 2 and 4 warps without spills (160/96/80
    registers; 4 replicates the 16 columns over the warps), TileLang 1 and 2 (4 has no mma
    split). Hopper's wgmma needs 64 rows per warp group, so a 16-row dot is mma.sync either way.
    The estimate prices the SM's 4 sub-partitions, so with few programs 2 warps beat 1."""
    for wm in range(warps, 0, -1):
        if warps % wm == 0 and m % (16 * wm) == 0 and n % (8 * (warps // wm)) == 0:
            return wm, warps // wm
    return None


def _dot_limits(d, t: Target, warps: int) -> list[str]:
    out = []
    if d.consumer:  # the producer warp group does not take part
        warps = max(warps - 4, 1)
    if d.m >= 16 and d.n >= 16 and warp_partition(d.m, d.n, warps) is None:
        who = "its consumer warps" if d.consumer else "num_warps"
        out.append(f"warps: a {d.m}x{d.n} dot cannot be split over {who}={warps} (each warp "
                   f"needs a multiple of 16 rows and 8 columns; fewer warps or a larger tile)")
    if t.peak_tflops(d.dtype) <= 0:
        out.append(f"tensor cores: {t.name} has none for {d.dtype.value} dots")
    kmin = 32 if d.dtype.bits == 8 else 16
    for name, v, lo in (("M", d.m, 16), ("N", d.n, 16), ("K", d.k, kmin)):
        if v < lo:
            out.append(f"tensor-core shape: a dot's {name} tile is {v}; {d.dtype.value} dots need >= {lo}")
    return out


def registers(a: Analysis, values: dict[str, int], t: Target) -> int:
    """Registers per thread: accumulators and the two largest other tiles, spread over threads
    (tiles after the accumulators' last read, with their own loops' accumulators, in their place
    where they need more: `liveness.late_insts`);
    dot operands too where they go through registers (mma.sync, i.e. no wgmma); with wgmma, the
    hoisted descriptors of loop-invariant A operands (`Analysis.invariant_desc_regs`). A 16-bit row
    computed in fp32 counts as fp32 values (`analysis`): a one-row softmax of 8192 bf16 columns
    holds 8192 / (32 x num_warps) values per thread. On the softmax rows of
    benchmarks/static_parity.py: 0.89-1.06x of ptxas at 4-16 warps, 0.7x at 2 (where ptxas keeps
    more than the row live; tests/test_schedule_softmax.py)."""
    threads = values.get("num_warps", 4) * 32
    early = sorted((w for w, late in zip(a.tile_words, a.tile_late) if not late), reverse=True)[:2]
    late = sorted((w for w, late in zip(a.tile_words, a.tile_late) if late), reverse=True)[:2]
    # tiles after the accumulators' last read reuse their registers (`liveness.late_insts`)
    words = max(a.carried_words + sum(early), a.late_carried_words + sum(late))
    wgmma = _wgmma_ok(a, values, t)
    if a.dots and not wgmma:
        words += a.operand_words
    # a loop-invariant wgmma A operand's descriptors stay in registers (not spread over threads)
    desc = a.invariant_desc_regs if a.dots and wgmma else 0
    return (REG_BASE if a.dots else REG_BASE_NO_DOT) + math.ceil(words / threads) + desc


def starved(a: Analysis, values: dict[str, int], t: Target, regs: int | None = None) -> bool:
    """Whether a point without tensor cores or a pipelined loop keeps fewer warps resident per SM
    than `MIN_UNPIPELINED_OCCUPANCY` of the SM's slots (by the modelled registers). The search
    never picks such a point while another fits (`space.rank`): for the 8192-column softmax the
    time model alone picks 2 warps holding the row in 196 registers (10 warps per SM)."""
    if a.dots or a.stages > 1:
        return False
    warps = values.get("num_warps", 4)
    resident = occupancy(a, values, t, regs) * warps
    return resident < MIN_UNPIPELINED_OCCUPANCY * t.max_threads_per_sm / 32


def _wgmma_ok(a: Analysis, values: dict[str, int], t: Target) -> bool:
    warps = values.get("num_warps", 4)
    # Hopper's wgmma takes 16-bit and 8-bit operands (Triton lowers e4m3 dots to m64nNk32 wgmma)
    return t.has_wgmma and warps % 4 == 0 and all(d.m % 64 == 0 and d.dtype.bits <= 16 for d in a.dots)


def uses_wgmma(a: Analysis, values: dict[str, int], t: Target) -> bool:
    """Whether the point's dots run on wgmma (else mma.sync, or no dot at all)."""
    return bool(a.dots) and _wgmma_ok(a, values, t)


def wgmma_layout(m: int, n: int, warps: int) -> tuple[int, int, int]:
    """(warp groups along M, warp groups along N, wgmma instruction N) of an m x n dot on
    `warps` warps, as Triton places them: warp groups go along M while each keeps at least 64
    rows, the rest along N; one instruction covers 64 rows and the group's N (at most 256)."""
    groups = max(1, warps // 4)
    wg_m = max(1, min(groups, m // 64))
    wg_n = max(1, groups // wg_m)
    return wg_m, wg_n, max(8, min(256, n // wg_n))


def smem_traffic(d, warps: int, wgmma: bool) -> float:
    """Shared-memory bytes one execution of dot `d` moves: its operand tiles written once (TMA or
    cp.async staging), then read by the tensor cores. wgmma reads the A rows of each warp group
    once per warp group along N and the B tile once per 64-row instruction; mma.sync warps
    (ldmatrix) read A once per warp along N and B once per warp along M. So wide tiles with
    warp groups stacked along M read the least per flop: 128x256 on two warp groups moves 20%
    fewer bytes per flop than 128x128 on one, which is what holds a 128x128 GEMM below the
    tensor cores' peak on Hopper (128 B/clk of shared memory per SM)."""
    isz = d.dtype.itemsize
    if d.consumer:
        warps = max(warps - 4, 4)
    writes = (d.m * d.k + d.k * d.n) * isz
    if wgmma:
        _, wg_n, _ = wgmma_layout(d.m, d.n, warps)
        reads = (wg_n * d.m * d.k + max(1, d.m // 64) * d.k * d.n) * isz
    else:
        wm, wn = warp_partition(d.m, d.n, warps) or (1, warps)
        reads = (wn * d.m * d.k + wm * d.k * d.n) * isz
    return writes + reads


def occupancy(a: Analysis, values: dict[str, int], t: Target, regs: int | None = None) -> int:
    """Programs resident on one SM at once."""
    threads = values.get("num_warps", 4) * 32
    occ = min(t.max_blocks_per_sm, t.max_threads_per_sm // threads)
    smem = smem_bytes(a, values)
    if smem:
        occ = min(occ, t.smem_per_sm // smem)
    regs = registers(a, values, t) if regs is None else regs
    occ = min(occ, t.regs_per_sm // (regs * threads))
    return max(occ, 0)


def _wave_extent(grid: tuple[int, ...], group_m: int, resident: int) -> tuple[int, ...]:
    """How many distinct ids of each grid axis one wave of `resident` programs covers.
    Axis 0 varies fastest; with ``group_m`` > 1 a wave walks group_m ids of axis 0 per id of axis 1."""
    g0 = grid[0]
    rest = grid[1:]
    if group_m > 1 and len(grid) >= 2:
        rows = min(g0, group_m)
        e1 = min(rest[0], math.ceil(resident / rows))
        e0 = min(g0, rows * math.ceil(resident / (rows * rest[0])))
        # the grouped order covers the first two axes; a wave larger than their plane goes on
        # along the others (a split axis), which it did not before (one split per wave)
        return (e0, e1, *_row_major(rest[1:], math.ceil(resident / (g0 * rest[0]))))
    return _row_major(grid, resident)


def _row_major(grid: tuple[int, ...], resident: int) -> tuple[int, ...]:
    """Distinct ids per axis of `resident` programs in row-major order, axis 0 fastest."""
    out, left = [], resident
    for g in grid:
        out.append(min(g, left))
        left = max(1, math.ceil(left / g))
    return tuple(out)


def dram_bytes(a: Analysis, resident: int, t: Target) -> tuple[float, float]:
    """(DRAM bytes after L2 reuse, ideal bytes: each tensor once)."""
    programs = a.programs
    waves = math.ceil(programs / max(resident, 1))
    extent = _wave_extent(a.grid, a.group_m, min(resident, programs))
    total, seen, per_tensor = 0.0, set(), {}
    wave_footprint = 0.0
    for acc in a.accesses:
        distinct = math.prod(extent[i] for i in acc.axes if i < len(extent)) * acc.count
        per_wave = distinct * acc.bytes
        wave_footprint += per_wave
        naive = programs * acc.count * acc.bytes
        key = (acc.tensor, acc.axes, acc.store)
        coalesce = _coalesce(acc)
        # one wave reads each byte once at most: windows past a tensor's end (a split's
        # zero-filled K tiles) move nothing. Not where a trip count is a guess (`UNKNOWN_TRIPS`):
        # its windows stand for whatever the data makes them, not for the tensor
        cap = acc.whole if waves == 1 and not a.unknown_trips else math.inf
        cost = min(naive, waves * per_wave, cap) / coalesce
        if key in seen and not acc.store and wave_footprint <= t.l2_bytes / 2:
            cost *= L2_HIT_COST
        seen.add(key)
        total += cost
        per_tensor[acc.tensor] = max(per_tensor.get(acc.tensor, 0.0), _unique(acc, a.grid))
    return total, sum(per_tensor.values())


def l2_bytes(a: Analysis) -> float:
    """Bytes all programs move between L2 and the SMs (every window of every program)."""
    return a.programs * sum(acc.count * acc.bytes for acc in a.accesses)


def _unique(acc: Access, grid: tuple[int, ...]) -> float:
    """Bytes of all the distinct windows of `acc` over the grid (at most the whole tensor)."""
    windows = 1
    for i in acc.axes:  # a loop, not math.prod of a generator: the search's lower bound calls it per walk
        if i < len(grid):
            windows *= grid[i]
    return min(acc.whole, windows * acc.count * acc.bytes)


def _tc_cycles(a: Analysis, values: dict[str, int], t: Target) -> tuple[float, float]:
    """(tensor-core cycles per program, useful dot flops per program)."""
    wg = _wgmma_ok(a, values, t)
    eff = 0.92 if wg else (0.62 if t.has_wgmma else 0.85)
    warps = values.get("num_warps", 4)
    cyc = flops = 0.0
    for d in a.dots:
        f = 2.0 * d.m * d.n * d.k
        rate = t.flops_per_clk_per_sm(d.dtype) * eff
        feed = smem_traffic(d, warps, wg) / t.smem_bytes_per_clk
        cyc += d.count * max(f / rate if rate else math.inf, feed)
        flops += d.count * f
    return cyc, flops


def _combine(big: float, small: float, overlap: float) -> float:
    """Time of two activities that overlap by `overlap` (0..1): never perfectly, since the copy
    and the math share issue slots, barriers and shared memory, so the smaller one always adds
    CONTENTION of itself. This also breaks ties between points bound by the same resource towards
    the one with more slack on the others."""
    return big + min(1.0, 1.0 - overlap + CONTENTION) * small


def _fixed_clk(a: Analysis, t: Target) -> float:
    """Per-program cycles that depend on no knob of the walk's own: ALU work, loop and program
    overheads."""
    return a.alu_flops / t.cuda_core_flops_per_clk_per_sm + _overhead_clk(a)


def _overhead_clk(a: Analysis) -> float:
    return a.loop_iters * LOOP_OVERHEAD_CLK + PROGRAM_OVERHEAD_CLK


def _issue_clk(a: Analysis, warps: int, instrs: float) -> float:
    """Cycles the schedulers spend issuing the tensor-core loop's instructions (address
    arithmetic, barriers, waits, the wgmma): per iteration, each warp's `instrs`, four warps at a
    time. The least for any tile and warp count: `DOT_LOOP_INSTRS` on 4 warps (`lower_bound_us`)."""
    return a.dot_iters * instrs * max(1.0, warps / 4)


def loop_instrs(a: Analysis, values: dict[str, int], t: Target) -> float:
    """Instructions one warp issues per iteration of the tensor-core loop: the fixed part and one
    per wgmma instruction the warp's group issues for each k16 step (85 for 128x256x64 on two
    warp groups, 100-106 for 64xNx128 on one: benchmarks/static_parity.py), so tiles that stack
    several 64-row wgmma on one warp group (128x64 on 4 warps) issue more per flop."""
    warps = values.get("num_warps", 4)
    n = 0.0
    for d in a.dots:
        wg_m, _, _ = wgmma_layout(d.m, d.n, warps)
        per_group = max(1, d.m // 64 // wg_m) if _wgmma_ok(a, values, t) else 1
        n += per_group * max(1, d.k // 16) * 4
    return DOT_LOOP_INSTRS + n


def _accumulate_s(a: Analysis, t: Target) -> float:
    """The passes around a kernel that adds float tiles into an output atomically: zero-filling
    it (4 bytes an element) and rounding the fp32 sums into the result (read 4, write 2), each a
    dependent kernel on the stream. No such output: 0."""
    outs = {acc.tensor: acc.whole / 2 for acc in a.accesses if acc.accumulate}
    if not outs:
        return 0.0
    return 2 * EXTRA_PASS_US * 1e-6 + 2.5 * sum(outs.values()) / (t.hbm_gbps * 1e9 * HBM_EFF)


def _handoff_s(a: Analysis, occ: int, t: Target) -> float:
    """Scalar atomics whose old value the program waits for (the counter of a split reduction):
    the barrier, the release of the program's stores and the atomic's round trip to L2, then the
    taken branch's reads, about one DRAM latency on each program's path, exposed once per wave."""
    if not a.handoffs:
        return 0.0
    waves = math.ceil(a.programs / (t.sms * max(occ, 1)))
    return a.handoffs * waves * t.dram_latency_ns * 1e-9


def _l2_seconds(a: Analysis, t: Target) -> float:
    active = min(t.sms, a.programs)
    return l2_bytes(a) / (active * L2_SM_BYTES_PER_CLK * t.clock_ghz * 1e9)


def _coalesce(acc: Access) -> float:
    """Share of the DRAM bandwidth a window's rows use: DRAM moves 32-byte sectors and wants 64+
    contiguous bytes per row to stream well."""
    return max(0.25, min(1.0, acc.row_bytes / 64))


def _coalesced_ideal(a: Analysis) -> float:
    """DRAM bytes no launch order can go below: per tensor, the largest of its windows' ideal bytes
    at their rows' coalescing (counted from each window's first access, which `dram_bytes` never
    discounts as an L2 hit). Narrow rows (a 16-wide bf16 tile) raise it, so such walks are
    skipped early: memory-bound shapes, where every tile has the same ideal bytes, searched
    nearly every walk before."""
    per: dict[str, float] = {}
    seen: set = set()
    for acc in a.accesses:
        key = (acc.tensor, acc.axes, acc.store)
        if key in seen:
            continue
        seen.add(key)
        per[acc.tensor] = max(per.get(acc.tensor, 0.0), _unique(acc, a.grid) / _coalesce(acc))
    return sum(per.values())


def lower_bound_us(a: Analysis, t: Target) -> float:
    """A time no point of this walk (any warps, stages, group) can beat: tensor cores at the
    wgmma rate fed with each operand read once, the ideal DRAM bytes, the L2 traffic (which no
    such knob changes), combined with a perfect overlap. The search skips walks whose bound is
    above the times it already has. It reads nothing `Analysis.resolve` sets (shared memory,
    bytes in flight, stages, group), so an unresolved walk will do; and it only grows with the
    walk's accesses (each adds bytes to a maximum or a sum), so a walk without its loads and
    stores bounds the walk's own bound from below (`space._Walks`)."""
    cyc = 0.0
    for d in a.dots:
        rate = t.flops_per_clk_per_sm(d.dtype) * 0.92
        f = 2.0 * d.m * d.n * d.k
        feed = 2 * (d.m * d.k + d.k * d.n) * d.dtype.itemsize / t.smem_bytes_per_clk
        cyc += d.count * max(f / rate if rate else math.inf, feed)
    prog_clk = cyc + _fixed_clk(a, t) + a.reduces * 24 + _issue_clk(a, 4, DOT_LOOP_INSTRS)
    compute_s = math.ceil(a.programs / t.sms) * prog_clk / (t.clock_ghz * 1e9)
    dram_s = _coalesced_ideal(a) / (t.hbm_gbps * 1e9 * HBM_EFF)
    l2_s = _l2_seconds(a, t)
    memory_s = max(dram_s, l2_s) + CONTENTION * min(dram_s, l2_s)
    body = _combine(max(compute_s, memory_s), min(compute_s, memory_s), 1.0)
    # the handoffs of one wave at least (`_handoff_s` with every program resident)
    handoff = a.handoffs * t.dram_latency_ns * 1e-9
    return (body + LAUNCH_US * 1e-6 + _accumulate_s(a, t) + handoff) * 1e6


def estimate(a: Analysis, values: dict[str, int], t: Target, useful_flops_ratio: float = 1.0,
             regs: int | None = None, memo: dict | None = None) -> Estimate:
    """Predicted time and roofline position of one (valid) schedule point. `memo`: a dict the
    caller keeps for points of one IR walk (they differ in warps, stages and group only), so the
    parts that depend on fewer knobs are computed once."""
    memo = {} if memo is None else memo
    warps = values.get("num_warps", 4)
    regs = registers(a, values, t) if regs is None else regs
    resident_occ = occupancy(a, values, t, regs)
    occ = max(1, resident_occ)
    key = ("tc", warps)
    if key not in memo:
        memo[key] = _tc_cycles(a, values, t)
    tc, flops = memo[key]
    reduce = a.reduces * (24 + 16 * math.log2(max(warps, 1)))
    key = ("instrs", warps)
    if key not in memo:
        memo[key] = loop_instrs(a, values, t)
    per_sm = math.ceil(a.programs / t.sms)
    # a warp issues on one of the SM's 4 sub-partitions (scheduler, ALU lanes, tensor core): with
    # fewer than 4 warps on an SM (few programs of 1-2 warps each) the others idle
    busy = min(1.0, warps * min(occ, per_sm) / SUBPARTITIONS)
    prog_clk = ((tc + a.alu_flops / t.cuda_core_flops_per_clk_per_sm) / busy + reduce + _overhead_clk(a)
                + _issue_clk(a, warps, memo[key]))
    compute_s = per_sm * prog_clk / (t.clock_ghz * 1e9)

    resident = t.sms * occ
    key = ("dram", resident, a.group_m)
    if key not in memo:
        memo[key] = dram_bytes(a, resident, t)
    dram, ideal_bytes = memo[key]
    bw = t.hbm_gbps * 1e9
    # only SMs with a program pull bytes: fewer programs than SMs need more in flight each, and
    # each SM takes at most L2_SM_BYTES_PER_CLK from L2 (every load, hit or miss, crosses it)
    active = min(t.sms, a.programs)
    need = bw / active * t.dram_latency_ns * 1e-9
    have = min(occ, per_sm) * max(a.inflight, 1.0)
    dram_s = dram / (bw * HBM_EFF * min(1.0, have / need))
    if "l2" not in memo:
        memo["l2"] = _l2_seconds(a, t)
    l2_s = memo["l2"]
    memory_s = max(dram_s, l2_s) + CONTENTION * min(dram_s, l2_s)

    # a program's own pipeline overlaps its loads with its math; co-resident programs help less
    # (they contend for the same tensor cores and shared memory)
    overlap = min(1.0, 0.5 * (a.stages - 1) + 0.25 * (min(occ, per_sm) - 1))
    body = _combine(max(compute_s, memory_s), min(compute_s, memory_s), overlap)
    if "accumulate" not in memo:
        memo["accumulate"] = _accumulate_s(a, t)
    time_s = body + LAUNCH_US * 1e-6 + memo["accumulate"] + _handoff_s(a, occ, t)

    useful = flops * useful_flops_ratio * a.programs
    peak = max((t.peak_tflops(d.dtype) for d in a.dots), default=0.0) * 1e12
    ideal = max(useful / peak if peak else a.alu_flops * a.programs / (t.tflops["fp32"] * 1e12),
                ideal_bytes / bw)
    return Estimate(
        target=t.name, time_us=time_s * 1e6, flops=useful, bytes=dram,
        bound="compute" if compute_s >= memory_s else "memory",
        roofline=min(1.0, ideal / time_s) if time_s else 0.0,
        smem_bytes=smem_bytes(a, values), regs_per_thread=regs, occupancy=resident_occ)
