"""The command line as a whole: one package of thin commands over a library that never parses arguments, help
texts that state their defaults, progress that suits a log, the README's examples, the code layout."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wavecross.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "wavecross"
SHARED = ROOT.parent / "shared" / "data"


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module, relative level, at module level?) of every import in a file."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level, id(node) in top))
    return found


def test_every_command_is_a_module_of_the_cli_package_with_only_add_arguments_and_run() -> None:
    assert set(COMMANDS) == {"fuse", "demo", "evaluate", "train", "export", "benchmark", "models"}
    for command in COMMANDS:
        module = importlib.import_module(f"wavecross.cli.{command}")
        public = {
            name
            for name, value in vars(module).items()
            if callable(value) and not name.startswith("_") and getattr(value, "__module__", "") == module.__name__
        }
        assert public == {"add_arguments", "run"}, command


def test_the_library_never_imports_argparse_nor_the_commands() -> None:
    for path in SRC.rglob("*.py"):
        if (SRC / "cli") in path.parents or path.name == "__main__.py":  # the commands, and `python -m wavecross`
            continue
        for module, level, _ in _imports(path):
            assert module != "argparse", path
            absolute = module if level == 0 else ""
            assert not absolute.startswith("wavecross.cli"), path
            assert not (level and module.split(".")[0] == "cli"), path
    assert not (SRC / "fuse_cli.py").exists() and not (SRC / "train" / "cli.py").exists()


def test_nn_has_no_import_cycle_and_no_function_level_imports() -> None:
    """Each ``nn`` module imports its siblings at the top, and the sibling graph has no cycle."""
    graph: dict[str, set[str]] = {}
    for path in (SRC / "nn").glob("*.py"):
        siblings = set()
        for module, level, at_top in _imports(path):
            if level == 1:
                assert at_top, f"{path.name} imports .{module} inside a function"
                siblings.add(module.split(".")[0] if module else "__init__")
        graph[path.stem] = siblings - {"__init__"}
    done: set[str] = set()

    def visit(node: str, trail: tuple[str, ...]) -> None:
        assert node not in trail, f"import cycle: {' → '.join((*trail, node))}"
        if node not in done:
            for other in graph.get(node, ()):
                visit(other, (*trail, node))
            done.add(node)

    for node in graph:
        visit(node, ())


def test_python_dash_m_and_the_console_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "wavecross", "--help"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert all(command in out for command in COMMANDS)
    assert 'wavecross = "wavecross.cli:main"' in (ROOT / "pyproject.toml").read_text()


def test_models_lists_the_bundled_models_and_the_recipes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"wavecross\s+14\.8 M parameters, weights/wavecross\.safetensors", out)
    assert "Wave-Cross, paper configuration" in out
    for recipe in ("tiny", "proxy", "wavecross"):
        assert re.search(rf"^  {recipe}\s+\S", out, flags=re.M), recipe


def _help(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_help_states_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    fuse = _help("fuse", capsys)
    assert re.search(r"--precision \{auto,fp32,bf16,fp16\} number format .*auto \(default", fuse)
    assert re.search(r"--batch-size BATCH_SIZE pairs of equal size .*\(default: 1\)", fuse)
    assert "--no-progress" in fuse and "--data ROOT" in fuse and "--ir-dir NAME" in fuse
    for command in ("fuse", "benchmark", "demo"):
        assert re.search(r"--device DEVICE device.*: auto \(default\)", _help(command, capsys)), command


def test_benchmark_docs_and_help_agree_on_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _help("benchmark", capsys)
    assert "(default: the convention's preset + thermal metrics)" in bench
    rows = {
        line.split("|")[1].strip(): line
        for line in (ROOT / "docs" / "benchmark.md").read_text().splitlines()
        if line.startswith("| `")
    }
    assert "default: the convention's preset plus the thermal-fidelity metrics" in rows["`--metrics`"]
    assert "default `auto`" in rows["`--weights FILE`, `--device`"]


def test_readme_evaluate_example_uses_the_real_test_layout() -> None:
    readme = (ROOT / "README.md").read_text()
    line = next(x for x in readme.splitlines() if x.startswith("wavecross evaluate"))
    folders = re.findall(r"--(?:ir|vis) (\S+)", line)
    assert len(folders) == 2
    if not SHARED.is_dir():
        pytest.skip("../shared/data is absent")
    for folder in folders:
        assert (ROOT / folder).is_dir(), folder  # the example runs from the repository root


def test_fuse_refuses_an_image_name_for_a_folder_output(
    tmp_path: Path, pair_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fused.jpg"
    argv = ["fuse", "--ir", str(pair_folder / "ir"), "--vis", str(pair_folder / "vi"), "-o", str(out)]
    assert main([*argv, "--method", "mean"]) == 2
    err = capsys.readouterr().err
    assert f"-o {out}: folder input writes a folder of images" in err and f"{tmp_path / 'fused'}/" in err
    assert not out.exists()


# --- progress ------------------------------------------------------------------------------------------------


def test_progress_in_a_log_is_lines_not_carriage_returns(capsys: pytest.CaptureFixture[str]) -> None:
    from wavecross.progress import progress_bar

    assert list(progress_bar(range(100), desc="work", unit="pair")) == list(range(100))
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert len(lines) == 10  # nine tenths, then the final count
    assert lines[0].startswith("work: 10/100 pairs (10%), ") and lines[-1].startswith("work: 100/100 pairs (100%)")
    with progress_bar(total=3, desc="steps", unit="step") as bar:
        for _ in range(3):
            bar.update(1)
    assert capsys.readouterr().err.splitlines()[-1].startswith("steps: 3/3 steps (100%)")
    assert list(progress_bar(range(5), enabled=False)) == list(range(5))
    assert capsys.readouterr().err == ""


def test_progress_lines_come_at_least_every_few_seconds(capsys, monkeypatch) -> None:
    import wavecross.progress

    clock = iter(range(0, 1000, 20))  # every item takes 20 s
    monkeypatch.setattr(wavecross.progress.time, "monotonic", lambda: next(clock))
    for _ in wavecross.progress.progress_bar(iter(range(4)), desc="slow"):  # no length: no tenths to go by
        pass
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == ["slow: 2 items", "slow: 4 items"]  # the last said once


def test_fuse_logs_progress_lines_and_no_progress_silences_them(
    tmp_path: Path, pair_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["fuse", "--ir", str(pair_folder / "ir"), "--vis", str(pair_folder / "vi"), "--method", "mean"]
    assert main([*argv, "-o", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "fusing: 3/3 pairs (100%)" in err
    assert main([*argv, "-o", str(tmp_path / "b"), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
