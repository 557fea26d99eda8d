"""Run under torchrun by tests/test_fuse_distributed.py: fuses a folder through the library and records this
process's FuseReport (what it wrote) and its torch threads as REPORTS/rank<RANK>.json."""

import json
import sys
from pathlib import Path

import torch

from wavecross.fuse_files import fuse_files


def main() -> None:
    ir, vis, out, weights, reports = sys.argv[1:]
    report = fuse_files(ir, vis, out, weights=weights, device="cpu", precision="fp32", progress=False)
    record = {
        "rank": report.rank,
        "processes": report.processes,
        "fused": report.fused,
        "written": [str(path) for path in report.written],
        "threads": torch.get_num_threads(),
    }
    (Path(reports) / f"rank{report.rank}.json").write_text(json.dumps(record))


if __name__ == "__main__":
    main()
