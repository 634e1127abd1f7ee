"""Details of deep BO-MRL (`baselines.bomrl_deep`) that test_bomrl_deep.py leaves open: the divergence
per task and in which direction its KL goes, the hypergradient's damping, its stationarity record and
a θ' shared by all tasks, the first Adam step of the one-time adaptation from a shared ϕ, and the
TRPO step's line-search budget and masked mean KL."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.bomrl_deep import (
    DeepBOMRL,
    DeepBOMRLConfig,
    adaptation_objective,
    divergence,
    hypergradient,
    one_time_adaptation,
)
from baselines.common import estimators
from baselines.common.policies import GaussianMLPPolicy, StackedParams
from tests.baselines.test_bomrl_deep import _batch

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _policy(generator: torch.Generator, hidden_sizes: tuple[int, ...] = ()) -> GaussianMLPPolicy:
    policy = GaussianMLPPolicy(2, 2, hidden_sizes=hidden_sizes, init_std=0.8).double()
    with torch.no_grad():
        for p in policy.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64))
    return policy


def _params(policy: GaussianMLPPolicy) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in policy.named_parameters()}


def _perturbed(phi, tasks: int, generator: torch.Generator, scale: float) -> StackedParams:
    return StackedParams({k: v.unsqueeze(0) + scale * torch.randn((tasks, *v.shape), generator=generator,
                                                                  dtype=torch.float64) for k, v in phi.items()})


def gaussian_kl(p: tuple[torch.Tensor, torch.Tensor], q: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """KL(N(μ_p, σ_p²) ‖ N(μ_q, σ_q²)) per step, diagonal, written out."""
    (mp, lp), (mq, lq) = p, q
    var_p, var_q = torch.exp(2 * lp), torch.exp(2 * lq)
    return (0.5 * torch.log(var_q / var_p) + (var_p + (mp - mq) ** 2) / (2 * var_q) - 0.5).sum(-1)


# --------------------------------------------------------------------------------------------
# divergence
# --------------------------------------------------------------------------------------------
def test_d3_divergence_is_each_tasks_squared_distance_to_phi():
    generator = torch.Generator().manual_seed(0)
    policy = _policy(generator, (3,))
    phi = _params(policy)
    theta = _perturbed(phi, 3, generator, 0.5)
    expected = [sum(float(((theta[k][i] - phi[k]) ** 2).sum()) for k in phi) for i in range(3)]
    data = _batch(generator, 3, 2, 4, 2, 2)
    dist = policy.dist_params(phi, data.tensors.observations)
    got = divergence(policy, theta, phi, dist, dist, data.tensors.mask, 3)
    assert got.shape == (3,)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_d1_and_d2_divergences_are_the_masked_mean_kl_in_their_directions():
    """D̂₁² = mean over the batch's real steps of KL(π_ϕ ‖ π_θ), D̂₂² of KL(π_θ ‖ π_ϕ) (different here:
    θ and ϕ have different stds)."""
    generator = torch.Generator().manual_seed(1)
    policy = _policy(generator)
    phi = _params(policy)
    theta = _perturbed(phi, 2, generator, 0.4)
    data = _batch(generator, 2, 3, 5, 2, 2)
    mask = data.tensors.mask.clone()
    mask[0, 1, 3:] = 0.0
    mask[1, 0, 1:] = 0.0
    dist_theta = policy.dist_params(theta, data.tensors.observations)
    dist_phi = policy.dist_params(phi, data.tensors.observations)
    for which, kl in ((1, gaussian_kl(dist_phi, dist_theta)), (2, gaussian_kl(dist_theta, dist_phi))):
        expected = (kl * mask).sum((-2, -1)) / mask.sum((-2, -1))
        got = divergence(policy, theta, phi, dist_theta, dist_phi, mask, which)
        np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-12)
    forward = divergence(policy, theta, phi, dist_theta, dist_phi, mask, 1)
    assert float((forward - divergence(policy, theta, phi, dist_theta, dist_phi, mask, 2)).abs().min()) > 1e-3


def test_divergence_names_an_unknown_index():
    generator = torch.Generator().manual_seed(2)
    policy = _policy(generator)
    phi = _params(policy)
    data = _batch(generator, 1, 1, 2, 2, 2)
    dist = policy.dist_params(phi, data.tensors.observations)
    with pytest.raises(ValueError, match=r"^divergence: which=4 must be one of \(1, 2, 3\)$"):
        divergence(policy, StackedParams({k: v[None] for k, v in phi.items()}), phi, dist, dist,
                   data.tensors.mask, 4)


# --------------------------------------------------------------------------------------------
# hypergradient
# --------------------------------------------------------------------------------------------
def _flat_problem(policy, phi, data, outer, config, theta_star):
    """Direct linear algebra on flat vectors: H = ∇²_θθ Σ_i L_i (task-block-diagonal), C = ∇²_θϕ Σ_i L_i,
    g = ∇_θ of the per-task surrogates of `outer` at θ*, with π_ϕ's log-probabilities under the ratio
    held constant (the sampling distribution)."""
    names, tasks = list(phi), data.tensors.mask.shape[0]
    sizes = [phi[k].numel() for k in names]
    with torch.no_grad():
        phi_log_probs = policy.log_prob_from(policy.dist_params(phi, data.tensors.observations), data.tensors.actions)

    def split(flat, stacked):
        out, offset = {}, 0
        for k, n in zip(names, sizes, strict=True):
            part = flat[:, offset:offset + n] if stacked else flat[offset:offset + n]
            out[k] = part.reshape((tasks, *phi[k].shape) if stacked else phi[k].shape)
            offset += n
        return StackedParams(out) if stacked else out

    def objective(theta_flat, phi_flat):
        theta, phi_now = split(theta_flat.reshape(tasks, -1), True), split(phi_flat, False)
        dist_phi = policy.dist_params(phi_now, data.tensors.observations)
        return adaptation_objective(policy, theta, phi_now, dist_phi, data, phi_log_probs, config).sum()

    theta0 = torch.cat([theta_star[k].reshape(tasks, -1) for k in names], 1).reshape(-1)
    phi0 = torch.cat([phi[k].reshape(-1) for k in names])
    hessian, cross = torch.autograd.functional.hessian(objective, (theta0, phi0))[0]

    def outer_value(theta_flat):
        theta = split(theta_flat.reshape(tasks, -1), True)
        return estimators.surrogates(policy, theta, outer.tensors, outer.weights, config.reduction).sum()

    g = torch.autograd.functional.jacobian(outer_value, theta0)
    return hessian, cross, g, names


def test_hypergradient_solves_the_damped_system():
    """(1/T) Cᵀ (−H + δI)⁻¹ g with δ = hypergradient_damping = 0.3, against a direct solve."""
    generator = torch.Generator().manual_seed(3)
    policy = _policy(generator)
    phi = _params(policy)
    data, outer = _batch(generator, 2, 3, 6, 2, 2), _batch(generator, 2, 3, 6, 2, 2)
    config = DeepBOMRLConfig(divergence=3, lam=5.0, hypergradient_damping=0.3, hypergradient_cg_iterations=200)
    theta_star = _perturbed(phi, 2, generator, 0.1)
    hessian, cross, g, names = _flat_problem(policy, phi, data, outer, config, theta_star)
    system = -hessian + 0.3 * torch.eye(len(g), dtype=torch.float64)
    assert float(torch.linalg.eigvalsh(system).min()) > 0
    expected = (cross.T @ torch.linalg.solve(system, g)) / 2
    got, info = hypergradient(policy, phi, theta_star, data, outer, config)
    flat = torch.cat([got[k].reshape(-1) for k in names])
    np.testing.assert_allclose(flat.numpy(), expected.numpy(), rtol=0, atol=1e-9)
    undamped = (cross.T @ torch.linalg.solve(-hessian, g)) / 2
    assert float((expected - undamped).abs().max()) > 1e-3
    assert info["cg_residual"] < 1e-9


def test_hypergradient_records_stationarity_and_accepts_one_theta_for_all_tasks():
    """info["stationarity"] = ‖∇_θ Σ_i L_i(θ*, ϕ)‖ (not 0 away from the solution); a θ* given once, not
    stacked, is every task's θ*."""
    generator = torch.Generator().manual_seed(4)
    policy = _policy(generator)
    phi = _params(policy)
    data, outer = _batch(generator, 2, 3, 6, 2, 2), _batch(generator, 2, 3, 6, 2, 2)
    config = DeepBOMRLConfig(divergence=1, lam=2.0, hypergradient_cg_iterations=20)
    shared = {k: v + 0.1 * torch.randn(v.shape, generator=generator, dtype=torch.float64) for k, v in phi.items()}
    stacked = StackedParams({k: v.unsqueeze(0).repeat(2, *[1] * v.dim()) for k, v in shared.items()})
    from_shared, info_shared = hypergradient(policy, phi, shared, data, outer, config)
    from_stacked, info_stacked = hypergradient(policy, phi, stacked, data, outer, config)
    for k in phi:
        torch.testing.assert_close(from_shared[k], from_stacked[k], rtol=0, atol=0)
    assert info_shared == info_stacked
    theta = StackedParams({k: v.clone().requires_grad_(True) for k, v in stacked.items()})
    with torch.no_grad():
        phi_log_probs = policy.log_prob_from(policy.dist_params(phi, data.tensors.observations), data.tensors.actions)
    dist_phi = policy.dist_params(phi, data.tensors.observations)
    grads = torch.autograd.grad(adaptation_objective(policy, theta, phi, dist_phi, data, phi_log_probs, config).sum(),
                                list(theta.values()))
    norm = float(torch.sqrt(sum((g ** 2).sum() for g in grads)))
    assert norm > 1e-2 and info_shared["stationarity"] == pytest.approx(norm, rel=1e-12)


