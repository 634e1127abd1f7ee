"""Details of baselines/common that the other tests leave open, each against a hand computation or an
exact expected outcome:

- estimators: the float32 torch views of a batch (mask and weights, whatever the numpy dtypes),
  `policy_gradients`' default second-order graph and its stacked parameters that need no grad,
  `reduce_steps` on one task's (E, H) arrays and on extra leading axes, its step_mean over a task of
  one step, and `weights`' flags (reward_to_go counted from h unless from_start, from_start ignored
  by GAE, termination winning over truncation, normalize=False) and its refusal of an unknown advantage;
- oracles: `box_distances` in float64 (an int8 goal of −128 does not overflow) and the Navigation2D
  optimum when the goal is reached at the last step, never, exactly at the tolerance, or with a
  tolerance wider than a step (rewards after the terminating step are not paid);
- personalization: the replay tensors are float32 for float64 observations and integer actions, the
  proximal gradient on a parameter without a gradient yet, and `auxiliary_adam`'s leaves taking grads;
- policies: GaussianMLPPolicy's default std 1, its action_scale map, and `_heads`' refusal message;
- returns: `discounted_returns` ignoring masked-out rewards, writing 0 there, and accumulating in float64;
- training: `run_meta_training`'s refusals of a checkpoint (curve too long or out of order, other
  torch streams), each with its full message and before the agent is touched;
- trpo: `conjugate_gradient`'s default of 10 iterations (the 10-dimensional Krylov solution).
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from baselines.common import estimators
from baselines.common.agent import IterationRecord
from baselines.common.estimators import BatchTensors, StepData, WeightSpec
from baselines.common.oracles import analytic_optimal_return, box_distances
from baselines.common.personalization import SeededReplayBuffer, Transitions, add_proximal_gradient, auxiliary_adam
from baselines.common.policies import CategoricalMLPPolicy, GaussianMLPPolicy, StackedParams
from baselines.common.returns import LinearFeatureBaseline, discounted_returns, normalize
from baselines.common.sampler import TrajectoryBatch
from baselines.common.training import CheckpointError, run_meta_training
from baselines.common.trpo import conjugate_gradient
from metarl_envs.classic.navigation_2d import GoalTask2D, Navigation2DEnv, Navigation2DPreset

EYE = np.eye(3, dtype=np.float32)
STEP = float(np.float32(0.1))
"""Navigation2D's step: the float32 action bound 0.1, as the oracle reads it"""


# ----- estimators ------------------------------------------------------------------------------------
def small_batch(mask_dtype: type = bool) -> TrajectoryBatch:
    """(T=2, E=2, H=3) one-hot observations of states 0..2, actions in {0, 1}; task 1's second
    episode ends after one step."""
    states = np.array([[[0, 1, 2], [2, 1, 0]], [[1, 1, 0], [0, 2, 2]]])
    actions = np.array([[[0, 1, 1], [1, 0, 0]], [[1, 1, 0], [0, 1, 1]]], dtype=np.int64)
    mask = np.ones(states.shape, dtype=bool)
    mask[1, 1, 1:] = False
    rewards = np.where(mask, np.array([[[1.0, 0.5, -0.2], [0.3, 0.0, 2.0]], [[-1.0, 0.7, 0.1], [0.4, 0, 0]]]), 0.0)
    terminated = np.zeros(states.shape, dtype=bool)
    terminated[1, 1, 0] = True
    truncated = np.zeros(states.shape, dtype=bool)
    truncated[0, :, 2] = truncated[1, 0, 2] = True
    return TrajectoryBatch(EYE[states], actions, rewards, mask.astype(mask_dtype), terminated, truncated,
                           EYE[np.array([[1, 2], [0, 2]])])


def softmax_linear(seed: int = 0) -> tuple[CategoricalMLPPolicy, dict[str, torch.Tensor]]:
    """A categorical policy with no hidden layer (logits = W s + b) and its parameters drawn from `seed`."""
    policy = CategoricalMLPPolicy(3, 2, hidden_sizes=())
    generator = torch.Generator().manual_seed(seed)
    params = {"net.0.weight": torch.randn(2, 3, generator=generator), "net.0.bias": torch.randn(2, generator=generator)}
    return policy, params


