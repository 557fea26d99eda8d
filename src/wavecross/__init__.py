"""wavecross: infrared-visible image fusion with the Wave-Cross network.

Quick use::

    import wavecross
    fused = wavecross.fuse("ir.png", "vis.png")          # shipped weights, CPU or GPU
    model = wavecross.load_model("wavecross")           # an nn.Module with its weights
    net = wavecross.nn.WaveCross()                      # the untrained paper architecture
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "nn": ("wavecross.nn", None),
    "losses": ("wavecross.losses", None),
    "metrics": ("wavecross.metrics", None),
    "data": ("wavecross.data", None),
    "baselines": ("wavecross.baselines", None),
    "fuse": ("wavecross.inference", "fuse"),
    "load_model": ("wavecross.hub", "load_model"),
    "list_models": ("wavecross.hub", "list_models"),
    "WavecrossError": ("wavecross.errors", "WavecrossError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    # Lazy attributes keep `import wavecross` (and the CLI's start-up) free of the torch import cost.
    if name not in _LAZY:
        raise AttributeError(f"module 'wavecross' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value
