"""The one agent interface (protocol v2): every agent, ours and outside ones, has this surface.

The harness owns every environment. At meta-test (`benchmarks/evaluate.py`) the agent never sees a
`Task`, task parameters or an env: the evaluator steps one native vector env with one sub-env per
(test task, parallel episode) and hands the agent only arrays indexed (task, episode, ...):

    agent.start_trial(num_tasks)                 # every task starts from the meta-learned state
    for k in range(K + 1):
        agent.begin_episodes("evaluate", rng)    # N evaluation episodes per task → R_k
        ... actions = agent.actions(obs); agent.observe(transition) ...   (every step)
        if k < K:                                # adaptation round k + 1
            agent.begin_episodes("adapt", rng)   # the protocol's episodes per round, per task
            ... actions / observe ...
            agent.end_round(rollouts)            # the round's episodes, a TrajectoryBatch

The budget (K, episodes per round, evaluation episodes) is the protocol's, never the agent's.

- Gradient-based agents adapt in `end_round` (one step per round) and ignore `observe`.
  `ParameterAgent` implements the surface for any agent whose adapted state is one parameter set
  per task: it supplies `episode_policy` and `adapt_round`.
- Context-based agents (RL², PEARL, VariBAD) keep per-sub-env state across the episodes of a trial,
  update it in `observe` and reset it in `start_trial`; `end_round` may do nothing. Whatever an
  agent picks up during evaluation episodes must not carry into the next adaptation round.
- Privileged agents (tabular exact modes) declare `privileged = True`; the evaluator then calls
  `receive_models(models)` with each test task's exact tabular model (transition, reward, initial
  distribution; never the `Task`), and their results go to a separate, labelled track.
- For a protocol with `exact=True` (tabular envs) R_k is the exact return of `policy_matrices()`.

Meta-training: `meta_train(train_tasks, iterations=, seed=, callback=)` on the train task set only.
An agent is built as `Class(env_id, config, env_kwargs)` with `config = Class.config_class.from_dict(d)`
(unknown keys fail by name); `config.to_dict()` is what the results file stores.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import math
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np

from baselines.common.sampler import TrajectoryBatch, Transition
from metarl_envs.core import Task

__all__ = ["COUNT", "FINITE_POSITIVE", "NON_NEGATIVE", "POSITIVE", "Agent", "AgentConfig", "IterationRecord",
           "ParameterAgent", "Phase", "Rule", "TabularAgent", "TrainingLog", "Transition", "checked",
           "config_from_dict", "int_at_least", "interval", "is_privileged", "sizes"]

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


Phase = Literal["adapt", "evaluate"]
"""which episodes `begin_episodes` opens: an adaptation round's, or the evaluation episodes of R_k"""


@runtime_checkable
class Agent(Protocol):
    """The surface the harness drives (see the module docstring for the call order)."""

    env_id: str
    env_kwargs: Mapping[str, Any]
    config: Any

    def meta_train(self, train_tasks: Sequence[Task], *, iterations: int, seed: int,
                   callback: Callback | None = None) -> TrainingLog: ...

    def start_trial(self, num_tasks: int) -> None:
        """Begin meta-test on `num_tasks` unseen tasks: reset every task's state to the meta-learned one."""

    def begin_episodes(self, phase: Phase, rng: np.random.Generator) -> None:
        """One episode per sub-env follows; draw any action noise from `rng`."""

    def actions(self, observations: np.ndarray) -> np.ndarray:
        """Actions (task, episode, ...) for observations (task, episode, obs_dim)."""

    def observe(self, transition: Transition) -> None:
        """Every step of every sub-env (context agents update their state here)."""

    def end_round(self, rollouts: TrajectoryBatch) -> None:
        """The episodes of one adaptation round are over (gradient agents step here)."""


@runtime_checkable
class TabularAgent(Agent, Protocol):
    def policy_matrices(self) -> np.ndarray:
        """π[task, s, a] of every task's current policy, for exact evaluation on the tabular model."""


