"""A no-adaptation baseline, written from scratch against metarl-bench's agent interface.

One linear Gaussian policy, a ~ N(W·[obs, 1], σ²), is trained by REINFORCE on episodes of the train
tasks pooled together, and used unchanged on every test task: its R_k is the same for every k. It
imports nothing from `baselines/`: numpy and gymnasium are all it needs (the harness steps the
envs, in meta-training as in meta-test). Run it beside MAML:

    metarl-bench run maml-nav2d --quick --add-agent "NoAdapt=docs/examples/no_adapt.py:NoAdapt"

See docs/your-agent.md for the interface, call by call.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
import numpy as np


@dataclasses.dataclass(frozen=True)
class NoAdaptConfig:
    std: float = 0.05
    """σ of the Gaussian policy, in action units"""
    learning_rate: float = 0.0002
    """step size of the REINFORCE ascent on W"""
    tasks_per_iteration: int = 10
    episodes_per_task: int = 10

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NoAdaptConfig:
        names = {field.name for field in dataclasses.fields(cls)}
        for key in data:
            if key not in names:
                raise TypeError(f"{cls.__name__}: unknown key {key!r}; known keys: {sorted(names)}")
        return cls(**data)


class NoAdapt:
    config_class = NoAdaptConfig

    def __init__(self, env_id: str, config: NoAdaptConfig, env_kwargs: Mapping[str, Any] | None = None):
        self.env_id, self.config, self.env_kwargs = env_id, config, dict(env_kwargs or {})
        env = gym.make(env_id, **self.env_kwargs)
        if not isinstance(env.action_space, gym.spaces.Box):
            raise TypeError(f"{type(self).__name__}: needs a Box action space, {env_id} has {env.action_space}")
        self.low, self.high = env.action_space.low, env.action_space.high
        self.weights = np.zeros((env.action_space.shape[0], env.observation_space.shape[0] + 1))

    # ----- meta-training: the harness hands over the train tasks and its envs on them -----------------
    def meta_train(self, train_tasks: Any, *, iterations: int, seed: int,
                   callback: Callable[[dict[str, Any]], Any] | None = None) -> None:
        """`train_tasks` is a sequence of the train tasks whose `rollout(tasks, episodes_per_task, act, rng)`
        runs one episode per (task, episode) sub-env of the harness's vector env and returns the episodes
        as arrays (task, episode, time, ...); the harness counts those env steps."""
        cfg, rng = self.config, np.random.default_rng(seed)
        self.weights = np.zeros_like(self.weights)
        env_steps, start = 0, time.perf_counter()
        for iteration in range(iterations):
            chosen = rng.choice(len(train_tasks), cfg.tasks_per_iteration,
                                replace=cfg.tasks_per_iteration > len(train_tasks))
            batch = train_tasks.rollout([train_tasks[int(i)] for i in chosen], cfg.episodes_per_task,
                                        lambda obs: self._act(self.weights, obs, rng), rng)
            episodes = [a.reshape(-1, *a.shape[2:]) for a in (batch.observations, batch.actions, batch.rewards,
                                                              batch.mask)]
            self.weights = self.weights + cfg.learning_rate * self._gradient(self.weights, *episodes)
            env_steps += int(batch.mask.sum())
            record = {"iteration": iteration, "env_steps": env_steps,
                      "wall_time": time.perf_counter() - start,
                      "pre_adaptation_return": float(batch.rewards.sum(axis=2).mean()),
                      "post_adaptation_return": float("nan"), "extra": {}}
            if callback is not None and callback(record):
                break

    def _act(self, weights: np.ndarray, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mean = np.concatenate([obs, np.ones((*obs.shape[:-1], 1))], axis=-1) @ weights.T
        return mean + self.config.std * rng.standard_normal(mean.shape)

    def _gradient(self, weights: np.ndarray, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                  alive: np.ndarray) -> np.ndarray:
        """REINFORCE: mean over episodes of Σ_t ∇log π(a_t|o_t)·A_t, A_t = G_t − (the batch's mean G_t),
        scaled to unit standard deviation over the steps that happened."""
        to_go = np.flip(np.cumsum(np.flip(rewards, axis=1), axis=1), axis=1)
        advantage = (to_go - to_go.mean(axis=0, keepdims=True)) * alive
        advantage = advantage / (advantage[alive].std() + 1e-8)
        features = np.concatenate([obs, np.ones((*obs.shape[:-1], 1))], axis=-1)
        mean = features @ weights.T
        score = (actions - mean) / self.config.std**2                          # ∇_mean log N(a; mean, σ²)
        return np.einsum("eta,etf,et->af", score, features, advantage) / len(obs)

    # ----- meta-test: the evaluator owns the envs; the agent sees arrays (task, episode, ...) ------
    def start_trial(self, num_tasks: int) -> None:
        self.task_weights = [self.weights.copy() for _ in range(num_tasks)]

    def begin_episodes(self, phase: str, rng: np.random.Generator) -> None:
        self.rng = rng

    def actions(self, observations: np.ndarray) -> np.ndarray:
        return np.stack([self._act(w, obs, self.rng) for w, obs in zip(self.task_weights, observations, strict=True)])

    def observe(self, transition: Any) -> None:
        return None

    def end_round(self, rollouts: Any) -> None:
        return None  # no adaptation: every R_k is scored with the meta-trained weights
