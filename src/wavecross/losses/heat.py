"""The heat-consistency loss L_heat = λ1·L_rank + λ2·L_energy (method text §3.5.3).

Both terms compare the fused image F with the IR image on the [0, 1] scale: L_rank keeps the thermal *order* of
pixel pairs (weighted toward hot regions), L_energy keeps the *local mean level* (no heat leakage or drift).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SALIENCY_NORMS = ("none", "minmax")


def normalize_ir(ir: Tensor, mode: str = "none") -> Tensor:
    """The "normalized grayscale" the saliency is computed on: ``none`` keeps IR's [0, 1] scale, ``minmax``
    stretches each image of the batch to [0, 1] (its coldest pixel 0, its hottest 1)."""
    if mode == "none":
        return ir
    if mode != "minmax":
        raise ValueError(f"saliency normalisation must be one of {SALIENCY_NORMS}, not {mode!r}")
    flat = ir.flatten(1)
    lo, hi = flat.min(1).values, flat.max(1).values
    shape = (-1,) + (1,) * (ir.ndim - 1)
    return (ir - lo.view(shape)) / (hi - lo).clamp_min(1e-6).view(shape)


def thermal_saliency(ir: Tensor, k: float = 10.0, t: float = 0.6, norm: str = "none") -> Tensor:
    """S = sigmoid(k·(IR_norm − t)): ≈1 on heat sources (IR above t), ≈0 on cold background; IR in [0, 1].

    ``norm`` selects IR_norm (:func:`normalize_ir`): with ``minmax`` the threshold t is relative to each image's
    own range, so the warmest objects of a dark night scene count as heat sources too.
    """
    return torch.sigmoid(k * (normalize_ir(ir, norm) - t))


def sample_pairs(
    height: int, width: int, n_random: int, n_neighbour: int, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Flat indices (i, j) of pixel pairs: ``n_random`` uniform random pairs and ``n_neighbour`` pairs of a random
    pixel and one of its right, lower or lower-right neighbours. Drawn on the CPU from ``generator``, so a seed
    gives the same pairs on every device.
    """
    g = generator
    n = height * width
    i_rand = torch.randint(n, (n_random,), generator=g)
    j_rand = torch.randint(n, (n_random,), generator=g)
    rows = torch.randint(height - 1, (n_neighbour,), generator=g)
    cols = torch.randint(width - 1, (n_neighbour,), generator=g)
    offsets = torch.tensor([[0, 1], [1, 0], [1, 1]])[torch.randint(3, (n_neighbour,), generator=g)]
    i_nb = rows * width + cols
    j_nb = (rows + offsets[:, 0]) * width + cols + offsets[:, 1]
    return torch.cat((i_rand, i_nb)), torch.cat((j_rand, j_nb))


def rank_loss(
    fused: Tensor,
    ir: Tensor,
    n_random: int = 4096,
    n_neighbour: int = 4096,
    generator: torch.Generator | None = None,
    k: float = 10.0,
    t: float = 0.6,
    saliency_norm: str = "none",
) -> Tensor:
    """Saliency-weighted ranking loss: mean over pairs (i, j) of ω_ij · max(0, −(IR_i − IR_j)(F_i − F_j)).

    The hinge is zero when F orders the pair as IR does (or IR ties), and grows with both the IR gap and the size
    of the inversion, so a reversal of a strong thermal difference costs most. ω_ij = (S_i + S_j)/2 with
    :func:`thermal_saliency`, so inversions in hot regions cost more. The same pairs are used for every image of
    the batch. Inputs are (B, 1, H, W) in [0, 1].
    """
    b, _, h, w = ir.shape
    i, j = (idx.to(ir.device) for idx in sample_pairs(h, w, n_random, n_neighbour, generator))
    ir_flat, f_flat = ir.reshape(b, -1), fused.reshape(b, -1)
    sal = thermal_saliency(ir_flat, k, t, saliency_norm)
    weight = 0.5 * (sal[:, i] + sal[:, j])
    violation = F.relu(-(ir_flat[:, i] - ir_flat[:, j]) * (f_flat[:, i] - f_flat[:, j]))
    return (weight * violation).mean()


def local_mean(x: Tensor, window: int = 7) -> Tensor:
    """w×w box mean with stride 1 and zero padding (divisor always w², border windows included)."""
    return F.avg_pool2d(x, window, stride=1, padding=window // 2, count_include_pad=True)


def local_energy_loss(fused: Tensor, ir: Tensor, window: int = 7) -> Tensor:
    """MSE between the 7×7 zero-padded local means of IR and F."""
    return F.mse_loss(local_mean(fused, window), local_mean(ir, window))


def heat_consistency_loss(
    fused: Tensor,
    ir: Tensor,
    rank_weight: float = 1.0,
    energy_weight: float = 1.0,
    generator: torch.Generator | None = None,
    n_random: int = 4096,
    n_neighbour: int = 4096,
    saliency_norm: str = "none",
) -> dict[str, Tensor]:
    """L_heat = λ1·L_rank + λ2·L_energy; returns ``rank``, ``energy`` and ``total``."""
    rank = rank_loss(fused, ir, n_random, n_neighbour, generator, saliency_norm=saliency_norm)
    energy = local_energy_loss(fused, ir)
    return {"rank": rank, "energy": energy, "total": rank_weight * rank + energy_weight * energy}
