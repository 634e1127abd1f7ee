"""BO-MRL's regularized surrogate, its three within-task solvers and the implicit hypergradient
(docs/sources/bomrl.md §1.2, §1.4), on the differentiable tabular machinery of `baselines.common.tabular`.

- the surrogate for the three divergences (eq. 1, and eq. 2 with f_θ(s, a) = θ(s, a) for D3);
- its solvers: closed form for D2, a 1-D root search per state for D1, L-BFGS + Newton for D3;
- the hypergradient ∇_ϕ J(θ'(ϕ)) by implicit differentiation of the stationarity condition, with the
  Hessian inverse applied by conjugate gradient (`baselines.common.trpo.conjugate_gradient`; Prop. 1/2, App. J).
Softmax logits are invariant to a per-state shift; solvers return logits with log-sum-exp 0 per state.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from scipy import optimize

from baselines.common.tabular import (
    evaluate,
    expected_return,
    log_policy_logits,
    log_softmax,
    softmax,
    softmax_policy,
    visitation,
)
from baselines.common.trpo import conjugate_gradient, unflatten
from metarl_envs.toy_text.tabular import TabularModel

__all__ = ["DIVERGENCES", "Divergence", "implicit_gradient", "implicit_hypergradient", "solve_surrogate", "surrogate",
           "surrogate_hessian_blocks"]

Divergence = Literal[1, 2, 3]
"""1: KL(π_ϕ ‖ π_θ); 2: KL(π_θ ‖ π_ϕ); 3: ‖θ − ϕ‖² (docs/sources/bomrl.md §1.1: Alg(1), Alg(2), Alg(3))"""
DIVERGENCES: tuple[int, ...] = typing.get_args(Divergence)


# --------------------------------------------------------------------------------------------
# The regularized surrogate and its solvers
# --------------------------------------------------------------------------------------------
def surrogate(theta: torch.Tensor, phi: torch.Tensor, q_values: torch.Tensor, weights: torch.Tensor,
              lam: float, divergence: int) -> torch.Tensor:
    """Σ_s w(s) [Σ_a π_θ(a|s) Q(s, a) − λ d_i²(π_ϕ(·|s), π_θ(·|s))] for i = 1, 2; for i = 3 the
    penalty is λ‖θ − ϕ‖² (state-independent, so E_s d3² = ‖θ − ϕ‖², eq. 2 with f_θ = θ). A sum of
    per-state terms, so its θ-Hessian is block-diagonal (`surrogate_hessian_blocks`)."""
    log_pi, log_phi = torch.log_softmax(theta, -1), torch.log_softmax(phi, -1)
    gain = (weights * (log_pi.exp() * q_values).sum(dim=1)).sum()
    if divergence == 1:
        penalty = (weights * (log_phi.exp() * (log_phi - log_pi)).sum(dim=1)).sum()
    elif divergence == 2:
        penalty = (weights * (log_pi.exp() * (log_pi - log_phi)).sum(dim=1)).sum()
    elif divergence == 3:
        penalty = ((theta - phi) ** 2).sum()
    else:
        raise ValueError(f"surrogate: divergence={divergence!r} must be one of {DIVERGENCES}")
    return gain - lam * penalty


def _solve_d1(phi: np.ndarray, q_values: np.ndarray, lam: float) -> np.ndarray:
    """π'(a|s) = λ π_ϕ(a|s) / (μ_s − Q(s, a)), with μ_s the root of Σ_a λπ_ϕ/(μ − Q) = 1 in
    (max_a Q, max_a Q + λ] (docs/sources/bomrl.md §1.2 closed form), by a vectorised bisection.

    The unknown is δ_s = μ_s − max_a Q, not μ_s: where π_ϕ gives the best action little mass, δ_s is
    about that mass, far below the spacing of floats near max_a Q, and μ_s − Q(s, a_best) computed from
    μ_s would lose it (the adapted policy lost accuracy past a logit gap of about 20 and was NaN past
    38). The bisection is geometric (the bracket's ends are both positive), so 200 halvings reach δ_s to
    round-off across the whole float range, as small as the best action's mass. (A Newton step after it
    changed no probability by more than one ulp on 2000 random tables, and was dropped.)

    Where even λ·π_ϕ(best) underflows to 0 (λ below about 4e-16 with the best actions' mass at the floor,
    or a still smaller λ where their mass is larger), δ_s lies below every float and only its limit
    δ_s → 0 is computable: every other action keeps λπ_ϕ/(δ_s + gap), and the best actions share what is
    left, in proportion to their π_ϕ (their terms λπ_ϕ/δ_s have that ratio). Other states are untouched."""
    pi_phi = np.exp(phi - phi.max(axis=1, keepdims=True))
    pi_phi /= pi_phi.sum(axis=1, keepdims=True)
    # a mass that underflows to 0 (a logit gap past 745) counts as the smallest normal float, the limit it tends to
    pi_phi = np.maximum(pi_phi, np.finfo(float).tiny)
    q_max = q_values.max(axis=1)
    gaps = q_max[:, None] - q_values  # ≥ 0, exactly 0 at the best actions
    best = gaps == 0.0
    top_mass = np.where(best, pi_phi, 0.0).sum(axis=1)
    # f(low) ≥ 0 ≥ f(high), both > 0: ½λπ_ϕ(best) unless it underflows, then the smallest float
    low = np.maximum(0.5 * lam * top_mass, np.finfo(float).smallest_subnormal)
    high = np.full_like(q_max, lam)
    vanishing = lam * top_mass == 0.0  # λ·π_ϕ(best) underflowed: the best actions' terms are 0, take the limit

    def excess(delta: np.ndarray) -> np.ndarray:
        return (lam * pi_phi / (delta[:, None] + gaps)).sum(axis=1) - 1.0

    for _ in range(200):
        mid = np.sqrt(low) * np.sqrt(high)  # the geometric mean, without low · high underflowing
        positive = excess(mid) > 0
        low, high = np.where(positive, mid, low), np.where(positive, high, mid)
    delta = np.sqrt(low) * np.sqrt(high)
    policy = lam * pi_phi / (delta[:, None] + gaps)
    if vanishing.any():
        left_to_best = np.maximum(1.0 - np.where(best, 0.0, policy).sum(axis=1, keepdims=True), 0.0)
        policy = np.where(vanishing[:, None] & best, left_to_best * pi_phi / top_mass[:, None], policy)
    return log_policy_logits(policy)  # normalised there, state by state (the root leaves a sum of 1 to round-off)


def _solve_d3(phi: np.ndarray, q_values: np.ndarray, weights: np.ndarray, lam: float) -> np.ndarray:
    """argmax_θ Σ_s w(s) Σ_a π_θ(a|s) Q(s, a) − λ‖θ − ϕ‖² by L-BFGS from θ = ϕ (no closed form)."""

    def negative(flat: np.ndarray) -> tuple[float, np.ndarray]:
        theta = flat.reshape(phi.shape)
        pi = np.exp(theta - theta.max(axis=1, keepdims=True))
        pi /= pi.sum(axis=1, keepdims=True)
        mean_q = (pi * q_values).sum(axis=1, keepdims=True)
        value = (weights * mean_q[:, 0]).sum() - lam * ((theta - phi) ** 2).sum()
        grad = weights[:, None] * pi * (q_values - mean_q) - 2.0 * lam * (theta - phi)
        return -value, -grad.ravel()

    result = optimize.minimize(negative, phi.ravel(), jac=True, method="L-BFGS-B",
                               options={"maxiter": 20_000, "gtol": 1e-13, "ftol": 0.0})
    theta = result.x.reshape(phi.shape)
    for _ in range(3):  # Newton polish on the block-diagonal Hessian: stationarity to round-off
        pi = np.exp(theta - theta.max(axis=1, keepdims=True))
        pi /= pi.sum(axis=1, keepdims=True)
        centred = pi * (q_values - (pi * q_values).sum(axis=1, keepdims=True))
        grad = weights[:, None] * centred - 2.0 * lam * (theta - phi)
        hessian = weights[:, None, None] * (np.einsum("sa,ab->sab", centred, np.eye(phi.shape[1]))
                                            - np.einsum("sa,sb->sab", pi, centred)
                                            - np.einsum("sa,sb->sab", centred, pi))
        hessian -= 2.0 * lam * np.eye(phi.shape[1])
        if np.any(np.linalg.eigvalsh(hessian) >= 0):
            break  # not locally strongly concave (λ below Prop. 3's threshold): keep the L-BFGS point
        theta = theta - np.linalg.solve(hessian, grad[..., None])[..., 0]
    return theta


def solve_surrogate(phi: np.ndarray, q_values: np.ndarray, lam: float, divergence: int,
                    weights: np.ndarray | None = None) -> np.ndarray:
    """θ' = argmax of `surrogate` (Q held fixed: one-time adaptation). D1/D2 are per-state problems
    (eq. 1), so their solution does not depend on positive weights; D3 needs ν-weights."""
    if not lam > 0:
        raise ValueError(f"solve_surrogate: lam={lam!r} must be > 0")
    if divergence == 2:  # π' ∝ π_ϕ exp(Q/λ)  (App. L stationarity)
        return log_softmax(phi + q_values / lam)
    if divergence == 1:
        return _solve_d1(phi, q_values, lam)
    if divergence == 3:
        if weights is None:
            raise ValueError("solve_surrogate: divergence 3 needs the state weights ν^{π_ϕ}")
        return _solve_d3(phi, q_values, weights, lam)
    raise ValueError(f"solve_surrogate: divergence={divergence!r} must be one of {DIVERGENCES}")


# --------------------------------------------------------------------------------------------
# Implicit differentiation
# --------------------------------------------------------------------------------------------
def surrogate_hessian_blocks(theta: np.ndarray, phi: np.ndarray, q_values: np.ndarray, weights: np.ndarray,
                             lam: float, divergence: int) -> np.ndarray:
    """∇²_θθ of `surrogate`, one (A × A) block per state, in closed form. With π = softmax(θ_s),
    G(c) = diag(π∘c) − π(π∘c)ᵀ − (π∘c)πᵀ (c = x − πᵀx is the Hessian of Σ_a π_a x_a) and
    J = diag(π) − ππᵀ (the Hessian of log-sum-exp): D1 → wG(c_Q) − λwJ; D2 → wG(c_Q) − λw(G(c_v) + J)
    with v = θ − log π_ϕ; D3 → wG(c_Q) − 2λI."""

    def tilt(pi: np.ndarray, x: np.ndarray) -> np.ndarray:
        centred = pi * (x - (pi * x).sum(axis=1, keepdims=True))
        return (np.einsum("sa,ab->sab", centred, np.eye(x.shape[1])) - np.einsum("sa,sb->sab", pi, centred)
                - np.einsum("sa,sb->sab", centred, pi))

    pi = softmax(theta)
    w = weights[:, None, None]
    blocks = w * tilt(pi, q_values)
    lse_hessian = np.einsum("sa,ab->sab", pi, np.eye(pi.shape[1])) - np.einsum("sa,sb->sab", pi, pi)
    if divergence == 1:
        return blocks - lam * w * lse_hessian
    if divergence == 2:
        log_ratio = theta - log_softmax(phi)
        return blocks - lam * w * (tilt(pi, log_ratio) + lse_hessian)
    return blocks - 2.0 * lam * np.eye(pi.shape[1])


def implicit_hypergradient(model: TabularModel | None, phi: np.ndarray, theta_star: np.ndarray, lam: float,
                           divergence: int, discount: float, cg_iterations: int = 200,
                           q_values: torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None = None,
                           weights: torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None = None,
                           outer_gradient: torch.Tensor | None = None) -> tuple[np.ndarray, dict[str, float]]:
    """∇_ϕ J(θ'(ϕ)) where ∇_θ F(θ', ϕ) = 0, F = `surrogate`.

    Implicit function theorem: dθ'/dϕ = (−H)⁻¹ C with H = ∇²_θθ F and C = ∇²_θϕ F, so
    ∇_ϕ J = Cᵀ v with (−H) v = g = ∇_θ J(θ'); v by CG, then Cᵀ v = ∇_ϕ ⟨v, ∇_θ F⟩ (v held fixed).
    Defaults are exact: Q = Q^{π_ϕ} and (D3) w = ν^{π_ϕ} as differentiable functions of ϕ, so the
    ∇_ϕQ term of Prop. 1 and the ∇_ϕν term App. J.2 drops are both kept. Passing tensors instead
    (estimates) treats them as constants: the practical hypergradient of eq. 8. For D1/D2, H is
    singular along per-state logit shifts; g and C are orthogonal to them, so CG is consistent.
    """
    phi_t = torch.tensor(phi, dtype=torch.float64, requires_grad=True)
    theta_t = torch.tensor(theta_star, dtype=torch.float64, requires_grad=True)
    if q_values is None:
        q_t = evaluate(model, softmax_policy(phi_t), discount)[1]
    else:
        q_t = q_values(phi_t) if callable(q_values) else q_values
    if weights is None:
        w_t = (visitation(model, softmax_policy(phi_t), discount) if divergence == 3
               else torch.ones(phi.shape[0], dtype=torch.float64))
    else:
        w_t = weights(phi_t) if callable(weights) else weights
    if outer_gradient is None:
        outer_gradient = torch.autograd.grad(expected_return(model, theta_t, discount), theta_t)[0]
    grad_theta = torch.autograd.grad(surrogate(theta_t, phi_t, q_t, w_t, lam, divergence), theta_t,
                                     create_graph=True)[0]
    blocks = surrogate_hessian_blocks(theta_star, phi, q_t.detach().numpy(), w_t.detach().numpy(), lam, divergence)
    blocks = torch.as_tensor(blocks)

    def negative_hessian(vector: torch.Tensor) -> torch.Tensor:
        return -torch.einsum("sab,sb->sa", blocks, vector.view_as(theta_t)).ravel()

    rhs = outer_gradient.detach().ravel()
    (hyper,), info = implicit_gradient([grad_theta], [phi_t], negative_hessian, rhs, cg_iterations,
                                       tolerance=1e-24)  # on ‖r‖²
    return hyper.numpy(), {**info, "stationarity": float(torch.linalg.norm(grad_theta.detach()))}


def implicit_gradient(grad_theta: Sequence[torch.Tensor], phi: Sequence[torch.Tensor],
                      negative_hessian: Callable[[torch.Tensor], torch.Tensor], outer_gradient: torch.Tensor,
                      cg_iterations: int, tolerance: float = 1e-10) -> tuple[list[torch.Tensor], dict[str, float]]:
    """The implicit-function-theorem step both BO-MRL agents share (Prop. 1/2, eq. 8): with θ' a
    stationary point of F(·, ϕ), ∇_ϕ J(θ'(ϕ)) = ∇²_ϕθ F · v where (−∇²_θθ F) v = ∇_θ J(θ').

    `grad_theta` is ∇_θ F at θ' (built with create_graph=True, so it still depends on the leaves
    `phi`), `negative_hessian` the product v ↦ −∇²_θθ F v (flat vectors, or task rows for stacked θ:
    `trpo.unflatten`'s layouts) and `outer_gradient` = ∇_θ J(θ') in the same layout. v is found by
    CG (`trpo.conjugate_gradient`), then ∇_ϕ⟨v, ∇_θ F⟩ with v held fixed (one more backward pass).
    Returns (the hypergradient per leaf of `phi`, {"cg_residual": ‖−∇²F v − ∇J‖})."""
    solution = conjugate_gradient(negative_hessian, outer_gradient, cg_iterations, tolerance)
    residual = float(torch.linalg.norm(negative_hessian(solution) - outer_gradient))
    hyper = torch.autograd.grad(list(grad_theta), list(phi), unflatten(solution, grad_theta), allow_unused=True)
    hyper = [torch.zeros_like(p) if h is None else h for p, h in zip(phi, hyper, strict=True)]
    return hyper, {"cg_residual": residual}
