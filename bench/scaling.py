"""How WaveCross fusion scales on this CPU: time and peak memory against pixels, FLOPs, matmul fraction.

Prints one JSON document and draws a log-log plot (``--plot``). Each size runs in a fresh subprocess, so its
peak resident memory (``ru_maxrss``) is its own. Timing goes through :func:`wavecross.inference.get_fuser`,
the path ``wavecross fuse`` takes (large images are tiled automatically there); a forward hook records every
network call, so FLOPs are counted for exactly the tensors that ran: ``FlopCounterMode`` on the meta device
(no compute) for convolutions and linear layers, plus attention counted analytically
(4·B·heads·Nq·Nk·head_dim per call, since the counter misses the CPU attention kernel). A large plain
``torch.matmul`` timed in the same run gives the throughput the forward pass is compared with.

The network is the shipped model's (``--config wavecross``: its stored configuration, random weights) unless
``--config`` names a preset (``paper`` is v2's network, without the decoder's full-resolution additions).

    python bench/scaling.py [--plot out/scaling.png] [--config wavecross|paper] [--precision auto] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

SIZES = [(256, 256), (512, 512), (768, 1024), (1080, 1920), (2160, 3840)]  # (H, W)
ROOT = Path(__file__).resolve().parents[1]


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def worker(height: int, width: int, repeats: int, config: str, tile: int | None, precision: str) -> dict:
    """One size, in its own process: best-of-N fuse time, peak RSS, and the input shape of every network call."""
    from wavecross.inference import get_fuser
    from wavecross.nn import WaveCross

    torch.manual_seed(0)
    # Speed does not depend on the weights' values; channels-last as load_model gives it on the CPU.
    model = WaveCross(network_config(config)).eval().to(memory_format=torch.channels_last)
    shapes: list[tuple[int, ...]] = []
    model.register_forward_hook(lambda _m, inputs, _o: shapes.append(tuple(inputs[0].shape)))
    fuse = get_fuser("wavecross", model=model, device="cpu", tile=tile, precision=precision)
    rng = np.random.default_rng(0)
    ir = rng.random((height, width), dtype=np.float32)
    vis = rng.random((height, width), dtype=np.float32)
    fuse(ir[:64, :64], vis[:64, :64])  # warm-up: thread pool
    base = _rss_mib()
    # The first call at a size builds its kernels and faults in its memory: timed on its own, so every size
    # reports its steady state (small sizes' best-of-5 would hide it, one 4K call would not).
    start = time.perf_counter()
    fuse(ir, vis)
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        shapes.clear()
        start = time.perf_counter()
        fuse(ir, vis)
        times.append(time.perf_counter() - start)
    return {
        "seconds": float(np.min(times)),  # best of N: other processes only ever add time
        "median_seconds": float(np.median(times)),
        "first_seconds": first,
        "load_1min_after": os.getloadavg()[0],  # well above the thread count: other work shared the CPU
        "repeats": repeats,
        "peak_rss_mib": _rss_mib(),
        "rss_before_mib": base,
        "calls": shapes,
    }


def flops_of_calls(config: str, calls: list[tuple[int, ...]]) -> dict[str, float]:
    """FLOPs of the network calls (a multiply-add counts 2), counted on the meta device without computing.

    Attention is counted analytically from each call's token counts and taken out of the counter's own total
    (on meta it decomposes into ``bmm``; on CPU the fused kernel would not be counted at all).
    """
    from torch.utils.flop_counter import FlopCounterMode

    from wavecross.nn import MultiHeadAttention, WaveCross

    model = WaveCross(network_config(config)).to("meta").eval()
    attention = [0.0]

    def count(_m: torch.nn.Module, inputs: tuple, _o: torch.Tensor) -> None:
        query = inputs[0]
        context = inputs[1] if len(inputs) > 1 and inputs[1] is not None else query
        b, nq, d = query.shape
        attention[0] += 4.0 * b * nq * context.shape[1] * d  # heads · head_dim = d

    for module in model.modules():
        if isinstance(module, MultiHeadAttention):
            module.register_forward_hook(count)
    cache: dict[tuple[int, ...], tuple[float, float]] = {}
    totals = {"other": 0.0, "attention": 0.0}
    for shape in calls:
        if shape not in cache:
            attention[0] = 0.0
            x = torch.empty(shape, device="meta")
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(x, x)
            ops = counter.get_flop_counts()["Global"]
            other = sum(v for k, v in ops.items() if "bmm" not in str(k) and "attention" not in str(k))
            cache[shape] = (float(other), attention[0])
        totals["other"] += cache[shape][0]
        totals["attention"] += cache[shape][1]
    return {**totals, "total": totals["other"] + totals["attention"]}


def network_config(name: str) -> str | dict:
    """A bundled model's stored configuration (``wavecross``), or a preset name left for ``WaveCross`` to resolve."""
    from wavecross.hub import list_models, model_config

    return model_config(name) if name in list_models() else name


