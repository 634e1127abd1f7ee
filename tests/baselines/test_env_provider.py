"""The one provider of envs and exact task models (baselines/common/envs.py): it gives the tabular
envs' own models, builds the sampler's and the evaluator's envs, and no package module reaches into
another object's private methods to get them."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs
from baselines.common.envs import EnvProvider
from baselines.common.sampler import Sampler

GRID, LAKE = "MetaRL/GridNavigation-v0", "MetaRL/FrozenLakeHoles-v0"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("env_id", "kwargs"), [(GRID, {"preset": "memrl"}), (GRID, {"preset": "pmeta"}),
                                                (LAKE, {"preset": "bomrl-high", "is_slippery": True})])
def test_models_are_the_envs_own_models_whatever_was_asked_before(env_id, kwargs):
    envs = EnvProvider(env_id, kwargs)
    tasks = list(metarl_envs.task_set(env_id, "test", kwargs["preset"]))
    models = [envs.model(task) for task in tasks]
    for task, model in zip(reversed(tasks), reversed(models), strict=True):  # asked again, in another order
        assert envs.model(task.to_dict()) is model
        own = gym.make(env_id, task=task, **kwargs).unwrapped.model
        for name in ("transition_matrix", "reward_matrix", "initial_distribution", "terminal_mask", "state_mask"):
            np.testing.assert_array_equal(getattr(model, name), getattr(own, name), err_msg=name)
    assert envs.tabular and envs.horizon == gym.make(env_id, **kwargs).unwrapped.horizon
    assert envs.preset_name == kwargs["preset"]


def test_the_sampler_builds_its_envs_through_the_provider():
    sampler = Sampler(GRID, {"preset": "memrl"})
    assert isinstance(sampler.envs, EnvProvider) and sampler.envs.env_kwargs == {"preset": "memrl"}
    np.testing.assert_array_equal(sampler.envs.state_observations(),
                                  gym.make(GRID, preset="memrl").unwrapped.state_observations().astype(np.float32))


def test_a_model_of_a_non_tabular_env_is_refused_by_name():
    envs = EnvProvider("MetaRL/Navigation2D-v0", {"preset": "maml"})
    assert not envs.tabular
    with pytest.raises(TypeError, match="Navigation2D-v0 is not a tabular env"):
        envs.model({"goal": [0.1, 0.2]})
    with pytest.raises(ValueError, match="env_id=None"):
        EnvProvider(None)


def test_no_package_module_calls_a_private_method_through_another_object():
    """`a.b._method(...)` reaches into an object the caller does not own (the vector envs called
    their template's `_build_model`/`_observe`); the template's public surface is what they call now."""
    pattern = re.compile(r"\b(?!super\b)\w+(?:\.\w+)*\.\w+\._[a-z]\w*\(")
    # Gymnasium's MujocoRenderer hands out a render mode's viewer only through `_get_viewer` (third party)
    allowed = {"self._renderer._get_viewer("}
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for package in ("baselines", "benchmarks", "metarl_envs")
             for path in sorted((ROOT / package).rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1)
             if any(match.group() not in allowed for match in pattern.finditer(line))]
    assert not found, "\n".join(found)
