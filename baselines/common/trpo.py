"""The TRPO step, written once: conjugate gradient, Hessian- and Fisher-vector products by double
backpropagation and a backtracking line search on a KL trust region (Schulman et al. 2015, App. C).
CG and the Hessian products also serve BO-MRL's implicit hypergradient (`baselines.bomrl_solvers`).

`trpo_step(params, loss_fn, kl_fn, ...)` is functional: it takes a dict of parameter tensors,
a differentiable surrogate `loss_fn(params) -> scalar` (minimised) and `kl_fn(params) -> scalar`
(mean KL from the old policy, zero with zero gradient at `params`), and returns the new dict.
MAML-TRPO passes losses that run the inner adaptation inside, so the Fisher-vector products are
those of the *adapted* policies with respect to the meta-parameters (as in pytorch-maml-rl).
Defaults are pytorch-maml-rl's: max_kl 0.01, 10 CG iterations, damping 1e-5, 15 line-search
steps with ratio 0.8.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch

from baselines.common.policies import Params, flat

__all__ = ["backtracking_line_search", "conjugate_gradient", "fisher_vector_product", "flat_rows",
           "hessian_vector_product", "trpo_step", "unflatten"]


def conjugate_gradient(matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iterations: int = 10,
                       tolerance: float = 1e-10) -> torch.Tensor:
    """Approximate solution x of A x = b for symmetric positive definite A given as `matvec`.

    `b` is one vector (n,), or independent systems stacked as rows (T, n) of a block-diagonal A
    (`matvec` maps rows to rows): each row then runs its own CG (its own step sizes, stopping when its
    ‖r‖² < `tolerance`), and a row that meets non-positive curvature stops where it is (at its first
    iteration: x = b, the steepest-ascent direction), as truncated CG does on an indefinite matrix."""
    if b.dim() == 2:
        return _conjugate_gradient_rows(matvec, b, iterations, tolerance)
    x = torch.zeros_like(b)
    residual = b.clone()
    direction = b.clone()
    rr = residual @ residual
    for _ in range(iterations):
        if rr < tolerance:
            break
        a_dir = matvec(direction)
        step = rr / (direction @ a_dir)
        x = x + step * direction
        residual = residual - step * a_dir
        rr_new = residual @ residual
        direction = residual + (rr_new / rr) * direction
        rr = rr_new
    return x


def _conjugate_gradient_rows(matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iterations: int,
                             tolerance: float) -> torch.Tensor:
    x, residual, direction = torch.zeros_like(b), b.clone(), b.clone()
    rr = (residual * residual).sum(-1, keepdim=True)
    active = rr >= tolerance
    for iteration in range(iterations):
        if not active.any():
            break
        a_dir = matvec(direction)
        curvature = (direction * a_dir).sum(-1, keepdim=True)
        negative = active & (curvature <= 0)
        if iteration == 0:
            x = torch.where(negative, b, x)
        active = active & ~negative
        step = torch.where(active, rr / torch.where(active, curvature, 1.0), 0.0)
        x = x + step * direction
        residual = residual - step * a_dir
        rr_new = (residual * residual).sum(-1, keepdim=True)
        direction = torch.where(active, residual + (rr_new / torch.where(active, rr, 1.0)) * direction, direction)
        rr = rr_new
        active = active & (rr >= tolerance)
    return x


def hessian_vector_product(gradients: Sequence[torch.Tensor], wrt: Sequence[torch.Tensor], damping: float = 0.0,
                           rows: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """v ↦ (∇²f + damping·I) v by double backpropagation, from `gradients` = ∇f w.r.t. the leaves `wrt`
    (taken with create_graph=True). Vectors are flat (n,) over the leaves in order, or with `rows`
    (leaves stacked on a leading task axis T, f a sum of per-task terms, so ∇²f is block-diagonal)
    (T, n), one row per task."""
    if not rows:
        flat_grad = flat(gradients)

        def product(vector: torch.Tensor) -> torch.Tensor:
            hvp = torch.autograd.grad(flat_grad @ vector, list(wrt), retain_graph=True)
            return flat(hvp) + damping * vector

        return product

    def row_product(vectors: torch.Tensor) -> torch.Tensor:
        hvp = torch.autograd.grad(list(gradients), list(wrt), grad_outputs=unflatten(vectors, wrt), retain_graph=True)
        return flat_rows(hvp) + damping * vectors

    return row_product


def flat_rows(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """(T, n): task-stacked tensors (T, ...) flattened per task and concatenated."""
    return torch.cat([t.reshape(t.shape[0], -1) for t in tensors], dim=1)


def unflatten(vector: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """`vector` (n,) or (T, n) cut into tensors shaped like `like` (the inverse of `flat` / `flat_rows`)."""
    rows = 1 if vector.dim() == 1 else vector.shape[0]
    chunks = torch.split(vector, [t.numel() // rows for t in like], dim=-1)
    return [c.reshape(t.shape) for c, t in zip(chunks, like, strict=True)]


def fisher_vector_product(kl_fn: Callable[[Params], torch.Tensor], params: Params,
                          damping: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """v ↦ (∇²KL + damping·I) v at `params` by double backpropagation."""
    leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    grads = torch.autograd.grad(kl_fn(leaves), list(leaves.values()), create_graph=True)
    return hessian_vector_product(grads, list(leaves.values()), damping)


def backtracking_line_search(evaluate: Callable[[float], tuple[float, float]], loss_before: float, max_kl: float,
                             max_steps: int = 15, ratio: float = 0.8) -> float:
    """The largest fraction ratio^k (k < max_steps) of the full step whose (loss, kl) =
    `evaluate(fraction)` improves the loss within the KL bound; 0.0 when none does."""
    fraction = 1.0
    for _ in range(max_steps):
        loss, kl = evaluate(fraction)
        if loss < loss_before and kl <= max_kl:
            return fraction
        fraction *= ratio
    return 0.0


def _shifted(params: Mapping[str, torch.Tensor], vector: torch.Tensor) -> Params:
    out, offset = {}, 0
    for name, value in params.items():
        size = value.numel()
        out[name] = value.detach() + vector[offset:offset + size].view_as(value)
        offset += size
    return out


def trpo_step(params: Params, loss_fn: Callable[[Params], torch.Tensor], kl_fn: Callable[[Params], torch.Tensor], *,
              max_kl: float = 0.01, damping: float = 1e-5, cg_iterations: int = 10, ls_max_steps: int = 15,
              ls_ratio: float = 0.8,
              fisher_product: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[Params, dict[str, float]]:
    """One natural-gradient step with a KL trust region; returns (new params, diagnostics).
    `fisher_product` (v ↦ (∇²kl + damping·I) v at `params`) replaces the double backpropagation
    through `kl_fn` when the caller has a cheaper exact form (MAML: `estimators.adapted_fisher_product`).
    The line search evaluates without building graphs."""
    leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
    loss_before = loss_fn(leaves)
    gradient = flat(torch.autograd.grad(loss_before, list(leaves.values())))
    fvp = fisher_product if fisher_product is not None else fisher_vector_product(kl_fn, leaves, damping)
    direction = conjugate_gradient(fvp, -gradient, cg_iterations)
    curvature = direction @ fvp(direction)
    scale = torch.sqrt(2.0 * max_kl / curvature.clamp(min=1e-12)).detach()
    full_step = (scale * direction).detach()

    def evaluate(fraction: float) -> tuple[float, float]:
        trial = _shifted(params, fraction * full_step)
        with torch.no_grad():  # losses that adapt inside take their inner gradients without a graph
            return float(loss_fn(trial)), float(kl_fn(trial))

    fraction = backtracking_line_search(evaluate, float(loss_before.detach()), max_kl, ls_max_steps, ls_ratio)
    new_params = _shifted(params, fraction * full_step)
    return new_params, {"loss_before": float(loss_before.detach()), "step_fraction": fraction}
