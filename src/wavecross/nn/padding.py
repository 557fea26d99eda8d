"""Padding to a size multiple, shared by the fusion network and the pre-training auto-encoders."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Pad (B, C, H, W) at the bottom/right to multiples of ``multiple``; returns the padded tensor and (H, W).

    Reflection padding keeps image statistics at the border (no artificial dark frame); when the pad is larger
    than the image allows for reflection, the remainder is filled by replication.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    # Unconditional pads (possibly of zero) and sym_min keep this traceable with symbolic sizes (ONNX export).
    rh, rw = torch.sym_min(ph, h - 1), torch.sym_min(pw, w - 1)
    x = F.pad(x, (0, rw, 0, rh), mode="reflect")
    x = F.pad(x, (0, pw - rw, 0, ph - rh), mode="replicate")
    return x, (h, w)
