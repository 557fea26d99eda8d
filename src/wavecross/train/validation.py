"""Full-size validation of the fusion stage: fuse whole validation images, score them, keep the best checkpoint.

A loss on 128×128 centre crops says little about what users see: the network attends globally, and inference
runs at 640×480 and larger. So every ``validation.every`` steps the model fuses each validation pair at its full
size (exactly as ``wavecross fuse`` does: the same tiling rule, output rounded to 8 bits), and the field's metrics
are computed on the 0–255 luminance with :mod:`wavecross.metrics`.

The composite score (:func:`composite_score`) ranks checkpoints. It is the weighted mean, over metrics, of the
relative gain over a parameter-free reference fusion (``max`` by default) on the same images:

    gain(m, set) = clip(sign_m · (value − reference) / max(|reference|, floor_m), −0.5, 0.5)
    score        = Σ_m w_m · mean_sets gain(m, set) / Σ_m w_m

sign_m is +1 where higher is better and −1 where lower is. Relative gains make metrics of different scales
comparable (an SD of 40 and a Qabf of 0.6), the reference keeps the score meaningful per set (dark MSRS and bright
TNO alike), the clip stops one metric with a tiny reference value from deciding alone, and sets count equally
whatever their number of pairs. floor_m is 0 except for Nabf, whose reference is ≈ 0 (the max fusion adds no
artefacts): its gains are measured against 0.05, so each 0.005 of added noise costs as much as 10 % of one metric.
A score of 0.05 reads "5 % better than the max fusion on average".
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data import load_pair_set
from ..errors import WavecrossError
from ..metrics import HIGHER_IS_BETTER, compute, resolve

#: The paper's eight metrics (its abstract and tables), then CC, Nabf and the thermal-fidelity measures.
PAPER_METRICS = ("EN", "SD", "SF", "AG", "SCD", "VIFF", "Qabf", "MS_SSIM")
DEFAULT_METRICS = (*PAPER_METRICS, "CC", "Nabf", "RankAgree", "LocalEnergyErr", "HotContrast")
#: Thermal order weighs as four image-quality metrics: keeping it is the method's purpose. Nabf guards against
#: sharpness bought with noise. LocalEnergyErr and HotContrast are logged only: the first falls as the output nears
#: the IR image, which the other metrics already judge; the second is the heat-consistency ablation's read-out.
DEFAULT_WEIGHTS = {**dict.fromkeys(PAPER_METRICS, 1.0), "RankAgree": 4.0, "Nabf": 1.0}
GAIN_CLIP = 0.5
#: Denominators of the relative gain for metrics whose reference value is near zero.
SCALE_FLOOR = {"Nabf": 0.05}


@dataclass
class ValidationSet:
    """One folder of full-size validation pairs, as 0–255 luminance (uint8)."""

    name: str
    names: list[str]
    irs: list[np.ndarray]
    viss: list[np.ndarray]

    @classmethod
    def load(cls, root: str | Path, max_pairs: int = 0) -> ValidationSet:
        """The pairs of ``root`` (``ir/`` + ``vi/``); ``max_pairs`` > 0 keeps that many, evenly spaced by name."""
        names, irs, viss = load_pair_set(root)
        if 0 < max_pairs < len(names):
            keep = np.linspace(0, len(names) - 1, max_pairs).round().astype(int)
            names, irs, viss = [names[i] for i in keep], [irs[i] for i in keep], [viss[i] for i in keep]
        return cls(_set_label(Path(root)), names, irs, viss)


def _set_label(root: Path) -> str:
    """``val/MSRS`` → ``MSRS``: the folder name, which is what the logs and the report call a set."""
    return root.resolve().name


def fuse_u8(model: nn.Module, ir: np.ndarray, vis: np.ndarray, precision: str = "auto") -> np.ndarray:
    """Fuse two 0–255 luminance images with ``model`` as ``wavecross fuse`` would (``precision`` as its option);
    0–255 uint8 result."""
    from ..inference import fuse_tensors

    device = next(model.parameters()).device
    a = torch.from_numpy(ir.astype(np.float32) / np.float32(255.0))[None, None].to(device)
    b = torch.from_numpy(vis.astype(np.float32) / np.float32(255.0))[None, None].to(device)
    fused = fuse_tensors(model, a, b, precision=precision)[0, 0].numpy()
    return np.clip(np.rint(fused * 255.0), 0, 255).astype(np.uint8)


def reference_fused(method: str, ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """A classical baseline's 0–255 uint8 output (the reference of the composite score)."""
    from ..inference import get_fuser

    out = get_fuser(method)(ir.astype(np.float32) / np.float32(255.0), vis.astype(np.float32) / np.float32(255.0))
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def score_set(
    fused: Sequence[np.ndarray], vset: ValidationSet, metrics: Sequence[str], convention: str = "cddfuse"
) -> dict[str, float]:
    """Mean of each metric over the pairs of a set (NaN values, e.g. an undefined SCD, are left out)."""
    rows = [
        compute(f, a, b, metrics=list(metrics), convention=convention)
        for f, a, b in zip(fused, vset.irs, vset.viss, strict=True)
    ]
    out = {}
    for m in metrics:
        values = [r[m] for r in rows if not math.isnan(r[m])]
        out[m] = float(np.mean(values)) if values else float("nan")
    return out


