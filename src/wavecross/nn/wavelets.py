"""Orthonormal 2-D Haar wavelet transform for (B, C, H, W) tensors.

Sub-band order is (LL, LH, HL, HH), the same as PyWavelets' ``dwt2(x, "haar")`` → ``(cA, (cH, cV, cD))``, signs
included. For a 2×2 block [[a, b], [c, d]]:

- LL = (a + b + c + d) / 2 — local mean (times 2): structure, brightness;
- LH = (a + b − c − d) / 2 — change between rows: responds to *horizontal* edges;
- HL = (a − b + c − d) / 2 — change between columns: responds to *vertical* edges;
- HH = (a − b − c + d) / 2 — diagonal detail.

The transform is orthonormal, so the inverse is exact and energy is preserved. Odd heights/widths are handled by
repeating the last row/column before the transform (PyWavelets' ``symmetric`` mode gives the same bands for Haar);
:func:`haar_iwt` takes the original size and crops the extra row/column away, so ``iwt(dwt(x), x.shape[-2:]) == x``.
Implemented with reshapes and additions (no convolution), it is exact in floating point up to rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BAND_NAMES = ("LL", "LH", "HL", "HH")


def haar_dwt(x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Haar DWT of ``x`` (B, C, H, W) → four (B, C, ⌈H/2⌉, ⌈W/2⌉) bands (LL, LH, HL, HH)."""
    h, w = x.shape[-2:]
    if h % 2 or w % 2:
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
    a = x[..., 0::2, 0::2]
    b = x[..., 0::2, 1::2]
    c = x[..., 1::2, 0::2]
    d = x[..., 1::2, 1::2]
    top, bottom = a + b, c + d
    top_diff, bottom_diff = a - b, c - d
    return (
        (top + bottom) * 0.5,
        (top - bottom) * 0.5,
        (top_diff + bottom_diff) * 0.5,
        (top_diff - bottom_diff) * 0.5,
    )


def haar_iwt(ll: Tensor, lh: Tensor, hl: Tensor, hh: Tensor, size: tuple[int, int] | None = None) -> Tensor:
    """Inverse of :func:`haar_dwt`; ``size`` = the original (H, W), needed to undo odd-size padding."""
    s1, d1 = ll + lh, hl + hh  # 2(a+b), 2(a-b)
    s2, d2 = ll - lh, hl - hh  # 2(c+d), 2(c-d)
    a, b = (s1 + d1) * 0.5, (s1 - d1) * 0.5
    c, d = (s2 + d2) * 0.5, (s2 - d2) * 0.5
    bsz, ch, h2, w2 = ll.shape
    top = torch.stack((a, b), dim=-1).reshape(bsz, ch, h2, 2 * w2)
    bottom = torch.stack((c, d), dim=-1).reshape(bsz, ch, h2, 2 * w2)
    out = torch.stack((top, bottom), dim=-2).reshape(bsz, ch, 2 * h2, 2 * w2)
    if size is not None:
        out = out[..., : size[0], : size[1]]
    return out


class HaarDWT(nn.Module):
    """Module form of :func:`haar_dwt`; returns the four bands stacked as (B, 4, C, H/2, W/2)."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.stack(haar_dwt(x), dim=1)


class HaarIWT(nn.Module):
    """Module form of :func:`haar_iwt` for bands stacked as (B, 4, C, H/2, W/2)."""

    def forward(self, bands: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        return haar_iwt(*bands.unbind(dim=1), size=size)
