"""A call's arguments: checks that give one clear `ArgumentError`, and the keys compiled kernels
are cached under.

Two keys, one rule: a key holds everything of an argument that can change the compiled kernel.

- `arg_key` (the warm path, per positional argument, no binding): a tensor's shape, strides,
  dtype and device; a runtime number's compiled dtype (``i1``, ``i32``, ``i64``, ``f64``); a constexpr's type
  and value. Anything else raises `NoFastKey` and the call takes the slow path, which checks it.
- `compile_key` (the slow path, on bound arguments): the same per parameter plus an int
  scalar's divisibility by 16, the knob values, backend, target and the settings that change
  generated code (`Kernel.__call__` drops its warm entries when the settings change).

Strides are in both keys: the Triton code addresses a tensor with 64-bit offsets only where its
shape and strides let an offset pass 2**31 (a same-shape view of a huge buffer must not reuse a
32-bit kernel), and the ahead-of-time signature specialises strides of 1. An int scalar's
divisibility by 16 is in the slow key only: it changes the ahead-of-time signature alone (Triton's
JIT specialises per call).
"""

from __future__ import annotations

from typing import Any

from tiledsl.dtypes import DType
from tiledsl.errors import ArgumentError
from tiledsl.language import AutoKnob, auto
from tiledsl.specs import I32_RANGE, I64_RANGE, ScalarSpec, TensorSpec, spec

CONSTEXPR_KINDS = "an int, float, bool, dtype (td.float16, ...) or td.auto"


class NoFastKey(Exception):
    """An argument the warm path does not key (the slow path checks and keys it)."""


def is_auto(x) -> bool:
    return x is auto or isinstance(x, AutoKnob)


# torch.Tensor and the subclasses seen so far: the warm path's first test (torch imported lazily)
_TENSOR_TYPES: set[type] = set()


def arg_key(a: Any, const: bool) -> Any:
    """Warm-path key of one positional argument; `const` when its parameter is a constexpr."""
    t = type(a)
    if t in _TENSOR_TYPES:  # strides decide 64-bit offsets: see the module docstring
        return (a.shape, a.stride(), a.dtype, a.device)
    if t is int:
        if const:
            return (int, a)
        if I32_RANGE[0] <= a <= I32_RANGE[1]:
            return "i32"
        if I64_RANGE[0] <= a <= I64_RANGE[1]:
            return "i64"
        raise NoFastKey
    if t is float:  # repr: -0.0 == 0.0, and nan != nan
        return (t, repr(a)) if const else "f64"
    if t is bool:  # not isinstance: True == 1 == 1.0 hash alike
        return (t, a) if const else "i1"
    if t is DType or is_auto(a):
        return (t, a)
    if _is_torch_tensor(a):
        _TENSOR_TYPES.add(t)
        return arg_key(a, const)
    raise NoFastKey


def is_constexpr(kind: str, value: Any) -> bool:
    """Whether a bound value is taken at compile time (as the front end decides)."""
    return kind == "constexpr" or (kind == "any" and (is_auto(value) or isinstance(value, DType)))


def compile_key(params, bound: dict, knob_values: dict, backend: str, target) -> tuple:
    """Slow-path key: every parameter's compile-relevant facts, knobs, backend, target, settings."""
    from tiledsl.settings import settings

    s = settings()
    per_param = tuple(_param_key(p.kind, bound[p.name]) for p in params)
    return (per_param, tuple(sorted(knob_values.items(), key=lambda kv: kv[0])), backend, target,
            ("tma", s.tma), ("autotune", s.autotune, s.autotune_top_n))


def _param_key(kind: str, v: Any) -> tuple:
    if is_constexpr(kind, v):
        return ("c", type(v), repr(v) if isinstance(v, float) else v)
    s = spec(v)
    if isinstance(s, TensorSpec):
        return ("t", s.shape, s.dtype, s.device, s.effective_strides)
    # the dtype decides the code; an int's divisibility by 16 decides the ahead-of-time signature
    div16 = s.dtype.is_int and isinstance(s.value, int) and s.value % 16 == 0 and s.value != 0
    return ("s", s.dtype, div16)


