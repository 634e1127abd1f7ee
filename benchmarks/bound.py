"""BO-MRL's Theorem 3/4 optimality-gap bound on a tabular task family, checked against measured gaps.

    python -m benchmarks.bound bomrl-frozenlake [--preset bomrl-high] [--results results] [--quick]

For each divergence i of the experiment's BO-MRL agents (docs/sources/bomrl.md §4.2, §5, §6.1):
- π*_τ: the "optimal softmax policy" π ∝ exp(β A*_τ(s, ·)) with β doubled until J(π*_β) ≥ J* − 1e-3
  (a deterministic optimum has infinite D1/D3 distance under softmax; docs/sources/bomrl.md §6.1 fix);
- Var_i = min_θ mean_τ D²_{τ,i}(π_θ, π*_τ), D² = Σ_s ν_τ^{π_θ}(s) d_i²(s) for i = 1, 2 (d1 = KL(π_θ‖π*),
  d2 = KL(π*‖π_θ)) and ‖θ − θ*_τ‖² for i = 3 (per-state logit shifts removed: the min over Θ*_τ),
  by L-BFGS on exact ν; its argmin is the centre ϕ';
- A'_max = max_{τ, s, a} |A_τ^{π_ϕ'}(s, a)| (App. N.3), ε = min_{τ, non-terminal s} ν_τ^{π_ϕ'}(s);
- theorem bound (T → ∞, h_i term 0): 2(1+γ)A'/((1−γ)²ε)·Var_i (Thm 3, i = 1, 2) or
  (6+4γ)A'/((1−γ)²ε)·Var_3 (Thm 4, L1 = 1, L2 = 0); the proof's form for the λ actually used:
  (2γA'/((1−γ)²ε) + λ/(1−γ))·Var_i; and the theory λ (2A' or 6A')/((1−γ)ε).
Every setting (preset) of the experiment is checked, or the one `--preset` names. The measured gaps
are read from the experiment's results files of that preset (mean over seeds of the mean over tasks of
J* − R_k). Writes `bound-<preset>.json` (or `bound-<preset>-quick.json`) and one PNG per divergence
next to them.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from baselines.common import tabular
from baselines.common.envs import EnvProvider
from baselines.common.oracles import optimal_return, optimal_values, policy_return
from metarl_envs.toy_text.tabular import TabularModel

__all__ = ["bound_terms", "measured_gaps", "optimal_softmax_logits", "task_variance"]


def optimal_softmax_logits(model: TabularModel, discount: float, tolerance: float = 1e-3) -> tuple[np.ndarray, float]:
    """(β A*(s, ·), β) with the smallest doubling β such that J(softmax(β A*)) ≥ J* − tolerance."""
    values, _ = optimal_values(model, discount)
    q_star = model.expected_reward + discount * model.live_transition @ values
    advantage = q_star - values[:, None]
    target, beta = optimal_return(model, discount) - tolerance, 1.0
    while beta < 1e6:
        logits = beta * advantage
        policy = np.exp(logits - logits.max(axis=1, keepdims=True))
        if policy_return(model, policy / policy.sum(axis=1, keepdims=True), discount) >= target:
            return logits, beta
        beta *= 2.0
    raise RuntimeError("optimal_softmax_logits: no β ≤ 1e6 reaches J* − tolerance")


def _distance_sq(model: TabularModel, theta: torch.Tensor, target: torch.Tensor, divergence: int,
                 discount: float) -> torch.Tensor:
    if divergence == 3:
        centred = (theta - theta.mean(1, keepdim=True)) - (target - target.mean(1, keepdim=True))
        return (centred ** 2).sum()
    log_pi, log_star = torch.log_softmax(theta, -1), torch.log_softmax(target, -1)
    nu = tabular.visitation(model, log_pi.exp(), discount)
    if divergence == 1:
        per_state = (log_pi.exp() * (log_pi - log_star)).sum(1)
    else:
        per_state = (log_star.exp() * (log_star - log_pi)).sum(1)
    return (nu * per_state).sum()


def task_variance(models: list[TabularModel], targets: list[np.ndarray], divergence: int,
                  discount: float, iterations: int = 300) -> tuple[float, np.ndarray]:
    """(Var_i, the centre ϕ') by L-BFGS from the mean of the targets."""
    theta = torch.tensor(np.mean(targets, axis=0), requires_grad=True)
    target_t = [torch.as_tensor(t) for t in targets]
    optimizer = torch.optim.LBFGS([theta], max_iter=iterations, tolerance_grad=1e-12, tolerance_change=1e-14,
                                  line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.stack([_distance_sq(m, theta, t, divergence, discount)
                            for m, t in zip(models, target_t, strict=True)]).mean()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        value = torch.stack([_distance_sq(m, theta, t, divergence, discount)
                             for m, t in zip(models, target_t, strict=True)]).mean()
    return float(value), theta.detach().numpy()


def bound_terms(models: list[TabularModel], divergence: int, lam: float, discount: float) -> dict[str, Any]:
    """Every term of the Theorem 3 (i = 1, 2) / Theorem 4 (i = 3) bound; see the module docstring."""
    softmax_optima = [optimal_softmax_logits(m, discount) for m in models]
    variance, centre = task_variance(models, [logits for logits, _ in softmax_optima], divergence, discount)
    a_max, epsilon = 0.0, np.inf
    for model in models:
        policy = torch.softmax(torch.as_tensor(centre), -1)
        values, q_values = tabular.evaluate(model, policy, discount)
        live = ~model.terminal_mask
        a_max = max(a_max, float(np.abs((q_values - values[:, None]).numpy()[live]).max()))
        epsilon = min(epsilon, float(tabular.visitation(model, policy, discount).numpy()[live].min()))
    scale = a_max / ((1 - discount) ** 2 * epsilon)
    constant = 2 * (1 + discount) if divergence in (1, 2) else 6 + 4 * discount
    return {"divergence": divergence, "lam": lam, "discount": discount, "variance": variance,
            "a_max_centre": a_max, "epsilon_centre": epsilon,
            "softmax_beta": [beta for _, beta in softmax_optima],
            "bound_theorem": constant * scale * variance,
            "bound_proof_form_at_lam": (2 * discount * scale + lam / (1 - discount)) * variance,
            "theory_lam": (2.0 if divergence in (1, 2) else 6.0) * a_max / ((1 - discount) * epsilon)}


def measured_gaps(folder: Path, variant: str, preset: str) -> dict[str, list[float]]:
    """label → mean over seeds of the mean optimality gap after k = 0..K steps, on `preset`."""
    from benchmarks.results import ResultError, load_result, mean_optimality_gaps

    per_label: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    for path in sorted(folder.glob("*.json")):
        try:
            record = load_result(path)
        except ResultError:
            continue
        gaps = mean_optimality_gaps(record.meta_test)
        if record.variant == variant and record.env.preset == preset and gaps is not None:
            per_label[record.agent.label].append(gaps)
    return {label: list(np.mean(rows, axis=0)) for label, rows in per_label.items()}


def _plot(path: Path, title: str, gaps: dict[str, list[float]], divergence: int, terms: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label in (f"BO-MRL ({divergence})", f"Random init ({divergence})", "MAML"):
        if label in gaps:
            left.plot(range(len(gaps[label])), gaps[label], marker="o", label=label)
    left.axhline(0.0, color="k", linestyle="--", label="optimal task-specific policies")
    left.set(xlabel="number of policy adaptation steps", ylabel="expected optimality gap J* − J", title=title)
    left.legend()
    bars = {"no adaptation": gaps.get(f"BO-MRL ({divergence})", [np.nan])[0],
            f"one-time ({divergence})": gaps.get(f"BO-MRL ({divergence})", [np.nan, np.nan])[1],
            "one step of PG (MAML)": gaps.get("MAML", [np.nan, np.nan])[1]}
    right.bar(list(bars), list(bars.values()), color=["0.6", "tab:blue", "tab:orange"])
    right.axhline(terms["bound_theorem"], color="r", linestyle="--", label="Theorem bound")
    right.axhline(terms["bound_proof_form_at_lam"], color="m", linestyle=":", label="proof form at λ")
    if terms["bound_theorem"] > 20 * max(abs(v) for v in bars.values() if np.isfinite(v)):
        right.set_yscale("log")
    right.set(ylabel="expected optimality gap", title=f"bound check, Alg({divergence})")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The bound report of every checked setting, by preset."""
    from benchmarks.experiments import EXPERIMENTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--preset", help="check this setting only (default: every setting)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    parts = [part.resolve(args.quick) for part in EXPERIMENTS[args.experiment].split()
             if args.preset in (None, part.preset)]
    if not parts:
        raise SystemExit(f"{args.experiment} has no setting with preset {args.preset!r}")
    return {part.preset: _check_setting(part, args.results, args.quick) for part in parts}


def _check_setting(experiment: Any, results: Path, quick: bool) -> dict[str, Any]:
    """The bound report of one single-setting experiment (resolved), written beside its results."""
    import metarl_envs

    variant, folder, suffix = ("quick" if quick else "full"), results / experiment.name, "-quick" if quick else ""
    gaps = measured_gaps(folder, variant, experiment.preset)
    if not gaps:
        raise SystemExit(f"{folder} holds no valid {variant} result of {experiment.name} on preset "
                         f"{experiment.preset!r}: run `metarl-bench run {experiment.name}{' --quick' if quick else ''}"
                         f" --out {results}` first")
    tasks = list(metarl_envs.task_set(experiment.env_id, "train", experiment.preset))
    envs = EnvProvider(experiment.env_id, experiment.env_kwargs)
    models = [envs.model(task) for task in tasks]
    report: dict[str, Any] = {"experiment": experiment.name, "preset": experiment.preset, "variant": variant,
                              "gaps": gaps, "bounds": []}
    for spec in experiment.agents:
        if spec.agent != "baselines.bomrl:BOMRL" or spec.config.get("meta_learn", True) is False:
            continue
        divergence = int(spec.config["divergence"])
        terms = bound_terms(models, divergence, float(spec.config["lam"]), experiment.protocol.discount)
        one_time = gaps.get(spec.label, [np.nan, np.nan])[1]
        one_step_pg = gaps.get("MAML", [np.nan, np.nan])[1]
        terms.update({"one_time_gap": one_time, "one_step_pg_gap": one_step_pg,
                      "one_time_within_bound": bool(one_time <= terms["bound_theorem"]),
                      "one_step_pg_above_bound": bool(one_step_pg > terms["bound_theorem"])})
        report["bounds"].append(terms)
        folder.mkdir(parents=True, exist_ok=True)
        _plot(folder / f"bound-{experiment.preset}-alg{divergence}{suffix}.png",
              f"{experiment.name} ({experiment.preset}), Alg({divergence})", gaps, divergence, terms)
        print(f"Alg({divergence}) λ={terms['lam']}: Var={terms['variance']:.4g} A'={terms['a_max_centre']:.4g} "
              f"ε={terms['epsilon_centre']:.4g} bound={terms['bound_theorem']:.4g} "
              f"(proof form at λ: {terms['bound_proof_form_at_lam']:.4g}; theory λ={terms['theory_lam']:.4g}) | "
              f"gap one-time={one_time:.4f}, one PG step={one_step_pg:.4f}")
    (folder / f"bound-{experiment.preset}{suffix}.json").write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
