"""BO-MRL, deep version: the practical algorithm (Xu & Zhu, NeurIPS 2024, App. D, Algorithm 2) with a
Gaussian MLP policy, for the MuJoCo tasks of §6.2 (docs/sources/bomrl.md §1.4, §1.6, §3.2).

    for t = 1..T:                                                                  # Alg. 2
        sample N tasks τ_i                                                         # line 2
        B_i ← K episodes of π_ϕ on τ_i   (the one-time data collection)            # line 3
        Â_i ← Monte-Carlo returns minus a linear baseline, normalised               # line 4
        θ'_i ← 50 Adam iterations from ϕ on                                        # line 5, eq. 7
               L_i(θ, ϕ) = mean_{(s,a)∈B_i} h(π_θ(a|s)/π_ϕ(a|s)) Â_i(s,a) − λ D̂_i²(π_ϕ, π_θ)
        B'_i ← K episodes of π_θ'_i;  g'_i = ∇_θ J_i(θ'_i) on B'_i                  # eq. 8 needs them
        v_i  ← CG on (−∇²_θθ L_i(θ'_i, ϕ) + δI) v = g'_i   (double-backward products) # line 6, eq. 8
        ĝ = (1/N) Σ_i ∇_ϕ ⟨v_i, ∇_θ L_i(θ'_i, ϕ)⟩          (v_i held fixed)
        ϕ ← TRPO step along ĝ within KL(π_ϕ_old ‖ π_ϕ) ≤ δ on the states of ∪B_i    # line 7

Alg(i) is the divergence: D̂₁² = mean_s KL(π_ϕ‖π_θ), D̂₂² = mean_s KL(π_θ‖π_ϕ) over the states of B_i,
D̂₃² = ‖θ − ϕ‖². h(x) = 2/(1 + e^{−2(x−1)}) = 1 + tanh(x − 1) keeps the ratio from being pushed far
(eq. 7; printed "arg min", an arg max). The hypergradient is eq. 8: implicit differentiation of the
stationarity of L_i (the tabular agent's `bomrl_solvers.implicit_gradient`), with Â and the sampled
states held constant — the ∇_ϕQ and ∇_ϕν terms eq. 8 drops — and the π_ϕ under the ratio held constant
(it is the sampling distribution of B_i, which E_ϕ[π_θ/π_ϕ · Q] integrates out). The Hessian is that
of the objective Adam solves (with h; eq. 8 writes the raw ratio: docs/sources/bomrl.md §1.6).
TRPO gets the hypergradient as a linear loss −⟨ĝ, ϕ − ϕ_old⟩, so its line search accepts the largest
step within the KL bound (the paper gives no surrogate to check; the reference default, §3.2).
One adaptation step at meta-test is the same one-time adaptation (lines 3-5) on the round's episodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from baselines.bomrl_solvers import DIVERGENCES, Divergence, implicit_gradient
from baselines.common import estimators, training
from baselines.common.agent import COUNT, NON_NEGATIVE, POSITIVE, AgentConfig, checked, sizes
from baselines.common.policies import Params, Policy, StackedParams
from baselines.common.sampler import TrajectoryBatch
from baselines.common.trpo import flat_rows, hessian_vector_product, trpo_step
from metarl_envs.core import Task

__all__ = ["DeepBOMRL", "DeepBOMRLConfig", "adaptation_objective", "divergence", "hypergradient",
           "one_time_adaptation", "squash"]


@dataclasses.dataclass(frozen=True)
class DeepBOMRLConfig(estimators.AdvantageSettings, AgentConfig):
    """Every choice, with where it comes from: "paper" (App. B / App. D), or a reference default where
    the paper is silent ("[DEFAULT]", docs/sources/bomrl.md §6.2). The advantage fields (the base's)
    are [DEFAULT]s: γ = `discount` 0.99; `gae_lambda` 1.0, i.e. Monte-Carlo returns minus the linear
    baseline ("Q by Monte Carlo", App. B); `normalize_advantages` True (the paper writes raw Q; with
    h the two give different solutions)."""

    divergence: Divergence = 1
    """i of Alg(i): 1 = KL(π_ϕ‖π_θ), 2 = KL(π_θ‖π_ϕ), 3 = ‖θ − ϕ‖² (paper §4; Fig. 2 plots all three)"""
    lam: float = checked(0.5, POSITIVE)
    """λ (paper App. B: Alg(1) 0.5 on all four tasks; Alg(2) 0.4 on cheetah velocity, else 0.5; Alg(3)
    not reported: 5.0 [DEFAULT], which matches MAML's step 0.1 through θ' ≈ ϕ + g/(2λ))"""
    hidden_sizes: tuple[int, ...] = checked((64, 64), sizes())
    """paper App. B: two hidden layers of 64, tanh"""
    activation: str = "tanh"
    init_std: float = checked(1.0, POSITIVE)
    """[DEFAULT] initial std; the std is a learned state-independent parameter (the paper's network
    outputs means and variances: the reference's listed alternative, shared with MAML here)"""
    action_scale: float = checked(1.0, POSITIVE)
    """the Gaussian in env units (1.0) or in a normalised space mapped onto the env by this factor"""
    inner_iterations: int = checked(50, COUNT)
    """Adam iterations of the one-time adaptation (paper App. B: 50)"""
    inner_lr: float = checked(1e-3, POSITIVE)
    """Adam learning rate of the adaptation ([DEFAULT] 1e-3; the paper gives none)"""
    squash: bool = True
    """apply eq. 7's h to the ratio (False: the raw importance ratio of eq. 2)"""
    tasks_per_iteration: int = checked(40, COUNT)
    """N ([DEFAULT] 40, the MAML/ProMP meta-batch; the paper gives none)"""
    episodes_per_task: int = checked(20, COUNT)
    """K rollouts per adaptation step (paper App. B: 20; 40 for Ant direction)"""
    reduction: estimators.Reduction = "step_mean"
    """eq. 7's 1/|B| Σ over the (s, a) of B (the same units for ∇J at θ')"""
    hypergradient_cg_iterations: int = checked(10, COUNT)
    """CG iterations for H v = g' ([DEFAULT] 10; paper: "conjugate gradient", App. D)"""
    hypergradient_damping: float = checked(1e-2, NON_NEGATIVE)
    """δ added to −∇²L in the CG ([DEFAULT] 1e-2)"""
    max_kl: float = checked(1e-3, POSITIVE)
    """TRPO's KL constraint (paper App. B: δ = 1e-3)"""
    cg_iterations: int = checked(10, COUNT)
    """TRPO's Fisher CG ([DEFAULT], pytorch-maml-rl's 10 iterations, damping 1e-5, line search 15 × 0.8)"""
    cg_damping: float = checked(1e-5, NON_NEGATIVE)
    ls_max_steps: int = checked(15, COUNT)
    ls_backtrack_ratio: float = 0.8


# --------------------------------------------------------------------------------------------
# The within-task problem (eq. 7) and its one-time solve
# --------------------------------------------------------------------------------------------
def squash(ratio: torch.Tensor) -> torch.Tensor:
    """h(x) = 2/(1 + e^{−2(x−1)}) = 1 + tanh(x − 1): h(1) = 1, h'(1) = 1, values in (0, 2) (eq. 7)."""
    return 1.0 + torch.tanh(ratio - 1.0)


def divergence(policy: Policy, theta: Mapping[str, torch.Tensor], phi: Mapping[str, torch.Tensor],
               dist_theta: tuple[torch.Tensor, ...], dist_phi: tuple[torch.Tensor, ...],
               mask: torch.Tensor, which: int) -> torch.Tensor:
    """(T,) D̂_i²(π_ϕ, π_θ) per task: the mean over the batch's states (`mask`) of KL(π_ϕ‖π_θ) (i = 1)
    or KL(π_θ‖π_ϕ) (i = 2) from the distributions there, or ‖θ − ϕ‖² over every parameter (i = 3).
    θ is task-stacked; ϕ shared or stacked."""
    if which == 3:
        return sum(((theta[k] - phi[k]) ** 2).reshape(theta[k].shape[0], -1).sum(-1) for k in theta)
    if which not in (1, 2):
        raise ValueError(f"divergence: which={which!r} must be one of {DIVERGENCES}")
    kl = policy.kl(dist_phi, dist_theta) if which == 1 else policy.kl(dist_theta, dist_phi)
    return estimators.reduce_steps(kl, mask, "step_mean")


def adaptation_objective(policy: Policy, theta: StackedParams, phi: Mapping[str, torch.Tensor],
                         dist_phi: tuple[torch.Tensor, ...], data: estimators.StepData, phi_log_probs: torch.Tensor,
                         config: DeepBOMRLConfig) -> torch.Tensor:
    """(T,) L_i(θ_i, ϕ) of eq. 7, the policy evaluated once under θ. `dist_phi` (π_ϕ on the batch's
    states) carries ϕ into the divergence; `phi_log_probs` = log π_ϕ(a|s) of the batch is a constant
    (the sampling distribution)."""
    tensors = data.tensors
    dist_theta = policy.dist_params(theta, tensors.observations)
    ratio = torch.exp(policy.log_prob_from(dist_theta, tensors.actions) - phi_log_probs)
    gain = estimators.reduce_steps((squash(ratio) if config.squash else ratio) * data.weights, tensors.mask,
                                   config.reduction)
    return gain - config.lam * divergence(policy, theta, phi, dist_theta, dist_phi, tensors.mask, config.divergence)


def _stacked_copy(params: Mapping[str, torch.Tensor], count: int) -> StackedParams:
    """Per-task leaves (T, ...) holding `params` (shared, or already stacked), cut from any graph."""
    if isinstance(params, StackedParams):
        return StackedParams({k: v.detach().clone().requires_grad_(True) for k, v in params.items()})
    return StackedParams({k: v.detach().unsqueeze(0).repeat(count, *[1] * v.dim()).requires_grad_(True)
                          for k, v in params.items()})


def one_time_adaptation(policy: Policy, phi: Mapping[str, torch.Tensor], data: estimators.StepData,
                        config: DeepBOMRLConfig) -> StackedParams:
    """Alg(i) on every task at once: θ'_i = argmax_θ L_i(θ, ϕ) by `inner_iterations` Adam steps from θ = ϕ
    (Adam is per coordinate, so one optimiser on the stacked θ is one per task). Returns detached θ'."""
    count, stacked = data.tensors.mask.shape[0], isinstance(phi, StackedParams)
    phi = {k: v.detach() for k, v in phi.items()}
    phi = StackedParams(phi) if stacked else phi
    with torch.no_grad():
        dist_phi = policy.dist_params(phi, data.tensors.observations)
        phi_log_probs = policy.log_prob_from(dist_phi, data.tensors.actions)
    theta = _stacked_copy(phi, count)
    adam = torch.optim.Adam(list(theta.values()), lr=config.inner_lr)
    for _ in range(config.inner_iterations):
        adam.zero_grad()
        (-adaptation_objective(policy, theta, phi, dist_phi, data, phi_log_probs, config).sum()).backward()
        adam.step()
    return StackedParams({k: v.detach() for k, v in theta.items()})


# --------------------------------------------------------------------------------------------
# The hypergradient (eq. 8)
# --------------------------------------------------------------------------------------------
def hypergradient(policy: Policy, phi: Params, theta_star: StackedParams, data: estimators.StepData,
                  outer: estimators.StepData, config: DeepBOMRLConfig) -> tuple[Params, dict[str, float]]:
    """(1/N) Σ_i ∇_ϕ J_i(θ'_i(ϕ)) by implicit differentiation (eq. 8): per task, v_i from CG on
    (−∇²_θθ L_i + δI) v = g'_i (Hessian-vector products by double backpropagation, one CG per task run
    side by side), then ∇_ϕ ⟨v_i, ∇_θ L_i(θ'_i, ϕ)⟩. g'_i = ∇_θ of the surrogate of `outer` (B'_i)."""
    count = data.tensors.mask.shape[0]
    phi_leaves = {k: v.detach().requires_grad_(True) for k, v in phi.items()}
    theta = _stacked_copy(theta_star, count)
    with torch.enable_grad():
        dist_phi = policy.dist_params(phi_leaves, data.tensors.observations)
        phi_log_probs = policy.log_prob_from(dist_phi, data.tensors.actions).detach()
        objective = adaptation_objective(policy, theta, phi_leaves, dist_phi, data, phi_log_probs, config).sum()
        grad_theta = torch.autograd.grad(objective, list(theta.values()), create_graph=True)
        negative = hessian_vector_product([-g for g in grad_theta], list(theta.values()),
                                          config.hypergradient_damping, rows=True)
        outer_gradient, _ = estimators.policy_gradients(policy, _stacked_copy(theta_star, count), outer.tensors,
                                                        outer.weights, config.reduction, create_graph=False)
        hyper, info = implicit_gradient(grad_theta, list(phi_leaves.values()), negative,
                                        flat_rows(list(outer_gradient.values())), config.hypergradient_cg_iterations,
                                        tolerance=1e-20)  # on ‖r‖²: the iteration count stops it
    stationarity = float(torch.linalg.norm(flat_rows([g.detach() for g in grad_theta])))
    return ({k: h / count for k, h in zip(phi_leaves, hyper, strict=True)},
            {**info, "stationarity": stationarity})


class DeepBOMRL(training.PolicyGradientLearner):
    name = "bomrl-deep"
    resumable = True
    config_class = DeepBOMRLConfig

    def _data(self, batch: TrajectoryBatch) -> estimators.StepData:
        return estimators.StepData.of(batch, self.config.weight_spec)

    # ----- meta-training (Alg. 2) ------------------------------------------------------------
    def meta_train_step(self, tasks: list[Task], rng: np.random.Generator) -> training.StepResult:
        cfg, phi, policy = self.config, self.meta_params(), self.policy
        batch = self.sampler.collect(policy, phi, tasks, cfg.episodes_per_task, rng)              # line 3
        data = self._data(batch)                                                                  # line 4
        theta = one_time_adaptation(policy, phi, data, cfg)                                       # line 5
        post = self.sampler.collect(policy, theta, tasks, cfg.episodes_per_task, rng)             # B' (eq. 8)
        hyper, info = hypergradient(policy, phi, theta, data, self._data(post), cfg)              # line 6
        observations, mask = data.tensors.observations, data.tensors.mask
        old_dist = [d.detach() for d in policy.dist_params(phi, observations)]

        def loss_fn(params: Params) -> torch.Tensor:   # −⟨ĝ, ϕ − ϕ_old⟩: its gradient is −ĝ
            return -sum((hyper[k] * (params[k] - phi[k])).sum() for k in params)

        def kl_fn(params: Params) -> torch.Tensor:
            kl = policy.kl(old_dist, policy.dist_params(params, observations))
            return (kl * mask).sum() / mask.sum()

        new, step = trpo_step(phi, loss_fn, kl_fn, max_kl=cfg.max_kl, damping=cfg.cg_damping,           # line 7
                              cg_iterations=cfg.cg_iterations, ls_max_steps=cfg.ls_max_steps,
                              ls_ratio=cfg.ls_backtrack_ratio)
        training.apply(policy, new)
        norm = float(torch.linalg.norm(torch.cat([h.reshape(-1) for h in hyper.values()])))
        return training.StepResult(batch.env_steps + post.env_steps, float(batch.episode_returns().mean()),
                                   float(post.episode_returns().mean()),
                                   {**info, "hypergradient_norm": norm, "step_fraction": step["step_fraction"]})

    # ----- meta-test adaptation --------------------------------------------------------------
    def adapt_round(self, params: Sequence[Params], rollouts: TrajectoryBatch) -> list[Params]:
        """One one-time adaptation Alg(i) per task from its current policy, on the round's episodes."""
        theta = one_time_adaptation(self.policy, StackedParams.of(list(params)), self._data(rollouts), self.config)
        return estimators.unstack(theta, len(params))
