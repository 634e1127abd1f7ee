"""Every registered experiment's --quick variant runs end to end through the runner and writes
valid results whose meta-test tables have the protocol's shape and finite numbers."""

from __future__ import annotations

import math

import pytest

from benchmarks.experiments import EXPERIMENTS
from benchmarks.results import load_result
from benchmarks.runner import run_experiment
from metarl_envs.task_sets import env_class


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_quick_variant_runs_and_writes_valid_results(name, tmp_path):
    experiment = EXPERIMENTS[name].resolve(quick=True)
    if env_class(experiment.env_id).__module__.startswith("metarl_envs.mujoco"):
        pytest.importorskip("mujoco")
    summary = run_experiment(EXPERIMENTS[name], tmp_path, quick=True)
    assert len(summary.ran) == len(experiment.agents) * experiment.seeds
    for path in summary.ran:
        data = load_result(path)
        tasks = data.meta_test.tasks
        assert len(tasks) > 0
        if experiment.max_test_tasks is not None:
            assert len(tasks) <= experiment.max_test_tasks
        for task in tasks:
            assert len(task.returns) == experiment.protocol.adaptation_steps + 1
            assert all(math.isfinite(r) for r in task.returns)
        curve = data.training_curve
        # an agent without meta-training (BO-MRL's "random initialisation" baseline) logs no iterations
        assert len(curve) in (0, experiment.iterations)
        assert all(math.isfinite(record.pre_adaptation_return) for record in curve)
    again = run_experiment(EXPERIMENTS[name], tmp_path, quick=True)
    assert not again.ran, "a completed sweep must resume without re-running any cell"
