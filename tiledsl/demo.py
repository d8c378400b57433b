"""The main job: compile and run the brief's two canonical kernels through tiledsl and check them
against torch. On a machine without a GPU they run on CPU tensors (the IR interpreter and Triton's
interpreter); with a GPU, compiled on it. Then the GEMM is compiled for Hopper at a real size
(meta tensors: nothing runs, no GPU needed) to show its stages and static report."""

from __future__ import annotations

import time

import tiledsl as td


@td.kernel
def matmul(a: td.Tensor, b: td.Tensor, c: td.Tensor,
           BM: td.constexpr = td.auto, BN: td.constexpr = td.auto, BK: td.constexpr = td.auto):
    M, K = a.shape
    N = b.shape[1]
    with td.grid(td.cdiv(M, BM), td.cdiv(N, BN)) as (i, j):
        acc = td.zeros((BM, BN), td.float32)
        for k in td.pipelined(td.cdiv(K, BK), stages=td.auto):
            acc += td.dot(td.load(a, (i * BM, k * BK), (BM, BK)),
                          td.load(b, (k * BK, j * BN), (BK, BN)))
        td.store(c, (i * BM, j * BN), acc.to(c.dtype))


@td.kernel
def softmax(x: td.Tensor) -> td.Tensor:
    e = td.exp(x - td.max(x, axis=-1, keepdims=True))
    return e / td.sum(e, axis=-1, keepdims=True)


def run(backends=None, echo=print, hopper: bool = True) -> bool:
    """Run both kernels on each backend; True when every result matches torch. `hopper`: then show
    the compile-for-H100 side (`show_hopper`)."""
    import torch

    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if backends is None:
        backends = ("triton", "tilelang") if device == "cuda" else ("ir", "triton")
    ok = True
    echo(f"device: {device}")
    for backend in backends:
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            a = torch.randn(77, 130, device=device, dtype=dtype)
            b = torch.randn(130, 45, device=device, dtype=dtype)
            c = torch.empty(77, 45, device=device, dtype=dtype)
            t0 = time.perf_counter()
            matmul(a, b, c, backend=backend)
            dt = time.perf_counter() - t0
            ref = (a.float() @ b.float()).to(dtype)
            err = ((c.float() - ref.float()).abs().max() / ref.float().abs().max()).item()
            rtol = {torch.float32: 1e-4, torch.float16: 2e-3, torch.bfloat16: 1.6e-2}[dtype]
            good = torch.allclose(c.float(), ref.float(), rtol=rtol, atol=1e-3)
            ok &= good
            ck = matmul.compile(a, b, c, backend=backend)
            knobs = str(ck.schedule)
            echo(f"[{backend:8}] gemm 77x130x45 {str(dtype)[6:]:9} max err/max|ref| {err:.1e} "
                 f"{'ok ' if good else 'BAD'} ({dt * 1e3:7.1f} ms first call; {knobs})")
        x = torch.randn(33, 100, device=device)
        y = softmax(x, backend=backend)
        err = (y - torch.softmax(x, dim=-1)).abs().max().item()
        ok &= err <= 1e-5
        echo(f"[{backend:8}] softmax 33x100 float32   max err          {err:.1e} {'ok' if err <= 1e-5 else 'BAD'}")
    if hopper:
        show_hopper(echo)
    return ok


def show_hopper(echo=print, target: str = "h100", size: int = 4096) -> None:
    """Compile the GEMM for `target` on bf16 [size, size] meta tensors through Triton's own compiler
    (to PTX, with ptxas statistics) and print the stages and the static report."""
    import torch

    from tiledsl._cli.show import report_lines

    t = [torch.empty(size, size, dtype=torch.bfloat16, device="meta") for _ in range(3)]
    t0 = time.perf_counter()
    ck = matmul.compile(*t, backend="triton", target=target)
    dt = time.perf_counter() - t0
    echo(f"\ncompiled for {target}: gemm {size}x{size}x{size} bfloat16 in {dt:.2f} s (nothing runs, no GPU needed)")
    echo(f"stages: {' '.join(ck.stages)}  (print any with `tiledsl dump gemm --stage S`)")
    for line in report_lines(ck):
        echo("  " + line)
