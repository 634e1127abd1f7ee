"""Presets against their source code bases, value by value (docs/sources/code-bases.md): each
expected value below is written out from the source's own rule, not read from the preset."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs

NAV = "MetaRL/Navigation2D-v0"


# ----- SG-MRL's walled point env (SGMRL@7286d21 maml_zoo/envs/point_envs/point_env_2d_v2.py) -----
def sgmrl_point_step(state: np.ndarray, action: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """The source's step: clip the action to ±0.1, move, clip the state to [−0.5, 0.5]²."""
    state = np.clip(state + np.clip(action, -0.1, 0.1), -0.5, 0.5)
    reward = -float(np.sqrt(np.sum((goal - state) ** 2)))
    done = abs(state[0] - goal[0]) < 0.01 and abs(state[1] - goal[1]) < 0.01
    return state, reward, done


def test_sgmrl_preset_declares_the_walls_as_its_observation_box():
    env = gym.make(NAV, preset="sgmrl")
    assert env.observation_space == gym.spaces.Box(-0.5, 0.5, (2,), np.float32)
    assert env.action_space == gym.spaces.Box(-0.1, 0.1, (2,), np.float32)
    assert gym.make(NAV, preset="maml").observation_space == gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)


@pytest.mark.parametrize("vector", [False, True])
def test_sgmrl_preset_clips_the_position_like_the_source(vector):
    goal = np.array([0.45, -0.3])
    rng = np.random.default_rng(0)
    # push hard into the +x wall and the −y wall, then wander
    actions = [np.array([0.099, -0.099])] * 12 + [rng.uniform(-0.1, 0.1, 2) for _ in range(40)]
    if vector:
        env = gym.make_vec(NAV, num_envs=2, vectorization_mode="vector_entry_point", preset="sgmrl")
        env.unwrapped.set_tasks([{"goal": goal}, {"goal": [0.0, 0.0]}])
        obs, _ = env.reset(seed=0)
        obs = obs[0]
    else:
        env = gym.make(NAV, preset="sgmrl", task={"goal": goal})
        obs, _ = env.reset(seed=0)
    state = np.zeros(2)
    touched = False
    for action in actions:
        action32 = action.astype(np.float32)
        state, want_reward, want_done = sgmrl_point_step(state, action32.astype(np.float64), goal)
        if vector:
            obs, reward, terminated, _, _ = env.step(np.stack([action32, action32]))
            obs, reward, terminated = obs[0], reward[0], terminated[0]
        else:
            obs, reward, terminated, _, _ = env.step(action32)
        touched |= bool(np.any(np.abs(state) == 0.5))
        assert env.observation_space.contains(obs) if not vector else env.single_observation_space.contains(obs)
        np.testing.assert_array_equal(obs, state.astype(np.float32))
        assert reward == pytest.approx(want_reward, abs=1e-12)
        assert terminated == want_done
        if terminated:
            break
    assert touched, "the action sequence should reach a wall"


def test_maml_preset_has_no_walls():
    env = gym.make(NAV, preset="maml", task={"goal": [0.0, 0.0]})
    env.reset(seed=0)
    for _ in range(8):
        obs, *_ = env.step(np.array([0.1, 0.1], dtype=np.float32))
    np.testing.assert_allclose(obs, [0.8, 0.8], rtol=1e-6)


def test_sgmrl_and_maml_goal_sets_are_the_same_draws():
    for split in ("train", "test"):
        maml = metarl_envs.task_set(NAV, split, "maml")
        sgmrl = metarl_envs.task_set(NAV, split, "sgmrl")
        assert list(maml) == list(sgmrl) and maml.fingerprint != sgmrl.fingerprint
