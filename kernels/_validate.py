"""Input checks shared by the reference kernels.

Each check raises `tiledsl.ArgumentError` whose message names the kernel, the argument and what
was wrong, and ends with a hint saying what to pass instead. The checks run in the Python wrapper,
before anything is compiled, so a bad call never reaches generated code (where it would read out of
bounds or give silently wrong numbers).

Use: ``v = Validator("fp8_gemm_nt")`` then ``v.tensor("a", a, dtypes=FP8, ndim=2)``,
``v.shape("sfa", sfa, (M, cdiv(K, 128)))``, ``v.same_device(a=a, b=b)``, ``v.multiple("K", K, 128)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from tiledsl.errors import ArgumentError

FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
HALF_DTYPES = (torch.float16, torch.bfloat16)
FP8_DTYPES = (torch.float8_e4m3fn,)
INDEX_DTYPES = (torch.int32,)


def _names(dtypes: Iterable[torch.dtype]) -> str:
    return ", ".join(str(d).removeprefix("torch.") for d in dtypes)


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


class Validator:
    """Checks for one call of one kernel; every error starts with the kernel's name."""

    def __init__(self, kernel: str):
        self.kernel = kernel

    def fail(self, what: str, hint: str) -> ArgumentError:
        return ArgumentError(f"{self.kernel}: {what}\nhint: {hint}")

    def tensor(self, name: str, t, *, dtypes: Sequence[torch.dtype] | None = None, ndim: int | None = None,
               contiguous: bool = True) -> torch.Tensor:
        """`t` is a torch tensor with one of `dtypes`, `ndim` axes and (by default) contiguous."""
        if not isinstance(t, torch.Tensor):
            raise self.fail(f"{name} must be a torch.Tensor, got {type(t).__name__}",
                            f"pass {name} as a torch tensor")
        if dtypes is not None and t.dtype not in dtypes:
            raise self.fail(f"{name} has dtype {str(t.dtype).removeprefix('torch.')}; "
                            f"expected {_names(dtypes)}",
                            f"convert it first, e.g. {name}.to(torch.{_names(dtypes[:1])})")
        if ndim is not None and t.dim() != ndim:
            raise self.fail(f"{name} has {t.dim()} dimensions (shape {tuple(t.shape)}); expected {ndim}",
                            f"pass {name} with {ndim} dimensions")
        if contiguous and not t.is_contiguous():
            raise self.fail(f"{name} is not contiguous (strides {tuple(t.stride())})",
                            f"pass {name}.contiguous()")
        return t

    def shape(self, name: str, t: torch.Tensor, expected: Sequence[int], why: str = "") -> None:
        """`t.shape` equals `expected` exactly."""
        if tuple(t.shape) != tuple(expected):
            because = f" ({why})" if why else ""
            raise self.fail(f"{name} has shape {tuple(t.shape)}; expected {tuple(expected)}{because}",
                            f"pass {name} with shape {tuple(expected)}")

    def equal(self, what: str, got: int, expected: int, hint: str) -> None:
        if got != expected:
            raise self.fail(f"{what} is {got} but must equal {expected}", hint)

    def multiple(self, what: str, value: int, of: int, why: str) -> None:
        """`value` is a multiple of `of` (an alignment the kernel relies on)."""
        if value % of:
            raise self.fail(f"{what} is {value}, not a multiple of {of}: {why}",
                            f"pad {what} up to a multiple of {of}")

    def same_device(self, **tensors: torch.Tensor) -> torch.device:
        """All tensors sit on one device; returns it."""
        devices = {n: t.device for n, t in tensors.items()}
        first = next(iter(devices.values()))
        for n, d in devices.items():
            if d != first:
                listing = ", ".join(f"{k} on {v}" for k, v in devices.items())
                raise self.fail(f"tensors are on different devices: {listing}",
                                f"move them to one device, e.g. {n}.to({str(first)!r})")
        return first

    def index_range(self, name: str, t: torch.Tensor, lo: int, hi: int) -> None:
        """Every element of the integer tensor `t` is in [lo, hi]. Reads the values, so a CUDA
        tensor costs a device sync: callers do this for CPU tensors (where an out-of-range index
        would otherwise read outside a tensor in the interpreter) and leave CUDA calls fast."""
        if t.numel() == 0:
            return
        mn, mx = int(t.min()), int(t.max())
        if mn < lo or mx > hi:
            raise self.fail(f"{name} holds values in [{mn}, {mx}]; they must lie in [{lo}, {hi}]",
                            f"fix {name}")
