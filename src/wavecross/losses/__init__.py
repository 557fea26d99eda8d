"""Losses of the two training stages; tensor-in, tensor-out functions on (B, 1, H, W) images in [0, 1]."""

from .fusion import FusionLoss, FusionLossWeights, fusion_loss
from .heat import (
    heat_consistency_loss,
    local_energy_loss,
    local_mean,
    rank_loss,
    sample_pairs,
    thermal_saliency,
)
from .intensity import (
    gradient_loss,
    gradient_overshoot_loss,
    intensity_loss,
    intensity_overshoot_loss,
    sobel_magnitude,
)
from .pretrain import reconstruction_loss

__all__ = [
    "FusionLoss",
    "FusionLossWeights",
    "fusion_loss",
    "gradient_loss",
    "gradient_overshoot_loss",
    "heat_consistency_loss",
    "intensity_loss",
    "intensity_overshoot_loss",
    "local_energy_loss",
    "local_mean",
    "rank_loss",
    "reconstruction_loss",
    "sample_pairs",
    "sobel_magnitude",
    "thermal_saliency",
]
