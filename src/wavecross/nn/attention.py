"""Head-partitioned scaled dot-product attention, transformer blocks and patch (un)embedding.

The method text describes the attention as: token dimension split into ``heads`` equal partitions, Q/K/V linear
projections, scaled dot-product attention inside each partition, an output projection and dropout. Self-attention
and cross-attention are the same operation with different key/value sources, so one class serves both.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class MultiHeadAttention(nn.Module):
    """Attention of ``query`` tokens (B, Nq, d) over ``context`` tokens (B, Nk, d).

    ``scale="dim"`` uses d^-1/2 as the method text writes it; ``scale="head"`` uses (d/heads)^-1/2, the usual
    transformer choice. Uses :func:`torch.nn.functional.scaled_dot_product_attention`, which picks a fused,
    memory-efficient kernel where one exists.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0, scale: str = "dim") -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"token dim {dim} is not divisible by {heads} heads")
        if scale not in ("dim", "head"):
            raise ValueError(f"scale must be 'dim' or 'head', not {scale!r}")
        self.heads = heads
        self.scale = (dim if scale == "dim" else dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, query: Tensor, context: Tensor | None = None) -> Tensor:
        context = query if context is None else context
        b, nq, d = query.shape
        nk = context.shape[1]
        q = self.q(query).view(b, nq, self.heads, d // self.heads).transpose(1, 2)
        k, v = self.kv(context).view(b, nk, 2, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # Fold our scale into q and let SDPA apply its default (head_dim^-1/2): same result, and exporters that
        # drop SDPA's ``scale`` argument (ONNX) stay correct.
        q = q * (self.scale * (d // self.heads) ** 0.5)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.drop(self.proj(out.transpose(1, 2).reshape(b, nq, d)))


class FeedForward(nn.Sequential):
    """Two-layer GELU MLP (d → ratio·d → d) with dropout."""

    def __init__(self, dim: int, ratio: float = 4.0, dropout: float = 0.0) -> None:
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(dropout))


class TransformerBlock(nn.Module):
    """Pre-LayerNorm block: x + Attn(LN(x)[, LN(context)]), then x + MLP(LN(x)).

    With ``context`` it is a cross-attention block (queries from ``x``, keys/values from ``context``).
    ``mlp_ratio=0`` leaves the MLP out (the cross-attention blocks CA1–CA4 of the text have none).
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        scale: str = "dim",
        cross: bool = False,
    ) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim) if cross else None
        self.attn = MultiHeadAttention(dim, heads, dropout, scale)
        self.mlp: nn.Module | None = None
        if mlp_ratio > 0:
            self.norm_mlp = nn.LayerNorm(dim)
            self.mlp = FeedForward(dim, mlp_ratio, dropout)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        q = self.norm_q(x)
        kv = q if self.norm_kv is None or context is None else self.norm_kv(context)
        x = x + self.attn(q, kv)
        return x if self.mlp is None else x + self.mlp(self.norm_mlp(x))


class PatchEmbed(nn.Module):
    """(B, C, H, W) map → (B, (H/p)(W/p), d) tokens, one token per p×p patch.

    When ``dim == C·p·p`` the embedding is the plain reshape the method text describes (no parameters); otherwise a
    linear layer maps the C·p·p patch vector to ``dim``. H and W must be multiples of p.
    """

    def __init__(self, channels: int, patch: int, dim: int) -> None:
        super().__init__()
        self.patch = patch
        flat = channels * patch * patch
        self.proj: nn.Module = nn.Identity() if dim == flat else nn.Linear(flat, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        p = self.patch
        x = x.view(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, (h // p) * (w // p), c * p * p)
        return self.proj(x)


class PatchUnembed(nn.Module):
    """Inverse of :class:`PatchEmbed`: tokens → (B, C, H, W) map (linear back to C·p·p first when needed)."""

    def __init__(self, channels: int, patch: int, dim: int) -> None:
        super().__init__()
        self.patch = patch
        self.channels = channels
        flat = channels * patch * patch
        self.proj: nn.Module = nn.Identity() if dim == flat else nn.Linear(dim, flat)

    def forward(self, tokens: Tensor, size: tuple[int, int]) -> Tensor:
        b = tokens.shape[0]
        p, c = self.patch, self.channels
        h, w = size[0] // p, size[1] // p
        x = self.proj(tokens).view(b, h, w, c, p, p).permute(0, 3, 1, 4, 2, 5)
        return x.reshape(b, c, h * p, w * p)
