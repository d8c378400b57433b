"""Fuzzer finding (error-split), written by tests/fuzz/run.py.

triton raised BackendError but ir ran: value name 'not' cannot be used in generated Triton code: it must be an ASCII identifier ([A-Za-z_][A-Za-z0-9_]*, at most 64 characters, no leading '__', not a Python keyword)
hint: rename it
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:triton-mask-ops"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a2: td.Tensor):
    return (~(a2 >= 1))
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a2):
    return (~(a2 >= 1))
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float16',
                          'kind': 'tensor',
                          'layout': 'strided',
                          'nan': False,
                          'seed': 5734,
                          'shape': [64, 8]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['cmp', 'mask-not', 'rank2']})


def test_fuzz_triton_mask_ops_b85abf6e():
    check_case_dict(CASE)
