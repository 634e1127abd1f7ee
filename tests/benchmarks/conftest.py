"""Helpers for the harness tests: real result records built from the stored Navigation2D task sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import metarl_envs
from baselines.common.agent import IterationRecord
from benchmarks import oracles
from benchmarks.evaluate import MetaTestProtocol, MetaTestResult, TaskResult
from benchmarks.oracles import Estimator, OracleCache, TaskEstimate
from benchmarks.results import AgentInfo, EnvInfo, ResultRecord, TaskSetIds, write_result

ENV_ID = "MetaRL/Navigation2D-v0"
PRESET = "maml"
PROTOCOL = MetaTestProtocol(adaptation_steps=2, evaluation_episodes=4, adaptation_episodes=4)


def meta_test_result(seed: int, *, n_tasks: int = 5, offset: float = 0.0, oracle: bool = False,
                     protocol: MetaTestProtocol = PROTOCOL) -> MetaTestResult:
    """Returns that improve with k by a known amount, plus seeded noise."""
    rng = np.random.default_rng(seed)
    test = metarl_envs.task_set(ENV_ID, "test", PRESET)
    tasks = tuple(TaskResult(task=t.to_dict(),
                             returns=tuple(float(-40.0 + 10.0 * k + offset + rng.normal())
                                           for k in range(protocol.adaptation_steps + 1)),
                             optimal_return=-5.0 if oracle else None, env_steps=100 * (i + 1),
                             adaptation_env_steps=tuple(40 * k for k in range(protocol.adaptation_steps + 1)))
                  for i, t in enumerate(test[:n_tasks]))
    return MetaTestResult(ENV_ID, PRESET, test.fingerprint, protocol, seed, tasks)


def document(seed: int, *, label: str = "Random", experiment: str = "unit-test", iterations: int = 3,
             **kwargs: Any) -> ResultRecord:
    train, test = (metarl_envs.task_set(ENV_ID, split, PRESET) for split in ("train", "test"))
    curve = [IterationRecord(i, 200 * (i + 1), 0.01 * (i + 1), -50.0 + i, float("nan")) for i in range(iterations)]
    meta_test = meta_test_result(seed, **kwargs)
    return ResultRecord(
        experiment=experiment, variant="full",
        agent=AgentInfo(label, "tests.benchmarks.agents:RandomAgent", {"tasks_per_iteration": 2}),
        env=EnvInfo(ENV_ID, {"preset": PRESET}, PRESET), task_sets=TaskSetIds(train.fingerprint, test.fingerprint),
        protocol=meta_test.protocol, seed=seed, iterations=iterations, max_test_tasks=5, training_curve=curve,
        meta_test=meta_test, started="2026-01-01T00:00:00+00:00", finished="2026-01-01T00:00:01+00:00",
        wall_time=1.0)


def write_document(folder: Path, seed: int, **kwargs: Any) -> Path:
    record = document(seed, **kwargs)
    return write_result(folder / record.experiment / record.cell.filename(seed), record)


def oracle_cache(values: dict[int, tuple[float, ...]], env_id: str = "MetaRL/HalfCheetahVel-v0",
                 kwargs: dict | None = None, steps: int = 1000) -> OracleCache:
    """A SAC cache of `env_id`'s test tasks `values` (index → evaluation returns), `steps` env steps a task."""
    kwargs = dict({"preset": "maml"} if kwargs is None else kwargs)
    test = metarl_envs.task_set(env_id, "test", kwargs["preset"])
    estimator = Estimator("sac", {"learning_rate": 3e-4}, steps, len(next(iter(values.values()))), 0,
                          {"stable-baselines3": "2.9.2"})
    entries = tuple(TaskEstimate(i, test[i].to_dict(), float(np.mean(r)), r, steps, 1.5)
                    for i, r in sorted(values.items()))
    return OracleCache(env_id, kwargs, test.fingerprint, len(test), 1.0, estimator, entries)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty oracle cache folder in place of the committed one."""
    monkeypatch.setattr(oracles, "ESTIMATES_FOLDER", tmp_path / "estimates")
    return tmp_path / "estimates"


@pytest.fixture
def result_file(tmp_path: Path) -> Path:
    return write_document(tmp_path, seed=0)


@pytest.fixture(scope="session")
def local_ray(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One small local Ray instance for the session's Ray tests (2 CPUs, no dashboard), or None
    without Ray. Its workers see `KILL_AFTER_CHECKPOINT` = a fresh marker path (`ray_kill_marker`)."""
    import importlib.util
    import os

    if importlib.util.find_spec("ray") is None:
        yield None
        return
    import ray

    from benchmarks.runner import KILL_AFTER_CHECKPOINT

    marker = tmp_path_factory.mktemp("ray") / "killed-once"
    root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {KILL_AFTER_CHECKPOINT: str(marker), "PYTHONPATH": path}})
    try:
        yield marker
    finally:
        ray.shutdown()
