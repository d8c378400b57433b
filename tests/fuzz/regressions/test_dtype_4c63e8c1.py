"""Fuzzer finding (dtype), written by tests/fuzz/run.py.

eager, ir, triton: result dtype float64 vs float32 (got vs torch). Fixed: two Python floats (one
known only at run time) picked by td.where per element give an f32 tile, as torch.where.
"""


from tests.fuzz.harness import check_case_dict

SIGNATURE = "dtype|eager+ir+triton|L1|float64 vs float32"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor, s: float):
    return td.where(((a0 <= 0.5) ^ (a0 > 0)), s, 2.0)
'''
REF = '''\
import torch


def _softmax(x, dim):
    # op by op, each rounding once to the input's dtype (docs/language.md "Numerics")
    e = torch.exp(x - torch.amax(x, dim=dim, keepdim=True))
    return e / torch.sum(e, dim=dim, keepdim=True)


def _prod(x, dim, keepdim=False):
    # 16-bit floats multiply in f32 and round once (docs/language.md "Numerics"); torch's CPU
    # prod of f16/bf16 accumulates in the 16-bit type instead
    wide = x.float() if x.is_floating_point() and x.element_size() < 4 else x
    return torch.prod(wide, dim=dim, keepdim=keepdim).to(x.dtype)


def ref(a0, s):
    return torch.where(((a0 <= 0.5) ^ (a0 > 0)), torch.as_tensor(s), 2.0)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float32',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': False,
                          'seed': 65535,
                          'shape': [8, 8, 17]},
                         {'kind': 'num', 'value': 0.0}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['cmp', 'leaf-n', 'mask-xor', 'multi-call', 'pynum', 'rank3', 'where']})


def test_fuzz_dtype_4c63e8c1():
    check_case_dict(CASE)
