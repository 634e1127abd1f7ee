"""What every agent shares, written once: seeding, the meta-training loop, `act`, save and load.

`MetaLearner` is the base of every reference agent (a `ParameterAgent`: the v2 meta-test surface
with one parameter set per task). Its `meta_train` seeds the run's streams
(`seeded_streams`), lets the agent set up its parameters (`_begin_training`), then runs the one loop
(`run_meta_training`) on the harness's `TrainingEnvs` (the train tasks and the envs every training
episode is collected on): each iteration draws a task batch and calls the agent's `meta_train_step`,
which returns a `StepResult`, logged as an `IterationRecord`. When the harness asks for checkpoints
(`TrainingEnvs.checkpoint`, `metarl-bench run --checkpoint-every N`), the loop saves the full training
state every N iterations (`training_state()`: parameters and optimiser states, plus the loop's numpy
stream, the run's torch streams, the curve so far and the step count) and, when it starts and finds
one, resumes from it: the run continues bit for bit as if it had never stopped (the envs are
re-seeded from the numpy stream at every rollout, so they hold no stream of their own).
`act` is one rule for every agent: the
mode when `deterministic`, else a draw that needs `rng` (a missing `rng` is an error, never a silent
greedy action). `get_parameters()` / `set_parameters(state)` (Stable-Baselines3's names) read and
write the agent's learned state, a dict of tensors; `save` writes `config.json` (agent, env id, env
kwargs, config) and `state.pt` (that state, loaded with `weights_only=True`: nothing pickled), and
the benchmark runner stores the same state beside every result.

Two families fill in the policy: `PolicyGradientLearner` here (an MLP policy and the shared sampler)
and `tabular.TabularParameterAgent` (a policy matrix π[s, a] on a tabular env).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, NamedTuple, Protocol

import numpy as np
import torch

from baselines.common.agent import Callback, IterationRecord, ParameterAgent, Phase, TrainingLog
from baselines.common.policies import Params, Policy, build_policy, detach
from baselines.common.sampler import Sampler, TrainingEnvs, policy_sampler, torch_generator, training_envs
from metarl_envs.core import Task

__all__ = ["Checkpoint", "CheckpointError", "MetaLearner", "PersistentAgent", "PolicyGradientLearner", "StepResult",
           "apply", "load_agent", "load_optimiser_state", "load_optimiser_states", "optimiser_state",
           "optimiser_states", "reset_parameters", "run_meta_training", "save_agent", "seed_policy", "seeded_streams"]


def apply(module: torch.nn.Module, params: Mapping[str, torch.Tensor]) -> None:
    """Write `params` into the module's parameters (outer updates of the meta-parameters only)."""
    with torch.no_grad():
        for name, value in module.named_parameters():
            value.copy_(params[name])


def reset_parameters(policy: Policy, generator: torch.Generator) -> None:
    """Re-draw the policy's initial weights from `generator` (PyTorch's default Linear scheme;
    the global torch RNG is never used). Log-stds keep their configured value."""
    with torch.no_grad():
        for module in policy.modules():
            if isinstance(module, torch.nn.Linear):
                bound = 1.0 / module.in_features ** 0.5
                module.weight.uniform_(-bound, bound, generator=generator)
                module.bias.uniform_(-bound, bound, generator=generator)


class StepResult(NamedTuple):
    """What one meta-training iteration reports (the training curve's row, without the clock)."""

    env_steps: int
    pre_adaptation_return: float
    post_adaptation_return: float
    extra: Mapping[str, float]


class Checkpoint(Protocol):
    """Where a training run keeps its state: the harness sets one as `TrainingEnvs.checkpoint`."""

    every: int
    """save after every `every` iterations"""

    def load(self) -> Mapping[str, Any] | None:
        """The state `save` last stored for this run, or None (none, or one that was unusable and set aside)."""

    def save(self, state: Mapping[str, Any]) -> None:
        """Store `state` atomically (tensors, numbers, strings and containers of them)."""


class CheckpointError(ValueError):
    """A checkpoint that loaded but cannot be applied (another agent's, or a damaged one)."""


