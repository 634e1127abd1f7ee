"""Exact oracles on a tabular env's model: optimal value J*(task) and a policy's value J(π; task).

The model is the active task's `transition_matrix` P[s, a, s'], `reward_matrix` R[s, a, s'],
`initial_distribution` μ[s] and `terminal_mask` (terminal states are absorbing and pay nothing
more). Two objectives, because the seed papers use both:

- finite horizon H (the meta-test's scored return: Σ_{t<H} γ^t r_t, γ = 1 by default), solved by
  backward induction — the optimal policy is then time-dependent;
- infinite-horizon discounted (γ < 1; BO-MRL's FrozenLake objective), solved by value iteration
  to a tolerance, and exact policy evaluation by a linear solve.

Analytic optima of the point envs (`analytic_optimal_return`). In Navigation2D and SparsePointRobot a
point starts at the origin and moves by at most `step` per coordinate, so after t steps it can be
anywhere in the box B_t = [−t·step, t·step]² and nowhere else. The per-step reward is a non-increasing
function of the distance d_t to the goal (−d, −d², or the sparse 1 − d inside the goal radius), so no
policy earns more at step t than f(dist(g, B_t)); the policy that moves to the projection of g onto
B_t earns exactly that at every step (consecutive projections are one step apart), and it reaches the
termination region (Navigation2D: |offset| < tolerance per axis) at the earliest step any policy can.
Hence J* = Σ_t f(dist(g, B_t)) over the steps before termination or the horizon: the straight-line
optimum, exact up to round-off ("analytic", beside the tabular envs' "exact").

CartPoleParams pays 1 per step, so no policy earns more than the horizon cap Σ_{t<H} γ^t, and a
policy that keeps the pole up for all H steps earns exactly that. Where balancing is feasible, J* is
the cap: feasibility is shown per task by a witness, a bang-bang controller pushing by the sign of
the discrete LQR control of the linearised task (`balancing_witness`), which must survive the whole
horizon from every point of the 3⁴ grid over the start box U[−0.05, 0.05]⁴; where it does not, the
task gets no analytic optimum (None).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from metarl_envs.toy_text.tabular import TabularModel

__all__ = ["OptimumKind", "analytic_optimal_return", "balancing_witness", "box_distances",
           "lqr_sign_controller", "optimal_return", "optimal_values", "optimum_kind", "policy_return",
           "policy_values"]

OptimumKind = Literal["exact", "analytic", "estimated"]
"""how J* was obtained: dynamic programming on a tabular model, a closed form, or a cached estimate
(`benchmarks.oracles`: a policy trained on the task with a stated budget)"""


def optimal_values(model: TabularModel, discount: float, horizon: int | None = None,
                   tolerance: float = 1e-10, max_iterations: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """(V*[s], greedy π*[s, a]). With `horizon`, V* is the H-step value and π* the first step's
    (backward induction); without, the discounted fixed point and its stationary greedy policy."""
    if horizon is None and not discount < 1.0:
        raise ValueError("optimal_values: an infinite horizon needs discount < 1")
    r, p = model.expected_reward, model.live_transition
    values = np.zeros(r.shape[0])
    for _ in range(horizon if horizon is not None else max_iterations):
        q = r + discount * p @ values
        values, previous = q.max(axis=1), values
        if horizon is None and np.max(np.abs(values - previous)) < tolerance:
            break
    else:
        if horizon is None:
            raise RuntimeError(f"value iteration did not converge in {max_iterations} iterations")
    greedy = np.zeros_like(q)
    greedy[np.arange(q.shape[0]), q.argmax(axis=1)] = 1.0
    return values, greedy


def optimal_return(model: TabularModel, discount: float = 1.0, horizon: int | None = None) -> float:
    """J* = Σ_s μ[s] V*[s]."""
    values, _ = optimal_values(model, discount, horizon)
    return float(model.initial_distribution @ values)


def policy_values(model: TabularModel, policy: np.ndarray, discount: float,
                  horizon: int | None = None) -> np.ndarray:
    """V^π[s] of a stationary policy π[s, a]: H-step sums, or the discounted fixed point."""
    if policy.shape != model.expected_reward.shape:
        raise ValueError(f"policy_values: policy has shape {policy.shape}, expected {model.expected_reward.shape}")
    if np.any(policy < 0) or not np.allclose(policy.sum(axis=1), 1.0):
        raise ValueError("policy_values: policy rows must be probability vectors")
    r_pi = np.einsum("sa,sa->s", policy, model.expected_reward)
    p_pi = np.einsum("sa,sat->st", policy, model.live_transition)
    if horizon is not None:
        values = np.zeros(r_pi.shape[0])
        for _ in range(horizon):
            values = r_pi + discount * p_pi @ values
        return values
    if not discount < 1.0:
        raise ValueError("policy_values: an infinite horizon needs discount < 1")
    return np.linalg.solve(np.eye(r_pi.shape[0]) - discount * p_pi, r_pi)


def policy_return(model: TabularModel, policy: np.ndarray, discount: float = 1.0,
                  horizon: int | None = None) -> float:
    """J(π) = Σ_s μ[s] V^π[s]."""
    return float(model.initial_distribution @ policy_values(model, policy, discount, horizon))


def box_distances(goal: np.ndarray, step: float, horizon: int) -> np.ndarray:
    """(horizon, 2) per-axis offsets |g − proj_{B_t}(g)| for t = 1..horizon, B_t = [−t·step, t·step]²."""
    reach = step * np.arange(1, horizon + 1)[:, None]
    return np.maximum(np.abs(np.asarray(goal, dtype=np.float64))[None, :] - reach, 0.0)


def _navigation_optimum(env: Any, task: Any, discount: float) -> float:
    preset = env.preset
    offsets = box_distances(np.asarray(task.goal), float(env.action_space.high[0]), env.horizon)
    distances = np.linalg.norm(offsets, axis=1)
    rewards = -(distances**2) if env.reward_mode == "squared" else -distances
    done = np.flatnonzero(np.all(offsets < preset.success_tolerance, axis=1))
    steps = int(done[0]) + 1 if done.size else env.horizon   # the terminating step is paid, then nothing
    return float(rewards[:steps] @ discount ** np.arange(steps))


def _sparse_point_optimum(env: Any, task: Any, discount: float) -> float:
    preset = env.preset
    step = float(env.action_space.high[0]) * preset.action_scale
    distances = np.linalg.norm(box_distances(np.asarray(task.goal), step, env.horizon), axis=1)
    rewards = np.where(distances <= preset.goal_radius, 1.0 - distances, 0.0)
    return float(rewards @ discount ** np.arange(env.horizon))


def lqr_sign_controller(task: Any) -> np.ndarray:
    """K of the discrete LQR (Q = diag(1, 1, 10, 1), R = 0.1) of the CartPole task linearised at the
    upright state and Euler-discretised with the env's time step; the witness pushes right when −K·s > 0."""
    from scipy import linalg

    from metarl_envs.classic.cartpole_params import TAU

    mass = task.pole_mass + task.cart_mass
    inertia = task.half_pole_length * (4.0 / 3.0 - task.pole_mass / mass)
    lever = task.pole_mass * task.half_pole_length / mass
    a = np.array([[0, 1, 0, 0], [0, 0, -lever * task.gravity / inertia, 0], [0, 0, 0, 1],
                  [0, 0, task.gravity / inertia, 0]])
    b = np.array([[0.0], [1 / mass + lever / (mass * inertia)], [0.0], [-1 / (mass * inertia)]])
    a, b = np.eye(4) + TAU * a, TAU * b
    q, r = np.diag([1.0, 1.0, 10.0, 1.0]), np.array([[0.1]])
    p = linalg.solve_discrete_are(a, b, q, r)
    return np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)[0]


