"""L_all = L_int + L_heat, with every weight in one dataclass (the training config's ``loss`` section)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .heat import heat_consistency_loss
from .intensity import gradient_loss, gradient_overshoot_loss, intensity_loss, intensity_overshoot_loss


@dataclass(frozen=True)
class FusionLossWeights:
    """Weights of L_all = intensity·L1(F, max) + gradient·L_grad + rank·L_rank + energy·L_energy
    (+ overshoot·L_overshoot + intensity_overshoot·L_above, ours, off by default; see
    :func:`~wavecross.losses.intensity.gradient_overshoot_loss` and
    :func:`~wavecross.losses.intensity.intensity_overshoot_loss`).

    ``rank`` and ``energy`` are λ1 and λ2 of L_heat; pair counts are per batch; ``saliency_norm`` is how IR is
    normalised before the saliency S of the rank weights (:func:`~wavecross.losses.heat.normalize_ir`);
    ``intensity_overshoot_radius`` > 0 counts that term only near edges both sources have.
    """

    intensity: float = 1.0
    gradient: float = 20.0
    rank: float = 500.0
    energy: float = 1.0
    rank_random_pairs: int = 4096
    rank_neighbour_pairs: int = 4096
    saliency_norm: str = "none"
    overshoot: float = 0.0
    intensity_overshoot: float = 0.0
    intensity_overshoot_radius: int = 0


def fusion_loss(
    fused: Tensor,
    ir: Tensor,
    vis: Tensor,
    weights: FusionLossWeights | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, Tensor]:
    """All terms of L_all, unweighted, plus ``total`` (weighted sum) for backward."""
    w = weights or FusionLossWeights()
    heat = heat_consistency_loss(
        fused, ir, w.rank, w.energy, generator, w.rank_random_pairs, w.rank_neighbour_pairs, w.saliency_norm
    )
    terms = {
        "intensity": intensity_loss(fused, ir, vis),
        "gradient": gradient_loss(fused, ir, vis),
        "rank": heat["rank"],
        "energy": heat["energy"],
    }
    terms["total"] = w.intensity * terms["intensity"] + w.gradient * terms["gradient"] + heat["total"]
    if w.overshoot:  # logged only when it trains, so the logs of the paper's loss keep their keys
        terms["overshoot"] = gradient_overshoot_loss(fused, ir, vis)
        terms["total"] = terms["total"] + w.overshoot * terms["overshoot"]
    if w.intensity_overshoot:
        terms["intensity_overshoot"] = intensity_overshoot_loss(fused, ir, vis, w.intensity_overshoot_radius)
        terms["total"] = terms["total"] + w.intensity_overshoot * terms["intensity_overshoot"]
    return terms


class FusionLoss(nn.Module):
    """Module wrapper holding the weights and a seeded generator for the rank-pair sampling."""

    def __init__(self, weights: FusionLossWeights | None = None, seed: int = 0) -> None:
        super().__init__()
        self.weights = weights or FusionLossWeights()
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, fused: Tensor, ir: Tensor, vis: Tensor) -> dict[str, Tensor]:
        return fusion_loss(fused, ir, vis, self.weights, self.generator)
