"""Fuzzer finding (raw), written by tests/fuzz/run.py.

triton raised InterpreterError: InterpreterError('AttributeError("/'float/' object has no attribute /'to/'")')
"""

from tests.fuzz.harness import check_case_dict

SIGNATURE = "raw|triton|InterpreterError|InterpreterError('_'float\\'_'to\\'_')"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor, a1: td.Tensor, s: float):
    return td.argmin(td.minimum(td.where((a0 > 1), (1 + a1), 2.0), td.where(((a0 <= 0) | (a0 > 0)), td.tanh(s), td.cast(s, td.bfloat16))), axis=-1, keepdims=True)
'''
REF = '''\
import torch


def _softmax(x, dim):
    out = x.dtype if x.dtype.is_floating_point else torch.float32
    return torch.softmax(torch.as_tensor(x).float(), dim=dim).to(out)


def ref(a0, a1, s):
    return torch.argmin(torch.minimum(torch.where((a0 > 1), (1 + a1), 2.0), torch.where(((a0 <= 0) | (a0 > 0)), torch.tanh(torch.as_tensor(s)), torch.as_tensor(torch.as_tensor(s)).to(torch.bfloat16))), dim=-1, keepdim=True)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'bfloat16',
                          'kind': 'tensor',
                          'layout': 'strided',
                          'nan': False,
                          'seed': 5726,
                          'shape': [5]},
                         {'dtype': 'float32',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': False,
                          'seed': 8486,
                          'shape': [5]},
                         {'kind': 'num', 'value': -1.5}],
                'kwargs': {}}],
     'casts': ['bfloat16'],
     'level': 1,
     'outputs': [],
     'tags': ['axis-neg', 'cast-number', 'cmp', 'leaf-f', 'leaf-n', 'mask-or', 'minimum', 'multi-call', 'num-add',
              'pynum', 'rank1', 'red-argmin', 'tanh', 'where']})


def test_fuzz_raw_35686c3c():
    check_case_dict(CASE)
