"""The one trajectory sampler: batched, multi-task, on the native vector envs.

`Sampler.collect(policy, params, tasks, episodes_per_task, rng)` runs `len(tasks) ×
episodes_per_task` sub-envs of one native vector env (`gym.make_vec(...,
vectorization_mode="vector_entry_point")`), one task per sub-env, and lets every sub-env run
exactly one episode to its end (termination, or the env's own truncation at the preset horizon).
The result is a `TrajectoryBatch` of arrays shaped (task, episode, time, ...) with a `mask` of
the steps that happened; `terminated` and `truncated` are stored separately and never merged.

Box actions: the policy's sample is stored unclipped (its log-prob is what the estimators use)
and clipped to the action space only on the way to the env, as pytorch-maml-rl does; the envs
raise on out-of-space actions rather than clip silently.

Randomness: one `np.random.Generator` per call seeds the vector env's reset and the torch
`Generator` the actions are drawn with, so a seed fixes the whole batch.
`Sampler.rollout` is the same loop driven by any `act(obs[task, episode, ...]) -> actions`
callable; the meta-test evaluator drives it with the agent's `actions` and, for agents that keep
a context, hands every step to an `observe(Transition)` callback.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from baselines.common.envs import EnvProvider
from baselines.common.policies import Params, Policy, StackedParams
from metarl_envs.core import Task

__all__ = ["Sampler", "TrainingEnvs", "TrajectoryBatch", "Transition", "policy_sampler", "torch_generator",
           "training_envs"]


def torch_generator(rng: np.random.Generator) -> torch.Generator:
    """A torch generator seeded from `rng` (never the global torch seed)."""
    return torch.Generator().manual_seed(int(rng.integers(2**63 - 1)))


@dataclasses.dataclass(frozen=True)
class Transition:
    """One step of every sub-env, arrays indexed (task, episode, ...): what an agent that keeps a
    context (a recurrent state, an encoder's posterior) sees after each action."""

    observations: np.ndarray
    """(T, E, obs_dim) the observation the action was chosen from"""
    actions: np.ndarray
    """(T, E, ...) the actions as the agent returned them"""
    rewards: np.ndarray
    """(T, E) float64 (0 where the sub-env's episode had already ended)"""
    terminated: np.ndarray
    """(T, E) bool: the episode ended at this step by termination"""
    truncated: np.ndarray
    """(T, E) bool: the episode ended at this step by truncation (time limit)"""
    next_observations: np.ndarray
    """(T, E, obs_dim) the observation after the step (the episode's final one where it ended)"""
    alive: np.ndarray
    """(T, E) bool: the sub-env was still inside its episode at this step (its step happened)"""


@dataclasses.dataclass(frozen=True)
class TrajectoryBatch:
    """Episodes of several tasks; every array is indexed (task, episode, time, ...)."""

    observations: np.ndarray
    """(T, E, H, obs_dim) observation at each step, before acting"""
    actions: np.ndarray
    """(T, E, H, ...) actions as the policy sampled them (unclipped)"""
    rewards: np.ndarray
    """(T, E, H) float64, zero where `mask` is False"""
    mask: np.ndarray
    """(T, E, H) bool: the step happened"""
    terminated: np.ndarray
    """(T, E, H) bool: the episode ended at this step by termination"""
    truncated: np.ndarray
    """(T, E, H) bool: the episode ended at this step by truncation (time limit)"""
    final_observations: np.ndarray
    """(T, E, obs_dim) the observation after each episode's last step (bootstraps truncation)"""

    def __post_init__(self) -> None:
        shape = self.rewards.shape
        for name in ("mask", "terminated", "truncated"):
            if getattr(self, name).shape != shape:
                raise ValueError(f"TrajectoryBatch.{name} has shape {getattr(self, name).shape}, expected {shape}")
        if self.observations.shape[:3] != shape or self.actions.shape[:3] != shape:
            raise ValueError("TrajectoryBatch: observations/actions must start with the rewards' shape "
                             f"{shape}, got {self.observations.shape} and {self.actions.shape}")

    @property
    def num_tasks(self) -> int:
        return self.rewards.shape[0]

    @property
    def episodes_per_task(self) -> int:
        return self.rewards.shape[1]

    @property
    def env_steps(self) -> int:
        return int(self.mask.sum())

    def episode_returns(self, discount: float = 1.0) -> np.ndarray:
        """(T, E) Σ_t γ^t r_t of each episode."""
        weights = discount ** np.arange(self.rewards.shape[2])
        return (self.rewards * self.mask) @ weights

    def task(self, index: int) -> TrajectoryBatch:
        """Task `index` alone, keeping the leading task axis (size 1)."""
        return dataclasses.replace(self, **{f.name: getattr(self, f.name)[index:index + 1]
                                            for f in dataclasses.fields(self)})

    @classmethod
    def concatenate(cls, batches: Sequence[TrajectoryBatch]) -> TrajectoryBatch:
        """Stack batches of equal episode counts along the task axis (time padded with masked steps)."""
        length = max(b.rewards.shape[2] for b in batches)

        def pad(array: np.ndarray) -> np.ndarray:
            widths = [(0, 0)] * array.ndim
            widths[2] = (0, length - array.shape[2])
            return np.pad(array, widths)

        fields = {}
        for f in dataclasses.fields(cls):
            parts = [getattr(b, f.name) for b in batches]
            fields[f.name] = np.concatenate(parts if f.name == "final_observations" else [pad(p) for p in parts])
        return cls(**fields)


def policy_sampler(policy: Policy, params: Params | Sequence[Params],
                   rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """obs (task, episode, ...) ↦ actions sampled from `policy` under `params` (one dict shared by all
    tasks, or one per task) for one batch of episodes; the noise is a torch stream seeded from `rng`."""
    generator = torch_generator(rng)
    shared = params if isinstance(params, Mapping) else StackedParams.of(list(params))
    sample = policy.rollout_sampler(shared, generator)

    def act(obs: np.ndarray) -> np.ndarray:
        return sample(torch.as_tensor(obs)).numpy()

    return act


class Sampler:
    """Collects episodes of `env_id` on its native vector envs, built by its `EnvProvider` (`envs`)
    and kept per number of sub-envs."""

    def __init__(self, env_id: str, env_kwargs: Mapping[str, Any] | None = None):
        self.envs = EnvProvider(env_id, env_kwargs)
        self.env_id, self.env_kwargs = env_id, self.envs.env_kwargs
        self._envs: dict[int, gym.vector.VectorEnv] = {}
        probe = self._env(1)
        self.observation_space = probe.single_observation_space
        self.action_space = probe.single_action_space
        self.horizon = int(probe.unwrapped.horizon)
        self.env_seconds = 0.0
        """wall time spent inside the vector env's reset/step (read by the perf benchmark)"""

    def _env(self, num_envs: int) -> gym.vector.VectorEnv:
        if num_envs not in self._envs:
            self._envs[num_envs] = self.envs.vector_env(num_envs)
        return self._envs[num_envs]

    def collect(self, policy: Policy, params: Params | Sequence[Params], tasks: Sequence[Task],
                episodes_per_task: int, rng: np.random.Generator) -> TrajectoryBatch:
        """Episodes from `policy` under `params` (one dict shared by all tasks, or one per task)."""
        if not isinstance(params, Mapping) and len(params) != len(tasks):
            raise ValueError(f"Sampler.collect: {len(params)} parameter sets for {len(tasks)} tasks")
        return self.rollout(tasks, episodes_per_task, policy_sampler(policy, params, rng), rng)

    def rollout(self, tasks: Sequence[Task], episodes_per_task: int,
                act: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator,
                observe: Callable[[Transition], None] | None = None) -> TrajectoryBatch:
        """One episode per sub-env; `act` maps observations (T, E, obs_dim) to actions (T, E, ...);
        `observe`, when given, receives every step as a `Transition`."""
        n_tasks, n_episodes = len(tasks), int(episodes_per_task)
        if n_tasks < 1 or n_episodes < 1:
            raise ValueError(f"Sampler.rollout: need ≥ 1 task and episode, got {n_tasks} and {n_episodes}")
        n, horizon = n_tasks * n_episodes, self.horizon
        venv = self._env(n)
        venv.unwrapped.set_tasks([task for task in tasks for _ in range(n_episodes)])
        start = time.perf_counter()
        obs, _ = venv.reset(seed=int(rng.integers(2**31 - 1)))
        self.env_seconds += time.perf_counter() - start
        box = isinstance(self.action_space, spaces.Box)
        act_shape, act_dtype = self.action_space.shape, (np.float32 if box else np.int64)
        observations = np.zeros((n, horizon, *obs.shape[1:]), dtype=np.float32)
        actions = np.zeros((n, horizon, *act_shape), dtype=act_dtype)
        rewards = np.zeros((n, horizon))
        mask, terminated, truncated = (np.zeros((n, horizon), dtype=bool) for _ in range(3))
        final = np.zeros_like(obs, dtype=np.float32)
        alive = np.ones(n, dtype=bool)
        steps = 0
        while alive.any() and steps < horizon:
            obs = np.asarray(obs, dtype=np.float32)
            raw = np.asarray(act(obs.reshape(n_tasks, n_episodes, *obs.shape[1:]))).reshape(n, *act_shape)
            env_action = np.clip(raw, self.action_space.low, self.action_space.high) if box else raw
            start = time.perf_counter()
            next_obs, reward, term, trunc, _ = venv.step(env_action.astype(self.action_space.dtype))
            self.env_seconds += time.perf_counter() - start
            observations[:, steps], actions[:, steps] = obs, raw
            rewards[:, steps] = np.where(alive, reward, 0.0)
            mask[:, steps], terminated[:, steps], truncated[:, steps] = alive, alive & term, alive & trunc
            ended = alive & (term | trunc)  # episode ends only; returns code sees the flags apart
            final[ended] = next_obs[ended]
            if observe is not None:
                observe(Transition(*(_by_task(a, n_tasks, n_episodes) for a in (
                    obs, raw, rewards[:, steps], terminated[:, steps], truncated[:, steps], next_obs,
                    alive.copy()))))
            alive &= ~ended
            obs, steps = next_obs, steps + 1

        def shaped(array: np.ndarray) -> np.ndarray:
            return array[:, :steps].reshape(n_tasks, n_episodes, steps, *array.shape[2:])

        return TrajectoryBatch(shaped(observations), shaped(actions), shaped(rewards), shaped(mask),
                               shaped(terminated), shaped(truncated),
                               final.reshape(n_tasks, n_episodes, *final.shape[1:]))


def _by_task(array: np.ndarray, n_tasks: int, n_episodes: int) -> np.ndarray:
    return np.asarray(array).reshape(n_tasks, n_episodes, *np.shape(array)[1:])


class TrainingEnvs(Sampler):
    """The train task set as meta-training receives it from the harness: a sequence of the train
    tasks whose episodes are collected on the harness's vector envs (`rollout`, `collect`). Only the
    train tasks can be set on them (any other task is refused), and every env step is counted in
    `env_steps`, which the results file records as the training curve's env steps."""

    def __init__(self, env_id: str, env_kwargs: Mapping[str, Any] | None, tasks: Sequence[Task]):
        super().__init__(env_id, env_kwargs)
        self.tasks = tuple(tasks)
        if not self.tasks:
            raise ValueError("TrainingEnvs: the train task set is empty")
        self.fingerprint = getattr(tasks, "fingerprint", "")
        self._allowed = frozenset(self.tasks)
        self.env_steps = 0
        """env steps of every episode collected on these envs so far"""
        self.checkpoint: Any = None
        """where the run keeps its checkpoints (`baselines.common.training.Checkpoint`), set by the harness"""

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, index: Any) -> Any:
        return self.tasks[index]

    def __iter__(self) -> Any:
        return iter(self.tasks)

    def rollout(self, tasks: Sequence[Task], episodes_per_task: int,
                act: Callable[[np.ndarray], np.ndarray], rng: np.random.Generator,
                observe: Callable[[Transition], None] | None = None) -> TrajectoryBatch:
        foreign = [task for task in tasks if task not in self._allowed]
        if foreign:
            raise ValueError(f"TrainingEnvs.rollout: {foreign[0]!r} is not a train task (meta-training reaches the "
                             "train task set only)")
        batch = super().rollout(tasks, episodes_per_task, act, rng, observe)
        self.env_steps += batch.env_steps
        return batch


def training_envs(train_tasks: Sequence[Task], env_id: str, env_kwargs: Mapping[str, Any]) -> TrainingEnvs:
    """The harness's `TrainingEnvs` as given, or ones built on `train_tasks` (an agent used directly)."""
    if isinstance(train_tasks, TrainingEnvs):
        return train_tasks
    return TrainingEnvs(env_id, env_kwargs, train_tasks)
