"""Fusion latency and peak memory of the shipped model, per image size, and pairs/s over a folder.

Each size runs in a fresh subprocess (peak resident memory is per process). Latency = median wall time of
`wavecross.fuse` on (IR grey, visible RGB) arrays, colour conversion and automatic tiling included, model
already loaded. The folder figure runs the whole `wavecross fuse` command on a test set (model loading, reading,
checking and writing included), writing into a temporary folder.

On a GPU (``--device cuda``) the peak is also given as the GPU's peak allocated memory; ``--precision`` is
that of ``wavecross.fuse`` (fp16 is GPU-only).

    python bench/fuse_speed.py [--folder ../shared/data/test/MSRS] [--threads N] [--device cpu|cuda]
                               [--precision fp32|bf16|fp16]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SIZES = [(256, 256), (480, 640), (1024, 1280), (1080, 1920), (2160, 3840)]  # (H, W)
ROOT = Path(__file__).resolve().parents[1]


def latency(height: int, width: int, repeats: int, device: str, precision: str) -> dict:
    import wavecross
    from wavecross.data import synthetic_pair

    model = wavecross.load_model(device=device)
    ir, vis = synthetic_pair(height, width, seed=0)
    wavecross.fuse(ir[:64, :64], vis[:64, :64], model, precision=precision)  # warm-up
    if device == "cuda":
        wavecross.fuse(ir, vis, model, precision=precision)  # cuDNN picks its kernels per shape on first use
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        wavecross.fuse(ir, vis, model, precision=precision)  # returns host arrays: the device is synchronised
        times.append(time.perf_counter() - start)
    row = {
        "height": height,
        "width": width,
        "seconds": float(np.median(times)),
        "repeats": repeats,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if device == "cuda":
        row["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def folder_rate(folder: Path, device: str, precision: str) -> dict:
    from wavecross.cli import main

    n = len(list((folder / "ir").iterdir()))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        code = main(
            [
                "fuse",
                "--ir",
                str(folder / "ir"),
                "--vis",
                str(folder / "vi"),
                "-o",
                tmp,
                "--device",
                device,
                "--precision",
                precision,
            ]
        )
        elapsed = time.perf_counter() - start
    return {"folder": str(folder), "pairs": n, "seconds": elapsed, "pairs_per_s": n / elapsed, "exit": code}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=str(ROOT.parent / "shared" / "data" / "test" / "MSRS"))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--worker", nargs=3, type=int, metavar=("H", "W", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(latency(*args.worker, args.device, args.precision)))
        return
    rows = []
    for h, w in SIZES:
        repeats = 5 if h * w <= 1280 * 1024 else 1
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            str(h),
            str(w),
            str(repeats),
            "--device",
            args.device,
            "--precision",
            args.precision,
        ]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        rows.append(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
    result = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "precision": args.precision,
        "threads": args.threads or torch.get_num_threads(),
        "torch": torch.__version__,
        "latency": rows,
    }
    if (Path(args.folder) / "ir").is_dir():
        result["folder"] = folder_rate(Path(args.folder), args.device, args.precision)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
