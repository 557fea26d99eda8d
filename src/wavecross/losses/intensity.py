"""L_int, the content term of the fusion loss: intensity toward the brighter source, gradients toward the stronger.

The method text says only that L_int measures "illumination and contour information". We use the field's common
form (SeAFusion, TarDAL, CDDFuse): L1(F, max(IR, VIS)) keeps the brighter (usually hotter or better-lit) pixel,
and L1(|∇F|, max(|∇IR|, |∇VIS|)) keeps the stronger edge of either source. |∇| = |Sobel_x| + |Sobel_y|.

:func:`gradient_overshoot_loss` and :func:`intensity_overshoot_loss` are ours, not the paper's: extra, one-sided
penalties on edges stronger than either source's (what the Nabf artefact measure counts: doubled edges where both
sources have one) and on grey levels brighter than either source's (the light band along IR/visible boundaries that
``bench/halo.py`` measures; L1 to the max already costs it, but no more than the same darkening).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])

SHARED_EDGE = 100 / 255
"""|∇| above which a pixel is an edge, on [0, 1] images: the 100 grey levels of ``bench/halo.py``, whose probe
measures |∇| as the L2 norm and widens by a diamond; here it is the L1 norm (a little larger) and a square."""


def sobel_magnitude(x: Tensor) -> Tensor:
    """|∂x| + |∂y| of a (B, 1, H, W) image with 3×3 Sobel kernels and replicate padding."""
    kernels = torch.stack((_SOBEL_X, _SOBEL_X.t())).unsqueeze(1).to(x)
    grads = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels)
    return grads.abs().sum(dim=1, keepdim=True)


def intensity_loss(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """L1 distance of F to the pixel-wise max of the sources."""
    return F.l1_loss(fused, torch.maximum(ir, vis))


def gradient_loss(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """L1 distance of |∇F| to the pixel-wise max of the sources' gradient magnitudes."""
    return F.l1_loss(sobel_magnitude(fused), torch.maximum(sobel_magnitude(ir), sobel_magnitude(vis)))


def gradient_overshoot_loss(fused: Tensor, ir: Tensor, vis: Tensor) -> Tensor:
    """Mean of relu(|∇F| − max(|∇IR|, |∇VIS|)): edge strength that neither source has (0 when F adds none)."""
    return F.relu(sobel_magnitude(fused) - torch.maximum(sobel_magnitude(ir), sobel_magnitude(vis))).mean()


def intensity_overshoot_loss(fused: Tensor, ir: Tensor, vis: Tensor, radius: int = 0) -> Tensor:
    """Mean of relu(F − max(IR, VIS)): brightness that neither source has (0 when F stays within the brighter).

    ``radius`` > 0 counts it only within that many pixels of an edge both sources have (the band of
    ``bench/halo.py``), so a hot region may still be lifted above both sources away from such edges; the mean is
    still over every pixel.
    """
    over = F.relu(fused - torch.maximum(ir, vis))
    if radius > 0:
        shared = ((sobel_magnitude(ir) > SHARED_EDGE) & (sobel_magnitude(vis) > SHARED_EDGE)).to(over)
        over = over * F.max_pool2d(shared, 2 * radius + 1, stride=1, padding=radius)
    return over.mean()
