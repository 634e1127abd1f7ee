"""The one meta-test protocol (DESIGN.md; STYLE R17).

For each task of the fixed test `TaskSet`: start from the agent's meta-parameters; for
k = 0..K record the mean return of N evaluation episodes (or, for a tabular agent on a tabular
env, the exact expected return), then adapt once more. Where an oracle exists the optimality gap
J*(task) − R_k is recorded too. `meta_test` returns a value; printing and writing are the
caller's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

__all__ = ["MetaTestProtocol", "MetaTestResult", "TaskResult", "meta_test"]


@dataclasses.dataclass(frozen=True)
class MetaTestProtocol:
    adaptation_steps: int
    """K: returns are recorded after 0..K adaptation steps"""
    evaluation_episodes: int
    """N: episodes whose mean return is R_k (ignored when `exact`)"""
    scored_episode: Literal["mean", "last"] = "mean"
    """which of the N evaluation episodes count: their mean, or only the last (PEARL's)"""
    exact: bool = False
    """tabular agents on tabular envs: R_k is the exact expected return from the model"""
    discount: float = 1.0
    """discount of the scored return (1.0: undiscounted, as every seed paper reports)"""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TaskResult:
    task: dict[str, Any]
    returns: tuple[float, ...]
    """R_0..R_K"""
    optimal_return: float | None = None
    """J*(task) from the oracle, where one exists"""
    env_steps: int = 0
    """environment steps spent on this task's adaptation and evaluation"""

    @property
    def optimality_gaps(self) -> tuple[float, ...] | None:
        if self.optimal_return is None:
            return None
        return tuple(self.optimal_return - r for r in self.returns)


@dataclasses.dataclass(frozen=True)
class MetaTestResult:
    env_id: str
    preset: str
    task_set_fingerprint: str
    protocol: MetaTestProtocol
    seed: int
    tasks: tuple[TaskResult, ...]

    def mean_returns(self) -> tuple[float, ...]:
        """Mean over tasks of R_k, for k = 0..K."""
        steps = len(self.tasks[0].returns)
        return tuple(sum(t.returns[k] for t in self.tasks) / len(self.tasks) for k in range(steps))


# --------------------------------------------------------------------------------------------
# The evaluator
# --------------------------------------------------------------------------------------------
def _is_tabular(env: Any) -> bool:
    return hasattr(env.unwrapped, "transition_matrix")


def meta_test(agent: Any, task_set: Sequence[Any], protocol: MetaTestProtocol, *, seed: int,
              max_tasks: int | None = None, progress: Callable[[int], None] | None = None) -> MetaTestResult:
    """Returns R_0..R_K of every task of `task_set` (its first `max_tasks`), adapting from the
    agent's meta-parameters. All tasks are scored together: one batched sampler call per k, one
    task per group of sub-envs. `progress(k)` is called after step k is scored."""
    import gymnasium as gym

    from baselines.common.oracles import TabularModel, optimal_return, policy_return
    from baselines.common.sampler import Sampler

    tasks = list(task_set)[: max_tasks if max_tasks is not None else len(task_set)]
    if not tasks:
        raise ValueError("meta_test: the task set is empty")
    env = gym.make(agent.env_id, **dict(agent.env_kwargs))
    tabular = _is_tabular(env)
    if protocol.exact and not (tabular and hasattr(agent, "policy_matrix")):
        raise ValueError(f"meta_test: protocol.exact needs a tabular env and an agent with policy_matrix; "
                         f"{agent.env_id} tabular={tabular}, agent {type(agent).__name__}")
    horizon = int(env.unwrapped.horizon)
    models = []
    if tabular:
        for task in tasks:
            env.unwrapped.set_task(task)
            models.append(TabularModel.from_env(env))
    optimal = [optimal_return(m, protocol.discount, horizon) for m in models] if tabular else [None] * len(tasks)
    streams = np.random.SeedSequence(seed).spawn(2 * (protocol.adaptation_steps + 1))
    sampler = None if protocol.exact else Sampler(agent.env_id, agent.env_kwargs)
    params = [agent.meta_params() for _ in tasks]
    returns = np.zeros((len(tasks), protocol.adaptation_steps + 1))
    env_steps = np.zeros(len(tasks), dtype=np.int64)
    for k in range(protocol.adaptation_steps + 1):
        score_rng, adapt_rng = (np.random.default_rng(s) for s in streams[2 * k: 2 * k + 2])
        if protocol.exact:
            for i, (model, p) in enumerate(zip(models, params, strict=True)):
                matrix = _policy_matrix(agent, p)
                returns[i, k] = policy_return(model, matrix, protocol.discount, horizon)
        else:
            returns[:, k], steps = _sampled_returns(agent, sampler, tasks, params, protocol, score_rng)
            env_steps += steps
        if progress is not None:
            progress(k)
        if k < protocol.adaptation_steps and hasattr(agent, "adapt_tasks"):  # optional batched `adapt`
            params, steps = agent.adapt_tasks(tasks, params, rng=adapt_rng)
            env_steps += np.asarray(steps, dtype=np.int64)
        elif k < protocol.adaptation_steps:
            for i, task in enumerate(tasks):
                params[i], steps = agent.adapt(task, params[i], rng=adapt_rng)
                env_steps[i] += steps
    fingerprint = getattr(task_set, "fingerprint", "")
    results = tuple(TaskResult(task.to_dict(), tuple(float(r) for r in returns[i]), optimal[i], int(env_steps[i]))
                    for i, task in enumerate(tasks))
    preset = str(agent.env_kwargs.get("preset", getattr(env.unwrapped, "preset_name", "")))
    return MetaTestResult(agent.env_id, preset, fingerprint, protocol, seed, results)


def _policy_matrix(agent: Any, params: Any) -> np.ndarray:
    return np.asarray(agent.policy_matrix(params), dtype=np.float64)


def _sampled_returns(agent: Any, sampler: Any, tasks: list, params: list, protocol: MetaTestProtocol,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Mean (or last) scored return of N episodes per task, all tasks in one sampler call."""
    n = protocol.evaluation_episodes

    def act(obs: np.ndarray) -> np.ndarray:  # obs (task, episode, ...): each task acts with its own params
        if hasattr(agent, "act_tasks"):  # optional batched form of `act` (one call for every task)
            return agent.act_tasks(obs, params, rng=rng)
        return np.stack([agent.act(obs[i], params[i], deterministic=False, rng=rng) for i in range(len(tasks))])

    batch = sampler.rollout(tasks, n, act, rng)
    per_episode = batch.episode_returns(protocol.discount)
    scored = per_episode[:, -1] if protocol.scored_episode == "last" else per_episode.mean(axis=1)
    return scored, batch.mask.sum(axis=(1, 2))
