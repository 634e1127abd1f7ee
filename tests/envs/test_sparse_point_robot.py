"""SparsePointRobot facts: the sparse reward rule, PEARL's own 80/20 goal split, VariBAD's action scaling."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs
from metarl_envs.classic.sparse_point_robot import SemicircleGoalTask

ENV_ID = "MetaRL/SparsePointRobot-v0"
UP = SemicircleGoalTask(angle=math.pi / 2)  # goal (0, 1)


def walk_up(preset: str, steps: int, task: SemicircleGoalTask = UP) -> list[tuple[float, float, np.ndarray]]:
    env = gym.make(ENV_ID, preset=preset, task=task)
    env.reset(seed=0)
    action = [0.0, env.action_space.high[1]]
    out = []
    for _ in range(steps):
        obs, reward, terminated, _, info = env.step(action)
        assert not terminated
        out.append((reward, info["dense_reward"], obs))
    return out


@pytest.mark.parametrize("preset", ["pearl", "varibad"])
def test_sparse_reward_is_dense_plus_one_inside_the_radius_else_zero(preset):
    for reward, dense, obs in walk_up(preset, 12):
        distance = math.dist(obs.astype(np.float64), UP.goal)
        assert dense == pytest.approx(-distance, abs=1e-6)
        if distance <= 0.2 - 1e-6:
            assert reward == pytest.approx(dense + 1.0) and 0.8 <= reward <= 1.0
        elif distance > 0.2 + 1e-6:
            assert reward == 0.0
    rewards = [r for r, _, _ in walk_up(preset, 12)]
    assert rewards[:7] == [0.0] * 7 and all(r > 0.8 for r in rewards[8:11])


def test_boundary_of_the_goal_radius_is_rewarded():
    env = gym.make(ENV_ID, preset="pearl", task=SemicircleGoalTask(angle=0.0)).unwrapped  # goal (1, 0) exactly
    env.reset(seed=0)
    env._position = np.array([[1.0, 0.2]])  # exactly goal_radius away: sqrt(0.2**2) == 0.2
    _, reward, _, _, info = env.step([0.0, 0.0])
    assert info["dense_reward"] == -0.2 and reward == pytest.approx(0.8)
    env._position = np.array([[1.0, 0.2 + 1e-9]])
    _, reward, _, _, info = env.step([0.0, 0.0])
    assert reward == 0.0 and info["dense_reward"] < -0.2


def oyster_goals() -> np.ndarray:
    """oyster's SparsePointEnv goal list, rebuilt independently: rows (cos, sin) then the seeded shuffle."""
    angles = np.linspace(0, np.pi, num=100)
    goals = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    np.random.RandomState(1337).shuffle(goals)
    return goals


def test_pearl_split_is_oysters_first_80_and_last_20():
    train = metarl_envs.task_set(ENV_ID, "train", "pearl")
    test = metarl_envs.task_set(ENV_ID, "test", "pearl")
    assert (len(train), len(test)) == (80, 20)
    goals = oyster_goals()
    np.testing.assert_array_equal([t.goal for t in train], goals[:80])
    np.testing.assert_array_equal([t.goal for t in test], goals[-20:])
    assert sorted(t.angle for t in (*train, *test)) == np.linspace(0, np.pi, 100).tolist()


def test_pearl_sample_tasks_come_from_the_hundred_goals():
    env = gym.make(ENV_ID, preset="pearl").unwrapped
    env.reset(seed=3)
    grid = set(np.linspace(0, np.pi, 100).tolist())
    assert all(t.angle in grid for t in env.sample_tasks(50))


def test_varibad_angles_are_uniform_on_the_half_circle():
    env = gym.make(ENV_ID, preset="varibad").unwrapped
    env.reset(seed=3)
    angles = np.array([t.angle for t in env.sample_tasks(2000)])
    assert angles.min() >= 0 and angles.max() <= math.pi
    assert abs(angles.mean() - math.pi / 2) < 0.05 and len(set(angles.tolist())) == 2000


def test_action_scales_and_bounds_per_preset():
    (_, _, obs), = walk_up("varibad", 1)
    assert obs.tolist() == [0.0, np.float32(0.1)]  # Box(-1, 1) scaled by 0.1 inside step
    (_, _, obs), = walk_up("pearl", 1)
    assert obs.tolist() == [0.0, np.float32(0.1)]  # Box(-0.1, 0.1) applied as is
    env = gym.make(ENV_ID, preset="pearl").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="outside"):
        env.step([0.0, 0.5])  # legal for varibad, never clipped silently for pearl


def test_horizons_and_no_termination():
    for preset, horizon in (("pearl", 20), ("varibad", 100)):
        env = gym.make(ENV_ID, preset=preset, task=UP)
        env.reset(seed=0)
        flags = [env.step(np.zeros(2, dtype=np.float32))[2:4] for _ in range(horizon)]
        assert flags[-1] == (False, True) and not any(t or tr for t, tr in flags[:-1])


def test_vector_env_reports_the_dense_reward_in_info():
    venv = gym.make_vec(ENV_ID, num_envs=3, vectorization_mode="vector_entry_point", preset="varibad")
    venv.unwrapped.set_tasks([UP, SemicircleGoalTask(angle=0.0), SemicircleGoalTask(angle=math.pi)])
    venv.reset(seed=0)
    _, reward, _, _, info = venv.step(np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]], dtype=np.float32))
    np.testing.assert_allclose(info["dense_reward"], [-0.9, -0.9, -1.0])
    assert reward.tolist() == [0.0, 0.0, 0.0] and info["_dense_reward"].all()


def test_render_shows_goal_and_agent():
    env = gym.make(ENV_ID, render_mode="rgb_array", task=UP)
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (400, 400, 3) and image.dtype == np.uint8
    assert np.any(np.all(image == (60, 180, 75), axis=-1)) and np.any(np.all(image == (0, 90, 200), axis=-1))
