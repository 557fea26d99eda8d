"""Registration of misaligned pairs (`wavecross fuse --register`): residual error, failures, and fusion metrics
before and after registration, on val pairs warped by known random transforms.

For each pair of ``<data>/val/MSRS`` and ``<data>/val/TNO`` (the first ``--max-pairs`` of each, in name order),
the IR image's centre crop (40 px margin) is the IR view and the visible image is seen through ``--warps`` random
warps (seeded): a shift of up to ±20 px, a rotation of up to ±3° and a scale of 0.95–1.05 about the centre, plus
for the homography a perspective that changes the local scale by up to ~1 % over the image. Each model gets the
part of the warp it can represent (translation: the shift; affine: shift, rotation and scale; homography: all).

The val pairs are themselves aligned only to a few pixels (a scale differing by 1–2 % on MSRS), so the residual
is measured against the applied warp after the unwarped pair's own registration (``residual_px``: the mean
distance over a 10×10 grid of points); ``residual_vs_applied_px`` ignores the pair's own misalignment. Pairs whose
unwarped crop cannot be registered count in ``reference_failures`` and get no ``residual_px``.

Fusion metrics (Tang conventions: Qabf, SSIM, Nabf) of the shipped model's output, over the warps that registered
(of pairs whose unwarped crop registered too): ``aligned`` fuses the pair as published, ``misaligned`` the warped
pair, ``registered`` the warped pair after registration, and ``aligned_registered`` the published pair after its
own registration (what ``registered`` should reproduce). ``metrics`` scores each against the published sources
(the IR crop and the unwarped visible crop), ``metrics_own_inputs`` against the two images it fused (as an
evaluation of a folder of fused images would).

    python bench/registration.py [--data ../shared/data] [--max-pairs 10] [--warps 3] [--seed 0]
                                 [-o bench/results/cpu/registration.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETS = ("MSRS", "TNO")
MARGIN = 40
METRICS = ("Qabf", "SSIM", "Nabf")
MODELS = ("translation", "affine", "homography")


def warp_matrix(w: int, h: int, params: np.ndarray, model: str) -> np.ndarray:
    """The part of the drawn warp (dx, dy, degrees, scale, px, py) that ``model`` can represent, as a 3×3 map of
    IR crop pixel coordinates to visible ones (rotation and scale about the centre)."""
    from wavecross.registration import similarity_transform

    dx, dy, degrees, scale, px, py = params
    if model == "translation":
        degrees, scale = 0.0, 1.0
    m = similarity_transform(w, h, dx, dy, degrees, scale)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    if model == "homography":
        # a perspective about the centre: the local scale changes by px·(x − cx) + py·(y − cy)
        tilt = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [px, py, 1.0 - px * centre[0] - py * centre[1]]])
        m = m @ tilt
    return m / m[2, 2]


def summary(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "mean": None, "median": None, "max": None}
    v = np.asarray(values)
    return {
        "n": len(v),
        "mean": round(float(v.mean()), 3),
        "median": round(float(np.median(v)), 3),
        "max": round(float(v.max()), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="holds val/MSRS, val/TNO")
    parser.add_argument("--max-pairs", type=int, default=10, help="pairs per set, first in name order (default 10)")
    parser.add_argument("--warps", type=int, default=3, help="random warps per pair (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "cpu" / "registration.json")
    args = parser.parse_args()

    import torch

    import wavecross
    from wavecross.data.io import luminance_u8, read_image
    from wavecross.errors import WavecrossError
    from wavecross.metrics import Triple, evaluate_triple, resolve
    from wavecross.registration import estimate_transform, transform_distance, warp_to

    chosen = resolve(list(METRICS), "tang")
    model = wavecross.load_model("wavecross", device="cpu")
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()

    def scores(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> dict[str, float]:
        return evaluate_triple(Triple.of(luminance_u8(fused), luminance_u8(ir), luminance_u8(vis)), chosen, threads=1)

    report: dict[str, object] = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch_threads": torch.get_num_threads(),
            "load_before": round(os.getloadavg()[0], 2),
        },
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "settings": {"max_pairs": args.max_pairs, "warps": args.warps, "seed": args.seed, "margin_px": MARGIN},
        "sets": {},
    }
    everything: dict[str, dict[str, list]] = {m: {} for m in MODELS}
    for data_set in SETS:
        folder = args.data / "val" / data_set
        names = sorted(p.name for p in (folder / "ir").iterdir())[: args.max_pairs]
        rows: dict[str, dict[str, list]] = {
            m: {
                "residual": [],
                "applied": [],
                "failures": [],
                "reference_failures": [],
                "seconds": [],
                "correlation": [],
                "aligned": [],
                "misaligned": [],
                "registered": [],
                "misaligned_own": [],
                "aligned_registered": [],
                "aligned_registered_own": [],
                "registered_own": [],
                "labels": [],
            }
            for m in MODELS
        }
        for name in names:
            ir_full, vis_full = read_image(folder / "ir" / name), read_image(folder / "vi" / name)
            h, w = ir_full.shape[:2]
            crop = np.array([[1.0, 0.0, MARGIN], [0.0, 1.0, MARGIN], [0.0, 0.0, 1.0]])
            ir = ir_full[MARGIN : h - MARGIN, MARGIN : w - MARGIN]
            vis0 = vis_full[MARGIN : h - MARGIN, MARGIN : w - MARGIN]
            aligned = scores(wavecross.fuse(ir, vis0, model), ir, vis0)
            draws = [
                np.array(
                    [
                        *rng.uniform(-20, 20, 2),
                        rng.uniform(-3, 3),
                        rng.uniform(0.95, 1.05),
                        *rng.uniform(-2.5e-5, 2.5e-5, 2),
                    ]
                )
                for _ in range(args.warps)
            ]
            for m in MODELS:
                row = rows[m]
                try:
                    own = estimate_transform(ir, vis0, m, name).matrix
                except WavecrossError:
                    own = None
                    row["reference_failures"].append(name)
                else:
                    vis0_registered = warp_to(ir.shape, vis_full, crop @ own)
                    fused_own = wavecross.fuse(ir, vis0_registered, model)
                    own_scores = scores(fused_own, ir, vis0), scores(fused_own, ir, vis0_registered)
                for k, params in enumerate(draws):
                    warp = warp_matrix(ir.shape[1], ir.shape[0], params, m)
                    moved = warp_to(ir.shape, vis_full, crop @ np.linalg.inv(warp))
                    tick = time.perf_counter()
                    try:
                        result = estimate_transform(ir, moved, m, name)
                    except WavecrossError as exc:
                        row["seconds"].append(time.perf_counter() - tick)
                        why = re.search(r"IR image \((.*)\); fuse", str(exc))
                        row["failures"].append(f"{name} #{k}: {why.group(1) if why else exc}")
                        continue
                    row["seconds"].append(time.perf_counter() - tick)
                    row["correlation"].append(result.correlation)
                    row["applied"].append(transform_distance(result.matrix, warp, ir.shape))
                    if own is None:
                        continue
                    row["residual"].append(transform_distance(result.matrix, warp @ own, ir.shape))
                    row["labels"].append(f"{name} #{k}")
                    registered = warp_to(ir.shape, moved, result.matrix)
                    fused_moved = wavecross.fuse(ir, moved, model)
                    fused_registered = wavecross.fuse(ir, registered, model)
                    row["aligned"].append(aligned)
                    row["misaligned"].append(scores(fused_moved, ir, vis0))
                    row["registered"].append(scores(fused_registered, ir, vis0))
                    row["misaligned_own"].append(scores(fused_moved, ir, moved))
                    row["registered_own"].append(scores(fused_registered, ir, registered))
                    row["aligned_registered"].append(own_scores[0])
                    row["aligned_registered_own"].append(own_scores[1])
            print(f"{data_set}/{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        report["sets"][data_set] = {"pairs": names, "models": {m: finish(rows[m]) for m in MODELS}}
        for m in MODELS:
            for key, values in rows[m].items():
                everything[m].setdefault(key, []).extend(values)
    report["all"] = {m: finish(everything[m]) for m in MODELS}
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["machine"]["load_after"] = round(os.getloadavg()[0], 2)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["all"], indent=2))


def finish(row: dict[str, list]) -> dict[str, object]:
    """One model's figures: residuals, failures, time per registration and mean metrics over the registered warps."""

    def mean_metrics(entries: list[dict[str, float]]) -> dict[str, float | None]:
        return {k: round(float(np.mean([e[k] for e in entries])), 4) if entries else None for k in METRICS}

    return {
        "attempts": len(row["seconds"]),
        "failures": len(row["failures"]),
        "failed": row["failures"],
        "reference_failures": row["reference_failures"],
        "residual_px": summary(row["residual"]),
        "worst": row["labels"][int(np.argmax(row["residual"]))] if row["residual"] else None,
        "residual_vs_applied_px": summary(row["applied"]),
        "correlation": summary(row["correlation"]),
        "seconds_per_registration": round(float(np.mean(row["seconds"])), 3) if row["seconds"] else None,
        "metrics": {
            "aligned": mean_metrics(row["aligned"]),
            "misaligned": mean_metrics(row["misaligned"]),
            "registered": mean_metrics(row["registered"]),
            "aligned_registered": mean_metrics(row["aligned_registered"]),
        },
        "metrics_own_inputs": {
            "aligned": mean_metrics(row["aligned"]),
            "misaligned": mean_metrics(row["misaligned_own"]),
            "registered": mean_metrics(row["registered_own"]),
            "aligned_registered": mean_metrics(row["aligned_registered_own"]),
        },
    }


if __name__ == "__main__":
    main()
