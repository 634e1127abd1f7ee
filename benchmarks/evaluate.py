"""The one meta-test protocol, v2: the evaluator owns every environment step.

For the first `max_tasks` tasks of the fixed test `TaskSet`, one trial each, all tasks at once:

    agent.start_trial(T)                                   # the agent never sees a Task
    for k = 0..K:
        R_k ← N evaluation episodes per task (mean, or the last), or the exact return of
              `agent.policy_matrices()` on each task's model when `protocol.exact`
        if k < K: one adaptation round: `adaptation_episodes` episodes per task, then `end_round`

Every episode batch is one call of the shared sampler's loop on one native vector env with one
sub-env per (test task, parallel episode); the agent acts through `actions(obs)`, sees each step
through `observe(transition)` and each finished round through `end_round(rollouts)`. The env steps
of the adaptation rounds before R_k are recorded beside R_k. Where an oracle exists the optimality
gap J*(task) − R_k is recorded too, and the result states its kind (`optimum_kind`): "exact" on a
tabular env, "analytic" where J* has a closed form (the point envs' straight-line optimum),
"estimated" where some tasks' J* is read from a cached estimate (`benchmarks.oracles`: trained once,
with a stated budget, on a stated sample of the test tasks; never trained here), recorded with its
estimator as `oracle_estimate`. A privileged agent (it reads the env's exact model) receives each
task's tabular model, and its result is marked as the "privileged" track.

Random streams: `SeedSequence(seed).spawn(2(K + 1))`, stream 2k for R_k's episodes and 2k + 1 for
round k + 1; the agent draws its action noise from the same generator (`begin_episodes`), then the
evaluator draws the vector env's reset seed.
`meta_test` returns a value; printing and writing are the caller's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

__all__ = ["TRACKS", "EstimatedOptimum", "MetaTestProtocol", "MetaTestResult", "TaskResult", "meta_test",
           "run_episodes", "task_optima"]

TRACKS = ("main", "privileged")


@dataclasses.dataclass(frozen=True)
class MetaTestProtocol:
    """The meta-test budget and scoring rule, pinned per experiment and written into every result."""

    adaptation_steps: int
    """K: adaptation rounds; R_k is recorded after k = 0..K of them"""
    evaluation_episodes: int
    """N: episodes per task whose mean (or last) return is R_k (unused when `exact`)"""
    adaptation_episodes: int = dataclasses.field(kw_only=True)
    """episodes per task in each adaptation round (the agent adapts from these and nothing else)"""
    scored_episode: Literal["mean", "last"] = "mean"
    """which of the N evaluation episodes count: their mean, or only the last (PEARL's)"""
    exact: bool = False
    """tabular envs: R_k is the exact expected return of the agent's policy on the task's model"""
    discount: float = 1.0
    """discount of the scored return (1.0: undiscounted, as every seed paper reports)"""

    def __post_init__(self) -> None:
        for name in ("adaptation_steps", "evaluation_episodes", "adaptation_episodes"):
            value, low = getattr(self, name), 0 if name == "adaptation_steps" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"MetaTestProtocol.{name}={value!r}: must be an int ≥ {low}")
        if self.scored_episode not in ("mean", "last"):
            raise ValueError(f"MetaTestProtocol.scored_episode={self.scored_episode!r}: must be 'mean' or 'last'")
        if not 0.0 < self.discount <= 1.0:
            raise ValueError(f"MetaTestProtocol.discount={self.discount!r}: must be in (0, 1]")

    def budget(self) -> dict[str, Any]:
        """What two results must share to be ranked together: rounds, episodes per round, evaluation."""
        return {"adaptation_steps": self.adaptation_steps, "adaptation_episodes": self.adaptation_episodes,
                "evaluation_episodes": self.evaluation_episodes, "scored_episode": self.scored_episode,
                "exact": self.exact, "discount": self.discount}

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
    adaptation_env_steps: tuple[int, ...] = dataclasses.field(kw_only=True)
    """env steps of this task's adaptation rounds before R_0..R_K (the first is 0)"""

    def __post_init__(self) -> None:
        object.__setattr__(self, "adaptation_env_steps", tuple(int(s) for s in self.adaptation_env_steps))

    @property
    def optimality_gaps(self) -> tuple[float, ...] | None:
        if self.optimal_return is None:
            return None
        return tuple(self.optimal_return - r for r in self.returns)


