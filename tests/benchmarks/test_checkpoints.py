"""`--checkpoint-every N`: a cell killed with SIGKILL mid-training resumes from its last checkpoint, and
its result equals an uninterrupted run's bit for bit (but timestamps and wall times)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import EXPERIMENTS, AgentSpec, Experiment
from benchmarks.runner import run_experiment
from tests.benchmarks.quick_results import one_torch_thread

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"tasks_per_iteration": 2, "episodes_per_task": 2, "hidden_sizes": [8]}
KILLED = Experiment(
    name="checkpoint-test", description="short MAML and SG-MRL runs on Navigation2D", env_id="MetaRL/Navigation2D-v0",
    env_kwargs={"preset": "maml"},
    agents=(AgentSpec("MAML", "baselines.maml:MAML", {**SMALL, "cg_iterations": 2}),
            AgentSpec("SG-MRL", "baselines.sgmrl:SGMRL", {**SMALL, "inner_steps": 2})),
    iterations=8, seeds=1, protocol=MetaTestProtocol(adaptation_steps=1, evaluation_episodes=2, adaptation_episodes=2),
    max_test_tasks=2)
VOLATILE = ("started", "finished", "wall_time", "checksum")

SCRIPT = """
import sys, torch
torch.set_num_threads(1)
from benchmarks.runner import run_experiment
from tests.benchmarks.test_checkpoints import KILLED
run_experiment(KILLED.only([sys.argv[1]]), sys.argv[2], checkpoint_every=int(sys.argv[3]), progress=None)
"""


def _launch(label: str, out: Path, every: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, label, str(out), str(every)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _numbers(path: Path) -> dict[str, Any]:
    """A results document without what differs between two runs of one cell (timestamps, wall times)."""
    document = json.loads(path.read_text())
    for key in VOLATILE:
        document.pop(key)
    for row in document["training_curve"]:
        row.pop("wall_time")
    return document


@pytest.mark.parametrize("label", ["MAML", "SG-MRL"])
def test_a_cell_killed_with_sigkill_resumes_from_its_checkpoint_bit_for_bit(label: str, tmp_path: Path) -> None:
    killed = _launch(label, tmp_path / "killed", 2)
    cell_file = tmp_path / "killed" / "checkpoint-test" / f"{label}__Navigation2D-v0__maml__seed0.json"
    checkpoint = cell_file.with_name(cell_file.name + ".ckpt")
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert checkpoint.exists(), f"no checkpoint appeared: {killed.communicate()[1][-2000:]}"
    os.kill(killed.pid, signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    assert checkpoint.exists() and not cell_file.exists(), "the cell must be killed mid-training"
    resumed = _launch(label, tmp_path / "killed", 2)
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr[-3000:]
    assert f"{label} seed 0: resuming from its checkpoint {checkpoint.name} after iteration" in stderr
    after = int(stderr.split("after iteration ")[1].split()[0])
    assert after in (2, 4, 6, 8)
    with one_torch_thread():  # the uninterrupted run, in this process with the subprocesses' one thread
        run_experiment(KILLED.only([label]), tmp_path / "uninterrupted", progress=None)
    expected = _numbers(tmp_path / "uninterrupted" / "checkpoint-test" / cell_file.name)
    assert _numbers(cell_file) == expected
    assert not checkpoint.exists(), "the checkpoint is removed once the cell finishes"
    assert sorted(p.name for p in cell_file.parent.iterdir()) == sorted(
        [cell_file.name, expected["parameters"].removeprefix("sha256:") + ".pt"])


def _interrupted_then_resumed(experiment: Experiment, out: Path, stop_after: int,
                              monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Run with a checkpoint every iteration, stopped (an exception) right after checkpoint `stop_after`,
    then again to the end."""
    from benchmarks import runner

    saves = []
    save = runner.CellCheckpoint.save

    def stopping(self, state):
        save(self, state)
        saves.append(self.cell.key)
        if len(saves) == stop_after:
            raise KeyboardInterrupt("stopped after a checkpoint")

    with monkeypatch.context() as patch:
        patch.setattr(runner.CellCheckpoint, "save", stopping)
        with pytest.raises(KeyboardInterrupt):
            run_experiment(experiment, out, checkpoint_every=1, progress=None)
    assert list(out.rglob("*.ckpt"))
    return list(run_experiment(experiment, out, checkpoint_every=1, progress=None).ran)


AGENTS = [("bomrl-frozenlake", "BO-MRL (1)"), ("bomrl-frozenlake", "MAML"), ("maml-nav2d", "MAML"),
          ("memrl-gridnav", "MEMRL"), ("memrl-gridnav", "MEMRL (exact gradient)"), ("pmeta-gridworld", "pMeta-RL"),
          ("rl2-nav2d", "RL2"), ("sgmrl-nav2d", "SG-MRL"), ("sgmrl-nav2d", "E-MAML"), ("bomrl-nav2d", "BO-MRL (1)"),
          ("pmeta-cartpole", "pMeta-RL"), ("pmeta-cartpole", "DQN per task"), ("pmeta-cartpole", "DQN pooled"),
          ("pmeta-cartpole", "Model-Averaging"), ("pmeta-cheetah-vel", "pMeta-RL")]
"""every resumable reference agent class and mode, in the quick config of an experiment that runs it (on the
experiment's last setting: bomrl-frozenlake's low-variance one, pmeta-gridworld's pmeta-spread)"""


def test_every_resumable_agent_class_is_tested_for_bit_exact_resume() -> None:
    tested = {EXPERIMENTS[name].agent(label).agent for name, label in AGENTS}
    for experiment in EXPERIMENTS.values():
        for spec in experiment.agents:
            if getattr(spec.agent_class(), "resumable", False):
                assert spec.agent in tested, f"{spec.agent} is resumable but not in AGENTS"


