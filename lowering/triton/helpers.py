"""``@triton.jit`` helpers a generated module defines when its kernels call them.

Combine functions for reductions Triton has no builtin for (product; max/min that propagate NaN
as torch does), in every build; and, in interpreter builds only, bf16/fp8 conversions:

bf16 and fp8 in interpreter builds: values held as f32, rounded by integer arithmetic.

Triton's interpreter stores bf16 as uint16 and fp8 as uint8 numpy arrays and does arithmetic on
those raw bits (``0.5 * x`` on bf16 gives ~1e38), and its float conversions truncate instead of
rounding, lose the carry into the exponent, and mis-decode subnormals, e5m2 inf/NaN and e4m3 NaN.
So an interpreter build never computes on these types: a value of IR dtype bf16/fp8 is an f32
tensor holding a value exactly representable in that dtype. Loads decode the stored bits, every op
computes in f32 and rounds once to the IR dtype (what torch and a GPU do), stores encode bits.
The helpers below do every conversion with integer and exact f32 arithmetic only; the GPU build
never uses them (`LOW_FLOATS` is consulted only when ``interpret`` is on).
"""

from __future__ import annotations

from tiledsl.dtypes import FP8_MAX, DType

# IR dtypes an interpreter build keeps as f32 values; the helper names for each.
LOW_FLOATS: dict[DType, dict[str, str]] = {
    DType.bf16: {"round": "_td_round_bf16", "decode": "_td_decode_bf16", "encode": "_td_encode_bf16"},
    DType.f8e4m3: {"round": "_td_round_e4m3", "decode": "_td_decode_e4m3", "encode": "_td_encode_e4m3"},
    DType.f8e5m2: {"round": "_td_round_e5m2", "decode": "_td_decode_e5m2", "encode": "_td_encode_e5m2"},
}

_COMBINE = {
    "_td_mul": "a * b",
    "_td_max_nan": "tl.maximum(a, b, propagate_nan=tl.PropagateNan.ALL)",
    "_td_min_nan": "tl.minimum(a, b, propagate_nan=tl.PropagateNan.ALL)",
}

# Float // and % as torch computes them (c10's div_floor_floating and remainder): from fmod, so
# 1.0 // 0.1 is 9 and 1.0 % 0.1 is 0.09999999 (floor(a / b) rounds the quotient first: 10 and 0).
# Triton's float ``%`` is fmod on GPUs (frem) and in the interpreter (np.fmod).
_FLOAT_DIV = {
    "_td_floordiv": '''

@triton.jit
def _td_floordiv(a, b):
    mod = a % b
    div = (a - mod) / b
    div = tl.where(mod != 0, tl.where((b < 0) != (mod < 0), div - 1.0, div), div)
    fl = tl.floor(div)
    fl = tl.where(div - fl > 0.5, fl + 1.0, fl)
    fl = tl.where(div != 0, fl, 0.0 * (a / b))
    return tl.where(b == 0, a / b, fl)
''',
    "_td_remainder": '''

@triton.jit
def _td_remainder(a, b):
    mod = a % b
    return tl.where(mod != 0, tl.where((b < 0) != (mod < 0), mod + b, mod), mod)
''',
}

HELPER_NAMES = frozenset(n for row in LOW_FLOATS.values() for n in row.values()) | \
    {"_td_round_fp8", "_td_pow", "_td_log1p", *_COMBINE, *_FLOAT_DIV}

# pow for interpreter builds (libdevice does not run there): in f64, with C's / torch's cases for
# negative bases (integer exponents keep the sign of odd powers, others give NaN), zero bases,
# x ** 0 == 1 and 1 ** y == 1 (NaN included). The caller rounds the f64 result once.
_POW = '''

@triton.jit
def _td_pow(a, b):
    x = tl.cast(a, tl.float64)  # a or b may be a Python number (a scalar argument)
    y = tl.cast(b, tl.float64)
    ax = tl.abs(x)
    mag = tl.exp2(y * tl.log2(tl.where(ax == 0, 1.0, ax)))
    mag = tl.where(ax == 0, tl.where(y < 0, float("inf"), 0.0), mag)
    whole = tl.floor(y) == y
    odd = tl.abs(y - 2.0 * tl.floor(y * 0.5)) == 1.0
    r = tl.where(x < 0, tl.where(whole, tl.where(odd, -mag, mag), float("nan")), mag)
    return tl.where(y == 0, 1.0, tl.where(x == 1, 1.0, r))  # no `|`: x or y may be a scalar
'''

# log1p for interpreter builds (libdevice does not run there): Kahan's formulation in f64, where
# u = 1 + x and u - 1 are exact enough that log(u) * x / (u - 1) is log(1 + x) to a few f64 ulps
# even for tiny x (log(1 + 1e-8) in f32 would give 0); u == 1 (|x| below f64's epsilon) gives x
# itself (-0.0 included), u == inf gives inf (the formula would give inf / inf). NaN, x < -1 (NaN)
# and x == -1 (-inf) come out of log. Returned in the argument's dtype (f32 or f64).
_LOG1P = '''

@triton.jit
def _td_log1p(a):
    x = a.to(tl.float64)
    u = 1.0 + x
    d = tl.where(u == 1.0, 1.0, u - 1.0)
    r = tl.where(u == 1.0, x, tl.log(u) * (x / d))
    return tl.where(u == float("inf"), u, r).to(a.dtype)
'''

