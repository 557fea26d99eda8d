"""Training throughput of both stages: samples/s and peak memory at crop 128, batch 8 (paper config).

Each stage runs in its own subprocess so its peak resident memory is its own. Data is random (loading is not
what is measured); one optimiser step = forward + loss + backward + AdamW update, as in `wavecross train`.

    python bench/train_throughput.py [--steps 10] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import torch


def measure(stage: str, device: str, steps: int, batch: int, crop: int, cfg: Any = None) -> dict:
    """Median seconds per optimiser step of ``stage``; ``cfg`` a TrainConfig (default: the paper model)."""
    from wavecross.nn import WaveCross
    from wavecross.train.config import parse_config
    from wavecross.train.stages import AutoencoderPair, FusionStage

    torch.manual_seed(0)
    cfg = cfg or parse_config({"model": "paper"})
    module = AutoencoderPair(cfg) if stage == "pretrain" else FusionStage(cfg, WaveCross(cfg.model))
    module = module.to(device).train()
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4)
    ir = torch.rand(batch, 1, crop, crop, device=device)
    vis = torch.rand(batch, 1, crop, crop, device=device)
    times = []
    for step in range(steps + 2):  # two warm-up steps
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = module(ir, vis, torch.Generator().manual_seed(step))["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    per_step = sorted(times[2:])[len(times[2:]) // 2]
    out = {
        "stage": stage,
        "device": device,
        "batch": batch,
        "crop": crop,
        "steps_timed": steps,
        "seconds_per_step": per_step,
        "samples_per_s": batch / per_step,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if device == "cuda":
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--device", default=None, help="default: cpu, plus cuda when available")
    parser.add_argument("--worker", nargs=2, metavar=("STAGE", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker[0], args.worker[1], args.steps, args.batch, args.crop)))
        return
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = []
    for device in devices:
        for stage in ("pretrain", "fusion"):
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                stage,
                device,
                "--steps",
                str(args.steps),
                "--batch",
                str(args.batch),
                "--crop",
                str(args.crop),
            ]
            results.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
