"""Front end: Python source of a `@td.kernel` function -> IR at stage "ir".

`read_kernel` parses the source once; `build_function` binds a call's arguments and lowers the
body (`lower.py`), with one handler per `td.*` builtin (`builtins.py`)."""

from tiledsl.frontend.function import build_function
from tiledsl.frontend.source import KernelSource, bind_params, read_kernel

__all__ = ["KernelSource", "bind_params", "build_function", "read_kernel"]
