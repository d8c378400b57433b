"""Fuzzer finding (dtype), written by tests/fuzz/run.py.

ir, triton: result dtype float32 vs bfloat16 (got vs torch)
"""


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
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


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
