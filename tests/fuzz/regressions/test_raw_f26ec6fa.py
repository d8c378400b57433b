"""Fuzzer finding (raw), written by tests/fuzz/run.py.

eager raised UnboundLocalError: cannot access local variable 'q' where it is not associated with a value
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "raw|eager|UnboundLocalError|cannot access local variable '_' where it is not associated with a value"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a1: td.Tensor, C: td.constexpr):
    c0 = 1.0
    for q in range(C):
        c0 = c0 + 1
    c0 = c0 + q
    return td.argmax(td.prod((td.sigmoid(td.minimum(C, a1)) * 0.2 + 0.9), axis=0, keepdims=True), axis=0, keepdims=True)
'''
REF = '''\
import torch


def _softmax(x, dim):
    out = x.dtype if x.dtype.is_floating_point else torch.float32
    return torch.softmax(torch.as_tensor(x).float(), dim=dim).to(out)


def ref(a1, C):
    c0 = 1.0
    for q in range(C):
        c0 = c0 + 1
    c0 = c0 + q
    return torch.argmax(torch.prod((torch.sigmoid(torch.minimum(torch.as_tensor(C), a1)) * 0.2 + 0.9), dim=0, keepdim=True), dim=0, keepdim=True)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float16',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': False,
                          'seed': 9143,
                          'shape': [8]},
                         {'cx': True, 'kind': 'num', 'value': 0}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['axis', 'const-loop', 'cx-positional', 'leaf-f', 'leaf-n', 'loopvar-after', 'minimum', 'multi-call',
              'rank3', 'red-argmax', 'red-prod']})


def test_fuzz_raw_f26ec6fa():
    check_case_dict(CASE)
