"""The one op enum of the IR, grouped by level.

Each member's value is ``(group, ir_name)``. Semantics are documented here once; every other fact
of an op (arity, attrs, operand dtypes, effects, folding, public name) is declared once in the op
table, `tiledsl.ir.optable.OPS`. The shape rule of each op is in `tiledsl.ir.infer`, its
interpreter rule in `tiledsl.interp`, its emission in each backend's table, all keyed by `Op`.

Groups and where they may appear (enforced by `tiledsl.ir.verify`):

- CORE, MATH, SHAPE: any level, any stage.
- DATAFLOW (level 1): whole-tensor ops on ``global`` values. Gone after scheduling.
- TILE (level 2): the tile program: grid, loads/stores, dots, tile reductions, buffers, atomics.
- THREAD (level 3): thread binding, per-thread storage, shuffles, barriers, layouts, warp roles.
  Only the TileLang backend and the IR interpreter take them.
"""

from __future__ import annotations

import enum


class Group(enum.Enum):
    CORE = "core"
    MATH = "math"
    SHAPE = "shape"
    DATAFLOW = "dataflow"
    TILE = "tile"
    THREAD = "thread"


class Op(enum.Enum):
    # --- CORE -------------------------------------------------------------------------------
    CONST = (Group.CORE, "const")  # attrs: value -> scalar of the result dtype
    DIM = (Group.CORE, "dim")  # (tensor) attrs: axis -> i32 scalar: runtime size of that axis
    FOR = (Group.CORE, "for")  # (start, stop, step, *inits) attrs: stages (None | int | Sym)
    #   region 0 args: (iv: i32, *carried); ends in YIELD(*next); results: final carried values.
    #   stages=None is a plain loop; an int or knob is a software-pipelined loop of that depth.
    #   expect (optional): the trip count the cost model assumes when the bounds depend on data
    #   (an expression of ints, knobs and tensor sizes: `tiledsl.ir.trips`); no effect on results.
    IF = (Group.CORE, "if")  # (cond: i1 scalar) regions (then, else), each ends in YIELD
    YIELD = (Group.CORE, "yield")  # terminator of FOR / IF regions
    RETURN = (Group.CORE, "return")  # (*values): level-1 kernel outputs, allocated by the runtime

    # --- MATH: elementwise with numpy broadcasting; operands already share one dtype ----------
    NEG = (Group.MATH, "neg")
    NOT = (Group.MATH, "not")
    ABS = (Group.MATH, "abs")
    EXP = (Group.MATH, "exp")
    EXP2 = (Group.MATH, "exp2")
    LOG = (Group.MATH, "log")
    LOG2 = (Group.MATH, "log2")
    LOG1P = (Group.MATH, "log1p")  # log(1 + x), exact for tiny x (1e-8 stays 1e-8)
    SQRT = (Group.MATH, "sqrt")
    RSQRT = (Group.MATH, "rsqrt")
    SIN = (Group.MATH, "sin")
    COS = (Group.MATH, "cos")
    TANH = (Group.MATH, "tanh")
    SIGMOID = (Group.MATH, "sigmoid")
    ERF = (Group.MATH, "erf")
    FLOOR = (Group.MATH, "floor")
    CEIL = (Group.MATH, "ceil")
    ADD = (Group.MATH, "add")
    SUB = (Group.MATH, "sub")
    MUL = (Group.MATH, "mul")
    DIV = (Group.MATH, "div")  # float division (the front end casts ints to f32 first)
    FLOORDIV = (Group.MATH, "floordiv")  # python // semantics
    MOD = (Group.MATH, "mod")  # python % semantics
    POW = (Group.MATH, "pow")
    MAXIMUM = (Group.MATH, "maximum")
    MINIMUM = (Group.MATH, "minimum")
    EQ = (Group.MATH, "eq")
    NE = (Group.MATH, "ne")
    LT = (Group.MATH, "lt")
    LE = (Group.MATH, "le")
    GT = (Group.MATH, "gt")
    GE = (Group.MATH, "ge")
    AND = (Group.MATH, "and")  # logical for i1, bitwise for ints
    OR = (Group.MATH, "or")
    XOR = (Group.MATH, "xor")
    SHL = (Group.MATH, "shl")
    SHR = (Group.MATH, "shr")
    WHERE = (Group.MATH, "where")  # (cond: i1, a, b)
    # (x, lo, hi): min(max(x, lo), hi) as torch.clamp (lo > hi gives hi); NaN in any operand gives NaN
    CLAMP = (Group.MATH, "clamp")
    CAST = (Group.MATH, "cast")  # attrs: dtype. Float->fp8 saturates to the type's finite range.

    # --- SHAPE ----------------------------------------------------------------------------------
    EXPAND_DIMS = (Group.SHAPE, "expand_dims")  # attrs: axis
    TRANSPOSE = (Group.SHAPE, "transpose")  # attrs: perm (tuple of ints)
    RESHAPE = (Group.SHAPE, "reshape")  # attrs: shape
    BROADCAST_TO = (Group.SHAPE, "broadcast_to")  # attrs: shape

    # --- DATAFLOW (level 1, whole tensors) ------------------------------------------------------
    REDUCE = (Group.DATAFLOW, "reduce")  # attrs: kind (sum|max|min|prod|argmax|argmin), axis, keepdims
    MATMUL = (Group.DATAFLOW, "matmul")  # (a [.., M, K], b [K, N]) -> a @ b in the promoted dtype,
    #   accumulated in f32
    GATHER = (Group.DATAFLOW, "gather")  # (x, idx: int tensor) attrs: axis -> x.index_select(axis, idx)

    # --- TILE (level 2) ---------------------------------------------------------------------------
    GRID = (Group.TILE, "grid")  # (*sizes: 1..3 i32 scalars) region args: program ids
    #   attrs: group_m (optional int): launch order grouped Triton-style, group_m ids of axis 0 per id of axis 1
    LOAD = (Group.TILE, "load")  # (src, *offsets, [mask]) attrs: shape, masked, other
    #   src is a global tensor or a buffer; len(offsets) == src rank. shape[i] is an int/knob
    #   (a block of that size starting at a scalar offset, or the indices of a 1-D int tile
    #   offset: a gather) or None (a scalar offset; the axis is dropped). Elements outside the
    #   tensor (index < 0 or >= size) read `other` (default 0) and are never touched.
    STORE = (Group.TILE, "store")  # (dst, *offsets, value, [mask]) attrs: shape, masked
    #   writes only in-bounds elements (and where mask is true).
    ATOMIC = (Group.TILE, "atomic")  # (dst, *offsets, value, [mask]) attrs: kind (add|max|min|xchg),
    #   shape, masked -> old values
    ARANGE = (Group.TILE, "arange")  # attrs: start, end (int or Sym) -> i32 tile [end - start]
    FULL = (Group.TILE, "full")  # attrs: shape, value, dtype -> tile filled with value
    DOT = (Group.TILE, "dot")  # (a [M, K], b [K, N], [acc [M, N]]) attrs: dtype (accumulator type)
    #   -> acc + a @ b, products and sums in the accumulator type
    TILE_REDUCE = (Group.TILE, "tile_reduce")  # (x) attrs: kind, axis, keepdims
    SCAN = (Group.TILE, "scan")  # (x) attrs: kind (sum), axis -> inclusive prefix scan
    ALLOC = (Group.TILE, "alloc")  # attrs: shape, dtype, space (shared|fragment) -> buffer
    #   (contents undefined until written)
    COPY = (Group.TILE, "copy")  # (src, dst, *offsets) attrs: shape. Offsets index whichever
    #   side is a global tensor (a masked window of the buffer's shape); buffer to buffer and
    #   tile to buffer copies take no offsets. No results.

    # --- THREAD (level 3) -------------------------------------------------------------------------
    THREADS = (Group.THREAD, "threads")  # attrs: count; region args: (tid: i32). The region
    #   runs once per thread; values in it are per-thread.
    ALLOC_LOCAL = (Group.THREAD, "alloc_local")  # attrs: shape, dtype -> per-thread buffer
    SHUFFLE = (Group.THREAD, "shuffle")  # (value, lane) attrs: mode (xor|down|up|idx), width
    #   -> value held by the lane (tid ^ lane | tid + lane | tid - lane | lane) of the same warp
    BARRIER = (Group.THREAD, "barrier")  # all threads of the block meet here
    LAYOUT = (Group.THREAD, "layout")  # (buffer) attrs: swizzle (bytes, 0 for none). Annotation.
    WARP_ROLE = (Group.THREAD, "warp_role")  # attrs: role (producer|consumer); region runs on
    #   the warps of that role in a warp-specialized block

    @property
    def group(self) -> Group:
        return self.value[0]

    @property
    def ir_name(self) -> str:
        return self.value[1]

    def __repr__(self) -> str:
        return f"Op.{self.name}"


BY_NAME: dict[str, Op] = {op.ir_name: op for op in Op}

# Which ops are unary, binary, float-only, effectful, ...: the op table (`tiledsl.ir.optable`).
