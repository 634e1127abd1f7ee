"""Details of tabular BO-MRL's meta-training (`baselines.bomrl.BOMRL`) that the update-rule tests leave
open: what a training record carries (returns before and after the one-time adaptation, the
hypergradient's norm, the CG residual, environment steps), that `cg_iterations` reaches the CG in
both estimator modes, and that `meta_learn=False` trains nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.bomrl import BOMRL, BOMRLConfig
from tests.baselines.test_tabular_update_rules import LAKE, LAKE_KWARGS, Exact, lake_tasks, model_of, softmax

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_exact_record_carries_the_returns_the_hypergradient_norm_and_no_env_steps():
    """Exact mode, D2 (θ' = log softmax(ϕ + Q^{π_ϕ}/λ)), SGD: per iteration the record's pre- and
    post-adaptation returns are mean_τ J_τ(ϕ) and mean_τ J_τ(θ'_τ), recomputed from the task matrices;
    its hypergradient_norm is ‖ϕ_new − ϕ‖ / β (SGD moves ϕ by β times the mean hypergradient); the
    model is privileged, so no environment step is counted."""
    config = BOMRLConfig(divergence=2, lam=0.7, discount=0.7, meta_lr=0.4, meta_optimizer="sgd",
                         tasks_per_iteration=2)
    agent, tasks = BOMRL(LAKE, config, LAKE_KWARGS), lake_tasks(2)
    exact = [Exact(model_of(LAKE, LAKE_KWARGS, t)[0], config.discount) for t in tasks]
    before = [np.zeros((16, 4))]
    log = agent.meta_train(tasks, iterations=2, seed=3, callback=lambda record: before.append(agent.meta_params()))
    assert len(log.records) == 2
    for record, phi, new in zip(log.records, before[:-1], before[1:], strict=True):
        phi_t = torch.as_tensor(phi)
        adapted = [torch.as_tensor(np.log(softmax(phi + e.q(phi_t).numpy() / config.lam))) for e in exact]
        assert record.pre_adaptation_return == pytest.approx(np.mean([float(e.j(phi_t)) for e in exact]), rel=1e-10)
        assert record.post_adaptation_return == pytest.approx(
            np.mean([float(e.j(theta)) for e, theta in zip(exact, adapted, strict=True)]), rel=1e-10)
        assert record.post_adaptation_return > record.pre_adaptation_return + 1e-3
        norm = np.linalg.norm(new - phi) / config.meta_lr
        assert norm > 1e-3 and record.extra["hypergradient_norm"] == pytest.approx(norm, rel=1e-9)
        assert record.extra["cg_residual"] < 1e-8
        assert record.env_steps == 0


@pytest.mark.parametrize("estimator", ["exact", "sampled"])
def test_cg_iterations_is_the_budget_of_the_hypergradients_cg(estimator):
    """One CG iteration cannot solve the (S·A)-unknown system: the record's residual shows it (with the
    default budget it is below 1e-8, as in test_bomrl.py's training test)."""
    config = BOMRLConfig(divergence=2, lam=0.7, discount=0.7, tasks_per_iteration=2, cg_iterations=1,
                         estimator=estimator, episodes_per_step=4)
    agent = BOMRL(LAKE, config, LAKE_KWARGS)
    (record,) = agent.meta_train(lake_tasks(2), iterations=1, seed=1).records
    assert record.extra["cg_residual"] > 1e-4


def test_sampled_record_counts_the_steps_of_both_collections_of_every_task():
    """Sampled mode: per task one collection at π_ϕ and one at π_θ' (eq. 8's ∇J(θ')); the record's
    env_steps is the sum of all of them."""
    config = BOMRLConfig(divergence=1, lam=0.7, discount=0.7, estimator="sampled", episodes_per_step=3,
                         tasks_per_iteration=2)
    agent = BOMRL(LAKE, config, LAKE_KWARGS)
    steps, estimate = [], agent.estimator.estimate

    def counting(task, logits, rng):
        out = estimate(task, logits, rng)
        steps.append(out[3])
        return out

    agent.estimator.estimate = counting
    (record,) = agent.meta_train(lake_tasks(2), iterations=1, seed=2).records
    assert len(steps) == 4 and all(s >= 3 for s in steps)
    assert record.env_steps == sum(steps)


def test_meta_learn_false_runs_no_iteration_and_leaves_phi_uniform():
    """The paper's "Random initialization" baseline: no meta-training at all, ϕ stays 0."""
    agent = BOMRL(LAKE, BOMRLConfig(meta_learn=False, tasks_per_iteration=2), LAKE_KWARGS)
    log = agent.meta_train(lake_tasks(2), iterations=3, seed=0)
    assert log.records == []
    np.testing.assert_array_equal(agent.meta_params(), np.zeros((16, 4)))
