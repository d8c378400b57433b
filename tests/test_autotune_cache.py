"""Autotune cache (atomic, concurrent, corruption-proof) and the candidate plumbing, on CPU."""

from __future__ import annotations

import json
import multiprocessing

import pytest
import torch

import tiledsl as td
from tiledsl.dtypes import DType
from tiledsl.interp import run
from tiledsl.ir.nodes import ParamKind
from tiledsl.passes.pipeline import schedule
from tiledsl.specs import TensorSpec
from tiledsl.tune import autotune as at
from tiledsl.tune.cache import TuneCache, TuneKey, make_key, shape_bucket


@td.kernel
def softmax(x: td.Tensor) -> td.Tensor:
    e = td.exp(x - td.max(x, axis=-1, keepdims=True))
    return e / td.sum(e, axis=-1, keepdims=True)


SPECS = (TensorSpec((20, 70), DType.f32),)


def key(n: int = 0) -> TuneKey:
    return make_key(f"def f(): pass  # {n}", SPECS, "NVIDIA H100", "triton")


def test_shape_bucket_and_key():
    assert shape_bucket((3, 17, 4096, 5000)) == (3, 32, 4096, 8192)
    assert key(0) != key(1) and key(0).digest() == key(0).digest()
    k2 = make_key("def f(): pass  # 0", (TensorSpec((20, 80), DType.f32),), "NVIDIA H100", "triton")
    assert k2 == key(0)  # same bucket
    k3 = make_key("def f(): pass  # 0", (TensorSpec((20, 80), DType.bf16),), "NVIDIA H100", "triton")
    assert k3 != key(0)


def test_round_trip_and_corrupt_entries(tmp_path):
    c = TuneCache(tmp_path)
    assert c.get(key()) is None
    c.put(key(), {"BLOCK_M": 4, "num_warps": 8}, 12.5)
    assert c.get(key()) == {"BLOCK_M": 4, "num_warps": 8}
    for junk in ("{not json", json.dumps({"format": 1, "key": {}, "knobs": {"a": 1}}),
                 json.dumps({"format": 1, "key": key().as_json(), "knobs": {"a": "x"}}), ""):
        c.path(key()).write_text(junk)
        assert c.get(key()) is None
        c.put(key(), {"BLOCK_M": 2})
        assert c.get(key()) == {"BLOCK_M": 2}
    assert not list(c.dir.glob("*.tmp"))


def _writer(root: str, i: int) -> None:
    c = TuneCache(root)
    for j in range(15):
        c.put(key(), {"BLOCK_M": i, "round": j})
        got = c.get(key())
        assert got is not None and set(got) == {"BLOCK_M", "round"}


def test_concurrent_writers_leave_a_valid_entry(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), i)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    got = TuneCache(tmp_path).get(key())
    assert got["BLOCK_M"] in range(4) and got["round"] == 14
    assert not list((tmp_path / "autotune").glob("*.tmp"))


def test_autotune_without_gpu_keeps_the_cost_model(tmp_path, monkeypatch):
    monkeypatch.setattr(at, "_has_gpu", lambda: False)
    fn = softmax.ir(*SPECS)
    with pytest.warns(UserWarning, match="autotuning needs a CUDA GPU"):
        r = at.autotune(fn, SPECS, "h100", source="src", backend="triton", cache=TuneCache(tmp_path))
    assert r.how == "cost-model" and r.scheduled.schedule == schedule(fn, SPECS, "h100").schedule


def test_a_later_process_uses_the_cached_winner(tmp_path, monkeypatch):
    monkeypatch.setattr(at, "_has_gpu", lambda: False)
    fn = softmax.ir(*SPECS)
    cache = TuneCache(tmp_path)
    cache.put(make_key("src", SPECS, "h100", "triton"), {"BLOCK_M": 2, "num_warps": 1})
    r = at.autotune(fn, SPECS, "h100", source="src", backend="triton", cache=cache)
    assert r.how == "cache" and r.scheduled.schedule.as_dict() == {"BLOCK_M": 2, "num_warps": 1}
    cache.put(make_key("src", SPECS, "h100", "triton"), {"BLOCK_M": 3, "num_warps": 1})  # invalid now
    with pytest.warns(UserWarning):
        assert at.autotune(fn, SPECS, "h100", source="src", backend="triton", cache=cache).how == "cost-model"


def test_enabled_by_flag_or_setting():
    assert at.autotune_enabled(True) and not at.autotune_enabled(False)
    td.configure(autotune=True)
    try:
        assert at.autotune_enabled(None)
    finally:
        td.configure(autotune=False)


def test_tune_candidates_runs_checks_and_picks_the_fastest():
    best = schedule(softmax.ir(*SPECS), SPECS, "h100", top_n=4)
    cands = [schedule(softmax.ir(*SPECS), SPECS, "h100", choice=c) for c in best.candidates]
    assert len(cands) == 4 and [c.schedule for c in cands] == list(best.candidates)
    x = torch.randn(20, 70)

    def run_one(c):
        args = at.make_args(c.fn, SPECS)
        args[0] = x
        if c is cands[2]:  # a miscompiled candidate: its results are off
            run(c.fn, args)
            args[1] += 1.0
        else:
            run(c.fn, args)
        return [a for a, p in zip(args, c.fn.params) if p.kind is ParamKind.OUTPUT]

    fake_us = {id(cands[0]): 9.0, id(cands[1]): 7.0, id(cands[2]): 1.0, id(cands[3]): 8.0}
    with pytest.warns(UserWarning, match="different results"):
        winner, timings = at.tune_candidates(cands, run_one, lambda c: fake_us[id(c)], progress=False)
    assert winner is cands[1]
    assert timings[2].time_us is None and timings[2].note.startswith("mismatch")


def test_make_args_allocates_outputs_from_symbolic_shapes():
    s = schedule(softmax.ir(*SPECS), SPECS, "h100")
    args = at.make_args(s.fn, SPECS)
    assert [tuple(a.shape) for a in args] == [(20, 70), (20, 70)]
    assert args[1].abs().sum() == 0
