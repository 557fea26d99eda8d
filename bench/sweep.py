"""Variant sweep: one recipe, several ``--set`` variants, each trained and scored on full-size validation images.

Every variant is ``wavecross train RECIPE --stage fusion --set ... --out OUT/NAME --resume``; the run's own
full-image validation (``validation:`` in the recipe, scored every ``validation.every`` steps) is what ranks
them, so nothing here touches test/. Runs that finished are skipped, interrupted ones resume. On a CPU run them
one after another (the default); ``--parallel N`` runs N at once, each on an equal share of the cores (on two
cores, two runs of v3's recipe on one thread each trained 1.4 steps/s each, one on both 2.4 steps/s).

    python bench/sweep.py proxy --out runs/sweep --variant base: --variant int4:fusion.loss.intensity=4 \\
        --variant head:model.attn_scale=head

Writes ``OUT/sweep.json`` (every variant's validation rows) and prints the composite score per variant and step,
with the paper's metrics of each set at the last step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SHOWN = ("SD", "SF", "VIFF", "Qabf", "RankAgree", "Nabf")


def parse_variant(spec: str) -> tuple[str, list[str]]:
    """``NAME:key=value,key=value`` → (NAME, [key=value, ...])."""
    name, _, overrides = spec.partition(":")
    if not name:
        raise SystemExit(f"--variant {spec!r}: expected NAME:key=value,...")
    return name, [o for o in overrides.split(",") if o]


def command(recipe: str, out: Path, overrides: list[str], stage: str, threads: int | None = None) -> list[str]:
    sets = [arg for o in overrides for arg in ("--set", o)]
    sets += ["--threads", str(threads)] if threads else []
    return [
        sys.executable,
        "-m",
        "wavecross",
        "train",
        recipe,
        "--stage",
        stage,
        "--out",
        str(out),
        "--resume",
        "--no-progress",
        *sets,
    ]


def finished(out: Path) -> bool:
    return (out / "fusion" / "model.safetensors").is_file()


def run_all(
    recipe: str, variants: dict[str, list[str]], out: Path, parallel: int, stage: str, threads: int | None = None
) -> dict[str, int]:
    """Train every unfinished variant (``parallel`` at a time, ``threads`` torch threads each); returns exit codes
    by name."""
    pending = [n for n in variants if not finished(out / n)]
    running: dict[str, subprocess.Popen] = {}
    codes = {n: 0 for n in variants if n not in pending}
    while pending or running:
        while pending and len(running) < parallel:
            name = pending.pop(0)
            (out / name).mkdir(parents=True, exist_ok=True)
            log = open(out / name / "train.log", "a")  # noqa: SIM115 (closed with the process)
            print(f"{time.strftime('%H:%M:%S')} {name}: {' '.join(variants[name]) or '(recipe as is)'}", flush=True)
            running[name] = subprocess.Popen(
                command(recipe, out / name, variants[name], stage, threads),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ.copy(),
            )
        time.sleep(2)
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                codes[name] = proc.returncode
                print(f"{time.strftime('%H:%M:%S')} {name}: exit {proc.returncode}", flush=True)
                del running[name]
    return codes


def val_rows(out: Path) -> list[dict[str, Any]]:
    log = out / "fusion" / "metrics.jsonl"
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("split") == "val_full"]


def table(results: dict[str, list[dict[str, Any]]]) -> str:
    steps = sorted({r["step"] for rows in results.values() for r in rows})
    lines = [
        "score by step (composite, relative to max fusion):",
        f"{'variant':<16}" + "".join(f"{s:>9}" for s in steps),
    ]
    for name, rows in results.items():
        by_step = {r["step"]: r["score"] for r in rows}
        lines.append(f"{name:<16}" + "".join(f"{by_step[s]:>9.4f}" if s in by_step else f"{'':>9}" for s in steps))
    sets = sorted({k.split("/")[0] for rows in results.values() for r in rows for k in r if "/" in k})
    lines.append("\nlast validation, per set:")
    lines.append(f"{'variant':<16}" + "".join(f"{s[:5] + ' ' + m:>15}" for s in sets for m in SHOWN))
    for name, rows in results.items():
        if rows:
            last = rows[-1]
            lines.append(
                f"{name:<16}" + "".join(f"{last.get(f'{s}/{m}', float('nan')):>15.4f}" for s in sets for m in SHOWN)
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", help="recipe name or YAML file (with a validation: section)")
    parser.add_argument("--variant", action="append", required=True, help="NAME:key=value,key=value (repeatable)")
    parser.add_argument("--set", action="append", default=[], help="key=value applied to every variant (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("runs/sweep"))
    parser.add_argument("--parallel", type=int, default=1, help="variants trained at once (default 1)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads of each run (default: with --parallel N, this machine's cores shared evenly, as "
        "torchrun shares them; else the trainer's own choice)",
    )
    parser.add_argument("--stage", default="fusion", choices=("fusion", "all"))
    parser.add_argument("--report-only", action="store_true", help="print the table of what has run, train nothing")
    args = parser.parse_args()
    variants = {name: [*args.set, *overrides] for name, overrides in map(parse_variant, args.variant)}
    threads = args.threads
    if threads is None and args.parallel > 1:  # N runs on all cores each would oversubscribe them N times
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        threads = max(1, cores // args.parallel)
    if not args.report_only:
        codes = run_all(args.recipe, variants, args.out, args.parallel, args.stage, threads)
        failed = [n for n, c in codes.items() if c]
        if failed:
            print(f"failed: {', '.join(failed)} (see OUT/NAME/train.log)", flush=True)
    results = {name: val_rows(args.out / name) for name in variants}
    if not args.report_only:
        (args.out / "sweep.json").write_text(
            json.dumps({"recipe": args.recipe, "variants": variants, "validation": results}, indent=1)
        )
    print(table(results))


if __name__ == "__main__":
    main()
