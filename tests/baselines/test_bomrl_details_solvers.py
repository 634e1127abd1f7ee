"""Details of BO-MRL's tabular solvers (`baselines.bomrl_solvers`) the exactness tests of test_bomrl.py
leave open: argument errors and their messages, invariance to huge per-state logit shifts (the
softmax's max-shift), the D1 root to round-off on two-action problems with a closed form, the D3
solve's scipy call and its "keep the L-BFGS point" branch, and `implicit_hypergradient`'s callable
Q / weights, float32 inputs and default CG budget."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from baselines import bomrl_solvers as solvers
from baselines.common import tabular
from tests.baselines.test_bomrl import GAMMA, tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------------------------
# Argument errors
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lam", [0.0, -0.5])
def test_solve_surrogate_rejects_a_non_positive_lambda_by_name(lam):
    phi, q_values = np.zeros((2, 3)), np.ones((2, 3))
    for divergence in (1, 2, 3):
        with pytest.raises(ValueError, match=rf"^solve_surrogate: lam={lam!r} must be > 0$"):
            solvers.solve_surrogate(phi, q_values, lam, divergence, np.ones(2))


def test_solve_surrogate_names_missing_weights_and_an_unknown_divergence():
    phi, q_values = np.zeros((2, 3)), np.ones((2, 3))
    with pytest.raises(ValueError, match=r"^solve_surrogate: divergence 3 needs the state weights ν\^\{π_ϕ\}$"):
        solvers.solve_surrogate(phi, q_values, 0.5, 3)
    with pytest.raises(ValueError, match=r"^solve_surrogate: divergence=4 must be one of \(1, 2, 3\)$"):
        solvers.solve_surrogate(phi, q_values, 0.5, 4, np.ones(2))


def test_surrogate_names_an_unknown_divergence():
    table = torch.zeros((2, 3), dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^surrogate: divergence=0 must be one of \(1, 2, 3\)$"):
        solvers.surrogate(table, table, table, torch.ones(2, dtype=torch.float64), 0.5, 0)


# --------------------------------------------------------------------------------------------
# Solvers
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("divergence", [1, 2, 3])
def test_solvers_are_invariant_to_huge_per_state_logit_shifts(divergence):
    """π_ϕ does not change when a state's logits are shifted, however far (the max-shift inside each
    softmax keeps exp() finite): D1/D2 return the same normalised logits; D3's θ' moves with ϕ
    (‖θ − ϕ‖² and π_θ are both shift-invariant), θ'(ϕ + c) = θ'(ϕ) + c."""
    rng = np.random.default_rng(11)
    phi, q_values, weights = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), 4 * rng.dirichlet(np.ones(4))
    shift = np.array([[800.0], [-800.0], [0.0], [400.0]])   # exp(±800) overflows / underflows float64
    plain = solvers.solve_surrogate(phi, q_values, 0.3, divergence, weights)
    shifted = solvers.solve_surrogate(phi + shift, q_values, 0.3, divergence, weights)
    expected = plain + shift if divergence == 3 else plain
    assert np.all(np.isfinite(shifted))
    np.testing.assert_allclose(shifted, expected, rtol=0, atol=1e-9)
    assert np.abs(plain - (phi if divergence == 3 else tabular.log_softmax(phi))).max() > 0.1  # θ' far from ϕ


def _two_action_d1(phi: np.ndarray, q_values: np.ndarray, lam: float) -> np.ndarray:
    """D1's policy when every state has two actions, action 1 the better (Q₁ − Q₀ = Δ > 0): with
    δ = μ − Q₁ the root of λπ₀/(δ + Δ) + λπ₁/δ = 1, i.e. δ² + (Δ − λ)δ − λπ₁Δ = 0, taken without
    cancellation; π' = (λπ₀/(δ + Δ), λπ₁/δ)."""
    pi = np.exp(phi - phi.max(axis=1, keepdims=True))
    pi /= pi.sum(axis=1, keepdims=True)
    gap = q_values[:, 1] - q_values[:, 0]
    b, c = gap - lam, lam * pi[:, 1] * gap
    root = np.sqrt(b * b + 4 * c)
    delta = np.where(b > 0, 2 * c / (b + root), (root - b) / 2)
    policy = np.stack([lam * pi[:, 0] / (delta + gap), lam * pi[:, 1] / delta], axis=1)
    return policy / policy.sum(axis=1, keepdims=True)


