"""Bad arguments at call time and at `.compile`, bad targets and backends, bad stage names, bad
decorator use: (case id, thunk). Each thunk raises; the test checks what it raises."""

from __future__ import annotations

import numpy as np
import torch

import tiledsl as td
from tests.error_corpus.arg_kernels import add_one, rows, scale


def _f(*shape, dtype=torch.float32, device="cpu"):
    return torch.zeros(*shape, dtype=dtype, device=device)


# bad argument tuples for add_one(x, y, n, BM=...)  (valid: (_f(16), _f(16), 16))
ADD_ONE_BAD = {
    "no_args": lambda: ((), {}),
    "one_arg": lambda: ((_f(16),), {}),
    "too_many": lambda: ((_f(16), _f(16), 16, 32, 5), {}),
    "unknown_kw": lambda: ((_f(16), _f(16), 16), {"bogus": 1}),
    "dup_kw": lambda: ((_f(16), _f(16), 16), {"x": _f(16)}),
    "n_tensor": lambda: ((_f(16), _f(16), _f(16)), {}),
    "n_str": lambda: ((_f(16), _f(16), "16"), {}),
    "n_none": lambda: ((_f(16), _f(16), None), {}),
    "n_list": lambda: ((_f(16), _f(16), [16]), {}),
    "n_huge": lambda: ((_f(16), _f(16), 2**70), {}),
    "n_complex": lambda: ((_f(16), _f(16), 1j), {}),
    "x_int": lambda: ((3, _f(16), 16), {}),
    "x_str": lambda: (("x", _f(16), 16), {}),
    "x_none": lambda: ((None, _f(16), 16), {}),
    "x_list": lambda: (([1.0, 2.0], _f(16), 16), {}),
    "x_numpy": lambda: ((np.zeros(16, np.float32), _f(16), 16), {}),
    "x_complex": lambda: ((_f(16, dtype=torch.complex64), _f(16), 16), {}),
    "x_bool_y_f32": lambda: ((_f(16, dtype=torch.bool), _f(16, dtype=torch.int8), 16), {}),
    "y_int8": lambda: ((_f(16), _f(16, dtype=torch.int8), 16), {}),
    "y_int32": lambda: ((_f(16), _f(16, dtype=torch.int32), 16), {}),
    "y_f16": lambda: ((_f(16), _f(16, dtype=torch.float16), 16), {}),
    "x_2d": lambda: ((_f(4, 4), _f(16), 16), {}),
    "x_0d": lambda: ((torch.tensor(1.0), _f(16), 16), {}),
    "x_meta": lambda: ((_f(16, device="meta"), _f(16), 16), {}),
    "BM_str": lambda: ((_f(16), _f(16), 16), {"BM": "64"}),
    "BM_float": lambda: ((_f(16), _f(16), 16), {"BM": 64.5}),
    "BM_zero": lambda: ((_f(16), _f(16), 16), {"BM": 0}),
    "BM_negative": lambda: ((_f(16), _f(16), 16), {"BM": -16}),
    "BM_tensor": lambda: ((_f(16), _f(16), 16), {"BM": _f(2)}),
    "BM_odd": lambda: ((_f(16), _f(16), 16), {"BM": 3}),
    "BM_list": lambda: ((_f(16), _f(16), 16), {"BM": [64]}),
    "BM_huge": lambda: ((_f(16), _f(16), 16), {"BM": 1 << 24}),
    "num_warps_3": lambda: ((_f(16), _f(16), 16), {"num_warps": 3}),
    "num_warps_0": lambda: ((_f(16), _f(16), 16), {"num_warps": 0}),
    "num_warps_str": lambda: ((_f(16), _f(16), 16), {"num_warps": "4"}),
    "num_warps_64": lambda: ((_f(16), _f(16), 16), {"num_warps": 64}),
}

# eager mode runs the body as Python and takes no knobs: block sizes and num_warps it does not check
EAGER_IGNORES = {"BM_zero", "BM_negative", "BM_odd", "BM_huge", "num_warps_3", "num_warps_64"}
# a block of 3 is a non-power-of-two tile: only Triton refuses it (`tiledsl.capabilities`)
IR_TAKES = {"BM_odd"}

