"""What an axis of an IR type is, decided in one place.

A `Dim` (``int | str``) is a static size (an int), a tensor's runtime size (a *size symbol*
``"x.0"``: parameter ``x``, axis 0), or a knob's name (a block size that scheduling replaces with
the knob's value). Knob names are identifiers and never contain a dot; size symbols always do.
"""

from __future__ import annotations

import re

from tiledsl.ir.nodes import Dim

SIZE_SYM = re.compile(r"[A-Za-z0-9_.]+\.\d+")  # the text form of a size symbol


def size_sym(param: str, axis: int) -> str:
    """The size symbol of axis `axis` of tensor parameter `param`: ``size_sym("x", 0) == "x.0"``."""
    return f"{param}.{axis}"


def is_size_sym(d: Dim) -> bool:
    """True for a tensor's runtime size (``"x.0"``)."""
    return isinstance(d, str) and "." in d


def is_knob_dim(d: Dim) -> bool:
    """True for a knob's name (a block size not yet chosen)."""
    return isinstance(d, str) and "." not in d


def split_size_sym(sym: str) -> tuple[str, int]:
    """``"x.0"`` -> ``("x", 0)`` (the parameter name may itself contain dots)."""
    param, axis = sym.rsplit(".", 1)
    return param, int(axis)

