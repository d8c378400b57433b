"""Bad kernels: every `td.*` builtin misused, Python the language does not take, level misuse.

A case is a statement (possibly several lines) put into one of the templates below; all cases go into
one generated module (a real file, so the front end can read their source)."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

# x: f32[8, 8], y: f32[32], ix: i32[8], n: int (4), B: constexpr (4)
SIGNATURE = "x: td.Tensor, y: td.Tensor, ix: td.Tensor, n: int, B: td.constexpr = 4"

TEMPLATES = {
    # level 1: whole-tensor code
    "l1": """\
def {name}({sig}) -> td.Tensor:
{body}
    return x + 1
""",
    # level 2: inside a grid, with a 2-D tile t, a 1-D tile v and a scalar s at hand
    "l2": """\
def {name}({sig}):
    with td.grid(1) as p:
        t = td.load(x, (0, 0), (4, 4))
        v = td.load(y, (0,), (4,))
        s = td.load(y, (0,))
{body}
        td.store(y, (0,), v)
""",
    # level 3: inside td.threads, with a per-thread scalar a
    "l3": """\
def {name}({sig}):
    with td.grid(1) as p:
        with td.threads(32) as tid:
            a = td.load(y, (tid,))
{body}
            td.store(y, (tid,), a)
""",
    # a whole kernel (its body is the case)
    "raw": "{body}",
}
INDENT = {"l1": 4, "l2": 8, "l3": 12, "raw": 0}


@dataclass(frozen=True)
class KernelCase:
    name: str
    template: str
    body: str
    decorate_error: bool = False  # the error comes at @td.kernel, not at the call

    def source(self) -> str:
        body = textwrap.indent(textwrap.dedent(self.body).strip("\n"), " " * INDENT[self.template])
        return TEMPLATES[self.template].format(name=self.name, sig=SIGNATURE, body=body)


UNARY = ["exp", "exp2", "log", "log2", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "erf", "floor",
         "ceil", "abs"]
UNARY_BAD = ["td.{op}()", "td.{op}(v, v)", "td.{op}('a')", "td.{op}(None)", "td.{op}(v, bogus=1)",
             "td.{op}(x)", "td.{op}((1, 2))"]
BINARY = ["maximum", "minimum"]
BINARY_BAD = ["td.{op}(v)", "td.{op}(v, v, v)", "td.{op}(v, t[:, :3])", "td.{op}(v, 'a')", "td.{op}(x, v)",
              "td.{op}(v, None)", "td.{op}(t, td.load(x, (0, 0), (4, 2)))"]
REDUCE = ["sum", "max", "min", "prod", "argmax", "argmin"]
REDUCE_BAD = ["td.{op}(t, axis=2)", "td.{op}(t, axis=-3)", "td.{op}(t, axis=1.5)", "td.{op}(t, axis='a')",
              "td.{op}(t, axis=n)", "td.{op}(t, 0, False, 1)", "td.{op}()", "td.{op}(t, keepdims=n)",
              "td.{op}('a', axis=0)", "td.{op}(t, axes=0)", "td.{op}(x, axis=0)"]
ATOMIC = ["atomic_add", "atomic_max", "atomic_min", "atomic_xchg"]
ATOMIC_BAD = ["td.{op}(y, (0,))", "td.{op}(y, 0, v)", "td.{op}(y, (0, 0), v)", "td.{op}(v, (0,), v)",
              "td.{op}(y, (0,), t)", "td.{op}(y, (0,), v, mask=t > 0)", "td.{op}(y, (0,), 'a')",
              "td.{op}(y, (0.5,), v)", "td.{op}(ix, (0,), 1.5)"]
SHFL = ["shfl_xor", "shfl_down", "shfl_up", "shfl_idx"]
SHFL_BAD = ["td.{op}(a)", "td.{op}(a, 1.5)", "td.{op}(a, 1, width=33)", "td.{op}(a, 1, width=0)",
            "td.{op}(a, 'a')", "td.{op}(a, 1, 32, 4)", "td.{op}(y, 1)"]

L2_BAD = [
    # where / cast / cdiv
    "td.where(v > 0, v)", "td.where(v, v, v)", "td.where(v > 0, v, t[:, :3])", "td.where(v > 0, 'a', v)",
    "td.where(t > 0, v[:3], v)", "td.cast(v)", "td.cast(v, 'f32')", "td.cast(v, torch_dtype)",
    "td.cast(v, td.float32, 1)", "v.to('int')", "v.to()", "v.to(td.int32, td.int8)", "td.cdiv(v, 0)",
    "td.cdiv(1)", "td.cdiv(1.5, 'a')", "td.cdiv(n, 0)",
    # cumsum / expand_dims / trans / reshape / broadcast_to
    "td.cumsum(t, axis=2)", "td.cumsum(t, axis='x')", "td.cumsum()", "td.cumsum(t, 0, 1)",
    "td.expand_dims(t)", "td.expand_dims(t, 3)", "td.expand_dims(t, -4)", "td.expand_dims(t, 'a')",
    "td.expand_dims(s, 2)", "td.trans(t, 0)", "td.trans(t, 0, 0)", "td.trans(t, 0, 1, 2)", "td.trans(t, 'a', 0)",
    "td.trans(s)", "td.reshape(t, (3, 5))", "td.reshape(t, (-1, -1))", "td.reshape(t, 16, 1)", "td.reshape(t)",
    "td.reshape(t, ('a', 4))", "td.reshape(t, (n, 4))", "td.reshape(t, (0, 16))", "td.broadcast_to(t, (3, 4))",
    "td.broadcast_to(t, (4,))", "td.broadcast_to(t)", "td.broadcast_to(t, 'a')", "td.broadcast_to(v, (n, 4))",
    # dot
    "td.dot(t)", "td.dot(t, v)", "td.dot(v, v)", "td.dot(t, t[:, :3])", "td.dot(t, t, acc=v)",
    "td.dot(t, t, out_dtype='f32')", "td.dot(t, t, out_dtype=td.int8)", "td.dot(t, 'a')",
    "td.dot(t.to(td.int8), t)", "td.dot(t, t, t, td.float32, 1)", "td.dot(s, s)",
    "td.dot(t, t, acc=td.zeros((4, 4), td.int32))",
    # level-1 ops inside a grid
    "td.matmul(t, t)", "td.matmul(x, x)", "td.take(t, v)", "td.take(x, ix)", "r = x + 1", "r = x * t",
    "r = td.exp(x)", "r = td.sum(x, axis=0)", "r = x[ix]", "r = x.T",
    # load / store / copy
    "td.load()", "td.load(x)", "td.load(x, (0,), (4, 4))", "td.load(x, (0, 0), (4,))", "td.load(x, 0, (4, 4))",
    "td.load(x, (0, 0), (4, 4), mask=v > 0)", "td.load(x, (0, 0), (4, 4), other='a')",
    "td.load(x, (0.5, 0), (4, 4))", "td.load(x, (0, 0), (4.0, 4))", "td.load(x, (0, 0), (n, 4))",
    "td.load(x, (0, 0), (-4, 4))", "td.load(x, (0, 0), (0, 4))", "td.load(x, ('a', 0), (4, 4))",
    "td.load(v, (0,), (4,))", "td.load(x, (0, 0), (4, 4), bogus=1)", "td.load(ix, (0,), (4,), other=1.5)",
    "td.load(x, (0, 0), (3, 4))", "td.load(x, (0, 0), (4, 4), mask='a')",
    "td.store()", "td.store(y, (0,))", "td.store(y, (0, 0), v)", "td.store(x, (0, 0), v[:3])",
    "td.store(x, (0,), t)", "td.store(v, (0,), v)", "td.store(y, (0,), 'a')", "td.store(y, (0,), None)",
    "td.store(y, 0, v)", "td.store(y, (0,), v, mask=t > 0)", "td.store(ix, (0,), v)",
    "td.store(y, (0,), v, bogus=1)", "td.store(y, (0.5,), v)", "td.store(y, (0,), x)",
    "td.copy(v)", "td.copy(v, y)", "td.copy(v, v)", "td.copy(t, y, (0,))", "td.copy(y, v, (0,))",
    "td.copy('a', y, (0,))",
    # arange / zeros / full
    "td.arange()", "td.arange(0, n)", "td.arange(4, 0)", "td.arange(0, 5)", "td.arange(0.5, 4)",
    "td.arange('a')", "td.arange(0, 4, 1)", "td.arange(0, 2**40)",
    "td.zeros()", "td.zeros((4,))", "td.zeros((4,), 'f32')", "td.zeros((n,), td.float32)",
    "td.zeros((-1,), td.float32)", "td.zeros(4.5, td.float32)", "td.zeros((4,), td.float32, 1)",
    "td.zeros(('a',), td.float32)", "td.full((4,), 1.0)", "td.full((4,), 'a', td.float32)",
    "td.full((4,), v, td.float32)", "td.full((4,), 300, td.int8)", "td.full((4,), -1, td.uint8)",
    "td.full((4,), 1.5, td.int32)", "td.full((4,), float('inf'), td.int32)", "td.full((4,), 1, 'i32')",
    # allocs / layout / barrier / roles at level 2
    "b = td.alloc_shared((4,))", "b = td.alloc_shared((4,), 'f32')", "b = td.alloc_shared((n,), td.float32)",
    "b = td.alloc_fragment((-4,), td.float32)", "b = td.alloc_fragment((4,), td.float32, 1)",
    "b = td.alloc_fragment((4.5,), td.float32)", "b = td.alloc_local((4,), td.float32)",
    "td.annotate_layout(v)", "td.annotate_layout(td.alloc_shared((4,), td.float32), swizzle=48)",
    "td.annotate_layout(td.alloc_shared((4,), td.float32), swizzle='a')", "td.barrier()", "td.barrier(1)",
    "td.shfl_xor(v, 1)", "td.shfl_idx(s, 0)",
    """
    b = td.alloc_shared((4,), td.float32)
    b[0] = 1.0
    """,
    """
    b = td.alloc_fragment((4,), td.float32)
    td.copy(t, b)
    """,
    """
    b = td.alloc_fragment((4,), td.float32)
    td.copy(b, y, (0, 0))
    """,
    # grids and pipelines in the wrong place or with wrong arguments
    """
    with td.grid(2) as q:
        pass
    """,
    """
    for k in td.pipelined(n, stages=-1):
        v = v + 1
    """,
    """
    for k in td.pipelined(n, stages='a'):
        v = v + 1
    """,
    """
    for k in td.pipelined():
        v = v + 1
    """,
    """
    for k in td.pipelined(1.5):
        v = v + 1
    """,
    """
    for k in td.pipelined(n, bogus=2):
        v = v + 1
    """,
    """
    for k in range(1.5):
        v = v + 1
    """,
    """
    for k in range(0, n, 0):
        v = v + 1
    """,
    """
    for k in range('a'):
        v = v + 1
    """,
    """
    for k in range(n):
        v = v[:2]
    """,
    """
    for k in range(n):
        v = v.to(td.int32)
    """,
    """
    for k in [1, 2]:
        v = v + k
    """,
    """
    for k, j in range(n):
        v = v + k
    """,
    """
    for k in range(n):
        v = v + 1
    else:
        v = v + 2
    """,
    """
    if v:
        v = v + 1
    """,
    """
    if n > 0:
        w = v + 1
    v = w
    """,
    """
    if t > 0:
        v = v + 1
    """,
    """
    if n > 0:
        v = v + 1
    else:
        v = v[:2]
    """,
    """
    if n > 0:
        v = v + 1
    else:
        v = t
    """,
    "return v",
    "return",
    # with-statements the language does not take
    """
    with td.threads(32) as tid, td.threads(32) as u:
        pass
    """,
    """
    with open('f') as fh:
        pass
    """,
    """
    with td.grid(1):
        pass
    """,
    """
    with td.threads(0) as tid:
        pass
    """,
    """
    with td.threads(n) as tid:
        pass
    """,
    """
    with td.threads(32.5) as tid:
        pass
    """,
    """
    with td.threads(100000) as tid:
        pass
    """,
    """
    with td.producer(1):
        pass
    """,
    """
    with td.threads(32) as (a, b):
        pass
    """,
    """
    with td.threads(32):
        pass
    """,
    """
    with td.load(y, (0,), (4,)) as w:
        pass
    """,
    # indexing, attributes and operators the language does not define
    "r = v[::2]", "r = v[1:3]", "r = v[ix]", "r = v[0]", "r = t[0, 0]", "r = v['a']", "r = v[:, :, None, :, :]",
    "r = v.shape[5]", "r = v.bogus", "r = t.T.T.foo", "r = v @ v", "r = t @ v", "r = v + 'a'", "r = v + None",
    "r = v & v", "r = v << 1.5", "r = ~v", "r = v ** v", "r = v % 'a'", "r = v // 0", "r = n // 0", "r = n % 0",
    "r = v + (1, 2)", "r = v + [1, 2]", "r = v.to(td.int32) & 1.5", "r = v + t[:, :3]", "r = -'a'",
    "r = v < 'a'", "r = v and v", "r = v if v else v", "r = not v", "r = abs('a')", "r = min(v, v)",
    "r = max(n)", "r = float(v)", "r = int(v)", "r = len(v)", "r = print(v)", "r = range(n)", "r = v.sum()",
    "r = v.to(td.float8_e4m3) + v.to(td.float8_e5m2)", "r = 2 ** 100 + v.to(td.int32)",
    "r = td.float32(v, v)", "r = td.Tensor(v)", "r = td.auto + 1", "r = td.grid(1)", "r = td.threads(32)",
    "r = td.bogus(v)", "r = td.func(v)", "r = td.kernel(v)", "r = torch.exp(v)", "r = math.exp(v)",
    "r = math.pi + 'a'", "r = v.to(td.bool_) + 1.5j",
    # assignments the language does not take
    "v[0] = 1.0", "v.foo = 1", "x[0] = 1.0", "t[0, :] = 0.0", "(a, b) = v", "a, *b = (1, 2, 3)",
    "a, b = 1, 2, 3", "v += t", "v += 'a'", "n = 'a' + 1", "B = 8", "p = 1", "del v", "v: int = 'a'",
    # names
    "r = nope + 1", "r = v + undefined_name", "r = td.nope", "nope(v)", "r = v + zz.y",
    # Python statements and expressions the language does not take
    """
    while n > 0:
        n = n - 1
    """,
    """
    try:
        v = v + 1
    except Exception:
        pass
    """,
    """
    try:
        v = v + 1
    finally:
        pass
    """,
    "f = lambda q: q + 1",
    """
    def inner(q):
        return q + 1
    v = inner(v)
    """,
    """
    class C:
        pass
    """,
    "global gg",
    "yield v",
    "r = (yield)",
    "r = [q for q in range(4)]",
    "r = {q for q in range(4)}",
    "r = {q: q for q in range(4)}",
    "r = sum(q for q in range(4))",
    "r = (w := v + 1)",
    "import math",
    "from math import pi",
    "assert n > 0, 'n'",
    "raise ValueError('bad')",
    "r = {1: 2}",
    "r = {1, 2}",
    "r = [v, v]",
    "r = f'{n}'",
    "r = 'abc'",
    "r = b'abc'",
    "r = v is None",
    "r = v in (1, 2)",
    "r = 1 < n < v",
    "r = td.load(*[y, (0,), (4,)])",
    "r = td.load(**{'x': y})",
    "r = print(*v)",
    "r = ...",
    "r = v if n else t",
    "r = v[...]",
    """
    for k in range(n):
        break
    """,
    """
    for k in range(n):
        continue
    """,
    """
    match n:
        case 1:
            pass
    """,
    "async_ = await_()",
    "r = slice(1, 2)",
    "r = v.__class__",
    "r = getattr(v, 'shape')",
    "r = type(v)",
    "r = isinstance(v, int)",
    "r = super()",
    "r = eval('1')",
    "exec('1')",
]

L1_BAD = [
    "td.load(x, (0, 0), (4, 4))", "td.store(x, (0, 0), x)", "td.atomic_add(y, (0,), 1.0)", "td.arange(0, 4)",
    "td.zeros((4,), td.float32)", "td.full((4,), 1.0, td.float32)", "td.alloc_shared((4,), td.float32)",
    "td.alloc_fragment((4,), td.float32)", "td.alloc_local((4,), td.float32)", "td.barrier()",
    "td.shfl_xor(x, 1)", "td.dot(x, x)", "td.cumsum(x, 0)", "td.copy(x, y)",
    """
    with td.threads(32) as tid:
        pass
    """,
    """
    with td.producer():
        pass
    """,
    """
    for k in td.pipelined(4):
        pass
    """,
    "r = td.sum(x, axis=2)", "r = td.max(x, axis=-3)", "r = td.argmax(x, axis=1.5)", "r = td.sum(x, axis=n)",
    "r = td.take(x, ix, axis=2)", "r = td.take(x, y)", "r = td.take(x, 1.5)", "r = td.take(x, ix, axis='a')",
    "r = x[ix.to(td.float32)]", "r = x[y]", "r = x[ix, ix, ix]", "r = td.matmul(x, y)", "r = td.matmul(y, y)",
    "r = td.matmul(x)", "r = x @ y", "r = x @ 2", "r = x + y", "r = x + ix[:3]", "r = td.where(x > 0, x)",
    "r = td.where(x > 0, x, y)", "r = td.reshape(x, (3, 5))", "r = td.reshape(x, 'a')",
    "r = td.broadcast_to(x, (3, 3))", "r = td.expand_dims(x, 5)", "r = td.trans(x, 0, 0)", "r = td.trans(x, 0, 1, 2)",
    "r = x.shape[3]", "r = x.shape['a']", "r = x.bogus", "r = x.to('f32')", "r = x.to(td.int8) & 1.5",
    "r = td.exp(x, x)", "r = td.exp('a')", "r = td.maximum(x, y)", "r = td.cast(x, 1)", "r = x + 'a'",
    "r = x.stride(0)", "r = x.dtype + 1", "r = x[0]", "r = x[:, 1:3]", "r = x.T.T.T(1)",
    """
    with td.grid(0) as p:
        pass
    """,
    """
    with td.grid(-1) as p:
        pass
    """,
    """
    with td.grid(1.5) as p:
        pass
    """,
    """
    with td.grid('a') as p:
        pass
    """,
    """
    with td.grid() as p:
        pass
    """,
    """
    with td.grid(1, 2, 3, 4) as p:
        pass
    """,
    """
    with td.grid(1, 2) as p:
        pass
    """,
    """
    with td.grid(2) as (p, q):
        pass
    """,
    """
    with td.grid(1) as p:
        with td.grid(1) as q:
            td.store(y, (0,), 1.0)
    """,
    """
    with td.grid(1) as p:
        return x
    """,
    """
    with td.grid(1) as p:
        td.store(y, (p,), 1.0)
        for k in range(n):
            return y
    """,
    """
    with td.grid(x) as p:
        pass
    """,
    """
    with td.grid(1) as p:
        with td.producer():
            with td.producer():
                pass
    """,
    """
    with td.grid(1) as p:
        with td.consumer():
            td.barrier()
    """,
    """
    with td.grid(1) as p:
        with td.threads(32) as tid:
            with td.threads(32) as u:
                pass
    """,
    """
    with td.grid(1) as p:
        with td.threads(32) as tid:
            td.load(y, (0,), (4,))
    """,
    """
    with td.grid(1) as p:
        with td.threads(32) as tid:
            b = td.alloc_shared((4,), td.float32)
    """,
    """
    with td.grid(1) as p:
        with td.threads(32) as tid:
            r = x + 1
    """,
    "return 1",
    "return td",
    "return None",
    "r = td.sum(x, axis=0, keepdims='yes')",
]

L3_BAD = [f.format(op=op) for op in SHFL for f in SHFL_BAD] + [
    "b = td.alloc_local((-1,), td.float32)", "b = td.alloc_local((n,), td.float32)",
    "b = td.alloc_local((4,), 'f32')", "b = td.alloc_local()", "td.barrier(tid)",
    "a = td.load(y, (0,), (4,)) + a", "a = a + td.arange(0, 4)", "a = td.sum(a, axis=0)",
    "a = td.dot(a, a)", "a = td.zeros((4,), td.float32)", "a = a + x",
    """
    with td.grid(1) as q:
        pass
    """,
    """
    with td.threads(32) as u:
        pass
    """,
    """
    if a > 0:
        td.barrier()
    """,
    """
    for k in td.pipelined(n):
        a = a + 1
    """,
    "a = td.shfl_xor(a, tid)",
    "a = td.shfl_xor(a.to(td.float64), 1)",
    "a = td.shfl_idx(a, 40)",
    "a = td.cumsum(a)",
    "a = a[0]",
]

RAW_BAD = [
    # signatures and decorator-time errors
    ("def {name}(*args):\n    pass\n", True),
    ("def {name}(**kw):\n    pass\n", True),
    ("def {name}(x: list):\n    pass\n", True),
    ("def {name}(x: 'td.Tensor2'):\n    pass\n", True),
    ("def {name}(x: td.Tensor = 1):\n    pass\n", True),
    ("def {name}(x: td.constexpr = td):\n    pass\n", True),
    ("def {name}(x: int = 'a'):\n    pass\n", True),
    ("def {name}(x: td.Tensor, /, y: td.Tensor):\n    pass\n", True),
    ("def {name}(x: td.Tensor, *, y: td.Tensor):\n    pass\n", True),
    ("def {name}(x: td.Tensor, y: td.Tensor = td.auto):\n    pass\n", True),
    ("async def {name}(x: td.Tensor):\n    pass\n", True),
    ("def {name}(x: td.Tensor) -> int:\n    return 1\n", False),
    ("def {name}(x: td.Tensor) -> td.Tensor:\n    pass\n", False),
    ("def {name}(x: td.Tensor) -> td.Tensor:\n    if x.shape[0] > 0:\n        return x\n", False),
    ("def {name}(x: td.Tensor):\n    '''only a docstring'''\n", False),
    ("def {name}(x: td.Tensor):\n    with td.grid(1) as p:\n        td.store(x, (0,), nope)\n",
     False),
    ("def {name}(x: td.Tensor, BM: td.constexpr = td.auto):\n    with td.grid(1) as p:\n"
     "        td.store(x, (0,), td.zeros((BM, BM, BM, BM), td.float32))\n", False),
    ("def {name}(x: td.Tensor, BM: td.constexpr = td.auto):\n    with td.grid(1) as p:\n"
     "        td.store(x, (0,), td.arange(0, BM) + td.arange(0, 2 * BM))\n", False),
    ("def {name}(x: td.Tensor, BM: td.constexpr = td.auto):\n    with td.grid(1) as p:\n"
     "        t = td.load(x, (0,), (BM,))\n        td.store(x, (0,), t + td.arange(0, 3))\n", False),
    ("def {name}(x: td.Tensor):\n    with td.grid(1) as p:\n"
     "        td.store(x, (0,), td.zeros((1 << 20,), td.float32))\n", False),
    ("def {name}(x: td.Tensor):\n    with td.grid(1) as p:\n        b = td.alloc_shared((1 << 16, 64), td.float32)\n"
     "        td.copy(x, b, (0, 0))\n", False),
]


# Bodies the compiler accepts. Valid code (not bad input) is left out of the corpus; the rest looks
# wrong and is kept as SUSPECT: `test_error_corpus.py` expects it to raise, as a strict xfail.
VALID = {
    "td.atomic_add(y, 0, v)", "td.atomic_max(y, 0, v)", "td.atomic_min(y, 0, v)", "td.atomic_xchg(y, 0, v)",
    "td.trans(s)", "r = x.T", "td.load(x, (0, 0), (4, 4), mask=v > 0)", "td.store(y, 0, v)", "td.zeros((4,))",
    "for k in range(n):\n    v = v + 1\n" "", "r = v ** v", "r = v // 0", "r = n // 0", "r = n % 0",
    "r = v if v else v", "r = not v", "r = min(v, v)", "r = v.to(td.float8_e4m3) + v.to(td.float8_e5m2)",
    "B = 8", "p = 1", "r = [v, v]", "r = 'abc'", "r = b'abc'", "r = 1 < n < v", "r = ...", "r = v if n else t",
    "for k in [1, 2]:\n    v = v + k", "for k in td.pipelined(4):\n    pass",
    "with td.threads(32):\n    pass",
    "b = td.alloc_fragment((4,), td.float32)\ntd.copy(t, b)",
    "a = td.load(y, (0,), (4,)) + a", "a = a + td.arange(0, 4)", "a = td.zeros((4,), td.float32)",
    "if a > 0:\n    td.barrier()", "a = td.shfl_xor(a, tid)", "a = td.shfl_idx(a, 40)",
}
# Non-power-of-two tiles: refused by the Triton backend alone (its capability record,
# `tiledsl.capabilities`); the IR interpreter and TileLang take them.
TRITON_ONLY = {"td.load(x, (0, 0), (3, 4))", "td.arange(0, 5)"}
# accepted once and wrong, now errors on every backend, eager mode included (each was a strict xfail)
FORMERLY_SUSPECT = {
    "r = td.sum(t, keepdims=n)", "r = td.max(t, keepdims=n)", "r = td.min(t, keepdims=n)",
    "r = td.prod(t, keepdims=n)", "r = td.sum(x, axis=0, keepdims='yes')", "td.where(v, v, v)",
    "for k in range(n):\n    v = v.to(td.int32)", "with td.threads(100000) as tid:\n    pass",
    "td.shfl_xor(y, 1)", "td.shfl_down(y, 1)", "td.shfl_up(y, 1)", "td.shfl_idx(y, 1)",
    "for k in td.pipelined(n):\n    a = a + 1",
}
SUSPECT: set[str] = set()  # accepted, looks wrong: a strict xfail in test_error_corpus.py


def _key(body: str) -> str:
    return textwrap.dedent(body).strip("\n")


def cases() -> list[KernelCase]:
    out: list[KernelCase] = []

    def add(template: str, body: str, decorate_error: bool = False) -> None:
        if _key(body) in VALID:
            return
        out.append(KernelCase(f"bad_{template}_{len(out):03d}", template, body, decorate_error))

    for op in UNARY:
        for f in UNARY_BAD:
            add("l2", "r = " + f.format(op=op))
    for op in BINARY:
        for f in BINARY_BAD:
            add("l2", "r = " + f.format(op=op))
    for op in REDUCE:
        for f in REDUCE_BAD:
            add("l2", "r = " + f.format(op=op))
    for op in ATOMIC:
        for f in ATOMIC_BAD:
            add("l2", f.format(op=op))
    for body in L2_BAD:
        add("l2", body)
    for body in L1_BAD:
        add("l1", body)
    for body in L3_BAD:
        add("l3", body)
    for body, at_decoration in RAW_BAD:
        add("raw", body.replace("{name}", "NAME"), at_decoration)
    return out


def module_text(all_cases: list[KernelCase]) -> str:
    """One module holding every case as a plain function (decorated by the test, one at a time)."""
    head = "import math\n\nimport torch\n\nimport tiledsl as td\n\ntorch_dtype = torch.float32\n\n\n"
    parts = []
    for c in all_cases:
        src = c.source()
        if c.template == "raw":
            src = src.replace("NAME", c.name, 1)
        parts.append(src)
    return head + "\n\n".join(parts)
