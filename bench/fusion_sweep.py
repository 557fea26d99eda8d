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
    """Seconds per fusion step of this config (random data; forward, loss, backward, AdamW); GPU when present."""
    from wavecross.nn import WaveCross
    from wavecross.train.config import load_config
    from wavecross.train.stages import FusionStage

    cfg = load_config(config_path)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_float32_matmul_precision("high")
    module = FusionStage(cfg, WaveCross(cfg.model)).to(dev).train()
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-5)
    b, c = cfg.fusion.batch_size, cfg.data.crop
    ir, vis = torch.rand(b, 1, c, c, device=dev), torch.rand(b, 1, c, c, device=dev)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    for step in range(steps + 10):
        if step == 10:
            sync()
            start = time.perf_counter()
        loss = module(ir, vis, torch.Generator().manual_seed(step))["total"]
        if not torch.isfinite(loss):  # the trainer's per-step check, a device sync
            raise RuntimeError("non-finite loss while timing")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync()
    return (time.perf_counter() - start) / steps


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


def load_sets(roots: list[str]) -> dict[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """0-255 luminance pairs of each evaluation root (what the metrics see)."""
    from wavecross.data.io import luminance_u8, read_image
    from wavecross.data.pairs import find_pairs

    return {
        Path(r).name: [
            (p.name, luminance_u8(read_image(p.ir)), luminance_u8(read_image(p.vis)))
            for p in find_pairs(Path(r) / "ir", Path(r) / "vi")
        ]
        for r in roots
    }


def _score(job: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[str, float]:
    from wavecross.metrics import Triple, evaluate_triple, resolve

    # One thread per worker process: the pool already has a process per core.
    return evaluate_triple(Triple(*job), resolve(METRICS, "cddfuse"), threads=1)


def _to_u8(unit: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8)


def fused_outputs(model_path: Path | None, sets: dict, kind: str) -> dict[str, list[np.ndarray]]:
    from wavecross.inference import fuse_tensors
    from wavecross.nn import load_weights

    model = load_weights(model_path, "cuda" if torch.cuda.is_available() else "cpu").eval() if model_path else None
    out = {}
    for name, pairs in sets.items():
        out[name] = []
        for _, ir, vis in pairs:
            a, b = ir.astype(np.float32) / 255, vis.astype(np.float32) / 255
            if kind == "mean":
                out[name].append(_to_u8(0.5 * (a + b)))
            elif kind == "max":
                out[name].append(_to_u8(np.maximum(a, b)))
            else:
                with torch.no_grad():
                    f = fuse_tensors(model, torch.from_numpy(a)[None, None], torch.from_numpy(b)[None, None], tile=0)
                out[name].append(_to_u8(f[0, 0].numpy()))
    return out


def evaluate(fused: dict[str, list[np.ndarray]], sets: dict, pool: ProcessPoolExecutor) -> dict[str, dict]:
    result = {}
    for name, pairs in sets.items():
        jobs = [(f, ir, vis) for f, (_, ir, vis) in zip(fused[name], pairs, strict=True)]
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
    ckpt = run_dir / "fusion" / "checkpoint.pt"
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
        results["mean"] = evaluate(fused_outputs(None, sets, "mean"), sets, pool)
        results["max"] = evaluate(fused_outputs(None, sets, "max"), sets, pool)
        ranked = []
        for name in configs:
            path = model_file(out / name)
            if path is None:
                continue
            scores = evaluate(fused_outputs(path, sets, "model"), sets, pool)
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
