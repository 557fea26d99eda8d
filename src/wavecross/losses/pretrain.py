"""Loss of the encoder pre-training stage: pixel loss + ε·(1 − SSIM) between reconstruction and input."""

from __future__ import annotations

import torch.nn.functional as F
from pytorch_msssim import ssim
from torch import Tensor


def reconstruction_loss(recon: Tensor, target: Tensor, eps: float = 1.0) -> dict[str, Tensor]:
    """Auto-encoder loss on (B, 1, H, W) images in [0, 1].

    ``pixel`` = MSE(recon, target); ``ssim`` = 1 − SSIM(recon, target) with pytorch-msssim's Gaussian 11×11,
    σ = 1.5 window (data range 1); ``total`` = pixel + eps · ssim. Returns the three terms (``total`` for backward).
    """
    pixel = F.mse_loss(recon, target)
    structure = 1.0 - ssim(recon, target, data_range=1.0, size_average=True)
    return {"pixel": pixel, "ssim": structure, "total": pixel + eps * structure}
