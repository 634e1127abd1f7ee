"""RL²: fast reinforcement learning via slow reinforcement learning (Duan et al. 2016), the
context-based reference agent.

A recurrent policy reads (o_t, a_{t−1}, r_{t−1}, d_{t−1}) and keeps its hidden state across the
episodes of a trial on one task; learning a task happens in the hidden state, with no gradient step
at meta-test. The outer loop is PPO on whole trials (Duan et al. used TRPO; PPO is what later RL²
baselines, e.g. Metaworld's and VariBAD's, run).

    for each iteration:
        sample tasks; per task `trials_per_task` trials of `episodes_per_trial` episodes, the hidden
        state carried from episode to episode (reset only between trials)
        GAE(γ, λ) over each trial as one stream (rewards of later episodes credit earlier actions)
        `ppo_epochs` epochs of the clipped surrogate + value loss, each over `minibatches` random
        minibatches of whole trials (BPTT over each trial)

At meta-test each (task, parallel episode) sub-env is one trial: `observe` feeds every step into the
hidden state, which carries across the adaptation rounds; R_k is episode k + 1 of the trial. What the
evaluation episodes add to the state is dropped before the next round (they are scored, not learned
from). Box actions only (Gaussian head, learned state-independent log-std).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from baselines.common import training
from baselines.common.agent import (
    COUNT,
    FINITE_POSITIVE,
    NON_NEGATIVE,
    POSITIVE,
    AgentConfig,
    Callback,
    Phase,
    TrainingLog,
    checked,
    interval,
)
from baselines.common.sampler import Sampler, TrajectoryBatch, Transition, torch_generator, training_envs
from metarl_envs.core import Task

__all__ = ["RL2", "RL2Config", "RecurrentPolicy"]


@dataclasses.dataclass(frozen=True)
class RL2Config(AgentConfig):
    hidden_size: int = checked(64, COUNT)
    """GRU width"""
    tasks_per_iteration: int = checked(20, COUNT)
    trials_per_task: int = checked(10, COUNT)
    """parallel trials (sub-envs) per task per iteration"""
    episodes_per_trial: int = checked(4, COUNT)
    """episodes a trial lasts in meta-training (the hidden state carries across them)"""
    learning_rate: float = checked(3e-4, POSITIVE)
    ppo_epochs: int = checked(4, COUNT)
    clip: float = checked(0.2, POSITIVE)
    value_coefficient: float = checked(0.5, NON_NEGATIVE)
    discount: float = checked(0.99, interval("(0, 1]"))
    gae_lambda: float = checked(0.95, interval("[0, 1]"))
    init_std: float = checked(1.0, POSITIVE)
    minibatches: int = checked(1, COUNT)
    """PPO minibatches per epoch, drawn as whole trials (lanes) so that BPTT runs over whole trials"""
    action_scale: float = checked(1.0, FINITE_POSITIVE)
    """the Gaussian lives in a space `1/action_scale` times wider than the env's box and is mapped linearly
    onto it (rllab's `normalize`, as `GaussianMLPPolicy.action_scale` does for the MLP agents)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.minibatches > self.tasks_per_iteration * self.trials_per_task:
            raise ValueError(f"RL2Config.minibatches={self.minibatches}: more than the "
                             f"{self.tasks_per_iteration * self.trials_per_task} trials of an iteration")


class RecurrentPolicy(nn.Module):
    """GRU over (obs, previous action, previous reward, previous done) → Gaussian mean and a value."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: int, init_std: float, action_scale: float = 1.0):
        super().__init__()
        self.action_scale = float(action_scale)
        self.cell = nn.GRUCell(obs_dim + act_dim + 2, hidden)
        self.mean, self.value = nn.Linear(hidden, act_dim), nn.Linear(hidden, 1)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(np.log(init_std))))

    def step(self, inputs: torch.Tensor, hidden: torch.Tensor, alive: torch.Tensor) -> torch.Tensor:
        """The next hidden state; lanes whose episode has ended keep theirs."""
        return torch.where(alive[:, None], self.cell(inputs, hidden), hidden)

    def dist(self, hidden: torch.Tensor) -> torch.distributions.Normal:
        # ×1.0 is exact, so the unscaled policy's numbers are those it had before the scale existed
        return torch.distributions.Normal(self.mean(hidden) * self.action_scale, self.log_std.exp() * self.action_scale)


class _Lanes:
    """Per-lane context: hidden state and the previous action, reward and done flag, lanes (n, ...)."""

    def __init__(self, n: int, hidden: int, act_dim: int):
        self.hidden = torch.zeros(n, hidden)
        self.action, self.reward = torch.zeros(n, act_dim), torch.zeros(n, 1)
        self.done, self.alive = torch.ones(n, 1), torch.ones(n, dtype=torch.bool)

    def inputs(self, obs: np.ndarray) -> torch.Tensor:
        return torch.cat([torch.as_tensor(obs, dtype=torch.float32), self.action, self.reward, self.done], dim=1)

    def new_episode(self) -> None:
        self.done, self.alive = torch.ones_like(self.done), torch.ones_like(self.alive)

    def record(self, transition: Transition) -> None:
        alive = torch.as_tensor(transition.alive.reshape(-1))
        act = torch.as_tensor(transition.actions.reshape(len(alive), -1), dtype=torch.float32)
        self.action = torch.where(alive[:, None], act, self.action)
        self.reward = torch.where(alive[:, None], torch.as_tensor(transition.rewards.reshape(-1, 1),
                                                                  dtype=torch.float32), self.reward)
        ended = (transition.terminated | transition.truncated).reshape(-1, 1)
        self.done = torch.where(alive[:, None], torch.as_tensor(ended, dtype=torch.float32), self.done)
        self.alive = alive & ~torch.as_tensor(ended.reshape(-1))


def _copy(lanes: _Lanes) -> _Lanes:
    out = object.__new__(_Lanes)
    out.__dict__.update({k: v.clone() for k, v in lanes.__dict__.items()})
    return out


class RL2(training.PersistentAgent):
    name = "rl2"
    resumable = True
    config_class = RL2Config
    privileged = False

    def __init__(self, env_id: str, config: RL2Config | None = None, env_kwargs: Mapping[str, Any] | None = None):
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        self.config = config or RL2Config()
        self.sampler = Sampler(env_id, self.env_kwargs)
        if not isinstance(self.sampler.action_space, spaces.Box):
            raise TypeError(f"RL2: needs a Box action space, {env_id} has {self.sampler.action_space}")
        self.obs_dim = int(np.prod(self.sampler.observation_space.shape))
        self.act_dim = int(np.prod(self.sampler.action_space.shape))
        self.policy = RecurrentPolicy(self.obs_dim, self.act_dim, self.config.hidden_size, self.config.init_std,
                                      self.config.action_scale)

    # ----- meta-training: PPO on trials ------------------------------------------------------
    def meta_train(self, train_tasks: Sequence[Task], *, iterations: int, seed: int,
                   callback: Callback | None = None) -> TrainingLog:
        envs = training_envs(train_tasks, self.env_id, self.env_kwargs)
        rng = training.seed_policy(self.policy, seed)  # the linear heads
        generator, bound = torch_generator(rng), self.config.hidden_size ** -0.5
        with torch.no_grad():  # the GRU, as PyTorch initialises it, from the seeded stream
            for parameter in self.policy.cell.parameters():
                parameter.uniform_(-bound, bound, generator=generator)
        self._optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.config.learning_rate)

        def step(tasks: list[Task], rng: np.random.Generator) -> training.StepResult:  # one PPO update on trials
            trial = self._trial(envs, tasks, rng)
            info = self._ppo(trial, self._optimizer, rng)
            returns = trial["episode_returns"]
            return training.StepResult(int(trial["mask"].sum()), float(returns[:, 0].mean()),
                                       float(returns[:, -1].mean()), info)

        return training.run_meta_training(step, envs, self.config.tasks_per_iteration, iterations=iterations,
                                          rng=rng, callback=callback, agent=self, generators={"init": generator})

    def _trial(self, envs: Any, tasks: list[Task], rng: np.random.Generator) -> dict[str, Any]:
        """`episodes_per_trial` episodes per lane, the context carried: inputs, actions, rewards, masks (lane, t)."""
        cfg = self.config
        lanes = _Lanes(len(tasks) * cfg.trials_per_task, cfg.hidden_size, self.act_dim)
        inputs, actions, rewards, masks, episode_returns = [], [], [], [], []
        generator = torch_generator(rng)

        def act(obs: np.ndarray) -> np.ndarray:
            x = lanes.inputs(obs.reshape(len(lanes.hidden), -1))
            with torch.no_grad():
                lanes.hidden = self.policy.step(x, lanes.hidden, lanes.alive)
                sample = _sample(self.policy.dist(lanes.hidden), generator)
            inputs.append(x)
            actions.append(sample)
            return sample.numpy().reshape(obs.shape[0], obs.shape[1], -1)

        def observe(transition: Transition) -> None:
            rewards.append(torch.as_tensor(transition.rewards.reshape(-1), dtype=torch.float32))
            masks.append(torch.as_tensor(transition.alive.reshape(-1)))
            lanes.record(transition)

        for _ in range(cfg.episodes_per_trial):
            lanes.new_episode()
            batch = envs.rollout(tasks, cfg.trials_per_task, act, rng, observe)
            episode_returns.append(batch.episode_returns().reshape(-1))
        return {"inputs": torch.stack(inputs, 1), "actions": torch.stack(actions, 1),
                "rewards": torch.stack(rewards, 1), "mask": torch.stack(masks, 1),
                "episode_returns": np.stack(episode_returns, 1)}

    def _ppo(self, trial: dict[str, Any], optimizer: torch.optim.Optimizer,
             rng: np.random.Generator) -> dict[str, float]:
        cfg, mask = self.config, trial["mask"].float()
        with torch.no_grad():
            old_log_prob, values = self._evaluate(trial)
        advantages, targets = _gae(trial["rewards"] * mask, values * mask, mask, cfg.discount, cfg.gae_lambda)
        normalized = (advantages - advantages[mask.bool()].mean()) / (advantages[mask.bool()].std() + 1e-8)
        for _ in range(cfg.ppo_epochs):
            # one minibatch is the whole batch, unshuffled, and draws nothing from the stream
            order = [None] if cfg.minibatches == 1 else np.array_split(rng.permutation(len(mask)), cfg.minibatches)
            for lanes in order:
                log_prob, value = self._evaluate(trial, lanes)
                live, advantage = _rows(mask, lanes), _rows(normalized, lanes)
                ratio = (log_prob - _rows(old_log_prob, lanes)).exp()
                surrogate = torch.min(ratio * advantage, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * advantage)
                loss = -(surrogate * live).sum() / live.sum() + cfg.value_coefficient * (
                    ((value - _rows(targets, lanes)) ** 2) * live).sum() / live.sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        return {"ppo_loss": float(loss.detach())}

    def _evaluate(self, trial: dict[str, Any],
                  lanes: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probabilities and values of the trial's actions (of the given lanes, or all), the GRU re-run
        over each trial (BPTT)."""
        inputs, actions, mask = (_rows(trial[key], lanes) for key in ("inputs", "actions", "mask"))
        hidden = torch.zeros(inputs.shape[0], self.config.hidden_size)
        log_probs, values = [], []
        for t in range(inputs.shape[1]):
            hidden = self.policy.step(inputs[:, t], hidden, mask[:, t])
            log_probs.append(self.policy.dist(hidden).log_prob(actions[:, t]).sum(-1))
            values.append(self.policy.value(hidden).squeeze(-1))
        return torch.stack(log_probs, 1), torch.stack(values, 1)

    # ----- meta-test: a context agent ---------------------------------------------------------
    def start_trial(self, num_tasks: int) -> None:
        self._tasks, self._lanes, self._saved = num_tasks, None, None

    def begin_episodes(self, phase: Phase, rng: np.random.Generator) -> None:
        if self._saved is not None:  # drop what the evaluation episodes added to the context
            self._lanes, self._saved = self._saved[0], None
        self._generator = torch_generator(rng)
        if phase == "evaluate":
            self._saved = (None if self._lanes is None else _copy(self._lanes),)
        if self._lanes is not None:
            self._lanes.new_episode()

    def actions(self, observations: np.ndarray) -> np.ndarray:
        tasks, lanes_per_task = observations.shape[:2]
        n = tasks * lanes_per_task
        if self._lanes is None or len(self._lanes.hidden) < n:
            self._lanes = _grow(self._lanes, self._tasks, lanes_per_task, self.config.hidden_size, self.act_dim)
            self._lanes.new_episode()
        lanes = _view(self._lanes, self._tasks, lanes_per_task)
        x = lanes.inputs(observations.reshape(n, -1))
        with torch.no_grad():
            lanes.hidden = self.policy.step(x, lanes.hidden, lanes.alive)
            sample = _sample(self.policy.dist(lanes.hidden), self._generator)
        _store(self._lanes, lanes, self._tasks, lanes_per_task)
        self._active = lanes_per_task
        return sample.numpy().reshape(tasks, lanes_per_task, -1)

    def observe(self, transition: Transition) -> None:
        lanes = _view(self._lanes, self._tasks, self._active)
        lanes.record(transition)
        _store(self._lanes, lanes, self._tasks, self._active)

    def end_round(self, rollouts: TrajectoryBatch) -> None:
        return None  # the adaptation lives in the hidden state

    def get_parameters(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict()}

    def set_parameters(self, state: Mapping[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])


def _sample(dist: torch.distributions.Normal, generator: torch.Generator) -> torch.Tensor:
    return dist.mean + dist.stddev * torch.randn(dist.mean.shape, generator=generator)


def _rows(x: torch.Tensor, lanes: np.ndarray | None) -> torch.Tensor:
    """The given lanes' rows of a (lane, ...) tensor; all of them, as they are, for None."""
    return x if lanes is None else x[torch.as_tensor(lanes)]


def _gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, discount: float,
         lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE over each lane's trial as one stream of its live steps (0 after the trial's last step)."""
    advantages = torch.zeros_like(rewards)
    running, next_value = torch.zeros(rewards.shape[0]), torch.zeros(rewards.shape[0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        live = mask[:, t]
        delta = rewards[:, t] + discount * next_value - values[:, t]
        running = torch.where(live.bool(), delta + discount * lam * running, running)
        next_value = torch.where(live.bool(), values[:, t], next_value)
        advantages[:, t] = running * live
    return advantages, advantages + values


def _grow(lanes: _Lanes | None, tasks: int, per_task: int, hidden: int, act_dim: int) -> _Lanes:
    """Lanes (task, lane) for `per_task` lanes per task, keeping the ones that exist (new lanes start fresh)."""
    grown = _Lanes(tasks * per_task, hidden, act_dim)
    if lanes is not None:
        old = len(lanes.hidden) // tasks
        for name, value in lanes.__dict__.items():
            target = getattr(grown, name).reshape(tasks, per_task, *value.shape[1:])
            target[:, :old] = value.reshape(tasks, old, *value.shape[1:])
    return grown


def _view(lanes: _Lanes, tasks: int, per_task: int) -> _Lanes:
    """The first `per_task` lanes of every task, flattened (a copy)."""
    total = len(lanes.hidden) // tasks
    out = object.__new__(_Lanes)
    out.__dict__.update({k: v.reshape(tasks, total, *v.shape[1:])[:, :per_task]
                         .reshape(tasks * per_task, *v.shape[1:]).clone() for k, v in lanes.__dict__.items()})
    return out


def _store(lanes: _Lanes, view: _Lanes, tasks: int, per_task: int) -> None:
    total = len(lanes.hidden) // tasks
    for name, value in view.__dict__.items():
        target = getattr(lanes, name).reshape(tasks, total, *value.shape[1:])
        target[:, :per_task] = value.reshape(tasks, per_task, *value.shape[1:])
