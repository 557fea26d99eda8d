"""``wavecross evaluate`` end to end, in-process through the dispatcher."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wavecross.cli import main
from wavecross.data.io import luminance_u8
from wavecross.errors import WavecrossError
from wavecross.evaluate import evaluate_folders
from wavecross.metrics import compute

NAMES = ("a_01", "b_02")


def _img(seed: int, shape: tuple[int, int] = (40, 56)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    img = 100 + 70 * np.sin(x / 4.0 + seed) * np.cos(y / 6.0) + rng.normal(0, 10, shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    """ir/*.jpg (grey), vi/*.jpg (colour), fused A/*.png (their mean) and B/*.png (the IR itself)."""
    dirs = {k: tmp_path / k for k in ("ir", "vi", "A", "B")}
    for d in dirs.values():
        d.mkdir()
    for i, name in enumerate(NAMES):
        vis_rgb = np.stack([_img(2 * i + 1), _img(2 * i + 11), _img(2 * i + 21)], axis=-1)
        Image.fromarray(_img(2 * i)).save(dirs["ir"] / f"{name}.jpg", quality=95)
        Image.fromarray(vis_rgb).save(dirs["vi"] / f"{name}.jpg", quality=95)
        ir = np.asarray(Image.open(dirs["ir"] / f"{name}.jpg"))
        vis_y = luminance_u8(np.asarray(Image.open(dirs["vi"] / f"{name}.jpg")))
        Image.fromarray(((ir.astype(int) + vis_y + 1) // 2).astype(np.uint8)).save(dirs["A"] / f"{name}.png")
        Image.fromarray(ir).save(dirs["B"] / f"{name}.png")
    return dirs


def _run(folders: dict[str, Path], *extra: str) -> int:
    return main(["evaluate", "--ir", str(folders["ir"]), "--vis", str(folders["vi"]), "--no-progress", *extra])


def test_json_csv_markdown_and_stdout(folders: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = {k: tmp_path / f"out.{k}" for k in ("json", "csv", "md")}
    rc = _run(
        folders,
        "--fused", f"A={folders['A']}",
        "--fused", f"B={folders['B']}",
        "--metrics", "EN,SD,SCD,MSE,RankAgree",
        "--json", str(out["json"]),
        "--csv", str(out["csv"]),
        "--markdown", str(out["md"]),
    )  # fmt: skip
    assert rc == 0
    data = json.loads(out["json"].read_text())
    assert list(data) == ["A", "B"]
    for method in data:
        assert set(data[method]) == {"per_image", "mean"}
        assert list(data[method]["per_image"]) == [f"{n}.jpg" for n in NAMES]
        for row in [*data[method]["per_image"].values(), data[method]["mean"]]:
            assert list(row) == ["EN", "SD", "SCD", "MSE", "RankAgree"]
    # B is the IR image itself: SCD undefined (null), RankAgree exactly 1
    assert data["B"]["mean"]["SCD"] is None
    assert all(r["SCD"] is None for r in data["B"]["per_image"].values())
    assert data["B"]["mean"]["RankAgree"] == 1.0
    assert isinstance(data["A"]["mean"]["SCD"], float)
    # means are the averages of the per-image values
    en = [r["EN"] for r in data["A"]["per_image"].values()]
    assert data["A"]["mean"]["EN"] == pytest.approx(sum(en) / len(en))

    rows = list(csv.reader(out["csv"].read_text().splitlines()))
    assert rows[0] == ["method", "image", "EN", "SD", "SCD", "MSE", "RankAgree"]
    assert [r[:2] for r in rows[1:]] == [["A", "a_01.jpg"], ["A", "b_02.jpg"], ["A", "mean"], ["B", "a_01.jpg"],
                                          ["B", "b_02.jpg"], ["B", "mean"]]  # fmt: skip
    assert rows[6][4] == ""  # NaN SCD as an empty cell

    md = out["md"].read_text()
    assert "## Mean" in md and "### a_01.jpg" in md
    # MSE is lower-is-better: the bold cell of its column must be the smaller mean
    mse = {m: data[m]["mean"]["MSE"] for m in data}
    best = min(mse, key=mse.get)
    assert f"| {best} |" in md and f"**{mse[best]:.4f}**" in md

    stdout = capsys.readouterr().out
    assert "mean over 2 image(s)" in stdout and "RankAgree↑" in stdout and "MSE↓" in stdout
    assert "1.0000*" in stdout  # B's RankAgree is the best


def test_values_match_the_library_on_the_y_channel(folders: dict[str, Path]) -> None:
    res = evaluate_folders(folders["ir"], folders["vi"], {"A": folders["A"]}, "tang", ["EN", "Qabf", "VIF"], False)
    name = NAMES[1]
    ir = np.asarray(Image.open(folders["ir"] / f"{name}.jpg"))
    vis = luminance_u8(np.asarray(Image.open(folders["vi"] / f"{name}.jpg")))
    fused = np.asarray(Image.open(folders["A"] / f"{name}.png"))
    expected = compute(fused, ir, vis, ["EN", "Qabf", "VIF"], convention="tang")
    assert res["A"]["per_image"][f"{name}.jpg"] == expected


def test_default_metrics_are_the_preset(folders: dict[str, Path], capsys) -> None:
    assert _run(folders, "--fused", str(folders["A"]), "--convention", "vifb") == 0
    header = capsys.readouterr().out.splitlines()[1]
    assert header.split()[0] == "method" and "Qcv↓" in header and "CE↓" in header


def test_missing_fused_image_is_one_clear_error(folders: dict[str, Path], capsys) -> None:
    (folders["B"] / "b_02.png").unlink()
    rc = _run(folders, "--fused", f"A={folders['A']}", "--fused", f"B={folders['B']}")
    assert rc == 2
    err = capsys.readouterr().err
    assert "missing fused image" in err and "B/b_02.*" in err and "Traceback" not in err


def test_size_mismatch_names_the_file(folders: dict[str, Path], capsys) -> None:
    Image.fromarray(_img(5, (30, 56))).save(folders["A"] / "a_01.png")
    assert _run(folders, "--fused", str(folders["A"])) == 2
    err = capsys.readouterr().err
    assert "a_01.png" in err and "differs from its source pair" in err


def test_unknown_metric_lists_valid_names(folders: dict[str, Path], capsys) -> None:
    assert _run(folders, "--fused", str(folders["A"]), "--metrics", "EN,Bogus") == 2
    err = capsys.readouterr().err
    assert "'Bogus'" in err and "MS_SSIM" in err


def test_duplicate_method_names_are_rejected(folders: dict[str, Path], capsys) -> None:
    assert _run(folders, "--fused", f"X={folders['A']}", "--fused", f"X={folders['B']}") == 2
    assert "given twice" in capsys.readouterr().err


def test_missing_source_folder(folders: dict[str, Path], tmp_path: Path, capsys) -> None:
    rc = main(["evaluate", "--ir", str(tmp_path / "nope"), "--vis", str(folders["vi"]), "--fused", str(folders["A"])])
    assert rc == 2
    assert "nope" in capsys.readouterr().err


def test_nan_means_only_where_no_image_defines_the_metric(folders: dict[str, Path]) -> None:
    res = evaluate_folders(folders["ir"], folders["vi"], {"B": folders["B"]}, metrics=["SCD", "EN"], progress=False)
    assert math.isnan(res["B"]["mean"]["SCD"])
    assert math.isfinite(res["B"]["mean"]["EN"])


def test_empty_metric_list_is_refused(folders: dict[str, Path], tmp_path: Path, capsys) -> None:
    for value in (",", " , ", ""):
        assert _run(folders, "--fused", str(folders["A"]), "--metrics", value, "--json", str(tmp_path / "m.json")) == 2
        err = capsys.readouterr().err.strip()
        assert "names no metric" in err and "\n" not in err
    assert not (tmp_path / "m.json").exists()
    with pytest.raises(WavecrossError, match="no metric"):
        evaluate_folders(folders["ir"], folders["vi"], {"A": folders["A"]}, metrics=[], progress=False)


def test_psnr_of_an_all_black_image_is_undefined_without_warnings(folders: dict[str, Path], tmp_path: Path) -> None:
    import warnings

    black = tmp_path / "black"
    black.mkdir()
    for name in NAMES:
        Image.fromarray(np.zeros((40, 56), np.uint8)).save(black / f"{name}.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning (log10 of 0) in any metric thread would fail here
        rc = _run(folders, "--fused", f"black={black}", "--metrics", "PSNR,EN,SD", "--json", str(tmp_path / "m.json"))
    assert rc == 0
    data = json.loads((tmp_path / "m.json").read_text())["black"]  # -inf would not even be valid JSON
    assert data["mean"]["PSNR"] is None and all(r["PSNR"] is None for r in data["per_image"].values())
    assert data["mean"]["SD"] == 0.0


def test_unwritable_report_file_is_refused_before_computing(
    folders: dict[str, Path], tmp_path: Path, capsys, monkeypatch
) -> None:
    import wavecross.evaluate

    (tmp_path / "file").write_text("x")
    calls = []
    monkeypatch.setattr(wavecross.evaluate, "evaluate_folders", lambda *a, **k: calls.append(1))
    rc = _run(folders, "--fused", str(folders["A"]), "--csv", str(tmp_path / "file" / "m.csv"))
    assert rc == 2 and not calls
    err = capsys.readouterr().err.strip()
    assert "m.csv" in err and "cannot be created" in err and "\n" not in err


def test_max_pixels_limits_every_image_read(folders: dict[str, Path], capsys) -> None:
    assert _run(folders, "--fused", str(folders["A"]), "--max-pixels", "1000") == 2
    err = capsys.readouterr().err
    assert "a_01.jpg" in err and "over the limit" in err
    assert _run(folders, "--fused", str(folders["A"]), "--max-pixels", str(40 * 56), "--metrics", "EN") == 0