def surrogate_by_hand(weight: torch.Tensor, bias: torch.Tensor, obs: torch.Tensor, actions: torch.Tensor,
                      step_weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """episode_sum surrogate of one task: mean over episodes of Σ_h w_h log softmax(W s_h + b)[a_h]."""
    log_probs = torch.log_softmax(obs @ weight.T + bias, dim=-1)
    taken = torch.gather(log_probs, -1, actions[..., None])[..., 0]
    return (taken * step_weights * mask).sum(-1).mean(-1)


def test_batch_tensors_hold_a_float32_mask_so_the_surrogates_stay_float32_whatever_the_mask_dtype():
    """A bool mask (the sampler's) and a float64 one (a hand-built batch) give the same float32 0/1 mask,
    hence the same float32 surrogates."""
    policy, params = softmax_linear()
    step_weights = torch.ones(2, 2, 3)
    values = []
    for mask_dtype in (bool, np.float64):
        tensors = BatchTensors.of(small_batch(mask_dtype))
        assert tensors.mask.dtype == torch.float32
        torch.testing.assert_close(tensors.mask, torch.as_tensor(small_batch().mask, dtype=torch.float32),
                                   rtol=0, atol=0)
        values.append(estimators.surrogates(policy, params, tensors, step_weights, "step_mean"))
    assert values[0].dtype == values[1].dtype == torch.float32
    torch.testing.assert_close(values[0], values[1], rtol=0, atol=0)


def test_step_data_weights_are_the_float64_weights_rounded_to_float32():
    """`as_weights` and `StepData.of` give float32 tensors, the float64 weights rounded once."""
    batch = small_batch()
    spec = WeightSpec(discount=0.9, advantage="reward_to_go")
    expected = estimators.weights(batch, spec)
    assert expected.dtype == np.float64
    got = estimators.as_weights(expected)
    assert got.dtype == torch.float32
    np.testing.assert_array_equal(got.numpy(), expected.astype(np.float32))
    data = StepData.of(batch, spec)
    assert data.weights.dtype == torch.float32
    np.testing.assert_array_equal(data.weights.numpy(), expected.astype(np.float32))


def test_policy_gradients_keep_the_second_order_graph_by_default():
    """Without `create_graph`, the gradients are differentiable: differentiating g_i·v gives each task's
    Hessian-vector product of its surrogate (computed here on the hand-written surrogate)."""
    policy, params = softmax_linear(1)
    batch = small_batch()
    tensors = BatchTensors.of(batch)
    step_weights = torch.as_tensor(np.where(batch.mask, batch.rewards + 0.5, 0.0), dtype=torch.float32)
    leaves = StackedParams({k: v.unsqueeze(0).repeat(2, *[1] * v.dim()).requires_grad_(True)
                            for k, v in params.items()})
    grads, stacked = estimators.policy_gradients(policy, leaves, tensors, step_weights, "episode_sum")
    assert stacked["net.0.weight"] is leaves["net.0.weight"]
    direction = torch.linspace(-1.0, 1.0, 6).reshape(2, 3)
    products = torch.autograd.grad((grads["net.0.weight"] * direction).sum(), leaves["net.0.weight"])[0]
    for task in range(2):
        def surrogate(weight: torch.Tensor, task: int = task) -> torch.Tensor:
            return surrogate_by_hand(weight, params["net.0.bias"], tensors.observations[task],
                                     tensors.actions[task], step_weights[task], tensors.mask[task])
        _, expected = torch.autograd.functional.hvp(surrogate, params["net.0.weight"], direction)
        torch.testing.assert_close(products[task], expected, rtol=1e-5, atol=1e-6)
        assert products[task].abs().max() > 1e-3


def test_policy_gradients_of_stacked_parameters_that_need_no_grad():
    """StackedParams without requires_grad (detached per-task copies) get each task's own gradient,
    and the given tensors are left as they were."""
    policy, params = softmax_linear(2)
    batch = small_batch()
    tensors = BatchTensors.of(batch)
    step_weights = torch.as_tensor(np.where(batch.mask, batch.rewards - 0.25, 0.0), dtype=torch.float32)
    generator = torch.Generator().manual_seed(3)
    per_task = StackedParams({k: v + 0.1 * torch.randn(2, *v.shape, generator=generator) for k, v in params.items()})
    grads, _ = estimators.policy_gradients(policy, per_task, tensors, step_weights, "episode_sum",
                                           create_graph=False)
    assert not any(v.requires_grad for v in per_task.values())
    for task in range(2):
        weight = per_task["net.0.weight"][task].clone().requires_grad_(True)
        bias = per_task["net.0.bias"][task].clone().requires_grad_(True)
        value = surrogate_by_hand(weight, bias, tensors.observations[task], tensors.actions[task],
                                  step_weights[task], tensors.mask[task])
        expected = torch.autograd.grad(value, [weight, bias])
        torch.testing.assert_close(grads["net.0.weight"][task], expected[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(grads["net.0.bias"][task], expected[1], rtol=1e-5, atol=1e-6)


def reduction_by_hand(per_step: np.ndarray, mask: np.ndarray, reduction: str) -> float:
    """One task's (E, H) reduction, loop by loop."""
    sums = [float(np.sum(row[m])) for row, m in zip(per_step, mask, strict=True)]
    if reduction == "step_mean":
        return sum(sums) / max(int(mask.sum()), 1)
    if reduction == "episode_mean":
        sums = [s / max(int(m.sum()), 1) for s, m in zip(sums, mask, strict=True)]
    return sum(sums) / len(sums)


@pytest.mark.parametrize("reduction", ["episode_sum", "episode_mean", "step_mean"])
def test_reduce_steps_reduces_the_last_two_axes_of_any_leading_shape(reduction):
    """One task's (E, H) arrays give a scalar; (X, T, E, H) arrays give (X, T): every leading index is
    reduced on its own, over its episodes (axis −2) and steps (axis −1)."""
    rng = np.random.default_rng(5)
    per_step = rng.normal(size=(2, 3, 4, 5))
    mask = rng.random((2, 3, 4, 5)) < 0.7
    mask[0, 1] = False                       # a task with no step at all
    mask[1, 2] = False
    mask[1, 2, 3, 0] = True                  # a task of one step
    got = estimators.reduce_steps(torch.as_tensor(per_step), torch.as_tensor(mask, dtype=torch.float64), reduction)
    assert got.shape == (2, 3)
    for index in np.ndindex(2, 3):
        assert float(got[index]) == pytest.approx(reduction_by_hand(per_step[index], mask[index], reduction),
                                                  rel=1e-12, abs=1e-12)
    one = estimators.reduce_steps(torch.as_tensor(per_step[1, 0]), torch.as_tensor(mask[1, 0], dtype=torch.float64),
                                  reduction)
    assert one.shape == () and float(one) == pytest.approx(reduction_by_hand(per_step[1, 0], mask[1, 0], reduction),
                                                           rel=1e-12)
    assert float(got[0, 1]) == 0.0


def test_step_mean_of_a_task_with_one_step_is_that_steps_value():
    per_step = torch.tensor([[[3.0, 7.0], [5.0, 1.0]]])
    mask = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])
    assert estimators.reduce_steps(per_step, mask, "step_mean").tolist() == [5.0]


def test_reward_to_go_weights_discount_from_each_step_unless_from_start():
    """reward_to_go: w_h = Σ_{l≥h} γ^{l−h} r_l, and γ^h times that with from_start; GAE ignores from_start."""
    batch, gamma = small_batch(), 0.5
    expected = np.zeros(batch.rewards.shape)
    for index in np.ndindex(batch.rewards.shape[:2]):
        rewards, mask = batch.rewards[index], batch.mask[index]
        for h in range(3):
            if mask[h]:
                expected[index][h] = sum(gamma ** (l - h) * rewards[l] for l in range(h, 3) if mask[l])
    got = estimators.weights(batch, WeightSpec(discount=gamma, advantage="reward_to_go"))
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-15)
    from_start = estimators.weights(batch, WeightSpec(discount=gamma, advantage="reward_to_go", from_start=True))
    np.testing.assert_allclose(from_start, expected * gamma ** np.arange(3), rtol=1e-14, atol=1e-15)
    for normalized in (False, True):
        plain = estimators.weights(batch, WeightSpec(discount=gamma, advantage="gae", normalize=normalized))
        np.testing.assert_array_equal(
            estimators.weights(batch, WeightSpec(discount=gamma, advantage="gae", normalize=normalized,
                                                 from_start=True)), plain)


