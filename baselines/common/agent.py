"""The one surface every reference agent has (SB3-like, by composition; STYLE R16).

An agent is constructed from an env id, env kwargs (the preset among them) and its frozen config
dataclass. The meta-test evaluator (`benchmarks/evaluate.py`) drives every agent the same way:

    params = agent.meta_params()                          # k = 0: the meta-learned initialisation
    for k in range(K + 1):
        R[k] = score(agent, params, task)                 # N evaluation episodes (or exact, tabular)
        if k < K:
            params, steps = agent.adapt(task, params, rng=rng)   # one more adaptation step

`adapt` collects whatever data its paper's adaptation uses through the shared sampler; agents
never step envs themselves (R13).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from metarl_envs.core import Task

__all__ = ["Agent", "IterationRecord", "TabularAgent", "TrainingLog", "config_from_dict"]

ConfigT = TypeVar("ConfigT")


@dataclasses.dataclass(frozen=True)
class IterationRecord:
    """One meta-training iteration, as stored in the results file's training curve."""

    iteration: int
    env_steps: int
    """cumulative environment steps since meta-training began"""
    wall_time: float
    """cumulative seconds since meta-training began"""
    pre_adaptation_return: float
    """mean undiscounted return of the episodes sampled before the inner step(s)"""
    post_adaptation_return: float
    """mean undiscounted return after the inner step(s) (nan when the algorithm has none)"""
    extra: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "extra": dict(self.extra)}


@dataclasses.dataclass
class TrainingLog:
    records: list[IterationRecord] = dataclasses.field(default_factory=list)

    def to_list(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.records]


Callback = Callable[[IterationRecord], bool | None]
"""called after every iteration; returning True stops meta-training early"""


@runtime_checkable
class Agent(Protocol):
    name: str
    env_id: str
    env_kwargs: Mapping[str, Any]
    config: Any

    def meta_train(self, train_tasks: Sequence[Task], *, iterations: int, seed: int,
                   callback: Callback | None = None) -> TrainingLog: ...

    def meta_params(self) -> Any:
        """A copy of the meta-parameters (the k = 0 policy of every task)."""

    def adapt(self, task: Task, params: Any, *, rng: np.random.Generator) -> tuple[Any, int]:
        """One adaptation step on `task` from `params`; returns (new params, env steps used)."""

    def act(self, obs: np.ndarray, params: Any, *, deterministic: bool = False,
            rng: np.random.Generator | None = None) -> np.ndarray:
        """Actions for a batch of observations under `params`."""

    def save(self, path: str | Path) -> None: ...

    @classmethod
    def load(cls, path: str | Path) -> Agent: ...


@runtime_checkable
class TabularAgent(Agent, Protocol):
    def policy_matrix(self, params: Any) -> np.ndarray:
        """π[s, a] under `params`, for exact evaluation on the env's tabular model."""


def config_from_dict(cls: type[ConfigT], data: Mapping[str, Any]) -> ConfigT:
    """Build a frozen config dataclass; unknown keys fail by name (STYLE R12)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in names:
            raise TypeError(f"{cls.__name__}: unknown key {key!r}")
    return cls(**data)