def is_privileged(agent: Any) -> bool:
    """True for an agent that reads the env's exact model (its results form the "privileged" track)."""
    return bool(getattr(agent, "privileged", False))


class ParameterAgent(abc.ABC):
    """`Agent`'s meta-test surface for agents whose adapted state is one parameter set per task.

    The subclass supplies `meta_params()`, `episode_policy(params, phase, rng)` (the action function
    of one batch of episodes) and `adapt_round(params, rollouts)` (one adaptation step of every
    task); tabular ones also `policy_matrix(params)`. Privileged ones read `self.trial_models`."""

    privileged = False
    trial_models: Sequence[Any] = ()

    def start_trial(self, num_tasks: int) -> None:
        if not isinstance(num_tasks, int) or num_tasks < 1:
            raise ValueError(f"start_trial: num_tasks={num_tasks!r} must be an int ≥ 1")
        self._trial = [self.meta_params() for _ in range(num_tasks)]

    def receive_models(self, models: Sequence[Any]) -> None:
        """The exact tabular model of each test task (privileged agents only)."""
        if not self.privileged:
            raise TypeError(f"{type(self).__name__}.receive_models: only a privileged agent reads the models")
        self.trial_models = tuple(models)

    def begin_episodes(self, phase: Phase, rng: np.random.Generator) -> None:
        self._act = self.episode_policy(self.trial_params(), phase, rng)

    def actions(self, observations: np.ndarray) -> np.ndarray:
        return self._act(observations)

    def observe(self, transition: Transition) -> None:
        return None

    def end_round(self, rollouts: TrajectoryBatch) -> None:
        self._trial = list(self.adapt_round(self.trial_params(), rollouts))

    def trial_params(self) -> list[Any]:
        """Every task's current parameters (R_k is scored under these)."""
        if not hasattr(self, "_trial"):
            raise RuntimeError(f"{type(self).__name__}: call start_trial() first")
        return list(self._trial)

    def policy_matrices(self) -> np.ndarray:
        return np.stack([np.asarray(self.policy_matrix(p), dtype=np.float64) for p in self.trial_params()])

    @abc.abstractmethod
    def meta_params(self) -> Any:
        """A copy of the meta-parameters (every task's k = 0 parameters)."""

    def policy_matrix(self, params: Any) -> np.ndarray:
        raise TypeError(f"{type(self).__name__} has no tabular policy (protocol exact=True needs one)")

    @abc.abstractmethod
    def episode_policy(self, params: Sequence[Any], phase: Phase,
                       rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        """obs (task, episode, obs_dim) ↦ actions, task i acting under `params[i]`, noise from `rng`."""

    @abc.abstractmethod
    def adapt_round(self, params: Sequence[Any], rollouts: TrajectoryBatch) -> Sequence[Any]:
        """Every task's parameters after one adaptation step on its episodes `rollouts.task(i)`."""


def config_from_dict(cls: type[ConfigT], data: Mapping[str, Any]) -> ConfigT:
    """Build a frozen config dataclass; unknown keys fail by name (a `TypeError`)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in names:
            raise TypeError(f"{cls.__name__}: unknown key {key!r}")
    return cls(**data)


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a config field's value must be, declared beside the field (`checked`): `convert` first
    normalises the value (JSON's lists back to tuples), then `holds(value)` must be true, or the config
    refuses it with `ValueError("Class.field=value: <requirement>")`."""

    requirement: str
    holds: Callable[[Any], bool]
    convert: Callable[[Any], Any] | None = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


POSITIVE = Rule("must be > 0", lambda value: value > 0)
FINITE_POSITIVE = Rule("must be finite and > 0", lambda value: math.isfinite(value) and value > 0)
NON_NEGATIVE = Rule("must be ≥ 0", lambda value: value >= 0)


def int_at_least(minimum: int) -> Rule:
    """An int (not a bool) ≥ `minimum`."""
    return Rule(f"must be an int ≥ {minimum}", lambda value: _is_int(value) and value >= minimum)


COUNT = int_at_least(1)


def interval(bounds: str) -> Rule:
    """A number in `bounds`, written as in maths: "(0, 1)" open, "[0, 1]" closed, "(0, 1]" half-open."""
    match = re.fullmatch(r"([(\[])\s*(\S+?)\s*,\s*(\S+?)\s*([)\]])", bounds)
    if match is None:
        raise ValueError(f"interval: bounds={bounds!r} must read like '(0, 1]'")
    opening, low, high, closing = match[1], float(match[2]), float(match[3]), match[4]

    def holds(value: Any) -> bool:
        above = value >= low if opening == "[" else value > low
        below = value <= high if closing == "]" else value < high
        return bool(above and below)

    return Rule(f"must lie in {bounds}", holds)


def sizes(*, empty: bool = True) -> Rule:
    """Layer widths: a tuple of ints ≥ 1 (a list, as JSON holds it, becomes a tuple); `empty=False`
    also refuses ()."""
    return Rule("must be ints ≥ 1" if empty else "must be one or more ints ≥ 1",
                lambda value: (empty or len(value) > 0) and all(width >= 1 for width in value),
                convert=lambda value: tuple(int(width) for width in value))


def checked(default: Any, rule: Rule) -> Any:
    """A config field's default and the `Rule` its value must meet (`AgentConfig` checks it):
    `lam: float = checked(0.5, POSITIVE)`."""
    return dataclasses.field(default=default, metadata={"rule": rule})


class AgentConfig:
    """The dictionary round trip and the checks of every agent's frozen config dataclass, written
    once: subclass it (`@dataclasses.dataclass(frozen=True) class MyConfig(AgentConfig): ...`).

    `to_dict()` is what the results file stores (every field, tuples as lists, as JSON has them);
    `from_dict(d)` builds the config back and fails with a `TypeError` naming an unknown key.
    On construction every field declared with `checked(default, rule)` is checked against its rule,
    and every field annotated `Literal[...]` (or `Literal[...] | None`) against its values; a bad
    value fails with a `ValueError` naming the class and the field. A subclass whose fields constrain
    one another checks that in its own `__post_init__`, after `super().__post_init__()`."""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        for name, rule in _rules(type(self)).items():
            value = getattr(self, name)
            try:
                if rule.convert is not None:
                    value = rule.convert(value)
                    object.__setattr__(self, name, value)
                ok = rule.holds(value)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise ValueError(f"{owner}.{name}={getattr(self, name)!r}: {rule.requirement}")

    def to_dict(self) -> dict[str, Any]:
        return {field.name: _plain(getattr(self, field.name))
                for field in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[ConfigT], data: Mapping[str, Any]) -> ConfigT:
        return config_from_dict(cls, data)


def _plain(value: Any) -> Any:
    """A config value as JSON holds it: tuples (and lists) as lists, mappings as dicts."""
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    return value


@functools.cache
def _rules(cls: type) -> dict[str, Rule]:
    """The rule of each checked field of a config class: its `checked` rule, or its `Literal` values."""
    hints = typing.get_type_hints(cls)
    rules = {}
    for field in dataclasses.fields(cls):
        rule = field.metadata.get("rule") or _choice_rule(hints[field.name])
        if rule is not None:
            rules[field.name] = rule
    return rules


def _choice_rule(hint: Any) -> Rule | None:
    """One of the values of a `Literal[...]` annotation (with `| None`: None too); None for any other."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    allowed: list[Any] = []
    for option in options:
        if typing.get_origin(option) is Literal:
            allowed += typing.get_args(option)
        elif option is type(None):
            allowed.append(None)
        else:
            return None
    if not any(typing.get_origin(option) is Literal for option in options):
        return None
    requirement = (f"must be {allowed[0]!r} or {allowed[1]!r}" if len(allowed) == 2
                   else f"must be one of {tuple(allowed)}")
    return Rule(requirement, lambda value: value in allowed)