def run_meta_training(step: Callable[[list[Task], np.random.Generator], StepResult], train_tasks: Sequence[Task],
                      tasks_per_iteration: int | None, *, iterations: int, rng: np.random.Generator,
                      callback: Callback | None, agent: Any = None,
                      generators: Mapping[str, torch.Generator] | None = None) -> TrainingLog:
    """Call `step` on a task batch per iteration and log one `IterationRecord` each. The batch is
    `tasks_per_iteration` tasks drawn from `rng`, without replacement when the set is large enough and
    with replacement otherwise; `None` means every train task, in order (pMeta-RL's rounds).

    Checkpoints (module docstring): with `agent` (whose `training_state()` / `load_training_state()`
    hold everything `step` changes) and a `checkpoint` on `train_tasks`, the run resumes from the
    checkpoint's iteration and saves one every `checkpoint.every` iterations, after `callback`.
    `generators` are the run's torch streams, saved and restored with the rest. A checkpoint that
    cannot be applied raises `CheckpointError` (the agent may then be half-restored: build a new one)."""
    if len(train_tasks) == 0:
        raise ValueError("meta_train: train_tasks is empty")
    checkpoint = getattr(train_tasks, "checkpoint", None) if agent is not None else None
    generators = dict(generators or {})
    log, env_steps, elapsed = TrainingLog(), 0, 0.0
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        log.records, env_steps = _resume(saved, agent, rng, generators, iterations)
        elapsed = log.records[-1].wall_time if log.records else 0.0
    start = time.perf_counter() - elapsed
    for iteration in range(len(log.records), iterations):
        if tasks_per_iteration is None:
            tasks = list(train_tasks)
        else:
            chosen = rng.choice(len(train_tasks), size=tasks_per_iteration,
                                replace=tasks_per_iteration > len(train_tasks))
            tasks = [train_tasks[int(i)] for i in chosen]
        result = step(tasks, rng)
        env_steps += result.env_steps
        record = IterationRecord(iteration, env_steps, time.perf_counter() - start, result.pre_adaptation_return,
                                 result.post_adaptation_return, dict(result.extra))
        log.records.append(record)
        if callback is not None and callback(record):
            break
        if checkpoint is not None and (iteration + 1) % checkpoint.every == 0:
            checkpoint.save({"agent": agent.training_state(), "rng": rng.bit_generator.state,
                             "generators": {name: g.get_state() for name, g in generators.items()},
                             "records": [r.to_dict() for r in log.records], "env_steps": env_steps})
    return log


def _resume(saved: Mapping[str, Any], agent: Any, rng: np.random.Generator, generators: Mapping[str, torch.Generator],
            iterations: int) -> tuple[list[IterationRecord], int]:
    """Apply a checkpoint to the agent and the streams; returns (the curve so far, the env steps)."""
    try:
        records = [IterationRecord(**record) for record in saved["records"]]
        if len(records) > iterations or [r.iteration for r in records] != list(range(len(records))):
            raise ValueError(f"it holds iterations {[r.iteration for r in records][:3]}..., not 0..n-1 of {iterations}")
        if set(saved["generators"]) != set(generators):
            raise ValueError(f"its torch streams {sorted(saved['generators'])} are not this run's {sorted(generators)}")
        agent.load_training_state(saved["agent"])
        rng.bit_generator.state = saved["rng"]
        for name, generator in generators.items():
            generator.set_state(saved["generators"][name])
        return records, int(saved["env_steps"])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
        raise CheckpointError(f"the checkpoint cannot be applied to this run: {type(error).__name__}: "
                              f"{error}") from error


def optimiser_state(optimiser: torch.optim.Optimizer) -> dict[str, Any]:
    """A copy of `optimiser.state_dict()`: its tensors (Adam's moments and step count) are the ones the
    optimiser updates in place, so a state kept without copying would move on with training."""
    return copy.deepcopy(optimiser.state_dict())


def load_optimiser_state(optimiser: torch.optim.Optimizer, state: Mapping[str, Any]) -> None:
    """Load a copy of `state` into `optimiser`: `load_state_dict` keeps the tensors it is given, so two
    optimisers loaded from one state would share, and both advance, the same moments."""
    optimiser.load_state_dict(copy.deepcopy(state))


def optimiser_states(owner: Any) -> dict[str, Any]:
    """Every `torch.optim.Optimizer` attribute of `owner`, by attribute name: its `optimiser_state` and the
    values of the tensors it optimises (which may be the agent's own, such as a tabular agent's logits)."""
    return {name: {"state": optimiser_state(value),
                   "params": [p.detach().clone() for group in value.param_groups for p in group["params"]]}
            for name, value in sorted(vars(owner).items()) if isinstance(value, torch.optim.Optimizer)}


def load_optimiser_states(owner: Any, states: Mapping[str, Any]) -> None:
    """Restore what `optimiser_states` saved into the optimisers `owner` holds now (same names and shapes)."""
    mine = {name: value for name, value in vars(owner).items() if isinstance(value, torch.optim.Optimizer)}
    if set(mine) != set(states):
        raise ValueError(f"optimisers {sorted(states)} saved, the agent holds {sorted(mine)}")
    for name, optimiser in mine.items():
        params = [p for group in optimiser.param_groups for p in group["params"]]
        saved = states[name]["params"]
        if len(saved) != len(params) or any(a.shape != b.shape for a, b in zip(saved, params, strict=True)):
            raise ValueError(f"optimiser {name}: the saved tensors do not match the agent's in number or shape")
        with torch.no_grad():
            for param, value in zip(params, saved, strict=True):
                param.copy_(value)
        load_optimiser_state(optimiser, states[name]["state"])