def test_d1_root_reaches_round_off_on_two_action_states():
    """The bisection's root μ_s reproduces the two-action closed form to 2e-14 per
    probability (the states include one where a root left one ulp off is 1e-13 away)."""
    rng = np.random.default_rng(5)
    phi = np.vstack([[[0.9818189768649392, -3.2942031003540397]], rng.normal(size=(20, 2))])
    low = rng.normal(size=20)
    q_values = np.vstack([[[-4.73303286802689, -4.238778481094838]],
                          np.stack([low, low + 0.2 + np.abs(rng.normal(size=20))], axis=1)])
    for lam in (0.04421671243980211, 0.3, 1.7):
        adapted = np.exp(solvers.solve_surrogate(phi, q_values, lam, 1))
        np.testing.assert_allclose(adapted, _two_action_d1(phi, q_values, lam), rtol=0, atol=2e-14)


def _d3_problem():
    rng = np.random.default_rng(3)
    return rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), rng.dirichlet(np.ones(5)), 0.5


def test_d3_solve_runs_scipy_without_a_warning():
    """The L-BFGS-B call is well formed (every option is one L-BFGS-B knows: no OptimizeWarning) and the
    result is stationary."""
    phi, q_values, weights, lam = _d3_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        theta = solvers.solve_surrogate(phi, q_values, lam, 3, weights)
    theta_t = torch.tensor(theta, requires_grad=True)
    value = solvers.surrogate(theta_t, torch.as_tensor(phi), torch.as_tensor(q_values), torch.as_tensor(weights),
                              lam, 3)
    assert torch.autograd.grad(value, theta_t)[0].abs().max() < 1e-10


def test_d3_keeps_the_quasi_newton_point_where_the_surrogate_is_not_locally_concave(monkeypatch):
    """Below Prop. 3's λ threshold the surrogate's Hessian can have a non-negative eigenvalue; there the
    Newton polish is skipped and the L-BFGS point is returned as it is. Here one state's block has its
    top eigenvalue at +0.5 (in [0, 1)), computed by autograd on Σ_a π_θ(a) Q(a) − λ‖θ − ϕ‖²."""
    q_values = np.array([[0.0, 5.0, 10.0], [1.0, -1.0, 0.5]])
    phi, weights = np.zeros((2, 3)), np.array([1.0, 0.3])
    point = np.array([[0.2, -0.1, 0.4], [0.1, 0.0, -0.3]])
    q0 = torch.as_tensor(q_values[0])
    gain_hessian = torch.autograd.functional.hessian(lambda t: (torch.softmax(t, -1) * q0).sum(),
                                                     torch.as_tensor(point[0])).numpy()
    lam = (np.linalg.eigvalsh(gain_hessian).max() - 0.5) / 2       # block 0: gain Hessian − 2λI
    assert lam > 0
    assert np.linalg.eigvalsh(gain_hessian - 2 * lam * np.eye(3)).max() == pytest.approx(0.5)
    monkeypatch.setattr(solvers.optimize, "minimize", lambda *args, **kwargs: SimpleNamespace(x=point.ravel()))
    kept = solvers.solve_surrogate(phi, q_values, lam, 3, weights)
    np.testing.assert_array_equal(kept, point)


# --------------------------------------------------------------------------------------------
# implicit_hypergradient
# --------------------------------------------------------------------------------------------
def _exact_problem(divergence: int):
    model, phi = tiny_model(), np.random.default_rng(1).normal(size=(4, 3))
    policy = tabular.softmax_policy(torch.as_tensor(phi))
    q_values, nu = tabular.evaluate(model, policy, GAMMA)[1].numpy(), tabular.visitation(model, policy, GAMMA).numpy()
    theta = solvers.solve_surrogate(phi, q_values, 0.5, divergence, nu)
    return model, phi, theta


@pytest.mark.parametrize("divergence", [1, 3])
def test_implicit_hypergradient_takes_q_and_weights_as_functions_of_phi(divergence):
    """Q and w given as callables of the ϕ leaf are differentiated through, exactly as the defaults
    (Q^{π_ϕ}, and ν^{π_ϕ} for D3 / ones for D1) are."""
    model, phi, theta = _exact_problem(divergence)
    default, _ = solvers.implicit_hypergradient(model, phi, theta, 0.5, divergence, GAMMA)

    def q_of(phi_t):
        return tabular.evaluate(model, tabular.softmax_policy(phi_t), GAMMA)[1]

    def weights_of(phi_t):
        if divergence == 3:
            return tabular.visitation(model, tabular.softmax_policy(phi_t), GAMMA)
        return torch.ones(phi_t.shape[0], dtype=torch.float64)

    given, info = solvers.implicit_hypergradient(model, phi, theta, 0.5, divergence, GAMMA, q_values=q_of,
                                                 weights=weights_of)
    np.testing.assert_allclose(given, default, rtol=0, atol=1e-12)
    assert info["stationarity"] < 1e-9 and np.abs(default).max() > 1e-3
    held, _ = solvers.implicit_hypergradient(model, phi, theta, 0.5, divergence, GAMMA,
                                             q_values=q_of(torch.as_tensor(phi)),
                                             weights=weights_of(torch.as_tensor(phi)))
    assert np.abs(held - default).max() > 1e-4   # held constant, the ∇_ϕQ (and ∇_ϕν) terms drop


