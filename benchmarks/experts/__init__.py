"""Hand-written Triton kernels that the static parity benchmark compares tiledsl's output with."""
