"""Fuzzer finding (wrong), written by tests/fuzz/run.py.

triton: NaN positions differ at [0, 0]: 1.3642578125 vs nan
"""

import pytest

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:nan-max"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a2: td.Tensor):
    return td.max(td.minimum(a2, a2), 0, keepdims=True)
'''
REF = '''\
import torch


def _softmax(x, dim):
    out = x.dtype if x.dtype.is_floating_point else torch.float32
    return torch.softmax(torch.as_tensor(x).float(), dim=dim).to(out)


def ref(a2):
    return torch.amax(torch.minimum(a2, a2), dim=0, keepdim=True)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float16',
                          'kind': 'tensor',
                          'layout': 'T',
                          'nan': True,
                          'seed': 12308,
                          'shape': [5, 5]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['axis', 'leaf-f', 'minimum', 'multi-call', 'rank3', 'red-max']})


@pytest.mark.xfail(strict=True, reason="max/argmax of data with NaN differ from torch")
def test_fuzz_nan_max_9e4c5a88():
    check_case_dict(CASE)
