"""The Triton backend: scheduled IR -> Triton source, launch (compiled or interpreted), and
ahead-of-time compilation to PTX with a static report.

`BACKEND` implements `tiledsl.backends.Backend`. Importing this package does not import
triton; the first lowering, launch or compile does.
"""

from .backend import TritonBackend

BACKEND = TritonBackend()

__all__ = ["BACKEND", "TritonBackend"]
