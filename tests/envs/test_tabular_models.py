"""The exact model of the tabular envs agrees with simulation, with Gymnasium, and with the
MEMRL reference's dynamic-programming values (docs/sources/memrl.md §3)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.toy_text.frozen_lake import FrozenLakeEnv

import metarl_envs

GRID, LAKE = "MetaRL/GridNavigation-v0", "MetaRL/FrozenLakeHoles-v0"
CONFIGS = [
    (GRID, "memrl", {}), (GRID, "pmeta", {}), (GRID, "pmeta", {"obs_mode": "index"}),
    (LAKE, "bomrl-high", {}), (LAKE, "bomrl-low", {}), (LAKE, "bomrl-high", {"is_slippery": True}),
    (LAKE, "bomrl-low", {"is_slippery": True, "start_distribution": "uniform"}),
]
CONFIG_IDS = [f"{env_id.split('/')[1]}[{preset}]{''.join(kwargs)}" for env_id, preset, kwargs in CONFIGS]


def make_env(env_id, preset, kwargs, task_number=1):
    task = metarl_envs.task_set(env_id, "test", preset)[task_number]
    return gym.make(env_id, preset=preset, task=task, **kwargs).unwrapped


def step_from(env, state, action):
    """Step the env from `state` (placed directly: the env has no public state setter)."""
    env._state, env._elapsed_steps = state, 0
    obs, reward, terminated, _, info = env.step(action)
    np.testing.assert_array_equal(env.state_observations()[info["state"]], obs)
    return info["state"], reward, terminated


@pytest.mark.parametrize(("env_id", "preset", "kwargs"), CONFIGS, ids=CONFIG_IDS)
def test_model_is_well_formed(env_id, preset, kwargs):
    env = make_env(env_id, preset, kwargs)
    env.reset(seed=0)
    P, R, mu, terminal = env.transition_matrix, env.reward_matrix, env.initial_distribution, env.terminal_mask
    n_states, n_actions = env.model.n_states, int(env.action_space.n)
    assert P.shape == R.shape == (n_states, n_actions, n_states) and P.dtype == R.dtype == np.float64
    assert mu.shape == terminal.shape == env.state_mask.shape == (n_states,) and terminal.dtype == bool
    np.testing.assert_allclose(P.sum(axis=2), 1.0, atol=1e-12)
    assert np.isclose(mu.sum(), 1.0) and np.all(mu[terminal] == 0) and np.all(mu[~env.state_mask] == 0)
    for s in np.flatnonzero(terminal):
        assert np.all(P[s, :, s] == 1.0) and np.all(R[s] == 0.0)
    # only states of the task are entered from states of the task
    assert np.all(P[env.state_mask][:, :, ~env.state_mask] == 0.0)
    for array in (P, R, mu, terminal, env.state_mask):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1


@pytest.mark.parametrize(("env_id", "preset", "kwargs"), CONFIGS, ids=CONFIG_IDS)
def test_stepping_from_every_state_action_matches_the_model(env_id, preset, kwargs):
    env = make_env(env_id, preset, kwargs)
    env.reset(seed=3)
    P, R = env.transition_matrix, env.reward_matrix
    stochastic = kwargs.get("is_slippery", False)
    draws = 400 if stochastic else 1
    for s in np.flatnonzero(env.state_mask):
        for a in range(env.action_space.n):
            counts = np.zeros(env.model.n_states)
            for _ in range(draws):
                s_next, reward, terminated = step_from(env, int(s), a)
                counts[s_next] += 1
                assert P[s, a, s_next] > 0, f"({s}, {a}) -> {s_next} has probability 0 in the model"
                assert reward == pytest.approx(R[s, a, s_next], abs=1e-12)
                assert terminated == bool(env.terminal_mask[s_next])
            if stochastic:
                np.testing.assert_allclose(counts / draws, P[s, a], atol=0.1, err_msg=f"frequencies at ({s}, {a})")


@pytest.mark.parametrize(("env_id", "preset", "kwargs"), CONFIGS, ids=CONFIG_IDS)
def test_reset_draws_from_the_initial_distribution(env_id, preset, kwargs):
    env = make_env(env_id, preset, kwargs)
    env.reset(seed=1)
    draws = 3000
    resets = [env.reset() for _ in range(draws)]
    counts = np.bincount([info["state"] for _, info in resets], minlength=env.model.n_states)
    observations = env.state_observations()
    assert len(observations) == env.model.n_states
    for obs, info in resets[:50]:  # the observation of a state is what the env shows in that state
        np.testing.assert_array_equal(observations[info["state"]], obs)
    mu = env.initial_distribution
    assert np.all(counts[mu == 0] == 0)
    np.testing.assert_allclose(counts / draws, mu, atol=0.03)


@pytest.mark.parametrize("is_slippery", [False, True])
def test_frozen_lake_model_equals_gymnasium(is_slippery):
    for task in metarl_envs.task_set(LAKE, "test", "bomrl-high")[:6]:
        env = gym.make(LAKE, task=task, is_slippery=is_slippery).unwrapped
        reference = FrozenLakeEnv(desc=list(task.tiles), is_slippery=is_slippery, reward_schedule=(1, -1, 0))
        P = np.zeros_like(env.transition_matrix)
        for s, by_action in reference.P.items():
            for a, outcomes in by_action.items():
                for probability, s_next, reward, terminated in outcomes:
                    P[s, a, s_next] += probability
                    if not env.terminal_mask[s]:
                        assert env.reward_matrix[s, a, s_next] == reward
                    assert env.terminal_mask[s_next] == terminated or env.terminal_mask[s]
        np.testing.assert_allclose(env.transition_matrix, P, atol=1e-12)
        np.testing.assert_array_equal(env.initial_distribution, reference.initial_state_distrib)


def test_frozen_lake_trajectories_equal_gymnasium_with_the_same_seed():
    task = metarl_envs.task_set(LAKE, "test", "bomrl-low")[3]
    ours = gym.make(LAKE, preset="bomrl-low", task=task, is_slippery=True).unwrapped
    reference = FrozenLakeEnv(desc=list(task.tiles), is_slippery=True, reward_schedule=(1, -1, 0))
    actions = np.random.default_rng(0).integers(0, 4, size=400)
    ours.reset(seed=42)
    reference.reset(seed=42)
    ended = 0
    for action in actions:
        mine, theirs = ours.step(int(action)), reference.step(int(action))
        assert mine[:3] == theirs[:3]
        if mine[2]:
            ended += 1
            assert ours.reset()[0] == reference.reset()[0]
    assert ended > 3


def finite_horizon_value(env, discount, horizon, policy=None):
    """μ·V_H by backward induction: optimal (policy None) or of a fixed stochastic policy π[s, a]."""
    P, R = env.transition_matrix, env.reward_matrix
    expected_reward = np.einsum("ijk,ijk->ij", P, R)
    value = np.zeros(env.model.n_states)
    for _ in range(horizon):
        q = expected_reward + discount * P @ value
        value = q.max(axis=1) if policy is None else (policy * q).sum(axis=1)
    return float(env.initial_distribution @ value)


@pytest.mark.parametrize(("goal", "optimal", "uniform_random"), [((0, 0), 14.360, 0.700), ((5, 5), 10.161, 0.377)])
def test_memrl_values_match_the_reference_dynamic_programming(goal, optimal, uniform_random):
    # docs/sources/memrl.md §3: exact DP, uniform start over 121 cells, clip at the boundary, γ = 0.99, H = 20
    env = gym.make(GRID, preset="memrl", task={"goal": list(goal), "size": 11}).unwrapped
    assert finite_horizon_value(env, 0.99, 20) == pytest.approx(optimal, abs=1e-3)
    random_policy = np.full((121, 5), 0.2)
    assert finite_horizon_value(env, 0.99, 20, random_policy) == pytest.approx(uniform_random, abs=1e-3)


def test_model_follows_the_active_task():
    env = gym.make(GRID, preset="pmeta").unwrapped
    small, large = metarl_envs.task_set(GRID, "test", "pmeta")[0], metarl_envs.task_set(GRID, "test", "pmeta")[4]
    env.set_task(small)
    p_small, mask_small = env.transition_matrix, env.state_mask
    env.reset(seed=0, options={"task": large})
    assert mask_small.sum() == small.size**2 and env.state_mask.sum() == large.size**2
    assert not np.array_equal(p_small, env.transition_matrix)
    env.set_task(small)
    assert env.transition_matrix is p_small  # cached per task, not rebuilt


@pytest.mark.parametrize(("env_id", "preset", "kwargs"), CONFIGS, ids=CONFIG_IDS)
def test_the_one_model_type_carries_what_the_solvers_read(env_id, preset, kwargs):
    """`TabularModel` is the one tabular model type (envs, oracles, agents, evaluator): its derived
    arrays are the solvers' r[s, a] and live P, read-only; `tensors` is the same model in torch; a
    model rebuilt from its dense matrices is the same model."""
    torch = pytest.importorskip("torch")
    model = make_env(env_id, preset, kwargs).model
    live = ~model.terminal_mask
    np.testing.assert_array_equal(model.expected_reward, np.einsum("ijk,ijk->ij", model.transition_matrix,
                                                                   model.reward_matrix) * live[:, None])
    np.testing.assert_array_equal(model.live_transition, model.transition_matrix * live[:, None, None])
    for array in (model.expected_reward, model.live_transition):
        assert not array.flags.writeable
    transition, reward, initial = model.tensors
    assert transition.dtype == torch.float64 and model.tensors is model.tensors
    np.testing.assert_array_equal(transition.numpy(), model.live_transition)
    np.testing.assert_array_equal(reward.numpy(), model.expected_reward)
    np.testing.assert_array_equal(initial.numpy(), model.initial_distribution)
    rebuilt = type(model).from_matrices(model.transition_matrix, model.reward_matrix, model.initial_distribution,
                                        model.terminal_mask, model.state_mask)
    for name in ("transition_matrix", "reward_matrix", "initial_distribution", "terminal_mask", "state_mask",
                 "expected_reward", "live_transition"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(model, name), err_msg=name)


def test_a_dense_model_with_a_bad_shape_is_refused_by_name():
    from metarl_envs.toy_text.tabular import TabularModel

    with pytest.raises(ValueError, match="reward_matrix"):
        TabularModel.from_matrices(np.ones((2, 1, 2)) / 2, np.zeros((2, 2, 2)), np.array([1.0, 0.0]), np.zeros(2, bool))
