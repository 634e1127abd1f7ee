"""MEMRL's inner initialisation ('meta' / 'warm'), its saved per-task state, and the Fig. 1 per-task log."""

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.memrl import MEMRL, MEMRLConfig
from tests.baselines.trial import adapted_params

GRID = "MetaRL/GridNavigation-v0"


def test_warm_start_state_is_used_saved_and_loaded(tmp_path):
    tasks = metarl_envs.task_set(GRID, "train", "memrl")
    agent = MEMRL(GRID, MEMRLConfig(inner_steps=2, inner_init="warm"), {"preset": "memrl"})
    log = agent.meta_train(tasks, iterations=3, seed=0)
    assert len(agent._warm) >= 2
    ratios = [v for r in log.records for k, v in r.extra.items() if k.endswith("_ratio")]
    returns = [k for r in log.records for k in r.extra if k.endswith("_return")]
    assert len(ratios) == 6 and len(returns) == 6 and all(0.0 < v <= 1.0 + 1e-9 for v in ratios)
    agent.save(tmp_path / "agent")
    loaded = MEMRL.load(tmp_path / "agent")
    assert loaded._warm.keys() == agent._warm.keys()
    for key, params in agent._warm.items():
        for name, value in params.items():
            assert torch.equal(loaded._warm[key][name], value)
    # meta-test: the agent is not told the task, so every test task's solve starts from w
    task = next(t for t in tasks if any(str(list(t.goal)) in key for key in agent._warm))
    w = agent.meta_params()
    adapted, _ = adapted_params(agent, [task], 10, np.random.default_rng(5), rounds=2)
    cold = MEMRL(GRID, MEMRLConfig(inner_steps=2), {"preset": "memrl"})
    cold.policy.load_state_dict(agent.policy.state_dict())
    from_w, _ = adapted_params(cold, [task], 10, np.random.default_rng(5), rounds=2)
    for name in w:
        assert torch.equal(adapted[0][name], from_w[0][name])


def test_inner_init_is_checked():
    with pytest.raises(ValueError, match="inner_init"):
        MEMRLConfig(inner_init="previous")
