"""CartPoleParams physics facts: Gymnasium's trajectories exactly, pMeta-RL Table I, no stale derived values."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

import metarl_envs
from metarl_envs.classic.cartpole_params import PRESETS, CartPoleParamsTask, CartPoleParamsVectorEnv

ENV_ID = "MetaRL/CartPoleParams-v0"
NOMINAL = CartPoleParamsTask(force_mag=10.0, pole_mass=0.1, half_pole_length=0.5, cart_mass=1.0, gravity=9.8)


def run(env: gym.Env, seed: int, actions: np.ndarray) -> list[tuple]:
    obs, _ = env.reset(seed=seed)
    out = [(obs.tobytes(),)]
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(int(action))
        out.append((obs.tobytes(), float(reward), terminated))
        if terminated or truncated:
            break
    return out


def gymnasium_cartpole(task: CartPoleParamsTask) -> CartPoleEnv:
    """Gymnasium's own CartPoleEnv with the task's parameters written in (derived ones recomputed)."""
    env = CartPoleEnv()
    env.force_mag, env.masspole, env.length = task.force_mag, task.pole_mass, task.half_pole_length
    env.masscart, env.gravity = task.cart_mass, task.gravity
    env.total_mass = env.masspole + env.masscart
    env.polemass_length = env.masspole * env.length
    return env


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_nominal_task_reproduces_gymnasium_cartpole_v1_bit_for_bit(seed):
    actions = np.random.default_rng(seed).integers(0, 2, size=300)
    ours = run(gym.make(ENV_ID, preset="carl", task=NOMINAL), seed, actions)
    theirs = run(gym.make("CartPole-v1"), seed, actions)
    assert len(ours) > 5 and ours[-1][2], "episode should end by termination"
    assert ours == theirs


@pytest.mark.parametrize("index", range(5))
def test_each_pmeta_variant_matches_gymnasium_with_those_parameters(index):
    task = metarl_envs.task_set(ENV_ID, "train", "pmeta")[index]
    actions = np.random.default_rng(index).integers(0, 2, size=200)
    ours = run(gym.make(ENV_ID, preset="pmeta", task=task).unwrapped, 3, actions)
    assert ours == run(gymnasium_cartpole(task), 3, actions)


def test_pmeta_family_is_table_one_in_order():
    family = [(t.force_mag, t.pole_mass, t.half_pole_length) for t in metarl_envs.task_set(ENV_ID, "test", "pmeta")]
    assert family == [(20.0, 0.1, 0.5), (1.0, 0.1, 0.5), (10.0, 1.0, 0.5), (10.0, 0.01, 0.5), (10.0, 0.1, 0.05)]
    assert {(t.cart_mass, t.gravity) for t in metarl_envs.task_set(ENV_ID, "test", "pmeta")} == {(1.0, 9.8)}
    assert PRESETS["pmeta"].horizon == 200


def test_derived_quantities_follow_every_task_change():
    heavy = CartPoleParamsTask(force_mag=10.0, pole_mass=1.0, half_pole_length=0.5)
    assert (heavy.total_mass, heavy.pole_mass_length) == (2.0, 0.5)
    actions = np.tile([0, 1, 1], 40)
    fresh = run(gym.make(ENV_ID, task=heavy), 5, actions)
    switched_env = gym.make(ENV_ID, task=NOMINAL)
    run(switched_env, 5, actions)  # the nominal task is live before the switch
    switched_env.unwrapped.set_task(heavy)
    assert run(switched_env, 5, actions) == fresh
    assert run(gym.make(ENV_ID, task=NOMINAL), 5, actions) != fresh


def test_pole_mass_changes_the_first_step_as_the_equations_say():
    env = gym.make(ENV_ID, preset="carl", task=NOMINAL).unwrapped
    env.reset(seed=0)
    env._state = np.array([[0.0], [0.0], [0.1], [0.0]])
    nominal_theta_dot = env.step(1)[0][3]
    env.set_task(CartPoleParamsTask(force_mag=10.0, pole_mass=1.0, half_pole_length=0.5))
    env._state = np.array([[0.0], [0.0], [0.1], [0.0]])
    heavy_theta_dot = env.step(1)[0][3]
    for task, got in ((NOMINAL, nominal_theta_dot), (env.get_task(), heavy_theta_dot)):
        temp = task.force_mag / task.total_mass
        theta_acc = (task.gravity * np.sin(0.1) - np.cos(0.1) * temp) / (
            task.half_pole_length * (4 / 3 - task.pole_mass * np.cos(0.1) ** 2 / task.total_mass))
        assert got == pytest.approx(0.02 * theta_acc, rel=1e-6)


def test_carl_tasks_lie_in_the_documented_bounds():
    preset = PRESETS["carl"]
    tasks = list(metarl_envs.task_set(ENV_ID, "train", "carl"))
    values = np.array([[getattr(t, f) for f in ("force_mag", "pole_mass", "half_pole_length", "cart_mass",
                                                "gravity")] for t in tasks])
    assert np.all(values >= preset.low) and np.all(values <= preset.high)
    logs = (np.log(values) - np.log(preset.low)) / (np.log(preset.high) - np.log(preset.low))
    assert np.all(np.abs(logs.mean(axis=0) - 0.5) < 0.1), "log-uniform draws centre on the log-midpoint"


def test_render_draws_cart_and_pole():
    env = gym.make(ENV_ID, render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (400, 600, 3) and image.dtype == np.uint8
    assert np.any(np.all(image == (202, 152, 101), axis=-1)) and np.any(np.all(image == 0, axis=-1))


def test_vector_env_start_blocks_follow_reseeding_like_sync_vector_env(monkeypatch):
    """The native env pre-draws start states per generator; reseeding, partial reseeding, unseeded
    resets and block refills (3 starts per block here) must still give SyncVectorEnv's starts."""
    monkeypatch.setattr(CartPoleParamsVectorEnv, "RESETS_PER_DRAW", 3)
    tasks = [metarl_envs.task_set(ENV_ID, "test", "pmeta")[i % 5] for i in range(6)]
    native = gym.make_vec(ENV_ID, num_envs=6, vectorization_mode="vector_entry_point")
    native.unwrapped.set_tasks(tasks)
    sync = gym.vector.SyncVectorEnv([lambda t=t: gym.make(ENV_ID, task=t) for t in tasks])
    rng = np.random.default_rng(0)
    for seed in (1, None, [5, None, 6, None, None, 7], 2, None):
        np.testing.assert_array_equal(native.reset(seed=seed)[0], sync.reset(seed=seed)[0])
        for _ in range(150):
            actions = rng.integers(0, 2, size=6)
            for a, b in zip(native.step(actions)[:4], sync.step(actions)[:4], strict=True):
                np.testing.assert_array_equal(a, b)