_BF16 = '''

@triton.jit
def _td_round_bf16(x):
    """f32 -> the nearest bf16 value (ties to even), as f32; NaN stays NaN."""
    bits = x.to(tl.uint32, bitcast=True)
    up = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return tl.where(x != x, x, up.to(tl.float32, bitcast=True))


@triton.jit
def _td_decode_bf16(x):
    return (x.to(tl.uint16, bitcast=True).to(tl.uint32) << 16).to(tl.float32, bitcast=True)


@triton.jit
def _td_encode_bf16(x):
    bits = _td_round_bf16(x).to(tl.uint32, bitcast=True) >> 16
    bits = tl.where(x != x, 0x7FC0, bits)
    return bits.to(tl.uint16).to(tl.bfloat16, bitcast=True)
'''

_FP8 = '''

@triton.jit
def _td_round_fp8(x, MANT: tl.constexpr, EMIN: tl.constexpr, MAX: tl.constexpr):
    """f32 -> the nearest value of an fp8 format with MANT mantissa bits and smallest normal
    exponent EMIN (ties to even, saturating at +-MAX, NaN kept), as f32. The quotient by the
    ulp is below 2**(MANT+1), so adding and subtracting 1.5 * 2**23 rounds it to an integer."""
    neg = (x.to(tl.uint32, bitcast=True) >> 31) != 0
    a = tl.minimum(tl.where(x != x, 0.0, tl.abs(x)), MAX)
    e = ((a.to(tl.uint32, bitcast=True) >> 23) & 0xFF).to(tl.int32) - 127
    e = tl.maximum(e, EMIN)
    ulp = ((e - MANT + 127) << 23).to(tl.float32, bitcast=True)
    q = ((a / ulp) + 12582912.0) - 12582912.0
    r = q * ulp
    r = tl.where(neg, -r, r)
    return tl.where(x != x, x, r)


@triton.jit
def _td_round_e4m3(x):
    return _td_round_fp8(x, 3, -6, E4M3_MAX)


@triton.jit
def _td_round_e5m2(x):
    return _td_round_fp8(x, 2, -14, E5M2_MAX)


@triton.jit
def _td_decode_e4m3(x):
    b = x.to(tl.uint8, bitcast=True).to(tl.uint32)
    e = (b >> 3) & 15
    m = b & 7
    normal = (((e + 120) << 23) | (m << 20)).to(tl.float32, bitcast=True)
    v = tl.where(e == 0, m.to(tl.float32) * 0.001953125, normal)
    v = tl.where((b & 0x7F) == 0x7F, (b | 0x7FC00000).to(tl.float32, bitcast=True), v)
    return tl.where((b >> 7) != 0, -v, v)


@triton.jit
def _td_encode_e4m3(x):
    r = _td_round_e4m3(x)
    a = tl.where(r != r, 0.0, tl.abs(r))
    ab = a.to(tl.uint32, bitcast=True)
    normal = (tl.maximum(ab, 0x3C800000) >> 20) - 960
    bits = tl.where(a < 0.015625, (tl.minimum(a, 0.015625) * 512.0).to(tl.uint32), normal)
    bits = tl.where(r != r, 0x7F, bits)
    bits = tl.where((r.to(tl.uint32, bitcast=True) >> 31) != 0, bits | 0x80, bits)
    return bits.to(tl.uint8).to(tl.float8e4nv, bitcast=True)


@triton.jit
def _td_decode_e5m2(x):
    """e5m2 is the upper byte of an f16, and f16 -> f32 is exact in the interpreter (numpy)."""
    h = x.to(tl.uint8, bitcast=True).to(tl.uint16) << 8
    return h.to(tl.float16, bitcast=True).to(tl.float32)


@triton.jit
def _td_encode_e5m2(x):
    h = _td_round_e5m2(x).to(tl.float16).to(tl.uint16, bitcast=True) >> 8
    h = tl.where(x != x, 0x7E, h)  # a NaN's payload may sit in the low byte only
    return h.to(tl.uint8).to(tl.float8e5, bitcast=True)
'''.replace("E4M3_MAX", repr(FP8_MAX[DType.f8e4m3])).replace(
    "E5M2_MAX", repr(FP8_MAX[DType.f8e5m2]))  # the saturation limits, from the one table


def helpers_source(body: str, interpret: bool) -> str:
    """The helper definitions `body` (the kernels' text) calls, in a fixed order."""
    out = ""
    for name, expr in _COMBINE.items():
        if name in body:
            out += f"\n\n@triton.jit\ndef {name}(a, b):\n    return {expr}\n"
    for name, text in _FLOAT_DIV.items():
        if f"{name}(" in body:
            out += text
    if not interpret:
        return out
    if "_td_pow(" in body:
        out += _POW
    if "_td_log1p(" in body:
        out += _LOG1P
    if "_bf16(" in body:
        out += _BF16
    if "_e4m3(" in body or "_e5m2(" in body:
        out += _FP8
    return out