@dataclasses.dataclass(frozen=True)
class EstimatedOptimum:
    """The estimated J* of some test tasks (`benchmarks.oracles`): what estimated it, with its budget,
    and which tasks took it. Recorded beside the gaps so that a reader knows what they measure."""

    estimator: str
    """the estimator and its budget, e.g. "SAC per task (stable-baselines3 2.9.2), 20000 env steps per
    task, 10 deterministic evaluation episodes, seed 0" """
    tasks: tuple[int, ...]
    """indices (into the meta-test's tasks) of the tasks whose J* is the estimate; the others have an
    exact or analytic J*, or none"""
    cache: str
    """"sha256:<hex>": the checksum of the cache file the estimates were read from"""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        if not self.tasks or list(self.tasks) != sorted(set(self.tasks)) or min(self.tasks) < 0:
            raise ValueError(f"field oracle_estimate.tasks = {list(self.tasks)} must be distinct task indices ≥ 0, "
                             "in increasing order")


@dataclasses.dataclass(frozen=True)
class MetaTestResult:
    env_id: str
    preset: str
    task_set_fingerprint: str
    protocol: MetaTestProtocol
    seed: int
    tasks: tuple[TaskResult, ...]
    track: str = "main"
    """"main", or "privileged" for an agent that reads the env's exact model (never ranked with main)"""
    oracle_estimate: EstimatedOptimum | None = None
    """where some tasks' J* is a cached estimate: the estimator, its budget and those tasks"""

    @property
    def optimum_kind(self) -> str | None:
        """How J* (and so the optimality gaps) was obtained: "exact" (dynamic programming on a tabular
        model), "analytic" (a closed form, `oracles.analytic_optimal_return`), "estimated" (some tasks'
        J* is a cached estimate, `oracle_estimate`; the gaps' means are then over the tasks with a J*),
        None without gaps."""
        from baselines.common.oracles import optimum_kind
        from metarl_envs.task_sets import env_class

        if self.oracle_estimate is not None:
            return "estimated"
        if any(task.optimal_return is None for task in self.tasks):
            return None
        return optimum_kind(env_class(self.env_id))

    def mean_returns(self) -> tuple[float, ...]:
        """Mean over tasks of R_k, for k = 0..K."""
        steps = len(self.tasks[0].returns)
        return tuple(sum(t.returns[k] for t in self.tasks) / len(self.tasks) for k in range(steps))

    def mean_adaptation_env_steps(self) -> tuple[float, ...]:
        """Mean over tasks of the adaptation env steps spent before R_k, for k = 0..K."""
        return tuple(float(np.mean([t.adaptation_env_steps[k] for t in self.tasks]))
                     for k in range(len(self.tasks[0].adaptation_env_steps)))


