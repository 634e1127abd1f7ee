from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment, Target
from benchmarks.results import load_result
from benchmarks.runner import SettingsConflict, plan, run_experiment
from tests.benchmarks.agents import RandomAgent

EXPERIMENT = Experiment(
    name="runner-test", description="random agents on Navigation2D", env_id="MetaRL/Navigation2D-v0",
    env_kwargs={"preset": "maml"},
    agents=(AgentSpec("Random", "tests.benchmarks.agents:RandomAgent", {"tasks_per_iteration": 2}),
            AgentSpec("Timid", "tests.benchmarks.agents:RandomAgent", {"action_scale": 0.1})),
    iterations=3, seeds=2, protocol=MetaTestProtocol(adaptation_steps=1, evaluation_episodes=2, adaptation_episodes=2),
    targets=(Target("made up", "Random", 1, -40.0),), max_test_tasks=3,
    quick={"iterations": 1, "seeds": 1, "max_test_tasks": 2})


def test_run_writes_one_valid_file_per_cell(tmp_path: Path) -> None:
    events = []
    summary = run_experiment(EXPERIMENT, tmp_path, progress=events.append)
    assert len(summary.ran) == 4 and summary.skipped == ()
    names = sorted(p.name for p in (tmp_path / "runner-test").glob("*.json"))
    assert names == [f"{label}__Navigation2D-v0__maml__seed{s}.json" for label in ("Random", "Timid") for s in (0, 1)]
    data = load_result(tmp_path / "runner-test" / names[0])
    assert (data.agent.label, data.seed, data.iterations) == ("Random", 0, 3)
    assert data.agent.config == {"tasks_per_iteration": 2, "action_scale": 1.0}
    assert len(data.training_curve) == 3 and len(data.meta_test.tasks) == 3
    assert all(len(task.returns) == 2 for task in data.meta_test.tasks)
    assert ("Random seed 0", "train", 3, 3) in events and ("Timid seed 1", "test", 2, 2) in events  # k = 0, 1 scored


def test_resume_skips_complete_cells_and_reruns_missing_or_corrupt_ones(tmp_path: Path) -> None:
    RandomAgent.built = 0
    first = run_experiment(EXPERIMENT, tmp_path)
    assert RandomAgent.built == 4
    stamps = {p: p.stat().st_mtime_ns for p in first.ran}
    again = run_experiment(EXPERIMENT, tmp_path)
    assert RandomAgent.built == 4 and again.ran == () and len(again.skipped) == 4
    assert {p: p.stat().st_mtime_ns for p in first.ran} == stamps
    missing, corrupt = first.ran[1], first.ran[2]
    missing.unlink()
    corrupt.write_text(corrupt.read_text()[:100])  # e.g. a copy cut short
    third = run_experiment(EXPERIMENT, tmp_path)
    assert RandomAgent.built == 6 and set(third.ran) == {missing, corrupt}
    for path in (missing, corrupt):
        assert load_result(path).seed == int(path.stem[-1])


def test_a_valid_file_with_other_settings_is_not_overwritten(tmp_path: Path) -> None:
    run_experiment(EXPERIMENT, tmp_path, seeds=1)
    changed = Experiment(**{**EXPERIMENT.__dict__, "iterations": 4})
    with pytest.raises(SettingsConflict, match="iterations"):
        run_experiment(changed, tmp_path, seeds=1)


def test_quick_results_are_kept_apart_from_full_ones(tmp_path: Path) -> None:
    cells = plan(EXPERIMENT, tmp_path, quick=True)
    assert [(c.spec.label, c.seed, c.experiment.iterations) for c in cells] == [("Random", 0, 1), ("Timid", 0, 1)]
    assert all(c.path.name.endswith("__quick.json") for c in cells)
    run_experiment(EXPERIMENT, tmp_path, quick=True)
    data = json.loads(cells[0].path.read_text())
    assert data["variant"] == "quick" and len(data["meta_test"]["tasks"]) == 2


def test_a_shortened_run_is_its_own_variant(tmp_path: Path) -> None:
    run_experiment(EXPERIMENT, tmp_path, seeds=1)
    summary = run_experiment(EXPERIMENT, tmp_path, seeds=1, iterations=2)  # no SettingsConflict with the full run
    assert len(summary.ran) == 2 and not summary.skipped
    data = load_result(summary.ran[0])
    assert data.variant == "iters2" and data.iterations == 2 and len(data.training_curve) == 2
    assert summary.ran[0].name.endswith("__seed0__iters2.json")
    assert run_experiment(EXPERIMENT, tmp_path, seeds=1, iterations=2).skipped == summary.ran
    with pytest.raises(ValueError, match="iterations"):
        plan(EXPERIMENT, tmp_path, quick=True, iterations=2)


def test_process_pool_gives_the_same_results_as_in_process(tmp_path: Path) -> None:
    run_experiment(EXPERIMENT, tmp_path / "serial", seeds=1)
    events = []
    pooled = run_experiment(EXPERIMENT, tmp_path / "pool", seeds=1, workers=2, progress=events.append)
    assert len(pooled.ran) == 2
    for path in pooled.ran:
        serial = load_result(tmp_path / "serial" / "runner-test" / path.name)
        assert load_result(path).meta_test == serial.meta_test
    assert {e[0] for e in events if e[1] == "done"} == {"Random seed 0", "Timid seed 0"}


def test_ray_backend_runs_cells_or_says_how_to_install_it(tmp_path: Path, local_ray) -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match=r'pip install "metarl-envs\[ray\]"'):
            run_experiment(EXPERIMENT, tmp_path, seeds=1, backend="ray")
        assert not (tmp_path / "runner-test").exists()
    else:
        summary = run_experiment(EXPERIMENT, tmp_path, seeds=1, backend="ray")
        assert len(summary.ran) == 2 and all(load_result(p).seed == 0 for p in summary.ran)


def test_bad_arguments_fail_naming_them(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="backend='slurm'"):
        run_experiment(EXPERIMENT, tmp_path, backend="slurm")
    with pytest.raises(ValueError, match="workers=0"):
        run_experiment(EXPERIMENT, tmp_path, workers=0)


def test_results_record_the_commit_the_sweep_started_from(tmp_path: Path, monkeypatch) -> None:
    # a commit made while a long sweep runs must not be written into the cells that finish after it
    import subprocess

    from benchmarks import results

    heads = iter(["a" * 40, "b" * 40, "c" * 40])

    def fake_git(*args, **kwargs):
        return subprocess.CompletedProcess(args, 0, stdout=next(heads) + "\n", stderr="")

    results.git_commit.cache_clear()
    monkeypatch.setattr(results.subprocess, "run", fake_git)
    try:
        run_experiment(EXPERIMENT.only(["Random"]), tmp_path)
        commits = {load_result(p).git_commit for p in (tmp_path / "runner-test").glob("*.json")}
    finally:
        results.git_commit.cache_clear()
    assert commits == {"a" * 40}