def test_gae_weights_without_normalize_are_the_raw_advantages_on_the_linear_baseline():
    """With λ = 1 and terminated episodes, A_h = R_h − V(s_h) (telescoping), V the linear baseline fit to
    this batch's returns; normalize=True standardises exactly these."""
    batch = small_batch()
    ended = batch.mask & ~np.concatenate([batch.mask[..., 1:], np.zeros_like(batch.mask[..., :1])], axis=-1)
    batch = TrajectoryBatch(batch.observations, batch.actions, batch.rewards, batch.mask, ended,
                            np.zeros_like(ended), batch.final_observations)
    returns = discounted_returns(batch.rewards, batch.mask, 0.9)
    values, _ = LinearFeatureBaseline().values(batch.observations, returns, batch.mask, batch.final_observations,
                                               batch.mask.sum(-1))
    expected = np.where(batch.mask, returns - values, 0.0)
    raw = estimators.weights(batch, WeightSpec(discount=0.9, advantage="gae", gae_lambda=1.0, normalize=False))
    np.testing.assert_allclose(raw, expected, rtol=1e-9, atol=1e-9)
    assert np.abs(raw).max() > 0.05
    normalized = estimators.weights(batch, WeightSpec(discount=0.9, advantage="gae", gae_lambda=1.0))
    np.testing.assert_allclose(normalized, normalize(expected, batch.mask), rtol=1e-6, atol=1e-6)
    assert not np.allclose(raw, normalized, atol=1e-2)


