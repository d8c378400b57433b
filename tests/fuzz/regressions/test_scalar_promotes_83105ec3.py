"""Fuzzer finding (dtype), written by tests/fuzz/run.py.

ir, triton: result dtype float32 vs bfloat16 (got vs torch)
"""

import pytest

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:scalar-promotes"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor, s: float):
    return (s + a0)
'''
REF = '''\
import torch


def _softmax(x, dim):
    out = x.dtype if x.dtype.is_floating_point else torch.float32
    return torch.softmax(torch.as_tensor(x).float(), dim=dim).to(out)


def ref(a0, s):
    return (torch.as_tensor(s) + a0)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'bfloat16',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': True,
                          'seed': 32698,
                          'shape': [33, 64]},
                         {'kind': 'num', 'value': 2.0}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['leaf-n', 'rank2']})


def test_fuzz_scalar_promotes_83105ec3():
    check_case_dict(CASE)
