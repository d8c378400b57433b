"""The IR interpreter (``backend="ir"``): runs a scheduled tile program on CPU torch tensors.

``run(fn, args)`` executes `fn` tile by tile the way the GPU would: the scalar code outside the
grid, then every program of the GRID in launch order (axis 0 fastest, or grouped by ``group_m``),
honouring the chosen tiling, the automatic masks at ragged edges and the IR dtypes exactly (bf16,
f16 and fp8 included). It also runs level-1 DATAFLOW ops on whole tensors, so an unscheduled level-1 function (stage "ir",
no ``td.auto`` tile shapes) runs as a reference.

Semantic choices, each documented where it is implemented:

- numerics: `values` (f32 compute for 16/8-bit floats, saturating fp8 rounding) and `compute`
  (Python floor division and modulo, division by zero gives 0, DOT accumulates in f32 / i32);
- memory: `memory` (windows, masks, ``other``, atomics with repeated indices applied in order,
  buffers start out NaN-filled: "undefined" until written);
- control flow: `control` (pipelined loops run as plain loops, WARP_ROLE in program order);
- threads: `threads` (one coroutine per thread, lockstep at SHUFFLE and BARRIER).

Torch runs single-threaded inside `run` (tiles are too small for intra-op threads to pay off);
the previous thread count is restored afterwards.
"""

from tiledsl.interp.run import RULES, run

__all__ = ["RULES", "run"]
