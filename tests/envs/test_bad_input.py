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


# ------------------------------------------------------------------ actions, seeds, options, bypassed tasks

BOX_ENVS = [("MetaRL/Navigation2D-v0", "maml"), ("MetaRL/HalfCheetahVel-v0", "maml"),
            ("MetaRL/Walker2DParams-v0", "pearl")]


@pytest.mark.parametrize(("env_id", "preset"), BOX_ENVS)
@pytest.mark.parametrize("kind", ["str", "bool", "complex", "object"])
def test_box_actions_must_be_real_numbers(env_id: str, preset: str, kind: str) -> None:
    if "Navigation" not in env_id:
        pytest.importorskip("mujoco")
    env = make(env_id, preset).unwrapped
    env.reset(seed=0)
    zeros = np.zeros(env.action_space.shape)
    action = {"str": zeros.astype(str), "bool": zeros.astype(bool), "complex": zeros.astype(complex),
              "object": zeros.astype(object)}[kind]
    with pytest.raises(TypeError, match="real numbers"):
        env.step(action)
    if kind != "object":  # a list of the objects is a list of floats, a valid action
        with pytest.raises(TypeError, match="real numbers"):
            env.step(action.tolist())


def test_box_action_edges_are_inside_and_a_ragged_action_is_named() -> None:
    """The bounds belong to the space (low and high are valid actions, one ulp beyond is not); a ragged
    nesting is a TypeError naming the env and the action."""
    env = make("MetaRL/Navigation2D-v0", "maml").unwrapped
    space = env.action_space
    for edge in (space.low, space.high, np.array([space.low[0], space.high[1]])):
        env.reset(seed=0)
        env.step(edge)
        env.step(edge.tolist())
    for beyond in (np.nextafter(space.low, -np.inf), np.nextafter(space.high, np.inf)):
        with pytest.raises(ValueError, match=r"^Navigation2DEnv\.step: action .* is outside Box"):
            env.step(beyond)
    ragged = r"^Navigation2DEnv\.step: action \[\[0\.1\], \[0\.1, 0\.2\]\] is not a numeric array$"
    with pytest.raises(TypeError, match=ragged):
        env.step([[0.1], [0.1, 0.2]])

def _vector(n: int = 3):
    return gym.make_vec("MetaRL/Navigation2D-v0", num_envs=n, vectorization_mode="vector_entry_point").unwrapped


@pytest.mark.parametrize(("mask", "error", "match"), [
    ([True], TypeError, "must be a numpy array, got list"), ("yes", TypeError, "must be a numpy array, got str"),
    (np.array([True]), ValueError, r"must have shape \(3,\), got \(1,\)"),
    (np.array([1, 0, 1]), TypeError, "must have dtype bool, got int64"),
    (np.zeros(3, dtype=bool), ValueError, "must hold at least one True value"),
])
def test_reset_mask_is_checked_as_gymnasium_checks_it(mask, error, match) -> None:
    venv = _vector()
    venv.reset(seed=0)
    owner = rf"^{type(venv).__name__}\.reset: options\['reset_mask'\] "
    with pytest.raises(error, match=owner + match + "$"):
        venv.reset(options={"reset_mask": mask})


def test_bad_vector_seeds_are_named() -> None:
    venv = _vector()
    owner = rf"^{type(venv).__name__}\.reset"
    with pytest.raises(ValueError, match=owner + r": need 3 seeds, got 2$"):
        venv.reset(seed=[0, 1])
    with pytest.raises(TypeError, match=owner + r": seed='1' must be None or a Python int ≥ 0, got str$"):
        venv.reset(seed=[0, "1", 2])
    with pytest.raises(ValueError, match=owner + r": seed=-1 must be ≥ 0$"):
        venv.reset(seed=-1)


def test_vector_reset_takes_the_tasks_option() -> None:
    tasks = list(metarl_envs.task_set("MetaRL/Navigation2D-v0", "test", "maml"))[:3]
    venv, other = _vector(), _vector()
    venv.reset(seed=0, options={"tasks": tasks})
    assert venv.get_tasks() == tuple(tasks)
    other.set_tasks(tasks)
    other.reset(seed=0)
    action = np.full((3, 2), 0.05, dtype=np.float32)
    np.testing.assert_array_equal(venv.step(action)[1], other.step(action)[1])


def test_a_vector_env_has_one_sub_env_unless_told() -> None:
    venv = type(_vector())()
    assert venv.num_envs == 1 and venv.reset(seed=0)[0].shape == (1, 2)


