"""The point envs' analytic optimum (`oracles.analytic_optimal_return`) against hand-computed values,
attained by the projection policy run in the env itself, and never beaten by other policies; the
evaluator records it with its kind."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs
from baselines.common.oracles import analytic_optimal_return, optimum_kind
from metarl_envs.classic.navigation_2d import GoalTask2D
from metarl_envs.classic.sparse_point_robot import SemicircleGoalTask
from metarl_envs.task_sets import env_class

NAV, POINT = "MetaRL/Navigation2D-v0", "MetaRL/SparsePointRobot-v0"


def _run(env: gym.Env, task, policy) -> float:
    """Undiscounted return of one episode of `policy(position, t) -> action`."""
    position, _ = env.reset(seed=0, options={"task": task})
    total, done, t = 0.0, False, 0
    while not done:
        t += 1
        position, reward, terminated, truncated, _ = env.step(policy(np.asarray(position, dtype=np.float64), t))
        total, done = total + reward, terminated or truncated
    return total


def _projection(goal, step: float, scale: float = 1.0):
    """Move to the projection of the goal on the box reachable after t steps (the optimal policy)."""
    def act(position: np.ndarray, t: int) -> np.ndarray:
        target = np.clip(np.asarray(goal), -step * scale * t, step * scale * t)
        return np.clip((target - position) / scale, -step, step).astype(np.float32)
    return act


def _noisy(policy, step: float, noise: float, rng: np.random.Generator):
    def act(position: np.ndarray, t: int) -> np.ndarray:
        return np.clip(policy(position, t) + rng.normal(0, noise * step, 2), -step, step).astype(np.float32)
    return act


@pytest.mark.parametrize(("reward", "expected"), [("distance", -(0.15 + 0.05 + 0.0)),
                                                  ("squared", -(0.15**2 + 0.05**2 + 0.0))])
def test_navigation_optimum_by_hand(reward, expected):
    """Goal (0.25, −0.1), steps of 0.1: the reachable boxes leave offsets (0.15, 0), (0.05, 0), then 0,
    where the episode terminates."""
    env = gym.make(NAV, preset="maml", reward=reward)
    task = GoalTask2D(goal=(0.25, -0.1))
    env.unwrapped.set_task(task)
    assert analytic_optimal_return(env, task) == pytest.approx(expected, abs=1e-7)
    assert _run(env, task, _projection(task.goal, 0.1)) == pytest.approx(expected, abs=1e-6)


def test_sparse_point_optimum_by_hand():
    """Goal at angle π/4, steps of 0.1 (varibad: 1.0 × 0.1): each axis offset is c − 0.1t, c = cos π/4;
    inside the 0.2 radius first at t = 6 (d = √2(c − 0.6)), then t = 7, then on the goal from t = 8 to
    100 (93 steps paying 1)."""
    c = math.cos(math.pi / 4)
    expected = (1 - math.sqrt(2) * (c - 0.6)) + (1 - math.sqrt(2) * (c - 0.7)) + 93
    env = gym.make(POINT, preset="varibad")
    task = SemicircleGoalTask(angle=math.pi / 4)
    env.unwrapped.set_task(task)
    assert analytic_optimal_return(env, task) == pytest.approx(expected, abs=1e-9)
    assert _run(env, task, _projection(task.goal, 1.0, scale=0.1)) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize(("env_id", "preset", "step", "scale"), [(NAV, "maml", 0.1, 1.0), (NAV, "sgmrl", 0.1, 1.0),
                                                                 (POINT, "pearl", 0.1, 1.0),
                                                                 (POINT, "varibad", 1.0, 0.1)])
def test_the_optimum_is_attained_and_never_beaten(env_id, preset, step, scale):
    env = gym.make(env_id, preset=preset)
    rng = np.random.default_rng(0)
    for task in metarl_envs.task_set(env_id, "test", preset)[:5]:
        env.unwrapped.set_task(task)
        optimum = analytic_optimal_return(env, task)
        assert _run(env, task, _projection(task.goal, step, scale)) == pytest.approx(optimum, abs=1e-5)
        for _ in range(5):  # noisy projections and uniform random actions
            returns = [_run(env, task, _noisy(_projection(task.goal, step, scale), step, 0.3, rng)),
                       _run(env, task, _noisy(lambda p, t: np.zeros(2), step, 1.0, rng))]
            assert max(returns) <= optimum + 1e-6


def test_kinds_and_the_evaluator_records_the_analytic_gap():
    from baselines.maml import MAML, MAMLConfig
    from benchmarks.evaluate import MetaTestProtocol, meta_test

    assert optimum_kind(env_class("MetaRL/FrozenLakeHoles-v0")) == "exact"
    assert optimum_kind(env_class(NAV)) == optimum_kind(env_class(POINT)) == "analytic"
    assert optimum_kind(env_class("MetaRL/HalfCheetahVel-v0")) is None
    agent = MAML(NAV, MAMLConfig(hidden_sizes=(4,)), {"preset": "maml"})
    tasks = metarl_envs.task_set(NAV, "test", "maml")
    result = meta_test(agent, tasks, MetaTestProtocol(adaptation_steps=1, evaluation_episodes=2, adaptation_episodes=2),
                       seed=0, max_tasks=2)
    env = gym.make(NAV, preset="maml")
    for task, record in zip(tasks[:2], result.tasks, strict=True):
        env.unwrapped.set_task(task)
        assert record.optimal_return == analytic_optimal_return(env, task)
        assert all(gap >= 0 for gap in record.optimality_gaps)
    assert result.optimum_kind == "analytic"


CARTPOLE = "MetaRL/CartPoleParams-v0"


def test_cartpole_optimum_is_the_horizon_cap_where_a_witness_balances():
    from baselines.common.oracles import lqr_sign_controller
    from metarl_envs.classic.cartpole_params import CartPoleParamsTask

    env = gym.make(CARTPOLE, preset="pmeta")
    for task in metarl_envs.task_set(CARTPOLE, "test", "pmeta"):  # pMeta-RL's five variants, 200 steps
        assert analytic_optimal_return(env, task) == 200.0
        assert analytic_optimal_return(env, task, discount=0.99) == pytest.approx((1 - 0.99**200) / (1 - 0.99))
        gain = lqr_sign_controller(task)
        for seed in range(3):  # the witness earns the cap in the env itself, from random starts
            state, _ = env.reset(seed=seed, options={"task": task})
            total, done = 0.0, False
            while not done:
                state, reward, terminated, truncated, _ = env.step(int(-gain @ state > 0))
                total, done = total + reward, terminated or truncated
            assert total == 200.0
    weak = CartPoleParamsTask(force_mag=1.0, pole_mass=1.0, half_pole_length=0.05, cart_mass=10.0, gravity=98.0)
    heavy_env = gym.make(CARTPOLE, preset="carl")
    assert analytic_optimal_return(heavy_env, weak) is None  # no witness: no analytic optimum claimed
    assert optimum_kind(env_class(CARTPOLE)) == "analytic"
