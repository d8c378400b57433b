"""The whole benchmark suite: the same as ``tiledsl bench`` (every registered kernel).

    python benchmarks/run_all.py [KERNEL...] [--json out.json] [--plot out.png] [--gpu h200] [--quick]

On a CUDA GPU it times each kernel (TFLOP/s or GB/s, fraction of the roofline, ratio to torch);
without one it reports the compiler's speed and the static reports with the cost model's estimate.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tiledsl.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["bench", *sys.argv[1:]], prog_name="run_all.py")
