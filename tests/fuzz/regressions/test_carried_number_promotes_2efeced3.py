"""Fuzzer finding (wrong), written by tests/fuzz/run.py.

ir vs eager: max error 0.015625 (tol 2e-05, scale 5.44); first bad: 2.41943359375 vs 2.421875
"""

import pytest

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:carried-number-promotes"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(x: td.Tensor, out: td.Tensor, flag: int):
    with td.grid(1) as i:
        t = td.load(x, (0,), (64,))
        v = 1.5
        if flag > 0:
            v = 2.5
        td.store(out, (0,), (t + v).to(out.dtype))
'''
REF = '''\
import torch


def ref(x, out, flag):
    out.copy_((x + (2.5 if flag > 0 else 1.5)).to(out.dtype))
    return out
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'bfloat16', 'kind': 'tensor', 'layout': 'contig', 'seed': 11, 'shape': [64]},
                         {'dtype': 'float32',
                          'fill': 0,
                          'kind': 'tensor',
                          'layout': 'contig',
                          'seed': 1,
                          'shape': [64]},
                         {'kind': 'num', 'value': 1}],
                'kwargs': {}}],
     'casts': [],
     'level': 2,
     'outputs': [1],
     'tags': ['if-flag']})


def test_fuzz_carried_number_promotes_2efeced3():
    check_case_dict(CASE)


@pytest.mark.parametrize("backend", ["ir", "triton"])
def test_carried_number_rounds_in_bf16_exactly(backend):
    """Against torch directly: `bf16 tile + 2.5` is one bf16 rounding, so the stored f32 values
    are bf16 values, bit for bit."""
    import torch

    from tests.fuzz.harness import load_module

    kern = load_module(SOURCE).kern
    x = torch.tensor([1.0078125, 3.015625, 2.0078125, 4.03125] * 16, dtype=torch.bfloat16)
    out = torch.zeros(64)
    kern(x, out, 1, backend=backend)
    assert torch.equal(out, (x + 2.5).float())
