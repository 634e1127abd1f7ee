"""MAML's outer objective and step in detail.

`outer_objective` on hand-made batches whose episodes end early: the TRPO loss is the
likelihood-ratio surrogate of the re-adapted policies (ζ = 1, 2 inner steps), the Adam loss the
log-probability one, the E-MAML score term's coefficient the post-update returns standardised over
the meta-batch (also when their spread is ~1e-8), the KL the masked mean, all in float32; against the
test's own float64 formulas (`test_pg_details_fisher`). `meta_train_step` reports its loss, returns
and env steps, hands TRPO the config's settings and the exact adapted Fisher product, and
`adapt_round` returns parameters without a graph."""

import numpy as np
import pytest
import torch

import metarl_envs
from baselines import maml as maml_module
from baselines.common import estimators
from baselines.common.sampler import TrajectoryBatch
from baselines.common.trpo import fisher_vector_product
from baselines.maml import MAML, InnerBatch, MAMLConfig
from tests.baselines.test_pg_details_fisher import (
    EPISODES,
    INNER_LR,
    OBS,
    TASKS,
    adapted,
    batch,
    masked_mean_kl,
    mean_and_log_std,
)
from tests.baselines.test_update_rules import (
    NAV,
    NAV_KWARGS,
    ascent,
    double,
    gae_weights,
    gradient,
    randomise,
    record_batches,
    surrogate,
)


def agent_for(**overrides) -> MAML:
    config = MAMLConfig(hidden_sizes=(3,), tasks_per_iteration=TASKS, episodes_per_task=EPISODES, inner_lr=INNER_LR,
                        reduction="episode_sum", **overrides)
    agent = MAML(NAV, config, NAV_KWARGS)
    randomise(agent, 2)
    return agent


def float32(data: estimators.StepData) -> estimators.StepData:
    t = data.tensors
    return estimators.StepData(estimators.BatchTensors(t.observations.float(), t.actions.float(), t.mask.float()),
                               data.weights.float())


def trajectories(data: estimators.StepData, returns: np.ndarray) -> TrajectoryBatch:
    """A batch holding `data`'s steps whose episode returns (reward at the first step) are `returns[task]`."""
    t, shape = data.tensors, data.tensors.mask.shape
    rewards = np.zeros(shape)
    rewards[:, :, 0] = np.asarray(returns)[:, None]
    mask = t.mask.numpy().astype(bool)
    ends = mask & ~np.concatenate([mask[..., 1:], np.zeros((*shape[:2], 1), dtype=bool)], axis=-1)
    return TrajectoryBatch(t.observations.numpy(), t.actions.numpy(), rewards, mask, np.zeros(shape, dtype=bool), ends,
                           np.zeros((*shape[:2], OBS)))


def log_prob(policy, params, data: estimators.StepData, task: int) -> torch.Tensor:
    t = data.tensors
    mean, log_std = mean_and_log_std(policy, params, t.observations[task])
    return (-0.5 * ((t.actions[task] - mean) / log_std.exp()) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)


def episode_sum(per_step: torch.Tensor, data: estimators.StepData, task: int) -> torch.Tensor:
    return (per_step * data.tensors.mask[task]).sum() / EPISODES


@pytest.mark.parametrize(("optimizer", "inner_steps", "exploration"),
                         [("trpo", 1, False), ("trpo", 2, True), ("adam", 1, True), ("adam", 2, False)])
def test_outer_objective_is_the_post_update_surrogate_and_the_masked_kl(optimizer, inner_steps, exploration):
    agent = agent_for(outer_optimizer=optimizer, inner_steps=inner_steps, exploration=exploration)
    policy = agent.policy
    inner64, outer64 = [batch(seed) for seed in range(inner_steps)], batch(10)
    post = np.array([0.0, 2e-8])   # spread 1e-8: standardised ±½ only with the + 1e-8 in the denominator
    theta = double(agent.meta_params())
    old_params = [{k: v.detach() for k, v in p.items()} for p in adapted(policy, theta, inner64, first_order=True)]
    inner = [InnerBatch(trajectories(d, post), float32(d)) for d in inner64]
    outer = InnerBatch(trajectories(outer64, post), float32(outer64))
    loss_fn, kl_fn = agent.outer_objective(inner, outer, [{k: v.float() for k, v in p.items()} for p in old_params])

    shifted = {k: v + 0.05 * torch.randn(v.shape, generator=torch.Generator().manual_seed(4), dtype=v.dtype)
               for k, v in theta.items()}
    new_params = adapted(policy, shifted, inner64, first_order=False)
    expected = torch.zeros((), dtype=torch.float64)
    for i in range(TASKS):
        terms = log_prob(policy, new_params[i], outer64, i)
        score = log_prob(policy, shifted, inner64[0], i)
        if optimizer == "trpo":   # likelihood ratios to the policies that sampled each batch
            terms = torch.exp(terms - log_prob(policy, old_params[i], outer64, i))
            score = torch.exp(score - log_prob(policy, theta, inner64[0], i))
        expected = expected + episode_sum(terms * outer64.weights[i], outer64, i)
        if exploration:
            expected = expected + (-0.5 if i == 0 else 0.5) * episode_sum(score, inner64[0], i)
    loss = loss_fn({k: v.float() for k, v in shifted.items()})
    assert loss.dtype == torch.float32
    np.testing.assert_allclose(float(loss.detach()), float(-expected.detach() / TASKS), rtol=1e-4)

    old = [torch.stack([mean_and_log_std(policy, p, outer64.tensors.observations[i])[j]
                        for i, p in enumerate(old_params)]) for j in range(2)]
    want_kl = float(masked_mean_kl(policy, new_params, old, outer64).detach())
    assert want_kl > 1e-4
    np.testing.assert_allclose(float(kl_fn({k: v.float() for k, v in shifted.items()}).detach()), want_kl, rtol=1e-4)


