"""RL², the context-based reference agent: its hidden state carries across a trial's adaptation
rounds, evaluation episodes leave no trace in it, and its meta-training runs through the harness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.common.sampler import Sampler, TrainingEnvs
from baselines.rl2 import RL2, RL2Config
from benchmarks.evaluate import MetaTestProtocol, meta_test, run_episodes

NAV, KWARGS = "MetaRL/Navigation2D-v0", {"preset": "maml"}
SMALL = RL2Config(hidden_size=8, tasks_per_iteration=2, trials_per_task=2, episodes_per_trial=2)


def test_context_carries_across_rounds_and_evaluation_leaves_no_trace():
    agent = RL2(NAV, SMALL, KWARGS)
    tasks = list(metarl_envs.task_set(NAV, "test", "maml"))[:2]
    sampler, rng = Sampler(NAV, KWARGS), np.random.default_rng(0)
    agent.start_trial(len(tasks))
    agent.end_round(run_episodes(agent, sampler, tasks, "adapt", 3, rng))
    after_round = agent._lanes.hidden.clone()
    assert after_round.abs().sum() > 0 and after_round.shape == (2 * 3, 8)
    run_episodes(agent, sampler, tasks, "evaluate", 2, rng)
    assert not torch.equal(agent._lanes.hidden[:2], after_round[:2])  # the evaluation episodes used the context
    agent.begin_episodes("adapt", rng)
    assert torch.equal(agent._lanes.hidden, after_round)  # and left nothing in it for the next round
    agent.start_trial(len(tasks))
    assert agent._lanes is None  # a new trial starts without context


def test_meta_training_is_ppo_on_trials_through_the_harness():
    agent = RL2(NAV, SMALL, KWARGS)
    envs = TrainingEnvs(NAV, KWARGS, metarl_envs.task_set(NAV, "train", "maml"))
    before = {k: v.clone() for k, v in agent.policy.state_dict().items()}
    log = agent.meta_train(envs, iterations=2, seed=0)
    # 2 iterations × 2 tasks × 2 trials × 2 episodes of ≤ 100 steps, every one collected on the harness's envs
    assert len(log.records) == 2 and envs.env_steps == log.records[-1].env_steps
    assert 2 * 2 * 2 * 2 * 50 < envs.env_steps <= 2 * 2 * 2 * 2 * 100
    assert any(not torch.equal(before[k], v) for k, v in agent.policy.state_dict().items())
    result = meta_test(agent, metarl_envs.task_set(NAV, "test", "maml"),
                       MetaTestProtocol(adaptation_steps=2, evaluation_episodes=2, adaptation_episodes=2), seed=0,
                       max_tasks=2)
    assert result.track == "main" and all(len(t.returns) == 3 for t in result.tasks)
    with pytest.raises(TypeError, match="Box action space"):
        RL2("MetaRL/GridNavigation-v0", SMALL, {"preset": "memrl"})
