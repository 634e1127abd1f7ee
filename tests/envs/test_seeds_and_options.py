"""Seeds that must differ do differ, and every non-default env option does what its card says.

The suite elsewhere checks that one seed repeats; these check the other half: two seeds give
different task draws (`sample_tasks` reads the seeded `np_random`) and, where the card gives a
random start or random dynamics, different trajectories, in the single and the native vector env
of every id. Each non-default option (Navigation2D `reward="squared"`, GridNavigation
`obs_mode="index"`, FrozenLake `is_slippery=True` and `start_distribution="uniform"`) is compared
with a value computed here from the card's rule.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import metarl_envs

MUJOCO = {"MetaRL/HalfCheetahVel-v0", "MetaRL/HalfCheetahDir-v0", "MetaRL/AntVel-v0", "MetaRL/AntDir-v0",
          "MetaRL/AntGoal-v0", "MetaRL/Walker2DParams-v0", "MetaRL/HopperParams-v0"}
RANDOM_START = MUJOCO | {"MetaRL/CartPoleParams-v0", "MetaRL/MountainCarParams-v0", "MetaRL/GridNavigation-v0"}
"""ids whose card draws the start state from np_random at the default preset (GridNavigation
`memrl`: uniform over the cells); the others start at a fixed state"""
FIXED_START = set(metarl_envs.ENV_IDS) - RANDOM_START
NAV, GRID, LAKE = "MetaRL/Navigation2D-v0", "MetaRL/GridNavigation-v0", "MetaRL/FrozenLakeHoles-v0"


def marks(env_id: str):
    return [pytest.mark.mujoco] if env_id in MUJOCO else []


ALL_IDS = [pytest.param(e, marks=marks(e), id=e.split("/")[1]) for e in metarl_envs.ENV_IDS]


def make_single(env_id: str, **kwargs):
    if env_id in MUJOCO:
        pytest.importorskip("mujoco")
    return gym.make(env_id, **kwargs)


def make_vector(env_id: str, num_envs: int, **kwargs):
    if env_id in MUJOCO:
        pytest.importorskip("mujoco")
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def fixed_actions(space: spaces.Space, steps: int, batch: int | None = None) -> list[np.ndarray]:
    rng = np.random.default_rng(123)
    shape = () if batch is None else (batch,)
    if isinstance(space, spaces.Discrete):
        return [rng.integers(0, int(space.n), size=shape) for _ in range(steps)]
    return [rng.uniform(space.low, space.high, size=(*shape, *space.shape)).astype(space.dtype) for _ in range(steps)]


def single_trajectory(env_id: str, seed: int, task, steps: int = 10, **kwargs) -> np.ndarray:
    env = make_single(env_id, **kwargs)
    obs, _ = env.reset(seed=seed, options={"task": task})
    observations = [np.asarray(obs, dtype=np.float64).ravel()]
    for action in fixed_actions(env.action_space, steps):
        obs, _, terminated, truncated, _ = env.step(action)
        observations.append(np.asarray(obs, dtype=np.float64).ravel())
        if terminated or truncated:
            break
    return np.concatenate(observations)


# --------------------------------------------------------------------------------------------
# Task draws
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ALL_IDS)
def test_two_seeds_draw_different_tasks_in_the_single_env(env_id):
    env = make_single(env_id).unwrapped
    draws = {}
    for seed in (1, 2, 1):
        env.reset(seed=seed)
        draws.setdefault(seed, []).append(env.sample_tasks(12))
    assert draws[1][0] == draws[1][1], "one seed repeats"
    assert draws[1][0] != draws[2][0], "two seeds draw the same tasks: sample_tasks ignores the env's np_random"
    env.reset(seed=1)
    first, second = env.sample_tasks(12), env.sample_tasks(12)
    assert first != second, "successive draws from one seeded stream must differ"


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_two_seeds_draw_different_tasks_in_the_vector_env(env_id):
    venv = make_vector(env_id, 2).unwrapped
    draws = {}
    for seed in (1, 2, 1):
        venv.reset(seed=seed)
        draws.setdefault(seed, []).append(venv.sample_tasks(12))
    assert draws[1][0] == draws[1][1]
    assert draws[1][0] != draws[2][0], "two seeds draw the same tasks: sample_tasks ignores the env's np_random"


# --------------------------------------------------------------------------------------------
# Trajectories
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ALL_IDS)
def test_two_seeds_give_different_trajectories_where_the_start_is_random(env_id):
    task = metarl_envs.task_set(env_id, "test")[0]
    one, again, other = (single_trajectory(env_id, seed, task) for seed in (3, 3, 4))
    np.testing.assert_array_equal(one, again)
    if env_id in RANDOM_START:
        assert one.shape != other.shape or not np.array_equal(one, other)
    else:  # the card's fixed start and deterministic dynamics: the seed changes nothing
        np.testing.assert_array_equal(one, other)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_vector_sub_envs_and_seeds_differ_where_the_start_is_random(env_id):
    task = metarl_envs.task_set(env_id, "test")[0]
    venv = make_vector(env_id, 3)
    venv.unwrapped.set_tasks([task] * 3)
    starts = {}
    for seed in (5, 6):
        obs, _ = venv.reset(seed=seed)
        starts[seed] = np.asarray(obs, dtype=np.float64).reshape(3, -1)
        # sub-env i is seeded with seed + i, like SyncVectorEnv: it starts where the single env does
        for i in range(3):
            single, _ = make_single(env_id, task=task).reset(seed=seed + i)
            np.testing.assert_array_equal(starts[seed][i], np.asarray(single, dtype=np.float64).ravel())
    if env_id in RANDOM_START:
        assert not np.array_equal(starts[5], starts[6])
        assert not np.array_equal(starts[5][0], starts[5][1])
    else:
        np.testing.assert_array_equal(starts[5], starts[6])


# --------------------------------------------------------------------------------------------
# Non-default options against the card's rule
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reward", ["distance", "squared"])
def test_navigation2d_reward_modes(reward):
    goal = np.array([0.3, -0.2])
    actions = fixed_actions(spaces.Box(-0.1, 0.1, (2,), np.float32), 8)
    env = gym.make(NAV, reward=reward, task={"goal": goal.tolist()})
    env.reset(seed=0)
    venv = make_vector(NAV, 2, reward=reward)
    venv.unwrapped.set_tasks([{"goal": goal.tolist()}, {"goal": [0.0, 0.0]}])
    venv.reset(seed=0)
    position = np.zeros(2)
    for action in actions:
        position = position + action.astype(np.float64)
        distance = np.linalg.norm(position - goal)
        expected = -distance**2 if reward == "squared" else -distance     # card: −‖p' − g‖₂(²)
        _, got, *_ = env.step(action)
        assert got == pytest.approx(expected, rel=1e-6)
        _, batch_reward, *_ = venv.step(np.stack([action, action]))
        assert batch_reward[0] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("preset", ["memrl", "pmeta"])
def test_grid_index_observation_is_the_cards_state_index(preset):
    """obs_mode="index": s = (x − low)·frame + (y − low) of the coordinates observation."""
    task = metarl_envs.task_set(GRID, "test", preset)[0]
    by_index, by_coords = (gym.make(GRID, preset=preset, obs_mode=mode, task=task) for mode in ("index", "coordinates"))
    low, frame = by_index.unwrapped.preset.coordinate_low, by_index.unwrapped.preset.frame_size
    index, _ = by_index.reset(seed=0)
    coords, _ = by_coords.reset(seed=0)
    for action in [*fixed_actions(by_index.action_space, 15), None]:
        x, y = (round(float(c)) for c in coords)
        assert int(index) == (x - low) * frame + (y - low)
        if action is None:
            break
        index, reward_i, term_i, trunc_i, _ = by_index.step(action)
        coords, reward_c, term_c, trunc_c, _ = by_coords.step(action)
        assert (reward_i, term_i, trunc_i) == (reward_c, term_c, trunc_c)
        if term_i or trunc_i:
            break


def _lake_task():
    return metarl_envs.task_set(LAKE, "test", "bomrl-high")[0]


def test_frozen_lake_uniform_start_is_uniform_over_non_terminal_cells():
    task = _lake_task()
    tiles = "".join(task.tiles)
    allowed = [s for s, tile in enumerate(tiles) if tile not in "HG"]
    env = gym.make(LAKE, task=task, start_distribution="uniform")
    venv = make_vector(LAKE, 50, start_distribution="uniform")
    venv.unwrapped.set_tasks([task] * 50)
    counts = np.zeros(len(tiles))
    for seed in range(40):
        counts[int(env.reset(seed=seed)[0])] += 1
        for s in venv.reset(seed=1000 + 50 * seed)[0]:
            counts[int(s)] += 1
    total = counts.sum()
    assert set(np.flatnonzero(counts)) == set(allowed)
    expected = total / len(allowed)
    assert np.all(np.abs(counts[allowed] - expected) < 5 * np.sqrt(expected)), counts
    fixed = gym.make(LAKE, task=task)
    assert {int(fixed.reset(seed=s)[0]) for s in range(20)} == {tiles.index("S")}


def test_frozen_lake_slippery_moves_one_third_each_way():
    """Gymnasium's slippery rule: the intended direction or either perpendicular one, 1/3 each.
    From the top-left cell, "down" (1) lands on the cell below, stays (left, a wall) or goes right."""
    task = _lake_task()
    size = len(task.tiles)
    outcomes = np.zeros(size * size)
    venv = make_vector(LAKE, 300, is_slippery=True)
    venv.unwrapped.set_tasks([task] * 300)
    for seed in range(4):
        venv.reset(seed=seed * 300)
        next_states, *_ = venv.step(np.ones(300, dtype=np.int64))
        for s in next_states:
            outcomes[int(s)] += 1
    env = gym.make(LAKE, task=task, is_slippery=True)
    for seed in range(300):
        env.reset(seed=seed)
        outcomes[int(env.step(1)[0])] += 1
    total = outcomes.sum()
    assert set(np.flatnonzero(outcomes)) == {0, 1, size}
    for state in (0, 1, size):
        assert abs(outcomes[state] / total - 1 / 3) < 5 * np.sqrt(2 / 9 / total), outcomes
    still = gym.make(LAKE, task=task)
    still.reset(seed=0)
    assert int(still.step(1)[0]) == size, "not slippery: down from the top-left cell is the cell below"


# --------------------------------------------------------------------------------------------
# The shared task API of metarl_envs.core, where no env overrides it
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("vector", [False, True], ids=["single", "vector"])
def test_sample_tasks_counts_are_checked_by_name(vector):
    env = (make_vector(NAV, 2) if vector else make_single(NAV)).unwrapped
    owner = type(env).__name__
    env.reset(seed=0)
    assert env.sample_tasks(0) == []
    with pytest.raises(ValueError, match=rf"^{owner}\.sample_tasks\.n=-1: must lie in \[0, \d+\]$"):
        env.sample_tasks(-1)
    with pytest.raises(TypeError, match=rf"^{owner}\.sample_tasks\.n='3': must be an integer, got str$"):
        env.sample_tasks("3")


def test_a_masked_reset_restarts_only_the_masked_sub_envs():
    venv = make_vector(NAV, 3)
    venv.reset(seed=0)
    moved, *_ = venv.step(np.full((3, 2), 0.05, dtype=np.float32))
    obs, _ = venv.reset(options={"reset_mask": np.array([False, True, False])})
    np.testing.assert_array_equal(obs[[0, 2]], moved[[0, 2]])
    np.testing.assert_array_equal(obs[1], [0.0, 0.0])



def test_a_masked_reset_draws_each_restarted_start_from_that_sub_envs_stream():
    """Through `MetaVectorEnv`'s own per-index reset (the MuJoCo envs use it and draw a noisy start):
    a masked reset equals Gymnasium's SyncVectorEnv of single envs under the same mask. Not marked
    `mujoco`: it checks metarl_envs/core.py, and MuJoCo is its only user whose start is random."""
    import functools

    env_id = "MetaRL/HalfCheetahVel-v0"
    native = make_vector(env_id, 3)
    tasks = list(metarl_envs.task_set(env_id, "test"))[:3]
    sync = gym.vector.SyncVectorEnv([functools.partial(gym.make, env_id, task=t) for t in tasks])
    native.unwrapped.set_tasks(tasks)
    np.testing.assert_array_equal(native.reset(seed=11)[0], sync.reset(seed=11)[0])
    mask = np.array([False, True, True])
    for _ in range(2):  # the second masked reset draws again from the same streams
        got, expected = native.reset(options={"reset_mask": mask})[0], sync.reset(options={"reset_mask": mask})[0]
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    assert not np.allclose(got[1], got[2]), "two streams, two starts"


def test_the_default_task_is_seed_0s_draw_of_one_task():
    """Before any `set_task` the env holds the task of `draw_tasks(preset, default_rng(0), 1)`:
    Navigation2D's goal is U[-0.5, 0.5]² from seed 0's first two uniforms."""
    expected = tuple(np.random.default_rng(0).uniform(-0.5, 0.5, size=2).tolist())
    assert make_single(NAV).unwrapped.get_task().goal == expected


def test_the_default_task_is_a_draw_of_one_not_the_first_of_several():
    """AntGoal draws every angle first, then every radius (r = R·sqrt(U), angle ~ U[0, 2π)), so its
    first task of two draws differs from a draw of one: the default is the draw of one. Not marked
    `mujoco`: it checks metarl_envs/core.py, and AntGoal is the env whose draws tell n = 1 apart."""
    env = make_single("MetaRL/AntGoal-v0").unwrapped
    rng = np.random.default_rng(0)
    angle = 2 * np.pi * rng.random()
    radius = env.preset.goal_radius * np.sqrt(rng.random())
    assert env.get_task().goal == pytest.approx((radius * np.cos(angle), radius * np.sin(angle)), rel=1e-12)


def test_preset_to_dict_is_its_fields_as_json():
    preset = gym.make(LAKE).unwrapped.preset
    data = preset.to_dict()
    assert data["horizon"] == 100 and data["map_size"] == 4 and data["finite_family"] is True
    assert set(data) == {f.name for f in dataclasses.fields(preset)}
    assert all(not isinstance(v, tuple) for v in data.values())


def test_a_continuous_family_has_no_task_list():
    env = gym.make(NAV).unwrapped
    with pytest.raises(NotImplementedError, match=r"^Navigation2DEnv: preset is not a finite family$"):
        type(env).task_family(env.preset)


def test_a_task_outside_the_preset_box_is_refused_naming_field_value_and_support():
    env = gym.make("MetaRL/CartPoleParams-v0", preset="carl").unwrapped
    task = dataclasses.replace(env.get_task(), pole_mass=2.5)
    with pytest.raises(ValueError, match=r"^CartPoleParamsTask\.pole_mass=2\.5: outside preset 'carl', "
                                         r"which draws from \[0\.01, 1\.0\]$"):
        env.set_task(task)


def test_a_task_from_a_non_mapping_is_refused_naming_the_type():
    task_type = gym.make(NAV).unwrapped.task_type
    with pytest.raises(TypeError, match=r"^GoalTask2D\.from_dict: expected a mapping, got list$"):
        task_type.from_dict([0.1, 0.2])
