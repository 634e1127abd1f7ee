"""Shared parametrisation: every registered id × every preset."""

from __future__ import annotations

import gymnasium as gym
import pytest

import metarl_envs
from metarl_envs.task_sets import env_class

ENV_PRESETS = [(env_id, preset) for env_id in metarl_envs.ENV_IDS for preset in env_class(env_id).presets]
IDS = [f"{env_id.split('/')[1]}[{preset}]" for env_id, preset in ENV_PRESETS]


@pytest.fixture(params=ENV_PRESETS, ids=IDS)
def env_preset(request) -> tuple[str, str]:
    env_id, preset = request.param
    if env_class(env_id).__module__.startswith("metarl_envs.mujoco"):
        pytest.importorskip("mujoco")
    return env_id, preset


def make(env_id: str, preset: str, **kwargs) -> gym.Env:
    return gym.make(env_id, preset=preset, **kwargs)
