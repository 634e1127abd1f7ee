"""The oracles' details the closed-form tests leave open: the LQR witness's linearisation, value
iteration's stopping rule and iteration cap, the checks on a policy and a discount (with their exact
messages), and the sparse reward's boundary."""

import re
import types

import gymnasium as gym
import numpy as np
import pytest
from scipy import linalg

import metarl_envs
from baselines.common.oracles import (
    analytic_optimal_return,
    lqr_sign_controller,
    optimal_values,
    policy_values,
)
from metarl_envs.classic.cartpole_params import CartPoleParamsTask, cartpole_dynamics
from metarl_envs.classic.physics_params import parameter_arrays
from metarl_envs.toy_text.tabular import TabularModel
from tests.baselines.test_oracles import chain


def self_loop(reward: float = 1.0) -> TabularModel:
    """One state, one action, reward `reward` every step, never ending."""
    return TabularModel.from_matrices(np.ones((1, 1, 1)), np.full((1, 1, 1), reward), np.ones(1),
                                      np.zeros(1, dtype=bool))


# --------------------------------------------------------------------------------------------
# lqr_sign_controller: the discrete LQR of the env's own Euler step, linearised at the upright state
# --------------------------------------------------------------------------------------------
def euler_step_jacobians(task: CartPoleParamsTask, h: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """(A_d, B_d) of the env's CartPole step at s = 0 by central differences: the mean of the two pushes is
    the zero-force step, and their difference is B_d · 2·force_mag (the step is affine in the force)."""
    params = tuple(np.full(8, value) for value in np.concatenate(parameter_arrays([task])))
    states = np.concatenate([h * np.eye(4), -h * np.eye(4)], axis=1)              # (4, 8): ±h e_j
    left, _ = cartpole_dynamics(states, np.zeros(8, dtype=np.int64), params)
    right, _ = cartpole_dynamics(states, np.ones(8, dtype=np.int64), params)
    free = (left + right) / 2
    a = (free[:, :4] - free[:, 4:]) / (2 * h)
    zero = tuple(p[:1] for p in params)
    push_left, _ = cartpole_dynamics(np.zeros((4, 1)), np.zeros(1, dtype=np.int64), zero)
    push_right, _ = cartpole_dynamics(np.zeros((4, 1)), np.ones(1, dtype=np.int64), zero)
    b = (push_right - push_left) / (2 * task.force_mag)
    return a, b


@pytest.mark.parametrize("task", [
    CartPoleParamsTask(force_mag=10.0, pole_mass=0.1, half_pole_length=0.5, cart_mass=1.0, gravity=9.8),
    CartPoleParamsTask(force_mag=5.0, pole_mass=0.8, half_pole_length=0.3, cart_mass=0.6, gravity=12.0),
    *metarl_envs.task_set("MetaRL/CartPoleParams-v0", "test", "pmeta")[:2],
], ids=["gymnasium", "heavy-pole", "pmeta-0", "pmeta-1"])
def test_lqr_gain_is_the_discrete_lqr_of_the_envs_linearised_euler_step(task):
    a, b = euler_step_jacobians(task)
    q, r = np.diag([1.0, 1.0, 10.0, 1.0]), np.array([[0.1]])
    p = linalg.solve_discrete_are(a, b, q, r)
    gain = np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)[0]
    np.testing.assert_allclose(lqr_sign_controller(task), gain, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------------------------
# optimal_values: the stopping rule, the iteration cap and the messages
# --------------------------------------------------------------------------------------------
def test_value_iteration_stops_at_the_first_change_below_the_tolerance_not_at_it():
    """Reward 1 with γ = 1/2: V_k = 2 − 2^{1−k} exactly, so the changes are 1, 1/2, 1/4, 1/8 exactly. With
    tolerance 1/4 the change 1/4 is not below it: the iteration goes on to V = 1.875 (change 1/8)."""
    values, greedy = optimal_values(self_loop(), 0.5, tolerance=0.25)
    assert values.tolist() == [1.875] and greedy.tolist() == [[1.0]]


def test_value_iteration_gives_up_after_its_cap_of_iterations_and_says_so():
    """γ = 1 − 10⁻⁹ needs ~2·10¹⁰ iterations to change by less than 1e-10."""
    with pytest.raises(RuntimeError, match=r"^value iteration did not converge in 7 iterations$"):
        optimal_values(self_loop(), 1.0 - 1e-9, max_iterations=7)


def test_value_iteration_gives_up_after_100_000_iterations_by_default():
    """The default cap, reached on one state (about a second)."""
    with pytest.raises(RuntimeError, match=r"^value iteration did not converge in 100000 iterations$"):
        optimal_values(self_loop(), 1.0 - 1e-9)


def test_an_infinite_horizon_without_discount_is_refused_with_its_message():
    with pytest.raises(ValueError, match=r"^optimal_values: an infinite horizon needs discount < 1$"):
        optimal_values(chain(3), 1.0)
    message = r"^policy_values: an infinite horizon needs discount < 1$"
    for discount in (1.0, 1.5):   # a chain that terminates: I − γP_π is invertible, only the check refuses
        with pytest.raises(ValueError, match=message):
            policy_values(chain(3), np.tile([0.0, 1.0], (3, 1)), discount)
    assert policy_values(chain(3), np.tile([0.0, 1.0], (3, 1)), 1.0, horizon=4).tolist() == [1.0, 1.0, 0.0]


def test_a_policy_with_a_negative_entry_is_refused_even_when_its_rows_sum_to_one():
    bad = np.tile([1.5, -0.5], (3, 1))
    with pytest.raises(ValueError, match=r"^policy_values: policy rows must be probability vectors$"):
        policy_values(chain(3), bad, 0.5)
    with pytest.raises(ValueError, match=re.escape("policy_values: policy rows must be probability vectors")):
        policy_values(chain(3), bad, 1.0, horizon=2)


# --------------------------------------------------------------------------------------------
# The sparse point robot's optimum counts a step at exactly the goal radius (the env's rule)
# --------------------------------------------------------------------------------------------
def test_sparse_point_optimum_pays_a_step_at_exactly_the_goal_radius():
    """varibad preset: step 0.1 per axis, radius 0.2. A goal at (0, 0.4): after t steps the nearest point of
    the box is 0.3, 0.2 (exactly: 0.4 − 0.2), 0.1, then 0 away, paying 0, 0.8, 0.9, then 1 for 97 steps; the
    env pays 1 − d for d ≤ radius, boundary included."""
    env = gym.make("MetaRL/SparsePointRobot-v0", preset="varibad")
    goal = types.SimpleNamespace(goal=(0.0, 0.4))
    assert 0.4 - 2 * 0.1 == 0.2
    assert analytic_optimal_return(env, goal) == pytest.approx(0.8 + (1 - (0.4 - 0.30000000000000004)) + 97.0,
                                                               abs=1e-12)
