"""Fuzzer finding (error-split), written by tests/fuzz/run.py.

ir, triton raised FrontendError but eager ran: `q` is the variable of a runtime loop that may run zero times
  File "/tmp/tiledsl-fuzz-3eb213ty/fz_kernel_736.py", line 10, column 15
    c0 = c0 + q
              ^
hint: assign `q` before the loop to use it after
"""


from tests.fuzz.harness import check_case_dict

SIGNATURE = "error-split|ir+triton|FrontendError|`q` is the variable of a runtime loop that may run zero times"
SOURCE = '''\
import tiledsl as td


@td.kernel
def kern(a0: td.Tensor):
    c0 = 1.0
    for q in range(3):
        q = q * 2
        c0 = c0 + q
    c0 = c0 + q
    return ((a0 > 1) ^ (a0 > 0))
'''
REF = '''\
import torch


def _softmax(x, dim):
    out = x.dtype if x.dtype.is_floating_point else torch.float32
    return torch.softmax(torch.as_tensor(x).float(), dim=dim).to(out)


def ref(a0):
    c0 = 1.0
    for q in range(3):
        q = q * 2
        c0 = c0 + q
    c0 = c0 + q
    return ((a0 > 1) ^ (a0 > 0))
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float16',
                          'kind': 'tensor',
                          'layout': 'contig',
                          'nan': False,
                          'seed': 4854,
                          'shape': [5, 1]}],
                'kwargs': {}}],
     'casts': [],
     'level': 1,
     'outputs': [],
     'tags': ['cmp', 'const-loop', 'loopvar-after', 'mask-xor', 'rank2']})


def test_fuzz_error_split_9566fabc():
    check_case_dict(CASE)
