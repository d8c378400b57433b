"""tiledsl: a tile-based GPU kernel language embedded in Python.

    import tiledsl as td

    @td.kernel
    def softmax(x: td.Tensor) -> td.Tensor:
        e = td.exp(x - td.max(x, axis=-1, keepdims=True))
        return e / td.sum(e, axis=-1, keepdims=True)

The public names are listed explicitly below; everything else is internal.
"""

from tiledsl.dtypes import DType
from tiledsl.errors import (
                            ArgumentError,
                            BackendError,
                            CannotExecuteError,
                            FrontendError,
                            InterpreterError,
                            KernelTypeError,
                            LevelError,
                            ParseError,
                            ScheduleError,
                            SourceError,
                            TiledslError,
                            VerifyError,
)
from tiledsl.language import (
                            Tensor,
                            abs_,
                            alloc_fragment,
                            alloc_local,
                            alloc_shared,
                            annotate_layout,
                            arange,
                            argmax,
                            argmin,
                            atomic_add,
                            atomic_max,
                            atomic_min,
                            atomic_xchg,
                            auto,
                            barrier,
                            bfloat16,
                            bool_,
                            broadcast_to,
                            cast,
                            cdiv,
                            ceil,
                            constexpr,
                            consumer,
                            copy,
                            cos,
                            cumsum,
                            dot,
                            erf,
                            exp,
                            exp2,
                            expand_dims,
                            float8_e4m3,
                            float8_e5m2,
                            float16,
                            float32,
                            float64,
                            floor,
                            full,
                            grid,
                            int8,
                            int16,
                            int32,
                            int64,
                            load,
                            log,
                            log2,
                            matmul,
                            max,
                            maximum,
                            min,
                            minimum,
                            pipelined,
                            prod,
                            producer,
                            reshape,
                            rsqrt,
                            shfl_down,
                            shfl_idx,
                            shfl_up,
                            shfl_xor,
                            sigmoid,
                            sin,
                            sqrt,
                            store,
                            sum,
                            take,
                            tanh,
                            threads,
                            trans,
                            uint8,
                            where,
                            zeros,
)
from tiledsl.language import Func, func
from tiledsl.runtime.kernel import CompiledKernel, Kernel, kernel
from tiledsl.settings import Settings, configure

abs = abs_  # noqa: A001 - td.abs mirrors numpy

__version__ = "0.1.0"

__all__ = [
    "ArgumentError", "BackendError", "CannotExecuteError", "CompiledKernel", "DType", "FrontendError",
    "InterpreterError", "Func", "func",
    "Kernel", "KernelTypeError", "LevelError", "ParseError", "ScheduleError", "Settings", "SourceError",
    "Tensor", "TiledslError", "VerifyError", "abs", "alloc_fragment", "alloc_local", "alloc_shared",
    "annotate_layout", "arange", "argmax", "argmin", "atomic_add", "atomic_max", "atomic_min",
    "atomic_xchg", "auto", "barrier", "bfloat16", "bool_", "broadcast_to", "cast", "cdiv", "ceil",
    "configure", "constexpr", "consumer", "copy", "cos", "cumsum", "dot", "erf", "exp", "exp2",
    "expand_dims", "float16", "float32", "float64", "float8_e4m3", "float8_e5m2", "floor", "full",
    "grid", "int16", "int32", "int64", "int8", "kernel", "load", "log", "log2", "matmul", "max",
    "maximum", "min", "minimum", "pipelined", "prod", "producer", "reshape", "rsqrt",
    "shfl_down", "shfl_idx", "shfl_up", "shfl_xor", "sigmoid", "sin", "sqrt", "store", "sum", "take",
    "tanh", "threads", "trans", "uint8", "where", "zeros",
]
