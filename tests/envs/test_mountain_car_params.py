"""MountainCarParams physics facts: Gymnasium's MountainCar-v0 exactly at slope 3, the slope's effect, Table I."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs
from metarl_envs.classic.mountain_car_params import MountainCarParamsTask

ENV_ID = "MetaRL/MountainCarParams-v0"


def run(env: gym.Env, seed: int, actions: np.ndarray) -> list[tuple]:
    obs, _ = env.reset(seed=seed)
    out = [(obs.tobytes(),)]
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(int(action))
        out.append((obs.tobytes(), float(reward), terminated, truncated))
        if terminated or truncated:
            break
    return out


def energy_pumping_actions(seed: int) -> np.ndarray:
    """Push with the velocity's sign (found by a first pass): reaches the flag well within 200 steps."""
    env = gym.make("MountainCar-v0")
    obs, _ = env.reset(seed=seed)
    actions = []
    for _ in range(200):
        actions.append(2 if obs[1] >= 0 else 0)
        obs, _, terminated, _, _ = env.step(actions[-1])
        if terminated:
            break
    return np.array(actions)


@pytest.mark.parametrize("seed", [0, 7])
def test_slope_three_reproduces_gymnasium_mountain_car_v0_bit_for_bit(seed):
    task = MountainCarParamsTask(slope=3.0, force=0.001, gravity=0.0025)
    for actions in (np.random.default_rng(seed).integers(0, 3, size=250), energy_pumping_actions(seed)):
        ours = run(gym.make(ENV_ID, task=task), seed, actions)
        assert ours == run(gym.make("MountainCar-v0"), seed, actions)
    assert ours[-1][2], "the energy-pumping run should reach the flag (termination path compared)"


def test_pmeta_family_is_table_one_in_order():
    tasks = list(metarl_envs.task_set(ENV_ID, "test", "pmeta"))
    assert [t.slope for t in tasks] == [3.0, 3.5, 4.0, 4.5, 5.0]
    assert {(t.force, t.gravity) for t in tasks} == {(0.001, 0.0025)}


@pytest.mark.parametrize("slope", [3.5, 5.0])
def test_velocity_update_uses_the_task_slope(slope):
    env = gym.make(ENV_ID, task=MountainCarParamsTask(slope=slope)).unwrapped
    env.reset(seed=0)
    env._state = np.array([[-0.3, 0.01]])
    obs, *_ = env.step(2)
    velocity = 0.01 + (1 * 0.001 - math.cos(slope * -0.3) * 0.0025)
    assert obs[1] == np.float32(velocity) and obs[0] == np.float32(-0.3 + velocity)


def test_left_wall_stops_the_car_and_goal_needs_nonnegative_velocity():
    env = gym.make(ENV_ID, task=MountainCarParamsTask(slope=4.0)).unwrapped
    env.reset(seed=0)
    env._state = np.array([[-1.19, -0.05]])
    obs, _, terminated, _, _ = env.step(0)
    assert obs.tolist() == [np.float32(-1.2), 0.0] and not terminated
    env._state = np.array([[0.49, 0.02]])
    assert env.step(1)[2]


def test_task_change_takes_effect_at_once():
    actions = np.random.default_rng(1).integers(0, 3, size=60)
    steep = MountainCarParamsTask(slope=5.0)
    env = gym.make(ENV_ID, task=MountainCarParamsTask(slope=3.0))
    env.unwrapped.set_task(steep)
    assert run(env, 2, actions) == run(gym.make(ENV_ID, task=steep), 2, actions)
    assert run(env, 2, actions) != run(gym.make(ENV_ID, task=MountainCarParamsTask(slope=3.0)), 2, actions)


def test_render_draws_track_flag_and_car():
    env = gym.make(ENV_ID, render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (400, 600, 3) and image.dtype == np.uint8
    for colour in ((0, 0, 0), (200, 30, 30), (0, 90, 200)):
        assert np.any(np.all(image == colour, axis=-1)), colour
