"""``wavecross benchmark`` end to end on a small synthetic benchmark: files, numbers, errors, rendering."""

from __future__ import annotations

import importlib.util
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from wavecross.cli import main
from wavecross.data import luminance_u8, read_image, synthetic_pair, write_image

SETS = {"Alpha": (96, 128), "Beta": (75, 101)}  # one odd-sized set
NAMES = ("00001", "00002", "00003")
ROOT = Path(__file__).resolve().parents[1]


def _make_data(root: Path) -> tuple[Path, Path]:
    """Two sets of three synthetic pairs, and a 'published' method's outputs for the first set only."""
    data, peer = root / "data", root / "peer"
    for k, (set_name, (h, w)) in enumerate(SETS.items()):
        for i, name in enumerate(NAMES):
            ir, vis = synthetic_pair(h, w, seed=10 * k + i)
            write_image(data / set_name / "ir" / f"{name}.png", ir)
            write_image(data / set_name / "vi" / f"{name}.png", vis)
            if set_name == "Alpha":
                ir_y, vis_y = luminance_u8(ir), luminance_u8(vis)
                write_image(peer / set_name / f"{name}.png", np.maximum(ir_y, vis_y) // 2 + 60)
    return data, peer


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bench")
    data, peer = _make_data(root)
    out = root / "report"
    rc = main(
        [
            "benchmark",
            "--data",
            str(data),
            "--methods",
            "mean,max,gff",
            "--fused",
            f"Peer={peer}",
            "-o",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    return data, out


@pytest.mark.slow
def test_report_files_exist(report: tuple[Path, Path]) -> None:
    _, out = report
    expected = [
        "index.html",
        "results.json",
        "timing.csv",
        "timing.json",
        "figures/thermal.png",
        "figures/timing.png",
    ]
    for set_name in SETS:
        expected += [f"leaderboard_{set_name}.{ext}" for ext in ("md", "csv", "json")]
        expected += [f"figures/{kind}_{set_name}.png" for kind in ("grid", "zoom", "metrics")]
        expected += [f"fused/{m}/{set_name}/{n}.png" for m in ("mean", "max", "gff") for n in NAMES]
    missing = [p for p in expected if not (out / p).is_file() or (out / p).stat().st_size == 0]
    assert not missing


@pytest.mark.slow
def test_fused_images_are_the_methods_output(report: tuple[Path, Path]) -> None:
    """Saved fused images are the fuser's output on the pair's 0-255 luminance, rounded to 8 bits."""
    data, out = report
    ir = luminance_u8(read_image(data / "Beta" / "ir" / "00002.png")).astype(np.float64)
    vis = luminance_u8(read_image(data / "Beta" / "vi" / "00002.png")).astype(np.float64)
    fused = read_image(out / "fused" / "mean" / "Beta" / "00002.png").astype(np.float64)
    assert fused.shape == ir.shape == SETS["Beta"]
    assert np.abs(fused - (ir + vis) / 2).max() <= 0.5 + 1e-6
    np.testing.assert_array_equal(read_image(out / "fused" / "max" / "Beta" / "00002.png"), np.maximum(ir, vis))


@pytest.mark.slow
def test_leaderboard_numbers_are_consistent(report: tuple[Path, Path]) -> None:
    from wavecross.metrics import HIGHER_IS_BETTER

    _, out = report
    summary = json.loads((out / "results.json").read_text())
    assert {"RankAgree", "LocalEnergyErr", "SF"} <= set(summary["metrics"])
    for set_name in SETS:
        means = summary["per_set"][set_name]["means"]
        assert means["max"]["SF"] >= means["mean"]["SF"]  # max keeps every edge; the average halves them
        assert means["gff"]["SF"] > means["mean"]["SF"]
        for metric in summary["metrics"]:
            assert metric in HIGHER_IS_BETTER
            assert all(np.isfinite(means[m][metric]) for m in means)
    assert "Peer" in summary["per_set"]["Alpha"]["means"]
    assert "Peer" not in summary["per_set"]["Beta"]["means"]
    assert any("Peer" in note for note in summary["per_set"]["Beta"]["notes"])
    timing = json.loads((out / "timing.json").read_text())
    assert set(timing) == {"mean", "max", "gff"}
    assert all(0 < timing[m]["all sets"] < 1e6 for m in timing)
    assert timing["gff"]["all sets"] > timing["mean"]["all sets"]


class _Cells(HTMLParser):
    """Rows of the first table after each ``<h2>``: [(method, {column: (text, is_best)})], per set heading."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[tuple[str, bool]]]] = []
        self.headers: list[list[str]] = []
        self._cell: list[str] | None = None
        self._best = False
        self._row: list[tuple[str, bool]] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
            self.headers.append([])
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head:
            self._row = []
        elif tag in ("td", "th"):
            self._cell, self._best = [], ("class", "best") in attrs

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            if self._in_head:
                self.headers[-1].append(text)
            elif self._row is not None:
                self._row.append((text, self._best))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.mark.slow
def test_best_marking_is_direction_aware(report: tuple[Path, Path]) -> None:
    """In index.html the highlighted cell of each column is the max for ↑ metrics and the min for ↓ ones."""
    from wavecross.metrics import HIGHER_IS_BETTER

    _, out = report
    summary = json.loads((out / "results.json").read_text())
    parser = _Cells()
    parser.feed((out / "index.html").read_text())
    checked_lower = 0
    for set_name, header, rows in zip(SETS, parser.headers, parser.tables, strict=False):
        means = summary["per_set"][set_name]["means"]
        columns = [h.rstrip(" ↑↓") for h in header[1:]]
        for c, metric in enumerate(columns, start=1):
            direction = HIGHER_IS_BETTER.get(metric)
            if metric not in summary["metrics"] or direction is None:
                continue
            values = {m: means[m][metric] for m in means}
            target = max(values.values()) if direction else min(values.values())
            marked = {row[0][0].split()[0] for row in rows if row[c][1]}
            assert marked == {m for m, v in values.items() if np.isclose(v, target, rtol=1e-9, atol=1e-12)}
            checked_lower += direction is False
    assert checked_lower >= 1  # at least one lower-is-better column was checked


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.refs += [v for k, v in attrs if k in ("href", "src") and v]


@pytest.mark.slow
def test_index_references_only_local_files(report: tuple[Path, Path]) -> None:
    _, out = report
    parser = _Links()
    parser.feed((out / "index.html").read_text())
    files = [r for r in parser.refs if not r.startswith("#")]
    assert "script" not in parser.tags
    assert any(r.endswith(".png") for r in files) and any(r.endswith(".csv") for r in files)
    for ref in files:
        assert not re.match(r"^[a-z]+:|^//", ref), ref
        target = (out / ref).resolve()
        assert target.is_file(), ref
        assert target.is_relative_to(out.resolve()), ref


def test_tiny_network_through_the_benchmark(tmp_path: Path) -> None:
    from wavecross.nn import WaveCross
    from wavecross.report.benchmark import run_benchmark

    data, _ = _make_data(tmp_path)
    summary = run_benchmark(
        data,
        ["wavecross", "mean"],
        {},
        "cddfuse",
        tmp_path / "r",
        sets=["Beta"],
        model=WaveCross("tiny"),
        progress=False,
        metrics=["SF", "RankAgree"],
    )
    assert summary["kinds"] == {"wavecross": "ours", "mean": "classical"}
    assert summary["precision"] == "fp32"  # scores that do not depend on the CPU, unless asked otherwise
    assert "network in <code>fp32</code>" in (tmp_path / "r" / "index.html").read_text()
    for name in NAMES:
        assert read_image(tmp_path / "r" / "fused" / "wavecross" / "Beta" / f"{name}.png").shape == SETS["Beta"]
    assert summary["per_set"]["Beta"]["timing"]["wavecross"]["ms_per_mp"] > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--data", "{root}/nowhere"], "no such folder"),
        (["--data", "{root}"], "contains no test set"),
        (["--fused", "Peer"], "is not NAME=DIR"),
        (["--fused", "Peer={root}/nowhere"], "no such folder"),
        (["--fused", "Peer={root}/data/Alpha"], "none of the sets"),
        (["--fused", "mean={root}/peer"], "also a method"),
        (["--methods", "mean,unknown"], "unknown method"),
        (["--sets", "Gamma"], "Gamma"),
        (["-o", "{root}/busy"], "not empty"),
        (["--convention", "matlab"], "unknown --convention"),
        (["--precision", "fp16", "--device", "cpu"], "not supported on the CPU"),
        (["--metrics", ","], "names no metric"),
        (["--fused", "Peer={root}/peer"], "missing fused image(s): {root}/peer/Alpha/00002.*"),
        (["--max-pixels", "1000"], "over the limit"),
        (["--show", "Gamma/00001"], "SET/NAME"),
        (["--show", "Alpha/00009"], "no image named 00009"),
        (["-o", "{root}/busy/keep.txt/report"], "keep.txt is a file"),
    ],
)
def test_bad_input_is_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    data, peer = _make_data(tmp_path)
    (peer / "Alpha" / "00002.png").unlink()  # an incomplete published method
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("x")
    message = message.format(root=tmp_path)
    args = {"--data": str(data), "--methods": "mean", "-o": str(tmp_path / "out")}
    extra = [e.format(root=tmp_path) for e in extra]
    for key in ("--data", "--methods", "-o"):
        if key in extra:
            args[key] = extra.pop(extra.index(key) + 1)
            extra.remove(key)
    argv = ["benchmark", "--no-progress", *extra, *(x for kv in args.items() for x in kv)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert (tmp_path / "busy" / "keep.txt").read_text() == "x"
    assert not (tmp_path / "out").exists()  # checked before anything is created


@pytest.mark.slow
def test_overwrite_allows_a_non_empty_folder(report: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = report
    out = tmp_path / "again"
    out.mkdir()
    (out / "old.txt").write_text("x")
    argv = [
        "benchmark",
        "--data",
        str(data),
        "--methods",
        "mean",
        "--sets",
        "Beta",
        "--metrics",
        "SF",
        "-o",
        str(out),
        "--overwrite",
        "--no-progress",
    ]
    assert main(argv) == 0
    assert (out / "index.html").is_file()


def _render_module():
    spec = importlib.util.spec_from_file_location("render_report", ROOT / "bench" / "render_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_report_renders_in_headless_chromium(report: tuple[Path, Path]) -> None:
    render = _render_module()
    if render.find_chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    _, out = report
    png = render.screenshot(out / "index.html", out / "screenshot.png", width=1200, height=1600)
    shot = np.asarray(read_image(png), np.float64)
    assert shot.shape[:2] == (1600, 1200)
    assert shot[5:60, 5:200].mean() < 80  # the dark header band: the inline CSS was applied
    assert shot.std() > 30  # tables and figures drew something, not a blank page


def test_shown_pairs_lead_the_image_grid() -> None:
    from wavecross.report.benchmark import _grid_rows

    names = [f"{i:02d}" for i in range(1, 26)]
    rows = _grid_rows(names, 4, ["11", "01"])
    assert rows[:2] == [10, 0]  # shown first, in the order asked
    assert len(rows) == len(set(rows)) == 5  # and the evenly spaced ones without repeating 01
    assert _grid_rows(names[:3], 4) == [0, 1, 2]


def _wide_page() -> str:
    """A leaderboard of 40 metric columns in the report's page layout, with a probe of the widths it renders at."""
    from wavecross.report.html import CSS, table_html
    from wavecross.report.tables import Table

    columns = [(f"Metric{i}", True) for i in range(40)]
    table = Table(columns, [("a-long-method-name", "published", {c: 1234.5 for c, _ in columns})])
    probe = (
        "<script>var s = document.querySelector('.scroll');"
        "document.body.dataset.widths = [document.documentElement.scrollWidth, s.scrollWidth, s.clientWidth];</script>"
    )
    return (
        f"<!DOCTYPE html><html><head><style>{CSS}</style></head><body><main><section>{table_html(table, {})}"
        f"</section></main>{probe}</body></html>"
    )


def test_a_wide_leaderboard_scrolls_inside_its_section() -> None:
    """CSS: the table scrolls sideways in its own box, the method column stays in view, long paths wrap."""
    from wavecross.report.html import CSS

    assert ".scroll{overflow-x:auto;max-width:100%}" in CSS and "position:sticky;left:0" in CSS
    assert "overflow-wrap:anywhere" in CSS
    assert '<div class="scroll"><table>' in _wide_page()


def test_a_wide_leaderboard_does_not_widen_a_1400_px_window(tmp_path: Path) -> None:
    import subprocess

    exe = _render_module().find_chromium()
    if exe is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    page = tmp_path / "wide.html"
    page.write_text(_wide_page())
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,900", "--dump-dom", page.as_uri()]
    dom = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120).stdout
    page_width, table_width, box_width = map(int, re.search(r'data-widths="([\d,]+)"', dom).group(1).split(","))
    assert page_width <= 1400  # the page does not scroll sideways...
    assert table_width > box_width  # ...the table's box does
