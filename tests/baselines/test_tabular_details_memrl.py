"""MEMRL's details the update-rule tests leave open: the β·λ < 2 check and its message, the env kwargs
it is built with, what one meta-iteration records (the pre-adaptation return, the env steps, Fig. 1's
per-task returns and ratios, by train-set index), `solve_inner`'s default start, the exact policy
matrix, and a privileged trial whose models do not match its tasks."""

import json
import re

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.common.oracles import optimal_return, policy_return
from baselines.memrl import MEMRL, MEMRLConfig
from tests.baselines.test_update_rules import GRID, GRID_KWARGS, double, randomise

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("inner_lr, moreau_lambda", [(0.5, 4.0), (1.0, 2.5)])
def test_config_refuses_an_inner_step_times_lambda_of_two_or_more_with_its_message(inner_lr, moreau_lambda):
    product = inner_lr * moreau_lambda
    message = (f"MEMRLConfig: inner_lr·moreau_lambda={product} must be < 2 "
               "(the inner recursion diverges otherwise; docs/sources/memrl.md §7.6)")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        MEMRLConfig(inner_lr=inner_lr, moreau_lambda=moreau_lambda)
    assert MEMRLConfig(inner_lr=1.99 / moreau_lambda, moreau_lambda=moreau_lambda).inner_lr == 1.99 / moreau_lambda


def test_the_agent_runs_on_the_env_kwargs_it_is_given():
    agent = MEMRL(GRID, MEMRLConfig(hidden_sizes=(4,)), {"preset": "memrl", "horizon": 7})
    assert agent.env_kwargs == {"preset": "memrl", "horizon": 7}
    assert agent.sampler.horizon == 7
    batch = agent.sampler.collect(agent.policy, agent.meta_params(), metarl_envs.task_set(GRID, "train")[:1], 2,
                                  np.random.default_rng(0))
    assert batch.rewards.shape == (1, 2, 7)


def _agent(**overrides) -> MEMRL:
    settings = {"moreau_lambda": 1.5, "meta_lr": 0.3, "inner_lr": 0.05, "inner_steps": 3, "tasks_per_iteration": 2,
                "episodes_per_step": 4, "discount": 0.9, "hidden_sizes": (6,), **overrides}
    return MEMRL(GRID, MEMRLConfig(**settings), GRID_KWARGS)


def _set_up(agent: MEMRL) -> tuple[list, list]:
    """meta_train's set-up on the three train tasks (no iteration), then every later `collect` recorded as
    (tasks, per-task parameters, batch)."""
    agent.meta_train(metarl_envs.task_set(GRID, "train", "memrl"), iterations=0, seed=0)
    randomise(agent, 6, std=0.5)
    return list(metarl_envs.task_set(GRID, "train", "memrl")), _record_collects(agent)


def _record_collects(agent: MEMRL) -> list:
    """Every later `collect` of the agent's sampler, recorded as (tasks, per-task parameters, batch)."""
    calls, original = [], agent.sampler.collect

    def collect(policy, params, tasks, episodes_per_task, rng):
        batch = original(policy, params, tasks, episodes_per_task, rng)
        calls.append((list(tasks), [double(p) for p in params], batch))
        return batch

    agent.sampler.collect = collect
    return calls


def policy_matrix(agent: MEMRL, params) -> np.ndarray:
    """π[s, a] of the network on every state's observation, float64 rows normalised here."""
    obs = torch.as_tensor(agent.sampler.envs.state_observations())
    with torch.no_grad():
        probs = agent.policy.probabilities({k: v.float() for k, v in params.items()}, obs).double().numpy()
    return probs / probs.sum(axis=1, keepdims=True)


def _check_exact_iteration(agent: MEMRL, calls: list, tasks: list, names: tuple) -> None:
    horizon, models = agent.sampler.horizon, [agent.sampler.envs.model(t) for t in tasks]
    w = double(agent.meta_params())
    result = agent.meta_train_step(tasks, np.random.default_rng(1))
    (logged_tasks, thetas, batch), = calls[-1:]
    assert logged_tasks == tasks and result.env_steps == batch.env_steps
    pre = np.mean([policy_return(m, policy_matrix(agent, w), 1.0, horizon) for m in models])
    assert result.pre_adaptation_return == pytest.approx(pre, rel=1e-6)
    assert result.post_adaptation_return == pytest.approx(float(batch.episode_returns().mean()), rel=1e-12)
    returns, expected = batch.episode_returns().mean(axis=1), {}
    for i, name in enumerate(names):
        exact = policy_return(models[i], policy_matrix(agent, thetas[i]), 1.0, horizon)
        expected[f"task_{name}_return"] = returns[i]
        expected[f"task_{name}_ratio"] = exact / optimal_return(models[i], 1.0, horizon)
    extra = dict(result.extra)
    assert extra.pop("meta_gradient_norm") > 0
    assert extra == pytest.approx(expected, rel=1e-6)
    assert all(isinstance(v, float) for v in extra.values())


