"""Fusion-stage sweep on one GPU: several loss/optimiser variants trained at once, scored against the quality bar.

Each variant is the base config plus ``key=value`` overrides, run as its own ``wavecross train --stage fusion``
process on the same pre-trained encoders; the processes share the GPU. With ``--budget-s`` the step count is
chosen by timing a few real training steps of every variant side by side first, so all runs end their cosine
schedule inside the budget. Each trained model is then fused over the evaluation sets and scored (cddfuse
convention) against mean and max fusion, with the issue's quality bar: beat mean fusion on SD, SF, AG, Qabf
and VIFF, beat max fusion on SF and AG, and RankAgree at least max fusion's. Writes ``results.json`` and the
``--keep`` best models as fp16 safetensors under ``--out``.

    python bench/fusion_sweep.py configs/wavecross.yaml --encoders runs/wavecross/pretrain/encoders.safetensors \\
        --variant g20:fusion.loss.gradient=20 --variant g40:fusion.loss.gradient=40 \\
        --set fusion.batch_size=32 --budget-s 420 --eval ../shared/data/test/TNO ../shared/data/test/MSRS
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

METRICS = ["SD", "SF", "AG", "Qabf", "VIFF", "RankAgree"]
BEAT_MEAN = ["SD", "SF", "AG", "Qabf", "VIFF"]
BEAT_MAX = ["SF", "AG"]


def apply_override(cfg: dict[str, Any], assignment: str) -> None:
    """``a.b.c=value`` (value read as YAML) into the nested config dict."""
    key, _, value = assignment.partition("=")
    node = cfg
    *parents, leaf = key.split(".")
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = yaml.safe_load(value)


def variant_configs(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Base config + ``--set`` + each variant's overrides; data roots made absolute (the copies live elsewhere)."""
    from wavecross.train.config import resolve_data_root

    base = yaml.safe_load(Path(args.config).read_text())
    out = {}
    for spec in args.variant:
        name, _, overrides = spec.partition(":")
        cfg = json.loads(json.dumps(base))
        for assignment in [*args.set, *filter(None, overrides.split(","))]:
            apply_override(cfg, assignment)
        cfg["data"]["roots"] = [resolve_data_root(r, Path(args.config)) for r in cfg["data"]["roots"]]
        cfg["fusion"]["encoders"] = str(Path(args.encoders).resolve())
        out[name] = cfg
    return out


# --- step-time calibration ---------------------------------------------------------------------------------


def time_steps(config_path: str, steps: int) -> float:
    """Seconds per fusion step of this config (bench/train_throughput.py's measure); GPU when present."""
    from train_throughput import measure  # bench/ is this script's folder, first on sys.path
    from wavecross.train.config import load_config

    cfg = load_config(config_path)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return measure("fusion", device, steps, cfg.fusion.batch_size, cfg.data.crop, cfg)["seconds_per_step"]


def calibrate(config_paths: list[Path], steps: int = 40) -> float:
    """Slowest per-step time when every variant trains at once (one process each, as in the sweep)."""
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--time-worker", str(p), str(steps)], stdout=subprocess.PIPE, text=True
        )
        for p in config_paths
    ]
    times = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"calibration failed (exit {p.returncode})")
        times.append(float(out.strip().splitlines()[-1]))
    print(f"calibration: s/step with {len(procs)} runs at once: {[round(t, 4) for t in times]}", flush=True)
    return max(times)


# --- evaluation --------------------------------------------------------------------------------------------


def load_sets(roots: list[str]) -> dict[str, tuple[list[str], list[np.ndarray], list[np.ndarray]]]:
    """Names and 0–255 luminance pairs of each evaluation root (what the metrics see)."""
    from wavecross.report.benchmark import load_set

    return {Path(r).name: load_set(Path(r)) for r in roots}