@pytest.mark.parametrize(("name", "label"), AGENTS)
def test_every_reference_agent_resumes_bit_for_bit(name: str, label: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    quick = EXPERIMENTS[name].split()[-1].resolve(True).only([label])
    experiment = dataclasses.replace(quick, iterations=3, seeds=1, max_test_tasks=1)
    with one_torch_thread():
        expected = run_experiment(experiment, tmp_path / "uninterrupted", progress=None).ran
        with caplog.at_level("WARNING", logger="benchmarks.runner"):
            resumed = _interrupted_then_resumed(experiment, tmp_path / "resumed", 2, monkeypatch)
    # resumed, not started again: a checkpoint the agent cannot load is set aside and the cell restarts, which
    # would also end bit for bit equal, so the equality alone cannot show that the state was saved and loaded
    messages = [record.getMessage() for record in caplog.records]
    assert any("resuming from its checkpoint" in m and "after iteration 2" in m for m in messages), messages
    assert not any("unusable" in m for m in messages), messages

    for path in expected:
        assert _numbers(tmp_path / "resumed" / path.relative_to(tmp_path / "uninterrupted")) == _numbers(path)
    assert resumed and not list((tmp_path / "resumed").rglob("*.ckpt"))


def test_a_resumed_cells_wall_time_counts_the_restored_training_time(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The record's wall time is the cell's cost: the training time its checkpoint restored (the curve's
    wall time at the restored iteration) plus what the resumed process spent, so never below its curve's.
    The restored time is inflated here by 1000 s, so that a record counting only the last process fails."""
    from benchmarks import runner
    from benchmarks.results import load_result

    load = runner.CellCheckpoint.load
    restored = []

    def inflated(self):
        training = load(self)
        if training is not None:
            restored.append(self.restored_seconds)
            assert self.restored_seconds == self.seen[-1].wall_time > 0
            self.restored_seconds += 1000.0
        return training

    monkeypatch.setattr(runner.CellCheckpoint, "load", inflated)
    experiment = dataclasses.replace(KILLED.only(["MAML"]), iterations=3)
    with one_torch_thread():
        (path,) = _interrupted_then_resumed(experiment, tmp_path, 2, monkeypatch)
    record = load_result(path)
    assert len(restored) == 1 and record.wall_time > 1000.0 + restored[0]
    assert record.wall_time >= record.training_curve[-1].wall_time


def test_a_corrupt_checkpoint_is_set_aside_and_the_cell_starts_again(tmp_path: Path, caplog) -> None:
    experiment = dataclasses.replace(KILLED.only(["MAML"]), iterations=2)
    with one_torch_thread():
        expected = run_experiment(experiment, tmp_path / "clean", progress=None).ran[0]
        folder = tmp_path / "corrupt" / "checkpoint-test"
        folder.mkdir(parents=True)
        checkpoint = folder / (expected.name + ".ckpt")
        checkpoint.write_bytes(b"PK\x03\x04 not a checkpoint")
        with caplog.at_level("WARNING", logger="benchmarks.runner"):
            ran = run_experiment(experiment, tmp_path / "corrupt", checkpoint_every=1, progress=None).ran
    assert "MAML seed 0: checkpoint " + checkpoint.name + " is unusable" in caplog.text
    assert "the cell starts again" in caplog.text
    assert (folder / (checkpoint.name + ".corrupt")).read_bytes() == b"PK\x03\x04 not a checkpoint"
    assert _numbers(ran[0]) == _numbers(expected) and not checkpoint.exists()


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog) -> None:
    experiment = dataclasses.replace(KILLED.only(["MAML"]), iterations=3)
    with one_torch_thread():
        other = dataclasses.replace(experiment, agents=(dataclasses.replace(
            experiment.agents[0], config={**experiment.agents[0].config, "inner_lr": 0.05}),))
        folder = tmp_path / "b" / "checkpoint-test"
        folder.mkdir(parents=True)
        name = "MAML__Navigation2D-v0__maml__seed0.json.ckpt"
        from benchmarks import runner

        saved = []
        monkeypatch.setattr(runner.CellCheckpoint, "remove", lambda self: saved.append(self.path.read_bytes()))
        run_experiment(experiment, tmp_path / "c", checkpoint_every=3, progress=None)  # leaves its last checkpoint
        (folder / name).write_bytes(saved[0])
        monkeypatch.undo()
        with caplog.at_level("WARNING", logger="benchmarks.runner"):
            run_experiment(other, tmp_path / "b", checkpoint_every=1, progress=None)
    assert "made with other settings than this cell's" in caplog.text
    assert (folder / (name + ".corrupt")).exists()


def test_run_checkpoint_every_reaches_the_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from benchmarks import runner
    from benchmarks.cli import app

    experiment = dataclasses.replace(KILLED.only(["MAML"]), iterations=2)
    monkeypatch.setattr("benchmarks.cli._experiments", lambda: {experiment.name: experiment})
    removed = []
    remove = runner.CellCheckpoint.remove
    monkeypatch.setattr(runner.CellCheckpoint, "remove",
                        lambda self: removed.append((self.path.exists(), self.every)) or remove(self))
    result = CliRunner().invoke(app, ["run", experiment.name, "--checkpoint-every", "1", "--out", str(tmp_path)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert removed == [(True, 1)] and not list(tmp_path.rglob("*.ckpt"))
    result = CliRunner().invoke(app, ["run", experiment.name, "--checkpoint-every", "0", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--checkpoint-every" in result.output
