"""The pass contract and registry: pure IR -> IR functions, registered by name so the pipeline
(`pipeline.py`) and the CLI can list and run them.

A pass is a frozen dataclass whose fields are its options; calling it with a function and a
`PassContext` returns the new function and leaves the old one untouched. The context carries what
passes need besides the IR (the call's arg specs, the target) and a `memo` in which a pass may
leave what it found for its caller (the scheduler's ranking of candidates), never state a later
pass depends on silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tiledsl.capabilities import ANY, Capabilities
from tiledsl.ir.nodes import Function
from tiledsl.specs import ArgSpec
from tiledsl.targets import Target


@dataclass(frozen=True)
class PassContext:
    specs: tuple[ArgSpec, ...]
    target: Target
    # the backend's record (`tiledsl.capabilities`): the cost model's tile rules; ANY fits every backend
    caps: Capabilities = ANY
    memo: dict = field(default_factory=dict, compare=False, hash=False)


class Pass(Protocol):
    name: str

    def __call__(self, fn: Function, ctx: PassContext) -> Function: ...


PASSES: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: add a pass class to `PASSES` under its ``name``."""
    PASSES[cls.name] = cls
    return cls


def get_pass(name: str, **options) -> Pass:
    """An instance of the pass registered as `name`, with these options."""
    if name not in PASSES:
        raise KeyError(f"unknown pass {name!r}; passes: {', '.join(sorted(PASSES))}")
    return PASSES[name](**options)

__all__ = ["PASSES", "Pass", "PassContext", "get_pass", "register"]
