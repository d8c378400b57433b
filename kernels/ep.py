"""Expert-parallel dispatch and combine over torch.distributed (DeepEP normal-mode semantics).

Rank r of R owns experts [r*E/R, (r+1)*E/R). `ep_dispatch` sends each token once to every rank
owning at least one of its experts; rank r receives them in source-rank then source-token order,
with local expert ids (-1 for experts elsewhere), the matching weights (0 where the id is -1, as
DeepEP), per-local-expert token counts, and the payload: `(x_fp8, scales)` quantized by the tiledsl
kernel before sending when `use_fp8`, x itself otherwise. `ep_combine(y, handle)` sends each
received row back and returns to each source token the sum of its copies (f32 accumulation by
the tiledsl combine kernel, in destination-rank order; tokens sent nowhere get zeros).

Transport: `all_to_all_single` (gloo on CPU, NCCL on GPU) with uneven splits, one call per
payload; tensors travel as bytes so fp8 and bf16 pass through backends that lack those dtypes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from tiledsl.kernels.moe import _check_topk, _describe, _same_device, moe_combine, per_token_quant_fp8

from tiledsl.errors import ArgumentError


@dataclass
class EPHandle:
    """What ep_combine needs: the source rows in send order and the split sizes both ways."""
    send_token: torch.Tensor      # int64 [S]: source token of each sent row (destination-rank order)
    send_counts: list[int]        # rows sent to each rank
    recv_counts: list[int]        # rows received from each rank
    num_tokens: int               # T on this rank
    hidden: int
    group: object


def _exchange(t: torch.Tensor, send: list[int], recv: list[int], group) -> torch.Tensor:
    """all_to_all_single of the rows of t (any dtype: sent as bytes)."""
    t = t.contiguous()
    row_shape = tuple(t.shape[1:])
    as_bytes = t.view(torch.uint8).reshape(t.shape[0], -1) if t.numel() else \
        torch.empty(t.shape[0], _row_bytes(t), dtype=torch.uint8, device=t.device)
    out = torch.empty(sum(recv), as_bytes.shape[1], dtype=torch.uint8, device=t.device)
    dist.all_to_all_single(out, as_bytes, output_split_sizes=recv, input_split_sizes=send, group=group)
    return out.view(t.dtype).reshape((sum(recv),) + row_shape)


def _row_bytes(t: torch.Tensor) -> int:
    n = 1
    for d in t.shape[1:]:
        n *= d
    return n * t.element_size()


def _validate(x, topk_idx, topk_weights, num_experts, world: int, use_fp8: bool) -> None:
    name = "ep_dispatch"
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.dtype.is_floating_point:
        raise ArgumentError(f"{name}(): x must be a 2-D float tensor [T, H], got {_describe(x)}")
    T, H = x.shape
    if use_fp8 and H % 128:
        raise ArgumentError(f"{name}(): hidden size {H} is not a multiple of 128, which FP8 1x128 "
                            "scales need; pad the hidden dimension or pass use_fp8=False")
    if isinstance(num_experts, bool) or not isinstance(num_experts, int) or num_experts < 1:
        raise ArgumentError(f"{name}(): num_experts must be a positive int, got {num_experts!r}")
    if num_experts % world:
        raise ArgumentError(f"{name}(): world size {world} does not divide num_experts {num_experts}; "
                            "each rank must own the same number of experts")
    _check_topk(name, topk_idx, T, num_experts)
    if not isinstance(topk_weights, torch.Tensor) or topk_weights.shape != topk_idx.shape \
            or not topk_weights.dtype.is_floating_point:
        raise ArgumentError(f"{name}(): topk_weights must be a float tensor of topk_idx's shape "
                            f"{tuple(topk_idx.shape)}, got {_describe(topk_weights)}")
    _same_device(name, x, topk_idx, topk_weights)


def ep_dispatch(x: torch.Tensor, topk_idx: torch.Tensor, topk_weights: torch.Tensor,
                num_experts: int, group=None, use_fp8: bool = True, *, backend: str | None = None):
    """-> (recv_x, recv_topk_idx, recv_topk_weights, num_recv_tokens_per_expert, handle).

    recv_x is `(x_fp8 [N, H] e4m3, scales [N, H/128] f32)` when use_fp8, else [N, H] in x's dtype;
    recv_topk_idx int64 [N, topk] local ids; recv_topk_weights f32 [N, topk];
    num_recv_tokens_per_expert a list of E/R ints (tokens received per local expert)."""
    if not dist.is_available() or not dist.is_initialized():
        raise ArgumentError("ep_dispatch(): torch.distributed is not initialized; call "
                            "torch.distributed.init_process_group (gloo on CPU, nccl on GPU) first")
    world = dist.get_world_size(group)
    _validate(x, topk_idx, topk_weights, num_experts, world, use_fp8)
    per = num_experts // world
    T, H = x.shape
    idx = topk_idx.long()
    owner = torch.where(idx >= 0, idx // per, -1)                       # [T, K] rank of each id
    ranks = torch.arange(world, device=x.device)
    goes = (owner[:, :, None] == ranks).any(1)                           # [T, R]
    dest, token = goes.T.nonzero(as_tuple=True)                          # destination-rank order
    send_counts = torch.bincount(dest, minlength=world)
    recv_counts_t = torch.empty_like(send_counts)
    dist.all_to_all_single(recv_counts_t, send_counts, group=group)
    send, recv = send_counts.tolist(), recv_counts_t.tolist()
    # ids local to the destination rank; weights kept only where the id is local there (DeepEP)
    local = torch.where(owner[token] == dest[:, None], idx[token] - dest[:, None] * per, -1)
    weights = torch.where(local >= 0, topk_weights[token].float(), 0.0)
    recv_idx = _exchange(local, send, recv, group)
    recv_w = _exchange(weights, send, recv, group)
    if use_fp8:
        q, s = per_token_quant_fp8(x, backend=backend)
        recv_x = (_exchange(q[token], send, recv, group), _exchange(s[token], send, recv, group))
    else:
        recv_x = _exchange(x[token], send, recv, group)
    per_expert = [int((recv_idx == e).any(1).sum()) for e in range(per)]
    handle = EPHandle(token, send, recv, T, H, group)
    return recv_x, recv_idx, recv_w, per_expert, handle


def ep_combine(y: torch.Tensor, handle: EPHandle, *, backend: str | None = None) -> torch.Tensor:
    """Send each received row back to its source and sum the copies of each token -> [T, N]."""
    if not isinstance(handle, EPHandle):
        raise ArgumentError(f"ep_combine(): handle must be the one ep_dispatch returned, got "
                            f"{type(handle).__name__}")
    n_recv = sum(handle.recv_counts)
    if not isinstance(y, torch.Tensor) or y.dim() != 2 or y.shape[0] != n_recv \
            or y.dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ArgumentError(f"ep_combine(): y must be a float32/float16/bfloat16 tensor with one row "
                            f"per received token ({n_recv}), got {_describe(y)}")
    back = _exchange(y, handle.recv_counts, handle.send_counts, handle.group)   # [S, N] send order
    world = len(handle.send_counts)
    T = handle.num_tokens
    # copy j of token t is row pos[t, j] of `back` (-1: none); rows come in destination-rank order
    pos = torch.full((T, world), -1, dtype=torch.int32, device=y.device)
    start = 0
    tok = handle.send_token
    for r, c in enumerate(handle.send_counts):
        pos[tok[start:start + c], r] = torch.arange(start, start + c, dtype=torch.int32, device=y.device)
        start += c
    if back.shape[0] == 0 or T == 0:
        return torch.zeros(T, y.shape[1], dtype=y.dtype, device=y.device)
    return moe_combine(back, pos, torch.ones(T, world, dtype=torch.float32, device=y.device),
                       backend=backend)
