"""Shared agent surface in detail: the provider's state observations are float32 (the frozen lake's
are int64 indices in the env) and refused by name for a non-tabular env, the stacked policy matrices
are float64 whatever a subclass's `policy_matrix` returns, `receive_models` refuses an unprivileged
agent by its class name, and RL²'s minibatch bound admits exactly the trials of an iteration."""

import re

import gymnasium as gym
import numpy as np
import pytest

from baselines.common.agent import ParameterAgent
from baselines.common.envs import EnvProvider
from baselines.maml import MAML, MAMLConfig
from baselines.rl2 import RL2Config

GRID, LAKE = "MetaRL/GridNavigation-v0", "MetaRL/FrozenLakeHoles-v0"


@pytest.mark.parametrize(("env_id", "kwargs"), [(GRID, {"preset": "memrl"}), (LAKE, {"preset": "bomrl-high"})])
def test_state_observations_are_float32(env_id, kwargs):
    observations = EnvProvider(env_id, kwargs).state_observations()
    assert observations.dtype == np.float32
    np.testing.assert_array_equal(observations, gym.make(env_id, **kwargs).unwrapped.state_observations())


def test_state_observations_of_a_non_tabular_env_are_refused_by_name():
    message = "EnvProvider.state_observations: MetaRL/Navigation2D-v0 is not a tabular env"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        EnvProvider("MetaRL/Navigation2D-v0", {"preset": "maml"}).state_observations()


class HalfPrecisionAgent(ParameterAgent):
    """A tabular parameter agent whose policy matrices come out as float32."""

    def meta_params(self) -> np.ndarray:
        return np.array([[0.25, 0.75], [0.5, 0.5]], dtype=np.float32)

    def policy_matrix(self, params: np.ndarray) -> np.ndarray:
        return params

    def episode_policy(self, params, phase, rng):
        raise NotImplementedError

    def adapt_round(self, params, rollouts):
        raise NotImplementedError


def test_policy_matrices_are_float64():
    agent = HalfPrecisionAgent()
    agent.start_trial(3)
    matrices = agent.policy_matrices()
    assert matrices.dtype == np.float64 and matrices.shape == (3, 2, 2)
    np.testing.assert_array_equal(matrices[1], [[0.25, 0.75], [0.5, 0.5]])


def test_receive_models_refuses_an_unprivileged_agent_by_name():
    agent = MAML("MetaRL/Navigation2D-v0", MAMLConfig(hidden_sizes=(4,)), {"preset": "maml"})
    with pytest.raises(TypeError, match=r"^MAML\.receive_models: only a privileged agent reads the models$"):
        agent.receive_models([])


def test_rl2_minibatches_may_be_every_trial_of_an_iteration_but_no_more():
    assert RL2Config(tasks_per_iteration=3, trials_per_task=2, minibatches=6).minibatches == 6
    with pytest.raises(ValueError, match=r"^RL2Config\.minibatches=7: more than the 6 trials of an iteration$"):
        RL2Config(tasks_per_iteration=3, trials_per_task=2, minibatches=7)
