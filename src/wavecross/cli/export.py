"""``wavecross export --format onnx -o FILE``: the network as ONNX (:func:`wavecross.export.export_onnx`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import WavecrossError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", default="onnx", choices=("onnx",), help="export format (onnx)")
    parser.add_argument("-o", "--output", required=True, help="output file, e.g. wavecross.onnx")
    parser.add_argument("--model", default="wavecross", help="bundled model name")
    parser.add_argument("--weights", default=None, help="a model.safetensors from `wavecross train` instead")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset version (default 18)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args: argparse.Namespace) -> int:
    from ..export import export_onnx
    from ..hub import load_model

    out = Path(args.output)
    if out.exists() and not args.overwrite:
        raise WavecrossError(f"{out}: already exists; choose another output or pass --overwrite.")
    model = load_model(args.model, device="cpu", weights=args.weights)
    export_onnx(model, out, args.opset)
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB): inputs ir, vis (1, 1, H, W) in [0, 1]")
    return 0