def test_a_step_both_terminated_and_truncated_does_not_bootstrap():
    """Termination wins: the last step of an episode flagged both ways gets V_{t+1} = 0, as with the
    terminated flag alone, not V(final observation) as with truncation alone."""
    batch = small_batch()
    last = np.zeros(batch.mask.shape, dtype=bool)
    last[..., 2] = True
    last[1, 1] = [True, False, False]

    def flagged(terminated: np.ndarray, truncated: np.ndarray) -> np.ndarray:
        spec = WeightSpec(discount=0.9, advantage="gae", gae_lambda=0.8, normalize=False)
        return estimators.weights(TrajectoryBatch(batch.observations, batch.actions, batch.rewards, batch.mask,
                                                  terminated, truncated, batch.final_observations), spec)

    nothing = np.zeros_like(last)
    both, terminated_only, truncated_only = flagged(last, last), flagged(last, nothing), flagged(nothing, last)
    np.testing.assert_array_equal(both, terminated_only)
    assert np.abs(truncated_only - terminated_only).max() > 1e-3


def test_an_unknown_advantage_is_refused_with_its_message():
    with pytest.raises(ValueError) as error:
        estimators.weights(small_batch(), WeightSpec(advantage="td"))  # type: ignore[arg-type]
    assert str(error.value) == "WeightSpec.advantage='td': must be 'reward_to_go' or 'gae'"


# ----- oracles ---------------------------------------------------------------------------------------
def test_box_distances_by_hand_for_float_and_integer_goals():
    """|g| − t·step clipped at 0, per axis, as float64; an int8 goal of −128 lies 128 away (no overflow)."""
    got = box_distances(np.array([0.25, -0.1]), 0.1, 3)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, [[0.15, 0.0], [0.05, 0.0], [0.0, 0.0]], atol=1e-15)
    integer = box_distances(np.array([-128, 3], dtype=np.int8), 1.0, 4)
    assert integer.dtype == np.float64
    np.testing.assert_array_equal(integer, [[127, 2], [126, 1], [125, 0], [124, 0]])
    np.testing.assert_array_equal(box_distances([2, -1], 0.5, 2), [[1.5, 0.5], [1.0, 0.0]])


def navigation_return(env: gym.Env, task: GoalTask2D) -> float:
    """Undiscounted return of the greedy policy (each axis moves by at most a step towards the goal),
    which from the origin is the projection policy, run in the env itself."""
    position, _ = env.reset(seed=0, options={"task": task})
    total, done = 0.0, False
    while not done:
        action = np.clip(np.asarray(task.goal) - np.asarray(position, dtype=np.float64), -0.1, 0.1)
        position, reward, terminated, truncated, _ = env.step(action.astype(np.float32))
        total, done = total + reward, terminated or truncated
    return total