def nav_agent(**overrides) -> MAML:
    config = MAMLConfig(hidden_sizes=(6,), tasks_per_iteration=2, episodes_per_task=3, inner_lr=0.35, discount=0.9,
                        gae_lambda=0.7, **overrides)
    agent = MAML(NAV, config, NAV_KWARGS)
    randomise(agent, 3)
    return agent


def test_adam_meta_train_step_reports_the_loss_returns_and_steps():
    agent = nav_agent(outer_optimizer="adam")
    cfg, policy = agent.config, agent.policy
    tasks = list(metarl_envs.task_set(NAV, "train"))[:2]
    theta = double(agent.meta_params())
    calls = record_batches(agent)
    result = agent.meta_train_step(tasks, np.random.default_rng(3))
    (_, inner_batch), (_, outer_batch) = calls
    w_in = gae_weights(inner_batch, cfg.discount, cfg.gae_lambda, cfg.normalize_advantages)
    w_out = gae_weights(outer_batch, cfg.discount, cfg.gae_lambda, cfg.normalize_advantages)
    objective = 0.0
    for i in range(len(tasks)):
        theta_i = ascent(theta, gradient(lambda p, i=i: surrogate(policy, p, inner_batch, i, w_in, cfg.reduction),
                                         theta), cfg.inner_lr)
        objective += float(surrogate(policy, theta_i, outer_batch, i, w_out, cfg.reduction)) / len(tasks)
    assert set(result.extra) == {"loss_before"}
    np.testing.assert_allclose(result.extra["loss_before"], -objective, rtol=1e-4, atol=1e-6)
    assert result.env_steps == inner_batch.env_steps + outer_batch.env_steps
    assert result.pre_adaptation_return == pytest.approx(float(inner_batch.episode_returns().mean()))
    assert result.post_adaptation_return == pytest.approx(float(outer_batch.episode_returns().mean()))


@pytest.mark.parametrize("first_order", [False, True])
def test_trpo_meta_train_step_passes_the_config_and_the_adapted_fisher_product(monkeypatch, first_order):
    agent = nav_agent(first_order=first_order, inner_steps=2, max_kl=0.03, cg_iterations=7, cg_damping=0.2,
                      ls_max_steps=9, ls_backtrack_ratio=0.55)
    cfg = agent.config
    seen, real_step = [], maml_module.trpo_step

    def trpo_step(params, loss_fn, kl_fn, **kwargs):
        seen.append((dict(params), kl_fn, kwargs))
        return real_step(params, loss_fn, kl_fn, **kwargs)

    monkeypatch.setattr(maml_module, "trpo_step", trpo_step)
    calls = record_batches(agent)
    result = agent.meta_train_step(list(metarl_envs.task_set(NAV, "train"))[:2], np.random.default_rng(5))
    assert result.env_steps == sum(b.env_steps for _, b in calls) and len(calls) == 3
    ((params, kl_fn, kwargs),) = seen
    fisher = kwargs.pop("fisher_product")
    assert kwargs == {"max_kl": 0.03, "damping": 0.2, "cg_iterations": 7, "ls_max_steps": 9, "ls_ratio": 0.55}
    assert fisher is not None, "MAML-TRPO passes its Gauss–Newton product (estimators.adapted_fisher_product)"
    reference = fisher_vector_product(kl_fn, params, cfg.cg_damping)
    vector = torch.randn(sum(v.numel() for v in params.values()), generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(fisher(vector).detach().numpy(), reference(vector).detach().numpy(), rtol=1e-3,
                               atol=1e-5)


def test_adapt_round_returns_parameters_without_a_graph():
    agent = nav_agent()
    tasks = list(metarl_envs.task_set(NAV, "test"))[:2]
    theta = agent.meta_params()
    rollouts = agent.sampler.collect(agent.policy, [theta, theta], tasks, 3, np.random.default_rng(1))
    new = agent.adapt_round([theta, theta], rollouts)
    assert [p.adaptation_steps for p in new] == [1, 1]
    assert not any(v.requires_grad for p in new for v in p.values())
