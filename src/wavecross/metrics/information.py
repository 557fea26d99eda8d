"""Histogram metrics: entropy EN, mutual information MI (three conventions) and VIFB's cross-entropy CE.

Grey levels are the integers 0–255 (inputs are rounded and clipped, which leaves saved 8-bit images unchanged).
Histograms and joint histograms are cached on the :class:`Triple`, so EN, MI and CE of one triple count each
image and each image pair once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Triple, matlab_round


def histogram(t: Triple, key: str) -> np.ndarray:
    """256-bin grey-level counts of image ``key``."""
    return t.cached(("hist", key), lambda: np.bincount(t.u8(key).ravel(), minlength=256).astype(np.float64), uses=key)


def _joint(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.bincount((x * 256 + y).ravel(), minlength=65536).astype(np.float64).reshape(256, 256)


def _entropy_of_counts(counts: np.ndarray, log: Any = np.log2) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-np.sum(p * log(p)))


def entropy(fused: Any, ir: Any = None, vis: Any = None) -> float:
    """EN: Shannon entropy of F's 256-bin grey-level histogram in bits, −Σ p·log2 p. Higher is better.

    Same in all three references (CDDFuse rounds to uint8, VIFB floors, MATLAB ``entropy`` bins uint8).
    """
    t = Triple.of(fused, ir, vis)
    return t.cached(("EN",), lambda: _entropy_of_counts(histogram(t, "f")))


def _mi_from_joint(joint: np.ndarray, log: Any) -> float:
    p = joint / joint.sum()
    px = p.sum(axis=1)
    py = p.sum(axis=0)
    nz = p > 0
    outer = np.outer(px, py)[nz]
    return float(np.sum(p[nz] * (log(p[nz]) - log(outer))))


def _rescaled_u8(t: Triple, key: str) -> np.ndarray:
    """VIFB's mutinf re-quantisation of image ``key``: min–max stretch to 0–1, ×255, MATLAB int16 rounding (0 if
    constant)."""

    def compute() -> np.ndarray:
        img = t.image(key)
        lo, hi = img.min(), img.max()
        if hi == lo:
            return np.zeros(img.shape, np.int64)
        return matlab_round((img - lo) / (hi - lo) * 255.0).astype(np.int64)

    return t.cached(("vifb_u8", key), compute, uses=key)


def mutual_information(fused: Any, ir: Any = None, vis: Any = None, *, convention: str = "cddfuse") -> float:
    """MI = MI(F, A) + MI(F, B), each Σ p(f,x)·log(p(f,x) / (p(f)p(x))) over the 256×256 joint histogram.

    Higher is better. Conventions:

    - ``"cddfuse"`` (scikit-learn ``mutual_info_score``): natural log (nats) over the distinct grey levels;
    - ``"vifb"``: nats, after VIFB's per-image min–max re-quantisation round((x − min)/(max − min)·255) (a
      one-to-one relabelling for 8-bit images, so equal to the CDDFuse value unless an image is constant);
    - ``"tang"``: bits, MI = H(X) + H(F) − H(F, X) where the joint histogram is built from uint8 + 1 indices
      that saturate at 255, so grey levels 254 and 255 share a joint bin (marginals stay 256-bin).
    """
    t = Triple.of(fused, ir, vis)
    total = 0.0
    for src in "ab":
        if convention == "cddfuse":
            joint = t.cached(("joint", src), lambda s=src: _joint(t.u8("f"), t.u8(s)))
            total += _mi_from_joint(joint, np.log)
        elif convention == "vifb":
            joint = _joint(_rescaled_u8(t, src), _rescaled_u8(t, "f"))
            total += _mi_from_joint(joint, np.log)
        elif convention == "tang":
            f = np.minimum(t.u8("f"), 254)
            x = np.minimum(t.u8(src), 254)
            h_joint = _entropy_of_counts(_joint(f, x))
            total += _entropy_of_counts(histogram(t, src)) + entropy(t) - h_joint
        else:
            raise ValueError(f"unknown MI convention {convention!r}")
    return total


def cross_entropy(fused: Any, ir: Any = None, vis: Any = None) -> float:
    """CE (VIFB): mean over the sources of Σ pX·log2(pX / pF), over grey levels where both are non-zero.

    (A Kullback–Leibler divergence of the histograms, not a true cross-entropy.) Lower is better.
    """
    t = Triple.of(fused, ir, vis)
    hf = histogram(t, "f") / t.f.size
    total = 0.0
    for src in "ab":
        hx = histogram(t, src) / t.f.size
        nz = (hx > 0) & (hf > 0)
        total += float(np.sum(hx[nz] * np.log2(hx[nz] / hf[nz])))
    return total / 2.0