@pytest.mark.parametrize(("goal", "horizon", "rewards"), [
    ((0.25, -0.1), 3, [-0.15, -0.05, 0.0]),                                   # reached at the last step
    ((0.45, 0.3), 2, [-math.hypot(0.35, 0.2), -math.hypot(0.25, 0.1)]),       # never reached
])
def test_navigation_optimum_reached_at_the_last_step_or_never(goal, horizon, rewards):
    env = gym.make("MetaRL/Navigation2D-v0", preset="maml", horizon=horizon)
    task = GoalTask2D(goal=goal)
    env.unwrapped.set_task(task)
    assert analytic_optimal_return(env, task) == pytest.approx(sum(rewards), abs=1e-6)
    assert analytic_optimal_return(env, task, discount=0.5) == pytest.approx(
        sum(r * 0.5**t for t, r in enumerate(rewards)), abs=1e-6)
    assert navigation_return(env, task) == pytest.approx(sum(rewards), abs=1e-6)


WIDE_TOLERANCE = 0.45 - 2 * STEP
"""the x-offset |0.45| − 2·step of a goal at x = 0.45 after two steps, exactly (about 0.25)"""


class WideNavigation(Navigation2DEnv):
    """Navigation2D with a success tolerance wider than a step (0.1), so steps after the terminating one
    would still pay a nonzero reward."""

    presets: ClassVar[dict[str, Navigation2DPreset]] = {"wide": Navigation2DPreset(
        horizon=10, n_train_tasks=1, n_test_tasks=1, goal_low=-1.0, goal_high=1.0, max_action=0.1,
        success_tolerance=WIDE_TOLERANCE, source="test")}


@pytest.mark.parametrize(("goal", "rewards"), [
    ((0.6, 0.3), [-math.hypot(0.5, 0.2), -math.hypot(0.4, 0.1), -0.3, -0.2]),   # both axes < 0.25 at t = 4
    ((0.45, 0.0), [-0.35, -WIDE_TOLERANCE, -0.15]),   # offset == tolerance at t = 2 is not done, t = 3 is
])
def test_navigation_optimum_stops_paying_at_the_terminating_step(goal, rewards):
    """Termination at the first step with every |offset| < tolerance (strictly): that step is paid, the
    later ones (whose rewards would not be 0 here) are not. The env agrees."""
    env = WideNavigation(preset="wide")
    task = GoalTask2D(goal=goal)
    env.set_task(task)
    assert analytic_optimal_return(env, task) == pytest.approx(sum(rewards), abs=1e-6)
    assert analytic_optimal_return(env, task, discount=0.9) == pytest.approx(
        sum(r * 0.9**t for t, r in enumerate(rewards)), abs=1e-6)
    assert navigation_return(env, task) == pytest.approx(sum(rewards), abs=1e-6)


# ----- personalization -------------------------------------------------------------------------------
def test_replay_tensors_are_float32_for_float64_observations_and_integer_actions():
    observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float64)
    buffer = SeededReplayBuffer(8, observation_space, spaces.Discrete(3))
    observations = np.array([[0.1, -0.2], [1.0 / 3.0, 2.5], [4.0, 5.0]])
    following = np.array([[1.0 / 3.0, 2.5], [4.0, 5.0], [-1.0 / 7.0, 0.0]])
    buffer.add_transitions(Transitions(observations, np.array([2, 0, 1]), np.array([0.5, -1.0, 0.25]), following,
                                       np.array([False, False, True])))
    got = buffer.tensors(np.array([2, 0, 1]))
    assert {name: t.dtype for name, t in got.items()} == dict.fromkeys(got, torch.float32)
    np.testing.assert_array_equal(got["observations"].numpy(), observations[[2, 0, 1]].astype(np.float32))
    np.testing.assert_array_equal(got["next_observations"].numpy(), following[[2, 0, 1]].astype(np.float32))
    np.testing.assert_array_equal(got["actions"].numpy(), [[1.0], [2.0], [0.0]])
    np.testing.assert_array_equal(got["rewards"].numpy(), [0.25, 0.5, -1.0])
    np.testing.assert_array_equal(got["terminated"].numpy(), [1.0, 0.0, 0.0])


