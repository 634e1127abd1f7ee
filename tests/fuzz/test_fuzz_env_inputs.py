"""Fuzzing env inputs: actions, tasks, seeds and options of the single and the vector envs either
work (with finite observations in the observation space) or raise TypeError/ValueError (RuntimeError
for a step before reset); nothing else escapes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import metarl_envs
from tests.fuzz.conftest import OUTCOMES
from tests.fuzz.strategies import FUZZ, JSON_VALUES, SEEDS, actions, mutated_json

ENVS = [("MetaRL/Navigation2D-v0", "maml"), ("MetaRL/FrozenLakeHoles-v0", "bomrl-high"),
        ("MetaRL/CartPoleParams-v0", "carl"), ("MetaRL/GridNavigation-v0", "memrl")]
ALLOWED = (TypeError, ValueError)


def _make(env_id: str) -> tuple:
    """Fresh envs for each case, so every case starts from the same state."""
    preset = dict(ENVS)[env_id]
    vector = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", preset=preset)
    return gym.make(env_id, preset=preset).unwrapped, vector.unwrapped


def _attempt(call, label: str):
    try:
        result = call()
    except ALLOWED:
        OUTCOMES[f"env inputs: {label} refused"] += 1
        return None
    OUTCOMES[f"env inputs: {label} accepted"] += 1
    return result


def _valid_obs(env, obs) -> None:
    space = env.observation_space
    assert np.asarray(obs).shape == space.shape and space.contains(np.asarray(obs, dtype=space.dtype))


@FUZZ
@given(data=st.data())
def test_env_inputs_work_or_are_refused(data) -> None:
    env_id = data.draw(st.sampled_from([e for e, _ in ENVS]), label="env")
    env, venv = _make(env_id)
    task = metarl_envs.task_set(env_id, "train", dict(ENVS)[env_id])[0].to_dict()
    seed = data.draw(SEEDS, label="seed")
    bad_task = data.draw(mutated_json(task), label="task")
    options = data.draw(st.one_of(st.none(), st.just({"task": bad_task}),
                                  st.dictionaries(st.sampled_from(["task", "tasks", "reset_mask", "x"]), JSON_VALUES,
                                                  max_size=2)), label="options")
    action = data.draw(actions(env.action_space.shape or (1,)), label="action")
    masks = st.one_of(JSON_VALUES, st.lists(st.booleans(), max_size=4).map(np.array))
    vector_options = data.draw(st.one_of(st.none(), st.just({"tasks": [bad_task] * 3}),
                                         st.builds(lambda m: {"reset_mask": m}, masks)), label="vector options")
    vector_action = data.draw(actions((3, *venv.single_action_space.shape)), label="vector action")

    single_seed = seed if not isinstance(seed, list) else None
    out = _attempt(lambda: env.reset(seed=single_seed, options=options), "reset")
    if out is None:
        env.reset(seed=0)
    else:
        _valid_obs(env, out[0])
    step = _attempt(lambda: env.step(action), "step")
    if step is not None:
        _valid_obs(env, step[0])
        assert np.isfinite(step[1])
    out = _attempt(lambda: venv.reset(seed=seed, options=vector_options), "vector reset")
    if out is None:
        venv.reset(seed=0)
    step = _attempt(lambda: venv.step(vector_action), "vector step")
    if step is not None:
        assert np.all(np.isfinite(step[1])) and venv.observation_space.contains(
            np.asarray(step[0], dtype=venv.observation_space.dtype))
