"""MEMRL's exact-gradient mode: ∇J_i on the tabular model is what the sampled ĝ (eqs. (8)-(9)) estimates."""

import dataclasses

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.common import estimators, training
from baselines.common.envs import EnvProvider
from baselines.memrl import MEMRL, MEMRLConfig

GRID = "MetaRL/GridNavigation-v0"


def _sampled_gradients(agent: MEMRL, task, theta, copies: int, episodes: int) -> np.ndarray:
    """`copies` independent ĝ estimates (each from `episodes` trajectories), flattened: (copies, d)."""
    batch = agent.sampler.collect(agent.policy, theta, [task] * copies, episodes, np.random.default_rng(7))
    grads, _ = estimators.policy_gradients(agent.policy, theta, estimators.BatchTensors.of(batch),
                                   estimators.as_weights(estimators.weights(batch, agent.config.weight_spec)),
                                           "episode_sum",
                                   create_graph=False)
    return torch.cat([g.reshape(copies, -1) for g in grads.values()], 1).double().numpy()


def _z_scores(samples: np.ndarray, exact: np.ndarray, directions: np.ndarray) -> np.ndarray:
    projected = samples @ directions.T                       # (copies, n_directions)
    error = projected.std(axis=0, ddof=1) / np.sqrt(len(samples))
    return (projected.mean(axis=0) - exact @ directions.T) / error


def test_exact_gradient_is_the_expectation_of_the_sampled_one():
    agent = MEMRL(GRID, MEMRLConfig(hidden_sizes=(8,)), {"preset": "memrl"})
    training.seed_policy(agent.policy, 0)
    task = metarl_envs.task_set(GRID, "train")[0]
    theta = agent.meta_params()
    exact = torch.cat([g.reshape(-1) for g in agent.exact_gradient(task, theta).values()]).double().numpy()
    samples = _sampled_gradients(agent, task, theta, copies=40, episodes=100)
    rng = np.random.default_rng(0)
    directions = np.vstack([exact / np.linalg.norm(exact), rng.normal(size=(3, exact.size))])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    assert np.all(np.abs(_z_scores(samples, exact, directions)) < 4.0)
    # the same check has the power to see a wrong objective: the gradient of another discount fails it
    other = MEMRL(GRID, dataclasses.replace(agent.config, discount=0.5), {"preset": "memrl"})
    wrong = torch.cat([g.reshape(-1) for g in other.exact_gradient(task, theta).values()]).double().numpy()
    assert np.abs(_z_scores(samples, wrong, directions[:1]))[0] > 4.0


def test_exact_mode_trains_without_inner_trajectories_and_logs_finite_returns():
    config = MEMRLConfig(hidden_sizes=(8,), gradient="exact", inner_steps=3)
    agent = MEMRL(GRID, config, {"preset": "memrl"})
    log = agent.meta_train(metarl_envs.task_set(GRID, "train"), iterations=2, seed=0)
    horizon, logged = agent.sampler.horizon, config.tasks_per_iteration * config.episodes_per_step
    for record in log.records:  # only the D logging trajectories per task were drawn
        assert np.isfinite(record.pre_adaptation_return) and np.isfinite(record.post_adaptation_return)
    assert log.records[-1].env_steps == 2 * logged * horizon


def test_exact_mode_needs_a_tabular_env_and_a_known_name():
    with pytest.raises(ValueError, match="gradient"):
        MEMRLConfig(gradient="analytic")
    with pytest.raises(ValueError, match="gradient='exact'"):
        MEMRL("MetaRL/Navigation2D-v0", MEMRLConfig(gradient="exact"), {"preset": "maml"})


def test_differentiable_h_step_return_equals_the_oracle_evaluation():
    from baselines.common import tabular
    from baselines.common.oracles import policy_return

    rng = np.random.default_rng(3)
    for task in metarl_envs.task_set(GRID, "train"):
        model = EnvProvider(GRID, {"preset": "memrl"}).model(task)
        policy = rng.dirichlet(np.ones(model.transition_matrix.shape[1]), size=model.transition_matrix.shape[0])
        for discount in (1.0, 0.99):
            torch_value = tabular.finite_horizon_return(model, torch.as_tensor(policy),
                                                        discount, 20)
            assert float(torch_value) == pytest.approx(policy_return(model, policy, discount, 20), rel=1e-12)
