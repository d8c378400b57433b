"""Fuzzer finding (error-split), written by tests/fuzz/run.py.

ir, triton raised ScheduleError but eager ran: kern: for cannot be fused here
  File "/tmp/tiledsl-fuzz-3eb213ty/fz_kernel_676.py", line 7, column 5
    for q in range(3):
    ^
hint: write this kernel at level 2 (td.grid / td.load / td.store) and leave its knobs as td.auto
"""


from tests.fuzz.harness import check_case_dict

SIGNATURE = "error-split|ir+triton|ScheduleError|kern: for cannot be fused here"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor, a1: td.Tensor):
    c0 = 1.0
    for q in range(3):
        q = q * 2
        c0 = c0 + q
    return td.max(td.where(((a0 > 0) ^ (a1 > 0)), td.cast(c0, td.bfloat16), td.where((a0 <= 0.5), a0, 0.5)), axis=0)
'''
REF = '''\
import torch


def _softmax(x, dim):
    out = x.dtype if x.dtype.is_floating_point else torch.float32
    return torch.softmax(torch.as_tensor(x).float(), dim=dim).to(out)


def ref(a0, a1):
    c0 = 1.0
    for q in range(3):
        q = q * 2
        c0 = c0 + q
    return torch.amax(torch.where(((a0 > 0) ^ (a1 > 0)), torch.as_tensor(torch.as_tensor(c0)).to(torch.bfloat16), torch.where((a0 <= 0.5), a0, 0.5)), dim=0)
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float32',
                          'kind': 'tensor',
                          'layout': 'T',
                          'nan': False,
                          'seed': 3,
                          'shape': [1, 3, 5]},
                         {'dtype': 'float32',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': False,
                          'seed': 0,
                          'shape': [1, 3, 5]}],
                'kwargs': {}}],
     'casts': ['bfloat16'],
     'level': 1,
     'outputs': [],
     'tags': ['axis', 'cast-number', 'cmp', 'const-loop', 'leaf-f', 'leaf-n', 'mask-xor', 'pynum', 'rank3',
              'red-max', 'where']})


def test_fuzz_error_split_5815c931():
    check_case_dict(CASE)
