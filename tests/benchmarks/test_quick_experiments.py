"""Every registered experiment's --quick variant runs end to end through the runner and writes
valid results whose meta-test tables have the protocol's shape and finite numbers, and whose numbers
are the stored ones in tests/data/quick/: bit for bit on the CPU that made them, within a stated
tolerance on another (see `tests.benchmarks.quick_results`)."""

from __future__ import annotations

import math

import pytest

from benchmarks.experiments import EXPERIMENTS, AgentSpec
from benchmarks.results import encode_parameters, load_parameters, load_result
from benchmarks.runner import run_experiment
from benchmarks.verify import verify_result
from metarl_envs.task_sets import env_class
from tests.benchmarks.quick_results import (
    compare_with_stored,
    experiment_numbers,
    one_torch_thread,
)


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_quick_variant_runs_and_writes_valid_results(name, tmp_path):
    experiment = EXPERIMENTS[name].resolve(quick=True)
    if env_class(experiment.env_id).__module__.startswith("metarl_envs.mujoco"):
        pytest.importorskip("mujoco")
    with one_torch_thread():
        summary = run_experiment(EXPERIMENTS[name], tmp_path, quick=True)
    assert len(summary.ran) == sum(len(part.agents) for part in experiment.split()) * experiment.seeds
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
        # every reference agent stores its meta-trained parameters, and a rebuilt agent takes them back exactly
        agent = AgentSpec(data.agent.label, data.agent.agent_class, data.agent.config).build(data.env.id,
                                                                                             data.env.kwargs)
        agent.set_parameters(load_parameters(path, data))
        assert encode_parameters(agent.get_parameters())[0] == data.parameters
        check = verify_result(path)  # the meta-test re-run from the stored parameters, bit for bit
        assert check.exact and check.mismatches == (), [m.describe() for m in check.mismatches]
    difference = compare_with_stored(name, experiment_numbers(summary.ran))
    assert difference is None, (f"{difference}; a change meant to change numbers regenerates them "
                                "(python -m tests.benchmarks.quick_results) in a commit that says why")
    again = run_experiment(EXPERIMENTS[name], tmp_path, quick=True)
    assert not again.ran, "a completed sweep must resume without re-running any cell"


def test_the_cross_host_comparison_forgives_last_bits_only():
    from tests.benchmarks.quick_results import CROSS_HOST_RTOL, first_difference

    stored = {"cell": {"returns": [-4.632895539896138, 0.0], "env_steps": 200}}
    ulp = {"cell": {"returns": [-4.632895539896139, 1e-17], "env_steps": 200}}
    assert first_difference(stored, ulp) is not None                         # on the CPU that made them
    assert first_difference(stored, ulp, rel_tol=CROSS_HOST_RTOL) is None     # on another
    moved = {"cell": {"returns": [-4.6 * (1 + 10 * CROSS_HOST_RTOL), 0.0], "env_steps": 200}}
    assert "beyond rel" in first_difference(stored, moved, rel_tol=CROSS_HOST_RTOL)
    steps = {"cell": {"returns": [-4.632895539896138, 0.0], "env_steps": 201}}
    assert first_difference(stored, steps, rel_tol=CROSS_HOST_RTOL) == ".cell.env_steps: stored 200, now 201"
