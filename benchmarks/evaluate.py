"""The one meta-test protocol (DESIGN.md; STYLE R17).

For each task of the fixed test `TaskSet`: start from the agent's meta-parameters; for
k = 0..K record the mean return of N evaluation episodes (or, for a tabular agent on a tabular
env, the exact expected return), then adapt once more. Where an oracle exists the optimality gap
J*(task) − R_k is recorded too. `meta_test` returns a value; printing and writing are the
caller's.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

__all__ = ["MetaTestProtocol", "MetaTestResult", "TaskResult"]


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
