"""Fuzzer finding (wrong), written by tests/fuzz/run.py.

triton: NaN positions differ at [0, 17]: 0.5773502588272095 vs nan
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "wrong|triton|L1|float32|nan"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor, s: float):
    return td.maximum(a0, td.rsqrt(td.abs(s) + 1.0))
'''
REF = '''\
import torch


def _softmax(x, dim):
    out = x.dtype if x.dtype.is_floating_point else torch.float32
    return torch.softmax(torch.as_tensor(x).float(), dim=dim).to(out)


def ref(a0, s):
    return torch.maximum(a0, torch.rsqrt(torch.abs(torch.as_tensor(s)) + 1.0))
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float32',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': True,
                          'seed': 42,
                          'shape': [1, 33]},
                         {'kind': 'num', 'value': 2.0}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['leaf-f', 'leaf-n', 'maximum', 'multi-call', 'rank2', 'rsqrt']})


def test_fuzz_wrong_27d52a1b():
    check_case_dict(CASE)
