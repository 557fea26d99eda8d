"""``wavecross train RECIPE|CONFIG.yaml [--set KEY=VALUE ...] [--stage ...] [--out DIR] [--resume] [--max-steps N]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="a shipped recipe by name (tiny, wavecross, ...) or a YAML training config file")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config value, dotted and typed as in the file: fusion.lr=1e-4 (repeatable)",
    )
    parser.add_argument(
        "--data",
        action="append",
        default=None,
        metavar="DIR",
        help="train on these pair folders instead of the recipe's (repeatable; ir/+vi/ or infrared/+visible/ ...)",
    )
    parser.add_argument(
        "--init",
        default=None,
        metavar="NAME|FILE",
        help="start the fusion stage from a whole model: a shipped name (wavecross) or a model.safetensors",
    )
    parser.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default: the recipe's)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the recipe's)")
    parser.add_argument(
        "--stage",
        default="all",
        choices=("pretrain", "fusion", "all"),
        help="pretrain: the two auto-encoders; fusion: the fusion network; all: both (default)",
    )
    parser.add_argument("--out", default=None, help="output folder (default: runs/<config name>)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    parser.add_argument("--max-steps", type=int, default=None, help="override the steps of each stage run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs still written)")


def run(args: argparse.Namespace) -> int:
    from ..train.config import load_config
    from ..train.stages import train

    cfg = load_config(args.config, _shorthands(args) + args.set)
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    train(cfg, args.stage, out, resume=args.resume, max_steps=args.max_steps, progress=not args.no_progress)
    print(
        f"done: weights in {out / 'fusion' / 'model.safetensors'}"
        if args.stage != "pretrain"
        else f"done: encoders in {out / 'pretrain' / 'encoders.safetensors'}"
    )
    return 0


def _shorthands(args: argparse.Namespace) -> list[str]:
    """The common overrides as ``--set`` items (validated with the rest of the config; ``--set`` wins)."""
    import json

    items = []
    if args.data:
        items.append(f"data.roots={json.dumps([str(Path(d).resolve()) for d in args.data])}")
    if args.init:
        items.append(f"fusion.init={json.dumps(args.init)}")
    if args.device:
        items.append(f"run.device={json.dumps(args.device)}")
    if args.seed is not None:
        items.append(f"run.seed={args.seed}")
    return items
