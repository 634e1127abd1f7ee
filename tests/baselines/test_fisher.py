"""MAML-TRPO's Gauss–Newton Fisher product (`estimators.adapted_fisher_product`) equals double
backpropagation through the KL of the re-adapted policies (`trpo.fisher_vector_product`)."""

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.common import estimators, training
from baselines.common.policies import detach
from baselines.common.trpo import fisher_vector_product
from baselines.maml import MAML, InnerBatch, MAMLConfig

NAV = "MetaRL/Navigation2D-v0"


@pytest.mark.parametrize(("inner_steps", "first_order"), [(1, False), (2, False), (1, True)])
def test_adapted_fisher_product_matches_double_backprop(inner_steps, first_order):
    torch.set_num_threads(1)
    config = MAMLConfig(hidden_sizes=(8, 8), tasks_per_iteration=3, episodes_per_task=4, inner_steps=inner_steps,
                        first_order=first_order)
    agent = MAML(NAV, config, {"preset": "maml"})
    rng = training.seed_policy(agent.policy, 3)
    tasks = list(metarl_envs.task_set(NAV, "train"))[:3]
    theta, inner = detach(agent.policy.meta_params()), []
    adapted = theta
    for _ in range(inner_steps):
        batch = agent.sampler.collect(agent.policy, adapted, tasks, 4, rng)
        inner.append(InnerBatch(batch, estimators.StepData.of(batch, config.weight_spec)))
        adapted = [detach(p) for p in estimators.inner_step(agent.policy, adapted, *inner[-1].data, config.inner_lr,
                                                            config.reduction, first_order=True)]
    outer_batch = agent.sampler.collect(agent.policy, adapted, tasks, 4, rng)
    outer = InnerBatch(outer_batch, estimators.StepData.of(outer_batch, config.weight_spec))
    _, kl_fn = agent.outer_objective(inner, outer, adapted)
    reference = fisher_vector_product(kl_fn, theta, 1e-3)
    old_dist = [d.detach() for d in agent.policy.dist_params(adapted, outer.data.tensors.observations)]
    product = estimators.adapted_fisher_product(agent.policy, theta, [step.data for step in inner], outer.data.tensors,
                                                old_dist, config.inner_lr, config.reduction, first_order=first_order,
                                                damping=1e-3)
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        vector = torch.randn(sum(v.numel() for v in theta.values()), generator=generator)
        np.testing.assert_allclose(product(vector).numpy(), reference(vector).numpy(), rtol=1e-4, atol=1e-6)
