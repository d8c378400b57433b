# --- MoE dispatch/combine and expert-parallel all-to-all (kernels/moe.py, kernels/ep.py) ---
from tiledsl.kernels.ep import ep_combine, ep_dispatch  # noqa: E402,F401
from tiledsl.kernels.moe import moe_combine, moe_dispatch_fp8  # noqa: E402,F401
# --- end MoE ---
