"""Eager mode (``backend="eager"``): the kernel's own Python body, run directly, with every
`td.*` builtin implemented on torch tensors.

It shares no code with the front end, the IR, the passes, the scheduler or the interpreters: it is
the independent reference that the compiled backends are checked against, and a debugging mode
(``print()`` and ``pdb`` work inside kernels). docs/language.md, "Eager mode", describes it.

Modules: `rewrite` (the body's AST, rewritten and compiled with the user's file and lines),
`run` (arguments, globals, outputs), `values` (the `Val` class and the typing rules), `ops`
(math, reductions, shape, products, constructors, loops), `memory` (loads, stores, atomics,
copies, buffers), `threads` (grids, lockstep thread blocks, shuffles, barriers, warp roles).
"""

from tiledsl.eager.run import KNOB_DEFAULT, run_kernel

__all__ = ["KNOB_DEFAULT", "run_kernel"]
