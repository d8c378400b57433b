"""The optional autotuner and its on-disk cache, above the runtime: `autotune.autotune` benchmarks
the cost model's top candidates on the GPU, `cache.TuneCache` keeps the winners. Importing this
package (``import tiledsl`` does) hands the autotuner to the runtime (`set_tuner`); the tuner's
own modules load when a kernel first asks for tuning.
"""

from __future__ import annotations

from tiledsl.runtime.kernel import Tuner, set_tuner


def _enabled(flag: bool | None) -> bool:
    from tiledsl.tune.autotune import autotune_enabled

    return autotune_enabled(flag)


def _tune(fn, specs, target, *, source: str, backend: str):
    from tiledsl.tune.autotune import tune_scheduled

    return tune_scheduled(fn, specs, target, source=source, backend=backend)


set_tuner(Tuner(enabled=_enabled, tune=_tune))
