"""Input checking shared by the classical baselines, so they all honour the same contract as the network."""

from __future__ import annotations

import numpy as np


def check_pair(ir: np.ndarray, vis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 (H, W); raises ``ValueError`` on a shape mismatch or a non-2-D input.

    The baselines compute in float64 so that tiny regularisers (GFF's eps = 1e-6) and cumulative sums stay
    exact.
    """
    ir, vis = np.asarray(ir), np.asarray(vis)
    if ir.ndim != 2 or ir.shape != vis.shape:
        raise ValueError(f"expected two (H, W) images of the same shape, got {ir.shape} and {vis.shape}")
    return ir.astype(np.float64), vis.astype(np.float64)


def finish(fused: np.ndarray) -> np.ndarray:
    """Back to the fuser contract: float32 in [0, 1]."""
    return np.clip(fused, 0.0, 1.0).astype(np.float32)