def composite_score(
    values: Mapping[str, Mapping[str, float]],
    reference: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float] | None = None,
) -> float:
    """The checkpoint-ranking score (module docstring): ``values[set][metric]`` against ``reference[set][metric]``.

    Metrics without a weight, or whose value or reference is NaN or whose reference is 0 in a set, are skipped
    for that set. Returns NaN when nothing could be scored.
    """
    weights = DEFAULT_WEIGHTS if weights is None else weights
    total, weight_sum = 0.0, 0.0
    for metric, w in weights.items():
        if not w:
            continue
        sign = 1.0 if HIGHER_IS_BETTER.get(metric, True) is not False else -1.0
        gains = []
        for set_name, row in values.items():
            v, r = row.get(metric, math.nan), reference.get(set_name, {}).get(metric, math.nan)
            scale = max(abs(r), SCALE_FLOOR.get(metric, 0.0))
            if math.isnan(v) or math.isnan(r) or scale == 0:
                continue
            gains.append(min(GAIN_CLIP, max(-GAIN_CLIP, sign * (v - r) / scale)))
        if gains:
            total += w * float(np.mean(gains))
            weight_sum += w
    return total / weight_sum if weight_sum else math.nan


class FullImageValidator:
    """Scores a model on full-size validation sets; the reference method's scores are computed once and cached.

    The reference values depend only on the images, the metric list, the convention and the reference method;
    they are cached in ``cache_dir`` (default ``~/.cache/wavecross``, or ``$WAVECROSS_CACHE``) under a hash of all
    of these, so every run on the same validation sets computes them once.
    """

    def __init__(
        self,
        roots: Sequence[str | Path],
        metrics: Sequence[str] = DEFAULT_METRICS,
        weights: Mapping[str, float] | None = None,
        reference: str = "max",
        max_pairs: int = 0,
        convention: str = "cddfuse",
        cache_dir: Path | None = None,
    ) -> None:
        resolve(list(metrics), convention)  # unknown names fail here, before any training
        self.metrics, self.convention = list(metrics), convention
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        missing = sorted(set(self.weights) - set(self.metrics))
        if missing:
            raise WavecrossError(
                f"validation weights name metrics that are not computed ({', '.join(missing)}); "
                "add them to validation.metrics."
            )
        self.sets = [ValidationSet.load(r, max_pairs) for r in roots]
        labels = [s.name for s in self.sets]
        if len(set(labels)) != len(labels):
            raise WavecrossError(f"validation roots share a folder name ({', '.join(labels)}); give each set its own.")
        self.reference_method = reference
        self.reference = self._reference(cache_dir or default_cache_dir())

    def _reference(self, cache_dir: Path) -> dict[str, dict[str, float]]:
        digest = hashlib.sha256()
        for s in self.sets:
            for name, a, b in zip(s.names, s.irs, s.viss, strict=True):
                digest.update(f"{s.name}/{name}{a.shape}".encode())
                digest.update(a.tobytes())
                digest.update(b.tobytes())
        key = {
            "method": self.reference_method,
            "metrics": self.metrics,
            "convention": self.convention,
            "images": digest.hexdigest(),
        }
        cache = cache_dir / f"val_reference_{hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]}.json"
        try:
            stored = json.loads(cache.read_text())
            if stored.get("key") == key:
                return stored["values"]
        except (OSError, ValueError):
            pass  # absent or unreadable: compute
        values = {
            s.name: score_set(
                [reference_fused(self.reference_method, a, b) for a, b in zip(s.irs, s.viss, strict=True)],
                s,
                self.metrics,
                self.convention,
            )
            for s in self.sets
        }
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"key": key, "values": values}, indent=1))
            os.replace(tmp, cache)
        except OSError:
            pass  # a read-only home: recomputed next time
        return values

    @torch.no_grad()
    def evaluate(self, model: nn.Module, precision: str = "fp32") -> dict[str, dict[str, float]]:
        """``{set: {metric: mean}}`` of ``model`` (put in eval mode for the call, its mode restored after), fused
        at ``precision`` (``wavecross fuse --precision``; fp32 by default, as ``validation.precision``)."""
        was_training = model.training
        model.eval()
        try:
            return {
                s.name: score_set(
                    [fuse_u8(model, a, b, precision) for a, b in zip(s.irs, s.viss, strict=True)],
                    s,
                    self.metrics,
                    self.convention,
                )
                for s in self.sets
            }
        finally:
            model.train(was_training)

    def score(self, values: Mapping[str, Mapping[str, float]]) -> float:
        return composite_score(values, self.reference, self.weights)


def default_cache_dir() -> Path:
    return Path(os.environ.get("WAVECROSS_CACHE", Path.home() / ".cache" / "wavecross"))


def flatten(values: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``{set: {metric: v}}`` → ``{"set/metric": v}`` (log and TensorBoard keys)."""
    return {f"{s}/{m}": v for s, row in values.items() for m, v in row.items()}


__all__ = [
    "DEFAULT_METRICS",
    "DEFAULT_WEIGHTS",
    "PAPER_METRICS",
    "FullImageValidator",
    "ValidationSet",
    "composite_score",
    "flatten",
    "fuse_u8",
    "score_set",
]
