"""Every result of an agent with `get_parameters()` stores the meta-trained parameters beside it, as a
file named by its sha256; outside agents without it store none."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
import torch

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment
from benchmarks.results import (
    ResultError,
    checksum,
    encode_parameters,
    load_parameters,
    load_result,
    parameters_path,
    write_parameters,
    write_result,
)
from benchmarks.runner import run_experiment
from tests.benchmarks.agents import RandomAgent
from tests.benchmarks.conftest import document
from tests.benchmarks.quick_results import one_torch_thread

TINY = Experiment(
    name="parameters-test", description="tiny MAML and RL² cells on Navigation2D", env_id="MetaRL/Navigation2D-v0",
    env_kwargs={"preset": "maml"},
    agents=(AgentSpec("MAML", "baselines.maml:MAML", {"tasks_per_iteration": 2, "episodes_per_task": 2,
                                                      "hidden_sizes": [8], "cg_iterations": 2}),
            AgentSpec("RL2", "baselines.rl2:RL2", {"hidden_size": 8, "tasks_per_iteration": 2, "trials_per_task": 2,
                                                   "episodes_per_trial": 2, "ppo_epochs": 1})),
    iterations=1, seeds=1, protocol=MetaTestProtocol(adaptation_steps=1, evaluation_episodes=2, adaptation_episodes=2),
    max_test_tasks=2)


def _rebuilt(record):
    return AgentSpec(record.agent.label, record.agent.agent_class, record.agent.config).build(record.env.id,
                                                                                           record.env.kwargs)


def test_reference_agents_store_their_meta_trained_parameters_beside_the_result(tmp_path: Path) -> None:
    with one_torch_thread():
        summary = run_experiment(TINY, tmp_path, progress=None)
    stored = sorted((tmp_path / "parameters-test").glob("*.pt"))
    assert len(summary.ran) == 2 and len(stored) == 2
    for path in summary.ran:
        record = load_result(path)
        file = parameters_path(path, record.parameters)
        assert file in stored and file.name == hashlib.sha256(file.read_bytes()).hexdigest() + ".pt"
        assert record.parameters == "sha256:" + file.stem
        state = torch.load(file, weights_only=True)
        agent = _rebuilt(record)
        before = encode_parameters(agent.get_parameters())[0]
        agent.set_parameters(load_parameters(path, record))  # the round trip restores exactly what was stored
        assert encode_parameters(agent.get_parameters())[0] == record.parameters != before
        assert write_parameters(tmp_path / "again", state) == record.parameters  # same content, same name
        assert write_parameters(tmp_path / "again", state) == record.parameters
    assert len(list((tmp_path / "again").iterdir())) == 2


def test_an_agent_without_get_parameters_stores_none(tmp_path: Path) -> None:
    experiment = dataclasses.replace(TINY, agents=(AgentSpec("Random", "tests.benchmarks.agents:RandomAgent", {}),))
    summary = run_experiment(experiment, tmp_path, progress=None)
    record = load_result(summary.ran[0])
    assert record.parameters is None and not list(summary.ran[0].parent.glob("*.pt"))
    assert json.loads(summary.ran[0].read_text())["parameters"] is None
    with pytest.raises(ResultError, match="parameters is null"):
        load_parameters(summary.ran[0], record)


class _Mutating(RandomAgent):
    """Changes its "parameters" during meta-test: stored parameters would not reproduce the result."""

    def get_parameters(self) -> dict:
        return {"trials": torch.tensor(getattr(self, "trials", 0))}

    def start_trial(self, num_tasks: int) -> None:
        super().start_trial(num_tasks)
        self.trials = getattr(self, "trials", 0) + 1


def test_a_meta_test_that_changes_the_parameters_is_refused(tmp_path: Path) -> None:
    experiment = dataclasses.replace(TINY, agents=(AgentSpec("Mutating", f"{__name__}:_Mutating", {}),))
    with pytest.raises(RuntimeError, match="meta_test changed the agent's parameters"):
        run_experiment(experiment, tmp_path, progress=None)


def test_the_parameters_field_is_validated_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="field parameters = 'md5:"):
        dataclasses.replace(document(0), parameters="md5:" + "0" * 32)
    record = dataclasses.replace(document(0), parameters="sha256:" + "a" * 64)
    path = tmp_path / "unit-test" / record.cell.filename(0)
    write_result(path, record)
    data = json.loads(path.read_text())
    data["parameters"] = "sha256:" + "A" * 64  # upper-case hex: not a name the runner writes
    data["checksum"] = checksum(data)
    path.write_text(json.dumps(data))
    with pytest.raises(ResultError, match="field parameters"):
        load_result(path)


def test_a_missing_or_tampered_parameters_file_is_refused(tmp_path: Path) -> None:
    state = {"policy": {"w": torch.arange(6.0).reshape(2, 3)}}
    digest = write_parameters(tmp_path, state)
    record = dataclasses.replace(document(0), parameters=digest)
    result = tmp_path / "result.json"
    assert torch.equal(load_parameters(result, record)["policy"]["w"], state["policy"]["w"])
    file = parameters_path(result, digest)
    data = bytearray(file.read_bytes())
    data[-30] ^= 1
    file.write_bytes(bytes(data))
    with pytest.raises(ResultError, match="sha256 is sha256:.* not " + digest):
        load_parameters(result, record)
    file.unlink()
    with pytest.raises(ResultError, match=f"parameters file {file.name} is missing"):
        load_parameters(result, record)
