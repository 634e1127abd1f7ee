"""GridNavigation's `pmeta-spread` preset: pMeta-RL's gridworld with landmarks that disagree, so that
no one policy is optimal for every task (in `pmeta` one is: every landmark is the far corner)."""

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs
from baselines.common.oracles import optimal_values

ENV_ID = "MetaRL/GridNavigation-v0"


def optimal_start_actions(preset: str) -> list[set[int]]:
    """Per test task, the actions optimal at the start cell (undiscounted, over the preset horizon)."""
    env = gym.make(ENV_ID, preset=preset, obs_mode="index").unwrapped
    found = []
    for task in metarl_envs.task_set(ENV_ID, "test", preset):
        env.set_task(task)
        model = env.model
        values, _ = optimal_values(model, 1.0, env.horizon)
        q_start = model.expected_reward[0] + model.live_transition[0] @ optimal_values(model, 1.0, env.horizon - 1)[0]
        found.append(set(np.flatnonzero(np.isclose(q_start, q_start.max())).tolist()))
        assert q_start.max() == pytest.approx(values[0])
    return found


def test_spread_tasks_have_no_common_optimal_first_move():
    per_task = optimal_start_actions("pmeta-spread")
    assert set.intersection(*per_task) == set()
    assert per_task[0] == {2} and per_task[1] == {0}        # (4, 0): only +x; (0, 5): only +y


def test_corner_tasks_share_their_optimal_moves():
    assert set.intersection(*optimal_start_actions("pmeta")) == {0, 2}


def test_spread_is_pmeta_with_other_landmarks():
    spread, corner = (metarl_envs.task_set(ENV_ID, "test", p) for p in ("pmeta-spread", "pmeta"))
    assert [t.size for t in spread] == [t.size for t in corner] == [5, 6, 7, 8, 9]
    assert [t.goal for t in spread] == [(4, 0), (0, 5), (6, 6), (7, 2), (2, 8)]
    a, b = (gym.make(ENV_ID, preset=p).unwrapped.preset for p in ("pmeta-spread", "pmeta"))
    assert (a.horizon, a.actions, a.reward, a.start, a.frame_size) == (b.horizon, b.actions, b.reward, b.start,
                                                                       b.frame_size)
