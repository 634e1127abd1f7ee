"""Differentiable tabular machinery, written once for the tabular meta-learners (STYLE R14).

- softmax policies over (S, A) logits and exact policy evaluation in torch (float64), so that
  J(θ) = μᵀ V^{π_θ}, Q^{π_θ} and the discounted visitation ν^{π_θ} are differentiable in θ;
- BO-MRL's regularized surrogate (reference/bomrl.md §1.2, eq. 1 and eq. 2 with f_θ(s, a) = θ(s, a))
  for the three divergences and its within-task solvers: closed form for D2, a 1-D root search per
  state for D1, ascent (L-BFGS) for D3;
- the hypergradient ∇_ϕ J(θ'(ϕ)) by implicit differentiation of the surrogate's stationarity
  condition, with the Hessian inverse applied by conjugate gradient (Prop. 1/2, App. J).

Conventions. A model's terminal states are absorbing and pay nothing (`TabularModel.live_transition`).
Discounted visitation is normalised, ν(s) = (1 − γ) Σ_t γ^t Pr(s_t = s), as in the paper.
Softmax logits are invariant to a per-state shift; solvers return logits with log-sum-exp 0 per state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from scipy import optimize, special

from baselines.oracles import TabularModel

__all__ = [
    "DIVERGENCES",
    "TorchModel",
    "batch_states",
    "conjugate_gradient",
    "evaluate",
    "expected_return",
    "implicit_hypergradient",
    "log_policy_logits",
    "mc_estimates",
    "sample_actions",
    "softmax_policy",
    "solve_surrogate",
    "surrogate",
    "surrogate_hessian_blocks",
    "task_model",
    "task_state_mask",
    "visitation",
]

DIVERGENCES = (1, 2, 3)
"""1: KL(π_ϕ ‖ π_θ); 2: KL(π_θ ‖ π_ϕ); 3: ‖θ − ϕ‖² (reference/bomrl.md §1.1: Alg(1), Alg(2), Alg(3))"""


# --------------------------------------------------------------------------------------------
# Models and exact evaluation
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _env(env_id: str, kwargs_items: tuple[tuple[str, Any], ...]) -> Any:
    import gymnasium as gym

    import metarl_envs  # noqa: F401  (registers the ids)

    return gym.make(env_id, **dict(kwargs_items)).unwrapped


def task_model(env_id: str, env_kwargs: Mapping[str, Any], task: Any) -> TabularModel:
    """The exact model of `task` (the env is built once per (id, kwargs) and only read, never stepped)."""
    env = _env(env_id, tuple(sorted(env_kwargs.items())))
    env.set_task(task)
    return TabularModel.from_env(env)


def task_state_mask(env_id: str, env_kwargs: Mapping[str, Any], task: Any) -> np.ndarray:
    """bool[s]: the states that belong to `task` (all of them unless the env has a `state_mask`)."""
    env = _env(env_id, tuple(sorted(env_kwargs.items())))
    env.set_task(task)
    mask = getattr(env, "state_mask", None)
    return np.ones(np.asarray(env.terminal_mask).shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)


@dataclasses.dataclass(frozen=True)
class TorchModel:
    """A `TabularModel` as float64 tensors: live P[s, a, s'], expected reward r[s, a], μ[s]."""

    transition: torch.Tensor
    reward: torch.Tensor
    initial: torch.Tensor
    terminal: np.ndarray

    @classmethod
    def from_model(cls, model: TabularModel) -> TorchModel:
        return cls(torch.as_tensor(model.live_transition, dtype=torch.float64),
                   torch.as_tensor(model.expected_reward, dtype=torch.float64),
                   torch.tensor(model.initial, dtype=torch.float64), model.terminal.copy())

    @property
    def n_states(self) -> int:
        return int(self.reward.shape[0])


def softmax_policy(logits: torch.Tensor) -> torch.Tensor:
    return torch.softmax(logits, dim=-1)


def log_policy_logits(policy: np.ndarray) -> np.ndarray:
    """Logits of a strictly positive policy, normalised so that log-sum-exp is 0 per state."""
    logits = np.log(policy)
    return logits - special.logsumexp(logits, axis=1, keepdims=True)


def _policy_matrices(model: TorchModel, policy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r_pi = (policy * model.reward).sum(dim=1)
    p_pi = torch.einsum("sa,sat->st", policy, model.transition)
    return r_pi, p_pi


def evaluate(model: TorchModel, policy: torch.Tensor, discount: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(V^π[s], Q^π[s, a]) by the linear solve V = (I − γ P_π)⁻¹ r_π; differentiable in π."""
    r_pi, p_pi = _policy_matrices(model, policy)
    eye = torch.eye(model.n_states, dtype=torch.float64)
    values = torch.linalg.solve(eye - discount * p_pi, r_pi)
    q_values = model.reward + discount * torch.einsum("sat,t->sa", model.transition, values)
    return values, q_values


def visitation(model: TorchModel, policy: torch.Tensor, discount: float) -> torch.Tensor:
    """ν^π[s] = (1 − γ) μᵀ (I − γ P_π)⁻¹; sums to one minus the mass absorbed by terminal states."""
    _, p_pi = _policy_matrices(model, policy)
    eye = torch.eye(model.n_states, dtype=torch.float64)
    return (1.0 - discount) * torch.linalg.solve((eye - discount * p_pi).T, model.initial)


def expected_return(model: TorchModel, logits: torch.Tensor, discount: float) -> torch.Tensor:
    """J(θ) = μᵀ V^{π_θ} (unnormalised discounted return)."""
    values, _ = evaluate(model, softmax_policy(logits), discount)
    return model.initial @ values


# --------------------------------------------------------------------------------------------
# The regularized surrogate and its solvers
# --------------------------------------------------------------------------------------------
def surrogate(theta: torch.Tensor, phi: torch.Tensor, q_values: torch.Tensor, weights: torch.Tensor,
              lam: float, divergence: int) -> torch.Tensor:
    """Σ_s w(s) [Σ_a π_θ(a|s) Q(s, a) − λ d_i²(π_ϕ(·|s), π_θ(·|s))] for i = 1, 2; for i = 3 the
    penalty is λ‖θ − ϕ‖² (state-independent, so E_s d3² = ‖θ − ϕ‖², eq. 2 with f_θ = θ). A sum of
    per-state terms, so its θ-Hessian is block-diagonal (`surrogate_hessian_blocks`)."""
    log_pi, log_phi = torch.log_softmax(theta, -1), torch.log_softmax(phi, -1)
    gain = (weights * (log_pi.exp() * q_values).sum(dim=1)).sum()
    if divergence == 1:
        penalty = (weights * (log_phi.exp() * (log_phi - log_pi)).sum(dim=1)).sum()
    elif divergence == 2:
        penalty = (weights * (log_pi.exp() * (log_pi - log_phi)).sum(dim=1)).sum()
    elif divergence == 3:
        penalty = ((theta - phi) ** 2).sum()
    else:
        raise ValueError(f"surrogate: divergence={divergence!r} must be one of {DIVERGENCES}")
    return gain - lam * penalty


def _solve_d1(phi: np.ndarray, q_values: np.ndarray, lam: float) -> np.ndarray:
    """π'(a|s) = λ π_ϕ(a|s) / (μ_s − Q(s, a)), with μ_s the root of Σ_a λπ_ϕ/(μ − Q) = 1 in
    (max_a Q, max_a Q + λ] (bomrl.md §1.2 closed form); vectorised bisection plus Newton polish."""
    pi_phi = np.exp(phi - phi.max(axis=1, keepdims=True))
    pi_phi /= pi_phi.sum(axis=1, keepdims=True)
    q_max = q_values.max(axis=1)
    top_mass = np.where(q_values == q_max[:, None], pi_phi, 0.0).sum(axis=1)
    low, high = q_max + 0.5 * lam * top_mass, q_max + lam  # f(low) ≥ 1 > 0 ≥ f(high)

    def excess(mu: np.ndarray) -> np.ndarray:
        return (lam * pi_phi / (mu[:, None] - q_values)).sum(axis=1) - 1.0

    for _ in range(200):
        mid = 0.5 * (low + high)
        positive = excess(mid) > 0
        low, high = np.where(positive, mid, low), np.where(positive, high, mid)
    mu = 0.5 * (low + high)
    slope = -(lam * pi_phi / (mu[:, None] - q_values) ** 2).sum(axis=1)
    mu = np.clip(mu - excess(mu) / slope, low, high)
    policy = lam * pi_phi / (mu[:, None] - q_values)
    return log_policy_logits(policy / policy.sum(axis=1, keepdims=True))


def _solve_d3(phi: np.ndarray, q_values: np.ndarray, weights: np.ndarray, lam: float) -> np.ndarray:
    """argmax_θ Σ_s w(s) Σ_a π_θ(a|s) Q(s, a) − λ‖θ − ϕ‖² by L-BFGS from θ = ϕ (no closed form)."""

    def negative(flat: np.ndarray) -> tuple[float, np.ndarray]:
        theta = flat.reshape(phi.shape)
        pi = np.exp(theta - theta.max(axis=1, keepdims=True))
        pi /= pi.sum(axis=1, keepdims=True)
        mean_q = (pi * q_values).sum(axis=1, keepdims=True)
        value = (weights * mean_q[:, 0]).sum() - lam * ((theta - phi) ** 2).sum()
        grad = weights[:, None] * pi * (q_values - mean_q) - 2.0 * lam * (theta - phi)
        return -value, -grad.ravel()

    result = optimize.minimize(negative, phi.ravel(), jac=True, method="L-BFGS-B",
                               options={"maxiter": 20_000, "gtol": 1e-13, "ftol": 0.0})
    theta = result.x.reshape(phi.shape)
    for _ in range(3):  # Newton polish on the block-diagonal Hessian: stationarity to round-off
        pi = np.exp(theta - theta.max(axis=1, keepdims=True))
        pi /= pi.sum(axis=1, keepdims=True)
        centred = pi * (q_values - (pi * q_values).sum(axis=1, keepdims=True))
        grad = weights[:, None] * centred - 2.0 * lam * (theta - phi)
        hessian = weights[:, None, None] * (np.einsum("sa,ab->sab", centred, np.eye(phi.shape[1]))
                                            - np.einsum("sa,sb->sab", pi, centred)
                                            - np.einsum("sa,sb->sab", centred, pi))
        hessian -= 2.0 * lam * np.eye(phi.shape[1])
        if np.any(np.linalg.eigvalsh(hessian) >= 0):
            break  # not locally strongly concave (λ below Prop. 3's threshold): keep the L-BFGS point
        theta = theta - np.linalg.solve(hessian, grad[..., None])[..., 0]
    return theta


def solve_surrogate(phi: np.ndarray, q_values: np.ndarray, lam: float, divergence: int,
                    weights: np.ndarray | None = None) -> np.ndarray:
    """θ' = argmax of `surrogate` (Q held fixed: one-time adaptation). D1/D2 are per-state problems
    (eq. 1), so their solution does not depend on positive weights; D3 needs ν-weights."""
    if not lam > 0:
        raise ValueError(f"solve_surrogate: lam={lam!r} must be > 0")
    if divergence == 2:  # π' ∝ π_ϕ exp(Q/λ)  (App. L stationarity)
        theta = phi + q_values / lam
        return theta - special.logsumexp(theta, axis=1, keepdims=True)
    if divergence == 1:
        return _solve_d1(phi, q_values, lam)
    if divergence == 3:
        if weights is None:
            raise ValueError("solve_surrogate: divergence 3 needs the state weights ν^{π_ϕ}")
        return _solve_d3(phi, q_values, weights, lam)
    raise ValueError(f"solve_surrogate: divergence={divergence!r} must be one of {DIVERGENCES}")


# --------------------------------------------------------------------------------------------
# Implicit differentiation
# --------------------------------------------------------------------------------------------
def surrogate_hessian_blocks(theta: np.ndarray, phi: np.ndarray, q_values: np.ndarray, weights: np.ndarray,
                             lam: float, divergence: int) -> np.ndarray:
    """∇²_θθ of `surrogate`, one (A × A) block per state, in closed form. With π = softmax(θ_s),
    G(c) = diag(π∘c) − π(π∘c)ᵀ − (π∘c)πᵀ (c = x − πᵀx is the Hessian of Σ_a π_a x_a) and
    J = diag(π) − ππᵀ (the Hessian of log-sum-exp): D1 → wG(c_Q) − λwJ; D2 → wG(c_Q) − λw(G(c_v) + J)
    with v = θ − log π_ϕ; D3 → wG(c_Q) − 2λI."""

    def tilt(pi: np.ndarray, x: np.ndarray) -> np.ndarray:
        centred = pi * (x - (pi * x).sum(axis=1, keepdims=True))
        return (np.einsum("sa,ab->sab", centred, np.eye(x.shape[1])) - np.einsum("sa,sb->sab", pi, centred)
                - np.einsum("sa,sb->sab", centred, pi))

    pi = np.exp(theta - special.logsumexp(theta, axis=1, keepdims=True))
    w = weights[:, None, None]
    blocks = w * tilt(pi, q_values)
    lse_hessian = np.einsum("sa,ab->sab", pi, np.eye(pi.shape[1])) - np.einsum("sa,sb->sab", pi, pi)
    if divergence == 1:
        return blocks - lam * w * lse_hessian
    if divergence == 2:
        log_ratio = theta - (phi - special.logsumexp(phi, axis=1, keepdims=True))
        return blocks - lam * w * (tilt(pi, log_ratio) + lse_hessian)
    return blocks - 2.0 * lam * np.eye(pi.shape[1])


def conjugate_gradient(matvec: Callable[[torch.Tensor], torch.Tensor], rhs: torch.Tensor,
                       iterations: int, tolerance: float = 1e-12) -> torch.Tensor:
    """Solve A x = b for symmetric positive (semi)definite A given x ↦ A x; for a singular A and b in
    its range, CG from x = 0 stays in the range and returns the minimum-norm solution."""
    x = torch.zeros_like(rhs)
    residual, direction = rhs.clone(), rhs.clone()
    residual_sq = residual @ residual
    for _ in range(iterations):
        if residual_sq <= tolerance ** 2:
            break
        a_direction = matvec(direction)
        curvature = direction @ a_direction
        if curvature <= 0:
            break  # numerical null direction: the remaining residual has no component in A's range
        step = residual_sq / curvature
        x = x + step * direction
        residual = residual - step * a_direction
        new_residual_sq = residual @ residual
        direction = residual + (new_residual_sq / residual_sq) * direction
        residual_sq = new_residual_sq
    return x


def implicit_hypergradient(model: TorchModel | None, phi: np.ndarray, theta_star: np.ndarray, lam: float,
                           divergence: int, discount: float, cg_iterations: int = 200,
                           q_values: torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None = None,
                           weights: torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None = None,
                           outer_gradient: torch.Tensor | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """∇_ϕ J(θ'(ϕ)) where ∇_θ F(θ', ϕ) = 0, F = `surrogate`.

    Implicit function theorem: dθ'/dϕ = (−H)⁻¹ C with H = ∇²_θθ F and C = ∇²_θϕ F, so
    ∇_ϕ J = Cᵀ v with (−H) v = g = ∇_θ J(θ'); v by CG, then Cᵀ v = ∇_ϕ ⟨v, ∇_θ F⟩ (v held fixed).
    Defaults are exact: Q = Q^{π_ϕ} and (D3) w = ν^{π_ϕ} as differentiable functions of ϕ, so the
    ∇_ϕQ term of Prop. 1 and the ∇_ϕν term App. J.2 drops are both kept. Passing tensors instead
    (estimates) treats them as constants: the practical hypergradient of eq. 8. For D1/D2, H is
    singular along per-state logit shifts; g and C are orthogonal to them, so CG is consistent.
    """
    phi_t = torch.tensor(phi, dtype=torch.float64, requires_grad=True)
    theta_t = torch.tensor(theta_star, dtype=torch.float64, requires_grad=True)
    if q_values is None:
        q_t = evaluate(model, softmax_policy(phi_t), discount)[1]
    else:
        q_t = q_values(phi_t) if callable(q_values) else q_values
    if weights is None:
        w_t = (visitation(model, softmax_policy(phi_t), discount) if divergence == 3
               else torch.ones(phi.shape[0], dtype=torch.float64))
    else:
        w_t = weights(phi_t) if callable(weights) else weights
    if outer_gradient is None:
        outer_gradient = torch.autograd.grad(expected_return(model, theta_t, discount), theta_t)[0]
    grad_theta = torch.autograd.grad(surrogate(theta_t, phi_t, q_t, w_t, lam, divergence), theta_t,
                                     create_graph=True)[0]
    blocks = surrogate_hessian_blocks(theta_star, phi, q_t.detach().numpy(), w_t.detach().numpy(), lam, divergence)
    blocks = torch.as_tensor(blocks)

    def negative_hessian(vector: torch.Tensor) -> torch.Tensor:
        return -torch.einsum("sab,sb->sa", blocks, vector.view_as(theta_t)).ravel()

    rhs = outer_gradient.detach().ravel()
    solution = conjugate_gradient(negative_hessian, rhs, cg_iterations)
    residual = float(torch.linalg.norm(negative_hessian(solution) - rhs))
    (hyper,) = torch.autograd.grad(grad_theta, phi_t, solution.view_as(theta_t))
    return hyper.numpy(), {"cg_residual": residual, "stationarity": float(torch.linalg.norm(grad_theta.detach()))}


# --------------------------------------------------------------------------------------------
# Monte-Carlo estimates from one collection (BO-MRL's "Q by MC", bomrl.md §1.5)
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
    cdf = np.cumsum(policy[states], axis=-1)
    draws = rng.random(states.shape)[..., None]
    return np.minimum((draws > cdf).sum(axis=-1), policy.shape[1] - 1).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Per-task evaluation of a softmax policy: exact (model) or Monte Carlo (one sampler collection)
# --------------------------------------------------------------------------------------------
class TaskEstimator:
    """Q^π, ν^π and J(π) of a task under logits θ: `estimator="exact"` reads the task's model;
    `"sampled"` collects `episodes` episodes of π through the shared sampler (STYLE R13) and returns
    MC estimates (`mc_estimates`). Needs `obs_mode="index"` observations in sampled mode."""

    def __init__(self, env_id: str, env_kwargs: Mapping[str, Any], discount: float, estimator: str, episodes: int):
        if estimator not in ("exact", "sampled"):
            raise ValueError(f"estimator={estimator!r}: must be 'exact' or 'sampled'")
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs)
        self.discount, self.estimator, self.episodes = discount, estimator, episodes
        self._models: dict[Any, TorchModel] = {}
        self._sampler: Any = None

    def model(self, task: Any) -> TorchModel:
        if task not in self._models:
            self._models[task] = TorchModel.from_model(task_model(self.env_id, self.env_kwargs, task))
        return self._models[task]

    def estimate(self, task: Any, logits: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float, int]:
        """(Q[s, a], ν[s], J or the mean discounted episode return, env steps used)."""
        policy = np.exp(logits - special.logsumexp(logits, axis=1, keepdims=True))
        if self.estimator == "exact":
            model = self.model(task)
            policy_t = torch.as_tensor(policy)
            values, q_values = evaluate(model, policy_t, self.discount)
            nu = visitation(model, policy_t, self.discount)
            return q_values.numpy(), nu.numpy(), float(model.initial @ values), 0
        if self._sampler is None:
            from baselines.sampler import Sampler

            self._sampler = Sampler(self.env_id, self.env_kwargs)
        batch = self._sampler.rollout([task], self.episodes,
                                      lambda obs: sample_actions(policy, batch_states(obs), rng), rng)
        states = batch_states(batch.observations)[0]
        q_hat, nu_hat = mc_estimates(states, batch.actions[0].astype(np.int64), batch.rewards[0], batch.mask[0],
                                     policy, self.discount)
        return q_hat, nu_hat, float(batch.episode_returns(self.discount).mean()), batch.env_steps


def policy_gradient(logits: np.ndarray, q_values: np.ndarray, nu: np.ndarray, discount: float) -> np.ndarray:
    """∇_θ J for tabular softmax: ν(s)/(1 − γ) · π(a|s) (Q(s, a) − V(s)) (exact with exact Q, ν)."""
    policy = np.exp(logits - special.logsumexp(logits, axis=1, keepdims=True))
    advantage = q_values - (policy * q_values).sum(axis=1, keepdims=True)
    return nu[:, None] / (1.0 - discount) * policy * advantage


def save_tabular(path: Any, agent: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """config.json (the agent's config) + agent.json (env id, kwargs) + arrays.npz; nothing pickled (R16)."""
    import json
    from pathlib import Path

    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(agent.config.to_dict(), indent=2, sort_keys=True))
    (directory / "agent.json").write_text(json.dumps(
        {"name": agent.name, "env_id": agent.env_id, "env_kwargs": dict(agent.env_kwargs)}, indent=2))
    np.savez(directory / "arrays.npz", **arrays)


def load_tabular(cls: Any, path: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """(a new `cls` agent built from the saved config and env, the saved arrays)."""
    import json
    from pathlib import Path

    directory = Path(path)
    meta = json.loads((directory / "agent.json").read_text())
    config = cls.config_class.from_dict(json.loads((directory / "config.json").read_text()))
    with np.load(directory / "arrays.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return cls(meta["env_id"], config, meta["env_kwargs"]), arrays
