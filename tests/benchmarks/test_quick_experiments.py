"""Every registered experiment's --quick variant runs end to end through the runner and writes
valid results whose meta-test tables have the protocol's shape and finite numbers, and whose numbers
are the stored ones in tests/data/quick/: bit for bit on a CPU that made a set of them, in structure
and strings on another (see `tests.benchmarks.quick_results`)."""

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


def test_on_a_cpu_without_its_own_numbers_only_structure_and_strings_are_compared():
    from tests.benchmarks.quick_results import first_difference

    stored = {"cell": {"returns": [-4.632895539896138, 0.0], "env_steps": 200, "label": "MAML", "gap": 1.5}}
    ulp = {"cell": {"returns": [-4.632895539896139, 0.0], "env_steps": 200, "label": "MAML", "gap": 1.5}}
    assert first_difference(stored, ulp) is not None                          # on a CPU that made a set
    branched = {"cell": {"returns": [-9.1, 3.0], "env_steps": 217, "label": "MAML", "gap": None}}
    assert first_difference(stored, branched, numbers=False) is None          # on any other
    renamed = {"cell": {**branched["cell"], "label": "E-MAML"}}
    assert first_difference(stored, renamed, numbers=False) == ".cell.label: stored 'MAML', now 'E-MAML'"
    shorter = {"cell": {**branched["cell"], "returns": [-9.1]}}
    assert first_difference(stored, shorter, numbers=False) == ".cell.returns (length 2 stored, 1 now)"


def test_every_stored_host_folder_names_its_cpu_and_holds_every_experiment():
    from tests.benchmarks.quick_results import host_folder, stored_hosts, stored_path

    hosts = stored_hosts()
    assert hosts, "tests/data/quick/ holds no host folder"
    for identity, folder in hosts.items():
        assert folder == host_folder(identity)
        assert sorted(p.stem for p in folder.glob("*.json") if p.name != "host.json") == sorted(EXPERIMENTS)
        assert all(stored_path(name, folder).is_file() for name in EXPERIMENTS)
