"""Folders of pairs under the names public data sets use, found by one function everywhere a root is read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wavecross.cli import main
from wavecross.data import PairedImageDataset, load_pair_set, pair_folders, synthetic_pair, write_image
from wavecross.data.pairs import IR_FOLDER_NAMES, VIS_FOLDER_NAMES
from wavecross.errors import WavecrossError
from wavecross.report.benchmark import find_sets

NAMINGS = [(ir, vis) for ir, vis in zip(IR_FOLDER_NAMES, VIS_FOLDER_NAMES, strict=False)] + [
    ("infrared", "visible"),  # LLVIP
    ("Ir", "Vis"),  # M3FD
    ("thermal", "rgb"),
    ("ir", "Visible"),
]


def _root(root: Path, ir: str = "ir", vis: str = "vi", names: tuple[str, ...] = ("a.png", "b.png")) -> Path:
    for k, name in enumerate(names):
        a, b = synthetic_pair(48, 64, seed=k)
        write_image(root / ir / name, a)
        write_image(root / vis / name, b)
    return root


def test_the_names_are_those_of_the_public_data_sets() -> None:
    assert set(IR_FOLDER_NAMES) == {"ir", "IR", "Ir", "infrared", "Infrared", "thermal"}
    assert set(VIS_FOLDER_NAMES) == {"vi", "VI", "Vis", "vis", "visible", "Visible", "rgb"}


@pytest.mark.parametrize(("ir", "vis"), NAMINGS)
def test_every_naming_is_found(tmp_path: Path, ir: str, vis: str) -> None:
    root = _root(tmp_path / "set", ir, vis)
    (root / "notes").mkdir()  # other folders are ignored
    assert pair_folders(root) == (root / ir, root / vis)
    names, irs, _ = load_pair_set(root)
    assert names == ["a", "b"] and irs[0].shape == (48, 64)


def test_any_other_naming_by_name(tmp_path: Path) -> None:
    root = _root(tmp_path / "set", "lwir", "eo")
    assert pair_folders(root, ir_dir="lwir", vis_dir="eo") == (root / "lwir", root / "eo")
    with pytest.raises(WavecrossError, match=r"no infrared folder; expected one of .*/set/ir, IR, Ir, infrared"):
        pair_folders(root)
    with pytest.raises(WavecrossError, match=r"set/LWIR: no such folder \(--ir-dir LWIR\)"):
        pair_folders(root, ir_dir="LWIR", vis_dir="eo")


@pytest.mark.parametrize(
    ("folders", "message"),
    [
        (("ir", "infrared", "vi"), "holds 2 infrared folders (ir, infrared)"),
        (("IR", "vi", "vis", "Visible"), "holds 3 visible folders (vi, vis, Visible)"),
        (("thermal",), "no visible folder; expected one of {root}/vi, VI, Vis, vis, visible, Visible, rgb"),
        ((), "no infrared folder"),
    ],
)
def test_ambiguous_or_missing_folders_are_one_clear_error(tmp_path: Path, folders: tuple[str, ...], message) -> None:
    root = tmp_path / "set"
    root.mkdir()
    for name in folders:
        (root / name).mkdir()
    with pytest.raises(WavecrossError) as info:
        pair_folders(root)
    text = str(info.value)
    assert text.startswith(f"{root}: ") and message.format(root=root) in text
    assert "\n" not in text
    with pytest.raises(WavecrossError, match="no such folder"):
        pair_folders(tmp_path / "nowhere")


def test_training_dataset_reads_every_naming(tmp_path: Path) -> None:
    m3fd = _root(tmp_path / "M3FD", "Ir", "Vis")
    llvip = _root(tmp_path / "LLVIP", "infrared", "visible", names=("c.jpg",))
    ds = PairedImageDataset([m3fd, llvip], crop=16, val_fraction=0.0)
    assert ds.names == ["M3FD/a.png", "M3FD/b.png", "LLVIP/c.jpg"]
    other = _root(tmp_path / "other", "lwir", "eo")
    assert len(PairedImageDataset([other], crop=16, val_fraction=0.0, ir_dir="lwir", vis_dir="eo")) == 2
    (llvip / "ir").mkdir()
    with pytest.raises(WavecrossError, match=r"LLVIP: holds 2 infrared folders \(ir, infrared\)"):
        PairedImageDataset([m3fd, llvip], crop=16, val_fraction=0.0)


# --- the commands ---------------------------------------------------------------------------------------------


def test_fuse_a_data_set_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _root(tmp_path / "M3FD", "Ir", "Vis")
    assert main(["fuse", "--data", str(root), "-o", str(tmp_path / "out"), "--method", "mean", "--no-progress"]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    other = _root(tmp_path / "other", "lwir", "eo")
    argv = ["fuse", "--data", str(other), "--ir-dir", "lwir", "--vis-dir", "eo", "--method", "max"]
    assert main([*argv, "-o", str(tmp_path / "out2"), "--no-progress"]) == 0
    assert (tmp_path / "out2" / "b.png").is_file()
    capsys.readouterr()
    for bad, words in (
        (["--data", str(root), "--ir", str(root / "Ir")], "either --data ROOT or --ir and --vis"),
        (["--ir", str(root / "Ir"), "--vis", str(root / "Vis"), "--ir-dir", "Ir"], "pass --data too"),
        (["--ir", str(root / "Ir")], "pass --ir and --vis"),
        (["--data", str(other)], f"{other}: no infrared folder"),
    ):
        assert main(["fuse", *bad, "-o", str(tmp_path / "bad"), "--method", "mean"]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err
    assert not (tmp_path / "bad").exists()


def test_evaluate_a_data_set_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _root(tmp_path / "LLVIP", "infrared", "visible")
    for name in ("a", "b"):
        write_image(tmp_path / "fused" / f"{name}.png", np.full((48, 64), 128, np.uint8))
    argv = ["evaluate", "--data", str(root), "--fused", str(tmp_path / "fused"), "--metrics", "SD", "--no-progress"]
    assert main([*argv, "--json", str(tmp_path / "m.json")]) == 0
    assert list(json.loads((tmp_path / "m.json").read_text())["fused"]["per_image"]) == ["a.png", "b.png"]
    (root / "Ir").mkdir()
    assert main(argv) == 2
    assert "holds 2 infrared folders (Ir, infrared)" in capsys.readouterr().err


def test_benchmark_sets_of_any_naming(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    _root(data / "M3FD", "Ir", "Vis")
    _root(data / "LLVIP", "infrared", "visible")
    _root(data / "Mine", "lwir", "eo")
    (data / "peers" / "X").mkdir(parents=True)  # not a set
    assert find_sets(data) == ["LLVIP", "M3FD"]
    assert find_sets(data, ir_dir="lwir", vis_dir="eo") == ["Mine"]
    out = tmp_path / "report"
    argv = ["benchmark", "--data", str(data), "--methods", "mean", "--metrics", "SF", "--no-progress"]
    assert main([*argv, "-o", str(out), "--show", "M3FD/b", "--device", "cpu"]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["sets"] == ["LLVIP", "M3FD"] and summary["per_set"]["M3FD"]["pairs"] == 2
    (data / "M3FD" / "ir").mkdir()
    assert main([*argv, "-o", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err
    assert f"{data / 'M3FD'}: holds 2 infrared folders (ir, Ir)" in err
    assert not (tmp_path / "again").exists()
