"""FrozenLakeHoles-v0 facts: hole-map distribution, guaranteed paths, validation, slippery vector env."""

from __future__ import annotations

import functools
import itertools

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs
from metarl_envs.toy_text.frozen_lake_holes import PRESETS, FrozenLakeHolesEnv, generate_map

ENV_ID = "MetaRL/FrozenLakeHoles-v0"


def reachable_goal(holes: np.ndarray) -> np.ndarray:
    """Flood fill from the top-left over non-hole cells, for a batch of boolean hole maps (m, n, n):
    whether the bottom-right cell is reached (written independently of the env's path check)."""
    reach = np.zeros_like(holes)
    reach[:, 0, 0] = True
    for _ in range(holes.shape[1] ** 2):
        grown = reach.copy()
        grown[:, 1:, :] |= reach[:, :-1, :]
        grown[:, :-1, :] |= reach[:, 1:, :]
        grown[:, :, 1:] |= reach[:, :, :-1]
        grown[:, :, :-1] |= reach[:, :, 1:]
        reach = grown & ~holes
    return reach[:, -1, -1]


def exact_conditional_hole_fraction(p: float, n: int = 4) -> float:
    """E[#holes / (n² − 2) | a path exists], by enumerating every n×n map (S, G never holes)."""
    free = n * n - 2
    bits = np.array(list(itertools.product([False, True], repeat=free)))
    holes = np.zeros((len(bits), n * n), dtype=bool)
    holes[:, 1:-1] = bits
    valid = reachable_goal(holes.reshape(-1, n, n))
    k = bits.sum(axis=1)
    weight = p**k * (1 - p) ** (free - k) * valid
    return float((weight * k).sum() / weight.sum() / free)


def hole_array(tasks) -> np.ndarray:
    return np.array([[[c == "H" for c in row] for row in t.tiles] for t in tasks])


@pytest.mark.parametrize("preset", ["bomrl-high", "bomrl-low"])
def test_drawn_maps_have_paths_and_the_right_hole_rate(preset):
    env = gym.make(ENV_ID, preset=preset).unwrapped
    env.reset(seed=0)
    tasks = env.sample_tasks(3000)
    holes = hole_array(tasks)
    assert reachable_goal(holes).all()
    assert all(t.tiles[0][0] == "S" and t.tiles[-1][-1] == "G" for t in tasks)
    p = PRESETS[preset].hole_probability
    observed = holes.sum() / (len(tasks) * 14)
    assert observed == pytest.approx(exact_conditional_hole_fraction(p), abs=0.012)
    assert observed < p  # rejecting path-less maps removes holes: the conditioning is real


def test_unconditioned_generator_matches_p_where_paths_are_sure():
    # with p small on a large map almost every draw has a path, so the rate is p itself
    rng = np.random.default_rng(0)
    tiles = [generate_map(rng, 8, 0.05) for _ in range(400)]
    rate = sum(row.count("H") for t in tiles for row in t) / (400 * 62)
    assert rate == pytest.approx(0.05, abs=0.006)


@pytest.mark.parametrize("preset", ["bomrl-high", "bomrl-low"])
def test_family_is_twenty_distinct_valid_maps(preset):
    family = FrozenLakeHolesEnv.task_family(PRESETS[preset])
    assert len(family) == 20 == len(set(family))
    assert reachable_goal(hole_array(family)).all()
    assert list(metarl_envs.task_set(ENV_ID, "train", preset)) == list(family)
    assert FrozenLakeHolesEnv.task_family(PRESETS[preset]) == family  # seeded, reproducible


@pytest.mark.parametrize(("tiles", "match"), [
    (["SFFF", "FHFH", "FFFH", "HFHG"], "no path"),
    (["SFFF", "FHFH", "FFFH", "HFSG"], "exactly one"),
    (["SFFF", "FXFH", "FFFH", "HFFG"], "characters"),
    (["SFF", "FHF", "FFFG"], "square"),
    (["SFFF", "FHFH", "FFFH", 7], "string"),
    ("SFFFFHFHFFFHHFFG", "sequence"),
])
def test_malformed_maps_name_the_field(tiles, match):
    env = gym.make(ENV_ID).unwrapped
    with pytest.raises((TypeError, ValueError), match=f"FrozenLakeTask.tiles.*{match}"):
        env.set_task({"tiles": tiles})


@pytest.mark.parametrize("tiles", [["GFFF", "FHFH", "FFFH", "HFFS"], ["SFFFF", "FFFFF", "FFFFF", "FFFFF", "FFFFG"]])
def test_maps_outside_the_preset_are_refused(tiles):
    env = gym.make(ENV_ID).unwrapped
    with pytest.raises(ValueError, match=r"FrozenLakeTask\.tiles.*outside preset 'bomrl-high'"):
        env.set_task({"tiles": tiles})


def test_holes_and_goal_end_the_episode_with_their_rewards():
    env = gym.make(ENV_ID, task={"tiles": ["SFFF", "FHFH", "FFFH", "HFFG"]})
    env.reset(seed=0)
    assert env.step(2)[:3] == (1, 0.0, False)
    assert env.step(1)[:3] == (5, -1.0, True)
    env.reset()
    for action, expected in [(1, 4), (1, 8), (2, 9), (1, 13), (2, 14)]:
        assert env.step(action)[:3] == (expected, 0.0, False)
    assert env.step(2)[:3] == (15, 1.0, True)


def test_slippery_native_vector_equals_sync_vector():
    tasks = list(metarl_envs.task_set(ENV_ID, "test", "bomrl-low"))[:8]
    kwargs = {"preset": "bomrl-low", "is_slippery": True, "start_distribution": "uniform"}
    sync = gym.vector.SyncVectorEnv([functools.partial(gym.make, ENV_ID, task=t, **kwargs) for t in tasks])
    native = gym.make_vec(ENV_ID, num_envs=8, vectorization_mode="vector_entry_point", **kwargs)
    native.unwrapped.set_tasks(tasks)
    np.testing.assert_array_equal(native.reset(seed=5)[0], sync.reset(seed=5)[0])
    rng = np.random.default_rng(6)
    ended = 0
    for t in range(300):  # uniforms are drawn ahead in blocks of 64: cross several, and reseed mid-run
        if t == 150:
            np.testing.assert_array_equal(native.reset(seed=9)[0], sync.reset(seed=9)[0])
        actions = rng.integers(0, 4, size=8)
        out_native, out_sync = native.step(actions), sync.step(actions)
        for a, b in zip(out_native[:4], out_sync[:4], strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(out_native[4]["state"], out_sync[4]["state"])
        ended += int(np.sum(out_sync[2] | out_sync[3]))
    assert ended > 20


def test_rgb_render():
    env = gym.make(ENV_ID, render_mode="rgb_array", task={"tiles": ["SFFF", "FHFH", "FFFH", "HFFG"]})
    env.reset(seed=0)
    image = env.render()
    cell = 120  # 480 pixels over 4 cells
    assert image.shape == (4 * cell, 4 * cell, 3) and image.dtype == np.uint8
    assert tuple(image[cell // 2, cell // 2]) == (220, 40, 40)                  # agent on S
    assert tuple(image[cell + cell // 2, cell + cell // 2]) == (25, 40, 80)     # hole at (1, 1)
    assert tuple(image[4 * cell - 8, 4 * cell - 8]) == (60, 180, 75)           # goal