def balancing_witness(task: Any, horizon: int) -> bool:
    """True when the LQR-sign controller keeps the pole up for `horizon` steps from all 81 points of
    the grid {−0.05, 0, 0.05}⁴ over the start box (the env's own dynamics, every start at once)."""
    from metarl_envs.classic.cartpole_params import START_HIGH, START_LOW, cartpole_dynamics
    from metarl_envs.classic.physics_params import parameter_arrays

    gain = lqr_sign_controller(task)
    axis = (START_LOW, 0.5 * (START_LOW + START_HIGH), START_HIGH)
    state = np.stack(np.meshgrid(axis, axis, axis, axis, indexing="ij")).reshape(4, -1)
    params = tuple(np.full(state.shape[1], value) for value in np.concatenate(parameter_arrays([task])))
    alive = np.ones(state.shape[1], dtype=bool)
    for _ in range(horizon):
        state, terminated = cartpole_dynamics(state, (-gain @ state > 0).astype(np.int64), params)
        alive &= ~terminated
    return bool(alive.all())


def _cartpole_optimum(env: Any, task: Any, discount: float) -> float | None:
    if not balancing_witness(task, env.horizon):
        return None
    return float(np.sum(discount ** np.arange(env.horizon)))


def _analytic_oracle(cls: type) -> Any:
    from metarl_envs.classic.cartpole_params import CartPoleParamsEnv
    from metarl_envs.classic.navigation_2d import Navigation2DEnv
    from metarl_envs.classic.sparse_point_robot import SparsePointRobotEnv

    oracles = ((Navigation2DEnv, _navigation_optimum), (SparsePointRobotEnv, _sparse_point_optimum),
               (CartPoleParamsEnv, _cartpole_optimum))
    return next((oracle for env_class, oracle in oracles if issubclass(cls, env_class)), None)


def analytic_optimal_return(env: Any, task: Any, discount: float = 1.0) -> float | None:
    """J*(task) in closed form for the envs that have one (see the module docstring), else None. `env`
    is the env (wrapped or not) whose preset, horizon and action box define the problem."""
    env = getattr(env, "unwrapped", env)
    optimum = _analytic_oracle(type(env))
    return None if optimum is None else optimum(env, task, discount)


def optimum_kind(env_class: type) -> OptimumKind | None:
    """How the benchmark obtains J* on an env class: "exact" for a tabular env (dynamic programming),
    "analytic" for one `analytic_optimal_return` covers (on CartPole, for the tasks with a balancing
    witness; a result with any task without one has no gaps), None where it has no oracle."""
    from metarl_envs.toy_text.tabular import TabularEnv

    if issubclass(env_class, TabularEnv):
        return "exact"
    return "analytic" if _analytic_oracle(env_class) is not None else None
