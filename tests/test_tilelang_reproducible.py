"""TileLang's PTX is the same in every process: nvcc runs in a directory named by the CUDA
text's hash, not a random temporary one (whose path nvcc writes into ``.file`` and hashes into
``_INTERNAL_<hash>`` symbols)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.nvcc,
              pytest.mark.skipif(importlib.util.find_spec("tilelang") is None, reason="needs tilelang")]

SCRIPT = """
import hashlib, torch
from tiledsl.demo import softmax
ck = softmax.compile(torch.empty(33, 100), backend="tilelang", target="h100")
print("PTX", hashlib.sha256(ck.code("ptx").encode()).hexdigest())
"""


def _ptx_hash(tmp_path, n: int) -> str:
    env_cache = tmp_path / f"cache{n}"  # separate caches: nothing is shared but the machine
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "TILEDSL_CACHE_DIR": str(env_cache)})
    assert out.returncode == 0, out.stderr[-2000:]
    return next(line for line in out.stdout.splitlines() if line.startswith("PTX"))


def test_ptx_is_the_same_in_two_processes(tmp_path):
    assert _ptx_hash(tmp_path, 1) == _ptx_hash(tmp_path, 2)
