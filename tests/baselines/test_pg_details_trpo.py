"""`baselines.common.trpo` in detail: the documented defaults of `trpo_step` and the line search
(max-kl 0.01, damping 1e-5, 10 CG iterations, 15 backtracking steps × 0.8), the bounds of the
line search (a strict loss decrease, a KL on the bound accepted), a caller's Fisher product used
as given, and the row-wise CG's stopping rules, against closed forms in float64."""

import numpy as np
import pytest
import torch

from baselines.common.trpo import backtracking_line_search, conjugate_gradient, hessian_vector_product, trpo_step

DIMENSION = 12
EIGENVALUES = torch.logspace(-1.3, 0.7, DIMENSION, dtype=torch.float64)   # 0.05 … 5: CG needs all 12 steps
ROTATION = torch.linalg.qr(torch.randn(DIMENSION, DIMENSION, generator=torch.Generator().manual_seed(0),
                                       dtype=torch.float64))[0]
FISHER = ROTATION @ torch.diag(EIGENVALUES) @ ROTATION.T
GRADIENT = torch.randn(DIMENSION, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
START = torch.linspace(-1.0, 1.0, DIMENSION, dtype=torch.float64)


def krylov_solution(matrix: torch.Tensor, rhs: torch.Tensor, size: int) -> torch.Tensor:
    """argmin over the Krylov space K_size(A, b) of ½xᵀAx − bᵀx (what `size` exact CG steps give),
    on an orthonormal basis built by Arnoldi with full re-orthogonalisation."""
    basis = [rhs / rhs.norm()]
    for _ in range(size - 1):
        vector = matrix @ basis[-1]
        for _ in range(2):
            for q in basis:
                vector = vector - (q @ vector) * q
        basis.append(vector / vector.norm())
    q = torch.stack(basis, dim=1)
    return q @ torch.linalg.solve(q.T @ matrix @ q, q.T @ rhs)


def quadratic_problem():
    """loss(x) = gᵀ(x − x0) + 3 (linear: any step along a descent direction improves it) and
    kl(x) = ½ (x − x0)ᵀ F (x − x0), zero with zero gradient at x0."""
    params = {"x": START.clone()}

    def loss(p):
        return GRADIENT @ (p["x"] - START) + 3.0

    def kl(p):
        delta = p["x"] - START
        return 0.5 * delta @ FISHER @ delta

    return params, loss, kl


def test_trpo_step_defaults_are_max_kl_0_01_damping_1e_5_and_ten_cg_iterations():
    params, loss, kl = quadratic_problem()
    new, info = trpo_step(params, loss, kl)
    damped = FISHER + 1e-5 * torch.eye(DIMENSION, dtype=torch.float64)
    direction = krylov_solution(damped, -GRADIENT, 10)
    expected = START + torch.sqrt(2 * 0.01 / (direction @ damped @ direction)) * direction
    eleven = krylov_solution(damped, -GRADIENT, 11)
    assert float((eleven - direction).norm() / direction.norm()) > 1e-3, "10 and 11 CG steps must differ here"
    np.testing.assert_allclose(new["x"].numpy(), expected.numpy(), rtol=1e-7, atol=1e-9)
    assert info == {"loss_before": 3.0, "step_fraction": 1.0}


def test_trpo_step_line_search_defaults_are_fifteen_steps_of_ratio_0_8():
    params, _, kl = quadratic_problem()
    tried = []

    def worse_off_the_start(p):  # the line search (run without a graph) never sees an improvement
        if torch.is_grad_enabled():
            return GRADIENT @ (p["x"] - START) + 1.0
        tried.append(p["x"] - START)
        return torch.tensor(2.0, dtype=torch.float64)

    new, info = trpo_step(params, worse_off_the_start, kl)
    fractions = [float(step.norm() / tried[0].norm()) for step in tried]
    np.testing.assert_allclose(fractions, [0.8 ** k for k in range(15)], rtol=1e-9)
    np.testing.assert_array_equal(new["x"].numpy(), START.numpy())
    assert info == {"loss_before": 1.0, "step_fraction": 0.0}


def test_trpo_step_uses_the_callers_fisher_product_instead_of_the_kl_hessian():
    params, loss, kl = quadratic_problem()
    new, _ = trpo_step(params, loss, kl, max_kl=0.02, fisher_product=lambda v: 4.0 * v)
    # F = 4I: direction d = −g/4, step √(2·0.02 / dᵀFd)·d = −g/‖g‖ · √(2·0.02/4)
    expected = START - GRADIENT / GRADIENT.norm() * np.sqrt(2 * 0.02 / 4.0)
    np.testing.assert_allclose(new["x"].numpy(), expected.numpy(), rtol=1e-9)


def test_backtracking_line_search_defaults_and_strict_improvement():
    fractions = []

    def no_improvement(fraction):
        fractions.append(fraction)
        return 5.0, 0.0            # the loss before, unchanged: not an improvement

    assert backtracking_line_search(no_improvement, 5.0, 0.01) == 0.0
    np.testing.assert_allclose(fractions, [0.8 ** k for k in range(15)], rtol=1e-12)


def test_backtracking_line_search_accepts_a_kl_on_the_bound():
    assert backtracking_line_search(lambda fraction: (4.0, 0.01), 5.0, 0.01) == 1.0


def test_backtracking_line_search_shrinks_geometrically():
    # improvement only below 0.7 of the full step: 1, 0.8 fail, 0.64 is taken
    assert backtracking_line_search(lambda f: (4.0 if f < 0.7 else 6.0, 0.0), 5.0, 0.01) == pytest.approx(0.64)


def test_hessian_vector_product_default_is_undamped():
    x = START.clone().requires_grad_(True)
    gradient = torch.autograd.grad(0.5 * x @ FISHER @ x, [x], create_graph=True)
    vector = GRADIENT.clone()
    np.testing.assert_allclose(hessian_vector_product(gradient, [x])(vector).detach().numpy(),
                               (FISHER @ vector).numpy(), rtol=1e-10, atol=1e-12)


def block_matvec(blocks: torch.Tensor):
    return lambda rows: torch.einsum("tab,tb->ta", blocks, rows)


def test_row_conjugate_gradient_runs_a_row_whose_residual_equals_the_tolerance():
    """‖b‖² = tolerance is not below it: the row takes its CG step (the docstring: stop when ‖r‖² < tol)."""
    blocks = 2.0 * torch.eye(2, dtype=torch.float64).expand(1, 2, 2)
    rhs = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    solution = conjugate_gradient(block_matvec(blocks), rhs, iterations=3, tolerance=1.0)
    np.testing.assert_array_equal(solution.numpy(), [[0.5, 0.0]])


@pytest.mark.parametrize(("tolerance", "expected"), [(0.5, [1.0, 1.0 / 3.0]), (0.6, [0.5, 0.5])])
def test_row_conjugate_gradient_stops_a_row_once_its_residual_is_below_the_tolerance(tolerance, expected):
    """A = diag(1, 3), b = (1, 1): one CG step gives x = (½, ½) with ‖r‖² = ½ exactly, the second the solution."""
    blocks = torch.diag(torch.tensor([1.0, 3.0], dtype=torch.float64)).expand(2, 2, 2)
    rhs = torch.ones(2, 2, dtype=torch.float64)
    solution = conjugate_gradient(block_matvec(blocks), rhs, iterations=5, tolerance=tolerance)
    np.testing.assert_allclose(solution.numpy(), [expected, expected], rtol=1e-12)
    alone = conjugate_gradient(lambda v: blocks[0] @ v, rhs[0], iterations=5, tolerance=tolerance)
    np.testing.assert_allclose(alone.numpy(), expected, rtol=1e-12)


def test_row_conjugate_gradient_stops_a_row_at_zero_curvature():
    blocks = torch.stack([torch.zeros(2, 2, dtype=torch.float64), torch.diag(torch.tensor([2.0, 4.0],
                                                                                       dtype=torch.float64))])
    rhs = torch.tensor([[1.0, -2.0], [2.0, 4.0]], dtype=torch.float64)
    solution = conjugate_gradient(block_matvec(blocks), rhs, iterations=4)
    np.testing.assert_array_equal(solution[0].numpy(), [1.0, -2.0])   # x = b, as at negative curvature
    np.testing.assert_allclose(solution[1].numpy(), [1.0, 1.0], rtol=1e-12)