# --- checks ---------------------------------------------------------------------------------------
def check_bound(name: str, params, bound: dict, running: bool) -> None:
    """Raise one `ArgumentError` naming the parameter for an argument no backend can take (or,
    when `running`, cannot run on: a meta tensor compiles but has no data)."""
    devices: dict[str, str] = {}
    for p in params:
        v = bound[p.name] = _plain_number(bound[p.name])
        if p.kind == "constexpr":
            _check_constexpr(name, p.name, v)
        elif not is_constexpr(p.kind, v):
            dev = _check_value(name, p.name, p.kind, v)
            if dev is not None:
                devices.setdefault(dev, p.name)
    if len(devices) > 1:
        where = ", ".join(f"{p} on {d}" for d, p in devices.items())
        raise ArgumentError(f"{name}(): tensors are on different devices ({where}); "
                            "move them to one device first (e.g. y.to(x.device))")
    if running and "meta" in devices:
        raise ArgumentError(f"{name}(): tensor {devices['meta']!r} is on the meta device and has no "
                            f"data to run on; pass a CPU or CUDA tensor, or call {name}.compile(...) "
                            "to compile without running")


def _plain_number(v: Any) -> Any:
    """A subclass of a Python number (np.float64 is a float) as the plain number it equals, so
    what reaches the IR and the keys is an int, float or bool."""
    t = type(v)
    if t in (int, float, bool) or not isinstance(v, (int, float)):
        return v
    return bool(v) if isinstance(v, bool) else int(v) if isinstance(v, int) else float(v)


def _check_constexpr(name: str, pname: str, v: Any) -> None:
    if isinstance(v, (int, float, DType)) or is_auto(v):  # bool is an int; np.float64 a float
        return
    hint = ""
    if isinstance(v, str) and _is_number_text(v):
        hint = f"; to pass the number, write {pname}={v.strip()}"
    elif type(v).__module__ == "torch" and type(v).__name__ == "dtype":
        hint = f"; for {v}, pass {_td_dtype_name(v)}"
    elif hasattr(v, "item") and getattr(v, "shape", ()) == ():
        hint = f"; for a numpy or torch scalar, pass {pname}.item()"
    raise ArgumentError(f"{name}(): constexpr {pname!r} got {type(v).__name__} {v!r}; pass "
                        f"{CONSTEXPR_KINDS}{hint}")


def _td_dtype_name(torch_dtype) -> str:
    from tiledsl.dtypes import PUBLIC_NAME, from_torch

    try:
        return f"td.{PUBLIC_NAME[from_torch(torch_dtype)]}"
    except KeyError:
        return "a td dtype (td.float16, td.bfloat16, td.float32, ...)"


def _is_number_text(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _check_value(name: str, pname: str, kind: str, v: Any) -> str | None:
    """A tensor or runtime number: its device (tensors), or an error."""
    if isinstance(v, (TensorSpec, ScalarSpec)) or _is_shape_dtype_pair(v):
        return None  # a spec names a device type only; tensors decide
    if isinstance(v, int) and not isinstance(v, bool):
        if not I64_RANGE[0] <= v <= I64_RANGE[1]:
            raise ArgumentError(f"{name}(): {pname}={v} does not fit in a 64-bit integer; pass a value "
                                f"from {I64_RANGE[0]} to {I64_RANGE[1]}, or a float")
        return None
    if isinstance(v, (float, bool)):  # np.float64 is a float
        return None
    if _is_torch_tensor(v):
        return _check_tensor(name, pname, v)
    want = "a torch tensor" if kind == "tensor" else "a number" if kind == "scalar" else \
        "a torch tensor or a number"
    tname = f"{type(v).__module__}.{type(v).__name__}" if type(v).__module__ != "builtins" else type(v).__name__
    hint = ""
    if hasattr(v, "__array__") and getattr(v, "shape", ()) != ():
        hint = f" (torch.from_numpy({pname}) or torch.as_tensor({pname}))"
    elif hasattr(v, "item"):
        hint = f" ({pname}.item() for a numpy or torch scalar)"
    raise ArgumentError(f"{name}(): parameter {pname!r} got {tname}; pass {want}{hint}")


def _is_shape_dtype_pair(v: Any) -> bool:
    """The ``((64, 64), td.float16)`` form `kernel.compile` accepts."""
    return isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], DType)


def _is_torch_tensor(v: Any) -> bool:
    import torch

    return isinstance(v, torch.Tensor)


def _check_tensor(name: str, pname: str, t) -> str:
    try:
        spec(t)  # unsupported dtypes raise here
    except ArgumentError as e:
        raise ArgumentError(f"{name}(): parameter {pname!r}: {e}") from None
    return str(t.device)


def check_num_warps(name: str, knob_values: dict) -> None:
    if "num_warps" not in knob_values:
        return
    w = knob_values["num_warps"]
    if w is None or is_auto(w):
        knob_values["num_warps"] = None
        return
    if type(w) is not int or not 1 <= w <= 32:
        raise ArgumentError(f"{name}(): num_warps={w!r}; pass a whole number of warps from 1 to 32 "
                            "(a power of two, e.g. 4 or 8), or leave it out to let the scheduler choose")