@pytest.mark.parametrize("divergence", [1, 2, 3])
def test_implicit_hypergradient_computes_float32_tables_in_float64(divergence):
    model, phi, theta = _exact_problem(divergence)
    phi32, theta32 = phi.astype(np.float32), theta.astype(np.float32)
    from32, _ = solvers.implicit_hypergradient(model, phi32, theta32, 0.5, divergence, GAMMA)
    from64, _ = solvers.implicit_hypergradient(model, phi32.astype(np.float64), theta32.astype(np.float64), 0.5,
                                               divergence, GAMMA)
    assert from32.dtype == np.float64
    np.testing.assert_allclose(from32, from64, rtol=0, atol=1e-7)


def test_implicit_hypergradients_default_cg_budget_is_200_iterations():
    """A 360-unknown D1 system whose states are weighted over six decades: CG is still moving at
    iteration 200, so the default budget is visible in the result."""
    rng = np.random.default_rng(8)
    phi, q_values = rng.normal(size=(120, 3)), rng.normal(size=(120, 3))
    weights = torch.as_tensor(10.0 ** rng.uniform(-6, 0, size=120))
    theta = solvers.solve_surrogate(phi, q_values, 0.5, 1)
    outer = rng.normal(size=(120, 3))
    outer = torch.as_tensor(outer - outer.mean(axis=1, keepdims=True))   # orthogonal to per-state shifts
    kwargs = {"q_values": torch.as_tensor(q_values), "weights": weights, "outer_gradient": outer}

    def run(*budget):
        return solvers.implicit_hypergradient(None, phi, theta, 0.5, 1, GAMMA, *budget, **kwargs)

    default, default_info = run()
    at_200, info_200 = run(200)
    at_201, info_201 = run(201)
    np.testing.assert_array_equal(default, at_200)
    assert default_info == info_200
    assert info_201["cg_residual"] != info_200["cg_residual"] and not np.array_equal(at_201, at_200)


@pytest.mark.parametrize("logit_gap", [20.0, 38.0, 60.0, 230.0, 700.0, 800.0])
def test_d1_is_exact_where_the_best_action_has_almost_no_mass(logit_gap):
    """The root is found as δ = μ − max Q, so a best action with mass e^−gap (down to 1e-304) keeps
    its share (one that underflows to 0, past a gap of 745, is taken at the smallest float):
    every probability within 1e-15 of the two-action closed form, a float64 probability's
    own precision (it drifted by 1e-2 at a logit gap of 36 and was NaN from 38). In the limit the
    adapted policy is (½, ½) on ϕ = (0, −g), Q = (0, 1), λ = ½, and on Q = (−2, 0), λ = 1."""
    phi = np.array([[0.0, -logit_gap], [0.0, -logit_gap], [0.3, -logit_gap / 2]])
    q_values = np.array([[0.0, 1.0], [-2.0, 0.0], [-1.0, 3.0]])
    for lam in (0.5, 1.0):
        adapted = np.exp(solvers.solve_surrogate(phi, q_values, lam, 1))
        assert np.all(np.isfinite(adapted))
        if logit_gap < 745.0:  # past it the closed form's own π₁ underflows to 0
            np.testing.assert_allclose(adapted, _two_action_d1(phi, q_values, lam), rtol=0, atol=1e-15)
    if logit_gap >= 60.0:
        np.testing.assert_allclose(np.exp(solvers.solve_surrogate(phi[:1], q_values[:1], 0.5, 1)), [[0.5, 0.5]],
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.exp(solvers.solve_surrogate(phi[1:2], q_values[1:2], 1.0, 1)), [[0.5, 0.5]],
                                   rtol=0, atol=1e-12)


