"""Malformed tasks and actions raise errors naming the field; nothing is clipped or accepted."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import metarl_envs
from metarl_envs.core import Task

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
    assert check_int("Owner", "field", 3, 1, 3) == 3  # both bounds belong to the range


def test_sample_tasks_has_a_stated_cap() -> None:
    from metarl_envs.core import MAX_SAMPLE_TASKS

    env = make("MetaRL/Navigation2D-v0", "maml").unwrapped
    with pytest.raises(ValueError, match=rf"sample_tasks\.n=1000000000000: must lie in \[0, {MAX_SAMPLE_TASKS}\]"):
        env.sample_tasks(10**12)
    with pytest.raises(ValueError, match=r"sample_tasks\.n"):
        _vector().sample_tasks(10**12)


# ------------------------------------------------------------------ the shared validators and messages of core.py
NAV = "MetaRL/Navigation2D-v0"


def test_single_env_refusals_name_the_env_class() -> None:
    """Every refusal of the MetaEnv mixin starts with the env's class (and the method, for reset)."""
    env = make(NAV, "maml").unwrapped
    before_reset = r"^Navigation2DEnv: call reset\(\) before step\(\)$"
    with pytest.raises(RuntimeError, match=before_reset):
        env.step(np.zeros(2, dtype=np.float32))
    with pytest.raises(RuntimeError, match=before_reset):  # the clock a subclass's step counts refuses too
        env._advance_clock(False)
    with pytest.raises(TypeError, match=r"^Navigation2DEnv: task must be a GoalTask2D, got int$"):
        env.set_task(42)
    with pytest.raises(ValueError, match=r"^Navigation2DEnv\.reset: seed=-1 must be ≥ 0$"):
        env.reset(seed=-1)
    with pytest.raises(ValueError, match=r"^Navigation2DEnv\.reset: unknown option 'tsak'$"):
        env.reset(options={"tsak": env.get_task()})


def test_preset_and_horizon_arguments_are_checked_by_name() -> None:
    with pytest.raises(ValueError, match=r"^Navigation2DEnv: unknown preset 'nope'; choose from \['maml', 'sgmrl'\]$"):
        make(NAV, "nope")
    with pytest.raises(ValueError, match=r"^Navigation2DEnv\.horizon=0: must be ≥ 1$"):
        make(NAV, "maml", horizon=0)
    env = make(NAV, "maml", horizon=1).unwrapped  # the shortest horizon: one step, then truncated
    env.reset(seed=0)
    assert env.horizon == 1 and env.step(np.zeros(2, dtype=np.float32))[3] is True


def test_an_option_outside_its_choices_is_named_with_the_choices() -> None:
    from metarl_envs.core import check_choice

    reward_rule = r"^Navigation2DEnv\.reward='bogus': must be one of \['distance', 'squared'\]$"
    with pytest.raises(ValueError, match=reward_rule):
        make(NAV, "maml", reward="bogus")
    # a bool is never a choice, even one equal to a choice (True == 1.0: HalfCheetahDir's directions)
    with pytest.raises(ValueError, match=r"^DirectionTask\.direction=True: must be one of \[-1\.0, 1\.0\]$"):
        check_choice("DirectionTask", "direction", True, (-1.0, 1.0))
    assert check_choice("DirectionTask", "direction", 1.0, (-1.0, 1.0)) == 1.0


