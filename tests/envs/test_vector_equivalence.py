"""Native vector envs step exactly like SyncVectorEnv over the single env (R7)."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs

from .conftest import make

NUM_ENVS = 8


def batched_actions(space: gym.Space, rng: np.random.Generator, n: int) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, size=n)
    return rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(space.dtype)


@pytest.mark.parametrize("steps", [250])
def test_native_vector_equals_sync_vector(env_preset, steps):
    env_id, preset = env_preset
    tasks = list(metarl_envs.task_set(env_id, "test", preset))
    tasks = [tasks[i % len(tasks)] for i in range(NUM_ENVS)]
    sync = gym.vector.SyncVectorEnv(
        [functools.partial(make, env_id, preset, task=t) for t in tasks])
    native = gym.make_vec(env_id, num_envs=NUM_ENVS, vectorization_mode="vector_entry_point", preset=preset)
    native.unwrapped.set_tasks(tasks)
    obs_sync, _ = sync.reset(seed=7)
    obs_native, _ = native.reset(seed=7)
    np.testing.assert_array_equal(obs_native, obs_sync)
    rng = np.random.default_rng(0)
    ended = 0
    for t in range(steps):
        actions = batched_actions(native.single_action_space, rng, NUM_ENVS)
        out_sync = sync.step(actions)
        out_native = native.step(actions)
        for name, a, b in zip(("obs", "reward", "terminated", "truncated"), out_native[:4], out_sync[:4], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, err_msg=f"{name} differs at step {t}")
        ended += int(np.sum(out_sync[2] | out_sync[3]))
    assert ended > 0, "no episode ended: the autoreset path was not exercised"


def test_sample_tasks_seeded_in_vector_env(env_preset):
    env_id, preset = env_preset
    a = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", preset=preset)
    b = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", preset=preset)
    a.reset(seed=4)
    b.reset(seed=4)
    # the vector env's own stream is seeded with `seed` itself, as Gymnasium's vector envs seed theirs
    assert a.unwrapped.np_random_seed == 4
    assert a.unwrapped.np_random.bit_generator.state == gym.utils.seeding.np_random(4)[0].bit_generator.state
    assert a.unwrapped.sample_tasks(5) == b.unwrapped.sample_tasks(5)


def test_set_tasks_rejects_wrong_count(env_preset):
    env_id, preset = env_preset
    venv = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", preset=preset)
    task = metarl_envs.task_set(env_id, "test", preset)[0]
    with pytest.raises(ValueError, match=rf"^{type(venv.unwrapped).__name__}\.set_tasks: need a sequence of 3 tasks$"):
        venv.unwrapped.set_tasks([task, task])


def test_vector_env_batches_the_spaces_and_starts_with_the_tasks_given():
    """A native vector env of n sub-envs has SyncVectorEnv's batched spaces (the card's Box, n rows) and
    starts with the `tasks` it is given, one per sub-env."""
    env_id = "MetaRL/Navigation2D-v0"
    tasks = list(metarl_envs.task_set(env_id, "test", "maml"))[:3]
    sync = gym.vector.SyncVectorEnv([functools.partial(make, env_id, "maml", task=t) for t in tasks])
    native = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", preset="maml",
                          tasks=tasks).unwrapped
    assert native.observation_space == sync.observation_space == gym.spaces.Box(-np.inf, np.inf, (3, 2), np.float32)
    assert native.action_space == sync.action_space == gym.spaces.Box(-0.1, 0.1, (3, 2), np.float32)
    assert native.get_tasks() == tuple(tasks) != (make(env_id, "maml").unwrapped.get_task(),) * 3  # not the default


def test_vector_step_rejects_bad_actions(env_preset):
    env_id, preset = env_preset
    venv = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", preset=preset)
    venv.reset(seed=0)
    space = venv.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        bad = np.array([0, space.n])
    else:
        bad = np.stack([space.sample(), space.high + 1.0])
    with pytest.raises(ValueError, match=rf"(?s)^{type(venv.unwrapped).__name__}\.step: action .* is outside"):
        venv.step(bad)


def test_vector_info_carries_gymnasiums_masks():
    """The native vector env's info is SyncVectorEnv's: each key with a `_key` mask of the sub-envs
    that stepped (not the ones restarting after their episode ended)."""
    env_id = "MetaRL/Navigation2D-v0"
    tasks = list(metarl_envs.task_set(env_id, "test", "maml"))[:3]
    sync = gym.vector.SyncVectorEnv([functools.partial(make, env_id, "maml", task=t) for t in tasks])
    native = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", preset="maml")
    native.unwrapped.set_tasks(tasks)
    sync.reset(seed=3)
    native.reset(seed=3)
    rng, restarted = np.random.default_rng(1), 0
    for _ in range(120):
        actions = batched_actions(native.single_action_space, rng, 3)
        info_native, info_sync = native.step(actions)[4], sync.step(actions)[4]
        assert set(info_native) == {"distance", "_distance"}   # Sync leaves out a key no sub-env holds
        valid = info_sync.get("_distance", np.zeros(3, dtype=bool))
        np.testing.assert_array_equal(info_native["_distance"], valid)
        if valid.any():
            np.testing.assert_allclose(info_native["distance"][valid], info_sync["distance"][valid], rtol=1e-6)
        restarted += int((~valid).sum())
    assert restarted > 0, "no sub-env restarted: the mask was never exercised"
