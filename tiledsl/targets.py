"""GPU targets: one row per GPU. Adding a GPU is adding a row.

Figures are dense (no sparsity) peak tensor-core throughput in TFLOP/s, HBM bandwidth in GB/s,
memory sizes in bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tiledsl.dtypes import DType


@dataclass(frozen=True)
class Target:
    name: str
    arch: int  # compute capability, e.g. 90
    arch_suffix: str  # "a" where arch-specific features (wgmma, setmaxnreg) need sm_90a
    sms: int
    smem_per_block: int
    smem_per_sm: int
    regs_per_sm: int
    max_regs_per_thread: int
    max_threads_per_block: int
    hbm_gbps: float
    l2_bytes: int
    tflops: dict  # dtype class -> dense TFLOP/s: "fp8", "bf16" (also fp16), "tf32", "fp32"
    clock_ghz: float
    has_tma: bool
    has_wgmma: bool
    # Figures the cost model needs that are the same on every GPU listed here.
    max_threads_per_sm: int = 2048
    max_blocks_per_sm: int = 32
    smem_bytes_per_clk: int = 128  # shared-memory bandwidth of one SM
    dram_latency_ns: float = 700.0  # load-to-use latency the pipeline has to hide

    def __hash__(self) -> int:  # the figures' dict is not hashable; equal targets share a name
        return hash((self.name, self.arch))

    @property
    def sm_arch(self) -> str:
        return f"sm_{self.arch}{self.arch_suffix}"

    def peak_tflops(self, dtype: DType) -> float:
        """Dense tensor-core TFLOP/s for dot operands of `dtype` (0.0: no tensor cores for it)."""
        return self.tflops.get(TENSOR_CORE_CLASS.get(dtype, "fp32"), 0.0)

    def flops_per_clk_per_sm(self, dtype: DType) -> float:
        return self.peak_tflops(dtype) * 1e12 / (self.sms * self.clock_ghz * 1e9)

    @property
    def cuda_core_flops_per_clk_per_sm(self) -> float:
        """fp32 FMA lanes x 2 of one SM: what elementwise math runs on."""
        return self.tflops["fp32"] * 1e12 / (self.sms * self.clock_ghz * 1e9)


# Which tensor-core rate a dot on operands of this dtype gets (int8 runs at the fp8 rate;
# f32 operands go through tf32).
TENSOR_CORE_CLASS: dict[DType, str] = {
    DType.f8e4m3: "fp8", DType.f8e5m2: "fp8", DType.i8: "fp8", DType.u8: "fp8",
    DType.bf16: "bf16", DType.f16: "bf16", DType.f32: "tf32", DType.f64: "fp32",
}


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("h100", 90, "a", 132, 232448, 233472, 65536, 255, 1024, 3350.0, 50 * 2**20,
               {"fp8": 1979.0, "bf16": 989.0, "tf32": 494.0, "fp32": 67.0}, 1.83, True, True),
        Target("h200", 90, "a", 132, 232448, 233472, 65536, 255, 1024, 4800.0, 50 * 2**20,
               {"fp8": 1979.0, "bf16": 989.0, "tf32": 494.0, "fp32": 67.0}, 1.83, True, True),
        Target("a100", 80, "", 108, 166912, 167936, 65536, 255, 1024, 2039.0, 40 * 2**20,
               {"fp8": 0.0, "bf16": 312.0, "tf32": 156.0, "fp32": 19.5}, 1.41, False, False),
        Target("l40s", 89, "", 142, 101376, 102400, 65536, 255, 1024, 864.0, 96 * 2**20,
               {"fp8": 733.0, "bf16": 362.0, "tf32": 183.0, "fp32": 91.6}, 2.52, False, False),
    ]
}


# Other spellings a user may write: an arch names the first row of that arch ("sm_90" is an H100).
_ARCH_RE = re.compile(r"^sm_?(\d+)a?$")


def get_target(name_or_target) -> Target:
    """The row for a name ("h100", "H100"), an arch ("sm_90", "sm90", "sm_90a") or a CUDA device
    name ("NVIDIA H100 80GB HBM3"). Anything else is an `ArgumentError` listing the known names."""
    if isinstance(name_or_target, Target):
        return name_or_target
    if not name_or_target:
        return TARGETS["h100"]
    key = str(name_or_target).strip().lower().removeprefix("nvidia ").strip()
    if key in TARGETS:
        return TARGETS[key]
    arch = _ARCH_RE.match(key)
    if arch is not None:
        for t in TARGETS.values():
            if t.arch == int(arch.group(1)):
                return t
    first = re.split(r"[\s\-_/]+", key, maxsplit=1)[0]  # "h100 80gb hbm3", "a100-sxm4-80gb"
    if first in TARGETS:
        return TARGETS[first]
    from tiledsl.errors import ArgumentError

    arches = ", ".join(sorted({f"sm_{t.arch}" for t in TARGETS.values()}))
    raise ArgumentError(f"unknown target {name_or_target!r}; known targets: {', '.join(TARGETS)} "
                        f"(or an arch: {arches}). A new GPU is a row in tiledsl/targets.py")
