"""Policy-gradient pieces the meta-learners share: weights, surrogates, the inner step.

Every function takes a `TrajectoryBatch` (or its tensors) from any source — the sampler, or a
test that enumerates or samples a tiny MDP by hand — so the estimators the agents use are the
estimators the exactness tests check.

Surrogates are *maximised*: for one task, with log π summed over the action dimensions,

    surrogate(θ; D, w) = (1/|D|) Σ_{τ∈D} ρ(τ) Σ_h log π(a_h|s_h; θ) · w_h,
    ρ(τ) = 1 ("episode_sum": the papers' eq. (5)/(9) units), 1/len(τ) ("episode_mean":
    pytorch-maml-rl's per-step weighted mean) or |D|/Σ_τ len(τ) ("step_mean": rllab's mean over
    every sample of the batch, as in the original MAML code; differs from episode_mean only when
    episodes end early),

so ∇surrogate is the REINFORCE/GPOMDP estimate ∇̃J when w_h is the reward-to-go (from t = 0,
for the papers' eq. (8b)), or the usual advantage form when w is a (normalised) GAE advantage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, NamedTuple

import numpy as np
import torch

from baselines.common.agent import checked, interval
from baselines.common.policies import Params, Policy, StackedParams
from baselines.common.returns import LinearFeatureBaseline, discounted_returns, gae, normalize
from baselines.common.sampler import TrajectoryBatch

__all__ = ["AdvantageSettings", "BatchTensors", "InnerRun", "InnerStep", "StepData", "WeightSpec",
           "adapted_fisher_product", "inner_step", "meta_objective", "policy_gradients", "reduce_steps",
           "rerun_inner_steps", "score_term", "surrogates", "weights"]

Reduction = Literal["episode_sum", "episode_mean", "step_mean"]
REDUCTIONS = ("episode_sum", "episode_mean", "step_mean")


@dataclasses.dataclass(frozen=True)
class WeightSpec:
    """How the per-step weights w_h of a surrogate are computed from a batch."""

    discount: float = 0.99
    advantage: Literal["reward_to_go", "gae"] = "gae"
    """reward_to_go: w_h = R^h, no baseline (the papers' estimator); gae: GAE with the linear baseline"""
    gae_lambda: float = 1.0
    from_start: bool = False
    """reward_to_go only: discount counted from t = 0 (γ^l, the papers' eq. (8b)) instead of from h"""
    normalize: bool = True
    """gae only: advantages to zero mean and unit std per task (pytorch-maml-rl, ProMP)"""


@dataclasses.dataclass(frozen=True)
class AdvantageSettings:
    """The advantage fields of a policy-gradient agent's config (a base of the config dataclass) and the
    `WeightSpec` they give: GAE(`discount`, `gae_lambda`) on the linear baseline, normalised per task
    when `normalize_advantages` (pytorch-maml-rl's and ProMP's defaults: 0.99, 1.0, True)."""

    discount: float = checked(0.99, interval("(0, 1]"))
    gae_lambda: float = checked(1.0, interval("[0, 1]"))
    normalize_advantages: bool = True

    @property
    def weight_spec(self) -> WeightSpec:
        return WeightSpec(self.discount, "gae", self.gae_lambda, normalize=self.normalize_advantages)


def weights(batch: TrajectoryBatch, spec: WeightSpec) -> np.ndarray:
    """Per-step weights (T, E, H) as constants (no side effect on any state: the baseline is
    refitted on this batch's own returns, per task, each call)."""
    returns = discounted_returns(batch.rewards, batch.mask, spec.discount,
                                 from_start=spec.from_start and spec.advantage == "reward_to_go")
    if spec.advantage == "reward_to_go":
        return returns
    if spec.advantage != "gae":
        raise ValueError(f"WeightSpec.advantage={spec.advantage!r}: must be 'reward_to_go' or 'gae'")
    lengths = batch.mask.sum(axis=-1)
    values, final_values = LinearFeatureBaseline().values(batch.observations, returns, batch.mask,
                                                          batch.final_observations, lengths)
    advantages = gae(batch.rewards, values, final_values, batch.mask, batch.terminated, batch.truncated,
                     spec.discount, spec.gae_lambda)
    return normalize(advantages, batch.mask) if spec.normalize else advantages


@dataclasses.dataclass(frozen=True)
class BatchTensors:
    """The torch views of a batch the surrogates read: (T, E, H, ...)."""

    observations: torch.Tensor
    actions: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def of(cls, batch: TrajectoryBatch) -> BatchTensors:
        return cls(torch.as_tensor(batch.observations), torch.as_tensor(batch.actions),
                   torch.as_tensor(batch.mask, dtype=torch.float32))


class StepData(NamedTuple):
    """One collected batch as the surrogates read it: its tensors and its per-step weights w_h."""

    tensors: BatchTensors
    weights: torch.Tensor

    @classmethod
    def of(cls, batch: TrajectoryBatch, spec: WeightSpec, *, normalized: bool = False) -> StepData:
        """The batch's tensors and `weights(batch, spec)`, normalised per task when `normalized`."""
        step_weights = weights(batch, spec)
        if normalized:
            step_weights = normalize(step_weights, batch.mask)
        return cls(BatchTensors.of(batch), as_weights(step_weights))


class InnerStep(NamedTuple):
    """One inner step of a re-run: the parameters it started from and ∇surrogate_i there (task-stacked)."""

    start: Params | Sequence[Params]
    gradient: dict[str, torch.Tensor]


class InnerRun(NamedTuple):
    """The inner steps re-run from θ on stored batches, and the adapted parameters θ_i^ζ (one Params per
    task; task-stacked for a `separate` run)."""

    steps: list[InnerStep]
    adapted: list[Params] | StackedParams


def reduce_steps(per_step: torch.Tensor, mask: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """Mean over episodes (axis −2) of Σ_h per_step, scaled by 1/len(τ) for episode_mean; for
    step_mean, Σ over every step of the batch / its number of steps."""
    per_episode = (per_step * mask).sum(-1)
    if reduction == "step_mean":
        return per_episode.sum(-1) / mask.sum((-2, -1)).clamp(min=1.0)
    if reduction == "episode_mean":
        per_episode = per_episode / mask.sum(-1).clamp(min=1.0)
    elif reduction != "episode_sum":
        raise ValueError(f"reduction={reduction!r}: must be one of {REDUCTIONS}")
    return per_episode.mean(-1)


def _log_terms(policy: Policy, params, tensors: BatchTensors, old_log_probs: torch.Tensor | None) -> torch.Tensor:
    """log π, or the likelihood ratio π/π_old when `old_log_probs` is given (TRPO's surrogate):
    both have the same gradient at the old parameters."""
    log_probs = policy.log_prob(params, tensors.observations, tensors.actions)
    return log_probs if old_log_probs is None else torch.exp(log_probs - old_log_probs)


def surrogates(policy: Policy, params: Params | Sequence[Params], tensors: BatchTensors, step_weights: torch.Tensor,
               reduction: Reduction, old_log_probs: torch.Tensor | None = None) -> torch.Tensor:
    """(T,) per-task surrogate values; `params` shared by all tasks or one per task."""
    return reduce_steps(_log_terms(policy, params, tensors, old_log_probs) * step_weights, tensors.mask, reduction)


def score_term(policy: Policy, params: Params | Sequence[Params], tensors: BatchTensors,
               reduction: Reduction, old_log_probs: torch.Tensor | None = None) -> torch.Tensor:
    """(T,) Σ_{τ∈D} ρ(τ) Σ_h log π(a_h|s_h; θ): a *sum* over the batch's trajectories (SG-MRL eq. (13))."""
    terms = _log_terms(policy, params, tensors, old_log_probs)
    return reduce_steps(terms, tensors.mask, reduction) * tensors.mask.shape[-2]


def policy_gradients(policy: Policy, params: Params | Sequence[Params], tensors: BatchTensors,
                     step_weights: torch.Tensor, reduction: Reduction, *,
                     create_graph: bool = True) -> tuple[dict[str, torch.Tensor], Params]:
    """∇ surrogate_i(θ_i) for every task i at once: returns (gradients stacked over tasks, the
    stacked parameters they were taken at). Shared parameters are expanded to one (view) copy
    per task, so one `autograd.grad` of Σ_i surrogate_i w.r.t. the copies gives each task its
    own gradient (task i's surrogate reads copy i only). Differentiable w.r.t. `params` when
    `create_graph`."""
    count = tensors.mask.shape[0]
    with torch.enable_grad():
        if isinstance(params, StackedParams):
            stacked = {k: v if v.requires_grad else v.detach().requires_grad_(True) for k, v in params.items()}
        elif isinstance(params, Mapping):
            base = {k: v if v.requires_grad else v.detach().requires_grad_(True) for k, v in params.items()}
            stacked = {k: v.unsqueeze(0).expand(count, *v.shape) for k, v in base.items()}
        else:
            stacked = {k: v if v.requires_grad else v.detach().requires_grad_(True)
                       for k, v in StackedParams.of(params).items()}
        total = surrogates(policy, StackedParams(stacked), tensors, step_weights, reduction).sum()
        grads = torch.autograd.grad(total, list(stacked.values()), create_graph=create_graph)
    return dict(zip(stacked, grads, strict=True)), stacked


def unstack(stacked: Mapping[str, torch.Tensor], count: int) -> list[Params]:
    return [{k: v[i] for k, v in stacked.items()} for i in range(count)]


def rerun_inner_steps(policy: Policy, theta: Params | Sequence[Params], inner: Sequence[StepData], inner_lr: float,
                      reduction: Reduction, *, first_order: bool = False, separate: bool = False) -> InnerRun:
    """θ_i^t = θ_i^{t−1} + α ∇surrogate_i(θ_i^{t−1}; D_t) for t = 1..ζ, every task at once, from θ_i^0 = θ
    on the stored batches D_t. By default one graph runs through every step (differentiable w.r.t. θ
    unless `first_order`); with `separate` each step starts from a fresh leaf, so its gradient's graph
    is its own (the per-step Hessian-vector products of `adapted_fisher_product`)."""
    count = inner[0].tensors.mask.shape[0]
    current: Params | Sequence[Params] | StackedParams = theta
    if separate:
        current = StackedParams({k: v.detach().unsqueeze(0).expand(count, *v.shape) for k, v in theta.items()})
    steps = []
    for data in inner:
        start = StackedParams({k: v.detach().clone().requires_grad_(True) for k, v in current.items()}) \
            if separate else current
        gradients, stacked = policy_gradients(policy, start, data.tensors, data.weights, reduction,
                                              create_graph=not first_order and (separate or torch.is_grad_enabled()))
        steps.append(InnerStep(start, gradients))
        if separate:
            current = StackedParams({k: stacked[k].detach() + inner_lr * g.detach() for k, g in gradients.items()})
        else:  # one Params per task (kept so: re-stacking them is the graph every number was pinned with)
            current = unstack({k: stacked[k] + inner_lr * g for k, g in gradients.items()}, count)
    return InnerRun(steps, current)


def inner_step(policy: Policy, params: Params | Sequence[Params], tensors: BatchTensors, step_weights: torch.Tensor,
               inner_lr: float, reduction: Reduction, *, first_order: bool = False) -> list[Params]:
    """θ_i' = θ_i + α ∇ surrogate_i(θ_i), for every task i at once (one `rerun_inner_steps` step). The
    result stays differentiable with respect to `params` unless `first_order`."""
    run = rerun_inner_steps(policy, params, [StepData(tensors, step_weights)], inner_lr, reduction,
                            first_order=first_order)
    return list(run.adapted)


def meta_objective(policy: Policy, theta: Params, inner: Sequence[StepData], outer: StepData, inner_lr: float,
                   reduction: Reduction, *, first_order: bool = False,
                   score_coefficients: Sequence[torch.Tensor | None] | None = None,
                   old_log_probs: tuple[torch.Tensor | None, Sequence[torch.Tensor | None]] | None = None
                   ) -> torch.Tensor:
    """(T,) per-task meta-surrogates whose gradient w.r.t. θ is the outer estimate:

        L_i(θ) = surrogate_i(θ_i^ζ(θ); D_o) + Σ_t c_{t,i} · score_i(θ_i^{t−1}(θ); D_t),
        θ_i^t(θ) = θ_i^{t−1}(θ) + α ∇surrogate_i(θ_i^{t−1}; D_t)    (`rerun_inner_steps`)

    MAML: no score terms, so ∇L_i = (I + α∇²J̃(θ; D_1))·∇J̃(θ_i; D_o) for ζ = 1 (SG-MRL paper, eq. (16)).
    SG-MRL: c_{t,i} = J̃_i(θ_i^ζ; D_o) for every t (eq. (13); with ζ steps every inner batch gets a score
    term, docs/sources/sgmrl.md). E-MAML: a coefficient for the first batch only. `first_order` cuts
    the second-order path (Jacobians = I, score terms kept). `old_log_probs` switches every term to
    the likelihood-ratio form (TRPO)."""
    outer_old, inner_old = old_log_probs if old_log_probs is not None else (None, [None] * len(inner))
    coefficients = score_coefficients if score_coefficients is not None else [None] * len(inner)
    run = rerun_inner_steps(policy, theta, inner, inner_lr, reduction, first_order=first_order)
    total = torch.zeros(outer.tensors.mask.shape[0])
    for data, step, coefficient, old in zip(inner, run.steps, coefficients, inner_old, strict=True):
        if coefficient is not None:
            total = total + coefficient.detach() * score_term(policy, step.start, data.tensors, reduction, old)
    return total + surrogates(policy, run.adapted, outer.tensors, outer.weights, reduction, outer_old)


def adapted_fisher_product(policy: Policy, theta: Params, inner: Sequence[StepData],
                           outer_tensors: BatchTensors, old_dist: Sequence[torch.Tensor], inner_lr: float,
                           reduction: Reduction, *, first_order: bool = False,
                           damping: float = 0.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """v ↦ (∇²KL(θ) + damping·I) v for the mean outer-batch KL(θ) = KL(π_old ‖ π_{θ_i^ζ(θ)}), at the
    θ the old distributions were adapted from, with θ_i^ζ(θ) the inner steps re-run on the stored
    batches (what double backpropagation through `kl_fn` gives, MAML-TRPO's Fisher product).

    There ∇_{θ'} KL = 0, so the second derivatives of the inner steps drop out and the Hessian is
    Σ_i J_iᵀ F_i J_i exactly: F_i the Fisher (KL Hessian) of task i's adapted policy on its outer
    steps, J_i = Π_t (I + α∇²surrogate_i(θ_i^{t−1}; D_t)) the inner steps' Jacobian (each factor
    symmetric), and F_i = J_dᵀ (∇²_d KL) J_d in the distribution parameters d (Gauss–Newton, exact
    for the same reason). Each product is 2ζ per-task Hessian-vector products through the inner
    gradient graphs (built once; no third derivatives), one jvp (as two vjps) and one vjp of the outer policy."""
    count, names = outer_tensors.mask.shape[0], list(theta)
    run = rerun_inner_steps(policy, theta, inner, inner_lr, reduction, first_order=first_order, separate=True)
    adapted = StackedParams({k: v.detach().requires_grad_(True) for k, v in run.adapted.items()})
    with torch.enable_grad():
        dist = policy.dist_params(adapted, outer_tensors.observations)   # kept for the products' vjp
        dist_leaves = [d.detach().requires_grad_(True) for d in dist]
        kl = policy.kl(old_dist, dist_leaves)
        kl = (kl * outer_tensors.mask).sum() / outer_tensors.mask.sum()
        kl_grads = torch.autograd.grad(kl, dist_leaves, create_graph=True)

    def fisher_product(vectors: list[torch.Tensor]) -> list[torch.Tensor]:  # J_dᵀ (∇²_d KL) J_d v, d = dist
        # J_d v by two reverse passes (u ↦ J_dᵀu is linear in u; its vjp with v is J_d v): forward-mode
        # AD (torch.func.jvp) loads torch's jvp decompositions through the deprecated torch.jit.script
        probes = [torch.zeros_like(d, requires_grad=True) for d in dist]
        pulled = torch.autograd.grad(dist, list(adapted.values()), grad_outputs=probes, create_graph=True,
                                     allow_unused=True)
        used = [(p, v) for p, v in zip(pulled, vectors, strict=True) if p is not None]
        tangents = torch.autograd.grad([p for p, _ in used], probes, grad_outputs=[v for _, v in used],
                                       allow_unused=True)
        tangents = [torch.zeros_like(d) if t is None else t for d, t in zip(dist, tangents, strict=True)]
        metric = hessian_product(kl_grads, dict(enumerate(dist_leaves)), tangents)
        return hessian_product(dist, adapted, metric)

    def hessian_product(outputs, wrt: Mapping[str, torch.Tensor], vectors: list[torch.Tensor]) -> list[torch.Tensor]:
        products = torch.autograd.grad(list(outputs), list(wrt.values()), grad_outputs=vectors, retain_graph=True,
                                       allow_unused=True)
        return [torch.zeros_like(w) if h is None else h for w, h in zip(wrt.values(), products, strict=True)]

    def jacobian_product(step: int, vectors: list[torch.Tensor]) -> list[torch.Tensor]:  # (I + α∇²surrogate) v
        if first_order:
            return vectors
        products = hessian_product([run.steps[step].gradient[k] for k in names], run.steps[step].start, vectors)
        return [v + inner_lr * h for v, h in zip(vectors, products, strict=True)]

    def product(vector: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(vector, [theta[k].numel() for k in names])
        vectors = [c.view_as(theta[k]).unsqueeze(0).expand(count, *theta[k].shape)
                   for c, k in zip(chunks, names, strict=True)]
        for step in range(len(inner)):
            vectors = jacobian_product(step, vectors)
        vectors = fisher_product(vectors)
        for step in reversed(range(len(inner))):
            vectors = jacobian_product(step, vectors)
        return torch.cat([v.sum(0).reshape(-1) for v in vectors]) + damping * vector

    return product


def as_weights(array: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(array, dtype=torch.float32)
