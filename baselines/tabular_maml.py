"""Tabular softmax MAML: the baseline of BO-MRL's FrozenLake figures (docs/sources/bomrl.md §3.1, §6.1).

Finn et al. 2017, Algorithm 3 with one policy-gradient inner step on a tabular softmax policy:
    θ'_τ = ϕ + α ∇_ϕ J_τ(ϕ);      ϕ ← ϕ + β ∇_ϕ E_τ J_τ(θ'_τ)
Exact mode differentiates through the exact J (second order, `torch.autograd` with create_graph);
sampled mode's adaptation uses the MC policy gradient ν̂(s)/(1 − γ) π (Q̂ − V̂) from one collection.

| item | choice | source |
|---|---|---|
| inner step | exact ∇J (exact) or its MC estimate (sampled adaptation) | [D] §6.1 |
| meta-gradient | exact second-order gradient (exact mode only) | MAML |
| inner_lr α | 1.0 (per-task gradients are ν-weighted and small: ν(s) ≤ 1) | [D], tuned in {0.1, 0.5, 1.0} |
| meta optimiser | Adam, tasks_per_iteration tasks per step | [D] |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from baselines.common import tabular, training
from baselines.common.agent import COUNT, POSITIVE, AgentConfig, checked, interval
from metarl_envs.core import Task

__all__ = ["TabularMAML", "TabularMAMLConfig"]


@dataclasses.dataclass(frozen=True)
class TabularMAMLConfig(AgentConfig):
    inner_lr: float = checked(1.0, POSITIVE)
    """α of the inner policy-gradient step (also the step of every meta-test adaptation)"""
    discount: float = checked(0.8, interval("(0, 1)"))
    estimator: Literal["exact", "sampled"] = "exact"
    """adaptation's gradient: exact, or MC from `episodes_per_step` episodes (meta-training is exact)"""
    episodes_per_step: int = checked(20, COUNT)
    meta_lr: float = checked(0.05, POSITIVE)
    tasks_per_iteration: int = checked(5, COUNT)


class TabularMAML(tabular.SoftmaxTabularAgent):
    name = "MAML (tabular)"
    resumable = True
    config_class = TabularMAMLConfig

    def __init__(self, env_id: str, config: TabularMAMLConfig, env_kwargs: Mapping[str, Any] | None = None):
        super().__init__(env_id, config, env_kwargs)
        self._exact = tabular.TaskEstimator(env_id, self.env_kwargs, config.discount, "exact", 1)

    def _begin_training(self, train_tasks: Any, generator: torch.Generator) -> None:
        self._begin_logits(train_tasks, torch.optim.Adam)

    def meta_train_step(self, tasks: list[Task], rng: np.random.Generator) -> training.StepResult:
        """θ'_τ = ϕ + α ∇J_τ(ϕ) per task (exact, differentiable), then Adam on mean_τ J_τ(θ'_τ)."""
        cfg, phi = self.config, self._phi_t
        pre, post = [], []
        for task in tasks:
            model = self._exact.model(task)
            j_pre = tabular.expected_return(model, phi, cfg.discount)
            (grad,) = torch.autograd.grad(j_pre, phi, create_graph=True)
            post.append(tabular.expected_return(model, phi + cfg.inner_lr * grad, cfg.discount))
            pre.append(float(j_pre.detach()))
        objective = torch.stack(post).mean()
        self._optimizer.zero_grad()
        (-objective).backward()
        self._optimizer.step()
        self.phi = phi.detach().numpy().copy()
        return training.StepResult(0, float(np.mean(pre)), float(objective.detach()), {})

    def adapt_round(self, params: Sequence[np.ndarray], rollouts: Any) -> list[np.ndarray]:
        """One policy-gradient step θ' = θ + α ∇J_τ(θ) per task (MC from the round's episodes, or
        exact on the task's model when privileged)."""
        return [p + self.config.inner_lr * tabular.policy_gradient(p, q_values, nu, self.config.discount)
                for p, (q_values, nu) in zip(params, self.round_estimates(params, rollouts), strict=True)]