def matmul_gflops(n: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Best-of-``repeats`` ``torch.matmul`` throughput of an n×n product, in GFLOP/s: the host's reference speed,
    recorded beside every timing: a shared VM's speed varies from day to day (bf16: 776 GFLOP/s in issue 14, 410 on
    2026-12-03)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.matmul(a, b)
    best = min(_timed(lambda: torch.matmul(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def fit_slope(x: list[float], y: list[float]) -> float:
    """Slope of log y against log x (1 = linear in pixels, 2 = quadratic)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def plot(rows: list[dict], slopes: dict[str, float], path: Path, tile_above: int | None = None) -> None:
    """Log-log time and memory against pixels, the fitted lines, and where automatic tiling starts."""
    from matplotlib.figure import Figure

    px = np.array([r["pixels"] for r in rows], np.float64)
    fig = Figure(figsize=(10, 4.2))
    panels = [("seconds", "fuse time (s)", "time"), ("peak_rss_mib", "peak resident memory (MiB)", "memory")]
    for ax, (key, label, slope_key) in zip(fig.subplots(1, 2), panels, strict=True):
        y = np.array([r[key] for r in rows], np.float64)
        ax.loglog(px, y, "o-", color="#c0392b")
        coef = np.polyfit(np.log(px), np.log(y), 1)
        ax.loglog(
            px,
            np.exp(np.polyval(coef, np.log(px))),
            "--",
            color="#7f8c8d",
            label=f"fit: slope {slopes[slope_key]:.2f}",
        )
        for r, yy in zip(rows, y, strict=True):
            ax.annotate(
                f"{r['width']}×{r['height']}",
                (r["pixels"], yy),
                fontsize=7,
                xytext=(4, -10),
                textcoords="offset points",
            )
        if tile_above:
            ax.axvline(tile_above, color="#7f8c8d", ls=":", lw=1)
            ax.text(tile_above, ax.get_ylim()[0], " tiled above", fontsize=7, color="#7f8c8d", va="bottom")
        ax.set_xlabel("pixels")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle("WaveCross fuse on CPU (log-log)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plot", type=Path, default=ROOT / "out" / "scaling.png", help="where to draw the plot")
    parser.add_argument(
        "--config",
        default="wavecross",
        help="a bundled model's network (random weights) or a preset (default: %(default)s, the shipped one)",
    )
    parser.add_argument("--tile", type=int, default=None, help="tile size passed to the fuser (0: never tile)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: %(default)s)")
    parser.add_argument("--precision", default="auto", help="auto (default), fp32 or bf16")
    parser.add_argument("--sizes", default=None, help="comma-separated WxH list (default: 256x256 … 3840x2160)")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON document here")
    parser.add_argument("--worker", nargs=3, type=int, metavar=("H", "W", "REPEATS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(worker(*args.worker, args.config, args.tile, args.precision)))
        return 0
    sizes = SIZES
    if args.sizes:
        sizes = [(int(s.split("x")[1]), int(s.split("x")[0])) for s in args.sizes.split(",")]
    peak = matmul_gflops()
    peak_bf16 = matmul_gflops(dtype=torch.bfloat16)
    rows = []
    for h, w in sizes:
        repeats = 5 if h * w <= 1024 * 768 else 2 if h * w <= 1920 * 1080 else 1
        cmd = [sys.executable, __file__, "--worker", str(h), str(w), str(repeats), "--config", args.config]
        cmd += ["--precision", args.precision]
        if args.tile is not None:
            cmd += ["--tile", str(args.tile)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        result = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        counted = flops_of_calls(args.config, [tuple(c) for c in result.pop("calls")])
        flops = counted["total"]
        gflops = flops / result["seconds"] / 1e9
        rows.append(
            {
                "height": h,
                "width": w,
                "pixels": h * w,
                **result,
                "flops": flops,
                "attention_flops": counted["attention"],
                "flops_per_pixel": flops / (h * w),
                "ms_per_mp": 1000 * result["seconds"] / (h * w / 1e6),
                "gflops_per_s": gflops,
                "matmul_fraction": gflops / peak,
            }
        )
        print(f"{w}×{h}: {result['seconds']:.2f} s, {result['peak_rss_mib']:.0f} MiB", file=sys.stderr)
    px = [r["pixels"] for r in rows]
    slopes = {
        "time": fit_slope(px, [r["seconds"] for r in rows]),
        "memory": fit_slope(px, [r["peak_rss_mib"] for r in rows]),
        "memory_above_baseline": fit_slope(px, [max(r["peak_rss_mib"] - r["rss_before_mib"], 1.0) for r in rows]),
    }
    from wavecross.engine import AUTO_TILE_PIXELS

    plot(rows, slopes, args.plot, AUTO_TILE_PIXELS if args.tile is None else None)
    from wavecross.engine import resolve_precision
    from wavecross.nn import WaveCross

    summary = {
        "precision": resolve_precision(args.precision, torch.device("cpu")),
        "config": args.config,
        "tile": args.tile,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "params": sum(p.numel() for p in WaveCross(network_config(args.config)).parameters()),
        "matmul_gflops_per_s": peak,
        "matmul_bf16_gflops_per_s": peak_bf16,
        "slope_time_vs_pixels": slopes["time"],
        "slope_peak_memory_vs_pixels": slopes["memory"],
        "slope_memory_above_baseline_vs_pixels": slopes["memory_above_baseline"],
        "flops_per_pixel_smallest": rows[0]["flops_per_pixel"],
        "flops_per_pixel_largest": rows[-1]["flops_per_pixel"],
        "matmul_fraction_median": float(np.median([r["matmul_fraction"] for r in rows])),
        "plot": str(args.plot),
        "sizes": rows,
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
