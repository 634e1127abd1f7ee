"""`estimators.adapted_fisher_product` against the exact Hessian of the masked mean outer KL, written
out here in float64 (the policy by `functional_call`, the Gaussian log-density and KL by their
formulas, the inner ascent steps by `torch.func.grad`-free autograd), on a hand-made batch whose
episodes end early (zero mask) so that the masked mean is pinned."""

import numpy as np
import pytest
import torch
from torch.func import functional_call

from baselines.common import estimators
from baselines.common.policies import CategoricalMLPPolicy, GaussianMLPPolicy, detach
from tests.baselines.test_bomrl_details_deep import gaussian_kl
from tests.baselines.test_update_rules import unflatten

TASKS, EPISODES, HORIZON, OBS, ACT = 2, 3, 4, 2, 2
INNER_LR = 0.05
MASK = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)


def batch(seed: int) -> estimators.StepData:
    generator = torch.Generator().manual_seed(seed)
    tensors = estimators.BatchTensors(torch.randn(TASKS, EPISODES, HORIZON, OBS, generator=generator,
                                                  dtype=torch.float64),
                                      torch.randn(TASKS, EPISODES, HORIZON, ACT, generator=generator,
                                                  dtype=torch.float64),
                                      MASK.expand(TASKS, EPISODES, HORIZON).clone())
    return estimators.StepData(tensors, torch.randn(TASKS, EPISODES, HORIZON, generator=generator,
                                                    dtype=torch.float64))


def policy_and_theta():
    torch.manual_seed(5)
    policy = GaussianMLPPolicy(OBS, ACT, (3,)).double()
    theta = detach(policy.meta_params())
    theta["log_std"] = torch.tensor([0.2, -0.3], dtype=torch.float64)
    return policy, theta


def mean_and_log_std(policy, params, obs):
    mean = functional_call(policy, {k: v for k, v in params.items() if k != "log_std"}, (obs,))
    return mean, params["log_std"].expand_as(mean)


def episode_sum_surrogate(policy, params, data: estimators.StepData, task: int) -> torch.Tensor:
    """(1/E) Σ_τ Σ_h mask · log π(a|s) · w, the 'episode_sum' units."""
    t = data.tensors
    mean, log_std = mean_and_log_std(policy, params, t.observations[task])
    log_prob = (-0.5 * ((t.actions[task] - mean) / log_std.exp()) ** 2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)
    return (log_prob * data.weights[task] * t.mask[task]).sum() / EPISODES


def adapted(policy, theta, inner, first_order: bool) -> list[dict[str, torch.Tensor]]:
    """θ_i^ζ(θ): ζ ascent steps per task; with `first_order` the steps are constants added to θ."""
    result = []
    theta = {k: v if v.requires_grad else v.detach().requires_grad_(True) for k, v in theta.items()}
    for task in range(TASKS):
        params = theta
        for data in inner:
            names = list(params)
            grads = torch.autograd.grad(episode_sum_surrogate(policy, params, data, task),
                                        [params[k] for k in names], create_graph=not first_order)
            params = {k: params[k] + INNER_LR * g for k, g in zip(names, grads, strict=True)}
        if first_order:
            params = {k: theta[k] + (params[k] - theta[k]).detach() for k in theta}
        result.append(params)
    return result


def masked_mean_kl(policy, per_task, old, outer: estimators.StepData) -> torch.Tensor:
    total = torch.zeros((), dtype=torch.float64)
    for task, params in enumerate(per_task):
        m1, s1 = mean_and_log_std(policy, params, outer.tensors.observations[task])
        kl = gaussian_kl((old[0][task], old[1][task]), (m1, s1))
        total = total + (kl * outer.tensors.mask[task]).sum()
    return total / outer.tensors.mask.sum()


def exact_kl_hessian(policy, theta, inner, outer, first_order):
    """∇²_θ of the masked mean KL(π_old ‖ π_{θ_i^ζ(θ)}), π_old the adapted policies at θ itself."""
    with torch.enable_grad():
        start = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
        old_params = adapted(policy, start, inner, first_order=True)
    old = [torch.stack([mean_and_log_std(policy, p, outer.tensors.observations[i])[j].detach()
                        for i, p in enumerate(old_params)]) for j in range(2)]
    flat_theta = torch.cat([v.reshape(-1) for v in theta.values()])

    def kl_of(vector):
        return masked_mean_kl(policy, adapted(policy, unflatten(vector, theta), inner, first_order), old, outer)

    return torch.autograd.functional.hessian(kl_of, flat_theta), old


