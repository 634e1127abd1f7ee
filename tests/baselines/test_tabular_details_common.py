"""`baselines.common.tabular`'s details the update-rule tests leave open: index observations with a
trailing axis, the inverse-CDF draw at its edges, softmax over the last axis of any array,
`TaskEstimator` (its own sampler, its MC estimates, its step counts and its message), and the softmax
agents' refusals (meta-parameters before training, models that do not match the tasks)."""

import numpy as np
import pytest
import torch

from baselines.bomrl import BOMRL, BOMRLConfig
from baselines.common import tabular
from baselines.common.sampler import Sampler, TrainingEnvs
from baselines.tabular_maml import TabularMAML, TabularMAMLConfig
from tests.baselines.test_tabular_update_rules import LAKE, LAKE_KWARGS, lake_tasks, model_of

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class FixedDraws:
    """A stand-in for `np.random.Generator` whose uniforms are all `value`."""

    def __init__(self, value: float):
        self.value = value

    def random(self, shape) -> np.ndarray:
        return np.full(shape, self.value)


# --------------------------------------------------------------------------------------------
# Observations, draws and softmax
# --------------------------------------------------------------------------------------------
def test_index_observations_with_a_trailing_axis_become_state_indices():
    """The sampler stores `Discrete` observations as (tasks, episodes, steps, 1) floats."""
    observations = np.array([[[[3.0], [7.0], [0.0]], [[15.0], [2.0], [1.0]]]], dtype=np.float32)
    states = tabular.batch_states(observations)
    assert states.dtype == np.int64 and states.shape == (1, 2, 3)
    assert states.tolist() == [[[3, 7, 0], [15, 2, 1]]]
    assert tabular.batch_states(np.array([[4.0, 5.0]])).tolist() == [[4, 5]]   # no trailing axis: as is


def test_inverse_cdf_draws_pick_the_first_action_whose_cdf_reaches_the_uniform():
    policy = np.full((3, 4), 0.25)
    for shape in [(1,), (1, 1), (2, 3)]:                    # one state, a (1, 1) and a (2, 3) batch of states
        states = np.zeros(shape, dtype=np.int64)
        for value, action in [(0.0, 0), (0.3, 1), (0.6, 2), (0.9, 3)]:
            drawn = tabular.sample_actions(policy, states, FixedDraws(value))
            assert drawn.dtype == np.int64 and drawn.shape == shape
            assert (drawn == action).all(), (shape, value)


def test_an_action_without_mass_is_never_drawn_even_at_a_uniform_on_a_cdf_step():
    """u = F(a) draws a + 1 (F(a − 1) ≤ u < F(a) picks a): at u = 0 an action of probability 0 is
    skipped (it was drawn before), and at u = 0.25 on (¼, ¾) the draw is the second action."""
    policy = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.25, 0.75, 0.0]])
    drawn = tabular.sample_actions(policy, np.array([0, 1]), FixedDraws(0.0))
    assert drawn.tolist() == [1, 2]
    assert tabular.sample_actions(policy, np.array([2]), FixedDraws(0.25)).tolist() == [1]


def test_a_uniform_past_a_cdf_that_rounds_short_of_one_draws_the_last_action():
    row = np.full(7, 1 / 7)
    assert row.cumsum()[-1] < 1.0 - 2**-53                      # round-off leaves the top of [0, 1) uncovered
    drawn = tabular.sample_actions(row[None], np.zeros(4, dtype=np.int64), FixedDraws(1.0 - 2**-53))
    assert drawn.tolist() == [6, 6, 6, 6]


