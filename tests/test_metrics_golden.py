"""Every value of ../shared/data/reference/golden.json, reproduced by the metrics of each convention.

golden.json holds what the three reference codes (and the reference ports of Piella/Yang/Cvejic/FMI/MS-SSIM)
compute for 5 TNO pairs × 3 trivial fusions. Tolerance: relative 1e-6, except where the reference README states
that a reference is rounding-sensitive (Q_C, Q_Y, Tang's SSIM: 1e-3).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from wavecross.metrics import CONVENTIONS, GENERAL, Triple, compute, piella_qw_edges, ssim_skimage

REFERENCE = Path(__file__).parents[1] / ".." / "shared" / "data" / "reference"

# golden "extra.*" keys → general metric names
EXTRA = {
    "Qs": "Q_S",
    "Qw": "Q_W",
    "Qe": "Q_E",
    "Qy": "Q_Y",
    "Qc": "Q_C",
    "FMI_pixel": "FMI_pixel",
    "FMI_dct": "FMI_dct",
    "FMI_w": "FMI_w",
    "MS_SSIM_sum": "MS_SSIM",
}
# golden keys that are variants rather than catalogue names
VARIANTS: dict[str, Callable[[Triple], float]] = {
    "cddfuse.SSIM_film_dr255": lambda t: ssim_skimage(t, data_range=255.0),
    "extra.Qw_mefb": piella_qw_edges,  # MEFB's "Q_W" is Q_W of the Prewitt edge images
}
LOOSE = {"extra.Qc": 1e-3, "extra.Qy": 1e-3, "tang.SSIM": 1e-3}
RTOL = 1e-6


def _golden() -> dict:
    path = REFERENCE / "golden.json"
    if not path.is_file():
        pytest.skip(f"reference data not found at {path}")
    return json.loads(path.read_text())


def _load(rel: str) -> np.ndarray:
    from PIL import Image

    with Image.open(REFERENCE / rel) as im:
        return np.asarray(im.convert("L"))


def _cases() -> list[tuple[str, str]]:
    path = REFERENCE / "golden.json"
    if not path.is_file():
        return [("absent", "absent")]
    golden = json.loads(path.read_text())
    return [(pair, fusion) for pair in golden for fusion in golden[pair]]


def _ours(t: Triple, keys: list[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for convention in CONVENTIONS:
        names = [k.split(".", 1)[1] for k in keys if k.startswith(convention + ".") and k not in VARIANTS]
        for name, value in compute(t, t.a, t.b, names, convention=convention).items():
            values[f"{convention}.{name}"] = value
    extras = [EXTRA[k.split(".", 1)[1]] for k in keys if k.startswith("extra.") and k not in VARIANTS]
    for name, value in compute(t, t.a, t.b, extras).items():
        values["extra." + next(k for k, v in EXTRA.items() if v == name)] = value
    for key in keys:
        if key in VARIANTS:
            values[key] = VARIANTS[key](t)
    return values


@pytest.mark.parametrize(("pair", "fusion"), _cases())
def test_golden_values(pair: str, fusion: str) -> None:
    golden = _golden()[pair][fusion]
    t = Triple(_load(f"fused/{fusion}/{pair}.png"), _load(f"ir/{pair}.png"), _load(f"vi/{pair}.png"))
    ours = _ours(t, list(golden))
    assert set(ours) == set(golden), "every golden key must map to a metric"
    failures = []
    for key, expected in golden.items():
        got = ours[key]
        if expected is None:
            if not math.isnan(got):
                failures.append(f"{key}: expected NaN, got {got!r}")
            continue
        tol = LOOSE.get(key, RTOL)
        if not (abs(got - expected) <= tol * abs(expected)):
            failures.append(f"{key}: {got!r} vs {expected!r} (rel {abs(got - expected) / abs(expected):.2e})")
    assert not failures, "\n".join(failures)


def test_golden_covers_the_catalogue() -> None:
    """Every preset metric and every general metric with an external reference has golden values."""
    keys = set(next(iter(next(iter(_golden().values())).values())))
    for convention, defs in CONVENTIONS.items():
        for name in defs:
            assert f"{convention}.{name}" in keys, f"{convention}.{name} has no reference value"
    referenced = set(EXTRA.values())
    own = {"RankAgree", "LocalEnergyErr", "HotContrast"}  # wavecross's own thermal measures
    assert referenced | own == set(GENERAL)
