"""The backend contract (`tiledsl.backends`): every registered backend returns its own typed
`Lowered`, and the runtime hands `compile` the specs it lowered with."""

from __future__ import annotations

import dataclasses
import importlib

import torch

import tiledsl as td
from tests.test_triton_fixtures import elementwise_ir
from tiledsl import backends
from tiledsl.dtypes import DType
from tiledsl.report import Report
from tiledsl.runtime.kernel import BACKENDS
from tiledsl.specs import ScalarSpec, TensorSpec
from tiledsl.targets import get_target

_SPECS = (TensorSpec((64, 64), DType.f32),) * 3 + (ScalarSpec(DType.f32),)


@td.kernel
def _add(x: td.Tensor, y: td.Tensor) -> td.Tensor:
    return x + y


def test_the_registry_names_every_compiled_backend_once():
    assert BACKENDS == ("ir", *backends.NAMES, "eager")
    for name in backends.NAMES:
        module = importlib.import_module(backends._MODULES[name])
        assert module.BACKEND.name == name
        assert backends.get_backend(name) is module.BACKEND


def test_lowered_results_are_typed_per_backend():
    from tiledsl.lowering.tilelang.lowered import TileLangLowered
    from tiledsl.lowering.triton.lowered import TritonLowered

    # the common part has no untyped extras; each backend adds its own fields
    assert [f.name for f in dataclasses.fields(backends.Lowered)] == ["stage", "source", "entry"]
    for cls in (TritonLowered, TileLangLowered):
        assert issubclass(cls, backends.Lowered) and cls.__dataclass_params__.frozen
    fn = elementwise_ir()
    lowered = backends.get_backend("triton").lower(fn, _SPECS, get_target("h100"))
    assert isinstance(lowered, TritonLowered)
    assert lowered.launcher in lowered.source and lowered.launcher in lowered.interpret_source


def test_compile_gets_the_specs_the_kernel_was_lowered_with(monkeypatch):
    # the runtime once read a `specs` key from the lowered result that no backend set; it passes
    # the lowering specs (outputs included) itself
    x, y = torch.randn(8, 16), torch.randn(8, 16)
    ck = _add.compile(x, y, backend="triton")
    seen = []

    def fake_compile(lowered, fn, specs, target):
        seen.append(specs)
        return {"ttir": "-"}, Report(arch=target.sm_arch)

    monkeypatch.setattr(backends.get_backend("triton"), "compile", fake_compile)
    assert ck.code("ttir") == "-"
    assert seen == [ck.lower_specs] and len(ck.lower_specs) == len(ck.fn.params)
