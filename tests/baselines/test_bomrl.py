"""Exactness tests of tabular BO-MRL on tiny MDPs: closed-form solvers satisfy their optimality
conditions, and the implicit (CG) hypergradient equals autodiff through an unrolled inner solve and
central finite differences."""

import numpy as np
import pytest
import torch

from baselines import bomrl_solvers as solvers
from baselines.bomrl import BOMRL, BOMRLConfig
from baselines.common import tabular
from baselines.common.envs import EnvProvider
from baselines.common.oracles import policy_return
from baselines.tabular_maml import TabularMAML, TabularMAMLConfig
from metarl_envs.toy_text.tabular import TabularModel
from tests.baselines.trial import adapted_params

GAMMA = 0.8
LAMBDAS = {1: 0.5, 2: 0.5, 3: 0.3}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_model(seed: int = 0, n_states: int = 4, n_actions: int = 3) -> TabularModel:
    rng = np.random.default_rng(seed)
    transition = rng.dirichlet(np.ones(n_states), size=(n_states, n_actions))
    reward = rng.uniform(-1, 1, (n_states, n_actions, n_states))
    terminal = np.zeros(n_states, dtype=bool)
    terminal[-1] = True
    initial = np.full(n_states, 1.0 / (n_states - 1))
    initial[-1] = 0.0
    return TabularModel.from_matrices(transition, reward, initial, terminal)


def meta_quantities(model, phi):
    policy = tabular.softmax_policy(torch.as_tensor(phi))
    return (tabular.evaluate(model, policy, GAMMA)[1].numpy(), tabular.visitation(model, policy, GAMMA).numpy())


def adapted_return(model, phi, divergence):
    q_values, nu = meta_quantities(model, phi)
    theta = solvers.solve_surrogate(phi, q_values, LAMBDAS[divergence], divergence, nu)
    return float(tabular.expected_return(model, torch.as_tensor(theta), GAMMA)), theta


def unrolled_return(model, phi_t, divergence, steps=500, lr=3.0):
    """J(θ_N(ϕ)) where θ_N is N gradient-ascent steps on the surrogate from θ = ϕ, kept in the graph."""
    policy = tabular.softmax_policy(phi_t)
    q_values = tabular.evaluate(model, policy, GAMMA)[1]
    weights = tabular.visitation(model, policy, GAMMA) if divergence == 3 else torch.ones(phi_t.shape[0],
                                                                                           dtype=torch.float64)
    if divergence == 2:  # closed form: differentiate θ' = ϕ + Q^{π_ϕ}/λ directly
        theta = phi_t + q_values / LAMBDAS[2]
    else:
        theta = phi_t
        for _ in range(steps):
            objective = solvers.surrogate(theta, phi_t, q_values, weights, LAMBDAS[divergence], divergence)
            (grad,) = torch.autograd.grad(objective, theta, create_graph=True)
            theta = theta + lr * grad
    return tabular.expected_return(model, theta, GAMMA)


@pytest.mark.parametrize("divergence", [1, 2, 3])
def test_implicit_hypergradient_matches_unrolled_autodiff_and_finite_differences(divergence):
    model = tiny_model()
    phi = np.random.default_rng(1).normal(size=(4, 3))
    _, theta = adapted_return(model, phi, divergence)
    implicit, info = solvers.implicit_hypergradient(model, phi, theta, LAMBDAS[divergence], divergence, GAMMA)
    assert info["stationarity"] < 1e-9 and info["cg_residual"] < 1e-10

    step, finite = 1e-6, np.zeros_like(phi)
    for index in np.ndindex(phi.shape):
        delta = np.zeros_like(phi)
        delta[index] = step
        finite[index] = (adapted_return(model, phi + delta, divergence)[0]
                         - adapted_return(model, phi - delta, divergence)[0]) / (2 * step)
    np.testing.assert_allclose(implicit, finite, atol=1e-8)

    phi_t = torch.tensor(phi, requires_grad=True)
    (unrolled,) = torch.autograd.grad(unrolled_return(model, phi_t, divergence), phi_t)
    np.testing.assert_allclose(implicit, unrolled.numpy(), atol=1e-7)
    assert np.abs(implicit).max() > 1e-3  # the comparison is not between zeros


