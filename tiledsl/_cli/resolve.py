"""What a command line names: a kernel (``module:function``, ``file.py:function`` or a registered
reference kernel) and its example arguments (``--arg`` specs such as ``bf16[M=128,K=7168]``)."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tiledsl.errors import ArgumentError

# Spellings a user may type for each dtype (the IR's own names are accepted as they are).
DTYPE_ALIASES = {
    "fp16": "f16", "half": "f16", "float16": "f16", "bfloat16": "bf16", "fp32": "f32", "float": "f32",
    "float32": "f32", "fp64": "f64", "float64": "f64", "double": "f64", "fp8": "f8e4m3", "e4m3": "f8e4m3",
    "float8_e4m3fn": "f8e4m3", "e5m2": "f8e5m2", "float8_e5m2": "f8e5m2", "int32": "i32", "int64": "i64",
    "int16": "i16", "int8": "i8", "uint8": "u8", "bool": "i1",
}
_TENSOR_RE = re.compile(r"^(?:(?P<name>[A-Za-z_]\w*)=)?(?P<dtype>\w+)\[(?P<dims>[^\]]*)\]$")
_ASSIGN_RE = re.compile(r"^(?P<name>[A-Za-z_]\w*)=(?P<value>\S+)$")
SPEC_HELP = ("tensors as DTYPE[D0,D1,...] (a dim may be named: bf16[M=128,K=7168]), scalars as a dtype "
             "(i32) or DTYPE=VALUE (i32=7), constexprs and knobs as NAME=INT (BM=128); NAME=DTYPE[...] "
             "passes a tensor by name")


@dataclass
class Target:
    """A kernel and the example arguments to compile it for."""

    kernel: Any  # tiledsl Kernel
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    entry: Any = None  # kernels.registry.Entry when named by the registry
    launch: Any = None  # the registry's Launch (its default example arguments)

    def compile(self, backend: str, target: str):
        if self.launch is not None and not self.args and not self.kwargs:
            return self.launch.compile(backend, target)
        return self.kernel.compile(*self.args, backend=backend, target=target, **self.kwargs)


def parse_dtype(text: str):
    from tiledsl.dtypes import DType

    key = DTYPE_ALIASES.get(text.lower(), text.lower())
    try:
        return DType(key)
    except ValueError:
        names = ", ".join(d.value for d in DType)
        raise ArgumentError(f"unknown dtype {text!r}; use one of {names}") from None


def _parse_dim(text: str, whole: str) -> int:
    value = text.split("=", 1)[1] if "=" in text else text
    try:
        n = int(value.strip().replace("_", ""))
    except ValueError:
        raise ArgumentError(f"bad size {text.strip()!r} in --arg {whole!r}; sizes are integers "
                            "(optionally named: M=128)") from None
    if n < 0:
        raise ArgumentError(f"negative size {n} in --arg {whole!r}")
    return n


def _number(text: str, whole: str) -> int | float | bool:
    if text in ("True", "False", "true", "false"):
        return text.lower() == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    raise ArgumentError(f"bad value {text!r} in --arg {whole!r}; {SPEC_HELP}")


def parse_arg(text: str) -> tuple[str | None, Any]:
    """(keyword or None, value) for one ``--arg``."""
    from tiledsl.specs import ScalarSpec, TensorSpec

    text = text.strip()
    m = _TENSOR_RE.match(text)
    if m:
        dims = [d for d in m["dims"].split(",") if d.strip()]
        shape = tuple(_parse_dim(d, text) for d in dims)
        return m["name"], TensorSpec(shape, parse_dtype(m["dtype"]))
    m = _ASSIGN_RE.match(text)
    if m:
        name, value = m["name"], m["value"]
        if name.lower() in DTYPE_ALIASES or _is_dtype(name):
            return None, ScalarSpec(parse_dtype(name), _number(value, text))
        return name, _number(value, text)
    if _is_dtype(text):
        return None, ScalarSpec(parse_dtype(text))
    raise ArgumentError(f"cannot read --arg {text!r}; {SPEC_HELP}")


def _is_dtype(text: str) -> bool:
    try:
        parse_dtype(text)
        return True
    except ArgumentError:
        return False


def parse_args(specs: tuple[str, ...]) -> tuple[tuple, dict]:
    args, kwargs = [], {}
    for s in specs:
        name, value = parse_arg(s)
        if name is None:
            if kwargs:
                raise ArgumentError(f"positional --arg {s!r} after a named one; give positional arguments first")
            args.append(value)
        else:
            kwargs[name] = value
    return tuple(args), kwargs


def load_object(ref: str):
    """The object `ref` (``module:attr`` or ``path/to/file.py:attr``) names."""
    where, _, attr = ref.rpartition(":")
    if where.endswith(".py") or "/" in where or "\\" in where:
        path = Path(where)
        if not path.is_file():
            raise ArgumentError(f"no file {where!r}")
        name = f"_tiledsl_cli_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # source lookups (inspect, linecache) need the module registered
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as e:
            raise ArgumentError(f"cannot import module {where!r} ({e})") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ArgumentError(f"{where} has no {attr!r}")
        obj = getattr(obj, part)
    return obj


def resolve(name: str, arg_specs: tuple[str, ...] = ()) -> Target:
    """The kernel `name` names, with the `--arg` specs (or the registry's default arguments)."""
    import tiledsl as td

    args, kwargs = parse_args(arg_specs)
    if ":" not in name:
        from tiledsl.kernels import registry

        entry = registry.get(name)
        if entry.launch is None:
            raise ArgumentError(f"kernel {name!r} does not expose its @td.kernel call to the registry; "
                                "name the kernel as module:function with --arg specs")
        launch = entry.launch(entry.mod(), entry.inputs(dict(entry.bench[0]), "meta"))
        return Target(launch.kernel, args, kwargs, entry, launch)
    obj = load_object(name)
    if not isinstance(obj, td.Kernel):
        raise ArgumentError(f"{name} is a {type(obj).__name__}, not a @td.kernel; name the kernel itself "
                            "or a registered kernel (see `tiledsl list`)")
    if not args and not kwargs:
        raise ArgumentError(f"{name} needs example arguments: add --arg specs ({SPEC_HELP})")
    return Target(obj, args, kwargs)
