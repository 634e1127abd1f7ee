"""GridNavigation-v0 facts: MEMRL §4 dynamics and goals, pMeta-RL's shared frame, observation modes."""

from __future__ import annotations

import functools
import inspect

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs
from metarl_envs.toy_text import grid_navigation
from metarl_envs.toy_text.grid_navigation import PRESETS, GridNavigationEnv, GridTask

ENV_ID = "MetaRL/GridNavigation-v0"
MEMRL_GOALS = [(-4, 4), (4, 3), (0, -4)]


def test_memrl_goals_are_the_documented_three():
    family = GridNavigationEnv.task_family(PRESETS["memrl"])
    assert family == [GridTask(goal=g, size=11) for g in MEMRL_GOALS]
    assert list(metarl_envs.task_set(ENV_ID, "test", "memrl")) == family
    card = inspect.getdoc(grid_navigation.GridNavigationEnv)
    assert "goal (-4,4) (4,3) (0,-4)" in card and "docs/sources/memrl.md §7.1" in card
    env = gym.make(ENV_ID).unwrapped
    env.reset(seed=0)
    assert set(env.sample_tasks(60)) == set(family)


def test_memrl_actions_rewards_and_boundary():
    env = gym.make(ENV_ID, preset="memrl", task={"goal": [0, 0], "size": 11}).unwrapped
    coords = grid_navigation.frame_coordinates(env.preset)
    env.reset(seed=0)
    # eq. (67): (0,0), (0,1), (0,-1), (1,0), (-1,0); reward exp(-‖s' − g‖₁) of the cell after the move
    for action, delta in enumerate([(0, 0), (0, 1), (0, -1), (1, 0), (-1, 0)]):
        start = int(grid_navigation.cell_index(env.preset, (2, -3)))
        env._state, env._elapsed_steps = start, 0
        obs, reward, terminated, truncated, info = env.step(action)
        expected = np.array([2 + delta[0], -3 + delta[1]])
        np.testing.assert_array_equal(obs, expected)
        np.testing.assert_array_equal(coords[info["state"]], expected)
        assert reward == pytest.approx(np.exp(-np.abs(expected).sum())) and not terminated and not truncated
    corner = int(grid_navigation.cell_index(env.preset, (5, 5)))
    for action in (1, 3):  # +y and +x leave the grid: stay
        env._state = corner
        assert env.step(action)[4]["state"] == corner
    env._state = int(grid_navigation.cell_index(env.preset, (0, 0)))
    assert env.step(0)[1] == 1.0  # pausing on the goal pays 1 and does not end the episode


def test_memrl_horizon_and_uniform_start():
    env = gym.make(ENV_ID, preset="memrl")
    env.reset(seed=4)
    steps = 0
    while True:
        steps += 1
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            break
    assert steps == 20 and truncated and not terminated
    np.testing.assert_allclose(env.unwrapped.initial_distribution, np.full(121, 1 / 121))


def test_pmeta_tasks_share_one_frame():
    tasks = list(metarl_envs.task_set(ENV_ID, "test", "pmeta"))
    assert [(t.size, t.goal) for t in tasks] == [(n, (n - 1, n - 1)) for n in range(5, 10)]
    env = gym.make(ENV_ID, preset="pmeta", obs_mode="index").unwrapped
    assert env.observation_space == gym.spaces.Discrete(81) and env.action_space == gym.spaces.Discrete(4)
    for task in tasks:
        env.set_task(task)
        coords = grid_navigation.frame_coordinates(env.preset)
        inside = np.all(coords < task.size, axis=1)
        np.testing.assert_array_equal(env.state_mask, inside)
        assert env.initial_distribution[0] == 1.0  # the corner (0, 0) is index 0 in every task
        goal = int(grid_navigation.cell_index(env.preset, task.goal))
        assert np.flatnonzero(env.terminal_mask).tolist() == [goal]
        # the landmark one step right of (size-2, size-1) is entered with reward 0 and ends the episode
        env.reset(seed=0)
        env._state = int(grid_navigation.cell_index(env.preset, (task.size - 2, task.size - 1)))
        obs, reward, terminated, _, _ = env.step(2)
        assert (obs, reward, terminated) == (goal, 0.0, True)
        far = env.reward_matrix[0, 0, int(grid_navigation.cell_index(env.preset, (0, 1)))]
        assert far == pytest.approx(-(2 * (task.size - 1) - 1) / (2 * (task.size - 1)))


def test_pmeta_cannot_leave_a_small_grid():
    env = gym.make(ENV_ID, preset="pmeta", obs_mode="index", task={"goal": [4, 4], "size": 5}).unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    coords = grid_navigation.frame_coordinates(env.preset)
    for _ in range(500):
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(4)))
        assert np.all(coords[obs] <= 4)
        if terminated or truncated:
            env.reset()


