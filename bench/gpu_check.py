"""GPU checks that CI (CPU only) cannot make; prints JSON. Run on a machine with CUDA.

1. Precision: the shipped model fuses a 640×480 synthetic pair on the CPU in fp32 and on the GPU in fp32, bf16
   and fp16; the GPU outputs are compared with the CPU one in grey levels (mean and max |Δ| of the 8-bit output).
2. Mixed-precision training: the tiny config trains 60 fusion-stage steps with ``run.amp: bf16`` and with
   ``fp16`` (loss scaling) on the GPU; the losses must stay finite and fall, and ``--resume`` must continue.

    python bench/gpu_check.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
import yaml


def precision_agreement() -> dict:
    import wavecross
    from wavecross.data import synthetic_pair

    ir, vis = synthetic_pair(480, 640, seed=1)
    ref = wavecross.fuse(ir, vis, wavecross.load_model(device="cpu"), gray=True).astype(np.float64)
    gpu = wavecross.load_model(device="cuda")
    rows = {}
    for precision in ("fp32", "bf16", "fp16"):
        diff = np.abs(wavecross.fuse(ir, vis, gpu, precision=precision, gray=True).astype(np.float64) - ref)
        rows[precision] = {"mean_abs_grey": float(diff.mean()), "max_abs_grey": float(diff.max())}
    return rows


def amp_training(amp: str, root: Path) -> dict:
    from wavecross.train.config import parse_config
    from wavecross.train.stages import train

    values = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "src" / "wavecross" / "configs" / "tiny.yaml").read_text()
    )
    values.setdefault("run", {})["amp"] = amp
    values["run"].update(log_every=5, checkpoint_every=30, val_every=1000)
    values["pretrain"]["steps"], values["fusion"]["steps"] = 30, 60
    out = root / amp
    train(parse_config(values), "pretrain", out, progress=False)
    cfg = parse_config(values)
    cfg.fusion.steps = 30
    train(cfg, "fusion", out, progress=False)  # stops at step 30 of a 30-step schedule
    cfg = parse_config(values)
    train(cfg, "fusion", out, resume=True, progress=False)  # picks the checkpoint up, runs to 60
    logs = [json.loads(line) for line in (out / "fusion" / "metrics.jsonl").read_text().splitlines()]
    totals = [r["total"] for r in logs if r["split"] == "train"]
    return {
        "first_total": totals[0],
        "last_total": totals[-1],
        "finite": bool(np.isfinite(totals).all()),
        "fell": totals[-1] < totals[0],
        "resumed_to_step": max(r["step"] for r in logs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this script checks the GPU paths")
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "precision": precision_agreement()}
    with tempfile.TemporaryDirectory() as tmp:
        result["amp_training"] = {amp: amp_training(amp, Path(tmp)) for amp in ("bf16", "fp16")}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
