"""SG-MRL: stochastic gradient meta-RL (Fallah, Georgiev, Mokhtari, Ozdaglar, NeurIPS 2021,
"On the Convergence Theory of Debiased Model-Agnostic Meta-Reinforcement Learning", Algorithm 1).

    repeat                                                               # Alg. 1
        draw B tasks
        for each task i:
            D_in ← D_in trajectories from π_θ;  θ_i = θ + α ∇̃J_i(θ, D_in)          # eq. (12)
            D_o  ← D_o new trajectories from π_θ_i
        θ ← θ + (β/B) Σ_i [(I + α∇̃²J_i(θ, D_in)) ∇̃J_i(θ_i, D_o)
                           + J̃_i(θ_i, D_o) · Σ_{τ∈D_in} ∇ log π(τ; θ)]              # eq. (13)

The outer estimate is the gradient of `estimators.meta_objective` with score coefficient J̃_i: the
Jacobian (I + α∇̃²J) comes from differentiating the inner step with D_in held fixed (the ∇²ν
part only, docs/sources/sgmrl.md A1), the second term from the score term. With ζ inner steps every inner
batch D_t gets a score term at θ^{t−1}(θ) (docs/sources/sgmrl.md §1.4; the released code only adds the first).

| choice | exact mode (theory) | practical mode (released code's setting) |
|---|---|---|
| weights | reward-to-go from t = 0 (γ^t, eq. (4)), no baseline | GAE(0.99, 0.997), linear baseline, normed |
| surrogate units | per-trajectory sum, mean over D (eq. (5)) | per-step mean (ProMP `log_likelihood`) |
| outer step | plain gradient ascent with β = `outer_lr` | Adam(`outer_lr` = 1e-3), one step per iteration |
| score coefficient | raw J̃_i = mean over D_o of Σ_h γ^h r_h (never normalised) | J̃_i / σ, σ = std of J̃ over the |
|                   |                                             | meta-batch (O(1) like the first term; |
|                   |                                             | docs/sources/sgmrl.md §6) |
| Hessian | autodiff through the inner step (`hessian="first_order"`: Jacobian = I, score term kept) | same |
| score baseline | none: the raw J̃_i (the paper's estimator) | leave-one-out: J̃_i − mean_{j≠i} J̃_j, |
|                |                                          | independent of D_in^i, so still unbiased |
|                | (`score_baseline` overrides either default) | (raw J̃ did not learn on nav2d: −113 flat) |

The authors' code multiplies the score term by mean(normalised advantages) ≈ 1e-9, i.e. turns it
off (docs/sources/sgmrl.md §3); here the coefficient is the raw return estimate, so the term is active.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from baselines.common import estimators, training
from baselines.common.agent import AgentConfig, checked, sizes
from baselines.common.policies import Params, detach
from baselines.common.sampler import TrajectoryBatch
from metarl_envs.core import Task

__all__ = ["SGMRL", "SGMRLConfig", "score_coefficients"]


@dataclasses.dataclass(frozen=True)
class SGMRLConfig(AgentConfig):
    mode: Literal["exact", "practical"] = "practical"
    """'exact' (the paper's estimator, plain ascent) or 'practical' (baseline, Adam)"""
    hidden_sizes: tuple[int, ...] = checked((100, 100), sizes())
    """sgmrl_full.json: [100, 100], tanh"""
    activation: str = "tanh"
    init_std: float = 1.0
    action_scale: float = 1.0
    """1.0: the Gaussian in env units; the released code's normalize wrapper maps a policy in [-10, 10]
    onto the env's bounds, i.e. 0.01 for the ±0.1 point env (docs/sources/sgmrl.md §2.1)"""
    inner_lr: float = 0.1
    """α (sgmrl_full.json inner_lr)"""
    inner_steps: int = 1
    """ζ"""
    tasks_per_iteration: int = 20
    """B (sgmrl_full.json meta_batch_size)"""
    episodes_per_task: int = 20
    """D_in = D_o (rollouts_per_meta_task)"""
    discount: float = 0.99
    gae_lambda: float = 0.997
    outer_lr: float = 1e-3
    """Adam learning rate (practical) or β of plain ascent (exact)"""
    hessian: Literal["autodiff", "first_order"] = "autodiff"
    score_baseline: Literal["none", "leave_one_out", "auto"] = "auto"
    """'none' (the paper's raw J̃_i), 'leave_one_out' (J̃_i minus the other tasks' mean) or 'auto':
    'none' in exact mode, 'leave_one_out' in practical mode"""
    debias_coef: float = 1.0
    """multiplies the score term (1.0: the paper's estimator)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.score_baseline == "auto":
            object.__setattr__(self, "score_baseline", "none" if self.exact else "leave_one_out")

    @property
    def exact(self) -> bool:
        return self.mode == "exact"

    @property
    def weight_spec(self) -> estimators.WeightSpec:
        if self.exact:
            return estimators.WeightSpec(self.discount, "reward_to_go", from_start=True)
        return estimators.WeightSpec(self.discount, "gae", self.gae_lambda, normalize=False)

    @property
    def reduction(self) -> str:
        # exact: the paper's per-trajectory sums; practical: the released code's surrogate, a mean over
        # every (s, a) sample of the task's batch (docs/sources/sgmrl.md §3), which weighs an early-ended episode's
        # steps like any other
        return "episode_sum" if self.exact else "step_mean"


def score_coefficients(outer_batch: TrajectoryBatch, config: SGMRLConfig) -> torch.Tensor:
    """c_i = J̃_i(θ_i, D_o), the raw mean discounted return of D_o, minus the other tasks' mean
    under `score_baseline="leave_one_out"`, times `debias_coef`. Practical mode divides by the
    spread of J̃ over the meta-batch, so the coefficients are O(1) like the normalised first term;
    a per-task advantage std (the earlier choice) collapses as a task is solved and blew the
    coefficient up to 1e7 on nav2d."""
    returns = outer_batch.episode_returns(config.discount).mean(axis=1)
    spread = returns.std()
    if config.score_baseline == "leave_one_out":
        if len(returns) < 2:
            raise ValueError("SGMRLConfig.score_baseline='leave_one_out' needs ≥ 2 tasks per iteration")
        returns = returns - (returns.sum() - returns) / (len(returns) - 1)
    if not config.exact:
        returns = returns / (spread + 1e-8)
    return torch.as_tensor(config.debias_coef * returns, dtype=torch.float32)


class SGMRL(training.PolicyGradientLearner):
    name = "sgmrl"
    resumable = True
    config_class = SGMRLConfig

    def _data(self, batch: TrajectoryBatch) -> estimators.StepData:
        """A batch's tensors and weights (normalised per task in practical mode)."""
        return estimators.StepData.of(batch, self.config.weight_spec, normalized=not self.config.exact)

    # ----- meta-training (Alg. 1) ------------------------------------------------------------
    def meta_train_step(self, tasks: list[Task], rng: np.random.Generator) -> training.StepResult:
        cfg, theta = self.config, self.meta_params()
        inner: list[estimators.StepData] = []
        adapted: Params | list[Params] = theta
        steps, pre_return = 0, float("nan")
        for t in range(cfg.inner_steps):
            d_in = self.sampler.collect(self.policy, adapted, tasks, cfg.episodes_per_task, rng)    # D_in (D_t)
            inner.append(self._data(d_in))
            adapted = [detach(p) for p in estimators.inner_step(self.policy, adapted, *inner[-1], cfg.inner_lr,
                                                                cfg.reduction, first_order=True)]   # eq. (12)
            steps += d_in.env_steps
            if t == 0:
                pre_return = float(d_in.episode_returns().mean())
        d_out = self.sampler.collect(self.policy, adapted, tasks, cfg.episodes_per_task, rng)      # D_o
        coefficients = score_coefficients(d_out, cfg)                                            # J̃_i(θ_i, D_o)
        leaves = self.policy.meta_params()
        objective = estimators.meta_objective(self.policy, leaves, inner, self._data(d_out), cfg.inner_lr,
                                              cfg.reduction, first_order=cfg.hessian == "first_order",
                                              score_coefficients=[coefficients] * cfg.inner_steps).mean()  # eq. (13)
        if cfg.exact:                                                            # θ ← θ + β · estimate
            gradient = dict(zip(leaves, torch.autograd.grad(objective, list(leaves.values())), strict=True))
            training.apply(self.policy, {k: theta[k] + cfg.outer_lr * gradient[k] for k in leaves})
        else:                                                                    # Adam on the estimate
            adam = self.adam()
            adam.zero_grad()
            (-objective).backward()
            adam.step()
        return training.StepResult(steps + d_out.env_steps, pre_return, float(d_out.episode_returns().mean()),
                                   {"score_coefficient_mean": float(coefficients.mean()),
                                    "score_coefficient_abs_mean": float(coefficients.abs().mean())})

    # ----- meta-test adaptation --------------------------------------------------------------
    def adapt_round(self, params: Sequence[Params], rollouts: TrajectoryBatch) -> list[Params]:
        """One inner step (eq. (12)) per task from the round's trajectories, all tasks batched."""
        adapted = estimators.inner_step(self.policy, list(params), *self._data(rollouts), self.config.inner_lr,
                                        self.config.reduction, first_order=True)
        return [detach(p) for p in adapted]
