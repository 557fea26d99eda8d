"""Image-fusion metrics under the field's three published conventions, plus thermal-fidelity measures.

Every function takes (fused, ir, vis) grey images at the 0–255 scale (numpy arrays or torch tensors) or a
:class:`Triple`, and returns a float. :func:`compute` evaluates a whole preset or a list of names at once and
shares intermediates between metrics. Definitions, constants and the quirks of each reference: ``docs/metrics.md``.
"""

from __future__ import annotations

from ..allocator import retain_freed_memory
from ._base import Triple
from .feature_mi import fmi
from .gradient import nabf, qabf
from .information import cross_entropy, entropy, mutual_information
from .presets import ALL_METRICS, CONVENTIONS, GENERAL, HIGHER_IS_BETTER, PRESETS, compute, evaluate_triple, resolve
from .statistics import (
    average_gradient,
    correlation_coefficient,
    edge_intensity,
    mse,
    psnr,
    rmse_vifb,
    scd,
    spatial_frequency,
    standard_deviation,
)
from .structural import (
    cvejic_qc,
    ms_ssim,
    piella_qe,
    piella_qs,
    piella_qw,
    piella_qw_edges,
    ssim_matlab,
    ssim_skimage,
    ssim_wang,
    yang_qy,
)
from .thermal import hot_contrast, local_energy_err, rank_agree
from .visual import qcb, qcv, viff

__all__ = [
    "ALL_METRICS",
    "CONVENTIONS",
    "GENERAL",
    "HIGHER_IS_BETTER",
    "PRESETS",
    "Triple",
    "average_gradient",
    "compute",
    "correlation_coefficient",
    "cross_entropy",
    "cvejic_qc",
    "edge_intensity",
    "entropy",
    "evaluate_triple",
    "fmi",
    "hot_contrast",
    "local_energy_err",
    "ms_ssim",
    "mse",
    "mutual_information",
    "nabf",
    "piella_qe",
    "piella_qs",
    "piella_qw",
    "piella_qw_edges",
    "psnr",
    "qabf",
    "qcb",
    "qcv",
    "rank_agree",
    "resolve",
    "retain_freed_memory",
    "rmse_vifb",
    "scd",
    "spatial_frequency",
    "ssim_matlab",
    "ssim_skimage",
    "ssim_wang",
    "standard_deviation",
    "viff",
    "yang_qy",
]