def test_softmax_is_over_the_last_axis_of_any_array():
    logits = np.random.default_rng(0).normal(size=(2, 3, 4))
    expected = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(np.exp(tabular.log_softmax(logits)), expected, rtol=1e-12)
    np.testing.assert_allclose(tabular.softmax_policy(torch.as_tensor(logits)).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(np.exp(tabular.log_softmax(logits[0, 0])), expected[0, 0], rtol=1e-12)


# --------------------------------------------------------------------------------------------
# TaskEstimator
# --------------------------------------------------------------------------------------------
def test_an_unknown_estimator_is_refused_with_its_message():
    with pytest.raises(ValueError, match=r"^estimator='mc': must be 'exact' or 'sampled'$"):
        tabular.TaskEstimator(LAKE, LAKE_KWARGS, 0.8, "mc", 5)


def test_an_exact_estimate_reads_the_model_and_spends_no_env_steps():
    task = lake_tasks()[0]
    logits = np.random.default_rng(1).normal(size=(16, 4))
    q_values, nu, value, steps = tabular.TaskEstimator(LAKE, LAKE_KWARGS, 0.7, "exact", 5).estimate(
        task, logits, np.random.default_rng(0))
    assert steps == 0
    model, _ = model_of(LAKE, LAKE_KWARGS, task)
    want_q, want_nu, want_j = tabular.model_estimates(model, logits, 0.7)
    np.testing.assert_array_equal(q_values, want_q)
    np.testing.assert_array_equal(nu, want_nu)
    assert value == want_j


def hand_mc(batch, policy: np.ndarray, discount: float, task: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """Every-visit MC (Q̂, ν̂, mean discounted return) of task `task`'s episodes, loop by loop."""
    n_states, n_actions = policy.shape
    sums, counts = np.zeros((n_states, n_actions)), np.zeros((n_states, n_actions))
    nu, returns = np.zeros(n_states), []
    episodes = batch.rewards.shape[1]
    for e in range(episodes):
        steps = int(batch.mask[task, e].sum())
        states = [round(float(np.ravel(o)[0])) for o in batch.observations[task, e, :steps]]
        rewards = batch.rewards[task, e, :steps]
        returns.append(sum(discount**t * r for t, r in enumerate(rewards)))
        for t in range(steps):
            to_go = sum(discount**j * r for j, r in enumerate(rewards[t:]))
            sums[states[t], int(batch.actions[task, e, t])] += to_go
            counts[states[t], int(batch.actions[task, e, t])] += 1
            nu[states[t]] += (1 - discount) * discount**t / episodes
    q_hat = np.zeros((n_states, n_actions))
    for s in range(n_states):
        tried = counts[s] > 0
        if tried.any():
            q_hat[s, tried] = sums[s, tried] / counts[s, tried]
            q_hat[s, ~tried] = (policy[s, tried] * q_hat[s, tried]).sum() / policy[s, tried].sum()
    return q_hat, nu, float(np.mean(returns))


def test_a_sampled_estimate_collects_on_its_own_envs_and_is_the_mc_estimate_of_those_episodes():
    """No harness sampler set: the estimator builds one on its env id and kwargs (uniform starts here, not
    the preset's default) and collects `episodes` episodes of π = softmax(logits) with the caller's rng."""
    task, discount, episodes = lake_tasks()[1], 0.7, 12
    logits = np.random.default_rng(2).normal(size=(16, 4))
    estimator = tabular.TaskEstimator(LAKE, LAKE_KWARGS, discount, "sampled", episodes)
    q_values, nu, value, steps = estimator.estimate(task, logits, np.random.default_rng(3))
    rng, policy = np.random.default_rng(3), tabular.softmax(logits)
    batch = Sampler(LAKE, LAKE_KWARGS).rollout(
        [task], episodes, lambda obs: tabular.sample_actions(policy, tabular.batch_states(obs), rng), rng)
    assert steps == batch.env_steps == int(batch.mask.sum()) > episodes
    want_q, want_nu, want_j = hand_mc(batch, policy, discount)
    assert len({int(s) for s in tabular.batch_states(batch.observations)[0][batch.mask[0]]}) > 3
    np.testing.assert_allclose(q_values, want_q, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nu, want_nu, rtol=1e-10, atol=1e-12)
    assert value == pytest.approx(want_j, rel=1e-12)


def test_sampled_meta_training_collects_on_the_harness_envs():
    """BO-MRL (sampled): every episode of meta-training is collected on the `TrainingEnvs` the harness
    passes, which count the env steps the results file records."""
    tasks = lake_tasks(2)
    envs = TrainingEnvs(LAKE, LAKE_KWARGS, tasks)
    agent = BOMRL(LAKE, BOMRLConfig(estimator="sampled", episodes_per_step=3, tasks_per_iteration=1,
                                    divergence=2), LAKE_KWARGS)
    log = agent.meta_train(envs, iterations=1, seed=0)
    assert envs.env_steps == log.records[-1].env_steps > 0


# --------------------------------------------------------------------------------------------
# The softmax agents' surface
# --------------------------------------------------------------------------------------------
def test_meta_parameters_before_training_are_refused_with_the_agents_name():
    agent = TabularMAML(LAKE, TabularMAMLConfig(), LAKE_KWARGS)
    with pytest.raises(RuntimeError, match=r"^TabularMAML\.meta_params: call meta_train\(\) or load\(\) first$"):
        agent.meta_params()


def test_a_single_train_task_is_enough_to_set_up_the_logits():
    task = lake_tasks()[2]
    agent = TabularMAML(LAKE, TabularMAMLConfig(tasks_per_iteration=1), LAKE_KWARGS)
    agent.meta_train([task], iterations=1, seed=0)
    assert agent.meta_params().shape == (16, 4)


def test_deterministic_actions_are_each_states_most_likely_action_for_any_batch_shape():
    agent = TabularMAML(LAKE, TabularMAMLConfig(), LAKE_KWARGS)
    logits = np.random.default_rng(4).normal(size=(16, 4))
    best = logits.argmax(axis=1)
    obs = np.array([[3.0, 7.0, 0.0], [15.0, 2.0, 2.0]])
    assert agent.act(obs, logits, deterministic=True).tolist() == best[[[3, 7, 0], [15, 2, 2]]].tolist()
    assert int(agent.act(np.float32(9.0), logits, deterministic=True)) == best[9]


def test_a_privileged_agent_refuses_to_adapt_with_a_model_count_other_than_the_task_count():
    tasks = lake_tasks(2)
    agent = TabularMAML(LAKE, TabularMAMLConfig(), LAKE_KWARGS)
    agent.phi = np.zeros((16, 4))
    agent.receive_models([model_of(LAKE, LAKE_KWARGS, t)[0] for t in tasks])
    agent.start_trial(1)
    with pytest.raises(ValueError, match="zip"):
        agent.adapt_round(agent.trial_params(), None)
    assert len(agent.round_estimates([np.zeros((16, 4))] * 2, None)) == 2

