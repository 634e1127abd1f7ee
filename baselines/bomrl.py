"""BO-MRL, tabular: Xu & Zhu, "Meta-Reinforcement Learning with Universal Policy Adaptation: Provable
Near-Optimality under All-task Optimum Comparator", NeurIPS 2024, Algorithm 1 (docs/sources/bomrl.md §1.5).

Meta-policy π_ϕ(·|s) = softmax(ϕ(s, ·)). One adaptation step ("one-time adaptation", §4) evaluates
Q^{π_ϕ} once and solves the regularized surrogate to optimality:
    Alg(i):  θ' = argmax_θ E_s[Σ_a π_θ(a|s) Q^{π_ϕ}(s, a)] − λ D_i²(π_ϕ, π_θ)
with D1 = KL(π_ϕ‖π_θ), D2 = KL(π_θ‖π_ϕ), D3 = ‖θ − ϕ‖² (`baselines.bomrl_solvers.solve_surrogate`).
The meta-gradient ∇_ϕ J_τ(π_θ') is taken by implicit differentiation (Prop. 1/2, CG for H⁻¹g).

| item | choice | source |
|---|---|---|
| Q^{π_ϕ} estimator | "exact" (model; default) or "sampled" (MC, `episodes_per_step` episodes) | §6.1 (a)/(b) |
| hypergradient, exact | ∇_ϕQ^{π_ϕ} and ∇_ϕν^{π_ϕ} kept: the exact gradient of J(θ'(ϕ)) | Prop. 1 |
| hypergradient, sampled | Q̂, ν̂ held constant (eq. 8); ∇_θJ(θ') from a second collection with π_θ' | eq. 8; [D] |
| D3 state weights | ν^{π_ϕ} (eq. 2); D1/D2 are per-state problems (eq. 1), weights irrelevant | §1.2 |
| tasks per iteration | a mini-batch of `tasks_per_iteration` (Alg. 1 samples one) | [D] §6.1 |
| meta optimiser | Adam on −∇J (`meta_optimizer="adam"`), or ascent ϕ += α∇ (Alg. 1 line 7) | [D] §6.1 |
| ϕ₀ | 0 (the uniform policy) | [D] §6.1 |
| "Random initialization" | `meta_learn=False`: no meta-training, the same Alg(i) from ϕ = 0 | [D][AMBIG] |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from baselines import bomrl_solvers as solvers
from baselines.common import tabular, training
from baselines.common.agent import COUNT, POSITIVE, AgentConfig, Callback, TrainingLog, checked, interval
from metarl_envs.core import Task

__all__ = ["BOMRL", "BOMRLConfig"]


@dataclasses.dataclass(frozen=True)
class BOMRLConfig(AgentConfig):
    divergence: solvers.Divergence = 1
    """i of Alg(i): 1 = KL(π_ϕ‖π_θ), 2 = KL(π_θ‖π_ϕ), 3 = ‖θ − ϕ‖²"""
    lam: float = checked(0.5, POSITIVE)
    """λ, weight of the divergence (FrozenLake high variance: 0.5, 0.5, 0.04; low: 0.25, 0.25, 0.02; App. A)"""
    discount: float = checked(0.8, interval("(0, 1)"))
    """γ of J and of Q (FrozenLake: 0.8, App. A)"""
    estimator: Literal["exact", "sampled"] = "exact"
    """how Q^{π_ϕ} (and ν, ∇J at θ') are obtained: exact model evaluation or Monte Carlo"""
    episodes_per_step: int = checked(20, COUNT)
    """sampled mode: episodes of one one-time data collection"""
    meta_lr: float = checked(0.05, POSITIVE)
    """meta step size α"""
    meta_optimizer: Literal["adam", "sgd"] = "adam"
    tasks_per_iteration: int = checked(5, COUNT)
    """tasks sampled (without replacement) per meta-iteration"""
    cg_iterations: int = checked(200, COUNT)
    """CG iterations for (−H) v = ∇_θ J(θ') (the Hessian has S·A rows; CG stops at 1e-12 residual)"""
    meta_learn: bool = True
    """False: skip meta-training (ϕ stays 0) — the paper's "Random initialization" baseline"""


class BOMRL(tabular.SoftmaxTabularAgent):
    """Tabular BO-MRL; parameters are logits ϕ[s, a] (numpy float64)."""

    name = "BO-MRL"
    resumable = True
    config_class = BOMRLConfig

    # ----- Algorithm 1 -----------------------------------------------------------------------
    def meta_train(self, train_tasks: Sequence[Task], *, iterations: int, seed: int,
                   callback: Callback | None = None) -> TrainingLog:
        """Algorithm 1; with `meta_learn=False` no iteration runs and ϕ stays 0 (random initialisation)."""
        return super().meta_train(train_tasks, iterations=iterations if self.config.meta_learn else 0, seed=seed,
                                  callback=callback)

    def _begin_training(self, train_tasks: Any, generator: torch.Generator) -> None:
        self._begin_logits(train_tasks, torch.optim.Adam if self.config.meta_optimizer == "adam" else torch.optim.SGD)

    def meta_train_step(self, tasks: list[Task], rng: np.random.Generator) -> training.StepResult:
        cfg = self.config                                                       # line 2: the batch of tasks
        hypergradients, pre, post, residuals, env_steps = [], [], [], [], 0
        for task in tasks:
            q_values, nu, pre_return, steps = self.estimator.estimate(task, self.phi, rng)      # line 3
            theta = solvers.solve_surrogate(self.phi, q_values, cfg.lam, cfg.divergence, nu)     # line 4
            hyper, info, post_return, post_steps = self._hypergradient(task, theta, q_values, nu, rng)  # 5-6
            hypergradients.append(hyper)
            pre.append(pre_return)
            post.append(post_return)
            residuals.append(info["cg_residual"])
            env_steps += steps + post_steps
        self._optimizer.zero_grad()
        self._phi_t.grad = torch.as_tensor(-np.mean(hypergradients, axis=0))   # ascent on J
        self._optimizer.step()                                                  # line 7
        self.phi = self._phi_t.detach().numpy().copy()
        return training.StepResult(env_steps, float(np.mean(pre)), float(np.mean(post)),
                                   {"hypergradient_norm": float(np.linalg.norm(np.mean(hypergradients, axis=0))),
                                    "cg_residual": float(np.max(residuals))})

    def _hypergradient(self, task: Task, theta: np.ndarray, q_values: np.ndarray, nu: np.ndarray,
                       rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float], float, int]:
        """∇_ϕ J_τ(π_θ') by implicit differentiation: (hypergradient, CG info, J(θ') estimate, env steps)."""
        cfg = self.config
        model = self.estimator.model(task) if cfg.estimator == "exact" else None
        if model is not None:  # exact: Q^{π_ϕ}, ν^{π_ϕ} differentiable in ϕ (Prop. 1 in full)
            hyper, info = solvers.implicit_hypergradient(model, self.phi, theta, cfg.lam, cfg.divergence,
                                                         cfg.discount, cfg.cg_iterations)
            post = float(tabular.expected_return(model, torch.as_tensor(theta), cfg.discount))
            return hyper, info, post, 0
        q_post, nu_post, post, steps = self.estimator.estimate(task, theta, rng)  # line 5: MC at π_θ'
        outer = torch.as_tensor(tabular.policy_gradient(theta, q_post, nu_post, cfg.discount))
        hyper, info = solvers.implicit_hypergradient(
            None, self.phi, theta, cfg.lam, cfg.divergence, cfg.discount, cfg.cg_iterations,
            q_values=torch.as_tensor(q_values), weights=self._weights(nu), outer_gradient=outer)
        return hyper, info, post, steps

    def _weights(self, nu: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(nu if self.config.divergence == 3 else np.ones_like(nu))

    # ----- meta-test surface -----------------------------------------------------------------
    def adapt_round(self, params: Sequence[np.ndarray], rollouts: Any) -> list[np.ndarray]:
        """One one-time adaptation Alg(i) per task from π_params: Q once (the round's episodes, or the
        model when privileged), then the surrogate solved."""
        return [solvers.solve_surrogate(p, q_values, self.config.lam, self.config.divergence, nu)
                for p, (q_values, nu) in zip(params, self.round_estimates(params, rollouts), strict=True)]
