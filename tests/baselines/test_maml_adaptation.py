"""MAML's meta-test adaptation schedule (cbfinn/maml_rl test_maml_point.py: step sizes 0.5 then 0.25;
the batch per step is the protocol's)."""

import dataclasses

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.common.sampler import Sampler
from baselines.maml import MAML, AdaptedParams, MAMLConfig
from benchmarks.evaluate import run_episodes
from tests.baselines.trial import adapted_params

NAV = "MetaRL/Navigation2D-v0"


def _agent(**overrides) -> MAML:
    agent = MAML(NAV, MAMLConfig(hidden_sizes=(8,), episodes_per_task=3, **overrides), {"preset": "maml"})
    torch.manual_seed(0)
    for p in agent.policy.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return agent


def test_schedule_steps_with_its_own_step_size():
    tasks = list(metarl_envs.task_set(NAV, "test"))[:2]
    scheduled = _agent(adaptation_lrs=(0.5, 0.25))
    one, steps = adapted_params(scheduled, tasks, 5, np.random.default_rng(1))
    assert all(isinstance(p, AdaptedParams) and p.adaptation_steps == 1 for p in one)
    assert steps.tolist() == [5 * 100, 5 * 100]  # 5 trajectories of the 100-step horizon, no goal reached
    three, _ = adapted_params(scheduled, tasks, 5, np.random.default_rng(1), rounds=3)
    assert [p.adaptation_steps for p in three] == [3, 3]
    sampler, params = Sampler(NAV, {"preset": "maml"}), [scheduled.meta_params() for _ in tasks]
    for step, lr in enumerate((0.5, 0.25, 0.25)):
        scheduled.start_trial(len(tasks))
        batch = run_episodes(scheduled, sampler, tasks, "adapt", 5, np.random.default_rng(step))
        after = scheduled.adapt_round(params, batch)
        plain = _agent(inner_lr=lr)  # the same step with a constant step size
        expected = plain.adapt_round([dict(p) for p in params], batch)
        for got, want in zip(after, expected, strict=True):
            for name in want:
                torch.testing.assert_close(got[name], want[name], msg=f"step {step + 1}, {name}")
        params = after


def test_default_adapts_with_the_inner_step_size():
    config = MAMLConfig()
    assert [config.adaptation_lr(k) for k in (1, 2, 5)] == [0.1, 0.1, 0.1]
    config = dataclasses.replace(config, adaptation_lrs=(0.5, 0.25))
    assert [config.adaptation_lr(k) for k in (1, 2, 5)] == [0.5, 0.25, 0.25]
    assert MAMLConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(("field", "value"), [("adaptation_lrs", (0.5, float("nan"))), ("adaptation_lrs", (-1.0,))])
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
        return adapted_params(agent, tasks, 4, np.random.default_rng(4))[0]

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


def test_adapted_params_is_a_frozen_mapping_with_named_fields():
    params = {"net.0.weight": torch.ones(2, 2), "net.0.bias": torch.zeros(2)}
    adapted = AdaptedParams(params, 2)
    assert not isinstance(adapted, dict)
    assert adapted.adaptation_steps == 2 and list(adapted) == list(params) and len(adapted) == 2
    assert adapted["net.0.bias"] is params["net.0.bias"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        adapted.adaptation_steps = 3
    params["extra"] = torch.ones(1)  # the caller's dict is not shared
    assert "extra" not in adapted
    with pytest.raises(ValueError, match="adaptation_steps"):
        AdaptedParams(params, 0)
