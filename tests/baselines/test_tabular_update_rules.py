"""The tabular agents' update rules, pinned end to end on the env's exact model.

One call of each agent's public `meta_train` (one or two iterations) or adaptation round must move the
parameters by exactly its paper's formula, recomputed here in float64 from the task's transition
and reward matrices with the test's own policy evaluation (V = (I − γP_π)⁻¹ r_π), with
non-default hyperparameters (γ, λ, step sizes, β ≠ their defaults).

- tabular MAML (Finn et al. 2017, Alg. 3 with exact policy gradients): θ' = ϕ + α∇J(ϕ);
  ϕ ← Adam step on −mean_τ J_τ(θ'_τ(ϕ)).
- BO-MRL (Xu & Zhu 2024, Alg. 1): θ' = argmax_θ Σ_a π_θ Q^{π_ϕ} − λ D_i²(π_ϕ, π_θ) (closed form for
  D2, π' ∝ π_ϕ exp(Q/λ); per-state root for D1, π' = λπ_ϕ/(μ_s − Q)); ϕ ← ϕ + α mean_τ ∇_ϕ J_τ(θ'_τ(ϕ)).
- pMeta-RL (Wang et al. 2022, eqs. (6), (8), (9) with the corrections of its appendix): K proximal
  Q-updates of the personalized table toward the auxiliary one, R alternations, aggregation.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import metarl_envs
from baselines.bomrl import BOMRL, BOMRLConfig
from baselines.pmetarl import PMetaRL, PMetaRLConfig
from baselines.tabular_maml import TabularMAML, TabularMAMLConfig
from metarl_envs.toy_text.tabular import TabularModel
from tests.baselines.trial import recorded_rounds

LAKE = "MetaRL/FrozenLakeHoles-v0"
LAKE_KWARGS = {"preset": "bomrl-high", "start_distribution": "uniform"}
GRID = "MetaRL/GridNavigation-v0"
GRID_KWARGS = {"preset": "pmeta", "obs_mode": "index"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def model_of(env_id: str, kwargs: dict, task) -> tuple[TabularModel, np.ndarray]:
    """(the task's model, its state mask) as the env exposes them."""
    env = gym.make(env_id, **kwargs).unwrapped
    env.set_task(task)
    mask = getattr(env, "state_mask", None)
    return env.unwrapped.model, np.ones(env.terminal_mask.shape, bool) if mask is None else np.asarray(mask)


class Exact:
    """Exact discounted evaluation of softmax or tabular policies on one model (torch float64)."""

    def __init__(self, model: TabularModel, discount: float):
        live = ~model.terminal_mask
        self.p = torch.as_tensor(model.transition_matrix * live[:, None, None])  # no flow out of terminals
        self.r = torch.as_tensor((model.transition_matrix * model.reward_matrix).sum(-1) * live[:, None])
        self.mu = torch.tensor(model.initial_distribution)
        self.gamma = discount

    def values(self, policy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r_pi = (policy * self.r).sum(-1)
        p_pi = torch.einsum("sa,sat->st", policy, self.p)
        v = torch.linalg.solve(torch.eye(len(r_pi), dtype=torch.float64) - self.gamma * p_pi, r_pi)
        return v, self.r + self.gamma * self.p @ v

    def j(self, logits: torch.Tensor) -> torch.Tensor:
        return self.mu @ self.values(torch.softmax(logits, -1))[0]

    def q(self, logits: torch.Tensor) -> torch.Tensor:
        return self.values(torch.softmax(logits, -1))[1]

    def grad_j(self, logits: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        with torch.enable_grad():
            leaf = logits if logits.requires_grad else logits.detach().clone().requires_grad_(True)
            return torch.autograd.grad(self.j(leaf), leaf, create_graph=create_graph)[0]


def lake_tasks(n: int = 3) -> list:
    return list(metarl_envs.task_set(LAKE, "train", "bomrl-high"))[:n]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------------------------
# Tabular MAML
# --------------------------------------------------------------------------------------------
def test_tabular_maml_meta_train_is_adam_on_the_post_adaptation_return():
    config = TabularMAMLConfig(inner_lr=0.7, discount=0.7, meta_lr=0.2, tasks_per_iteration=3)
    agent = TabularMAML(LAKE, config, LAKE_KWARGS)
    tasks = lake_tasks()
    agent.meta_train(tasks, iterations=2, seed=3)
    exact = [Exact(model_of(LAKE, LAKE_KWARGS, t)[0], config.discount) for t in tasks]
    phi = torch.zeros((16, 4), dtype=torch.float64, requires_grad=True)
    adam = torch.optim.Adam([phi], lr=config.meta_lr)
    for _ in range(2):   # every iteration draws all three tasks (B = 3 of 3)
        post = [e.j(phi + config.inner_lr * e.grad_j(phi, create_graph=True)) for e in exact]
        adam.zero_grad()
        (-torch.stack(post).mean()).backward()
        adam.step()
    np.testing.assert_allclose(agent.meta_params(), phi.detach().numpy(), rtol=1e-7, atol=1e-9)


def test_tabular_maml_adaptation_is_one_exact_policy_gradient_step():
    config = TabularMAMLConfig(inner_lr=0.7, discount=0.7)
    agent = TabularMAML(LAKE, config, LAKE_KWARGS)
    task = lake_tasks()[1]
    exact = Exact(model_of(LAKE, LAKE_KWARGS, task)[0], config.discount)
    agent.phi = params = np.random.default_rng(0).normal(size=(16, 4))
    for before, _, (adapted,) in recorded_rounds(agent, [task], 1, 2, np.random.default_rng(1)):
        np.testing.assert_array_equal(before[0], params)
        expected = params + config.inner_lr * exact.grad_j(torch.as_tensor(params)).numpy()
        np.testing.assert_allclose(adapted, expected, rtol=1e-8, atol=1e-10)
        params = adapted


# --------------------------------------------------------------------------------------------
# BO-MRL
# --------------------------------------------------------------------------------------------
def solve_d1(phi: np.ndarray, q_values: np.ndarray, lam: float) -> np.ndarray:
    """argmax_π Σ_a π(a) Q(a) − λ KL(π_ϕ ‖ π) per state: π(a) = λπ_ϕ(a) / (μ − Q(a)) with μ > max Q the
    root of Σ_a π(a) = 1 (decreasing in μ; bisection on [max Q, max Q + λ] to machine precision)."""
    pi_phi = softmax(phi)
    low = q_values.max(axis=1, keepdims=True)
    high = low + lam
    for _ in range(200):
        mu = (low + high) / 2
        above = (lam * pi_phi / (mu - q_values)).sum(axis=1, keepdims=True) > 1.0
        low, high = np.where(above, mu, low), np.where(above, high, mu)
    return np.log(lam * pi_phi / ((low + high) / 2 - q_values))


def bomrl_adapted(phi: np.ndarray, exact: Exact, lam: float, divergence: int) -> np.ndarray:
    q_values = exact.q(torch.as_tensor(phi)).numpy()
    if divergence == 2:  # KL(π_θ ‖ π_ϕ): π' ∝ π_ϕ exp(Q/λ)
        return np.log(softmax(phi + q_values / lam))
    return solve_d1(phi, q_values, lam)


def bomrl_hypergradient(phi: np.ndarray, exact: Exact, lam: float, divergence: int) -> np.ndarray:
    """∇_ϕ J(θ'(ϕ)): autodiff through the closed form (D2), central differences through the root (D1)."""
    if divergence == 2:
        leaf = torch.tensor(phi, requires_grad=True)
        theta = leaf + exact.q(leaf) / lam
        return torch.autograd.grad(exact.j(theta), leaf)[0].numpy()
    grad, h = np.zeros_like(phi), 1e-5
    for index in np.ndindex(phi.shape):
        up, down = phi.copy(), phi.copy()
        up[index] += h
        down[index] -= h
        j_up = float(exact.j(torch.as_tensor(bomrl_adapted(up, exact, lam, divergence))))
        j_down = float(exact.j(torch.as_tensor(bomrl_adapted(down, exact, lam, divergence))))
        grad[index] = (j_up - j_down) / (2 * h)
    return grad


@pytest.mark.parametrize(("divergence", "optimizer"), [(2, "sgd"), (2, "adam"), (1, "sgd")])
def test_bomrl_meta_train_ascends_the_mean_adapted_return(divergence, optimizer):
    config = BOMRLConfig(divergence=divergence, lam=0.7, discount=0.7, meta_lr=0.4, meta_optimizer=optimizer,
                         tasks_per_iteration=3)
    agent = BOMRL(LAKE, config, LAKE_KWARGS)
    tasks = lake_tasks()
    agent.meta_train(tasks, iterations=2, seed=5)
    exact = [Exact(model_of(LAKE, LAKE_KWARGS, t)[0], config.discount) for t in tasks]
    phi = torch.zeros((16, 4), dtype=torch.float64)
    step = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)([phi], lr=config.meta_lr)
    for _ in range(2):   # all three tasks each iteration
        hyper = np.mean([bomrl_hypergradient(phi.numpy().copy(), e, config.lam, divergence) for e in exact], axis=0)
        assert np.abs(hyper).max() > 1e-3
        step.zero_grad()
        phi.grad = torch.as_tensor(-hyper)   # ascent on J
        step.step()
    tolerance = 1e-7 if divergence == 2 else 1e-6
    np.testing.assert_allclose(agent.meta_params(), phi.numpy(), atol=tolerance)


@pytest.mark.parametrize("divergence", [1, 2])
def test_bomrl_adaptation_solves_the_regularized_surrogate(divergence):
    config = BOMRLConfig(divergence=divergence, lam=0.7, discount=0.7)
    agent = BOMRL(LAKE, config, LAKE_KWARGS)
    task = lake_tasks()[2]
    exact = Exact(model_of(LAKE, LAKE_KWARGS, task)[0], config.discount)
    agent.phi = params = np.random.default_rng(2).normal(size=(16, 4))
    rounds = recorded_rounds(agent, [task], 1, 2, np.random.default_rng(0))  # round 2 starts from round 1's output
    for before, _, (adapted,) in rounds:
        np.testing.assert_array_equal(before[0], params)
        expected = bomrl_adapted(params, exact, config.lam, divergence)
        np.testing.assert_allclose(agent.policy_matrix(adapted), softmax(expected), atol=1e-9)
        params = adapted



def bomrl_surrogate(theta: torch.Tensor, phi: torch.Tensor, q: torch.Tensor, nu: torch.Tensor, lam: float,
                    divergence: int) -> torch.Tensor:
    """Σ_s w(s) [Σ_a π_θ Q − λ KL(π_ϕ ‖ π_θ)] with w = 1 (D1), or Σ_s ν(s) Σ_a π_θ Q − λ‖θ − ϕ‖² (D3)."""
    pi, pi_phi = torch.softmax(theta, -1), torch.softmax(phi, -1)
    if divergence == 3:
        return (nu * (pi * q).sum(-1)).sum() - lam * ((theta - phi) ** 2).sum()
    return ((pi * q).sum(-1) - lam * (pi_phi * (torch.log(pi_phi) - torch.log(pi))).sum(-1)).sum()


@pytest.mark.parametrize("divergence", [1, 3])
def test_bomrl_sampled_meta_step_is_the_practical_implicit_hypergradient(divergence):
    """estimator='sampled': per task, θ' solves the surrogate built from the MC estimates (Q̂, ν̂) at π_ϕ,
    and ϕ ← ϕ + β mean_τ C_τᵀ (−H_τ)⁺ ĝ_τ (eq. 8) with H, C the surrogate's θθ and θϕ Hessians at the
    estimates held fixed and ĝ = ν̂'/(1 − γ) · π(Q̂' − V̂') from the MC estimates at π_θ'."""
    config = BOMRLConfig(divergence=divergence, lam=0.7, discount=0.7, meta_lr=0.4, meta_optimizer="sgd",
                         estimator="sampled", episodes_per_step=4, tasks_per_iteration=2)
    agent = BOMRL(LAKE, config, LAKE_KWARGS)
    tasks = lake_tasks()
    agent.meta_train(tasks, iterations=1, seed=2)  # a ϕ that is not uniform
    phi = agent.meta_params()
    assert np.ptp(phi) > 1e-3
    calls = []
    estimate = agent.estimator.estimate

    def recording(task, logits, rng):
        out = estimate(task, logits, rng)
        calls.append((np.array(logits), out))
        return out

    agent.estimator.estimate = recording
    agent.meta_train_step(list(tasks[:2]), np.random.default_rng(7))
    assert len(calls) == 4, "two estimates per task: at π_ϕ, then at π_θ'"
    hypers, unseen_then_seen = [], False
    for (at_phi, (q, nu, _, _)), (theta, (q_post, nu_post, _, _)) in zip(calls[0::2], calls[1::2], strict=True):
        unseen_then_seen |= bool(np.any((nu == 0) & (nu_post > 0)))  # D1: weight 1 there, not ν̂ = 0
        np.testing.assert_array_equal(at_phi, phi)
        phi_t, theta_t = torch.tensor(phi, requires_grad=True), torch.tensor(theta, requires_grad=True)
        q_t, nu_t = torch.as_tensor(q), torch.as_tensor(nu)
        grad = torch.autograd.grad(bomrl_surrogate(theta_t, phi_t, q_t, nu_t, config.lam, divergence), theta_t,
                                   create_graph=True)[0].ravel()
        assert float(grad.detach().abs().max()) < 1e-6, "θ' is a stationary point of the surrogate"
        rows = [torch.autograd.grad(g, (theta_t, phi_t), retain_graph=True) for g in grad]
        hessian = torch.stack([r[0].ravel() for r in rows]).numpy()          # ∂²F/∂θ∂θ
        cross = torch.stack([r[1].ravel() for r in rows]).numpy()            # ∂²F/∂θ∂ϕ
        pi = softmax(theta)
        g = nu_post[:, None] / (1 - config.discount) * pi * (q_post - (pi * q_post).sum(1, keepdims=True))
        v = np.linalg.lstsq(-hessian, g.ravel(), rcond=1e-10)[0]
        hypers.append((cross.T @ v).reshape(phi.shape))
    expected = phi + config.meta_lr * np.mean(hypers, axis=0)
    assert np.abs(expected - phi).max() > 1e-4 and unseen_then_seen
    np.testing.assert_allclose(agent.meta_params(), expected, atol=1e-7)

# --------------------------------------------------------------------------------------------
# pMeta-RL
# --------------------------------------------------------------------------------------------
PMETA = PMetaRLConfig(lam=2.0, personal_updates=2, inner_updates=2, discount=0.9, personal_lr=0.2, aux_lr=0.3,
                      beta=0.7)


def pmeta_round(model: TabularModel, inside: np.ndarray, q_meta: np.ndarray, cfg: PMetaRLConfig):
    """One round on one task: (personalized table, auxiliary table), state by state."""
    personal, auxiliary = q_meta.copy(), q_meta.copy()
    live = ~model.terminal_mask
    for _ in range(cfg.personal_updates):
        for _ in range(cfg.inner_updates):                                          # eq. (6)
            new = personal.copy()
            for s in np.flatnonzero(inside):
                for a in range(personal.shape[1]):
                    p, r = model.transition_matrix, model.reward_matrix
                    target = sum(p[s, a, t] * (r[s, a, t] + cfg.discount * personal[t].max() * live[t])
                                 for t in range(len(live))) * live[s]
                    new[s, a] = (personal[s, a] + cfg.personal_lr * (target - personal[s, a])
                                 - cfg.personal_lr * cfg.lam * (personal[s, a] - auxiliary[s, a]))
            personal = new
        auxiliary = auxiliary - cfg.aux_lr * cfg.lam * (auxiliary - personal)         # eq. (8)
    return personal, auxiliary


def pmeta_aggregate(q_meta: np.ndarray, auxiliaries, masks, beta: float) -> np.ndarray:
    """Eq. (9): per state, (1 − β)Q^π + β · mean of Q_i^π over the tasks containing it (none: keep)."""
    out = q_meta.copy()
    for s in range(len(q_meta)):
        holders = [aux[s] for aux, mask in zip(auxiliaries, masks, strict=True) if mask[s]]
        if holders:
            out[s] = (1 - beta) * q_meta[s] + beta * np.mean(holders, axis=0)
    return out


def test_pmeta_meta_train_rounds_are_equations_6_8_and_9():
    tasks = list(metarl_envs.task_set(GRID, "train", "pmeta"))[:3]
    agent = PMetaRL(GRID, PMETA, GRID_KWARGS)
    agent.meta_train(tasks, iterations=2, seed=0)
    models = [model_of(GRID, GRID_KWARGS, t) for t in tasks]
    q_meta = np.zeros((81, 4))
    for _ in range(2):
        rounds = [pmeta_round(model, inside, q_meta, PMETA) for model, inside in models]
        q_meta = pmeta_aggregate(q_meta, [aux for _, aux in rounds], [inside for _, inside in models], PMETA.beta)
    assert np.abs(q_meta).max() > 0.1
    np.testing.assert_allclose(agent.meta_params()["meta"], q_meta, rtol=1e-10, atol=1e-12)
    for task, (personal, _) in zip(tasks, rounds, strict=True):
        np.testing.assert_allclose(agent.q_personal[task], personal, rtol=1e-10, atol=1e-12)


def test_pmeta_adaptation_is_one_round_from_the_given_meta_table():
    task = list(metarl_envs.task_set(GRID, "test", "pmeta"))[2]
    agent = PMetaRL(GRID, PMETA, GRID_KWARGS)
    model, inside = model_of(GRID, GRID_KWARGS, task)
    agent.q_meta = q_meta = np.random.default_rng(4).normal(size=(81, 4))
    [(_, _, (adapted,))] = recorded_rounds(agent, [task], 1, 1, np.random.default_rng(0))
    personal, auxiliary = pmeta_round(model, inside, q_meta, PMETA)
    np.testing.assert_allclose(adapted["personal"], personal, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(adapted["meta"], pmeta_aggregate(q_meta, [auxiliary], [inside], PMETA.beta),
                               rtol=1e-10, atol=1e-12)


PMETA_SAMPLED = PMetaRLConfig(lam=2.0, discount=0.9, personal_lr=0.2, aux_lr=0.3, beta=0.7, mode="sampled",
                              exploration=0.3)


def test_pmeta_sampled_adaptation_is_equation_7_on_the_rounds_transitions_in_order():
    """Sampled mode: one pass of eq. (7) over the round's transitions, episode by episode in time order,
    anchored at the meta table (no bootstrap from a terminal step), then eqs. (8) and (9) over every state."""
    cfg = PMETA_SAMPLED
    task = list(metarl_envs.task_set(GRID, "test", "pmeta"))[2]
    agent = PMetaRL(GRID, cfg, GRID_KWARGS)
    model, _ = model_of(GRID, GRID_KWARGS, task)
    q_star = np.zeros((81, 4))
    for _ in range(200):   # a table whose greedy policy reaches the goal, so some episodes terminate
        q_star = model.expected_reward + cfg.discount * model.live_transition @ q_star.max(axis=1)
    q_meta = q_star + 0.05 * np.random.default_rng(4).normal(size=(81, 4))
    q_meta[model.terminal_mask] += 5.0     # a bootstrap from a terminal state would show
    agent.q_meta = q_meta
    [(_, batch, (adapted,))] = recorded_rounds(agent, [task], 4, 1, np.random.default_rng(0))
    assert batch.terminated[0].any() and batch.mask[0].sum() > 10
    q = q_meta.copy()
    for e in range(batch.episodes_per_task):
        steps = int(batch.mask[0, e].sum())
        states = [round(float(np.ravel(o)[0])) for o in batch.observations[0, e, :steps]]
        states.append(round(float(np.ravel(batch.final_observations[0, e])[0])))
        for t in range(steps):
            s, a, s_next = states[t], int(batch.actions[0, e, t]), states[t + 1]
            bootstrap = 0.0 if batch.terminated[0, e, t] else q[s_next].max()
            target = batch.rewards[0, e, t] + cfg.discount * bootstrap
            step = cfg.personal_lr
            q[s, a] = q[s, a] + step * (target - q[s, a]) - step * cfg.lam * (q[s, a] - q_meta[s, a])
    np.testing.assert_allclose(adapted["personal"], q, rtol=1e-12, atol=1e-12)
    auxiliary = q_meta - cfg.aux_lr * cfg.lam * (q_meta - q)
    np.testing.assert_allclose(adapted["meta"], (1 - cfg.beta) * q_meta + cfg.beta * auxiliary, rtol=1e-12, atol=1e-12)


def test_pmeta_sampled_adaptation_explores_epsilon_greedily_on_the_personal_table():
    """The adaptation episodes act by (1 − ε)·greedy(Q_i) + ε/|A| (the personal table, else the meta one);
    evaluation episodes act greedily."""
    cfg = PMETA_SAMPLED
    agent = PMetaRL(GRID, cfg, GRID_KWARGS)
    rng = np.random.default_rng(5)
    meta, personal = rng.normal(size=(81, 4)), rng.normal(size=(81, 4))
    states = np.repeat(np.arange(81), 3000).reshape(1, -1)
    for params, table in (({"meta": meta}, meta), ({"meta": meta, "personal": personal}, personal)):
        greedy = np.eye(4)[table.argmax(axis=1)]
        for phase, expected in (("adapt", (1 - cfg.exploration) * greedy + cfg.exploration / 4), ("evaluate", greedy)):
            actions = agent.episode_policy([params], phase, np.random.default_rng(6))(states).reshape(81, 3000)
            frequencies = np.stack([np.bincount(row, minlength=4) for row in actions]) / 3000
            np.testing.assert_allclose(frequencies, expected, atol=0.035, err_msg=phase)
