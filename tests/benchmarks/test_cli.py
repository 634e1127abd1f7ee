from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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
        assert name in result.output and experiment.env_id.split("/")[-1].removesuffix("-v0") in result.output


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


def _table(output: str, agents: tuple[str, ...]) -> list[list[str]]:
    """The data rows of the printed rich table, split into cells."""
    rows = []
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│┃").split("│")]
        if cells and cells[0] in agents:
            rows.append(cells)
    return rows


def test_run_quick_prints_a_finite_table_next_to_the_targets(tmp_path: Path, monkeypatch) -> None:
    from tests.benchmarks.test_runner import EXPERIMENT

    monkeypatch.setattr("benchmarks.cli._experiments", lambda: {EXPERIMENT.name: EXPERIMENT})
    args = ["run", EXPERIMENT.name, "--quick", "--seeds", "2", "--out", str(tmp_path)]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    rows = _table(result.output, ("Random", "Timid"))
    assert [(r[0], r[1], r[2]) for r in rows] == [(a, str(k), "2") for a in ("Random", "Timid") for k in (0, 1)]
    for row in rows:
        mean, iqm, low, high = float(row[3]), float(row[4]), *map(float, row[5].strip("[]").split(","))
        assert all(np.isfinite([mean, iqm, low, high])) and low <= mean <= high and mean < 0
    assert rows[1][-1] == "200" and len(rows[1]) == 8  # 2 episodes × 100 steps; no paper column
    assert float(rows[1][6]) > 0  # Navigation2D's analytic gap J* − R_k
    assert "made up" not in result.output and "smoke test, not a result" in result.output  # quick: never vs the paper
    assert "ran 4 cell(s), skipped 0" in result.output
    again = runner.invoke(app, args, env=WIDE)
    assert "ran 0 cell(s), skipped 4" in again.output and _table(again.output, ("Random", "Timid")) == rows


def test_run_one_agent_for_fewer_iterations(tmp_path: Path, monkeypatch) -> None:
    from tests.benchmarks.test_runner import EXPERIMENT

    monkeypatch.setattr("benchmarks.cli._experiments", lambda: {EXPERIMENT.name: EXPERIMENT})
    args = ["run", EXPERIMENT.name, "--agent", "Timid", "--iterations", "1", "--seeds", "1", "--out", str(tmp_path)]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    assert "(1 iteration)" in result.output and "ran 1 cell(s)" in result.output
    written = [p.name for p in (tmp_path / EXPERIMENT.name).iterdir()]
    assert written == ["Timid__Navigation2D-v0__maml__seed0__iters1.json"]
    bad = runner.invoke(app, ["run", EXPERIMENT.name, "--agent", "Nobody", "--out", str(tmp_path)], env=WIDE)
    assert bad.exit_code == 2 and "Nobody" in bad.output
    both = runner.invoke(app, ["run", EXPERIMENT.name, "--quick", "--iterations", "1", "--out", str(tmp_path)],
                         env=WIDE)
    assert both.exit_code == 2 and "--iterations" in both.output


def test_run_with_ray_backend_without_ray_says_how_to_install(tmp_path: Path, monkeypatch, local_ray) -> None:
    import importlib.util

    from tests.benchmarks.test_runner import EXPERIMENT

    monkeypatch.setattr("benchmarks.cli._experiments", lambda: {EXPERIMENT.name: EXPERIMENT})
    result = runner.invoke(app, ["run", EXPERIMENT.name, "--quick", "--backend", "ray", "--out", str(tmp_path)],
                           env=WIDE)
    if importlib.util.find_spec("ray") is None:
        assert result.exit_code == 2 and 'metarl-envs[ray]' in result.output
    else:
        assert result.exit_code == 0, result.output


def test_run_quick_of_the_readme_experiment(tmp_path: Path) -> None:
    experiment = EXPERIMENTS["maml-nav2d"].resolve(quick=True)
    result = runner.invoke(app, ["run", "maml-nav2d", "--quick", "--out", str(tmp_path)], env=WIDE)
    assert result.exit_code == 0, result.output
    labels = tuple(spec.label for spec in experiment.agents)
    rows = _table(result.output, labels)
    steps = experiment.protocol.adaptation_steps + 1
    assert [(r[0], r[1]) for r in rows] == [(a, str(k)) for a in labels for k in range(steps)]
    for row in rows:
        assert np.isfinite(float(row[3])) and np.isfinite(float(row[4])) and row[2] == str(experiment.seeds)
    assert len(list((tmp_path / "maml-nav2d").glob("*__quick.json"))) == len(labels) * experiment.seeds