def test_a_goal_is_checked_coordinate_by_coordinate_against_the_closed_preset_box() -> None:
    """Navigation2D's goal box [-0.5, 0.5]² is closed: its corners are goals, a coordinate beyond either
    side is named with its index and the box. A 1-D numpy goal is a sequence of 2, a (2, 1) array is not."""
    env = make(NAV, "maml").unwrapped
    env.set_task({"goal": [-0.5, 0.5]})
    assert env.get_task().goal == (-0.5, 0.5)
    env.set_task({"goal": np.array([0.25, -0.125])})
    assert env.get_task().goal == (0.25, -0.125) and all(type(v) is float for v in env.get_task().goal)
    for goal, i in (([0.6, 0.0], 0), ([0.0, -0.6], 1)):
        value = re.escape(repr(goal[i]))
        with pytest.raises(ValueError, match=rf"^GoalTask2D\.goal\[{i}\]={value}: must lie in \[-0\.5, 0\.5\]$"):
            env.set_task({"goal": goal})
    with pytest.raises(ValueError, match=r"(?s)^GoalTask2D\.goal=array\(.*\): must have shape \(2,\)$"):
        env.set_task({"goal": np.array([[0.1], [0.2]])})
    with pytest.raises(TypeError, match=r"^GoalTask2D\.goal\[0\]='1': must be a real number, got str$"):
        env.set_task({"goal": ["1", 0.0]})
    assert env.get_task().goal == (0.25, -0.125)


def test_a_physical_constant_must_be_above_zero_and_the_bound_is_stated_open() -> None:
    env = make("MetaRL/CartPoleParams-v0", "carl").unwrapped
    valid = env.get_task().to_dict()
    with pytest.raises(ValueError, match=r"^CartPoleParamsTask\.pole_mass=0\.0: must lie in \(0\.0, "):
        env.set_task({**valid, "pole_mass": 0.0})


def test_task_box_bounds_must_cover_every_field() -> None:
    """`check_task_in_box` pairs the fields with their bounds strictly: a preset with bounds for fewer
    fields than it names is an error, not a check of the first fields only."""
    from metarl_envs.core import check_task_in_box

    task = make("MetaRL/CartPoleParams-v0", "carl").unwrapped.get_task()
    names = [field.name for field in dataclasses.fields(task)]
    low, high = [1e-9] * len(names), [1e9] * len(names)
    check_task_in_box(task, names, low, high, "carl")
    with pytest.raises(ValueError, match=r"^zip\(\) argument 3 is shorter than arguments 1-2$"):
        check_task_in_box(task, names, low, high[:-1], "carl")


def test_an_action_already_in_the_checked_dtype_is_returned_as_is() -> None:
    """The action checks return float64 (Box) and int64 (Discrete): an array of that dtype comes back as
    the same array (no copy per step), any other real or integer array as a converted copy."""
    from metarl_envs.core import check_box_action, check_discrete_action

    space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action = np.array([0.5, -0.25])
    assert check_box_action("Owner", action, space) is action
    converted = check_box_action("Owner", action.astype(np.float32), space)
    assert converted.dtype == np.float64 and converted.tolist() == [0.5, -0.25]
    actions = np.array([0, 2], dtype=np.int64)
    assert check_discrete_action("Owner", actions, 3, batch=2) is actions
    widened = check_discrete_action("Owner", actions.astype(np.uint8), 3, batch=2)
    assert widened.dtype == np.int64 and widened.tolist() == [0, 2]


@dataclasses.dataclass(frozen=True, slots=True)
class NestedTask(Task):
    """A task whose one field takes any JSON value (no validator): `from_dict`'s list parsing, bare."""

    value: Any


def _nested(value: Any, levels: int, kind: type = list) -> Any:
    for _ in range(levels):
        value = kind([value])
    return value


def test_task_lists_become_tuples_down_to_eight_levels_and_no_deeper() -> None:
    """JSON lists are read back as tuples at every level, up to 8 nested lists; a 9th is refused naming
    the task and the field (a bound on the recursion over untrusted task files)."""
    assert NestedTask.from_dict({"value": [0.5, [1, ["x"]]]}).value == (0.5, (1, ("x",)))
    deepest = NestedTask.from_dict({"value": _nested(0.5, 8)})
    assert deepest.value == _nested(0.5, 8, tuple) and deepest.to_dict() == {"value": _nested(0.5, 8)}
    with pytest.raises(ValueError, match=r"^NestedTask\.value: lists nested deeper than 8 levels$"):
        NestedTask.from_dict({"value": _nested(0.5, 9)})
    with pytest.raises(ValueError, match=r"^NestedTask\.value: lists nested deeper than 8 levels$"):
        NestedTask.from_dict({"value": [0.5, _nested(0.5, 8)]})