@pytest.mark.parametrize("divergence", [1, 2])
def test_closed_forms_satisfy_optimality_conditions(divergence):
    rng = np.random.default_rng(2)
    phi, q_values, lam = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), 0.7
    theta = solvers.solve_surrogate(phi, q_values, lam, divergence)
    pi, pi_phi = np.exp(theta), np.exp(phi) / np.exp(phi).sum(1, keepdims=True)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0, atol=1e-12)
    # KKT on the simplex: ∂/∂π(a) [Σ π Q − λ d²] is the same for every action of a state
    if divergence == 1:
        policy_gradient = q_values + lam * pi_phi / pi
    else:
        policy_gradient = q_values - lam * (np.log(pi / pi_phi) + 1.0)
    np.testing.assert_allclose(policy_gradient - policy_gradient.mean(axis=1, keepdims=True), 0.0, atol=1e-9)
    # stationarity in logits, and no random perturbation does better
    ones = torch.ones(6, dtype=torch.float64)
    theta_t = torch.tensor(theta, requires_grad=True)
    value = solvers.surrogate(theta_t, torch.as_tensor(phi), torch.as_tensor(q_values), ones, lam, divergence)
    (grad,) = torch.autograd.grad(value, theta_t)
    assert grad.abs().max() < 1e-10
    for _ in range(200):
        other = torch.as_tensor(theta + 0.3 * rng.normal(size=theta.shape))
        assert solvers.surrogate(other, torch.as_tensor(phi), torch.as_tensor(q_values), ones, lam,
                                 divergence) < value


def test_d2_closed_form_is_the_exponential_tilt_and_d3_is_stationary():
    rng = np.random.default_rng(3)
    phi, q_values, weights = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), rng.dirichlet(np.ones(5))
    tilt = np.exp(phi + q_values / 0.4)
    np.testing.assert_allclose(np.exp(solvers.solve_surrogate(phi, q_values, 0.4, 2)),
                               tilt / tilt.sum(1, keepdims=True), atol=1e-12)
    theta = solvers.solve_surrogate(phi, q_values, 0.5, 3, weights)
    theta_t = torch.tensor(theta, requires_grad=True)
    value = solvers.surrogate(theta_t, torch.as_tensor(phi), torch.as_tensor(q_values), torch.as_tensor(weights),
                              0.5, 3)
    assert torch.autograd.grad(value, theta_t)[0].abs().max() < 1e-10
    assert np.abs(theta - phi).max() > 1e-3


def test_mc_estimates_on_a_hand_computed_batch():
    # two episodes on a 3-state chain; γ = 0.5; state 2 terminal
    states = np.array([[0, 1, 0], [1, 0, 0]])
    actions = np.array([[1, 0, 0], [1, 1, 0]])
    rewards = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
    mask = np.array([[True, True, False], [True, True, False]])
    policy = np.full((3, 2), 0.5)
    q_hat, nu_hat = tabular.mc_estimates(states, actions, rewards, mask, policy, 0.5)
    assert q_hat[0, 1] == pytest.approx((0.5 + 0.0) / 2)  # visits: episode 1 t=0 (0 + 0.5·1), episode 2 t=1
    assert q_hat[1, 0] == pytest.approx(1.0)
    assert q_hat[1, 1] == pytest.approx(2.0)
    assert q_hat[0, 0] == pytest.approx(0.25)            # untried: π-mean of the tried actions (advantage 0)
    np.testing.assert_allclose(nu_hat, 0.5 * np.array([1 + 0.5, 0.5 + 1, 0]) / 2)



def test_mc_estimates_count_every_step_up_to_the_horizon():
    # one episode that runs the whole horizon (no masked step): γ = 0.5, rewards 1, 2, 4
    states, actions = np.array([[0, 1, 0]]), np.array([[0, 1, 1]])
    rewards, mask = np.array([[1.0, 2.0, 4.0]]), np.ones((1, 3), dtype=bool)
    policy = np.array([[0.5, 0.5], [0.3, 0.7], [0.5, 0.5]])
    q_hat, nu_hat = tabular.mc_estimates(states, actions, rewards, mask, policy, 0.5)
    # reward-to-go: t=2: 4; t=1: 2 + 0.5·4 = 4; t=0: 1 + 0.5·4 = 3
    np.testing.assert_allclose(q_hat, [[3.0, 4.0], [4.0, 4.0], [0.0, 0.0]])  # (1, 0) untried: π-mean of (1, 1)
    np.testing.assert_allclose(nu_hat, 0.5 * np.array([1 + 0.25, 0.5, 0.0]))


ENV = "MetaRL/FrozenLakeHoles-v0"
KWARGS = {"preset": "bomrl-high", "start_distribution": "uniform"}


def train_tasks():
    import metarl_envs

    return list(metarl_envs.task_set(ENV, "train", preset="bomrl-high"))[:5]


def mean_adapted_return(agent, params, tasks):
    learned, agent.phi, total = agent.phi, params, 0.0  # adapt from `params` as the meta-parameters
    for task, adapted in zip(tasks, adapted_params(agent, tasks, 1, np.random.default_rng(0))[0], strict=True):
        model = EnvProvider(ENV, KWARGS).model(task)
        total += policy_return(model, agent.policy_matrix(adapted), GAMMA)
    agent.phi = learned
    return total / len(tasks)


