from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.experiments import EXPERIMENTS
from tests.benchmarks.conftest import write_document

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_list_names_every_experiment() -> None:
    result = runner.invoke(app, ["list"], env=WIDE)
    assert result.exit_code == 0, result.output
    for name, experiment in EXPERIMENTS.items():
        assert name in result.output and experiment.env_id in result.output


def test_report_renders_valid_files_and_exits_zero(tmp_path: Path) -> None:
    for seed in range(2):
        write_document(tmp_path / "results", seed)
    result = runner.invoke(app, ["report", str(tmp_path / "results"), "--out", str(tmp_path / "site")], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "1 cell(s) rendered, 0 file(s) refused" in result.output
    assert (tmp_path / "site" / "leaderboard.html").exists() and (tmp_path / "site" / "leaderboard.md").exists()
    rows = [line for line in result.output.splitlines() if line.lstrip("│┃ ").startswith("Random")]
    assert len(rows) == 3


def test_report_names_a_bad_file_and_exits_nonzero(tmp_path: Path) -> None:
    write_document(tmp_path, 0)
    bad = write_document(tmp_path, 1)
    data = json.loads(bad.read_text())
    data["seed"] = 5
    bad.write_text(json.dumps(data))
    result = runner.invoke(app, ["report", str(tmp_path)], env=WIDE)
    assert result.exit_code == 1
    assert "refused" in result.output and bad.name in result.output
    assert "1 cell(s) rendered, 1 file(s) refused" in result.output
    assert (tmp_path / "leaderboard" / "leaderboard.md").exists()


def test_run_rejects_an_unknown_experiment() -> None:
    result = runner.invoke(app, ["run", "no-such-experiment"], env=WIDE)
    assert result.exit_code == 2 and "unknown experiment 'no-such-experiment'" in result.output