# --------------------------------------------------------------------------------------------
# The evaluator
# --------------------------------------------------------------------------------------------
def meta_test(agent: Any, task_set: Sequence[Any], protocol: MetaTestProtocol, *, seed: int,
              max_tasks: int | None = None, progress: Callable[[int], None] | None = None) -> MetaTestResult:
    """R_0..R_K of every task of `task_set` (its first `max_tasks`), the agent adapting from its
    meta-learned state under `protocol`'s budget; `progress(k)` is called once R_k is scored."""
    from baselines.common.agent import is_privileged
    from baselines.common.oracles import policy_return
    from baselines.common.sampler import Sampler

    tasks = list(task_set)[: max_tasks if max_tasks is not None else len(task_set)]
    if not tasks:
        raise ValueError("meta_test: the task set is empty")
    sampler = Sampler(agent.env_id, agent.env_kwargs)
    envs = sampler.envs
    tabular, privileged = envs.tabular, is_privileged(agent)
    if protocol.exact and not (tabular and hasattr(agent, "policy_matrices")):
        raise ValueError(f"meta_test: protocol.exact needs a tabular env and an agent with policy_matrices; "
                         f"{agent.env_id} tabular={tabular}, agent {type(agent).__name__}")
    if privileged and not tabular:
        raise ValueError(f"meta_test: {type(agent).__name__} is privileged (reads the exact model), "
                         f"but {agent.env_id} is not a tabular env")
    horizon = envs.horizon
    models = [envs.model(task) for task in tasks] if tabular else []
    fingerprint = getattr(task_set, "fingerprint", "")
    optimal, estimate = task_optima(envs, tasks, fingerprint, protocol.discount)
    if privileged:
        agent.receive_models(models)
    agent.start_trial(len(tasks))
    streams = np.random.SeedSequence(seed).spawn(2 * (protocol.adaptation_steps + 1))
    returns = np.zeros((len(tasks), protocol.adaptation_steps + 1))
    adaptation_steps = np.zeros((len(tasks), protocol.adaptation_steps + 1), dtype=np.int64)
    env_steps = np.zeros(len(tasks), dtype=np.int64)
    for k in range(protocol.adaptation_steps + 1):
        score_rng, adapt_rng = (np.random.default_rng(s) for s in streams[2 * k: 2 * k + 2])
        if protocol.exact:
            matrices = np.asarray(agent.policy_matrices(), dtype=np.float64)
            returns[:, k] = [policy_return(m, p, protocol.discount, horizon) for m, p in zip(models, matrices,
                                                                                            strict=True)]
        else:
            batch = run_episodes(agent, sampler, tasks, "evaluate", protocol.evaluation_episodes, score_rng)
            per_episode = batch.episode_returns(protocol.discount)
            returns[:, k] = per_episode[:, -1] if protocol.scored_episode == "last" else per_episode.mean(axis=1)
            env_steps += batch.mask.sum(axis=(1, 2))
        if progress is not None:
            progress(k)
        if k < protocol.adaptation_steps:
            batch = run_episodes(agent, sampler, tasks, "adapt", protocol.adaptation_episodes, adapt_rng)
            agent.end_round(batch)
            spent = batch.mask.sum(axis=(1, 2))
            env_steps += spent
            adaptation_steps[:, k + 1] = adaptation_steps[:, k] + spent
    results = tuple(TaskResult(task.to_dict(), tuple(float(r) for r in returns[i]), optimal[i], int(env_steps[i]),
                               adaptation_env_steps=tuple(adaptation_steps[i]))
                    for i, task in enumerate(tasks))
    return MetaTestResult(agent.env_id, envs.preset_name, fingerprint, protocol, seed, results,
                          "privileged" if privileged else "main", estimate)


def task_optima(envs: Any, tasks: Sequence[Any], fingerprint: str, discount: float) -> tuple[
        list[float | None], EstimatedOptimum | None]:
    """J* of each of `tasks` (the first tasks of the test set whose fingerprint is `fingerprint`) on the env
    of `envs` (an `EnvProvider`), None where no oracle gives one: dynamic programming on a tabular env,
    else the closed form where one exists, then a cached estimate for the tasks the closed forms leave
    open (read, never trained), returned as the `EstimatedOptimum` behind them (None when no cached J*
    was used). `meta_test` records these; `benchmarks.results.rescore` re-reads them for a stored result."""
    from baselines.common.oracles import optimal_return
    from benchmarks.oracles import attach_estimates

    if envs.tabular:
        return [optimal_return(envs.model(task), discount, envs.horizon) for task in tasks], None
    optimal = [envs.analytic_optimum(task, discount) for task in tasks]
    return optimal, attach_estimates(optimal, tasks, envs.env_id, envs.env_kwargs, fingerprint, discount)


def run_episodes(agent: Any, sampler: Any, tasks: list, phase: str, episodes: int, rng: np.random.Generator) -> Any:
    """One episode per (task, episode) sub-env of one vector env, the agent acting and observing
    (the harness's loop: the agent receives arrays, never `tasks`)."""
    agent.begin_episodes(phase, rng)
    return sampler.rollout(tasks, episodes, agent.actions, rng, observe=agent.observe)
