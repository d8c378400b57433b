"""Fuzzer finding (rejects-valid), written by tests/fuzz/run.py.

all backends raised VerifyError: kern: add: operand %v0 is not defined before this use (at /tmp/tiledsl-fuzz-f0vmqc3h/fz_kernel_2286.py:17:13)
"""


from tests.fuzz.harness import check_case_dict

SIGNATURE = "known:alias-rebind"
SOURCE = '''\
import tiledsl as td

NEG_INF = float("-inf")
POS_INF = float("inf")


@td.kernel
def kern(x0: td.Tensor, out: td.Tensor, s: float, BM: td.constexpr, BN: td.constexpr):
    M, N = out.shape
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        r = i * BM + td.arange(0, BM)
        c = j * BN + td.arange(0, BN)
        t0 = td.load(x0, (i * BM, j * BN), (BM, BN))
        v0 = (s + t0)
        w2 = v0
        w2 = td.abs(w2)
        v1 = w2 + v0
        td.store(out, (i * BM, j * BN), v1.to(out.dtype), mask=((t0 > -1.0) & (t0 > 0)))
'''
REF = '''\
import torch

NEG_INF = float("-inf")
POS_INF = float("inf")


def _t(a, like):
    return a if isinstance(a, torch.Tensor) else torch.tensor(a, dtype=like.dtype)


def ref(x0, out, s, BM, BN):
    M, N = out.shape
    t0 = x0
    v0 = (torch.as_tensor(s) + t0)
    w2 = v0
    w2 = torch.abs(w2)
    v1 = w2 + v0
    out.copy_(torch.where(torch.broadcast_to(((t0 > -1.0) & (t0 > 0)), (M, N)), torch.broadcast_to(v1.to(out.dtype), (M, N)), out))
    return out
'''
CASE = dict(source=SOURCE, ref=REF, **{'calls': [{'args': [{'dtype': 'float16',
                          'kind': 'tensor',
                          'layout': 'T',
                          'nan': False,
                          'seed': 2456,
                          'shape': [33, 17]},
                         {'dtype': 'float16',
                          'fill': -7.0,
                          'kind': 'tensor',
                          'layout': 'contig',
                          'seed': 1,
                          'shape': [33, 17]},
                         {'kind': 'num', 'value': 0.5}, {'cx': True, 'kind': 'num', 'value': 8},
                         {'cx': True, 'kind': 'num', 'value': 64}],
                'kwargs': {}}],
     'casts': [],
     'level': 2,
     'outputs': [1],
     'tags': ['alias', 'cx-positional', 'leaf-n', 'map', 'mask-none', 'store-cond']})


def test_fuzz_alias_rebind_85380334():
    check_case_dict(CASE)
