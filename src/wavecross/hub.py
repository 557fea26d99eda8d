"""Models by name, with their bundled weights (like timm's ``create_model(name, pretrained=True)``).

Weights ship inside the package (``wavecross/weights/*.safetensors``, fp16, loaded without pickle) and are never
downloaded. ``load_model("wavecross")`` returns the trained network in eval mode on the chosen device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from .errors import WavecrossError
from .nn import WaveCross, load_weights


@dataclass(frozen=True)
class ModelEntry:
    weights: str
    description: str


MODELS: dict[str, ModelEntry] = {
    "wavecross": ModelEntry(
        "wavecross.safetensors",
        "Wave-Cross, paper configuration + decoder skip gate and refinement block, v3: recipe wavecross-v3 "
        "(docs/MODEL_CARD.md)",
    ),
}


def list_models() -> list[str]:
    """Names accepted by :func:`load_model`."""
    return sorted(MODELS)


def weights_path(name: str) -> Path:
    """Path of a named model's bundled weights file."""
    if name not in MODELS:
        raise WavecrossError(f"unknown model {name!r}; available: {', '.join(list_models())}.")
    path = Path(str(resources.files("wavecross") / "weights" / MODELS[name].weights))
    if not path.is_file():
        raise WavecrossError(
            f"{path}: bundled weights of model {name!r} are missing; reinstall wavecross or pass --weights FILE."
        )
    return path


def model_config(name: str) -> dict:
    """The network configuration stored with a named model's weights (its file's metadata; no weights read)."""
    from safetensors import safe_open

    with safe_open(str(weights_path(name)), framework="pt") as f:
        return json.loads((f.metadata() or {})["config"])


def parameter_count(name: str) -> int:
    """Learnable parameters of a named model: its network built from its stored config on the meta device (no
    memory, no weights read)."""
    with torch.device("meta"):
        return sum(p.numel() for p in WaveCross(model_config(name)).parameters())


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` → CUDA if present, else Apple MPS, else CPU; a named device must exist."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise WavecrossError(f"unknown device {device!r}; use auto, cpu, cuda or mps.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise WavecrossError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto.")
    if device == "mps" and not torch.backends.mps.is_available():
        raise WavecrossError("--device mps was asked for but Apple MPS is not available; use --device cpu or auto.")
    return torch.device(device)


def idle_cores(window: float = 0.05) -> int:
    """The CPU cores this process may use that other programs do not keep busy right now (at least 1).

    Measured from the kernel's CPU time counters (``/proc/stat``) over ``window`` seconds, while this process
    sleeps: a core counts as busy when other programs used at least half of one. Why it matters: torch's threads
    wait for each other at every operation, so one thread held up by another program stalls them all (640×480 with
    a busy process beside it: 0.45 s on 1 thread, 0.87 s on 2; docs/speed.md). Without ``/proc/stat`` (not Linux)
    every core counts as idle. (``/proc/loadavg``'s count of runnable tasks was tried first: on the development VM
    it reads 2 with nothing running.)
    """
    import os
    import time

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    def counters() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]) - idle, sum(fields[:8])  # busy, total (guest time is already in user)

    try:
        busy0, total0 = counters()
        time.sleep(window)
        busy1, total1 = counters()
    except (OSError, ValueError, IndexError):
        return cores
    if total1 <= total0:
        return cores
    busy_cores = (os.cpu_count() or cores) * (busy1 - busy0) / (total1 - total0)
    return max(1, min(cores, cores - int(busy_cores + 0.5)))


def set_threads(threads: int) -> None:
    """Run torch's CPU operations on ``threads`` threads (``--threads``), which must be at least 1."""
    if threads < 1:
        raise WavecrossError(f"--threads {threads}: use at least 1 thread.")
    torch.set_num_threads(threads)


def load_model(
    name: str = "wavecross", device: str | torch.device = "auto", weights: str | Path | None = None
) -> WaveCross:
    """The named model with its bundled weights (or the ``weights`` file given), in eval mode on ``device``.

    ``weights`` may be a ``model.safetensors`` written by ``wavecross train`` or :meth:`WaveCross.save`. On the
    CPU the convolution weights are stored channels-last, which oneDNN runs faster (docs/speed.md).
    """
    path = Path(weights) if weights is not None else weights_path(name)
    on = resolve_device(device)
    model = load_weights(path).eval().to(on)
    return model.to(memory_format=torch.channels_last) if on.type == "cpu" else model