@pytest.mark.parametrize("divergence", [1, 2, 3])
def test_meta_training_improves_the_one_time_adaptation(divergence, tmp_path):
    tasks = train_tasks()
    lam = {1: 0.5, 2: 0.5, 3: 0.04}[divergence]
    agent = BOMRL(ENV, BOMRLConfig(divergence=divergence, lam=lam, tasks_per_iteration=5), KWARGS)
    log = agent.meta_train(tasks, iterations=15, seed=0)
    assert len(log.records) == 15 and all(r.extra["cg_residual"] < 1e-8 for r in log.records)
    uniform = np.zeros_like(agent.meta_params())
    assert mean_adapted_return(agent, agent.meta_params(), tasks) > mean_adapted_return(agent, uniform, tasks) + 0.05
    agent.save(tmp_path / "agent")
    loaded = BOMRL.load(tmp_path / "agent")
    assert loaded.config == agent.config and loaded.env_kwargs == agent.env_kwargs
    np.testing.assert_array_equal(loaded.meta_params(), agent.meta_params())
    obs = np.arange(16)
    np.testing.assert_array_equal(loaded.act(obs, loaded.meta_params(), rng=np.random.default_rng(5)),
                                  agent.act(obs, agent.meta_params(), rng=np.random.default_rng(5)))


def test_sampled_adaptation_approaches_the_exact_one():
    task = train_tasks()[0]
    exact = BOMRL(ENV, BOMRLConfig(divergence=2, lam=0.5), KWARGS)
    sampled = BOMRL(ENV, BOMRLConfig(divergence=2, lam=0.5, estimator="sampled", episodes_per_step=400),
                    {**KWARGS})
    exact.phi = sampled.phi = np.zeros((16, 4))
    (theta_exact,), _ = adapted_params(exact, [task], 1, np.random.default_rng(0))
    (theta_sampled,), (steps_sampled,) = adapted_params(sampled, [task], 400, np.random.default_rng(0))
    model = EnvProvider(ENV, KWARGS).model(task)
    j_exact = policy_return(model, exact.policy_matrix(theta_exact), GAMMA)
    j_sampled = policy_return(model, sampled.policy_matrix(theta_sampled), GAMMA)
    assert exact.privileged and not sampled.privileged and steps_sampled > 400
    assert j_sampled == pytest.approx(j_exact, abs=0.05)
    assert j_sampled > policy_return(model, np.full((16, 4), 0.25), GAMMA) + 0.1


def test_tabular_maml_meta_gradient_is_exact_and_adaptation_is_a_pg_step():
    model = tiny_model(4)
    phi = torch.zeros((4, 3), dtype=torch.float64, requires_grad=True)
    j = tabular.expected_return(model, phi, GAMMA)
    (grad,) = torch.autograd.grad(j, phi)
    q_values, nu = meta_quantities(model, np.zeros((4, 3)))
    np.testing.assert_allclose(tabular.policy_gradient(np.zeros((4, 3)), q_values, nu, GAMMA), grad.numpy(),
                               atol=1e-12)
    agent = TabularMAML(ENV, TabularMAMLConfig(inner_lr=2.5), KWARGS)
    tasks = train_tasks()
    agent.meta_train(tasks, iterations=3, seed=0)
    (adapted,), _ = adapted_params(agent, tasks[:1], 1, np.random.default_rng(0))
    q_values, nu, _, _ = agent.estimator.estimate(tasks[0], agent.meta_params(), np.random.default_rng(0))
    expected = agent.meta_params() + 2.5 * tabular.policy_gradient(agent.meta_params(), q_values, nu, GAMMA)
    np.testing.assert_allclose(adapted, expected)
    assert agent.privileged


@pytest.mark.parametrize("divergence", [1, 2, 3])
def test_closed_form_hessian_blocks_equal_autograd(divergence):
    rng = np.random.default_rng(6)
    theta, phi, q_values, weights = (rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 4)),
                                     rng.dirichlet(np.ones(3)))
    full = torch.autograd.functional.hessian(
        lambda t: solvers.surrogate(t, torch.as_tensor(phi), torch.as_tensor(q_values), torch.as_tensor(weights),
                                    0.7, divergence), torch.as_tensor(theta)).reshape(12, 12).numpy()
    blocks = solvers.surrogate_hessian_blocks(theta, phi, q_values, weights, 0.7, divergence)
    expected = np.zeros((12, 12))
    for s in range(3):
        expected[4 * s:4 * s + 4, 4 * s:4 * s + 4] = blocks[s]
    np.testing.assert_allclose(full, expected, atol=1e-12)


