"""Training throughput: samples/s of each stage's real optimiser step, under each speed option, and data loading.

Each measurement runs in its own subprocess (its own peak memory, no warm caches shared between options). A step
is forward + loss + backward + AdamW update, as in `wavecross train`, on random data of the training crop size.
Options measured for the fusion stage: fp32 (NCHW), channels-last, bf16 autocast (alone and with channels-last)
and torch.compile. Data loading is timed separately: batches from the real training set (decoded pairs in memory,
random crops and flips), so it can be compared with the step time.

The network and loss are a recipe's (``--recipe``, default the shipped model's, ``wavecross-v3``; ``paper`` for the
paper's network with the default loss, as files before 2026-12-03 were measured).

    python bench/train_throughput.py [--recipe wavecross-v3|paper] [--steps 6] [--batch 8] [--crop 128]
                                     [--device cpu|cuda] [--json out.json]

Do not run it beside a training run: the figures would measure the contention.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

OPTIONS = {
    "fp32": {},
    "channels_last": {"channels_last": True},
    "bf16": {"amp": "bf16"},
    "bf16+channels_last": {"amp": "bf16", "channels_last": True},
    "compile": {"compile": True},
}


def measure(
    stage: str,
    device: str,
    steps: int,
    batch: int,
    crop: int,
    cfg: Any = None,
    amp: str = "off",
    channels_last: bool = False,
    compile: bool = False,
) -> dict:
    """Median seconds per optimiser step of ``stage``; ``cfg`` a TrainConfig (default: the paper model)."""
    from wavecross.nn import WaveCross
    from wavecross.train.config import parse_config
    from wavecross.train.stages import AutoencoderPair, FusionStage

    torch.manual_seed(0)
    cfg = cfg or parse_config({"model": "paper"})
    module = AutoencoderPair(cfg) if stage == "pretrain" else FusionStage(cfg, WaveCross(cfg.model))
    module = module.to(device).train()
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4)
    net = torch.compile(module) if compile else module
    ir = torch.rand(batch, 1, crop, crop, device=device)
    vis = torch.rand(batch, 1, crop, crop, device=device)
    dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]
    times = []
    warmup = 3 if compile else 2
    for step in range(steps + warmup):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        context = torch.autocast(device, dtype=dtype) if dtype else nullcontext()
        with context:
            loss = net(ir, vis, torch.Generator().manual_seed(step))["total"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    timed = sorted(times[warmup:])
    per_step = timed[len(timed) // 2]
    out = {
        "stage": stage,
        "device": device,
        "batch": batch,
        "crop": crop,
        "amp": amp,
        "channels_last": channels_last,
        "compile": compile,
        "steps_timed": steps,
        "seconds_per_step": per_step,
        "samples_per_s": batch / per_step,
        "first_step_s": times[0],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if device == "cuda":
        out["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def measure_loading(roots: list[str], batches: int, batch: int, crop: int) -> dict:
    """Seconds per batch drawn from the real training set (in-memory pairs, random crop + flips), no workers."""
    from torch.utils.data import DataLoader

    from wavecross.data import PairedImageDataset

    started = time.perf_counter()
    data = PairedImageDataset(roots, split="train", crop=crop, val_fraction=0.0, seed=0)
    decode_s = time.perf_counter() - started
    loader = DataLoader(data, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    next(it)
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    per_batch = (time.perf_counter() - start) / batches
    return {"pairs": len(data), "decode_all_s": decode_s, "seconds_per_batch": per_batch, "batch": batch, "crop": crop}


def cpu_name() -> str:
    """The CPU model and its vector extensions that matter for bf16/int8 (AVX512-BF16, AMX, VNNI)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16") if f in flags]
    return f"{model} ({' '.join(wanted) or 'no AVX2'})"


def _worker(args: argparse.Namespace) -> dict:
    from wavecross.train.config import load_config

    stage, device, option = args.worker
    cfg = None if args.recipe == "paper" else load_config(args.recipe)  # None: measure()'s paper model
    return measure(stage, device, args.steps, args.batch, args.crop, cfg, **OPTIONS[option])


def _run(args: argparse.Namespace, stage: str, device: str, option: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        stage,
        device,
        option,
        "--steps",
        str(args.steps),
        "--batch",
        str(args.batch),
        "--crop",
        str(args.crop),
        "--recipe",
        args.recipe,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"stage": stage, "device": device, "option": option, "error": proc.stderr.strip().splitlines()[-1]}
    return {"option": option, **json.loads(proc.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="wavecross-v3", help="network and loss (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--device", default=None, help="default: cpu, plus cuda when available")
    parser.add_argument("--options", default=",".join(OPTIONS), help="fusion-stage options to measure")
    parser.add_argument("--data", nargs="*", default=None, help="training roots for the loading figure")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--worker", nargs=3, metavar=("STAGE", "DEVICE", "OPTION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args)))
        return
    devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = []
    for device in devices:
        results.append(_run(args, "pretrain", device, "fp32"))
        for option in args.options.split(","):
            results.append(_run(args, "fusion", device, option))
            print(json.dumps(results[-1]), flush=True)
    report = {
        "recipe": args.recipe,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu_name(),
        "load_1min_before_last": os.getloadavg()[0],
        "results": results,
    }
    if args.data:
        report["loading"] = measure_loading(args.data, 20, args.batch, args.crop)
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