CALLS = {
    "call_ir": lambda k, a, kw: k(*a, backend="ir", **kw),
    "call_triton": lambda k, a, kw: k(*a, backend="triton", **kw),
    "call_eager": lambda k, a, kw: k(*a, backend="eager", **kw),
    "compile_ir": lambda k, a, kw: k.compile(*a, backend="ir", target="h100", **kw),
    "compile_triton": lambda k, a, kw: k.compile(*a, backend="triton", target="h100", **kw),
}

# cases where the arguments are fine and the call is not
OTHER = {
    "backend_unknown": lambda: add_one(_f(16), _f(16), 16, backend="cuda"),
    "backend_int": lambda: add_one(_f(16), _f(16), 16, backend=3),
    "backend_upper": lambda: add_one(_f(16), _f(16), 16, backend="IR"),
    "compile_backend_unknown": lambda: add_one.compile(_f(16), _f(16), 16, backend="nope"),
    "compile_backend_eager": lambda: add_one.compile(_f(16), _f(16), 16, backend="eager"),
    "compile_backend_list": lambda: add_one.compile(_f(16), _f(16), 16, backend=["ir"]),
    "target_unknown": lambda: add_one.compile(_f(16), _f(16), 16, backend="triton", target="h900"),
    "target_int": lambda: add_one.compile(_f(16), _f(16), 16, backend="triton", target=5),
    "target_call_unknown": lambda: add_one(_f(16), _f(16), 16, backend="ir", target="nope"),
    "tilelang_on_cpu": lambda: add_one(_f(16), _f(16), 16, backend="tilelang"),
    "code_unknown_stage": lambda: add_one.compile(_f(16), _f(16), 16, backend="ir", target="h100").code("nope"),
    "code_stage_int": lambda: add_one.compile(_f(16), _f(16), 16, backend="ir", target="h100").code(3),
    "code_stage_none": lambda: add_one.compile(_f(16), _f(16), 16, backend="ir", target="h100").code(None),
    "code_triton_stage_on_ir": lambda: add_one.compile(_f(16), _f(16), 16, backend="ir", target="h100").code("cuda"),
    "scale_alpha_tensor": lambda: scale(_f(4), _f(4), backend="ir"),
    "scale_alpha_str": lambda: scale(_f(4), "2", backend="ir"),
    "scale_missing": lambda: scale(_f(4), backend="ir"),
    "scale_eager_alpha_str": lambda: scale(_f(4), "2", backend="eager"),
    "scale_eager_missing": lambda: scale(_f(4), backend="eager"),
    "rows_BN_missing": lambda: rows(_f(4, 4), _f(4, 4), backend="ir"),
    "rows_BN_runtime_tensor": lambda: rows(_f(4, 4), _f(4, 4), _f(1), backend="ir"),
    "rows_1d": lambda: rows(_f(4), _f(4), 4, backend="ir"),
    "kernel_of_int": lambda: td.kernel(3),
    "kernel_of_lambda": lambda: td.kernel(lambda x: x),
    "kernel_of_builtin": lambda: td.kernel(len),
    "kernel_of_class": lambda: td.kernel(type("C", (), {})),
    "kernel_bad_backend": lambda: td.kernel(backend="nope")(scale.fn)(_f(4), 2.0),
    "configure_unknown": lambda: td.configure(bogus=1),
    "configure_bad_backend": lambda: td.configure(backend="nope"),
    "configure_empty_target": lambda: td.configure(target=""),
    "configure_unknown_target": lambda: td.configure(target="h1000"),
    "call_empty_target": lambda: scale(_f(4), 2.0, backend="ir", target=""),
    "call_eager_unknown_target": lambda: scale(_f(4), 2.0, backend="eager", target="h1000"),
    "compile_empty_target": lambda: scale.compile(_f(4), 2.0, backend="ir", target=" "),
    "builtin_outside_kernel": lambda: td.exp(_f(4)),
    "load_outside_kernel": lambda: td.load(_f(4), (0,), (4,)),
    "grid_outside_kernel": lambda: td.grid(1),
}


def cases() -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for bad, make in ADD_ONE_BAD.items():
        for how, call in CALLS.items():
            if how == "call_eager" and bad in EAGER_IGNORES:
                continue
            if how in ("call_ir", "compile_ir") and bad in IR_TAKES:
                continue
            out.append((f"{how}-{bad}", lambda make=make, call=call: call(add_one, *make())))
    out += list(OTHER.items())
    return out
