"""Training checkpoints without pickle: every tensor in a safetensors file, the structure around them as JSON.

A checkpoint holds nested dicts, lists and tuples of tensors, numbers, strings and NumPy arrays (model, optimizer,
scheduler, RNG states, step). :func:`encode_state` turns such a tree into JSON with each tensor replaced by a
reference to a safetensors entry; :func:`decode_state` reverses it. Loading therefore never runs code from the file,
unlike ``torch.load`` of a pickle (a crafted ``checkpoint.pt`` could execute anything). Old pickle checkpoints are
refused, never opened.

Writes are atomic and keep the previous checkpoint: the new state goes to a temporary file, the current checkpoint
becomes ``<name>.prev``, then the temporary file takes the name. A run killed or out of disk at any moment leaves a
complete checkpoint behind, and :func:`load_checkpoint` falls back to the previous one (saying so) when the newest
is unreadable.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open

from ..errors import WavecrossError
from ..nn.io import write_safetensors

CHECKPOINT_NAME = "checkpoint.safetensors"
_LEGACY_NAME = "checkpoint.pt"  # pickle checkpoints of wavecross < 0.2: refused, never loaded
_FORMAT = "wavecross-checkpoint-1"


def rng_state() -> dict[str, Any]:
    """RNG states of torch, NumPy's legacy global generator, Python's ``random`` (and CUDA), as plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 (what third-party code draws from)
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["gauss"]))  # noqa: NPY002
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def encode_state(tree: Any, tensors: dict[str, torch.Tensor] | None = None) -> tuple[Any, dict[str, torch.Tensor]]:
    """(JSON-able skeleton, tensors by name) of a nested state.

    Dicts with non-string keys (optimizer states use parameter indices) and tuples are tagged so that
    :func:`decode_state` rebuilds them exactly; NumPy arrays become tensors tagged to come back as arrays.
    """
    tensors = {} if tensors is None else tensors

    def enc(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            key = f"t{len(tensors)}"
            tensors[key] = x.detach().cpu().contiguous()
            return {"__tensor__": key}
        if isinstance(x, np.ndarray):
            return {"__ndarray__": enc(torch.from_numpy(np.ascontiguousarray(x)))}
        if isinstance(x, np.generic):
            return x.item()
        if isinstance(x, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in x):
                return {k: enc(v) for k, v in x.items()}
            return {"__items__": [[enc(k), enc(v)] for k, v in x.items()]}
        if isinstance(x, tuple):
            return {"__tuple__": [enc(v) for v in x]}
        if isinstance(x, list):
            return [enc(v) for v in x]
        if x is None or isinstance(x, bool | int | float | str):
            return x
        raise TypeError(f"cannot store a {type(x).__name__} in a checkpoint")

    return enc(tree), tensors


def decode_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`encode_state`."""

    def dec(x: Any) -> Any:
        if isinstance(x, list):
            return [dec(v) for v in x]
        if not isinstance(x, dict):
            return x
        if "__tensor__" in x:
            return tensors[x["__tensor__"]]
        if "__ndarray__" in x:
            return dec(x["__ndarray__"]).numpy()
        if "__tuple__" in x:
            return tuple(dec(v) for v in x["__tuple__"])
        if "__items__" in x:
            return {_hashable(dec(k)): dec(v) for k, v in x["__items__"]}
        return {k: dec(v) for k, v in x.items()}

    return dec(skeleton)


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically; the checkpoint it replaces is kept as ``<path>.prev`` until the next save.

    On a write failure (full disk, read-only folder) the partial file is removed and the error is one
    :class:`WavecrossError` naming the file; the previous checkpoint is untouched.
    """
    path = Path(path)
    skeleton, tensors = encode_state(state)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_safetensors(tensors, tmp, {"format": _FORMAT, "state": json.dumps(skeleton)})
        if path.exists():
            os.replace(path, _previous(path))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WavecrossError(
            f"{path}: could not write the checkpoint ({exc.strerror or exc}); free disk space or fix the folder's "
            "permissions, then continue with --resume (the previous checkpoint is kept)."
        ) from None


def _previous(path: Path) -> Path:
    return path.with_name(path.name + ".prev")


def _read(path: Path) -> dict[str, Any]:
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != _FORMAT:
            raise ValueError("not a wavecross training checkpoint")
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no iterator)
    return decode_state(json.loads(meta["state"]), tensors)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The state saved at ``path``; if that file is unreadable, the previous checkpoint (with a warning).

    Never unpickles: a legacy ``checkpoint.pt`` beside it is refused with one error naming it.
    """
    path = Path(path)
    legacy = path.with_name(_LEGACY_NAME)
    if not path.exists() and not _previous(path).exists() and legacy.exists():
        raise WavecrossError(
            f"{legacy}: pickle checkpoints are not loaded (they can run code when read); "
            "start this stage again in a new --out folder."
        )
    errors = []
    for candidate in (path, _previous(path)):
        if not candidate.exists():
            continue
        try:
            state = _read(candidate)
        except (SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
            errors.append(f"{candidate} ({exc})")
            continue
        if errors:
            print(f"warning: {errors[0]} is unreadable; resuming from {candidate} instead.", file=sys.stderr)
        return state
    raise WavecrossError(
        f"{errors[0] if errors else path}: no readable checkpoint to resume from; "
        "start the stage again without --resume in a new --out folder."
    )


def has_checkpoint(path: Path) -> bool:
    """Whether a checkpoint (current, previous or legacy pickle) exists for this path."""
    path = Path(path)
    return any(p.exists() for p in (path, _previous(path), path.with_name(_LEGACY_NAME)))
