"""pMeta-RL's personalization machinery, written once for its deep agents (the DQN inner learner of
`baselines/pmetarl_dqn.py`, the SAC one of `baselines/pmetarl_sac.py`): the pFedMe-style three levels
of Wang et al. 2022, §IV-C, eqs. 12-14 (docs/sources/pmetarl.md §1.5).

- `add_proximal_gradient`: eq. 12's proximal term, ∇(λ/2)‖θ_i − ϑ_i‖² = λ(θ_i − ϑ_i), added to the
  gradient of the task's own loss on every parameter;
- `auxiliary_step` (eq. 13 as written, ϑ_i ← ϑ_i − ηλ(ϑ_i − θ_i)) and `auxiliary_adam` /
  `adam_auxiliary_step` (an Adam step of size η on (λ/2)‖ϑ_i − θ_i‖², the reading the agents default
  to: `pmetarl_dqn`'s docstring, "The auxiliary step");
- `aggregate`: eq. 14, ϑ ← (1 − β)ϑ + β·mean_i ϑ_i;
- `Transitions` and `SeededReplayBuffer`: each task's own replay D_i on Stable-Baselines3's
  `ReplayBuffer` storage, drawn from the run's `np.random.Generator` (SB3's `sample` draws from the
  global NumPy stream, which a run cannot seed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer

from baselines.common.policies import Params
from baselines.common.sampler import TrajectoryBatch

__all__ = ["SeededReplayBuffer", "Transitions", "adam_auxiliary_step", "add_proximal_gradient", "aggregate",
           "auxiliary_adam", "auxiliary_step"]


def add_proximal_gradient(params: Sequence[torch.Tensor], anchor: Sequence[torch.Tensor], lam: float) -> None:
    """Add ∇(λ/2)‖θ − anchor‖² = λ(θ − anchor) to every parameter's gradient (eq. 12, all parameters)."""
    with torch.no_grad():
        for param in params:
            if param.grad is None:
                param.grad = torch.zeros_like(param)
        torch._foreach_add_([p.grad for p in params], torch._foreach_sub(list(params), list(anchor)), alpha=lam)


def auxiliary_step(auxiliary: Params, personal: Params, rate: float) -> None:
    """Eq. 13 in place: ϑ_i ← ϑ_i − ηλ(ϑ_i − θ_i) = lerp(ϑ_i, θ_i, ηλ), with rate = ηλ."""
    with torch.no_grad():
        torch._foreach_lerp_(list(auxiliary.values()), [personal[k] for k in auxiliary], rate)


def auxiliary_adam(auxiliary: Params, lr: float) -> torch.optim.Adam:
    """A fresh Adam (lr η) on the auxiliary parameters ϑ_i, which it makes leaves that take gradients."""
    for tensor in auxiliary.values():
        tensor.requires_grad_(True)
    return torch.optim.Adam(list(auxiliary.values()), lr=lr, foreach=True)


def adam_auxiliary_step(auxiliary: Params, personal: Params, lam: float, optimizer: torch.optim.Adam) -> None:
    """Eq. 13 read as an Adam step: the gradient of (λ/2)‖ϑ_i − θ_i‖², λ(ϑ_i − θ_i), through `optimizer`
    (made by `auxiliary_adam` on `auxiliary`)."""
    with torch.no_grad():
        for name, tensor in auxiliary.items():
            tensor.grad = lam * (tensor - personal[name])
    optimizer.step()


def aggregate(meta: Params, auxiliaries: Sequence[Params], beta: float) -> Params:
    """Eq. 14: ϑ ← (1 − β) ϑ + β (1/N) Σ_i ϑ_i (uniform weights)."""
    with torch.no_grad():
        return {k: (1.0 - beta) * meta[k] + beta * torch.stack([a[k] for a in auxiliaries]).mean(dim=0) for k in meta}


