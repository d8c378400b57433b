"""Passes: pure IR -> IR functions, registered by name so the pipeline (`pipeline.py`) and the
CLI can list and run them. The contract (`Pass`, `PassContext`) and the registry live in
`registry.py`; importing this package registers every pass (`scheduling.py`).
"""

from tiledsl.passes import analyses, legality, scheduling  # noqa: F401 - registers the passes
from tiledsl.passes.registry import PASSES, Pass, PassContext, get_pass, register

__all__ = ["PASSES", "Pass", "PassContext", "get_pass", "register"]