@pytest.mark.parametrize("inner_steps", [1, 2])
def test_default_fisher_product_is_the_exact_second_order_kl_hessian_without_damping(inner_steps):
    policy, theta = policy_and_theta()
    inner, outer = [batch(seed) for seed in range(inner_steps)], batch(10)
    hessian, old = exact_kl_hessian(policy, theta, inner, outer, first_order=False)
    product = estimators.adapted_fisher_product(policy, theta, inner, outer.tensors, old, INNER_LR, "episode_sum")
    vectors = torch.randn(3, hessian.shape[0], generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    for vector in vectors:
        np.testing.assert_allclose(product(vector).detach().numpy(), (hessian @ vector).numpy(),
                                   rtol=1e-8, atol=1e-11)


def test_first_order_fisher_product_adds_the_damping_to_the_adapted_policies_fisher():
    policy, theta = policy_and_theta()
    inner, outer = [batch(3)], batch(11)
    hessian, old = exact_kl_hessian(policy, theta, inner, outer, first_order=True)
    product = estimators.adapted_fisher_product(policy, theta, inner, outer.tensors, old, INNER_LR, "episode_sum",
                                                first_order=True, damping=0.25)
    vector = torch.randn(hessian.shape[0], generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    np.testing.assert_allclose(product(vector).detach().numpy(), (hessian @ vector + 0.25 * vector).numpy(),
                               rtol=1e-8, atol=1e-11)


def test_the_fisher_product_is_the_exact_kl_hessian_for_a_categorical_policy():
    """MAML-TRPO on a discrete-action env: the product, taken in the policy's log-probabilities, is the
    exact Hessian of the masked mean categorical KL through one inner step. (It used to raise "element 0
    of tensors does not require grad": the KL was written linear in the new log-probabilities.)"""
    torch.manual_seed(6)
    n_actions = 3
    policy = CategoricalMLPPolicy(OBS, n_actions, (3,)).double()
    theta = detach(policy.meta_params())
    generator = torch.Generator().manual_seed(4)

    def categorical_batch() -> estimators.StepData:
        tensors = estimators.BatchTensors(
            torch.randn(TASKS, EPISODES, HORIZON, OBS, generator=generator, dtype=torch.float64),
            torch.randint(0, n_actions, (TASKS, EPISODES, HORIZON), generator=generator).double(),
            MASK.expand(TASKS, EPISODES, HORIZON).clone())
        return estimators.StepData(tensors, torch.randn(TASKS, EPISODES, HORIZON, generator=generator,
                                                        dtype=torch.float64))

    inner, outer = categorical_batch(), categorical_batch()

    def log_probs(params, obs):
        return torch.log_softmax(functional_call(policy, params, (obs,)), dim=-1)

    def adapted_params(params, task):  # one ascent step on the 'episode_sum' surrogate, written out
        t = inner.tensors
        taken = log_probs(params, t.observations[task]).gather(-1, t.actions[task].long().unsqueeze(-1)).squeeze(-1)
        surrogate = (taken * inner.weights[task] * t.mask[task]).sum() / EPISODES
        names = list(params)
        grads = torch.autograd.grad(surrogate, [params[k] for k in names], create_graph=True)
        return {k: params[k] + INNER_LR * g for k, g in zip(names, grads, strict=True)}

    with torch.enable_grad():
        start = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
        old = torch.stack([log_probs(adapted_params(start, i), outer.tensors.observations[i]).detach()
                           for i in range(TASKS)])

    def kl_of(vector):
        params = unflatten(vector, theta)
        total = torch.zeros((), dtype=torch.float64)
        for task in range(TASKS):
            new = log_probs(adapted_params(params, task), outer.tensors.observations[task])
            kl = (old[task].exp() * (old[task] - new)).sum(-1)
            total = total + (kl * outer.tensors.mask[task]).sum()
        return total / outer.tensors.mask.sum()

    hessian = torch.autograd.functional.hessian(kl_of, torch.cat([v.reshape(-1) for v in theta.values()]))
    product = estimators.adapted_fisher_product(policy, theta, [inner], outer.tensors, (old,), INNER_LR,
                                                "episode_sum")
    for vector in torch.randn(2, hessian.shape[0], generator=generator, dtype=torch.float64):
        np.testing.assert_allclose(product(vector).detach().numpy(), (hessian @ vector).numpy(),
                                   rtol=1e-8, atol=1e-11)


def test_maml_trpo_meta_trains_on_a_discrete_action_env():
    """The default outer optimiser (TRPO) on GridNavigation's discrete actions: one iteration takes a
    finite step that moves θ (it raised in the Fisher product before)."""
    import metarl_envs
    from baselines.maml import MAML, MAMLConfig

    env_id, kwargs = "MetaRL/GridNavigation-v0", {"preset": "memrl"}
    agent = MAML(env_id, MAMLConfig(tasks_per_iteration=2, episodes_per_task=2, hidden_sizes=(8,), cg_iterations=2),
                 kwargs)
    before = detach(agent.meta_params())
    agent.meta_train(metarl_envs.task_set(env_id, "train", "memrl"), iterations=1, seed=0)
    after = agent.meta_params()
    assert all(torch.isfinite(after[k]).all() for k in after)
    assert any(not torch.equal(before[k], after[k]) for k in after)
