"""Details of `build_policy` (baselines/common/policies.py): its defaults (tanh, init_std 1,
obs_scale 1, action_scale 1), every keyword reaching the policy it builds, and the spaces it refuses
(a non-1-D observation Box, a 2-D action Box), each with its message."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from gymnasium import spaces

from baselines.common.policies import CategoricalMLPPolicy, GaussianMLPPolicy, build_policy

OBS = spaces.Box(-1.0, 1.0, shape=(3,), dtype=np.float32)


def test_defaults_are_tanh_unit_std_and_unit_scales():
    """Without keywords: tanh between the layers, log-std 0 (std 1), obs_scale 1 and action_scale 1,
    for both families."""
    gaussian = build_policy(OBS, spaces.Box(-1.0, 1.0, shape=(2,)), hidden_sizes=(4,))
    categorical = build_policy(OBS, spaces.Discrete(5), hidden_sizes=(4,))
    assert isinstance(gaussian, GaussianMLPPolicy) and isinstance(categorical, CategoricalMLPPolicy)
    assert gaussian.activation == categorical.activation == "tanh"
    assert isinstance(gaussian.net[1], torch.nn.Tanh) and isinstance(categorical.net[1], torch.nn.Tanh)
    torch.testing.assert_close(gaussian.log_std.detach(), torch.zeros(2), rtol=0, atol=0)
    assert gaussian.obs_scale == categorical.obs_scale == 1.0
    assert gaussian.action_scale == 1.0 and gaussian.log_action_scale == 0.0


def test_keywords_reach_the_gaussian_policy():
    """activation, init_std, obs_scale and action_scale are the built Gaussian policy's."""
    policy = build_policy(OBS, spaces.Box(-1.0, 1.0, shape=(2,)), hidden_sizes=(4, 5), activation="relu",
                          init_std=0.3, obs_scale=0.25, action_scale=0.01)
    assert [layer.out_features for layer in policy.net if isinstance(layer, torch.nn.Linear)] == [4, 5, 2]
    assert policy.activation == "relu" and isinstance(policy.net[1], torch.nn.ReLU)
    torch.testing.assert_close(policy.log_std.detach(), torch.full((2,), math.log(0.3)), rtol=0, atol=1e-7)
    assert policy.obs_scale == 0.25
    assert policy.action_scale == 0.01 and policy.log_action_scale == pytest.approx(math.log(0.01))


def test_keywords_reach_the_categorical_policy():
    """activation and obs_scale are the built categorical policy's; its logits are those of the
    network on obs · obs_scale."""
    policy = build_policy(OBS, spaces.Discrete(4), hidden_sizes=(6,), activation="relu", obs_scale=0.5)
    assert policy.activation == "relu" and policy.obs_scale == 0.5
    obs = torch.tensor([[0.4, -1.0, 2.0]])
    torch.testing.assert_close(policy.head(policy.meta_params(), obs), policy.net(obs * 0.5))


@pytest.mark.parametrize("observation_space", [spaces.Box(-1.0, 1.0, shape=(2, 3)), spaces.Discrete(3)],
                         ids=["2-D Box", "Discrete"])
def test_an_observation_space_other_than_a_1d_box_is_refused_by_name(observation_space):
    """A 2-D observation Box (a Box, but not 1-D) and a Discrete one are refused, naming the space."""
    message = f"build_policy: observation space must be a 1-D Box, got {observation_space}"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        build_policy(observation_space, spaces.Discrete(2), hidden_sizes=(4,))


@pytest.mark.parametrize("action_space", [spaces.Box(-1.0, 1.0, shape=(2, 2)), spaces.MultiBinary(3)],
                         ids=["2-D Box", "MultiBinary"])
def test_an_action_space_other_than_discrete_or_a_1d_box_is_refused_by_name(action_space):
    """A 2-D action Box (a Box, but not 1-D) and a MultiBinary(3) (1-D shape, not a Box) are refused,
    naming the space."""
    message = f"build_policy: unsupported action space {action_space}"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        build_policy(OBS, action_space, hidden_sizes=(4,))