def test_bound_vanishes_for_identical_tasks_and_is_positive_otherwise():
    from benchmarks.bound import bound_terms

    rng = np.random.default_rng(7)
    transition = rng.dirichlet(np.ones(3), size=(3, 2))
    reward = rng.uniform(0, 1, (3, 2, 3))
    same = TabularModel.from_matrices(transition, reward, np.full(3, 1 / 3), np.zeros(3, dtype=bool))
    other = TabularModel.from_matrices(transition, reward[:, ::-1], np.full(3, 1 / 3), np.zeros(3, dtype=bool))
    identical = bound_terms([same, same], 2, 0.5, GAMMA)
    assert identical["variance"] < 1e-10 and identical["bound_theorem"] < 1e-8
    different = bound_terms([same, other], 2, 0.5, GAMMA)
    assert different["variance"] > 1e-3 and different["epsilon_centre"] >= (1 - GAMMA) / 3 - 1e-12
    scale = different["a_max_centre"] / ((1 - GAMMA) ** 2 * different["epsilon_centre"])
    assert different["bound_theorem"] == pytest.approx(2 * (1 + GAMMA) * scale * different["variance"])


def test_bound_script_checks_one_setting_and_names_a_missing_one(tmp_path):
    """`python -m benchmarks.bound bomrl-frozenlake --preset P` reads only preset P's results; without them
    it stops before any bound is computed, naming the experiment, the preset and the command to run."""
    from benchmarks.bound import main

    with pytest.raises(SystemExit, match=r"no valid quick result of bomrl-frozenlake on preset 'bomrl-low': run "
                                         r"`metarl-bench run bomrl-frozenlake --quick"):
        main(["bomrl-frozenlake", "--preset", "bomrl-low", "--quick", "--results", str(tmp_path)])
    with pytest.raises(SystemExit, match="bomrl-frozenlake has no setting with preset 'bomrl-mid'"):
        main(["bomrl-frozenlake", "--preset", "bomrl-mid", "--results", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def _d3_problem():
    rng = np.random.default_rng(3)
    return rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), rng.dirichlet(np.ones(5)), 0.5


def _d3_gradient(theta, phi, q_values, weights, lam):
    """∇_θ of Σ_s w(s) Σ_a π_θ(a|s) Q(s, a) − λ‖θ − ϕ‖², written out: w(s) π(a|s)(Q(s, a) − Σ_b π(b|s) Q(s, b))."""
    pi = np.exp(theta) / np.exp(theta).sum(axis=1, keepdims=True)
    return weights[:, None] * pi * (q_values - (pi * q_values).sum(axis=1, keepdims=True)) - 2 * lam * (theta - phi)


def test_d3s_quasi_newton_stage_alone_reaches_the_stationary_point(monkeypatch):
    """The D3 solve is L-BFGS, then a Newton polish; each could repair the other's error, so each is checked
    alone. Here the L-BFGS point itself: stationary to 1e-7 (its gtol is 1e-13) and away from ϕ."""
    phi, q_values, weights, lam = _d3_problem()
    points = []
    minimize = solvers.optimize.minimize

    def spy(*args, **kwargs):
        result = minimize(*args, **kwargs)
        points.append((result.x.reshape(phi.shape), result.fun))
        return result

    monkeypatch.setattr(solvers.optimize, "minimize", spy)
    solvers.solve_surrogate(phi, q_values, lam, 3, weights)
    ((point, minimised),) = points
    assert np.abs(_d3_gradient(point, phi, q_values, weights, lam)).max() < 1e-7
    assert np.abs(point - phi).max() > 1e-3
    pi = np.exp(point) / np.exp(point).sum(axis=1, keepdims=True)   # what it minimised: the negative surrogate
    surrogate = (weights * (pi * q_values).sum(axis=1)).sum() - lam * ((point - phi) ** 2).sum()
    assert minimised == pytest.approx(-surrogate, rel=1e-12)


def test_d3s_newton_polish_alone_reaches_stationarity_from_a_point_off_the_optimum(monkeypatch):
    """The polish: from an L-BFGS point 1e-3 off the maximiser, three Newton steps on the block-diagonal
    Hessian bring the gradient to round-off (quadratic convergence: 1e-3, 1e-6, 1e-12)."""
    from types import SimpleNamespace

    phi, q_values, weights, lam = _d3_problem()
    optimum = solvers.solve_surrogate(phi, q_values, lam, 3, weights)
    off = optimum + 1e-3 * np.random.default_rng(0).normal(size=optimum.shape)
    assert np.abs(_d3_gradient(off, phi, q_values, weights, lam)).max() > 1e-4
    monkeypatch.setattr(solvers.optimize, "minimize", lambda *args, **kwargs: SimpleNamespace(x=off.ravel()))
    polished = solvers.solve_surrogate(phi, q_values, lam, 3, weights)
    assert np.abs(_d3_gradient(polished, phi, q_values, weights, lam)).max() < 1e-12
    np.testing.assert_allclose(polished, optimum, atol=1e-10)