@pytest.mark.parametrize("preset", ["memrl", "pmeta"])
def test_index_and_coordinate_observations_agree(preset):
    by_index = gym.make(ENV_ID, preset=preset, obs_mode="index")
    by_coords = gym.make(ENV_ID, preset=preset, obs_mode="coordinates")
    coords = grid_navigation.frame_coordinates(PRESETS[preset])
    index_obs, _ = by_index.reset(seed=9)
    coord_obs, info = by_coords.reset(seed=9)
    rng = np.random.default_rng(1)
    for _ in range(200):
        assert index_obs == info["state"]
        np.testing.assert_array_equal(coord_obs, coords[index_obs])
        action = int(rng.integers(by_index.action_space.n))
        index_obs, r1, te1, tr1, _ = by_index.step(action)
        coord_obs, r2, te2, tr2, info = by_coords.step(action)
        assert (r1, te1, tr1) == (r2, te2, tr2)
        if te1 or tr1:
            index_obs, _ = by_index.reset()
            coord_obs, info = by_coords.reset()


def test_index_mode_native_vector_equals_sync_vector():
    tasks = list(metarl_envs.task_set(ENV_ID, "test", "pmeta")) * 2
    sync = gym.vector.SyncVectorEnv(
        [functools.partial(gym.make, ENV_ID, preset="pmeta", obs_mode="index", task=t) for t in tasks])
    native = gym.make_vec(ENV_ID, num_envs=len(tasks), vectorization_mode="vector_entry_point", preset="pmeta",
                          obs_mode="index")
    native.unwrapped.set_tasks(tasks)
    obs_native, info_native = native.reset(seed=2)
    obs_sync, info_sync = sync.reset(seed=2)
    np.testing.assert_array_equal(obs_native, obs_sync)
    np.testing.assert_array_equal(info_native["state"], info_sync["state"])
    rng = np.random.default_rng(3)
    for _ in range(120):
        actions = rng.integers(0, 4, size=len(tasks))
        out_native, out_sync = native.step(actions), sync.step(actions)
        for a, b in zip(out_native[:4], out_sync[:4], strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(out_native[4]["state"], out_sync[4]["state"])
    np.testing.assert_array_equal(obs_native, obs_sync)  # returned observations are not later overwritten


@pytest.mark.parametrize(("task", "field"), [
    ({"goal": [6, 0], "size": 11}, "goal"),          # outside {-5..5}
    ({"goal": [0, 0], "size": 9}, "size"),           # memrl tasks are 11×11
    ({"goal": [1.0, 2], "size": 11}, "goal"),        # not integers
    ({"goal": [True, 2], "size": 11}, "goal"),
    ({"goal": [1, 2, 3], "size": 11}, "goal"),
])
def test_memrl_rejects_malformed_goals(task, field):
    env = gym.make(ENV_ID, preset="memrl").unwrapped
    with pytest.raises((TypeError, ValueError), match=f"GridTask.{field}"):
        env.set_task(task)


@pytest.mark.parametrize(("task", "field"), [
    ({"goal": [0, 0], "size": 5}, "goal"),           # the start corner
    ({"goal": [5, 5], "size": 5}, "goal"),           # outside the 5×5 grid
    ({"goal": [3, 3], "size": 10}, "size"),          # larger than the frame
])
def test_pmeta_rejects_tasks_outside_the_preset(task, field):
    env = gym.make(ENV_ID, preset="pmeta").unwrapped
    with pytest.raises(ValueError, match=f"GridTask.{field}"):
        env.set_task(task)


def test_held_out_memrl_goal_is_accepted_and_bad_kwargs_named():
    env = gym.make(ENV_ID, preset="memrl", task={"goal": [2, 2], "size": 11}).unwrapped
    assert env.reward_matrix[0, 0, int(grid_navigation.cell_index(env.preset, (2, 2)))] == 1.0
    with pytest.raises(ValueError, match="obs_mode"):
        gym.make(ENV_ID, obs_mode="pixels")


def test_rgb_render():
    env = gym.make(ENV_ID, preset="pmeta", render_mode="rgb_array", task={"goal": [4, 4], "size": 5})
    env.reset(seed=0)
    image = env.render()
    cell = 480 // 9
    assert image.shape == (9 * cell, 9 * cell, 3) and image.dtype == np.uint8
    # agent (blue) at (0, 0): bottom-left cell; goal (green) at (4, 4); cells outside the 5×5 grid grey
    assert tuple(image[8 * cell + cell // 2, cell // 2]) == (0, 90, 200)
    assert tuple(image[4 * cell + 8, 4 * cell + 8]) == (60, 180, 75)
    assert tuple(image[8, 8 * cell + 8]) == (90, 90, 90)
