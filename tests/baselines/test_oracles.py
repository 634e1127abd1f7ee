"""Oracles against closed forms on designed MDPs."""

import numpy as np
import pytest

from baselines.common.oracles import optimal_return, optimal_values, policy_return, policy_values
from metarl_envs.toy_text.tabular import TabularModel


def chain(n_states: int = 4) -> TabularModel:
    """Walk right (a=1) or stay (a=0) along a chain; reward 1 on entering the last, terminal, state."""
    p = np.zeros((n_states, 2, n_states))
    r = np.zeros((n_states, 2, n_states))
    for s in range(n_states):
        p[s, 0, s] = 1.0
        p[s, 1, min(s + 1, n_states - 1)] = 1.0
    r[n_states - 2, 1, n_states - 1] = 1.0
    terminal = np.zeros(n_states, dtype=bool)
    terminal[-1] = True
    initial = np.eye(n_states)[0]
    return TabularModel.from_matrices(p, r, initial, terminal)


def test_chain_optimal_discounted_value():
    model = chain(4)  # three steps to the goal: J* = γ²
    assert optimal_return(model, discount=0.9) == pytest.approx(0.81, abs=1e-9)
    _, greedy = optimal_values(model, discount=0.9)
    assert greedy[:3, 1].tolist() == [1.0, 1.0, 1.0]


def test_finite_horizon_too_short_to_reach_goal():
    model = chain(4)
    assert optimal_return(model, horizon=2) == 0.0
    assert optimal_return(model, horizon=3) == 1.0


def test_self_loop_value_is_one_over_one_minus_gamma():
    p = np.ones((1, 1, 1))
    model = TabularModel.from_matrices(p, np.ones((1, 1, 1)), np.ones(1), np.zeros(1, dtype=bool))
    assert policy_return(model, np.ones((1, 1)), discount=0.95) == pytest.approx(20.0)
    assert policy_return(model, np.ones((1, 1)), horizon=7) == pytest.approx(7.0)


def test_uniform_policy_matches_monte_carlo():
    model = chain(4)
    policy = np.full((4, 2), 0.5)
    rng = np.random.default_rng(0)
    returns = []
    for _ in range(20000):
        s, total = 0, 0.0
        for _step in range(6):
            if model.terminal_mask[s]:
                break
            a = rng.integers(2)
            s_next = rng.choice(4, p=model.transition_matrix[s, a])
            total += model.reward_matrix[s, a, s_next]
            s = s_next
        returns.append(total)
    exact = policy_return(model, policy, horizon=6)
    assert abs(np.mean(returns) - exact) < 4 * np.std(returns) / np.sqrt(len(returns))


def test_bad_inputs_are_named():
    model = chain(3)
    with pytest.raises(ValueError, match="shape"):
        policy_values(model, np.ones((2, 2)) / 2, discount=0.5)
    with pytest.raises(ValueError, match="probability"):
        policy_values(model, np.ones((3, 2)), discount=0.5)
    with pytest.raises(ValueError, match="discount < 1"):
        optimal_values(model, discount=1.0)
