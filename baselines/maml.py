"""MAML for RL (Finn, Abbeel, Levine, ICML 2017, Algorithm 3), with MAML-TRPO or Adam outer steps.

    for each iteration:                                         # Alg. 3, line 2
        sample a batch of tasks T_i ~ p(T)                       # line 3
        for each T_i:                                            # line 4
            D_i  ← K trajectories with f_θ on T_i                # line 5
            θ_i' ← θ + α ∇_θ L(f_θ; D_i)    (VPG, GAE advantages) # lines 6-7
            D_i' ← K trajectories with f_θ_i' on T_i             # line 8
        θ ← θ + outer step on Σ_i L(f_θ_i'; D_i')   (TRPO, or Adam) # line 10

| choice | value (source) |
|---|---|
| inner step | one VPG step, α = 0.1, per-step mean of log π·Â (pytorch-maml-rl `reinforce_loss`) |
| advantages | GAE(γ = 0.99, λ = 1.0), linear feature baseline, normalised per task (pytorch-maml-rl) |
| outer step | TRPO on the likelihood-ratio surrogate: max-kl 0.01, CG 10 iterations, damping 1e-5, |
|            | line search 15 steps × 0.8 (pytorch-maml-rl 2d-navigation.yaml) |
| batch | 20 tasks × 20 trajectories (pytorch-maml-rl 2d-navigation.yaml) |
| policy | Gaussian MLP 64×64 tanh, learned state-independent log-std (adapted too), init std 1 |
| second order | through the inner step (autodiff); `first_order=True` gives FO-MAML (MAML §5.3) |
| truncation | GAE bootstraps V(final obs) at truncation, 0 at termination (|
|            | pytorch-maml-rl uses 0 at both) |
| E-MAML | `exploration=True`: + c_i · mean log π_θ(pre-update batch), c_i = post-update mean return |
|        | standardised over the meta-batch (Stadie et al. 2018; ProMP `vpg_maml.py`, docs/sources/sgmrl.md §1.5) |
| Adam outer | lr 1e-3, one step per iteration on the mean task surrogate (ProMP / SG-MRL code) |

Meta-test adaptation (`adapt_round`) is one VPG step per round from the round's trajectories (the
protocol's `adaptation_episodes`) with step size `adaptation_lrs[k]` at step k + 1 (default `inner_lr` at every
step; the last entry repeats), its surrogate reduced by `adaptation_reduction` (default: as in
training). The original MAML test script (cbfinn/maml_rl `maml_examples/test_maml_point.py`) adapts
with rllab's VPG: 4000-step batches (40 trajectories of 100 steps), a mean over every sample
(`step_mean`), step sizes 0.5, then 0.25 for every later step. Adapted parameters are `AdaptedParams`, which
count the adaptation steps that produced them, so the schedule needs nothing from the evaluator.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Literal

import numpy as np
import torch

from baselines.common import estimators, training
from baselines.common.agent import COUNT, AgentConfig, Rule, checked, sizes
from baselines.common.policies import Params, detach
from baselines.common.sampler import TrajectoryBatch
from baselines.common.trpo import trpo_step
from metarl_envs.core import Task

__all__ = ["MAML", "AdaptedParams", "InnerBatch", "MAMLConfig", "steps_taken"]


STEP_SIZES = Rule("step sizes must be finite and > 0", lambda lrs: all(math.isfinite(lr) and lr > 0 for lr in lrs),
                  convert=lambda lrs: tuple(float(lr) for lr in lrs))


@dataclasses.dataclass(frozen=True)
class MAMLConfig(estimators.AdvantageSettings, AgentConfig):
    hidden_sizes: tuple[int, ...] = checked((64, 64), sizes())
    """policy MLP widths (pytorch-maml-rl 2d-navigation.yaml: [64, 64], tanh)"""
    activation: str = "tanh"
    init_std: float = 1.0
    """initial std of the Gaussian policy (pytorch-maml-rl)"""
    action_scale: float = 1.0
    """Gaussian policy in env units (1.0, pytorch-maml-rl) or in a normalised space mapped onto the env by
    this factor (ProMP/maml_zoo's normalize wrapper: 0.01 for the ±0.1 point env)"""
    inner_lr: float = 0.1
    """step size α of the inner VPG step (pytorch-maml-rl fast-lr)"""
    inner_steps: int = checked(1, COUNT)
    tasks_per_iteration: int = checked(20, COUNT)
    """meta-batch size (pytorch-maml-rl meta-batch-size)"""
    episodes_per_task: int = checked(20, COUNT)
    """trajectories per task per inner step and for the outer batch (fast-batch-size)"""
    reduction: estimators.Reduction = "episode_mean"
    """surrogate units: 'episode_mean' (per-episode per-step mean, pytorch-maml-rl), 'step_mean' (mean
    over every sample of the batch: rllab/ProMP, the original MAML and SG-MRL code) or 'episode_sum'"""
    outer_optimizer: Literal["trpo", "adam"] = "trpo"
    """'trpo' (MAML-TRPO) or 'adam'"""
    outer_lr: float = 1e-3
    """Adam learning rate (outer_optimizer='adam')"""
    max_kl: float = 0.01
    cg_iterations: int = 10
    cg_damping: float = 1e-5
    ls_max_steps: int = 15
    ls_backtrack_ratio: float = 0.8
    first_order: bool = False
    exploration: bool = False
    """E-MAML: add the pre-update score-function term"""
    adaptation_lrs: tuple[float, ...] = checked((), STEP_SIZES)
    """meta-test step sizes of adaptation steps 1, 2, … (the last repeats; (): inner_lr at every step)"""
    adaptation_reduction: estimators.Reduction | None = None
    """surrogate units of the meta-test steps (None: `reduction`). The original MAML test script adapts
    with rllab's VPG, whose surrogate is a mean over every sample of the batch ('step_mean')"""

    def adaptation_lr(self, step: int) -> float:
        """Step size of meta-test adaptation step `step` (1-based)."""
        return self.adaptation_lrs[min(step, len(self.adaptation_lrs)) - 1] if self.adaptation_lrs else self.inner_lr


@dataclasses.dataclass(frozen=True, eq=False)
class AdaptedParams(Mapping[str, torch.Tensor]):
    """A task's policy parameters after `adaptation_steps` meta-test adaptation steps (the index into
    the step-size schedule); the meta-parameters themselves are a plain `Params`, step 0. Reads as the
    parameters it holds (a read-only mapping name → tensor), so the policy evaluates it like any `Params`."""

    params: Mapping[str, torch.Tensor]
    adaptation_steps: int

    def __post_init__(self) -> None:
        if not isinstance(self.adaptation_steps, int) or self.adaptation_steps < 1:
            raise ValueError(f"AdaptedParams.adaptation_steps={self.adaptation_steps!r}: must be an int ≥ 1")
        object.__setattr__(self, "params", dict(self.params))

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)


