"""Deep BO-MRL (`baselines.bomrl_deep`): the implicit hypergradient equals autodiff through an unrolled
inner solve run to convergence; the row-batched CG and Hessian products equal direct linear algebra;
the one-time adaptation reaches the tabular closed form where one exists; h is eq. 7's function."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import metarl_envs
from baselines import bomrl_solvers
from baselines.bomrl_deep import (
    DeepBOMRL,
    DeepBOMRLConfig,
    adaptation_objective,
    hypergradient,
    one_time_adaptation,
    squash,
)
from baselines.common import estimators
from baselines.common.policies import CategoricalMLPPolicy, GaussianMLPPolicy, StackedParams
from baselines.common.trpo import conjugate_gradient, flat_rows, hessian_vector_product, unflatten

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _batch(generator: torch.Generator, tasks: int, episodes: int, horizon: int, obs_dim: int,
           action_dim: int) -> estimators.StepData:
    """A float64 batch with every step real and arbitrary weights (no env needed: the maths is the test)."""
    observations = torch.randn(tasks, episodes, horizon, obs_dim, generator=generator, dtype=torch.float64)
    actions = torch.randn(tasks, episodes, horizon, action_dim, generator=generator, dtype=torch.float64)
    mask = torch.ones(tasks, episodes, horizon, dtype=torch.float64)
    weights = 0.3 * torch.randn(tasks, episodes, horizon, generator=generator, dtype=torch.float64)
    return estimators.StepData(estimators.BatchTensors(observations, actions, mask), weights)


def _unrolled_hypergradient(policy, phi, data, outer, config, steps: int):
    """∇_ϕ of (1/T) Σ_i surrogate_i(θ_i^N(ϕ); B'), θ^N from N differentiable Newton steps on L(·, ϕ)
    starting at θ^0 = ϕ (full Hessians, built with create_graph): autodiff through the whole solve."""
    tasks = data.tensors.mask.shape[0]
    shapes = [(tasks, *v.shape) for v in phi.values()]
    dist_phi = policy.dist_params(phi, data.tensors.observations)
    phi_log_probs = policy.log_prob_from(dist_phi, data.tensors.actions).detach()

    def stacked(flat: torch.Tensor) -> StackedParams:
        return StackedParams(dict(zip(phi, unflatten(flat.reshape(tasks, -1), [torch.empty(s) for s in shapes]),
                                      strict=True)))

    def objective(flat: torch.Tensor) -> torch.Tensor:
        return adaptation_objective(policy, stacked(flat), phi, dist_phi, data, phi_log_probs, config).sum()

    flat = flat_rows([v.unsqueeze(0).expand(tasks, *v.shape) for v in phi.values()]).reshape(-1)
    for _ in range(steps):
        (gradient,) = torch.autograd.grad(objective(flat), flat, create_graph=True)
        hessian = torch.stack([torch.autograd.grad(gradient[j], flat, create_graph=True)[0]
                               for j in range(flat.numel())])
        flat = flat + torch.linalg.solve(-hessian, gradient)
    stationarity = float(torch.linalg.norm(torch.autograd.grad(objective(flat), flat)[0]))
    theta = stacked(flat)
    value = estimators.surrogates(policy, theta, outer.tensors, outer.weights, config.reduction).mean()
    return torch.autograd.grad(value, list(phi.values())), theta, stationarity


@pytest.mark.parametrize(("divergence", "hidden_sizes"), [(1, ()), (2, ()), (3, (3,))])
def test_hypergradient_equals_autodiff_through_the_unrolled_inner_solve(divergence, hidden_sizes):
    """Float64, two tasks. Alg(3) on a one-hidden-layer tanh network; Alg(1)/(2) on a linear Gaussian
    policy (a tanh layer this small leaves the KL's Hessian near-singular in θ, so eq. 7 has no strict
    maximum there for a solver to converge to)."""
    generator = torch.Generator().manual_seed(divergence)
    policy = GaussianMLPPolicy(2, 2, hidden_sizes=hidden_sizes, init_std=0.8).double()
    with torch.no_grad():
        for p in policy.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64))
    phi = {k: v.detach().clone().requires_grad_(True) for k, v in policy.named_parameters()}
    data = _batch(generator, 2, 4, 10, 2, 2)
    outer = _batch(generator, 2, 4, 10, 2, 2)
    lam = 2.0
    config = DeepBOMRLConfig(divergence=divergence, lam=lam, hypergradient_cg_iterations=400,
                             hypergradient_damping=0.0)
    unrolled, theta, stationarity = _unrolled_hypergradient(policy, phi, data, outer, config, steps=12)
    assert stationarity < 1e-12  # the unrolled solve reached θ' (the implicit formula is exact there)
    theta_star = StackedParams({k: v.detach() for k, v in theta.items()})
    implicit, info = hypergradient(policy, {k: v.detach() for k, v in phi.items()}, theta_star, data, outer, config)
    assert info["cg_residual"] < 1e-10
    for name, expected in zip(phi, unrolled, strict=True):
        np.testing.assert_allclose(implicit[name].numpy(), expected.numpy(), rtol=0, atol=1e-6, err_msg=name)
    assert max(float(g.abs().max()) for g in unrolled) > 1e-3  # not trivially zero


def test_row_conjugate_gradient_solves_each_block_as_a_direct_solve():
    generator = torch.Generator().manual_seed(0)
    blocks = torch.randn(3, 5, 5, generator=generator, dtype=torch.float64)
    blocks = blocks @ blocks.transpose(1, 2) + 0.5 * torch.eye(5, dtype=torch.float64)
    rhs = torch.randn(3, 5, generator=generator, dtype=torch.float64)

    def matvec(rows: torch.Tensor) -> torch.Tensor:
        return torch.einsum("tab,tb->ta", blocks, rows)

    solution = conjugate_gradient(matvec, rhs, iterations=50, tolerance=1e-30)
    np.testing.assert_allclose(solution.numpy(), torch.linalg.solve(blocks, rhs).numpy(), atol=1e-10)
    # a row solved on its own is the same row (every row runs its own CG)
    alone = conjugate_gradient(lambda v: blocks[1] @ v, rhs[1], iterations=50, tolerance=1e-30)
    np.testing.assert_allclose(solution[1].numpy(), alone.numpy(), atol=1e-10)


def test_row_conjugate_gradient_stops_a_row_at_negative_curvature():
    blocks = torch.stack([torch.diag(torch.tensor([2.0, 1.0])), torch.diag(torch.tensor([-1.0, -3.0]))])
    rhs = torch.tensor([[1.0, 1.0], [1.0, 2.0]])
    solution = conjugate_gradient(lambda v: torch.einsum("tab,tb->ta", blocks, v), rhs, iterations=10)
    np.testing.assert_allclose(solution[0].numpy(), [0.5, 1.0], atol=1e-6)
    np.testing.assert_array_equal(solution[1].numpy(), rhs[1].numpy())  # steepest-ascent fallback: x = b


def test_row_hessian_products_equal_the_per_task_hessians():
    generator = torch.Generator().manual_seed(1)
    weights = torch.randn(3, 2, 2, generator=generator, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, 2, generator=generator, dtype=torch.float64, requires_grad=True)

    def per_task(w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (torch.sin(w).sum() * b.sum()) + (w ** 3).sum() * b.prod()

    total = sum(per_task(weights[i], bias[i]) for i in range(3))
    grads = torch.autograd.grad(total, [weights, bias], create_graph=True)
    vectors = torch.randn(3, 6, generator=generator, dtype=torch.float64)
    products = hessian_vector_product(grads, [weights, bias], damping=0.1, rows=True)(vectors)
    for i in range(3):
        flat = torch.cat([weights[i].detach().reshape(-1), bias[i].detach()])
        hessian = torch.autograd.functional.hessian(lambda x: per_task(x[:4].reshape(2, 2), x[4:]), flat)
        np.testing.assert_allclose(products[i].numpy(), (hessian @ vectors[i] + 0.1 * vectors[i]).numpy(),
                                   atol=1e-12)


def test_squash_is_eq_7s_h():
    x = torch.linspace(-3.0, 5.0, 41, dtype=torch.float64, requires_grad=True)
    np.testing.assert_allclose(squash(x).detach().numpy(), (2.0 / (1.0 + torch.exp(-2.0 * (x - 1.0)))).detach().numpy(),
                               rtol=1e-12)
    one = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(squash(one), one)
    assert float(squash(one).detach()) == 1.0 and float(slope) == pytest.approx(1.0, abs=1e-15)


def test_one_time_adaptation_reaches_the_tabular_closed_form_of_alg2():
    """With one-hot states, a linear softmax policy, the raw ratio and a batch whose action counts are
    exactly π_ϕ at every state, eq. 7 per state is Σ_a π_θ(a|s) Â(s, a) − λ KL(π_θ‖π_ϕ): Alg(2)'s
    closed form π' ∝ π_ϕ exp(Â/λ) (`bomrl_solvers.solve_surrogate`) is its maximiser."""
    n_states, n_actions, copies, lam = 3, 2, 4, 0.7
    policy = CategoricalMLPPolicy(n_states, n_actions, hidden_sizes=()).double()
    logits = torch.tensor([[0.0, np.log(3.0)], [np.log(3.0), 0.0], [0.0, 0.0]], dtype=torch.float64)  # π_ϕ ∈ {¼, ¾, ½}
    phi = {"net.0.weight": logits.T.clone(), "net.0.bias": torch.zeros(n_actions, dtype=torch.float64)}
    advantages = np.array([[1.0, -0.5], [0.3, 0.2], [-1.0, 0.4]])
    counts = {0: (1, 3), 1: (3, 1), 2: (2, 2)}  # per state: how often each action appears in 4 samples
    observations, actions, weights = [], [], []
    for state, (first, second) in counts.items():
        for action, count in ((0, first), (1, second)):
            for _ in range(count * copies):
                observations.append(np.eye(n_states)[state])
                actions.append(action)
                weights.append(advantages[state, action])
    steps = len(actions)
    tensors = estimators.BatchTensors(torch.tensor(np.array(observations)).reshape(1, 1, steps, n_states),
                                      torch.tensor(actions).reshape(1, 1, steps),
                                      torch.ones(1, 1, steps, dtype=torch.float64))
    data = estimators.StepData(tensors, torch.tensor(weights).reshape(1, 1, steps))
    config = DeepBOMRLConfig(divergence=2, lam=lam, squash=False, inner_iterations=800, inner_lr=0.05)
    theta = one_time_adaptation(policy, phi, data, config)
    adapted = policy.probabilities({k: v[0] for k, v in theta.items()}, torch.eye(n_states, dtype=torch.float64))
    closed = bomrl_solvers.solve_surrogate(logits.numpy(), advantages, lam, 2)
    np.testing.assert_allclose(adapted.numpy(), np.exp(closed), atol=1e-6)


def test_agent_trains_saves_loads_and_adapts_from_the_rounds_episodes(tmp_path):
    env_id, kwargs = "MetaRL/Navigation2D-v0", {"preset": "maml"}
    config = DeepBOMRLConfig(tasks_per_iteration=2, episodes_per_task=2, hidden_sizes=(8,), inner_iterations=5,
                             hypergradient_cg_iterations=3, cg_iterations=3)
    agent = DeepBOMRL(env_id, config, kwargs)
    log = agent.meta_train(metarl_envs.task_set(env_id, "train", "maml"), iterations=2, seed=1)
    assert [r.env_steps > 0 for r in log.records] == [True, True]
    assert all(np.isfinite(r.extra["hypergradient_norm"]) for r in log.records)
    agent.save(tmp_path / "agent")
    loaded = DeepBOMRL.load(tmp_path / "agent")
    for name, value in agent.meta_params().items():
        torch.testing.assert_close(loaded.meta_params()[name], value, rtol=0, atol=0)
    assert DeepBOMRLConfig.from_dict(config.to_dict()) == config
    batch = agent.sampler.collect(agent.policy, agent.meta_params(), list(agent.sampler.tasks[:2]), 2,
                                  np.random.default_rng(0))
    adapted = agent.adapt_round([agent.meta_params()] * 2, batch)
    expected = one_time_adaptation(agent.policy, agent.meta_params(), estimators.StepData.of(batch, config.weight_spec),
                                   config)
    for i in range(2):
        for name in expected:
            torch.testing.assert_close(adapted[i][name], expected[name][i], rtol=0, atol=0)
    assert any(not torch.equal(adapted[0][k], v) for k, v in agent.meta_params().items())


@pytest.mark.parametrize(("field", "value"), [("divergence", 4), ("lam", 0.0), ("inner_iterations", 0),
                                              ("reduction", "sum"), ("hypergradient_damping", -1.0)])
def test_config_rejects_bad_values_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(DeepBOMRLConfig(), **{field: value})


def test_meta_train_step_is_the_trpo_step_along_the_hypergradient(monkeypatch):
    """Alg. 2 line 7: ϕ moves by the natural-gradient step of the linear objective ⟨ĝ, ϕ' − ϕ⟩ under the
    mean-KL trust region, recomputed here in float64 from ĝ (the hypergradient the step computed): the Fisher
    as the exact Hessian of the hand-written Gaussian KL plus the configured damping, a direct solve for the
    direction, the step scaled to the KL bound, then halved (ls_backtrack_ratio 0.5) until within it.
    The record carries the batch's pre- and post-adaptation returns and the accepted fraction."""
    import baselines.bomrl_deep as module
    from baselines.common.sampler import Sampler

    env_id, kwargs = "MetaRL/Navigation2D-v0", {"preset": "maml"}
    config = DeepBOMRLConfig(tasks_per_iteration=2, episodes_per_task=2, hidden_sizes=(4,), inner_iterations=3,
                             hypergradient_cg_iterations=3, cg_iterations=60, cg_damping=1e-2, max_kl=0.05,
                             ls_backtrack_ratio=0.5, ls_max_steps=30)
    agent = DeepBOMRL(env_id, config, kwargs)
    seen, batches = {}, []

    def spy_hypergradient(policy, phi, theta_star, data, outer, cfg):
        hyper, info = hypergradient(policy, phi, theta_star, data, outer, cfg)
        seen.update(phi={k: v.detach().double().clone() for k, v in phi.items()}, hyper=hyper, data=data)
        return hyper, info

    collect = Sampler.collect

    def spy_collect(self, *args, **kw):
        batches.append(collect(self, *args, **kw))
        return batches[-1]

    monkeypatch.setattr(module, "hypergradient", spy_hypergradient)
    monkeypatch.setattr(Sampler, "collect", spy_collect)
    (record,) = agent.meta_train(metarl_envs.task_set(env_id, "train", "maml"), iterations=1, seed=4).records

    phi, names = seen["phi"], list(seen["phi"])
    g = torch.cat([seen["hyper"][k].double().reshape(-1) for k in names])
    obs = seen["data"].tensors.observations.double()
    mask = seen["data"].tensors.mask.double()
    old_mean, old_log_std = (d.detach().double() for d in agent.policy.dist_params(phi, obs))

    def params_of(flat: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(names, unflatten(flat, [phi[k] for k in names]), strict=True))

    def mean_kl(flat: torch.Tensor) -> torch.Tensor:
        mean, log_std = agent.policy.dist_params(params_of(flat), obs)
        kl = (log_std - old_log_std + (torch.exp(2 * old_log_std) + (old_mean - mean) ** 2)
              / (2 * torch.exp(2 * log_std)) - 0.5).sum(-1)
        return (kl * mask).sum() / mask.sum()

    start = torch.cat([phi[k].reshape(-1) for k in names])
    fisher = torch.autograd.functional.hessian(mean_kl, start) + config.cg_damping * torch.eye(len(start),
                                                                                                 dtype=torch.float64)
    direction = torch.linalg.solve(fisher, g)
    full_step = torch.sqrt(2 * config.max_kl / (direction @ fisher @ direction)) * direction
    fraction = 1.0
    while float(mean_kl(start + fraction * full_step)) > config.max_kl:
        fraction *= config.ls_backtrack_ratio
    moved = torch.cat([agent.meta_params()[k].double().reshape(-1) for k in names]) - start
    assert float(full_step.abs().max()) > 1e-2, "the step is too small to pin anything"
    # float32 CG against a float64 direct solve: 6e-4 of the step's norm apart here
    expected = fraction * full_step
    assert float(torch.linalg.norm(moved - expected) / torch.linalg.norm(expected)) < 3e-3
    assert record.extra["step_fraction"] == fraction == 0.5   # one halving: the line search is pinned too
    # the batch collected with ϕ (line 3) and the one with the adapted θ' (B' of eq. 8)
    assert len(batches) == 2
    assert record.pre_adaptation_return == pytest.approx(float(batches[0].episode_returns().mean()), rel=1e-12)
    assert record.post_adaptation_return == pytest.approx(float(batches[1].episode_returns().mean()), rel=1e-12)
