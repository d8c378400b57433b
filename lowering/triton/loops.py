"""How a pipelined loop (a FOR with ``stages``) is written for Triton.

Triton's software pipeliner (``AssignLatencies``) reads a loop in one of two ways. A loop that
carries its own ``tt.num_stages`` attribute (what ``tl.range(..., num_stages=S)`` sets) is
"pipelined without a dot": every global load in it is prefetched through ``cp.async`` into
shared memory, the loads that feed no dot included. A loop without the attribute takes the
kernel's ``num_stages`` launch option and prefetches the dot's operands only (and the loads
their addresses depend on); its other loads stay plain loads, issued before the dot and read
after it, so the tensor cores hide their latency.

For a GEMM main loop the second is what a hand-written kernel gets: in the block-scaled FP8 GEMM
the per-row and per-tile scales went through shared memory under the attribute (an async copy,
a commit, a wait and a shared read per scale and step: 203 SASS instructions in the loop at
128x128x128 against the expert kernel's 166, whose loop is a plain ``range``). So a loop whose
own body (not a nested loop) holds a dot, and whose stage count is the kernel's launch option,
is written without the attribute; every other pipelined loop keeps it (a loop without a dot is
not pipelined at all without it, and a loop whose count differs from the launch option needs its
own).
"""

from __future__ import annotations

from tiledsl.ir.nodes import Block, Inst, walk
from tiledsl.ir.ops import Op

from .codegen import Gen


def holds_dot(block: Block) -> bool:
    """True when `block` computes a dot outside any nested loop (branches count: an IF's
    regions are part of the same iteration)."""
    for inst in block.insts:
        if inst.op is Op.DOT:
            return True
        if inst.op is not Op.FOR and any(holds_dot(r) for r in inst.regions):
            return True
    return False


def kernel_stages(g: Gen) -> int | None:
    """The kernel's ``num_stages`` launch option: the most stages of any pipelined loop
    (`module.generate` sets it as `Gen.launch_stages` before emitting)."""
    stages = [int(g.value(i.attr("stages"))) for i in walk(g.fn.body)
              if i.op is Op.FOR and i.attr("stages") is not None]
    return max(stages) if stages else None


def range_text(g: Gen, inst: Inst, bounds: str) -> str:
    """``range(...)`` or ``tl.range(..., num_stages=S)`` for the FOR `inst` (module docstring)."""
    stages = inst.attr("stages")
    if stages is None:
        return f"range({bounds})"
    if holds_dot(inst.regions[0]) and int(g.value(stages)) == g.launch_stages:
        return f"range({bounds})"
    return f"tl.range({bounds}, num_stages={g.knob(stages)})"
