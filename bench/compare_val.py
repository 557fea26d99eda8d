"""Compare weights files on every validation pair: the composite score and each set's metrics (docs/training.md).

The training runs score 8 pairs per set to stay fast; a choice between finished candidates (which weights to ship)
is made here on all of val/ (MSRS 40, TNO 26, LLVIP 20 pairs), fused as `wavecross fuse` fuses them.

    python bench/compare_val.py v2=wavecross-v2.safetensors v3=runs/v3/fusion/best.safetensors [--out cmp.json]
    python bench/compare_val.py wavecross --precision fp32 bf16     # what the default precision changes
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
VAL = ROOT.parent / "shared" / "data" / "val"
SHOWN = ("SD", "SF", "VIFF", "Qabf", "SCD", "RankAgree", "Nabf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="+", help="NAME=FILE (a model.safetensors), or a bundled model name")
    parser.add_argument("--roots", nargs="+", default=[str(VAL / s) for s in ("MSRS", "TNO", "LLVIP")])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--precision",
        nargs="+",
        default=["fp32"],
        help="fuse at each of these (fp32, the default as in training's validation; auto; bf16): NAME@PRECISION rows",
    )
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import wavecross
    from wavecross.hub import list_models
    from wavecross.train.validation import FullImageValidator

    validator = FullImageValidator(args.roots, max_pairs=0)
    result = {}
    for spec in args.weights:
        name, _, path = spec.rpartition("=")
        name = name or Path(path).stem
        if path in list_models():
            model = wavecross.load_model(path, device="cpu")
        else:
            model = wavecross.load_model(device="cpu", weights=path)
        for precision in args.precision:
            label = name if len(args.precision) == 1 else f"{name}@{precision}"
            start = time.perf_counter()
            values = validator.evaluate(model, precision)
            result[label] = {
                "weights": path,
                "precision": precision,
                "score": validator.score(values),
                "values": values,
            }
            shown = " ".join(f"{s}/{m} {values[s][m]:.4g}" for s in values for m in SHOWN)
            took = time.perf_counter() - start
            print(f"{label}: score {result[label]['score']:.4f} ({took:.0f} s) {shown}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
