"""Fuzzer finding (rejects-valid), written by tests/fuzz/run.py.

all backends raised VerifyError: kern: add: operand %u is not defined before this use (at /tmp/tiledsl-fuzz-f0vmqc3h/fz_kernel_3028.py:9:11)
"""


from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:alias-rebind"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor):
    u = (a0 / 0.5)
    v = u
    v += 1.0
    return v + u
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a0):
    u = (a0 / 0.5)
    v = u
    v = v + 1.0
    return v + u
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'bfloat16',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': False,
                          'seed': 339,
                          'shape': [5, 1, 5]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['alias', 'leaf-f', 'num-div', 'pynum', 'rank3']})


def test_fuzz_alias_rebind_95a9fe32():
    check_case_dict(CASE)