class PersistentAgent:
    """`save` / `load` for an agent built as `Class(env_id, config, env_kwargs)` whose learned state is
    `get_parameters()` (a dict of tensors, and dicts of them) and `set_parameters(state)`."""

    name: ClassVar[str]
    config_class: ClassVar[type]
    resumable: ClassVar[bool] = False
    """True when `training_state()` holds everything a meta-training iteration changes, so a run
    resumed from a checkpoint equals an uninterrupted one (each such agent is tested for it); the
    harness checkpoints only these"""

    def get_parameters(self) -> dict[str, Any]:
        """The agent's learned state as tensors (and dicts, lists and numbers holding them)."""
        raise NotImplementedError

    def set_parameters(self, state: Mapping[str, Any]) -> None:
        """Load a state `get_parameters` returned (the agent built with the same config and env)."""
        raise NotImplementedError

    def training_state(self) -> dict[str, Any]:
        """Everything a meta-training iteration changes, for a checkpoint: the parameters and the state
        of every optimiser the agent holds (an agent with more extends it)."""
        return {"parameters": self.get_parameters(), "optimisers": optimiser_states(self)}

    def load_training_state(self, state: Mapping[str, Any]) -> None:
        """Restore `training_state()` into an agent set up for the same run (`meta_train`'s set-up done)."""
        self.set_parameters(state["parameters"])
        load_optimiser_states(self, state["optimisers"])

    def save(self, path: str | Path) -> None:
        save_agent(self, path)

    @classmethod
    def load(cls, path: str | Path) -> Any:
        return load_agent(cls, path)


