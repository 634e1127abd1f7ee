"""A real minimal agent for the harness tests: a uniform-random policy that learns nothing.

It implements `baselines.common.agent.Agent` honestly (meta-training only records returns of random
episodes collected through the task set's env; its adaptation rounds change nothing), so the runner, results
and leaderboard can be tested end to end without the reference agents. It lives in the tests only.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

import metarl_envs  # noqa: F401  (registers the ids)
from baselines.common.agent import AgentConfig, IterationRecord, TrainingLog


@dataclasses.dataclass(frozen=True)
class RandomConfig(AgentConfig):
    tasks_per_iteration: int = 2
    """tasks whose one random episode is scored per meta-training iteration"""
    action_scale: float = 1.0
    """actions are uniform on action_scale × the action box"""


class RandomAgent:
    name: ClassVar[str] = "random"
    config_class: ClassVar[type] = RandomConfig
    built: ClassVar[int] = 0
    """how many agents this process constructed (the resume test counts them)"""

    def __init__(self, env_id: str, config: RandomConfig, env_kwargs: Mapping[str, Any] | None = None) -> None:
        type(self).built += 1
        self.env_id, self.config, self.env_kwargs = env_id, config, dict(env_kwargs or {})
        env = gym.make(env_id, **self.env_kwargs)
        self.low, self.high = env.action_space.low * config.action_scale, env.action_space.high * config.action_scale

    def meta_train(self, train_tasks: Sequence[Any], *, iterations: int, seed: int, callback=None) -> TrainingLog:
        rng = np.random.default_rng(seed)
        env = gym.make(self.env_id, **self.env_kwargs)
        log, steps, start = TrainingLog(), 0, time.perf_counter()
        for iteration in range(iterations):
            returns = []
            for index in rng.choice(len(train_tasks), self.config.tasks_per_iteration, replace=False):
                obs, _ = env.reset(seed=int(rng.integers(2**31)), options={"task": train_tasks[int(index)]})
                total, done = 0.0, False
                while not done:
                    obs, reward, terminated, truncated, _ = env.step(self.act(obs[None], None, rng=rng)[0])
                    total, steps, done = total + float(reward), steps + 1, terminated or truncated
                returns.append(total)
            record = IterationRecord(iteration, steps, time.perf_counter() - start, float(np.mean(returns)),
                                     float("nan"))
            log.records.append(record)
            if callback is not None and callback(record):
                break
        return log

    def meta_params(self) -> np.ndarray:
        return np.zeros(0)

    def start_trial(self, num_tasks: int) -> None:
        self.trial_tasks = num_tasks

    def begin_episodes(self, phase: str, rng: np.random.Generator) -> None:
        self.rng = rng

    def actions(self, observations: np.ndarray) -> np.ndarray:
        obs = np.asarray(observations)
        flat = self.act(obs.reshape(-1, *obs.shape[2:]), None, rng=self.rng)
        return flat.reshape(*obs.shape[:2], *flat.shape[1:])

    def observe(self, transition: Any) -> None:
        return None

    def end_round(self, rollouts: Any) -> None:
        return None

    def act(self, obs: np.ndarray, params: Any, *, deterministic: bool = False,
            rng: np.random.Generator | None = None) -> np.ndarray:
        obs = np.asarray(obs)
        if deterministic:
            return np.zeros((obs.shape[0], *self.low.shape), dtype=np.float32)
        rng = np.random.default_rng() if rng is None else rng
        return rng.uniform(self.low, self.high, size=(obs.shape[0], *self.low.shape)).astype(np.float32)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"env_id": self.env_id, "config": self.config.to_dict(),
                                          "env_kwargs": self.env_kwargs}))

    @classmethod
    def load(cls, path: str | Path) -> RandomAgent:
        data = json.loads(Path(path).read_text())
        return cls(data["env_id"], RandomConfig.from_dict(data["config"]), data["env_kwargs"])
