"""Which inference path is fastest on this CPU without changing the output: time and output change per path.

Paths (each the shipped model through the same forward pass, untiled, on real validation pairs):
  fp32            contiguous (NCHW) weights, fp32
  fp32_cl         channels-last weights (what ``load_model`` gives on the CPU), fp32
  bf16_cl         channels-last, bf16 autocast (``--precision bf16``)
  bf16_weights    the whole network cast to bf16 (no autocast), channels-last
  int8_linear     dynamic int8 quantisation of every ``nn.Linear`` (oneDNN/FBGEMM), the rest fp32 channels-last
                  (it cannot be combined with bf16 autocast: the quantised linear layers accept fp32 input only)

Time: with freed memory kept in the process, as ``wavecross.fuse`` keeps it; median over ``--rounds`` interleaved
rounds (each round runs every path once per pair, so load that comes and goes hits all paths alike). Output change:
mean and maximum absolute difference of the 8-bit output from the fp32 path, over the pairs; ``metric_change`` is
the largest relative change of any of the paper's metrics (means over the pairs, cddfuse convention),
``nabf_change`` the signed relative change of Nabf. torch.compile is measured with ``--compile`` (it needs a C++
compiler and takes about a minute to compile).

    python bench/precision.py [--pairs 6] [--rounds 3] [--threads 2] [--out bench/results/cpu/precision.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
VAL = ROOT.parent / "shared" / "data" / "val"


def load_pairs(count: int) -> list[tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]]:
    """``count`` 640×480 validation pairs (MSRS and TNO alternately): tensors in [0, 1] and 0–255 arrays."""
    from wavecross.data import load_pair_set

    pairs = []
    for name in ("MSRS", "TNO"):
        _, irs, viss = load_pair_set(VAL / name)
        step = max(1, len(irs) // count)
        for a, b in list(zip(irs, viss, strict=True))[::step][: (count + 1) // 2]:
            ta = torch.from_numpy(a.astype(np.float32) / 255)[None, None]
            tb = torch.from_numpy(b.astype(np.float32) / 255)[None, None]
            pairs.append((ta, tb, a, b))
    return pairs[:count]


def paths(model: torch.nn.Module, with_compile: bool) -> dict:
    """name → callable(ir, vis) → fused tensor (fp32)."""
    import warnings

    contiguous = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
    cl = copy.deepcopy(model).to(memory_format=torch.channels_last)
    weights_bf16 = copy.deepcopy(cl).bfloat16()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the eager dynamic-quantisation API is deprecated in favour of torchao
        int8 = torch.ao.quantization.quantize_dynamic(copy.deepcopy(cl), {torch.nn.Linear}, dtype=torch.qint8)

    def autocast(net: torch.nn.Module):
        def run(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return net(a, b).float()

        return run

    table = {
        "fp32": lambda a, b: contiguous(a, b),
        "fp32_cl": lambda a, b: cl(a, b),
        "bf16_cl": autocast(cl),
        "bf16_weights": lambda a, b: weights_bf16(a.bfloat16(), b.bfloat16()).float(),
        "int8_linear": lambda a, b: int8(a, b),
    }
    if with_compile:
        table["compile_bf16_cl"] = autocast(torch.compile(cl))
    return table


def to_u8(t: torch.Tensor) -> np.ndarray:
    return np.clip(np.rint(t[0, 0].float().numpy() * 255), 0, 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (about a minute)")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from wavecross.allocator import retain_freed_memory

    retain_freed_memory()  # as wavecross.fuse does: without it, page faults on fresh feature maps skew the paths
    import wavecross
    from wavecross.engine import cpu_has_native_bf16
    from wavecross.metrics import compute
    from wavecross.train.validation import PAPER_METRICS

    model = wavecross.load_model(device="cpu")
    pairs = load_pairs(args.pairs)
    table = paths(model, args.compile)
    outputs: dict[str, list[np.ndarray]] = {}
    warm_start = time.perf_counter()
    with torch.no_grad():
        for name, run in table.items():  # warm-up, and the outputs compared below
            outputs[name] = [to_u8(run(a, b)) for a, b, _, _ in pairs]
        warm_seconds = time.perf_counter() - warm_start
        times: dict[str, list[float]] = {name: [] for name in table}
        load_before = os.getloadavg()[0]
        for _ in range(args.rounds):
            for name, run in table.items():
                for a, b, _, _ in pairs:
                    start = time.perf_counter()
                    run(a, b)
                    times[name].append(time.perf_counter() - start)
    load_after = os.getloadavg()[0]

    def metric_means(fused: list[np.ndarray]) -> dict[str, float]:
        names = [*PAPER_METRICS, "Nabf"]
        rows = [compute(f, a, b, metrics=names) for f, (_, _, a, b) in zip(fused, pairs, strict=True)]
        return {m: float(np.nanmean([r[m] for r in rows])) for m in names}

    reference = metric_means(outputs["fp32"])
    rows = {}
    for name in table:
        pairs_out = zip(outputs[name], outputs["fp32"], strict=True)
        diffs = [np.abs(o.astype(np.int16) - r.astype(np.int16)) for o, r in pairs_out]
        means = metric_means(outputs[name])
        change = {m: abs(means[m] - reference[m]) / abs(reference[m]) for m in PAPER_METRICS if reference[m]}
        rows[name] = {
            "median_seconds": float(np.median(times[name])),
            "speedup_vs_fp32": float(np.median(times["fp32"]) / np.median(times[name])),
            "mean_abs_diff_grey": float(np.mean([d.mean() for d in diffs])),
            "max_abs_diff_grey": int(max(d.max() for d in diffs)),
            "metric_change": max(change.values()),
            "metric_change_worst": max(change, key=change.get),
            # Not one of the paper's eight: an artefact measure, so small that ±1 grey level of noise moves it.
            "nabf_change": (means["Nabf"] - reference["Nabf"]) / reference["Nabf"],
        }
    result = {
        "what": "shipped model forward pass, untiled; pairs: half val/MSRS (640×480), half val/TNO (various sizes)",
        "pairs": len(pairs),
        "rounds": args.rounds,
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "native_bf16": cpu_has_native_bf16(),
        "load_1min_before": load_before,
        "load_1min_after": load_after,
        "warmup_seconds": warm_seconds,
        "paths": rows,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