def test_proximal_gradient_on_a_parameter_without_a_gradient_yet():
    """A parameter with no .grad gets λ(θ − anchor); one with a gradient gets it added."""
    fresh = torch.tensor([1.0, -2.0], requires_grad=True)
    used = torch.tensor([0.5, 0.25], requires_grad=True)
    used.grad = torch.tensor([10.0, 20.0])
    add_proximal_gradient([fresh, used], [torch.tensor([0.5, 0.0]), torch.tensor([1.5, -0.75])], 2.0)
    assert fresh.grad.tolist() == [1.0, -4.0]
    assert used.grad.tolist() == [8.0, 22.0]


def test_auxiliary_adam_makes_the_auxiliary_tensors_leaves_that_take_gradients():
    """After `auxiliary_adam`, a loss through ϑ back-propagates into ϑ, and a step moves each entry by
    lr against the sign of its gradient (Adam's first step)."""
    auxiliary = {"w": torch.tensor([1.0, -1.0]), "b": torch.tensor([0.5])}
    optimizer = auxiliary_adam(auxiliary, lr=0.01)
    assert all(t.requires_grad and t.is_leaf for t in auxiliary.values())
    ((auxiliary["w"] ** 2).sum() - 3.0 * auxiliary["b"].sum()).backward()
    assert auxiliary["w"].grad.tolist() == [2.0, -2.0] and auxiliary["b"].grad.tolist() == [-3.0]
    optimizer.step()
    torch.testing.assert_close(auxiliary["w"].detach(), torch.tensor([0.99, -0.99]), rtol=0, atol=1e-6)
    torch.testing.assert_close(auxiliary["b"].detach(), torch.tensor([0.51]), rtol=0, atol=1e-6)


# ----- policies --------------------------------------------------------------------------------------
def test_gaussian_policy_defaults_to_unit_std():
    policy = GaussianMLPPolicy(2, 3, hidden_sizes=())
    torch.testing.assert_close(policy.log_std.detach(), torch.zeros(3), rtol=0, atol=0)
    _, log_std = policy.dist_params(policy.meta_params(), torch.zeros(4, 2))
    assert log_std.shape == (4, 3) and log_std.abs().max() == 0


@pytest.mark.parametrize("scale", [2.0, 0.01])
def test_action_scale_maps_mean_and_std_linearly(scale):
    """mean → scale·mean and log-std → log-std + log scale, against the unscaled policy with the same weights."""
    unscaled = GaussianMLPPolicy(2, 3, hidden_sizes=(4,), init_std=0.5)
    scaled = GaussianMLPPolicy(2, 3, hidden_sizes=(4,), init_std=0.5, action_scale=scale)
    params = unscaled.meta_params()
    obs = torch.tensor([[0.3, -1.0], [2.0, 0.5]])
    mean, log_std = unscaled.dist_params(params, obs)
    scaled_mean, scaled_log_std = scaled.dist_params(params, obs)
    torch.testing.assert_close(scaled_mean, mean * scale, rtol=1e-6, atol=0)
    torch.testing.assert_close(scaled_log_std, log_std + math.log(scale), rtol=1e-6, atol=1e-7)


def test_a_parameter_set_count_other_than_the_tasks_is_refused_with_its_message():
    policy = GaussianMLPPolicy(2, 1, hidden_sizes=())
    params = policy.meta_params()
    with pytest.raises(ValueError) as error:
        policy.dist_params([params, params], torch.zeros(3, 4, 2))
    assert str(error.value) == "GaussianMLPPolicy: 2 parameter sets for obs of shape torch.Size([3, 4, 2])"


