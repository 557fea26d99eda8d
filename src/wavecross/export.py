"""The network as ONNX with dynamic height and width (``wavecross export --format onnx -o FILE``).

The exported graph takes ``ir`` and ``vis`` (1, 1, H, W) float32 in [0, 1] — any H, W ≥ 16, padding and cropping
are inside the graph — and returns ``fused`` (1, 1, H, W). Colour handling (Y/CbCr) stays outside, as in
:mod:`wavecross.inference`.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch

from .errors import WavecrossError


def export_onnx(model: torch.nn.Module, path: str | Path, opset: int = 18) -> Path:
    """Write ``model`` to ``path`` (atomically) as ONNX with dynamic H and W; needs the ``export`` extra."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise WavecrossError(
            "ONNX export needs the onnx and onnxscript packages: pip install 'wavecross[export]'."
        ) from None
    path = Path(path)
    model = model.eval().cpu().float()
    dim_h = torch.export.Dim("height", min=16, max=16384)
    dim_w = torch.export.Dim("width", min=16, max=16384)
    # Two different example tensors: one tensor passed twice would be exported as a single graph input.
    example = (torch.rand(1, 1, 96, 128), torch.rand(1, 1, 96, 128))
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("torch").setLevel(logging.ERROR)
        program = torch.onnx.export(
            model,
            example,
            dynamo=True,
            opset_version=opset,
            verbose=False,
            input_names=["ir", "vis"],
            output_names=["fused"],
            dynamic_shapes=({2: dim_h, 3: dim_w}, {2: dim_h, 3: dim_w}),
        )
    program.save(str(tmp))
    os.replace(tmp, path)
    return path
