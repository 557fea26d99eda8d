"""The halo band as a number: how far fused images rise above both sources next to edges that both sources have.

The band seen along IR/visible boundaries (TNO 01's roof line against the sky) is brighter than the IR and the
visible image there, so no source explains it. Per pair: the edges both sources share (Sobel magnitude above
``--edge`` in both, on 0–255 grey/Y), widened by ``--radius`` pixels; there, the overshoot max(0, F − max(IR, VIS))
in grey levels, its mean and the share of pixels above 10 grey levels; the same mean away from those edges.
Means over the pairs. A probe, not one of the field's metrics (docs/metrics.md): use it on val/ to compare
variants, and on test/ only to describe a model already chosen.

    python bench/halo.py ../shared/data/val/TNO --fused v3=fused/TNO --fused v2=fused_v2/TNO [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from wavecross.data import load_pair_set, luminance_u8, read_image


def grey(image: np.ndarray) -> np.ndarray:
    """The 0–255 grey/Y image the metrics see, as float."""
    return luminance_u8(image).astype(np.float32)


def gradient_magnitude(x: np.ndarray) -> np.ndarray:
    return np.hypot(ndimage.sobel(x, 0), ndimage.sobel(x, 1))


def halo(ir: np.ndarray, vis: np.ndarray, fused: np.ndarray, edge: float, radius: int) -> dict[str, float]:
    """Overshoot of ``fused`` above both sources near and away from the edges both have (all 0–255 grey)."""
    shared = (gradient_magnitude(ir) > edge) & (gradient_magnitude(vis) > edge)
    near = ndimage.binary_dilation(shared, iterations=radius)
    over = np.clip(fused - np.maximum(ir, vis), 0, None)
    by_edges = over[near] if near.any() else np.zeros(1, np.float32)  # a pair without shared edges counts as 0
    return {
        "near_mean": float(by_edges.mean()),
        "near_over_10": float((by_edges > 10).mean()),
        "away_mean": float(over[~near].mean()),
        "near_fraction": float(near.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="a set with ir/ and vi/ (or another pair layout wavecross reads)")
    parser.add_argument("--fused", action="append", required=True, help="NAME=DIR of <stem>.png outputs")
    parser.add_argument("--edge", type=float, default=100.0, help="Sobel magnitude of an edge, in grey levels")
    parser.add_argument("--radius", type=int, default=12, help="pixels around a shared edge counted as near it")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    names, irs, viss = load_pair_set(args.root)  # stems and 0–255 grey/Y, as the metrics see them
    result: dict[str, dict[str, float]] = {}
    for spec in args.fused:
        label, _, folder = spec.partition("=")
        rows = [
            halo(grey(ir), grey(vis), grey(read_image(Path(folder) / f"{name}.png")), args.edge, args.radius)
            for name, ir, vis in zip(names, irs, viss, strict=True)
        ]
        result[label] = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
        r = result[label]
        print(
            f"{label}: near shared edges {r['near_mean']:.2f} grey levels above both sources "
            f"({100 * r['near_over_10']:.1f} % of those pixels by more than 10), away {r['away_mean']:.2f}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "root": str(args.root),
                    "edge": args.edge,
                    "radius": args.radius,
                    "pairs": len(names),
                    "methods": result,
                },
                indent=1,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
