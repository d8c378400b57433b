"""The scheduler's frozen records: a `Schedule` (one point of a kernel's space), its `Estimate`
(what the cost model predicts for it on one target) and `Scheduled` (the result of scheduling).

The cost model and the autotuner only *choose among* schedules; codegen reads the chosen values
from the scheduled IR, where they have been substituted.
"""

from __future__ import annotations

from dataclasses import dataclass

from tiledsl.ir.nodes import Function


@dataclass(frozen=True)
class Schedule:
    """Knob values, in the function's knob order. ``roles`` names what each knob is for
    (``block``, ``stages``, ``warps``, ``group``, ``split``), so callers need not guess."""

    values: tuple[tuple[str, int], ...]
    roles: tuple[tuple[str, str], ...] = ()

    def get(self, name: str, default: int | None = None) -> int | None:
        for k, v in self.values:
            if k == name:
                return v
        return default

    def __getitem__(self, name: str) -> int:
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def as_dict(self) -> dict[str, int]:
        return dict(self.values)

    def _first(self, role: str, default: int) -> int:
        for k, r in self.roles:
            if r == role:
                return self[k]
        return default

    @property
    def num_warps(self) -> int:
        return self.get("num_warps", 4)

    @property
    def stages(self) -> int:
        """Pipeline depth of the (first) pipelined loop; 1 where there is none."""
        return self._first("stages", 1)

    @property
    def group(self) -> int:
        """Grouped-rasterization size; 1 means plain row-major launch order."""
        return self._first("group", 1)

    @property
    def split(self) -> int:
        """Split-K / split-KV factor; 1 where the kernel has none."""
        return self._first("split", 1)

    @property
    def blocks(self) -> dict[str, int]:
        return {k: self[k] for k, r in self.roles if r == "block"}

    def __str__(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.values)


@dataclass(frozen=True)
class Estimate:
    """The cost model's prediction for one schedule on one target."""

    target: str
    time_us: float
    flops: float
    bytes: float  # DRAM traffic, after L2 reuse
    bound: str  # "compute" or "memory"
    roofline: float  # ideal time / predicted time, in (0, 1]
    smem_bytes: int = 0
    regs_per_thread: int = 0
    occupancy: int = 0  # programs resident per SM

    def as_dict(self) -> dict:
        return {"target": self.target, "time_us": round(self.time_us, 3), "flops": self.flops,
                "bytes": self.bytes, "bound": self.bound, "roofline": round(self.roofline, 3),
                "smem_bytes": self.smem_bytes, "regs_per_thread": self.regs_per_thread,
                "occupancy": self.occupancy}


@dataclass(frozen=True)
class Scheduled:
    """A scheduled kernel: `fn` verifies at stage "scheduled"; `candidates` are the cost model's
    ranked top schedules (best first, `schedule` among them unless it was forced), with their
    `estimates`, for the autotuner."""

    fn: Function
    schedule: Schedule
    estimate: Estimate
    candidates: tuple[Schedule, ...] = ()
    estimates: tuple[Estimate, ...] = ()
    seconds: float = 0.0  # time spent scheduling
