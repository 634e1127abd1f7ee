"""Outside agents from the CLI (`--add-agent LABEL=SPEC [--agent-config JSON]`), experiment files
outside the package, and progress from the Python API."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.experiments import EXPERIMENTS, AgentSpec
from benchmarks.results import load_result
from benchmarks.runner import run_experiment
from tests.benchmarks.test_cli import _table
from tests.benchmarks.test_runner import EXPERIMENT

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
NO_ADAPT = f"NoAdapt={EXAMPLES / 'no_adapt.py'}:NoAdapt"
FINE_TUNE = f"FineTune={EXAMPLES / 'fine_tune.py'}:FineTune"


def rows(output: str, label: str) -> list[list[str]]:
    return _table(output, (label,))


def test_the_examples_run_beside_maml_in_one_table(tmp_path: Path) -> None:
    args = ["run", "maml-nav2d", "--quick", "--out", str(tmp_path), "--add-agent", NO_ADAPT,
            "--add-agent", FINE_TUNE, "--agent-config", "{}", "--agent-config", '{"adapt_learning_rate": 3e-5}']
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()).count("maml-nav2d (quick: a smoke test, not a result): meta-test") == 1
    header = next(line for line in result.output.splitlines() if "agent" in line and "R_k" in line)
    assert header.split("│")[-1].strip() == "steps"  # the adaptation env steps (quick: no paper column)
    table = {label: rows(result.output, label) for label in ("MAML", "NoAdapt", "FineTune")}
    for label, lines in table.items():
        assert [line[1] for line in lines] == ["0", "1"], label
        assert lines[0][-1] == "0" and int(lines[1][-1]) > 0, f"{label}: adaptation env steps before R_0, R_1"
    assert table["NoAdapt"][1][-1] == table["MAML"][1][-1]  # the same budget: 2 episodes per task per round
    stored = {load_result(p).agent.label: load_result(p) for p in (tmp_path / "maml-nav2d").glob("*.json")}
    assert set(stored) == {"MAML", "NoAdapt", "FineTune"}
    assert stored["FineTune"].agent.config["adapt_learning_rate"] == 3e-5
    # --quick's shared config (tasks_per_iteration 2, cg_iterations, ...) is MAML's, not the outside agents'
    assert stored["NoAdapt"].agent.config["tasks_per_iteration"] == 10
    assert stored["NoAdapt"].protocol == stored["MAML"].protocol


def test_an_unimportable_spec_fails_before_any_cell_runs(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_module_anywhere\n")
    for spec, message in ((f"X={tmp_path / 'missing.py'}:X", "no such file"),
                          (f"X={broken}:X", "No module named 'not_a_module_anywhere'"),
                          ("X=not_a_package.agents:X", "cannot import 'not_a_package.agents'"),
                          (f"X={EXAMPLES / 'no_adapt.py'}:Missing", "has no 'Missing'"),
                          ("X-without-class", "LABEL=package.module:Class")):
        result = runner.invoke(app, ["run", "maml-nav2d", "--quick", "--out", str(tmp_path / "out"),
                                     "--add-agent", spec], env=WIDE)
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split()), (spec, result.output)
        assert not (tmp_path / "out").exists(), "no cell may run"


def test_an_unknown_config_key_fails_by_name_before_any_cell_runs(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "maml-nav2d", "--quick", "--out", str(tmp_path), "--add-agent", NO_ADAPT,
                                 "--agent-config", '{"tasks_per_iterations": 3}'], env=WIDE)
    assert result.exit_code == 2, result.output
    assert "unknown key 'tasks_per_iterations'" in " ".join(result.output.split())
    assert not any(tmp_path.rglob("*.json")), "MAML's cell must not have run first"
    extra = runner.invoke(app, ["run", "maml-nav2d", "--add-agent", NO_ADAPT, "--agent-config", "{}",
                                "--agent-config", "{}"], env=WIDE)
    assert extra.exit_code == 2 and "--agent-config" in extra.output


def test_quick_overrides_reach_an_outside_agent_only_by_label() -> None:
    outside = AgentSpec("Mine", "tests.benchmarks.agents:RandomAgent", {"action_scale": 0.3})
    experiment = EXPERIMENTS["maml-nav2d"].with_agents([outside])
    assert experiment.resolve(quick=True).agent("Mine").config == {"action_scale": 0.3}
    assert experiment.resolve(quick=True).agent("MAML").config["tasks_per_iteration"] == 2
    import dataclasses
    asked = dataclasses.replace(experiment, quick={**experiment.quick, "agent_config": {"Mine": {"action_scale": 0.9}}})
    assert asked.resolve(quick=True).agent("Mine").config == {"action_scale": 0.9}


def test_an_experiment_file_outside_the_package_runs(tmp_path: Path) -> None:
    file = tmp_path / "my_experiment.py"
    file.write_text(
        "from benchmarks.evaluate import MetaTestProtocol\n"
        "from benchmarks.experiments import AgentSpec, Experiment\n"
        "EXPERIMENT = Experiment(name='mine', description='mine', env_id='MetaRL/Navigation2D-v0',\n"
        "    env_kwargs={'preset': 'maml'}, iterations=1, seeds=1, max_test_tasks=2,\n"
        "    agents=(AgentSpec('Random', 'tests.benchmarks.agents:RandomAgent', {}),),\n"
        "    protocol=MetaTestProtocol(adaptation_steps=1, evaluation_episodes=2, adaptation_episodes=2))\n")
    result = runner.invoke(app, ["run", str(file), "--out", str(tmp_path / "out")], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "mine: meta-test return" in result.output and len(rows(result.output, "Random")) == 2
    assert len(list((tmp_path / "out" / "mine").glob("*.json"))) == 1
    bad = tmp_path / "no_experiment.py"
    bad.write_text("X = 1\n")
    result = runner.invoke(app, ["run", str(bad)], env=WIDE)
    assert result.exit_code == 2 and "EXPERIMENT" in result.output


def test_run_experiment_shows_progress_by_default(tmp_path: Path, capsys) -> None:
    run_experiment(EXPERIMENT.only(["Random"]), tmp_path, seeds=1)
    shown = capsys.readouterr().err
    assert "Random seed 0" in shown and "done" in shown
    run_experiment(EXPERIMENT.only(["Random"]), tmp_path / "quiet", seeds=1, progress=None)
    assert capsys.readouterr().err == ""


def test_results_files_carry_the_budget_and_the_harness_counted_steps(tmp_path: Path) -> None:
    summary = run_experiment(EXPERIMENT.only(["Random"]), tmp_path, seeds=1, progress=None)
    document = json.loads(summary.ran[0].read_text())
    assert document["protocol"]["adaptation_episodes"] == 2 and document["protocol"]["adaptation_steps"] == 1
    task = document["meta_test"]["tasks"][0]
    assert task["adaptation_env_steps"][0] == 0 and task["adaptation_env_steps"][1] == 2 * 100
