"""Val/ evidence for the automatic tiling rule: the shipped model's validation metrics and composite score with
the images fused whole and in tiles of several sizes (docs/speed.md).

Tiles see less context than the whole image, so they change the output; this measures what that costs in the
field's metrics on full-size 1280×1024 validation pairs (val/LLVIP), where the rule applies.

    python bench/tiling.py [--pairs 10] [--out bench/results/cpu/tiling_val.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
#: name → (tile automatically above this many pixels, tile side, overlap)
VARIANTS = {
    "whole": (10**12, 640, 64),
    "t768": (640 * 512, 768, 96),
    "t640": (640 * 512, 640, 64),
    "t512": (640 * 512, 512, 64),
    "t512o32": (640 * 512, 512, 32),
    "t384o32": (640 * 512, 384, 32),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roots", nargs="+", default=[str(ROOT.parent / "shared" / "data" / "val" / "LLVIP")])
    parser.add_argument("--pairs", type=int, default=10, help="pairs per set, evenly spaced (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="+", choices=VARIANTS, default=list(VARIANTS), help="variants to run")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import wavecross
    import wavecross.engine as engine
    from wavecross.train.validation import FullImageValidator

    model = wavecross.load_model(device="cpu")
    validator = FullImageValidator(args.roots, max_pairs=args.pairs)
    result = {}
    for name in args.only:
        threshold, tile, overlap = VARIANTS[name]
        engine.AUTO_TILE_PIXELS, engine.DEFAULT_TILE, engine.DEFAULT_OVERLAP = threshold, tile, overlap
        start = time.perf_counter()
        values = validator.evaluate(model)
        result[name] = {"score": validator.score(values), "values": values, "seconds": time.perf_counter() - start}
        print(name, f"score {result[name]['score']:.4f}", flush=True)
    text = json.dumps({"pairs_per_set": args.pairs, "variants": result}, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