def _score(job: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[str, float]:
    from wavecross.metrics import Triple, evaluate_triple, resolve

    # One thread per worker process: the pool already has a process per core.
    return evaluate_triple(Triple(*job), resolve(METRICS, "cddfuse"), threads=1)


def fused_outputs(method: str, sets: dict, model_path: Path | None = None) -> dict[str, list[np.ndarray]]:
    """8-bit fused luminance of every pair: a baseline by name, or ``wavecross`` with the model in ``model_path``."""
    from wavecross.inference import get_fuser
    from wavecross.nn import load_weights

    device = "cuda" if torch.cuda.is_available() else "cpu"
    fuser = get_fuser(method, model=load_weights(model_path, device) if model_path else None)
    return {
        name: [
            np.clip(np.rint(fuser(a / np.float32(255), b / np.float32(255)) * 255.0), 0, 255).astype(np.uint8)
            for a, b in zip(irs, viss, strict=True)
        ]
        for name, (_, irs, viss) in sets.items()
    }


def evaluate(fused: dict[str, list[np.ndarray]], sets: dict, pool: ProcessPoolExecutor) -> dict[str, dict]:
    result = {}
    for name, (_, irs, viss) in sets.items():
        jobs = list(zip(fused[name], irs, viss, strict=True))
        rows = list(pool.map(_score, jobs))
        result[name] = {m: float(np.nanmean([r[m] for r in rows])) for m in METRICS}
    return result


def bar(scores: dict, mean: dict, maxf: dict) -> tuple[int, int, float]:
    """(criteria met, criteria in all, worst margin against max fusion on SF/AG/RankAgree, relative)."""
    met = total = 0
    worst = float("inf")
    for s in scores:
        checks = [scores[s][m] > mean[s][m] for m in BEAT_MEAN]
        checks += [scores[s][m] > maxf[s][m] for m in BEAT_MAX]
        checks.append(scores[s]["RankAgree"] >= maxf[s]["RankAgree"])
        met, total = met + sum(checks), total + len(checks)
        worst = min(worst, *(scores[s][m] / maxf[s][m] - 1 for m in (*BEAT_MAX, "RankAgree")))
    return met, total, worst


# --- the sweep ---------------------------------------------------------------------------------------------


def model_file(run_dir: Path) -> Path | None:
    """The finished model, else one rebuilt from the last checkpoint (a run stopped by the deadline)."""
    done = run_dir / "fusion" / "model.safetensors"
    if done.is_file():
        return done
    ckpt = run_dir / "fusion" / "checkpoint.safetensors"
    if not ckpt.is_file():
        return None
    from wavecross.nn import WaveCross, save_weights
    from wavecross.train.checkpoint import load_checkpoint
    from wavecross.train.config import load_config

    state = load_checkpoint(ckpt)
    net = WaveCross(load_config(run_dir / "sweep.yaml").model)
    net.load_state_dict({k.removeprefix("net."): v for k, v in state["model"].items()})
    path = run_dir / "fusion" / f"model_step{state['step']}.safetensors"
    save_weights(net, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config")
    parser.add_argument("--encoders", required=True, help="pre-trained encoders (stage 1 output)")
    parser.add_argument("--variant", action="append", required=True, help="NAME:key=value,key=value")
    parser.add_argument("--set", action="append", default=[], help="key=value for every variant")
    parser.add_argument("--budget-s", type=float, default=None, help="training wall time; picks fusion.steps")
    parser.add_argument("--eval", nargs="+", default=[], help="evaluation roots (ir/ and vi/ inside)")
    parser.add_argument("--keep", type=int, default=2, help="export this many best models as fp16")
    parser.add_argument("--out", default="runs/sweep")
    args = parser.parse_args()

    out = Path(args.out)
    configs = variant_configs(args)
    paths = {}
    for name, cfg in configs.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        paths[name] = out / name / "sweep.yaml"
        paths[name].write_text(yaml.safe_dump(cfg, sort_keys=False))
    if args.budget_s:
        per_step = calibrate(list(paths.values()))
        steps = max(100, int(args.budget_s / (per_step * 1.08)) // 100 * 100)
        print(f"fusion.steps = {steps} ({per_step * 1000:.1f} ms/step)", flush=True)
        for name, cfg in configs.items():
            cfg["fusion"]["steps"] = steps
            paths[name].write_text(yaml.safe_dump(cfg, sort_keys=False))
    train_all(paths, out, deadline_s=args.budget_s * 1.3 if args.budget_s else None)
    results = score_all(configs, out, load_sets(args.eval))
    from wavecross.train.stages import export_fp16

    for name in results["ranking"][: args.keep]:
        export_fp16(results[name]["model"], out / f"{name}.fp16.safetensors")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    print_table(results, configs)


def train_all(paths: dict[str, Path], out: Path, deadline_s: float | None) -> None:
    """Run every variant's fusion stage at once; past the deadline, stop what still runs (its last checkpoint
    is evaluated instead)."""
    started = time.time()
    deadline = started + (deadline_s or 1e9)
    procs = {}
    for name, path in paths.items():
        log = open(out / name / "train.log", "w")  # noqa: SIM115 (closed with the process)
        procs[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wavecross",
                "train",
                str(path),
                "--stage",
                "fusion",
                "--out",
                str(out / name),
                "--resume",
                "--no-progress",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    while any(p.poll() is None for p in procs.values()) and time.time() < deadline:
        time.sleep(5)
    for name, p in procs.items():
        if p.poll() is None:
            print(f"{name}: past the deadline, stopped; evaluating its last checkpoint", flush=True)
            p.kill()
            p.wait()
        print(f"{name}: exit {p.returncode}, {time.time() - started:.0f} s", flush=True)


def score_all(configs: dict[str, dict[str, Any]], out: Path, sets: dict) -> dict[str, Any]:
    """Mean/max fusion and every variant scored on the evaluation sets, variants ranked against the bar."""
    results: dict[str, Any] = {"steps": {n: c["fusion"]["steps"] for n, c in configs.items()}}
    with ProcessPoolExecutor(max(1, (os.cpu_count() or 2) - 2)) as pool:
        results["mean"] = evaluate(fused_outputs("mean", sets), sets, pool)
        results["max"] = evaluate(fused_outputs("max", sets), sets, pool)
        ranked = []
        for name in configs:
            path = model_file(out / name)
            if path is None:
                continue
            scores = evaluate(fused_outputs("wavecross", sets, path), sets, pool)
            met, total, worst = bar(scores, results["mean"], results["max"])
            results[name] = {
                "scores": scores,
                "model": str(path),
                "bar_met": met,
                "bar_total": total,
                "worst_margin_vs_max": worst,
            }
            ranked.append((met, worst, name))
    ranked.sort(reverse=True)
    results["ranking"] = [n for *_, n in ranked]
    return results


def print_table(results: dict[str, Any], configs: dict[str, dict[str, Any]]) -> None:
    sets = list(results["mean"])
    print(f"{'run':<12}" + "".join(f"{s[:4] + ':' + m:<15}" for s in sets for m in METRICS) + " bar")
    for name in ["mean", "max", *results["ranking"]]:
        row = results[name]["scores"] if name in configs else results[name]
        tail = f" {results[name]['bar_met']}/{results[name]['bar_total']}" if name in configs else ""
        print(f"{name:<12}" + "".join(f"{row[s][m]:<15.4f}" for s in sets for m in METRICS) + tail)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--time-worker":
        print(time_steps(sys.argv[2], int(sys.argv[3])))
    else:
        main()