def test_d1_solve_emits_no_warning():
    """The D1 solve is warning-free on ordinary states, on a best action whose mass underflows (logit
    gap 800: the floor at the smallest normal float), where δ ≈ λπ_ϕ(best) is 1e-310 to 1e-304 (subnormal at
    λ = 0.04) and where a Q gap is 1e200."""
    phi = np.array([[0.3, -1.2, 0.5], [0.0, -800.0, -2.0], [0.0, -700.0, 1.0], [0.0, 0.5, -0.5]])
    q_values = np.array([[0.2, -0.4, 1.1], [0.0, 1.0, -1.0], [0.0, 1.0, 0.5], [0.0, -1e200, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for lam in (0.04, 0.5, 3.0):
            assert np.all(np.isfinite(solvers.solve_surrogate(phi, q_values, lam, 1)))


def test_d1_normalises_each_state_on_its_own_in_a_large_table():
    """In a 4096-state table each state's adapted policy is normalised by its own sum: an action whose
    adapted probability is about 1e-309 (π_ϕ ≈ e^−705, λ = 0.01, gap 5 to 10) keeps its log-probability
    to 1e-12 of the two-action closed form (a normalisation by the whole table's sum, 4096, pushes it
    deeper into the subnormals and loses about 1e-10 of it)."""
    rng = np.random.default_rng(2)
    states = 4096
    phi = np.stack([-705.0 + rng.uniform(0.0, 3.0, states), np.zeros(states)], axis=1)
    q_values = np.stack([np.zeros(states), 5.0 + rng.uniform(0.0, 5.0, states)], axis=1)
    expected = np.log(_two_action_d1(phi, q_values, 0.01))
    assert expected[:, 0].max() < np.log(3e-308)   # every state's at most about the smallest normal float
    np.testing.assert_allclose(solvers.solve_surrogate(phi, q_values, 0.01, 1), expected, rtol=0, atol=1e-12)


def test_d1_is_finite_for_a_tiny_lambda_when_the_best_action_has_no_mass():
    """λ = 1e-16 with the best action's mass underflowed (logit gap 800): λ·π_ϕ(best) is below the
    smallest float, and the adapted policy is its limit, about (λ, 1 − λ) (δ ≈ λπ_ϕ(best) → 0, so the
    best action's share λπ_ϕ/δ → 1). It was NaN (the bracket's low end underflowed to 0), with a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adapted = np.exp(solvers.solve_surrogate(np.array([[0.0, -800.0]]), np.array([[0.0, 1.0]]), 1e-16, 1))
    assert np.all(np.isfinite(adapted))
    np.testing.assert_allclose(adapted, [[1e-16, 1.0]], rtol=0, atol=1e-15)


def test_d1_best_actions_share_what_is_left_in_proportion_to_their_prior_when_their_term_underflows():
    """λ = 1e-300 and two tied best actions with π_ϕ ∝ (e⁻⁶⁰, e⁻⁶¹): λ·π_ϕ underflows, the third action
    keeps λπ_ϕ/(δ + gap) = 1e-300 / 3 (its π_ϕ is 1 to round-off, its gap 3, δ below every float), and
    the best two split the rest e : 1, as their terms λπ_ϕ/δ do. A state without underflow in the same
    table is solved exactly as alone, bit for bit (the limit touches only the states that need it)."""
    phi = np.array([[0.0, -60.0, -61.0], [0.3, -1.2, 0.5]])
    q_values = np.array([[-2.0, 1.0, 1.0], [0.2, -0.4, 1.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        together = solvers.solve_surrogate(phi, q_values, 1e-300, 1)
        alone = solvers.solve_surrogate(phi[1:], q_values[1:], 1e-300, 1)
    adapted = np.exp(together[0])
    np.testing.assert_allclose(adapted[0], 1e-300 / 3.0, rtol=1e-12, atol=0)
    np.testing.assert_allclose(adapted[1:], [np.e / (1 + np.e), 1 / (1 + np.e)], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(together[1:], alone)


def test_d1_limit_leaves_the_best_actions_exactly_what_the_others_do_not_take():
    """The limit with the other actions' share not negligible: λ = 1e-300 against Q gaps of 2e-300 and
    4e-300, so the other action keeps λπ_ϕ/gap = ½ and ¼ (π_ϕ = 1 to round-off), and the two tied best
    actions split the other ½ and ¾ e : 1. Each state's share is its own (two such states in one table)."""
    phi = np.array([[0.0, -60.0, -61.0], [0.0, -60.0, -61.0]])
    q_values = np.array([[0.0, 2e-300, 2e-300], [0.0, 4e-300, 4e-300]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        adapted = np.exp(solvers.solve_surrogate(phi, q_values, 1e-300, 1))
    split = np.array([np.e / (1 + np.e), 1 / (1 + np.e)])
    np.testing.assert_allclose(adapted, [[0.5, *(0.5 * split)], [0.25, *(0.75 * split)]], rtol=0, atol=1e-15)