# ----- returns ---------------------------------------------------------------------------------------
def test_discounted_returns_ignore_masked_out_rewards_and_are_zero_there():
    rewards = np.array([[1.0, 2.0, 5.0, 7.0], [3.0, -4.0, 6.0, 1.0]])
    mask = np.array([[True, True, False, False], [True, False, False, False]])
    expected = np.array([[1.0 + 0.5 * 2.0, 2.0, 0.0, 0.0], [3.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(discounted_returns(rewards, mask, 0.5), expected)
    np.testing.assert_array_equal(discounted_returns(rewards, mask, 0.5, from_start=True),
                                  expected * [1.0, 0.5, 0.25, 0.125])


def test_discounted_returns_accumulate_in_float64_for_float32_rewards():
    rewards = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    got = discounted_returns(rewards, np.ones(3, dtype=bool), 0.9)
    assert got.dtype == np.float64
    r = [float(x) for x in rewards]
    np.testing.assert_array_equal(got, [r[0] + 0.9 * (r[1] + 0.9 * r[2]), r[1] + 0.9 * r[2], r[2]])


# ----- training --------------------------------------------------------------------------------------
class TaskList(list):
    """Train tasks with a `checkpoint` attribute, as the harness's `TrainingEnvs`."""

    checkpoint: Any = None


class UntouchedAgent:
    def load_training_state(self, state: Any) -> None:
        raise AssertionError("a refused checkpoint must not reach the agent")


def resume_from(records: list[int], saved_streams: list[str], run_streams: list[str], iterations: int) -> None:
    """run_meta_training on a checkpoint holding the iterations `records` and the torch streams `saved_streams`."""
    saved = {"agent": {}, "rng": np.random.default_rng(1).bit_generator.state,
             "generators": {name: torch.Generator().get_state() for name in saved_streams},
             "records": [IterationRecord(i, 10 * i, 0.5 * i, 0.0, 1.0).to_dict() for i in records], "env_steps": 10}
    tasks = TaskList(["task"])
    tasks.checkpoint = SimpleNamespace(every=1, load=lambda: saved, save=lambda state: None)

    def step(batch: list, rng: np.random.Generator) -> Any:
        raise AssertionError("no iteration runs on a refused checkpoint")

    run_meta_training(step, tasks, None, iterations=iterations, rng=np.random.default_rng(0), callback=None,
                      agent=UntouchedAgent(), generators={name: torch.Generator() for name in run_streams})


PREFIX = "the checkpoint cannot be applied to this run: ValueError: "


@pytest.mark.parametrize(("records", "iterations", "message"), [
    ([0, 1, 2, 3, 4], 3, "it holds iterations [0, 1, 2]..., not 0..n-1 of 3"),     # more than the run's
    ([0, 2], 5, "it holds iterations [0, 2]..., not 0..n-1 of 5"),                  # a gap
])
def test_a_checkpoint_curve_that_is_not_the_first_iterations_is_refused(records, iterations, message):
    with pytest.raises(CheckpointError) as error:
        resume_from(records, ["init"], ["init"], iterations)
    assert str(error.value) == PREFIX + message
    assert isinstance(error.value.__cause__, ValueError)


def test_a_checkpoint_of_other_torch_streams_is_refused_naming_both():
    with pytest.raises(CheckpointError) as error:
        resume_from([0], ["init"], ["init", "noise"], 3)
    assert str(error.value) == PREFIX + "its torch streams ['init'] are not this run's ['init', 'noise']"


# ----- trpo ------------------------------------------------------------------------------------------
def krylov_solution(matrix: np.ndarray, b: np.ndarray, dimension: int) -> np.ndarray:
    """argmin of the A-norm error over the Krylov space K_d(A, b): the d-th CG iterate in exact arithmetic
    (Arnoldi basis with re-orthogonalisation, then the projected system)."""
    basis = [b / np.linalg.norm(b)]
    for _ in range(dimension - 1):
        vector = matrix @ basis[-1]
        for _ in range(2):
            vector = vector - sum((q @ vector) * q for q in basis)
        basis.append(vector / np.linalg.norm(vector))
    q = np.stack(basis, axis=1)
    return q @ np.linalg.solve(q.T @ matrix @ q, q.T @ b)


def test_conjugate_gradient_runs_ten_iterations_by_default():
    """On a 20×20 SPD system (eigenvalues 1..20), the default result is the 10-dimensional Krylov
    solution, not the 11-dimensional one."""
    matrix = np.diag(np.arange(1.0, 21.0))
    b = np.linspace(1.0, 2.0, 20)
    got = conjugate_gradient(lambda v: torch.as_tensor(matrix) @ v, torch.as_tensor(b)).numpy()
    ten, eleven = krylov_solution(matrix, b, 10), krylov_solution(matrix, b, 11)
    np.testing.assert_allclose(got, ten, rtol=1e-9, atol=1e-11)
    assert np.abs(ten - eleven).max() > 1e-4
