# MLA decode (issue 14)
from tiledsl.kernels.mla import mla_decode, mla_decode_ref  # noqa: F401