# --------------------------------------------------------------------------------------------
# one_time_adaptation
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("divergence_index", [1, 3])
def test_first_adam_step_from_a_shared_phi_moves_every_task_by_the_learning_rate(divergence_index):
    """One inner iteration from θ = ϕ: at θ = ϕ the divergence's gradient is 0 and h'(1) = 1, so the
    gradient is task i's policy-gradient surrogate mean_steps w ∇log π_θ(a|s); Adam's first step moves
    each coordinate by lr · sign(gradient). Two tasks of three episodes each (the task axis is not the
    episode axis)."""
    generator = torch.Generator().manual_seed(5)
    policy = _policy(generator, (3,))
    phi = _params(policy)
    data = _batch(generator, 2, 3, 4, 2, 2)
    config = DeepBOMRLConfig(divergence=divergence_index, lam=0.7, inner_iterations=1, inner_lr=0.01)
    theta = one_time_adaptation(policy, phi, data, config)
    for i in range(2):
        leaves = {k: v.clone().requires_grad_(True) for k, v in phi.items()}
        obs, actions = data.tensors.observations[i], data.tensors.actions[i]
        log_probs = policy.log_prob_from(policy.dist_params(leaves, obs), actions)
        gain = (data.weights[i] * log_probs).sum() / data.tensors.mask[i].sum()
        grads = torch.autograd.grad(gain, list(leaves.values()))
        for (k, value), g in zip(phi.items(), grads, strict=True):
            assert theta[k].shape == (2, *value.shape)
            np.testing.assert_allclose((theta[k][i] - value).numpy(), (0.01 * g / (g.abs() + 1e-8)).numpy(),
                                       rtol=0, atol=1e-8)


