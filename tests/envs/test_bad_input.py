"""Malformed tasks and actions raise errors naming the field; nothing is clipped or accepted."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metarl_envs

from .conftest import make

BAD_FIELD_VALUES = st.one_of(
    st.none(), st.just(math.nan), st.just(math.inf), st.just(-math.inf), st.text(max_size=3),
    st.just([]), st.just({}), st.just(1e12), st.just(-1e12), st.booleans(),
    st.lists(st.floats(allow_nan=False), min_size=7, max_size=9),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_malformed_task_field_is_named(env_preset, data):
    env_id, preset = env_preset
    env = make(env_id, preset).unwrapped
    valid = metarl_envs.task_set(env_id, "test", preset)[0].to_dict()
    field = data.draw(st.sampled_from(sorted(valid)))
    bad_value = data.draw(BAD_FIELD_VALUES)
    with pytest.raises((TypeError, ValueError)) as error:
        env.set_task({**valid, field: bad_value})
    assert field in str(error.value)
    assert env.get_task() != {**valid, field: bad_value}


def test_wrong_task_type_and_unknown_key(env_preset):
    env_id, preset = env_preset
    env = make(env_id, preset).unwrapped
    valid = metarl_envs.task_set(env_id, "test", preset)[0].to_dict()
    with pytest.raises(TypeError, match="task must be"):
        env.set_task(42)
    with pytest.raises(TypeError, match="unknown key 'bogus'"):
        env.set_task({**valid, "bogus": 1})
    with pytest.raises(TypeError, match="missing key"):
        env.set_task({})


def bad_actions(space: gym.Space) -> list:
    if isinstance(space, gym.spaces.Discrete):
        return [int(space.n), -1, 0.5, np.array([0, 1]), "a"]
    return [space.high + 1.0, space.low - 1.0, np.full(space.shape, np.nan),
            np.zeros((*space.shape, 2)), "a"]


def test_actions_outside_space_raise(env_preset):
    env_id, preset = env_preset
    env = make(env_id, preset).unwrapped
    env.reset(seed=0)
    for action in bad_actions(env.action_space):
        with pytest.raises((TypeError, ValueError), match="action"):
            env.step(action)


def test_unknown_preset_is_named(env_preset):
    env_id, _ = env_preset
    with pytest.raises(ValueError, match="preset"):
        gym.make(env_id, preset="no-such-preset")
