"""SG-MRL in detail: practical mode's inner step on per-task normalised GAE advantages, the
score-baseline defaults of each mode, the leave-one-out baseline's error, and the env steps of ζ inner
batches. References are the float64 helpers of `test_update_rules`."""

import re

import numpy as np
import pytest

import metarl_envs
from baselines.common.sampler import TrajectoryBatch
from baselines.sgmrl import SGMRL, SGMRLConfig, score_coefficients
from tests.baselines.test_update_rules import (
    NAV,
    NAV_KWARGS,
    ascent,
    assert_params_close,
    double,
    gae_weights,
    gradient,
    randomise,
    record_batches,
    surrogate,
)


def _agent(mode: str, **overrides) -> SGMRL:
    config = SGMRLConfig(mode=mode, hidden_sizes=(6,), tasks_per_iteration=2, episodes_per_task=3, inner_lr=0.03,
                         discount=0.9, gae_lambda=0.6, **overrides)
    agent = SGMRL(NAV, config, NAV_KWARGS)
    randomise(agent, 6)
    return agent


def test_practical_adaptation_step_ascends_the_normalised_gae_step_mean_surrogate():
    agent = _agent("practical")
    cfg = agent.config
    tasks = list(metarl_envs.task_set(NAV, "test"))[:2]
    theta = agent.meta_params()
    rollouts = agent.sampler.collect(agent.policy, [theta, theta], tasks, 3, np.random.default_rng(8))
    new = agent.adapt_round([theta, theta], rollouts)
    weights = gae_weights(rollouts, cfg.discount, cfg.gae_lambda, normalize=True)
    for i in range(2):
        g = gradient(lambda p, i=i: surrogate(agent.policy, p, rollouts, i, weights, "step_mean"), double(theta))
        assert_params_close(new[i], ascent(double(theta), g, cfg.inner_lr), what=f"task {i}")


@pytest.mark.parametrize(("mode", "baseline"), [("exact", "none"), ("practical", "leave_one_out")])
def test_auto_score_baseline_follows_the_mode(mode, baseline):
    assert SGMRLConfig(mode=mode).score_baseline == baseline
    assert SGMRLConfig(mode=mode, score_baseline="none").score_baseline == "none"


def test_leave_one_out_needs_two_tasks():
    shape = (1, 2, 3)
    batch = TrajectoryBatch(np.zeros((*shape, 2)), np.zeros((*shape, 2)), np.ones(shape), np.ones(shape, dtype=bool),
                            np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool), np.zeros((1, 2, 2)))
    message = "SGMRLConfig.score_baseline='leave_one_out' needs ≥ 2 tasks per iteration"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        score_coefficients(batch, SGMRLConfig(mode="practical"))


def test_meta_train_step_counts_the_env_steps_of_every_inner_batch():
    agent = _agent("exact", inner_steps=2)
    calls = record_batches(agent)
    result = agent.meta_train_step(list(metarl_envs.task_set(NAV, "train"))[:2], np.random.default_rng(2))
    assert len(calls) == 3
    assert result.env_steps == sum(batch.env_steps for _, batch in calls)
    assert result.pre_adaptation_return == pytest.approx(float(calls[0][1].episode_returns().mean()))
