"""Wavelet-attention modules: WA-L (infrared) and WA-H (visible).

Both apply a channel LayerNorm, split the feature map into Haar sub-bands, process the bands with either
self-attention (global, on patch tokens) or a convolution block (local), and put the bands back with the inverse
transform. WA-L attends over the low band (brightness, global thermal layout) and convolves the three detail bands;
WA-H does the opposite (convolves the structure, attends over the texture bands). The three detail bands are stacked
along the batch axis, as the text's "concatenation along the 0th dimension", so one block with shared weights
processes each of them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .attention import PatchEmbed, PatchUnembed, TransformerBlock
from .config import WaveCrossConfig
from .wavelets import haar_dwt, haar_iwt


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channel axis of a (B, C, H, W) map (each pixel normalised on its own)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class BandConvBlock(nn.Module):
    """3×3 conv C→2C, BN, LeakyReLU, 3×3 conv 2C→C, BN (the text's block), with an optional identity skip."""

    def __init__(self, channels: int, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.body = nn.Sequential(
            nn.Conv2d(channels, 2 * channels, 3, 1, 1),
            nn.BatchNorm2d(2 * channels),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * channels, channels, 3, 1, 1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class BandAttention(nn.Module):
    """Self-attention over the p×p patch tokens of a band (B, C, h, w); h, w multiples of p."""

    def __init__(self, cfg: WaveCrossConfig) -> None:
        super().__init__()
        c, p, d = cfg.channels, cfg.patch_size, cfg.dim
        self.embed = PatchEmbed(c, p, d)
        self.blocks = nn.ModuleList(
            TransformerBlock(d, cfg.heads, cfg.mlp_ratio, cfg.dropout, cfg.attn_scale) for _ in range(cfg.wa_depth)
        )
        self.unembed = PatchUnembed(c, p, d)

    def forward(self, x: Tensor) -> Tensor:
        tokens = self.embed(x)
        for block in self.blocks:
            tokens = block(tokens)
        return self.unembed(tokens, x.shape[-2:])


class WaveletAttention(nn.Module):
    """One WA module. ``kind="low"`` is WA-L (attention on LL), ``kind="high"`` is WA-H (attention on LH/HL/HH).

    Input and output are (B, C, H, W) with H, W multiples of 2p.
    """

    def __init__(self, cfg: WaveCrossConfig, kind: str) -> None:
        super().__init__()
        if kind not in ("low", "high"):
            raise ValueError(f"kind must be 'low' (WA-L) or 'high' (WA-H), not {kind!r}")
        self.kind = kind
        self.norm = ChannelLayerNorm(cfg.channels)
        self.attention = BandAttention(cfg)
        self.conv = BandConvBlock(cfg.channels, cfg.conv_residual)

    def forward(self, x: Tensor) -> Tensor:
        ll, lh, hl, hh = haar_dwt(self.norm(x))
        b = x.shape[0]
        high = torch.cat((lh, hl, hh), dim=0)  # the three detail bands share one block
        if self.kind == "low":
            ll, high = self.attention(ll), self.conv(high)
        else:
            ll, high = self.conv(ll), self.attention(high)
        lh, hl, hh = high.split(b, dim=0)
        return haar_iwt(ll, lh, hl, hh, size=x.shape[-2:])
