import importlib.util
import inspect
import shutil

import pytest


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def _uses_tilelang(item) -> bool:
    """A GPU test that runs TileLang code (by its id or its source)."""
    if "tilelang" in item.nodeid:
        return True
    try:
        return "tilelang" in inspect.getsource(item.function)
    except (OSError, TypeError):
        return False


def pytest_collection_modifyitems(config, items):
    cuda = _has_cuda()
    nvcc = shutil.which("nvcc") is not None
    tilelang = importlib.util.find_spec("tilelang") is not None
    for item in items:
        if "gpu" in item.keywords and not cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
        elif "gpu" in item.keywords and not tilelang and _uses_tilelang(item):
            item.add_marker(pytest.mark.skip(reason="needs tilelang installed"))
        if "nvcc" in item.keywords and not nvcc:
            item.add_marker(pytest.mark.skip(reason="needs nvcc on the PATH"))


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test writes generated code and tuning results under a private cache dir."""
    import tiledsl.settings as s

    cache = tmp_path_factory.getbasetemp() / "tiledsl-cache"

    monkeypatch.setattr(s, "_current", s.Settings(cache_dir=cache))
    yield


# ---------------------------------------------------------------------------------------------------
# Hypothesis profiles (scheduler/interpreter tests). `ci`, loaded by default: derandomized (the same
# examples every run, no example database), a fixed example budget, no deadline, and no shrinking
# (a failure reports the example as found instead of spending minutes minimizing it).
# HYPOTHESIS_PROFILE=dev: random examples, ten times the budget, full shrinking, for local runs.
# A test's own @settings(max_examples=...) still applies on top of the loaded profile.
import os  # noqa: E402

from hypothesis import HealthCheck, Phase, settings  # noqa: E402

settings.register_profile(
    "ci", derandomize=True, database=None, max_examples=25, deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target),
    suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