class MetaLearner(ParameterAgent, PersistentAgent):
    """The base of every reference agent (see the module docstring). A subclass sets `name` and
    `config_class` and writes `_begin_training`, `meta_train_step`, `meta_params`, `episode_policy`,
    `adapt_round`, `_mode`, `_sample`, `_state` and `_load_state`."""

    def __init__(self, env_id: str, config: Any = None, env_kwargs: Mapping[str, Any] | None = None):
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__}: config must be a {self.config_class.__name__}, "
                            f"got {type(config).__name__}")
        self.env_id, self.config, self.env_kwargs = env_id, config, dict(env_kwargs or {})

    # ----- meta-training ---------------------------------------------------------------------
    @property
    def tasks_per_iteration(self) -> int | None:
        """Tasks per meta-iteration (the config's), or None for every train task in order."""
        return self.config.tasks_per_iteration

    def meta_train(self, train_tasks: Sequence[Task], *, iterations: int, seed: int,
                   callback: Callback | None = None) -> TrainingLog:
        if len(train_tasks) == 0:
            raise ValueError(f"{type(self).__name__}.meta_train: train_tasks is empty")
        envs = training_envs(train_tasks, self.env_id, self.env_kwargs)
        rng, generator = seeded_streams(seed)
        self._begin_training(envs, generator)
        return run_meta_training(self.meta_train_step, envs, self.tasks_per_iteration, iterations=iterations,
                                 rng=rng, callback=callback, agent=self, generators={"init": generator})

    def _begin_training(self, train_tasks: TrainingEnvs, generator: torch.Generator) -> None:
        """Set up a run: collect on the harness's `train_tasks` envs, initial weights from `generator`,
        fresh optimisers."""
        raise NotImplementedError

    def meta_train_step(self, tasks: list[Task], rng: np.random.Generator) -> StepResult:
        raise NotImplementedError

    # ----- acting ----------------------------------------------------------------------------
    def act(self, obs: np.ndarray, params: Any, *, deterministic: bool = False,
            rng: np.random.Generator | None = None) -> np.ndarray:
        """Actions for a batch of observations under `params`: the mode, or a draw from `rng`."""
        if deterministic:
            return self._mode(obs, params)
        if rng is None:
            raise ValueError(f"{type(self).__name__}.act: a stochastic action needs rng (an np.random.Generator)")
        return self._sample(obs, params, rng)

    def _mode(self, obs: np.ndarray, params: Any) -> np.ndarray:
        raise NotImplementedError

    def _sample(self, obs: np.ndarray, params: Any, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    # ----- parameters (save / load are `PersistentAgent`'s) ------------------------------------
    def get_parameters(self) -> dict[str, Any]:
        return self._state()

    def set_parameters(self, state: Mapping[str, Any]) -> None:
        self._load_state(state)

    def _state(self) -> dict[str, Any]:
        """The agent's learned state as tensors (and dicts of them)."""
        raise NotImplementedError

    def _load_state(self, state: Mapping[str, Any]) -> None:
        raise NotImplementedError


def save_agent(agent: Any, path: str | Path) -> None:
    """`config.json` (agent name, env id, env kwargs, config) and `state.pt` (`agent.get_parameters()`)."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    document = {"agent": agent.name, "env_id": agent.env_id, "env_kwargs": dict(agent.env_kwargs),
                "config": agent.config.to_dict()}
    (folder / "config.json").write_text(json.dumps(document, indent=1) + "\n")
    torch.save(dict(agent.get_parameters()), folder / "state.pt")


def load_agent(cls: Any, path: str | Path) -> Any:
    """A new `cls` agent built from the saved config and env, its saved state (loaded weights_only) set."""
    folder = Path(path)
    document = json.loads((folder / "config.json").read_text())
    if document.get("agent") != cls.name:
        raise ValueError(f"{cls.__name__}.load: {folder} holds a {document.get('agent')!r} agent, not {cls.name!r}")
    agent = cls(document["env_id"], cls.config_class.from_dict(document["config"]), document["env_kwargs"])
    agent.set_parameters(torch.load(folder / "state.pt", weights_only=True))
    return agent


class PolicyGradientLearner(MetaLearner):
    """An MLP policy (`policies.build_policy`, from the config's hidden_sizes, activation and, where the
    config has them, init_std, obs_scale, action_scale) whose weights are the meta-parameters, and the
    shared sampler on the agent's env. One Adam optimiser per training run, made at its first use."""

    _POLICY_FIELDS = ("init_std", "obs_scale", "action_scale")

    def __init__(self, env_id: str, config: Any = None, env_kwargs: Mapping[str, Any] | None = None):
        super().__init__(env_id, config, env_kwargs)
        self.sampler = Sampler(env_id, self.env_kwargs)
        options = {name: getattr(self.config, name) for name in self._POLICY_FIELDS if hasattr(self.config, name)}
        self.policy = build_policy(self.sampler.observation_space, self.sampler.action_space,
                                   hidden_sizes=self.config.hidden_sizes, activation=self.config.activation, **options)
        self._adam: torch.optim.Adam | None = None

    def _begin_training(self, train_tasks: TrainingEnvs, generator: torch.Generator) -> None:
        self.sampler = train_tasks
        reset_parameters(self.policy, generator)
        self._adam = None

    def load_training_state(self, state: Mapping[str, Any]) -> None:
        if "_adam" in state["optimisers"]:
            self.adam()  # made at its first use: make it now, to load its state
        super().load_training_state(state)

    def adam(self) -> torch.optim.Adam:
        """The run's Adam optimiser on the policy's weights (lr = config.outer_lr)."""
        if self._adam is None:
            self._adam = torch.optim.Adam(self.policy.parameters(), lr=self.config.outer_lr)
        return self._adam

    def meta_params(self) -> Params:
        return detach(self.policy.meta_params())

    def _mode(self, obs: np.ndarray, params: Params | Sequence[Params]) -> np.ndarray:
        with torch.no_grad():
            return self.policy.mode(params, torch.as_tensor(np.asarray(obs, dtype=np.float32))).numpy()

    def _sample(self, obs: np.ndarray, params: Params | Sequence[Params], rng: np.random.Generator) -> np.ndarray:
        """A draw from the policy (unclipped: the sampler clips Box actions)."""
        with torch.no_grad():
            obs_tensor = torch.as_tensor(np.asarray(obs, dtype=np.float32))
            return self.policy.sample(params, obs_tensor, torch_generator(rng)).numpy()

    def episode_policy(self, params: Sequence[Params], phase: Phase,
                       rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        """Meta-test actions, task i under `params[i]`: an adaptation round samples like `Sampler.collect`
        (one torch stream for the batch), evaluation episodes like `act` (one torch stream per step)."""
        if phase == "adapt":
            return policy_sampler(self.policy, list(params), rng)
        return lambda obs: self._sample(obs, list(params), rng)

    def _state(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict()}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])


def seeded_streams(seed: int) -> tuple[np.random.Generator, torch.Generator]:
    """The numpy and torch streams of a training run, spawned from one seed: the numpy stream draws
    task batches and (through the sampler) actions and env resets, the torch one initial weights."""
    numpy_seed, torch_seed = np.random.SeedSequence(seed).spawn(2)
    generator = torch.Generator().manual_seed(int(torch_seed.generate_state(1, np.uint64)[0] >> np.uint64(1)))
    return np.random.default_rng(numpy_seed), generator


def seed_policy(policy: Policy, seed: int) -> np.random.Generator:
    """Re-draw the policy's weights from the run's torch stream; returns its numpy stream."""
    rng, generator = seeded_streams(seed)
    reset_parameters(policy, generator)
    return rng
