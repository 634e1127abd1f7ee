"""Every registered experiment's --quick variant runs end to end through the runner and writes
valid results whose meta-test tables have the protocol's shape and finite numbers, and whose numbers
are the stored ones in tests/data/quick/: bit for bit on the CPU that made them, within a stated
tolerance on another (see `tests.benchmarks.quick_results`)."""

from __future__ import annotations

import json
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
    setting_numbers,
    stored_path,
    text,
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


FOLDED = {
    ("bomrl-frozenlake", "MetaRL/FrozenLakeHoles-v0", "bomrl-high"):
        ("bomrl-frozenlake-high", "f08e9ad90b68b2446bcf2e73a64ced224d413445935afc196884ccfa1dcfafd8"),
    ("bomrl-frozenlake", "MetaRL/FrozenLakeHoles-v0", "bomrl-low"):
        ("bomrl-frozenlake-low", "c1f9253acb69f0f0853cc307d621006c8bf36a08c1012069b2baad43b24113fc"),
    ("pmeta-gridworld", "MetaRL/GridNavigation-v0", "pmeta"):
        ("pmeta-gridworld-corner", "065f2f5c7ed25bfbcc365f2114bc5e6170f700f28323cbcfc89b3379c159fe8c"),
    ("pmeta-gridworld", "MetaRL/GridNavigation-v0", "pmeta-spread"):
        ("pmeta-gridworld", "a4031d255a7a74d062267d7bbf0a5e45dcd5c54de3eac6f9b6abfd65a8ebe08e"),
}
"""(experiment, env id, preset) of each setting of a folded experiment → the single-setting experiment it
replaced and the sha256 of that experiment's stored quick file before the fold (at 73a70db:
`git show 73a70db:tests/data/quick/<old>.json | sha256sum`). A deliberate regeneration of a folded
experiment's numbers drops its rows here, in the commit that says why."""


@pytest.mark.parametrize(("where", "old"), sorted(FOLDED.items()))
def test_a_folded_experiment_keeps_the_numbers_of_the_experiments_it_replaced(where, old) -> None:
    """Folding two single-setting experiments into one with two settings changes no number: each
    setting's cells in the folded experiment's stored file are, byte for byte, the replaced experiment's
    stored file (and `test_quick_variant_runs_and_writes_valid_results` reruns them against it)."""
    import hashlib

    name, env_id, preset = where
    assert name in EXPERIMENTS and EXPERIMENTS[name].setting(env_id, preset) is not None
    assert old[0] not in EXPERIMENTS or old[0] == name
    stored = json.loads(stored_path(name).read_text())
    part = setting_numbers(stored, env_id, preset)
    assert part, f"{stored_path(name).name} holds no cell of {env_id} {preset}"
    assert hashlib.sha256(text(part).encode()).hexdigest() == old[1], (
        f"{name}'s {preset} cells are not {old[0]}'s stored numbers before the fold")


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
