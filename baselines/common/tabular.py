"""Differentiable tabular machinery, written once for the tabular meta-learners.

- softmax policies over (S, A) logits and exact policy evaluation in torch (float64), so that
  J(θ) = μᵀ V^{π_θ}, Q^{π_θ} and the discounted visitation ν^{π_θ} are differentiable in θ;
- Monte-Carlo estimates Q̂, ν̂ from one collection, and `TaskEstimator`, which gives either per task;
- the tabular policy gradient.
BO-MRL's surrogate, solvers and implicit hypergradient are in `baselines.bomrl_solvers`.

Conventions. Every function takes metarl_envs' one `TabularModel` (torch code reads its `tensors`).
A model's terminal states are absorbing and pay nothing (`TabularModel.live_transition`).
Discounted visitation is normalised, ν(s) = (1 − γ) Σ_t γ^t Pr(s_t = s), as in the paper.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy import special

from baselines.common.envs import EnvProvider
from baselines.common.training import MetaLearner
from metarl_envs.toy_text.tabular import TabularModel

__all__ = ["SoftmaxTabularAgent", "TabularParameterAgent", "TaskEstimator", "batch_estimates", "batch_states",
           "evaluate", "expected_return", "finite_horizon_return", "log_policy_logits", "log_softmax", "mc_estimates",
           "model_estimates", "policy_gradient", "reachable_states", "sample_actions", "softmax",
           "softmax_policy", "task_policy_sampler", "visitation"]



# --------------------------------------------------------------------------------------------
# Models and exact evaluation
# --------------------------------------------------------------------------------------------
def reachable_states(model: TabularModel) -> np.ndarray:
    """bool[s]: reachable from the initial distribution under some policy (a task's own states, read
    off its model: the cells outside a smaller grid of a shared frame are not)."""
    reached = model.initial_distribution > 0
    edges = model.transition_matrix.max(axis=1) > 0                             # (S, S): some action moves s → s'
    while True:
        grown = reached | edges[reached].any(axis=0)
        if np.array_equal(grown, reached):
            return reached
        reached = grown


def softmax_policy(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=-1)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log π[s, a] of logits (..., A): the logits shifted so that log-sum-exp is 0 per state."""
    return logits - special.logsumexp(logits, axis=-1, keepdims=True)


def log_policy_logits(policy: np.ndarray) -> np.ndarray:
    """Logits of a strictly positive policy, normalised so that log-sum-exp is 0 per state."""
    return log_softmax(np.log(policy))