def test_an_exact_mode_iteration_records_the_exact_return_of_w_and_each_tasks_return_and_ratio():
    """gradient='exact': pre = mean_i J_i(π_w) (undiscounted H-step, exact); the only episodes are the D logged
    ones from θ̃_i; extra holds, per task under its train-set index, the logged mean return and
    J_i(π_θ̃_i) / J_i*."""
    agent = _agent(gradient="exact", inner_steps=2)
    train, calls = _set_up(agent)
    _check_exact_iteration(agent, calls, [train[2], train[0]], (2, 0))


def test_a_task_outside_the_train_set_is_recorded_under_index_minus_one():
    """meta_train_step called without meta_train's set-up (no train set): the task's index is −1."""
    agent = _agent(gradient="exact", inner_steps=2, tasks_per_iteration=1)
    randomise(agent, 6, std=0.5)
    calls = _record_collects(agent)
    _check_exact_iteration(agent, calls, [metarl_envs.task_set(GRID, "train", "memrl")[1]], (-1,))


def test_a_sampled_iteration_records_the_first_inner_batch_return_and_every_batchs_env_steps():
    agent = _agent()
    train, calls = _set_up(agent)
    result = agent.meta_train_step(train[:2], np.random.default_rng(2))
    assert len(calls) == agent.config.inner_steps + 1
    assert result.pre_adaptation_return == pytest.approx(float(calls[0][2].episode_returns().mean()), rel=1e-12)
    assert calls[0][2].episode_returns().mean() != pytest.approx(calls[1][2].episode_returns().mean())
    assert result.env_steps == sum(batch.env_steps for _, _, batch in calls)


def test_solve_inner_starts_every_task_at_the_anchor_by_default():
    agent = _agent(gradient="exact")
    train, _ = _set_up(agent)
    w = agent.meta_params()
    by_default = agent.solve_inner(train[:2], w, np.random.default_rng(3))
    given = agent.solve_inner(train[:2], w, np.random.default_rng(3), [w, w])
    assert by_default[1:] == given[1:]
    for got, want in zip(by_default[0], given[0], strict=True):
        for name in w:
            assert torch.equal(got[name], want[name])


def test_the_policy_matrix_is_the_networks_probabilities_renormalised_in_float64():
    agent = _agent()
    randomise(agent, 11, std=1.0)
    theta = agent.meta_params()
    obs = torch.as_tensor(agent.sampler.envs.state_observations())
    with torch.no_grad():
        raw = agent.policy.probabilities(theta, obs).double().numpy()
    assert np.abs(raw.sum(axis=1) - 1).max() > 0                 # float32 rows do not sum to one exactly
    matrix = agent.policy_matrix(theta)
    np.testing.assert_allclose(matrix, raw / raw.sum(axis=1, keepdims=True), rtol=1e-14, atol=0)
    assert np.abs(matrix.sum(axis=1) - 1).max() < 1e-14


def test_a_privileged_trial_refuses_models_that_do_not_match_its_tasks():
    agent = _agent(gradient="exact")
    tasks = metarl_envs.task_set(GRID, "test", "memrl")[:2]
    agent.receive_models([agent.sampler.envs.model(t) for t in tasks])
    agent.start_trial(1)
    with pytest.raises(ValueError, match="zip"):
        agent.adapt_round(agent.trial_params(), None)
    agent.start_trial(2)
    assert len(agent.adapt_round(agent.trial_params(), None)) == 2


def test_the_saved_per_task_state_is_keyed_by_each_tasks_canonical_json():
    """The keys of the per-task state (train-set index, warm starts) are the task's JSON with sorted keys,
    whatever its class's field order (CartPole's fields are not in alphabetical order)."""
    cartpole = "MetaRL/CartPoleParams-v0"
    tasks = metarl_envs.task_set(cartpole, "train", "pmeta")
    agent = MEMRL(cartpole, MEMRLConfig(hidden_sizes=(4,)), {"preset": "pmeta"})
    agent.meta_train(tasks, iterations=0, seed=0)
    assert list(tasks[0].to_dict()) != sorted(tasks[0].to_dict())
    index = agent.get_parameters()["task_index"]
    assert index == {json.dumps(task.to_dict(), sort_keys=True): i for i, task in enumerate(tasks)}
