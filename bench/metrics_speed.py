"""Metric speed: milliseconds per metric and per preset for one 640×480 and one 1280×1024 triple (JSON on stdout).

Uses a real MSRS pair (640×480, fused by SeAFusion when its peer output is there, else the pixel mean) and a real
LLVIP pair (1280×1024, pixel mean) from ../shared/data when present, random images otherwise. Each figure is the
fastest of ``--repeat`` runs, every run on fresh inputs (no cache carried over). "per_metric_ms" times each
metric alone (its intermediates included); "preset_ms" a whole preset through one ``compute`` call;
"all_metrics_ms" every metric of the three presets and the general catalogue through one shared triple.
"machine" records the 1-minute load average before and after the runs (the run itself adds about 1; more means
other work shared the CPU and the figures are pessimistic). Like ``wavecross evaluate``, the script first calls
``retain_freed_memory`` (freed arrays stay in the process instead of being faulted in again for every image);
``--no-retain`` measures without it.

    python bench/metrics_speed.py [--repeat 3] [--no-retain]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from wavecross.data.io import luminance_u8, read_image
from wavecross.metrics import (
    CONVENTIONS,
    GENERAL,
    PRESETS,
    Triple,
    compute,
    evaluate_triple,
    retain_freed_memory,
)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _first_pair(set_dir: Path) -> tuple[np.ndarray, np.ndarray, str] | None:
    if not (set_dir / "ir").is_dir():
        return None
    names = sorted(p.name for p in (set_dir / "ir").iterdir() if (set_dir / "vi" / p.name).is_file())
    if not names:
        return None
    ir = luminance_u8(read_image(set_dir / "ir" / names[0]))
    vis = luminance_u8(read_image(set_dir / "vi" / names[0]))
    return ir, vis, names[0]


def _triple(size: tuple[int, int]) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], str]:
    """(fused, ir, vis) of the requested (width, height) and a description of where it came from."""
    set_name = {(640, 480): "MSRS", (1280, 1024): "LLVIP"}.get(size)
    pair = _first_pair(DATA / "test" / set_name) if set_name else None
    if pair is not None and pair[0].shape == (size[1], size[0]):
        ir, vis, name = pair
        peer = DATA / "peers" / "SeAFusion" / set_name / (Path(name).stem + ".png")
        if peer.is_file():
            fused = luminance_u8(read_image(peer))
            return (fused, ir, vis), f"test/{set_name}/{name}, fused by SeAFusion"
        fused = ((ir.astype(np.int32) + vis + 1) // 2).astype(np.uint8)
        return (fused, ir, vis), f"test/{set_name}/{name}, pixel-mean fusion"
    rng = np.random.default_rng(0)
    ir, vis = (rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8) for _ in range(2))
    fused = ((ir.astype(np.int32) + vis + 1) // 2).astype(np.uint8)
    return (fused, ir, vis), "random images (shared data not found)"


def _best_ms(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return round(best * 1000.0, 2)


def measure(images: tuple[np.ndarray, np.ndarray, np.ndarray], repeat: int) -> dict[str, object]:
    per_metric: dict[str, float] = {}
    for convention, defs in CONVENTIONS.items():
        for name, metric in defs.items():
            per_metric[f"{convention}.{name}"] = _best_ms(lambda m=metric: m.fn(Triple(*images)), repeat)
    for name, metric in GENERAL.items():
        per_metric[name] = _best_ms(lambda m=metric: m.fn(Triple(*images)), repeat)
    presets = {c: _best_ms(lambda c=c: compute(*images, convention=c), repeat) for c in PRESETS}

    # Every metric of every convention plus the general ones, in one evaluation (as `evaluate_triple` schedules
    # them: a thread per CPU, the self-parallel FMIs on their own lane).
    catalogue = {f"{c}.{n}": m for c, defs in CONVENTIONS.items() for n, m in defs.items()} | dict(GENERAL)

    def everything() -> None:
        evaluate_triple(Triple(*images), catalogue)

    return {
        "per_metric_ms": per_metric,
        "preset_ms": presets,
        "all_metrics_ms": _best_ms(everything, repeat),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the fastest is reported")
    parser.add_argument("--no-retain", action="store_true", help="leave glibc's malloc settings as they are")
    args = parser.parse_args()
    machine: dict[str, object] = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}
    machine["retain_freed_memory"] = False if args.no_retain else retain_freed_memory()
    report: dict[str, object] = {"machine": machine, "repeat": args.repeat}
    # Other work on the machine slows every figure: the 1-minute load average before and after says how much.
    machine["load_before"] = round(os.getloadavg()[0], 2)
    for size in ((640, 480), (1280, 1024)):
        images, source = _triple(size)
        report[f"{size[0]}x{size[1]}"] = {"input": source, **measure(images, args.repeat)}
    machine["load_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
