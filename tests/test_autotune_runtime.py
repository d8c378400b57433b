"""Autotuning is opt-in through the decorator or the setting; without a GPU it says so and keeps
the cost model's schedule, and a cached winner is used without tuning."""

import warnings

import pytest

import tiledsl as td
from tiledsl.demo import matmul
from tiledsl.targets import get_target
from tiledsl.tune.autotune import NO_GPU
from tiledsl.tune.cache import TuneCache, make_key

# the brief's GEMM (shared with the demo), opted into autotuning
tuned_matmul = td.kernel(matmul.fn, autotune=True)


def test_autotune_without_gpu_warns_and_uses_the_cost_model():
    spec = ((512, 512), td.float16)
    with pytest.warns(UserWarning, match=NO_GPU):
        ck = tuned_matmul.compile(spec, spec, spec, backend="triton", target="h100")
    from tiledsl.passes.pipeline import schedule

    fn = tuned_matmul.ir(spec, spec, spec)
    from tiledsl.specs import spec as to_spec

    assert ck.schedule == schedule(fn, tuple(to_spec(spec) for _ in range(3)), "h100").schedule


def test_cached_winner_is_used_without_tuning():
    spec = ((256, 256), td.float16)
    from tiledsl.specs import spec as to_spec

    specs = tuple(to_spec(spec) for _ in range(3))
    key = make_key(tuned_matmul.source.text, specs, get_target("h200").name, "triton")
    winner = {"BM": 64, "BN": 32, "BK": 64, "stages": 2, "num_warps": 4}
    TuneCache().put(key, winner, 12.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "needs a GPU" warning: nothing is tuned
        ck = tuned_matmul.compile(spec, spec, spec, backend="triton", target="h200")
    chosen = ck.schedule.as_dict()
    assert {k: chosen[k] for k in winner} == winner  # knobs the entry lacks come from the cost model
    assert "BLOCK_M" not in ck.code("scheduled") and "64" in ck.code("triton")
