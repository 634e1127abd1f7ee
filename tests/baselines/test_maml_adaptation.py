"""MAML's meta-test adaptation schedule (cbfinn/maml_rl test_maml_point.py: 40 trajectories, step sizes
0.5 then 0.25)."""

import dataclasses

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.maml import MAML, AdaptedParams, MAMLConfig

NAV = "MetaRL/Navigation2D-v0"


def _agent(**overrides) -> MAML:
    agent = MAML(NAV, MAMLConfig(hidden_sizes=(8,), episodes_per_task=3, **overrides), {"preset": "maml"})
    torch.manual_seed(0)
    for p in agent.policy.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return agent


def test_schedule_steps_with_its_own_step_size_and_batch():
    tasks = list(metarl_envs.task_set(NAV, "test"))[:2]
    scheduled = _agent(adaptation_lrs=(0.5, 0.25), adaptation_episodes=5)
    first = [scheduled.meta_params() for _ in tasks]
    one, steps = scheduled.adapt_tasks(tasks, first, rng=np.random.default_rng(1))
    assert all(isinstance(p, AdaptedParams) and p.adaptation_steps == 1 for p in one)
    assert steps.tolist() == [5 * 100, 5 * 100]  # 5 trajectories of the 100-step horizon, no goal reached
    two, _ = scheduled.adapt_tasks(tasks, one, rng=np.random.default_rng(2))
    three, _ = scheduled.adapt_tasks(tasks, two, rng=np.random.default_rng(3))
    assert [p.adaptation_steps for p in three] == [3, 3]
    chain = [(first, one, 0.5, 1), (one, two, 0.25, 2), (two, three, 0.25, 3)]
    for step, (before, after, lr, seed) in enumerate(chain):
        plain = _agent(inner_lr=lr, adaptation_episodes=5)  # the same step with a constant step size
        expected, _ = plain.adapt_tasks(tasks, [dict(p) for p in before], rng=np.random.default_rng(seed))
        for got, want in zip(after, expected, strict=True):
            for name in want:
                torch.testing.assert_close(got[name], want[name], msg=f"step {step + 1}, {name}")


def test_default_adapts_with_the_inner_step_size():
    config = MAMLConfig()
    assert [config.adaptation_lr(k) for k in (1, 2, 5)] == [0.1, 0.1, 0.1]
    config = dataclasses.replace(config, adaptation_lrs=(0.5, 0.25))
    assert [config.adaptation_lr(k) for k in (1, 2, 5)] == [0.5, 0.25, 0.25]
    assert MAMLConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(("field", "value"), [("adaptation_lrs", (0.5, float("nan"))), ("adaptation_lrs", (-1.0,)),
                                              ("adaptation_episodes", 0)])
def test_bad_schedule_is_refused(field, value):
    with pytest.raises(ValueError, match=field):
        MAMLConfig(**{field: value})


def test_adaptation_reduction_sets_the_meta_test_surrogate_only():
    # CartPole episodes end at different steps, so step_mean and episode_mean steps differ
    env_id, kwargs = "MetaRL/CartPoleParams-v0", {"preset": "pmeta"}
    tasks = list(metarl_envs.task_set(env_id, "test", "pmeta"))[:2]

    def adapted(**overrides):
        agent = MAML(env_id, MAMLConfig(hidden_sizes=(8,), episodes_per_task=4, inner_lr=0.5, **overrides), kwargs)
        torch.manual_seed(0)
        for p in agent.policy.parameters():
            torch.nn.init.normal_(p, std=0.3)
        params, _ = agent.adapt_tasks(tasks, [agent.meta_params() for _ in tasks], rng=np.random.default_rng(4))
        return params

    mixed = adapted(reduction="episode_mean", adaptation_reduction="step_mean")
    step_mean, episode_mean = adapted(reduction="step_mean"), adapted(reduction="episode_mean")
    for got, same, other in zip(mixed, step_mean, episode_mean, strict=True):
        for name in got:
            torch.testing.assert_close(got[name], same[name])
        assert any(not torch.allclose(got[n], other[n]) for n in got)
    with pytest.raises(ValueError, match="adaptation_reduction"):
        MAMLConfig(adaptation_reduction="mean")
    config = MAMLConfig(adaptation_reduction="step_mean")
    assert MAMLConfig.from_dict(config.to_dict()) == config