def steps_taken(params: Mapping[str, torch.Tensor]) -> int:
    """How many meta-test adaptation steps produced `params` (0 for the meta-parameters)."""
    return params.adaptation_steps if isinstance(params, AdaptedParams) else 0


@dataclasses.dataclass(frozen=True)
class InnerBatch:
    """One inner step's data D_t: the sampled batch and what the surrogates read of it."""

    batch: TrajectoryBatch
    data: estimators.StepData


class MAML(training.PolicyGradientLearner):
    name = "maml"
    resumable = True
    config_class = MAMLConfig

    # ----- meta-training (Alg. 3) ------------------------------------------------------------
    def meta_train_step(self, tasks: list[Task], rng: np.random.Generator) -> training.StepResult:
        cfg, theta = self.config, self.meta_params()
        inner: list[InnerBatch] = []
        adapted: Params | list[Params] = theta
        for _ in range(cfg.inner_steps):                                          # lines 5-7
            batch = self.sampler.collect(self.policy, adapted, tasks, cfg.episodes_per_task, rng)
            inner.append(InnerBatch(batch, estimators.StepData.of(batch, cfg.weight_spec)))
            adapted = [detach(p) for p in estimators.inner_step(self.policy, adapted, *inner[-1].data, cfg.inner_lr,
                                                                cfg.reduction, first_order=True)]
        outer_batch = self.sampler.collect(self.policy, adapted, tasks, cfg.episodes_per_task, rng)   # line 8
        outer = InnerBatch(outer_batch, estimators.StepData.of(outer_batch, cfg.weight_spec))
        loss_fn, kl_fn = self.outer_objective(inner, outer, adapted)
        if cfg.outer_optimizer == "trpo":                                          # line 10
            old_dist = [d.detach() for d in self.policy.dist_params(adapted, outer.data.tensors.observations)]
            fisher = estimators.adapted_fisher_product(
                self.policy, theta, [step.data for step in inner], outer.data.tensors, old_dist, cfg.inner_lr,
                cfg.reduction, first_order=cfg.first_order, damping=cfg.cg_damping)   # = ∇²kl_fn(θ) + damping·I
            new, info = trpo_step(theta, loss_fn, kl_fn, max_kl=cfg.max_kl, damping=cfg.cg_damping,
                                  cg_iterations=cfg.cg_iterations, ls_max_steps=cfg.ls_max_steps,
                                  ls_ratio=cfg.ls_backtrack_ratio, fisher_product=fisher)
            training.apply(self.policy, new)
        else:
            adam = self.adam()
            adam.zero_grad()
            loss = loss_fn(self.policy.meta_params())
            loss.backward()
            adam.step()
            info = {"loss_before": float(loss.detach())}
        return training.StepResult(sum(step.batch.env_steps for step in inner) + outer_batch.env_steps,
                                   float(inner[0].batch.episode_returns().mean()),
                                   float(outer_batch.episode_returns().mean()), info)

    def outer_objective(self, inner: Sequence[InnerBatch], outer: InnerBatch, adapted_old: Sequence[Params]):
        """(loss(θ), kl(θ)) for the outer step: both re-run the inner steps from θ on the stored
        batches (`estimators.rerun_inner_steps`, differentiably unless first_order); the loss is
        minus the post-update surrogate (`estimators.meta_objective`), the KL is to the policies the
        outer batch was sampled with."""
        cfg, policy = self.config, self.policy
        stored = [step.data for step in inner]
        outer_tensors = outer.data.tensors
        old_dist = [d.detach() for d in policy.dist_params(list(adapted_old), outer_tensors.observations)]
        old = None
        if cfg.outer_optimizer == "trpo":  # likelihood-ratio surrogates, so the line search sees real changes
            first = stored[0].tensors
            pre = policy.log_prob(self.meta_params(), first.observations, first.actions)
            old = (policy.log_prob_from(old_dist, outer_tensors.actions), [pre.detach()] + [None] * (len(inner) - 1))
        coefficients = None
        if cfg.exploration:  # E-MAML: standardised post-update returns, mean over the pre-update batch
            post = outer.batch.episode_returns().mean(axis=1)
            standardised = torch.as_tensor((post - post.mean()) / (post.std() + 1e-8), dtype=torch.float32)
            coefficients = [standardised / cfg.episodes_per_task] + [None] * (len(inner) - 1)

        def loss_fn(theta: Params) -> torch.Tensor:
            return -estimators.meta_objective(policy, theta, stored, outer.data, cfg.inner_lr, cfg.reduction,
                                              first_order=cfg.first_order, score_coefficients=coefficients,
                                              old_log_probs=old).mean()

        def kl_fn(theta: Params) -> torch.Tensor:
            run = estimators.rerun_inner_steps(policy, theta, stored, cfg.inner_lr, cfg.reduction,
                                               first_order=cfg.first_order)
            kl = policy.kl(old_dist, policy.dist_params(run.adapted, outer_tensors.observations))
            return (kl * outer_tensors.mask).sum() / outer_tensors.mask.sum()

        return loss_fn, kl_fn

    # ----- meta-test adaptation --------------------------------------------------------------
    def adapt_round(self, params: Sequence[Params], rollouts: TrajectoryBatch) -> list[AdaptedParams]:
        """One VPG step per task from the round's episodes; step k + 1 of a task uses `adaptation_lrs[k]`,
        k = `steps_taken(params)`."""
        cfg = self.config
        data = estimators.StepData.of(rollouts, cfg.weight_spec)
        gradients, stacked = estimators.policy_gradients(self.policy, list(params), data.tensors, data.weights,
                                                         cfg.adaptation_reduction or cfg.reduction, create_graph=False)
        done = [steps_taken(p) for p in params]
        lrs = torch.tensor([cfg.adaptation_lr(d + 1) for d in done])
        new = {k: stacked[k].detach() + lrs.reshape(-1, *[1] * (g.dim() - 1)) * g for k, g in gradients.items()}
        return [AdaptedParams(p, d + 1) for p, d in zip(estimators.unstack(new, len(params)), done, strict=True)]
