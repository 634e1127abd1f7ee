"""The shared machinery's guards and edge cases, in detail: the harness's train envs refuse a task
outside the train set, and the agents' trial and training entry points refuse what they cannot use,
each with its full message; a replay buffer refuses transitions whose fields differ in length and a
new transition leaves the other slots' priorities alone; `Transitions.of_batch` skips an episode
that took no step; `EnvProvider.analytic_optimum` scores undiscounted returns by default; the env
provider refuses an env id that is not a non-empty string; a new sampler has spent no env time; a batch
whose observations or actions do not start with the rewards' shape is refused."""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import metarl_envs
from baselines.common.agent import _plain
from baselines.common.envs import EnvProvider
from baselines.common.oracles import analytic_optimal_return
from baselines.common.personalization import SeededReplayBuffer, Transitions
from baselines.common.policies import build_policy
from baselines.common.sampler import Sampler, TrainingEnvs, TrajectoryBatch
from baselines.maml import MAML, MAMLConfig
from baselines.pmetarl_dqn import PrioritizedReplayBuffer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAV, NAV_KWARGS = "MetaRL/Navigation2D-v0", {"preset": "maml"}
OBS, ACTIONS = spaces.Box(-10, 10, (2,), np.float32), spaces.Discrete(3)


def _transitions(n: int, rewards: int | None = None) -> Transitions:
    """n transitions numbered 0..n-1 (the number is the reward), with `rewards` rewards if given."""
    numbers = np.arange(n, dtype=np.float32)
    obs = np.stack([numbers, -numbers], axis=1)
    return Transitions(obs, (numbers % 3).astype(np.int64), np.arange(n if rewards is None else rewards, dtype=float),
                       obs + 0.5, numbers % 2 == 0)


def test_train_envs_refuse_a_task_outside_the_train_set_naming_it() -> None:
    train = metarl_envs.task_set(NAV, "train", "maml")
    test = metarl_envs.task_set(NAV, "test", "maml")
    envs = TrainingEnvs(NAV, NAV_KWARGS, train[:2])
    message = (rf"^TrainingEnvs\.rollout: {repr(test[0]).replace('(', '[(]').replace(')', '[)]')} is not a train "
               r"task \(meta-training reaches the train task set only\)$")
    with pytest.raises(ValueError, match=message):
        envs.rollout([train[0], test[0]], 1, lambda obs: np.zeros((*obs.shape[:2], 2)), np.random.default_rng(0))
    assert envs.env_steps == 0  # refused before any step


@pytest.mark.parametrize("num_tasks", [0, -1, "2", 2.0])
def test_start_trial_refuses_a_task_count_that_is_not_a_positive_int(num_tasks: object) -> None:
    agent = MAML(NAV, MAMLConfig(hidden_sizes=(4,)), NAV_KWARGS)
    with pytest.raises(ValueError, match=rf"^start_trial: num_tasks={num_tasks!r} must be an int ≥ 1$"):
        agent.start_trial(num_tasks)  # type: ignore[arg-type]


def test_trial_params_before_start_trial_is_refused_naming_the_agent() -> None:
    with pytest.raises(RuntimeError, match=r"^MAML: call start_trial\(\) first$"):
        MAML(NAV, MAMLConfig(hidden_sizes=(4,)), NAV_KWARGS).trial_params()


def test_meta_train_on_no_tasks_is_refused_naming_the_agent() -> None:
    with pytest.raises(ValueError, match=r"^MAML\.meta_train: train_tasks is empty$"):
        MAML(NAV, MAMLConfig(hidden_sizes=(4,)), NAV_KWARGS).meta_train([], iterations=1, seed=0)


def test_config_values_become_json_lists_and_dicts_at_every_depth() -> None:
    assert _plain({"a": (1, (2, 3)), "b": {"c": (4,)}}) == {"a": [1, [2, 3]], "b": {"c": [4]}}


def test_an_unknown_policy_activation_is_refused_listing_the_choices() -> None:
    with pytest.raises(ValueError, match=r"^policy activation='sigmoid': must be one of \['tanh', 'relu'\]$"):
        build_policy(OBS, ACTIONS, hidden_sizes=(4,), activation="sigmoid")