def test_vector_env_arguments_are_checked_and_recorded() -> None:
    cls = type(_vector())
    for value, error, rule in ((0, ValueError, "must be ≥ 1$"), (1.5, TypeError, "must be an integer, got float")):
        with pytest.raises(error, match=rf"^{cls.__name__}\.num_envs={value!r}: {rule}"):
            cls(num_envs=value)
    with pytest.raises(ValueError, match=rf"^{cls.__name__}\.max_episode_steps=0: must be ≥ 1$"):
        cls(max_episode_steps=0)
    venv = cls(num_envs=2, max_episode_steps=3, preset="maml", horizon=7)
    assert venv.env_kwargs == {"preset": "maml", "horizon": 7} and venv.horizon == 3
    venv.reset(seed=0)
    for t in range(3):
        _, _, terminated, truncated, _ = venv.step(np.zeros((2, 2), dtype=np.float32))
        assert not terminated.any() and truncated.all() == (t == 2)
    assert cls(preset="maml", horizon=7).horizon == 7


def test_unknown_vector_reset_option_is_named() -> None:
    venv = _vector()
    with pytest.raises(ValueError, match=rf"^{type(venv).__name__}\.reset: unknown option 'bogus'$"):
        venv.reset(seed=0, options={"bogus": 1})


def test_the_first_reset_must_reset_every_sub_env() -> None:
    venv = _vector()
    with pytest.raises(ValueError, match="first reset must reset every sub-env"):
        venv.reset(seed=0, options={"reset_mask": np.array([True, False, True])})
    with pytest.raises(RuntimeError, match=rf"^{type(venv).__name__}: call reset\(\) before step\(\)$"):
        venv.step(np.zeros((3, 2)))
    venv.reset(seed=0)
    venv.reset(options={"reset_mask": np.array([True, False, True])})
    venv.step(np.zeros((3, 2)))


@pytest.mark.parametrize("seed", [True, 1.5, np.int64(3), "3", -1, [0, 1, 2.0]])
def test_seeds_are_python_ints_in_single_and_vector_envs(seed) -> None:
    env = make("MetaRL/Navigation2D-v0", "maml").unwrapped
    venv = _vector()
    for target in (env, venv):
        if isinstance(seed, list) and target is env:
            continue
        with pytest.raises((TypeError, ValueError), match="seed"):
            target.reset(seed=seed)
    env.reset(seed=3)
    venv.reset(seed=[3, None, 5])


def _bypassed(task, **fields):
    """`task` with `fields` set behind its validator's back."""
    import dataclasses

    forged = object.__new__(type(task))
    for field in dataclasses.fields(task):
        object.__setattr__(forged, field.name, fields.get(field.name, getattr(task, field.name)))
    return forged


def test_frozen_lake_maps_made_around_the_validator_are_refused() -> None:
    env = make("MetaRL/FrozenLakeHoles-v0", "bomrl-high").unwrapped
    task = env.get_task()
    for tiles, match in [(("SFFF", "FXFF", "FFFF", "FFFG"), "characters"),
                         (("SFFF", "HHHH", "FFFF", "FFFG"), "no path"), (("SFFF", "FF", "FFFF", "FFFG"), "square map")]:
        with pytest.raises(ValueError, match=f"tiles.*{match}"):
            env.set_task(_bypassed(task, tiles=tiles))
        assert env.get_task() == task


def test_walker_nan_multipliers_made_around_the_validator_are_refused() -> None:
    pytest.importorskip("mujoco")
    env = make("MetaRL/Walker2DParams-v0", "pearl").unwrapped
    task = env.get_task()
    masses = list(task.body_mass)
    masses[1] = math.nan
    with pytest.raises(ValueError, match="body_mass"):
        env.set_task(_bypassed(task, body_mass=tuple(masses)))


def test_a_string_velocity_made_around_the_validator_names_the_field() -> None:
    pytest.importorskip("mujoco")
    env = make("MetaRL/HalfCheetahVel-v0", "maml").unwrapped
    with pytest.raises(TypeError, match="velocity='1'"):
        env.set_task(_bypassed(env.get_task(), velocity="1"))


def test_an_integer_bound_states_only_the_sides_it_has() -> None:
    """A one-sided rule says which side ("≥ 1"), never "[1, None]"."""
    from metarl_envs.core import check_int
    for low, high, rule in ((1, None, "be ≥ 1"), (None, 3, "be ≤ 3"), (1, 3, r"lie in \[1, 3\]")):
        with pytest.raises(ValueError, match=rf"^Owner\.field=(0|4): must {rule}$"):
            check_int("Owner", "field", 0 if low is not None else 4, low, high)
    assert check_int("Owner", "field", np.int64(2), 1, None) == 2


def test_sample_tasks_has_a_stated_cap() -> None:
    from metarl_envs.core import MAX_SAMPLE_TASKS

    env = make("MetaRL/Navigation2D-v0", "maml").unwrapped
    with pytest.raises(ValueError, match=rf"sample_tasks\.n=1000000000000: must lie in \[0, {MAX_SAMPLE_TASKS}\]"):
        env.sample_tasks(10**12)
    with pytest.raises(ValueError, match=r"sample_tasks\.n"):
        _vector().sample_tasks(10**12)