# --------------------------------------------------------------------------------------------
# meta_train_step: the TRPO step
# --------------------------------------------------------------------------------------------
def test_line_search_budget_reaches_trpo():
    """test_bomrl_deep.py's TRPO test accepts its step after one halving (fraction 0.5); with a budget
    of one trial (ls_max_steps=1) the full step alone is tried, rejected, and ϕ stays where it was."""
    env_id, kwargs = "MetaRL/Navigation2D-v0", {"preset": "maml"}
    config = DeepBOMRLConfig(tasks_per_iteration=2, episodes_per_task=2, hidden_sizes=(4,), inner_iterations=3,
                             hypergradient_cg_iterations=3, cg_iterations=60, cg_damping=1e-2, max_kl=0.05,
                             ls_backtrack_ratio=0.5, ls_max_steps=1)
    tasks = metarl_envs.task_set(env_id, "train", "maml")
    agent, initial = DeepBOMRL(env_id, config, kwargs), DeepBOMRL(env_id, config, kwargs)
    (record,) = agent.meta_train(tasks, iterations=1, seed=4).records
    initial.meta_train(tasks, iterations=0, seed=4)   # the same seeded initial weights, no step
    assert record.extra["step_fraction"] == 0.0 and record.extra["hypergradient_norm"] > 1e-3
    for name, value in initial.meta_params().items():
        torch.testing.assert_close(agent.meta_params()[name], value, rtol=0, atol=0)


def test_trust_region_kl_is_the_mean_over_real_steps_of_episodes_that_end_early():
    """CartPole episodes end at different times (the mask has zeros); TRPO's mean KL is over the real
    steps only, so the step is finite and accepted, and KL(π_old ‖ π_new) averaged over those steps,
    recomputed here from the categorical probabilities, is within max_kl."""
    from baselines.common.sampler import Sampler

    env_id, kwargs = "MetaRL/CartPoleParams-v0", {"preset": "pmeta"}
    config = DeepBOMRLConfig(tasks_per_iteration=2, episodes_per_task=3, hidden_sizes=(8,), inner_iterations=3,
                             hypergradient_cg_iterations=3, cg_iterations=10, max_kl=0.01)
    agent = DeepBOMRL(env_id, config, kwargs)
    batches, collect = [], Sampler.collect

    def spy(self, policy, params, *args, **kw):
        batches.append((collect(self, policy, params, *args, **kw), {k: v.detach().clone() for k, v in params.items()}))
        return batches[-1][0]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Sampler, "collect", spy)
        (record,) = agent.meta_train(metarl_envs.task_set(env_id, "train", "pmeta"), iterations=1, seed=0).records
    (batch, phi_old), _ = batches
    data = estimators.StepData.of(batch, config.weight_spec)
    mask = data.tensors.mask
    assert float(mask.min()) == 0.0, "some episode ends before the horizon"
    obs = data.tensors.observations
    old = torch.softmax(agent.policy.dist_params(phi_old, obs)[0], -1)
    new = torch.softmax(agent.policy.dist_params(agent.meta_params(), obs)[0], -1)
    kl = (old * (torch.log(old) - torch.log(new))).sum(-1)
    mean_kl = float((kl * mask).sum() / mask.sum())
    assert record.extra["step_fraction"] > 0 and 0 < mean_kl <= config.max_kl * (1 + 1e-4)
