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
part only, sgmrl.md A1), the second term from the score term. With ζ inner steps every inner
batch D_t gets a score term at θ^{t−1}(θ) (sgmrl.md §1.4; the released code only adds the first).

| choice | exact mode (theory) | practical mode (released code's setting) |
|---|---|---|
| weights | reward-to-go from t = 0 (γ^t, eq. (4)), no baseline | GAE(0.99, 0.997), linear baseline, normed |
| surrogate units | per-trajectory sum, mean over D (eq. (5)) | per-step mean (ProMP `log_likelihood`) |
| outer step | plain gradient ascent with β = `outer_lr` | Adam(`outer_lr` = 1e-3), one step per iteration |
| score coefficient | raw J̃_i = mean over D_o of Σ_h γ^h r_h (never normalised) | J̃_i / σ, σ = std of J̃ over the |
|                   |                                             | meta-batch (O(1) like the first term; sgmrl.md §6) |
| Hessian | autodiff through the inner step (`hessian="first_order"`: Jacobian = I, score term kept) | same |
| score baseline | none: the raw J̃_i (the paper's estimator) | leave-one-out: J̃_i − mean_{j≠i} J̃_j, |
|                |                                          | independent of D_in^i, so still unbiased |
|                | (`score_baseline` overrides either default) | (raw J̃ did not learn on nav2d: −113 flat) |

The authors' code multiplies the score term by mean(normalised advantages) ≈ 1e-9, i.e. turns it
off (sgmrl.md §3); here the coefficient is the raw return estimate, so the term is active.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines.common import estimators, training
from baselines.common.agent import Callback, ParameterAgent, Phase, TrainingLog, config_from_dict
from baselines.common.policies import Params, detach
from baselines.common.returns import normalize
from baselines.common.sampler import TrajectoryBatch, training_envs
from metarl_envs.core import Task

__all__ = ["SGMRL", "SGMRLConfig", "score_coefficients"]


@dataclasses.dataclass(frozen=True)
class SGMRLConfig:
    mode: str = "practical"
    """'exact' (the paper's estimator, plain ascent) or 'practical' (baseline, Adam)"""
    hidden_sizes: tuple[int, ...] = (100, 100)
    """sgmrl_full.json: [100, 100], tanh"""
    activation: str = "tanh"
    init_std: float = 1.0
    action_scale: float = 1.0
    """1.0: the Gaussian in env units; the released code's normalize wrapper maps a policy in [-10, 10]
    onto the env's bounds, i.e. 0.01 for the ±0.1 point env (sgmrl.md §2.1)"""
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
    hessian: str = "autodiff"
    score_baseline: str = "auto"
    """'none' (the paper's raw J̃_i), 'leave_one_out' (J̃_i minus the other tasks' mean) or 'auto':
    'none' in exact mode, 'leave_one_out' in practical mode"""
    debias_coef: float = 1.0
    """multiplies the score term (1.0: the paper's estimator)"""

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        if self.score_baseline == "auto":
            object.__setattr__(self, "score_baseline", "none" if self.mode == "exact" else "leave_one_out")
        for field, allowed in (("mode", ("exact", "practical")), ("hessian", ("autodiff", "first_order")),
                               ("score_baseline", ("none", "leave_one_out"))):
            if getattr(self, field) not in allowed:
                raise ValueError(f"SGMRLConfig.{field}={getattr(self, field)!r}: must be one of {list(allowed)}")

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
        # every (s, a) sample of the task's batch (sgmrl.md §3), which weighs an early-ended episode's
        # steps like any other
        return "episode_sum" if self.exact else "step_mean"

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "hidden_sizes": list(self.hidden_sizes)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SGMRLConfig:
        return config_from_dict(cls, data)


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


class SGMRL(ParameterAgent):
    name = "sgmrl"
    config_class = SGMRLConfig

    def __init__(self, env_id: str, config: SGMRLConfig | None = None, env_kwargs: Mapping[str, Any] | None = None):
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        self.config = config or SGMRLConfig()
        self.sampler, self.policy = training.sampler_and_policy(env_id, self.env_kwargs, self.config)
        self._adam = torch.optim.Adam(self.policy.parameters(), lr=self.config.outer_lr)

    def meta_train(self, train_tasks: Sequence[Task], *, iterations: int, seed: int,
                   callback: Callback | None = None) -> TrainingLog:
        self.sampler = train_tasks = training_envs(train_tasks, self.env_id, self.env_kwargs)
        rng = training.seed_policy(self.policy, seed)
        self._adam = torch.optim.Adam(self.policy.parameters(), lr=self.config.outer_lr)
        return training.run_meta_training(self.meta_train_step, train_tasks, self.config.tasks_per_iteration,
                                    iterations=iterations, rng=rng, callback=callback)

    def _step_data(self, batch: TrajectoryBatch) -> tuple[estimators.BatchTensors, torch.Tensor, np.ndarray]:
        raw = estimators.weights(batch, self.config.weight_spec)
        weights = raw if self.config.exact else normalize(raw, batch.mask)
        return estimators.BatchTensors.of(batch), estimators.as_weights(weights), raw

    def meta_train_step(self, tasks: list[Task], rng: np.random.Generator) -> training.StepResult:
        cfg, theta = self.config, detach(self.policy.meta_params())
        inner, adapted, steps, pre = [], theta, 0, float("nan")
        for t in range(cfg.inner_steps):
            batch = self.sampler.collect(self.policy, adapted, tasks, cfg.episodes_per_task, rng)   # D_in (D_t)
            tensors, step_weights, _ = self._step_data(batch)
            inner.append((tensors, step_weights))
            adapted = [detach(p) for p in estimators.inner_step(self.policy, adapted, tensors, step_weights,
                                                                cfg.inner_lr, cfg.reduction, first_order=True)]  # (12)
            steps, pre = steps + batch.env_steps, float(batch.episode_returns().mean()) if t == 0 else pre
        outer_batch = self.sampler.collect(self.policy, adapted, tasks, cfg.episodes_per_task, rng)  # D_o
        outer_tensors, outer_weights, _ = self._step_data(outer_batch)
        coefficients = score_coefficients(outer_batch, cfg)
        leaves = self.policy.meta_params()
        objective = estimators.meta_objective(self.policy, leaves, inner, (outer_tensors, outer_weights), cfg.inner_lr,
                                      cfg.reduction, first_order=cfg.hessian == "first_order",
                                      score_coefficients=[coefficients] * cfg.inner_steps).mean()   # eq. (13)
        if cfg.exact:
            gradient = torch.autograd.grad(objective, list(leaves.values()))
            training.apply(self.policy, {k: theta[k] + cfg.outer_lr * g for (k, _), g in zip(leaves.items(), gradient,
                                                                                       strict=True)})
        else:
            self._adam.zero_grad()
            (-objective).backward()
            self._adam.step()
        return (steps + outer_batch.env_steps, pre, float(outer_batch.episode_returns().mean()),
                {"score_coefficient_mean": float(coefficients.mean()),
                 "score_coefficient_abs_mean": float(coefficients.abs().mean())})

    # ----- the Agent surface -----------------------------------------------------------------
    def meta_params(self) -> Params:
        return detach(self.policy.meta_params())

    def episode_policy(self, params: Sequence[Params], phase: Phase,
                       rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        return training.episode_policy(self.policy, params, phase, rng)

    def adapt_round(self, params: Sequence[Params], rollouts: TrajectoryBatch) -> list[Params]:
        """One inner step (eq. (12)) per task from the round's trajectories, all tasks batched."""
        tensors, step_weights, _ = self._step_data(rollouts)
        adapted = estimators.inner_step(self.policy, list(params), tensors, step_weights, self.config.inner_lr,
                                self.config.reduction, first_order=True)
        return [detach(p) for p in adapted]

    def act(self, obs: np.ndarray, params: Params, *, deterministic: bool = False,
            rng: np.random.Generator | None = None) -> np.ndarray:
        return training.act(self.policy, obs, params, deterministic=deterministic, rng=rng)

    def save(self, path: str | Path) -> None:
        training.save_agent(self, path)

    @classmethod
    def load(cls, path: str | Path) -> SGMRL:
        return training.load_agent(cls, path)