class Transitions(NamedTuple):
    """Flat arrays of transitions (obs, action, reward, next obs, terminated)."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_observations: np.ndarray
    terminated: np.ndarray

    @classmethod
    def of_batch(cls, batch: TrajectoryBatch, index: int) -> Transitions:
        """Every step of task `index`'s episodes in `batch`, in order; the next observation of an
        episode's last step is its final observation."""
        obs = batch.observations[index]                                          # (E, H, d)
        following = np.concatenate([obs[:, 1:], batch.final_observations[index][:, None]], axis=1)
        last = np.zeros_like(batch.mask[index])
        lengths = batch.mask[index].sum(axis=1)
        last[np.arange(len(lengths))[lengths > 0], lengths[lengths > 0] - 1] = True
        rows = batch.mask[index]
        next_obs = np.where(last[..., None], batch.final_observations[index][:, None], following)
        return cls(obs[rows], batch.actions[index][rows], batch.rewards[index][rows], next_obs[rows],
                   batch.terminated[index][rows])

    @classmethod
    def concatenate(cls, parts: Sequence[Transitions]) -> Transitions:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls._fields))


class SeededReplayBuffer(ReplayBuffer):
    """SB3's `ReplayBuffer` storage (one env, CPU, a FIFO of `buffer_size` transitions) filled from
    `Transitions` and read at slots the caller draws from its own `np.random.Generator`."""

    def __init__(self, buffer_size: int, observation_space: spaces.Space, action_space: spaces.Space):
        super().__init__(buffer_size, observation_space, action_space, device="cpu", n_envs=1,
                         handle_timeout_termination=False)

    def add_transitions(self, transitions: Transitions) -> None:
        """Store transitions (terminated is the done flag: a time-limit truncation bootstraps)."""
        for obs, action, reward, next_obs, terminated in zip(*transitions, strict=True):
            self._store_slot(self.pos)
            self.add(np.asarray(obs)[None], np.asarray(next_obs)[None], np.asarray(action).reshape(1, -1),
                     np.asarray([reward]), np.asarray([float(terminated)]), [{}])

    def _store_slot(self, slot: int) -> None:
        """Called before a transition is written to `slot` (prioritized replay sets its priority)."""

    STATE_FIELDS: ClassVar[tuple[str, ...]] = ("observations", "next_observations", "actions", "rewards", "dones")

    def state(self) -> dict[str, Any]:
        """The filled slots and the write position, as tensors and numbers (a checkpoint is read
        `weights_only`)."""
        filled = self.size()
        return {**{name: torch.from_numpy(getattr(self, name)[:filled].copy()) for name in self.STATE_FIELDS},
                "pos": int(self.pos), "full": bool(self.full)}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore `state()` into a buffer of the same size and spaces."""
        filled = len(state["rewards"])
        if filled > self.buffer_size:
            raise ValueError(f"the saved replay buffer holds {filled} transitions, more than {self.buffer_size}")
        for name in self.STATE_FIELDS:
            getattr(self, name)[:filled] = state[name].numpy()
        self.pos, self.full = int(state["pos"]), bool(state["full"])

    def uniform_slots(self, batch_size: int, rng: np.random.Generator) -> np.ndarray:
        """`batch_size` stored slots drawn uniformly with replacement."""
        return rng.integers(self.size(), size=batch_size)

    def tensors(self, slots: np.ndarray) -> dict[str, torch.Tensor]:
        """The transitions at `slots` as float32 tensors (actions as stored: (B, action_dim))."""
        return {"observations": torch.as_tensor(self.observations[slots, 0], dtype=torch.float32),
                "actions": torch.as_tensor(self.actions[slots, 0], dtype=torch.float32),
                "rewards": torch.as_tensor(self.rewards[slots, 0], dtype=torch.float32),
                "next_observations": torch.as_tensor(self.next_observations[slots, 0], dtype=torch.float32),
                "terminated": torch.as_tensor(self.dones[slots, 0], dtype=torch.float32)}