def _policy_matrices(model: TabularModel, policy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    transition, reward, _ = model.tensors
    r_pi = (policy * reward).sum(dim=1)
    p_pi = torch.einsum("sa,sat->st", policy, transition)
    return r_pi, p_pi


def evaluate(model: TabularModel, policy: torch.Tensor, discount: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(V^π[s], Q^π[s, a]) by the linear solve V = (I − γ P_π)⁻¹ r_π; differentiable in π."""
    transition, reward, _ = model.tensors
    r_pi, p_pi = _policy_matrices(model, policy)
    eye = torch.eye(model.n_states, dtype=torch.float64)
    values = torch.linalg.solve(eye - discount * p_pi, r_pi)
    q_values = reward + discount * torch.einsum("sat,t->sa", transition, values)
    return values, q_values


def finite_horizon_return(model: TabularModel, policy: torch.Tensor, discount: float, horizon: int) -> torch.Tensor:
    """J = μᵀ V_H with V_h = r_π + γ P_π V_{h−1}, V_0 = 0: the H-step return Σ_{h<H} γ^h r_h of a
    stationary policy π[s, a] (the finite-horizon objective of MEMRL/SG-MRL eq. (1)); differentiable in π."""
    r_pi, p_pi = _policy_matrices(model, policy)
    values = torch.zeros_like(r_pi)
    for _ in range(horizon):
        values = r_pi + discount * p_pi @ values
    return model.tensors.initial @ values


def visitation(model: TabularModel, policy: torch.Tensor, discount: float) -> torch.Tensor:
    """ν^π[s] = (1 − γ) μᵀ (I − γ P_π)⁻¹; sums to one minus the mass absorbed by terminal states."""
    _, p_pi = _policy_matrices(model, policy)
    eye = torch.eye(model.n_states, dtype=torch.float64)
    return (1.0 - discount) * torch.linalg.solve((eye - discount * p_pi).T, model.tensors.initial)


def expected_return(model: TabularModel, logits: torch.Tensor, discount: float) -> torch.Tensor:
    """J(θ) = μᵀ V^{π_θ} (unnormalised discounted return)."""
    values, _ = evaluate(model, softmax_policy(logits), discount)
    return model.tensors.initial @ values


# --------------------------------------------------------------------------------------------
# Monte-Carlo estimates from one collection (BO-MRL's "Q by MC", docs/sources/bomrl.md §1.5)
# --------------------------------------------------------------------------------------------
def batch_states(observations: np.ndarray) -> np.ndarray:
    """State indices from a batch of `Discrete(S)` observations (tabular envs with index observations)."""
    array = np.asarray(observations)
    if array.ndim == 4:
        array = array[..., 0]
    return np.rint(array).astype(np.int64)


def mc_estimates(states: np.ndarray, actions: np.ndarray, rewards: np.ndarray, mask: np.ndarray,
                 policy: np.ndarray, discount: float) -> tuple[np.ndarray, np.ndarray]:
    """(Q̂[s, a], ν̂[s]) from episodes (E, H) of one task collected with `policy`.

    Q̂: every-visit mean of the discounted reward-to-go after (s, a). Where (s, a) was never tried,
    Q̂(s, a) = Σ_b π(b|s) Q̂(s, b) over the tried actions (advantage 0: no data, no change), and 0 at
    unvisited states. ν̂(s) = (1 − γ) mean over episodes of Σ_t γ^t 1[s_t = s].
    """
    n_states, n_actions = policy.shape
    rewards = np.where(mask, rewards, 0.0)
    to_go = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + discount * running
        to_go[:, t] = running
    flat = (states * n_actions + actions)[mask]
    counts = np.bincount(flat, minlength=n_states * n_actions).reshape(n_states, n_actions)
    sums = np.bincount(flat, weights=to_go[mask], minlength=n_states * n_actions).reshape(n_states, n_actions)
    tried = counts > 0
    q_tried = np.where(tried, sums / np.maximum(counts, 1), 0.0)
    tried_mass = (policy * tried).sum(axis=1, keepdims=True)
    fill = (policy * q_tried).sum(axis=1, keepdims=True) / np.where(tried_mass > 0, tried_mass, 1.0)
    q_hat = np.where(tried, q_tried, fill)
    weights = np.broadcast_to(discount ** np.arange(rewards.shape[1]), rewards.shape)[mask]
    nu_hat = (1.0 - discount) * np.bincount(states[mask], weights=weights, minlength=n_states) / rewards.shape[0]
    return q_hat, nu_hat


def sample_actions(policy: np.ndarray, states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """a ~ π(·|s) for an array of states (inverse-CDF with one uniform each)."""
    return _sample_rows(policy[states], rng)


def _sample_rows(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row π(·|s) of `rows` (..., A), inverse-CDF with one uniform u ∈ [0, 1) each: the
    action a with F(a − 1) ≤ u < F(a), so an action with no mass is never drawn, even at u = 0."""
    cdf = np.cumsum(rows, axis=-1)
    draws = rng.random(rows.shape[:-1])[..., None]
    return np.minimum((draws >= cdf).sum(axis=-1), rows.shape[-1] - 1).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Per-task evaluation of a softmax policy: exact (model) or Monte Carlo (one sampler collection)
# --------------------------------------------------------------------------------------------
class TaskEstimator:
    """Q^π, ν^π and J(π) of a task under logits θ: `estimator="exact"` reads the task's model;
    `"sampled"` collects `episodes` episodes of π through the shared sampler and returns
    MC estimates (`mc_estimates`). Needs `obs_mode="index"` observations in sampled mode."""

    def __init__(self, env_id: str, env_kwargs: Mapping[str, Any], discount: float, estimator: str, episodes: int):
        if estimator not in ("exact", "sampled"):
            raise ValueError(f"estimator={estimator!r}: must be 'exact' or 'sampled'")
        self.envs = EnvProvider(env_id, env_kwargs)
        self.env_id, self.env_kwargs = env_id, self.envs.env_kwargs
        self.discount, self.estimator, self.episodes = discount, estimator, episodes
        self.sampler: Any = None
        """where sampled estimates collect their episodes: the harness's `TrainingEnvs` in meta-training"""

    def model(self, task: Any) -> TabularModel:
        """The task's exact model (from the one env provider)."""
        return self.envs.model(task)

    def estimate(self, task: Any, logits: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float, int]:
        """(Q[s, a], ν[s], J or the mean discounted episode return, env steps used)."""
        if self.estimator == "exact":
            return (*model_estimates(self.model(task), logits, self.discount), 0)
        if self.sampler is None:
            from baselines.common.sampler import Sampler

            self.sampler = Sampler(self.env_id, self.env_kwargs)
        policy = softmax(logits)
        batch = self.sampler.rollout([task], self.episodes,
                                      lambda obs: sample_actions(policy, batch_states(obs), rng), rng)
        return (*batch_estimates(batch, 0, logits, self.discount), batch.env_steps)


def softmax(logits: np.ndarray) -> np.ndarray:
    """π[s, a] of (S, A) logits (float64)."""
    return np.exp(log_softmax(logits))


def model_estimates(model: TabularModel, logits: np.ndarray, discount: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(Q[s, a], ν[s], J) of the softmax policy of `logits`, exact on `model`."""
    policy_t = torch.as_tensor(softmax(logits))
    values, q_values = evaluate(model, policy_t, discount)
    nu = visitation(model, policy_t, discount)
    return q_values.numpy(), nu.numpy(), float(model.tensors.initial @ values)


def batch_estimates(batch: Any, task: int, logits: np.ndarray,
                    discount: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(Q̂[s, a], ν̂[s], mean discounted return) from the episodes of task `task` of a `TrajectoryBatch`
    collected with the softmax policy of `logits`."""
    states = batch_states(batch.observations)[task]
    q_hat, nu_hat = mc_estimates(states, batch.actions[task].astype(np.int64), batch.rewards[task],
                                 batch.mask[task], softmax(logits), discount)
    return q_hat, nu_hat, float(batch.episode_returns(discount)[task].mean())


def task_policy_sampler(policies: np.ndarray, rng: np.random.Generator) -> Any:
    """obs (task, episode) ↦ a ~ π_task(·|s), `policies[task]` a (S, A) matrix: the meta-test
    action function of every tabular agent."""
    rows = np.arange(len(policies))[:, None]

    def act(obs: np.ndarray) -> np.ndarray:
        states = batch_states(obs)
        return _sample_rows(np.asarray(policies)[rows, states], rng)

    return act


class TabularParameterAgent(MetaLearner):
    """The tabular agents whose parameters are (S, A) logits or tables: every task acts from its
    `policy_matrix` (`act`: its argmax, or a draw), and each round's Q, ν come from the round's episodes
    (MC) or, for a privileged agent (`estimator="exact"`), from the task's exact model."""

    estimator: TaskEstimator

    @property
    def privileged(self) -> bool:
        return self.estimator.estimator == "exact"

    def episode_policy(self, params: Sequence[Any], phase: str,
                       rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        return task_policy_sampler(np.stack([self.policy_matrix(p) for p in params]), rng)

    def _mode(self, obs: np.ndarray, params: Any) -> np.ndarray:
        return self.policy_matrix(params)[batch_states(obs)].argmax(axis=-1)

    def _sample(self, obs: np.ndarray, params: Any, rng: np.random.Generator) -> np.ndarray:
        return sample_actions(self.policy_matrix(params), batch_states(obs), rng)

    def round_estimates(self, params: Sequence[np.ndarray], rollouts: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        """(Q, ν) of each task's softmax policy under `params[i]` for one adaptation step."""
        discount = self.estimator.discount
        if self.privileged:
            return [model_estimates(m, p, discount)[:2]
                    for m, p in zip(self.trial_models, params, strict=True)]
        return [batch_estimates(rollouts, i, p, discount)[:2] for i, p in enumerate(params)]


class SoftmaxTabularAgent(TabularParameterAgent):
    """A tabular agent whose meta-parameters are softmax logits ϕ[s, a] (numpy float64), π = softmax(ϕ),
    evaluated per task by a `TaskEstimator` built from the config's `discount`, `estimator` and
    `episodes_per_step`; meta-training starts at ϕ = 0 (the uniform policy) and the saved state is ϕ.
    BO-MRL and tabular MAML are these; each writes its own meta-step and adaptation."""

    def __init__(self, env_id: str, config: Any, env_kwargs: Mapping[str, Any] | None = None):
        super().__init__(env_id, config, env_kwargs)
        self.estimator = TaskEstimator(env_id, self.env_kwargs, config.discount, config.estimator,
                                       config.episodes_per_step)
        self.phi: np.ndarray | None = None

    def _begin_logits(self, train_tasks: Any, optimizer: type[torch.optim.Optimizer]) -> None:
        """Collect on the harness's `train_tasks`; ϕ = 0 over the tasks' (S, A), held as the torch
        leaf `_phi_t` that `_optimizer` (`optimizer` at the config's `meta_lr`) steps."""
        self.estimator.sampler = train_tasks
        self.phi = np.zeros(self.estimator.model(train_tasks[0]).expected_reward.shape)
        self._phi_t = torch.tensor(self.phi, requires_grad=True)
        self._optimizer = optimizer([self._phi_t], lr=self.config.meta_lr)

    def meta_params(self) -> np.ndarray:
        if self.phi is None:
            raise RuntimeError(f"{type(self).__name__}.meta_params: call meta_train() or load() first")
        return self.phi.copy()

    def policy_matrix(self, params: np.ndarray) -> np.ndarray:
        return torch.softmax(torch.as_tensor(params), dim=-1).numpy()

    def _state(self) -> dict[str, Any]:
        return {"phi": torch.from_numpy(self.meta_params())}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.phi = state["phi"].numpy()


def policy_gradient(logits: np.ndarray, q_values: np.ndarray, nu: np.ndarray, discount: float) -> np.ndarray:
    """∇_θ J for tabular softmax: ν(s)/(1 − γ) · π(a|s) (Q(s, a) − V(s)) (exact with exact Q, ν)."""
    policy = softmax(logits)
    advantage = q_values - (policy * q_values).sum(axis=1, keepdims=True)
    return nu[:, None] / (1.0 - discount) * policy * advantage
