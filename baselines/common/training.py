"""What every agent's training shares: seeding, the one meta-training loop, `act`, save and load."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines.common.agent import Callback, IterationRecord, TrainingLog
from baselines.common.policies import Params, Policy, build_policy
from baselines.common.sampler import Sampler, policy_sampler, torch_generator
from metarl_envs.core import Task


def apply(module: torch.nn.Module, params: Mapping[str, torch.Tensor]) -> None:
    """Write `params` into the module's parameters (outer updates of the meta-parameters only)."""
    with torch.no_grad():
        for name, value in module.named_parameters():
            value.copy_(params[name])


def reset_parameters(policy: Policy, generator: torch.Generator) -> None:
    """Re-draw the policy's initial weights from `generator` (PyTorch's default Linear scheme;
    the global torch RNG is never used: STYLE R5). Log-stds keep their configured value."""
    with torch.no_grad():
        for module in policy.modules():
            if isinstance(module, torch.nn.Linear):
                bound = 1.0 / module.in_features ** 0.5
                module.weight.uniform_(-bound, bound, generator=generator)
                module.bias.uniform_(-bound, bound, generator=generator)


# --------------------------------------------------------------------------------------------
# Plumbing every policy-gradient agent shares (seeding, the training loop, act, save/load)
# --------------------------------------------------------------------------------------------
StepResult = tuple[int, float, float, dict[str, float]]
"""(env steps, pre-adaptation return, post-adaptation return, extra diagnostics)"""


def run_meta_training(step: Callable[[list[Task], np.random.Generator], StepResult], train_tasks: Sequence[Task],
                      tasks_per_iteration: int, *, iterations: int, rng: np.random.Generator,
                      callback: Callback | None) -> TrainingLog:
    """Call `step` on a fresh task batch per iteration (drawn without replacement when the set
    is large enough, with replacement otherwise) and log one `IterationRecord` each."""
    if len(train_tasks) == 0:
        raise ValueError("meta_train: train_tasks is empty")
    log, env_steps, start = TrainingLog(), 0, time.perf_counter()
    replace = tasks_per_iteration > len(train_tasks)
    for iteration in range(iterations):
        chosen = rng.choice(len(train_tasks), size=tasks_per_iteration, replace=replace)
        steps, pre, post, extra = step([train_tasks[int(i)] for i in chosen], rng)
        env_steps += steps
        record = IterationRecord(iteration, env_steps, time.perf_counter() - start, pre, post, extra)
        log.records.append(record)
        if callback is not None and callback(record):
            break
    return log


def act(policy: Policy, obs: np.ndarray, params: Params, *, deterministic: bool,
        rng: np.random.Generator | None) -> np.ndarray:
    """Actions for a batch of observations (unclipped: the sampler clips Box actions)."""
    with torch.no_grad():
        obs_tensor = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        if deterministic:
            return policy.mode(params, obs_tensor).numpy()
        if rng is None:
            raise ValueError("act: a stochastic action needs rng (an np.random.Generator)")
        return policy.sample(params, obs_tensor, torch_generator(rng)).numpy()


def episode_policy(policy: Policy, params: Sequence[Params], phase: str,
                   rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """The meta-test action function of a parameter-per-task policy agent (`ParameterAgent`): an
    adaptation round samples like `Sampler.collect` (one torch stream for the batch), evaluation
    episodes like `act` (one torch stream per step), so R_k repeats the pre-v2 evaluator's bit for bit."""
    if phase == "adapt":
        return policy_sampler(policy, list(params), rng)
    return lambda obs: act(policy, obs, list(params), deterministic=False, rng=rng)


def save_agent(agent: Any, path: str | Path) -> None:
    """`config.json` (agent name, env id, env kwargs, config) plus the policy's `state_dict`."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    document = {"agent": agent.name, "env_id": agent.env_id, "env_kwargs": dict(agent.env_kwargs),
                "config": agent.config.to_dict()}
    (folder / "config.json").write_text(json.dumps(document, indent=1) + "\n")
    torch.save(agent.policy.state_dict(), folder / "policy.pt")


def load_agent(cls: type, path: str | Path) -> Any:
    folder = Path(path)
    document = json.loads((folder / "config.json").read_text())
    if document.get("agent") != cls.name:
        raise ValueError(f"{cls.__name__}.load: {folder} holds a {document.get('agent')!r} agent, not {cls.name!r}")
    agent = cls(document["env_id"], cls.config_class.from_dict(document["config"]), document["env_kwargs"])
    agent.policy.load_state_dict(torch.load(folder / "policy.pt", weights_only=True))
    return agent


def sampler_and_policy(env_id: str, env_kwargs: Mapping[str, Any], config: Any) -> tuple[Sampler, Policy]:
    """The sampler on the agent's env and the policy its config describes (hidden_sizes, activation,
    init_std, action_scale): what the MAML and SG-MRL constructors share."""
    sampler = Sampler(env_id, env_kwargs)
    policy = build_policy(sampler.observation_space, sampler.action_space, hidden_sizes=config.hidden_sizes,
                          activation=config.activation, init_std=config.init_std, action_scale=config.action_scale)
    return sampler, policy


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
