"""Run under torchrun by tests/test_train.py: trains the tiny config and saves this rank's final weights."""

import sys
from pathlib import Path

import torch.distributed as dist
from safetensors.torch import save_file

from wavecross.train import load_config, train


def main() -> None:
    config, out = sys.argv[1], Path(sys.argv[2])
    rank = int(__import__("os").environ["RANK"])
    models = train(load_config(config), "all", out, progress=False)
    assert not dist.is_initialized()  # train() cleans up its process group
    save_file(
        {k: v.contiguous() for k, v in models["fusion"].state_dict().items()}, str(out / f"rank{rank}.safetensors")
    )


if __name__ == "__main__":
    main()
