"""Exact oracles on a tabular env's model: optimal value J*(task) and a policy's value J(π; task).

The model is the active task's `transition_matrix` P[s, a, s'], `reward_matrix` R[s, a, s'],
`initial_distribution` μ[s] and `terminal_mask` (terminal states are absorbing and pay nothing
more). Two objectives, because the seed papers use both:

- finite horizon H (the meta-test's scored return: Σ_{t<H} γ^t r_t, γ = 1 by default), solved by
  backward induction — the optimal policy is then time-dependent;
- infinite-horizon discounted (γ < 1; BO-MRL's FrozenLake objective), solved by value iteration
  to a tolerance, and exact policy evaluation by a linear solve.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["TabularModel", "optimal_return", "optimal_values", "policy_return", "policy_values"]


@dataclasses.dataclass(frozen=True)
class TabularModel:
    transition: np.ndarray
    """P[s, a, s'], rows sum to one"""
    reward: np.ndarray
    """R[s, a, s']"""
    initial: np.ndarray
    """μ[s]"""
    terminal: np.ndarray
    """bool[s]: entering ends the episode; no reward is collected from a terminal state"""

    def __post_init__(self) -> None:
        n_states, _, n_next = self.transition.shape
        if n_next != n_states or self.reward.shape != self.transition.shape:
            raise ValueError(f"TabularModel: transition {self.transition.shape} and reward "
                             f"{self.reward.shape} must both be (S, A, S)")
        if self.initial.shape != (n_states,) or self.terminal.shape != (n_states,):
            raise ValueError("TabularModel: initial and terminal must have shape (S,)")
        if not np.allclose(self.transition.sum(axis=2), 1.0):
            raise ValueError("TabularModel.transition: rows must sum to one")

    @classmethod
    def from_env(cls, env: Any) -> TabularModel:
        """The model of the active task of a tabular env (wrapped or not)."""
        env = getattr(env, "unwrapped", env)
        return cls(np.asarray(env.transition_matrix, dtype=np.float64),
                   np.asarray(env.reward_matrix, dtype=np.float64),
                   np.asarray(env.initial_distribution, dtype=np.float64),
                   np.asarray(env.terminal_mask, dtype=bool))

    @property
    def expected_reward(self) -> np.ndarray:
        """r[s, a] = Σ_s' P[s, a, s'] R[s, a, s'], zero from terminal states."""
        r = np.einsum("ijk,ijk->ij", self.transition, self.reward)
        return np.where(self.terminal[:, None], 0.0, r)

    @property
    def live_transition(self) -> np.ndarray:
        """P with terminal rows zeroed: value stops flowing once the episode has ended."""
        return np.where(self.terminal[:, None, None], 0.0, self.transition)


def optimal_values(model: TabularModel, discount: float, horizon: int | None = None,
                   tolerance: float = 1e-10, max_iterations: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """(V*[s], greedy π*[s, a]). With `horizon`, V* is the H-step value and π* the first step's
    (backward induction); without, the discounted fixed point and its stationary greedy policy."""
    if horizon is None and not discount < 1.0:
        raise ValueError("optimal_values: an infinite horizon needs discount < 1")
    r, p = model.expected_reward, model.live_transition
    values = np.zeros(r.shape[0])
    for _ in range(horizon if horizon is not None else max_iterations):
        q = r + discount * p @ values
        values, previous = q.max(axis=1), values
        if horizon is None and np.max(np.abs(values - previous)) < tolerance:
            break
    else:
        if horizon is None:
            raise RuntimeError(f"value iteration did not converge in {max_iterations} iterations")
    greedy = np.zeros_like(q)
    greedy[np.arange(q.shape[0]), q.argmax(axis=1)] = 1.0
    return values, greedy


def optimal_return(model: TabularModel, discount: float = 1.0, horizon: int | None = None) -> float:
    """J* = Σ_s μ[s] V*[s]."""
    values, _ = optimal_values(model, discount, horizon)
    return float(model.initial @ values)


def policy_values(model: TabularModel, policy: np.ndarray, discount: float,
                  horizon: int | None = None) -> np.ndarray:
    """V^π[s] of a stationary policy π[s, a]: H-step sums, or the discounted fixed point."""
    if policy.shape != model.expected_reward.shape:
        raise ValueError(f"policy_values: policy has shape {policy.shape}, expected {model.expected_reward.shape}")
    if np.any(policy < 0) or not np.allclose(policy.sum(axis=1), 1.0):
        raise ValueError("policy_values: policy rows must be probability vectors")
    r_pi = np.einsum("sa,sa->s", policy, model.expected_reward)
    p_pi = np.einsum("sa,sat->st", policy, model.live_transition)
    if horizon is not None:
        values = np.zeros(r_pi.shape[0])
        for _ in range(horizon):
            values = r_pi + discount * p_pi @ values
        return values
    if not discount < 1.0:
        raise ValueError("policy_values: an infinite horizon needs discount < 1")
    return np.linalg.solve(np.eye(r_pi.shape[0]) - discount * p_pi, r_pi)


def policy_return(model: TabularModel, policy: np.ndarray, discount: float = 1.0,
                  horizon: int | None = None) -> float:
    """J(π) = Σ_s μ[s] V^π[s]."""
    return float(model.initial @ policy_values(model, policy, discount, horizon))