@pytest.mark.parametrize("cls", [SeededReplayBuffer, PrioritizedReplayBuffer])
def test_a_buffer_refuses_transitions_whose_fields_differ_in_length(cls: type) -> None:
    buffer = cls(8, OBS, ACTIONS, **({"alpha": 0.6, "beta": 0.4} if cls is PrioritizedReplayBuffer else {}))
    with pytest.raises(ValueError, match="zip"):
        buffer.add_transitions(_transitions(3, rewards=2))  # one reward short: nothing may be dropped silently


def test_a_new_transition_takes_the_largest_priority_and_leaves_the_others() -> None:
    buffer = PrioritizedReplayBuffer(8, OBS, ACTIONS, alpha=0.5, beta=0.4)
    buffer.add_transitions(_transitions(2))
    buffer.update_priorities(np.array([0, 1]), np.array([3.0, 0.0]))   # p = |δ| + eps
    buffer.add_transitions(_transitions(1))
    expected = np.array([3.0 + 1e-6, 1e-6, 3.0 + 1e-6]) ** 0.5           # slot 2: the largest so far
    np.testing.assert_allclose(buffer.scaled_priorities[:3], expected, rtol=1e-12)
    assert (buffer.scaled_priorities[3:] == 0).all()


def test_of_batch_skips_an_episode_that_took_no_step() -> None:
    """Task 0's episodes take 2, 0 and 1 steps; each non-empty one's last step takes the episode's final
    observation as its next."""
    mask = np.array([[[True, True, False], [False, False, False], [True, False, False]]])
    obs = np.arange(18, dtype=np.float32).reshape(1, 3, 3, 2)
    final = np.array([[[100.0, 101.0], [200.0, 201.0], [300.0, 301.0]]], dtype=np.float32)
    batch = TrajectoryBatch(obs, np.zeros((1, 3, 3), dtype=np.int64), np.where(mask, 1.0, 0.0), mask,
                            np.zeros_like(mask), mask & (np.arange(3) == [[[1], [1], [0]]]), final)
    transitions = Transitions.of_batch(batch, 0)
    np.testing.assert_array_equal(transitions.observations, [[0, 1], [2, 3], [12, 13]])
    np.testing.assert_array_equal(transitions.next_observations, [[2, 3], [100, 101], [300, 301]])


def test_the_provider_analytic_optimum_is_undiscounted_by_default() -> None:
    task = max(metarl_envs.task_set(NAV, "test", "maml"), key=lambda t: float(np.abs(t.goal).sum()))  # many steps
    provider, env = EnvProvider(NAV, NAV_KWARGS), gym.make(NAV, **NAV_KWARGS)
    undiscounted = analytic_optimal_return(env, task, 1.0)
    assert undiscounted is not None and provider.analytic_optimum(task) == undiscounted
    assert analytic_optimal_return(env, task, 0.5) != undiscounted


@pytest.mark.parametrize("env_id", ["", 3, None])
def test_the_env_provider_refuses_an_env_id_that_is_not_a_non_empty_string(env_id: object) -> None:
    with pytest.raises(ValueError, match=rf"^EnvProvider: env_id={env_id!r} must be a non-empty env id string$"):
        EnvProvider(env_id)  # type: ignore[arg-type]


def test_a_new_sampler_has_spent_no_env_time() -> None:
    assert Sampler(NAV, NAV_KWARGS).env_seconds == 0.0


@pytest.mark.parametrize("field", ["observations", "actions"])
def test_a_batch_whose_observations_or_actions_do_not_match_the_rewards_is_refused(field: str) -> None:
    shape = (1, 2, 3)
    arrays = {"observations": np.zeros((*shape, 2), np.float32), "actions": np.zeros((*shape, 2), np.float32)}
    arrays[field] = np.zeros((1, 2, 4, 2), np.float32)   # one step too many
    flags = np.zeros(shape, bool)
    observations, actions = arrays["observations"].shape, arrays["actions"].shape
    message = (r"^TrajectoryBatch: observations/actions must start with the rewards' shape \(1, 2, 3\), got "
               + re.escape(f"{observations} and {actions}") + "$")
    with pytest.raises(ValueError, match=message):
        TrajectoryBatch(arrays["observations"], arrays["actions"], np.zeros(shape), flags, flags, flags,
                        np.zeros((1, 2, 2), np.float32))
