"""Fusion latency and peak memory of the shipped model, per image size, and pairs/s over a folder.

Each size runs in three fresh subprocesses (peak resident memory is per process; the median of the three is
reported, with the fastest and each one, since a shared virtual machine's timings vary between processes by up to
20 %). Latency in one process = median wall time of `wavecross.fuse` on (IR grey, visible RGB) arrays, colour
conversion and automatic tiling included, model already loaded, after one call at that size (kept as
``first_seconds``: building kernels for new shapes). The folder figure runs the whole `wavecross fuse` command on
a test set (model loading, reading, checking and writing included), writing into a temporary folder; the median
of five runs, at the CLI's default batch size. The host's reference speed (2048² matrix products, fp32 and bf16) is
recorded before and after: a shared VM's speed varies from day to day (bf16: 776 GFLOP/s in issue 14, 410 on
2026-12-03).

On a GPU (``--device cuda``) the peak is also given as the GPU's peak allocated memory; ``--precision`` is
that of ``wavecross.fuse`` (``auto`` by default, as for users; fp16 is GPU-only). ``--table`` prints the README's
speed table from result files instead of measuring.

    python bench/fuse_speed.py [--folder ../shared/data/test/MSRS] [--threads 2] [--device cpu|cuda]
                               [--precision auto|fp32|bf16|fp16] [--batch-size N] [--json out.json]
    python bench/fuse_speed.py --table bench/results/cpu/fuse_speed.json [more.json ...]
"""

from __future__ import annotations

import argparse
import json
import os
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
    # The first call at a size builds its kernels (oneDNN primitives, cuDNN choices) and faults in its memory: timed
    # on its own, so that every size reports the same thing, the steady state of a folder of such images.
    start = time.perf_counter()
    wavecross.fuse(ir, vis, model, precision=precision)
    first = time.perf_counter() - start
    if device == "cuda":
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
        "first_seconds": first,
        "repeats": repeats,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if device == "cuda":
        row["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def folder_rate(folder: Path, device: str, precision: str, batch_size: int) -> dict:
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
                "--batch-size",
                str(batch_size),
                "--no-progress",
            ]
        )
        elapsed = time.perf_counter() - start
    return {
        "folder": str(folder),
        "pairs": n,
        "batch_size": batch_size,
        "seconds": elapsed,
        "pairs_per_s": n / elapsed,
        "exit": code,
    }


def _conditions(result: dict) -> str:
    """The load, and the host's reference speed where the file records it (files before it do not)."""
    text = f"load {result['load_1min_before']:.1f}"
    host = result.get("matmul_gflops_per_s", {}).get("before")
    return f"{text}; matmul {host['fp32']:.0f} / {host['bf16']:.0f} GFLOP/s fp32 / bf16" if host else text


def table(paths: list[str]) -> str:
    """The README's speed table: one column per result file (its device, precision, threads and load)."""
    results = [json.loads(Path(p).read_text()) for p in paths]
    header = [f"{r['device']}, {r['precision']}, {r['threads']} threads ({_conditions(r)})" for r in results]
    sizes = [(row["width"], row["height"]) for row in results[0]["latency"]]
    lines = ["| size | " + " | ".join(header) + " |", "|---|" + "---:|" * len(results)]
    for w, h in sizes:
        cells = []
        for r in results:
            row = next((x for x in r["latency"] if (x["width"], x["height"]) == (w, h)), None)
            cells.append("" if row is None else f"{row['seconds']:.2f} s, {row['peak_rss_mib'] / 1024:.2f} GiB")
        lines.append(f"| {w}×{h} | " + " | ".join(cells) + " |")
    folder = [r.get("folder") for r in results]
    if any(folder):
        cells = [f"{f['pairs_per_s']:.1f} pairs/s" if f else "" for f in folder]
        name = Path(next(f for f in folder if f)["folder"]).name
        lines.append(f"| folder of {name} pairs | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=str(ROOT.parent / "shared" / "data" / "test" / "MSRS"))
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument(
        "--batch-size", type=int, default=1, help="wavecross fuse --batch-size for the folder (default: the CLI's, 1)"
    )
    parser.add_argument("--json", default=None, help="also write the JSON document here")
    parser.add_argument("--table", nargs="+", default=None, help="print the README table from these result files")
    parser.add_argument("--worker", nargs=3, type=int, metavar=("H", "W", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(latency(*args.worker, args.device, args.precision)))
        return
    load_before = os.getloadavg()[0]
    from scaling import matmul_gflops  # bench/ is the script's folder, so on sys.path

    host_before = {"fp32": matmul_gflops(), "bf16": matmul_gflops(dtype=torch.bfloat16)}
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
        # Several processes per size: on a shared (virtual) machine one process's timings can be off by 20 %.
        runs = [json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout) for _ in range(3)]
        row = dict(runs[0])
        row["seconds"] = float(np.median([r["seconds"] for r in runs]))
        row["seconds_min"] = min(r["seconds"] for r in runs)
        row["seconds_per_process"] = [r["seconds"] for r in runs]
        row["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
        rows.append(row)
    from wavecross.engine import cpu_has_native_bf16, resolve_precision

    result = {
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "precision": resolve_precision(args.precision, torch.device(args.device)),
        "native_bf16": cpu_has_native_bf16(),
        "load_1min_before": load_before,
        "threads": args.threads or torch.get_num_threads(),
        "torch": torch.__version__,
        "latency": rows,
    }
    if (Path(args.folder) / "ir").is_dir():
        # Five runs (the first also pays for importing the command's modules), the median reported.
        folder_runs = [folder_rate(Path(args.folder), args.device, args.precision, args.batch_size) for _ in range(5)]
        result["folder"] = sorted(folder_runs, key=lambda r: r["pairs_per_s"])[2]
        result["folder"]["pairs_per_s_each"] = [r["pairs_per_s"] for r in folder_runs]
    result["load_1min_after"] = os.getloadavg()[0]
    # The host's own speed, before and after: figures from different days on a shared VM compare only through it.
    result["matmul_gflops_per_s"] = {
        "before": host_before,
        "after": {"fp32": matmul_gflops(), "bf16": matmul_gflops(dtype=torch.bfloat16)},
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
