"""Fuzzer finding (error-split), written by tests/fuzz/run.py.

triton raised BackendError but ir ran: tile reduction 'prod' has no Triton lowering
  File "/tmp/tiledsl-fuzz-f0vmqc3h/fz_kernel_3830.py", line 6, column 12
    return td.prod((td.sigmoid(a0) * 0.2 + 0.9), 1, keepdims=True)
           ^
hint: use sum, max, min, argmax or argmin, or backend='ir'
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:triton-prod"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor):
    return td.prod((td.sigmoid(a0) * 0.2 + 0.9), 1, keepdims=True)
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def ref(a0):
    return torch.prod((torch.sigmoid(a0) * 0.2 + 0.9), dim=1, keepdim=True)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float16',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': False,
                          'seed': 65536,
                          'shape': [5]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['axis', 'bad-axis', 'leaf-f', 'rank1', 'red-prod']})


def test_fuzz_triton_prod_e09c783b():
    check_case_dict(CASE)
