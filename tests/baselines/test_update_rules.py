"""Each policy-gradient agent's update rule, pinned end to end.

One call of an agent's public training step (`meta_train_step`) or meta-test round (`end_round`) must
move the parameters by exactly its paper's formula. The sampler is the agent's own; every batch it
returns is recorded (with the parameters it was collected with), and the expected parameters are
recomputed here from those batches in float64 with code of the test's own: the policy through
`torch.func.functional_call`, returns and GAE by explicit loops, the inner step, the meta-gradient
and the outer step written out from the papers' equations. Hyperparameters are deliberately
non-default (γ ≠ λ, step sizes ≠ their defaults) so that a swapped or ignored one shows.

- MAML (Finn et al. 2017, Alg. 3): θ'_i = θ + α∇L_i(θ; D_i), outer TRPO step on Σ_i L_i(θ'_i; D'_i)
  (natural gradient with a KL trust region and backtracking line search, Schulman et al. 2015 App. C).
- E-MAML (Stadie et al. 2018): + the score term c_i ∇log π_θ(D_i) on the pre-update batch.
- SG-MRL (Fallah et al. 2021, eqs. (12)-(13)): θ ← θ + (β/B) Σ_i [(I + α∇̃²J_i(θ, D_in)) ∇̃J_i(θ_i, D_o)
  + J̃_i(θ_i, D_o) Σ_{τ∈D_in} ∇log π(τ; θ)].
- MEMRL (Toghani et al. 2023, eqs. (16)-(17)): θ ← θ + β(ĝ − λ(θ − w)) K times, w ← w + αλ(mean θ̃ − w).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.common.returns import LinearFeatureBaseline
from baselines.common.sampler import TrajectoryBatch
from baselines.maml import MAML, MAMLConfig
from baselines.memrl import MEMRL, MEMRLConfig
from baselines.sgmrl import SGMRL, SGMRLConfig
from tests.baselines.trial import recorded_rounds

NAV = "MetaRL/Navigation2D-v0"
NAV_KWARGS = {"preset": "maml"}
GRID = "MetaRL/GridNavigation-v0"
GRID_KWARGS = {"preset": "memrl"}

Params = dict[str, torch.Tensor]


# --------------------------------------------------------------------------------------------
# Recording the agent's own sampler
# --------------------------------------------------------------------------------------------
def record_batches(agent) -> list[tuple[list[Params], TrajectoryBatch]]:
    """Wrap `agent.sampler.collect`: every call appends (per-task parameters, the batch returned)."""
    calls: list[tuple[list[Params], TrajectoryBatch]] = []
    original = agent.sampler.collect

    def collect(policy, params, tasks, episodes_per_task, rng):
        batch = original(policy, params, tasks, episodes_per_task, rng)
        per_task = [params] * len(tasks) if isinstance(params, Mapping) else list(params)
        calls.append(([double(p) for p in per_task], batch))
        return batch

    agent.sampler.collect = collect
    return calls


def double(params: Mapping[str, torch.Tensor]) -> Params:
    return {k: v.detach().clone().double() for k, v in params.items()}


def randomise(agent, seed: int, std: float = 0.3) -> None:
    """Give the policy non-trivial weights (so every term of the formulas is visible)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in agent.policy.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * std)


def assert_params_close(got: Mapping[str, torch.Tensor], want: Mapping[str, torch.Tensor], *,
                        rtol: float = 1e-4, atol: float = 1e-5, what: str = "") -> None:
    assert set(got) == set(want), what
    for name in want:
        torch.testing.assert_close(got[name].double(), want[name].double(), rtol=rtol, atol=atol,
                                   msg=lambda m, name=name: f"{what} {name}: {m}")


def flatten(params: Mapping[str, torch.Tensor], names: Sequence[str]) -> torch.Tensor:
    return torch.cat([params[k].reshape(-1) for k in names])


def unflatten(vector: torch.Tensor, like: Mapping[str, torch.Tensor]) -> Params:
    out, offset = {}, 0
    for name, value in like.items():
        out[name] = vector[offset:offset + value.numel()].view_as(value)
        offset += value.numel()
    return out


# --------------------------------------------------------------------------------------------
# The test's own estimators (float64)
# --------------------------------------------------------------------------------------------
def log_pi(policy, params: Mapping[str, torch.Tensor], obs: np.ndarray, actions: np.ndarray) -> torch.Tensor:
    """log π(a|s) per step, the network run by `functional_call` on the module's own forward."""
    obs_t = torch.as_tensor(obs, dtype=torch.float64)
    head = torch.func.functional_call(policy, {k: v for k, v in params.items() if k != "log_std"}, (obs_t,))
    if "log_std" not in params:  # categorical
        return torch.gather(torch.log_softmax(head, -1), -1, torch.as_tensor(actions).long()[..., None])[..., 0]
    log_std = params["log_std"].clamp(min=policy.min_log_std) + math.log(policy.action_scale)
    mean = head * policy.action_scale
    z = (torch.as_tensor(actions, dtype=torch.float64) - mean) / log_std.exp()
    return (-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def reward_to_go(batch: TrajectoryBatch, discount: float, *, from_start: bool) -> np.ndarray:
    """R_h = Σ_{l≥h} γ^{l−h} r_l, or γ^h R_h (discount counted from t = 0) with `from_start`."""
    out = np.zeros(batch.rewards.shape)
    horizon = batch.rewards.shape[-1]
    for index in np.ndindex(batch.rewards.shape[:-1]):
        for h in range(horizon):
            if batch.mask[index][h]:
                tail = batch.rewards[index][h:] * batch.mask[index][h:]
                out[index][h] = sum(discount**j * r for j, r in enumerate(tail)) * (discount**h if from_start else 1)
    return out


def gae_weights(batch: TrajectoryBatch, discount: float, gae_lambda: float, normalize: bool) -> np.ndarray:
    """GAE(γ, λ) (Schulman et al. 2016) on the linear feature baseline fitted to this batch's
    returns: δ_t = r_t + γV(s_{t+1}) − V(s_t), V(s_{t+1}) = 0 after termination and V(final obs)
    after truncation; A_t = Σ_k (γλ)^k δ_{t+k}; then per-task zero mean / unit std."""
    returns = reward_to_go(batch, discount, from_start=False)
    values, final_values = LinearFeatureBaseline().values(batch.observations, returns, batch.mask,
                                                          batch.final_observations, batch.mask.sum(-1))
    advantages = np.zeros(batch.rewards.shape)
    horizon = batch.rewards.shape[-1]
    for index in np.ndindex(batch.rewards.shape[:-1]):
        length = int(batch.mask[index].sum())
        running = 0.0
        for t in reversed(range(length)):
            if batch.terminated[index][t]:
                next_value = 0.0
            elif batch.truncated[index][t] or t + 1 >= horizon:
                next_value = final_values[index]
            else:
                next_value = values[index][t + 1]
            delta = batch.rewards[index][t] + discount * next_value - values[index][t]
            running = delta + discount * gae_lambda * running
            advantages[index][t] = running
    if normalize:
        for i in range(advantages.shape[0]):
            m = batch.mask[i]
            mean, std = advantages[i][m].mean(), advantages[i][m].std()
            advantages[i] = np.where(m, (advantages[i] - mean) / (std + 1e-8), 0.0)
    return advantages


def surrogate(policy, params: Mapping[str, torch.Tensor], batch: TrajectoryBatch, task: int, weights: np.ndarray,
              reduction: str, old_log_probs: torch.Tensor | None = None) -> torch.Tensor:
    """(1/|D|) Σ_τ ρ(τ) Σ_h log π(a_h|s_h) w_h of one task (π/π_old instead of log π when `old_log_probs`)."""
    mask = torch.as_tensor(batch.mask[task], dtype=torch.float64)
    terms = log_pi(policy, params, batch.observations[task], batch.actions[task])
    if old_log_probs is not None:
        terms = torch.exp(terms - old_log_probs)
    per_step = terms * torch.as_tensor(weights[task]) * mask
    if reduction == "episode_sum":
        return per_step.sum(-1).mean()
    if reduction == "episode_mean":
        return (per_step.sum(-1) / mask.sum(-1)).mean()
    assert reduction == "step_mean"
    return per_step.sum() / mask.sum()


def gradient(function: Callable[[Params], torch.Tensor], params: Mapping[str, torch.Tensor], *,
             create_graph: bool = False) -> Params:
    with torch.enable_grad():
        leaves = {k: v if v.requires_grad else v.detach().clone().requires_grad_(True) for k, v in params.items()}
        grads = torch.autograd.grad(function(leaves), list(leaves.values()), create_graph=create_graph)
    return dict(zip(leaves, grads, strict=True))


def ascent(params: Mapping[str, torch.Tensor], direction: Mapping[str, torch.Tensor], step: float) -> Params:
    return {k: params[k] + step * direction[k] for k in params}


# --------------------------------------------------------------------------------------------
# MAML and E-MAML: one meta_train_step with the TRPO outer step
# --------------------------------------------------------------------------------------------
def _maml(**overrides) -> MAML:
    config = MAMLConfig(hidden_sizes=(6,), tasks_per_iteration=2, episodes_per_task=3, inner_lr=0.35,
                        discount=0.9, gae_lambda=0.7, max_kl=0.02, cg_iterations=60, cg_damping=0.1,
                        ls_backtrack_ratio=0.6, **overrides)
    agent = MAML(NAV, config, NAV_KWARGS)
    randomise(agent, 3)
    return agent


def maml_expected_step(agent: MAML, theta: Params, calls, tasks: int) -> tuple[list[Params], Params]:
    """(θ'_i expected for the outer batch, θ after the TRPO step), from the recorded batches."""
    cfg, policy = agent.config, agent.policy
    (_, inner_batch), (_, outer_batch) = calls
    w_in = gae_weights(inner_batch, cfg.discount, cfg.gae_lambda, cfg.normalize_advantages)
    w_out = gae_weights(outer_batch, cfg.discount, cfg.gae_lambda, cfg.normalize_advantages)

    def adapted(th: Params, i: int) -> Params:  # θ'_i(θ) = θ + α ∇L_i(θ; D_i)
        g = gradient(lambda p: surrogate(policy, p, inner_batch, i, w_in, cfg.reduction), th,
                     create_graph=not cfg.first_order)
        if cfg.first_order:
            g = {k: v.detach() for k, v in g.items()}
        return ascent(th, g, cfg.inner_lr)

    expected_adapted = [{k: v.detach() for k, v in adapted(theta, i).items()} for i in range(tasks)]
    old = [log_pi(policy, expected_adapted[i], outer_batch.observations[i], outer_batch.actions[i]).detach()
           for i in range(tasks)]
    pre = [log_pi(policy, theta, inner_batch.observations[i], inner_batch.actions[i]).detach() for i in range(tasks)]
    if cfg.exploration:  # E-MAML: post-update returns standardised over the meta-batch
        post = outer_batch.episode_returns().mean(axis=1)
        coefficient = (post - post.mean()) / (post.std() + 1e-8)

    def objective(th: Params, ratio: bool) -> torch.Tensor:
        total = torch.zeros((), dtype=torch.float64)
        for i in range(tasks):
            total = total + surrogate(policy, adapted(th, i), outer_batch, i, w_out, cfg.reduction,
                                      old[i] if ratio else None)
            if cfg.exploration:
                ones = np.ones(inner_batch.rewards.shape)
                total = total + coefficient[i] * surrogate(policy, th, inner_batch, i, ones, cfg.reduction,
                                                           pre[i] if ratio else None)
        return total / tasks

    def mean_kl(th: Params) -> torch.Tensor:
        total, count = torch.zeros((), dtype=torch.float64), 0.0
        for i in range(tasks):
            new = adapted(th, i)
            obs = torch.as_tensor(outer_batch.observations[i], dtype=torch.float64)
            mask = torch.as_tensor(outer_batch.mask[i], dtype=torch.float64)
            m0 = torch.func.functional_call(policy, {k: v for k, v in expected_adapted[i].items() if k != "log_std"},
                                            (obs,))
            m1 = torch.func.functional_call(policy, {k: v for k, v in new.items() if k != "log_std"}, (obs,))
            s0, s1 = expected_adapted[i]["log_std"], new["log_std"]
            kl = (s1 - s0 + (torch.exp(2 * s0) + (m0 - m1) ** 2) / (2 * torch.exp(2 * s1)) - 0.5).sum(-1)
            total, count = total + (kl * mask).sum(), count + float(mask.sum())
        return total / count

    names = list(theta)
    flat_theta = flatten(theta, names).detach()
    g = torch.autograd.functional.jacobian(lambda v: objective(unflatten(v, theta), ratio=False), flat_theta)
    fisher = torch.autograd.functional.hessian(lambda v: mean_kl(unflatten(v, theta)), flat_theta)
    fisher = fisher + cfg.cg_damping * torch.eye(len(flat_theta), dtype=torch.float64)
    direction = torch.linalg.solve(fisher, g)                     # natural gradient of the objective
    full_step = torch.sqrt(2 * cfg.max_kl / (direction @ fisher @ direction)) * direction
    before = float(objective(theta, ratio=True).detach())
    fraction = 1.0
    for _ in range(cfg.ls_max_steps):
        trial = unflatten(flat_theta + fraction * full_step, theta)
        gain, kl = float(objective(trial, ratio=True).detach()), float(mean_kl(trial).detach())
        if gain > before and kl <= cfg.max_kl:
            break
        fraction *= cfg.ls_backtrack_ratio
    else:
        fraction = 0.0
    assert fraction > 0, "the reference line search accepted no step: the test's batch is degenerate"
    return expected_adapted, unflatten(flat_theta + fraction * full_step, theta)


@pytest.mark.parametrize(("exploration", "first_order"), [(False, False), (False, True), (True, False)],
                         ids=["maml", "fo-maml", "e-maml"])
def test_maml_meta_train_step_is_the_trpo_step_on_the_post_update_objective(exploration, first_order):
    agent = _maml(exploration=exploration, first_order=first_order)
    tasks = list(metarl_envs.task_set(NAV, "train"))[:2]
    theta = double(agent.meta_params())
    calls = record_batches(agent)
    agent.meta_train_step(tasks, np.random.default_rng(11))
    assert len(calls) == 2, "one inner batch, one outer batch"
    for start in calls[0][0]:
        assert_params_close(start, theta, what="the inner batch is collected with θ")
    expected_adapted, expected_theta = maml_expected_step(agent, theta, calls, len(tasks))
    for i, (got, want) in enumerate(zip(calls[1][0], expected_adapted, strict=True)):
        assert_params_close(got, want, what=f"task {i}: the outer batch is collected with θ + α∇L(θ; D)")
    change = {k: agent.meta_params()[k].double() - theta[k] for k in theta}
    want = {k: expected_theta[k] - theta[k] for k in theta}
    assert max(float(v.abs().max()) for v in want.values()) > 1e-3, "the step is too small to pin anything"
    assert_params_close(change, want, rtol=2e-3, atol=2e-5, what="θ_new − θ")


def test_maml_adaptation_steps_follow_the_schedule_and_the_meta_test_reduction():
    """MAML §5.2 meta-test: step sizes adaptation_lrs[k] at step k + 1, surrogate in `adaptation_reduction` units."""
    agent = _maml(adaptation_lrs=(0.45, 0.15), adaptation_reduction="step_mean")
    cfg = agent.config
    task = metarl_envs.task_set(NAV, "test")[5]
    rounds = recorded_rounds(agent, [task], 4, 3, np.random.default_rng(20))
    for k, lr in enumerate((0.45, 0.15, 0.15)):
        (before,), batch, (params,) = rounds[k]
        before = double(before)
        assert batch.episodes_per_task == 4
        weights = gae_weights(batch, cfg.discount, cfg.gae_lambda, cfg.normalize_advantages)
        g = gradient(lambda p, b=batch, w=weights: surrogate(agent.policy, p, b, 0, w, "step_mean"), before)
        assert_params_close(params, ascent(before, g, lr), what=f"adaptation step {k + 1}")


# --------------------------------------------------------------------------------------------
# SG-MRL: eqs. (12)-(13), exact mode (plain ascent, the paper's raw estimator)
# --------------------------------------------------------------------------------------------
def _sgmrl(**overrides) -> SGMRL:
    config = SGMRLConfig(mode="exact", hidden_sizes=(6,), tasks_per_iteration=2, episodes_per_task=3, inner_lr=0.004,
                         discount=0.9, outer_lr=0.002, **overrides)
    agent = SGMRL(NAV, config, NAV_KWARGS)
    randomise(agent, 4)
    return agent


@pytest.mark.parametrize("debias_coef", [0.0, 1.0])
@pytest.mark.parametrize("hessian", ["autodiff", "first_order"])
def test_sgmrl_meta_train_step_is_equation_13(debias_coef, hessian):
    agent = _sgmrl(debias_coef=debias_coef, hessian=hessian)
    cfg, policy = agent.config, agent.policy
    tasks = list(metarl_envs.task_set(NAV, "train"))[3:5]
    theta = double(agent.meta_params())
    calls = record_batches(agent)
    agent.meta_train_step(tasks, np.random.default_rng(5))
    (starts, d_in), (adapted_used, d_out) = calls
    w_in = reward_to_go(d_in, cfg.discount, from_start=True)     # eq. (4): Σ_{l≥h} γ^l r_l
    w_out = reward_to_go(d_out, cfg.discount, from_start=True)
    update = {k: torch.zeros_like(v) for k, v in theta.items()}
    for i in range(len(tasks)):
        assert_params_close(starts[i], theta, what="D_in is collected with θ")

        def inner_objective(p, i=i):
            return surrogate(policy, p, d_in, i, w_in, "episode_sum")

        theta_i = ascent(theta, gradient(inner_objective, theta), cfg.inner_lr)                 # eq. (12)
        assert_params_close(adapted_used[i], theta_i, what=f"task {i}: D_o is collected with θ_i")
        outer = gradient(lambda p, i=i: surrogate(policy, p, d_out, i, w_out, "episode_sum"), theta_i)
        if hessian == "autodiff":  # (I + α∇̃²J_i(θ, D_in)) v, v = ∇̃J_i(θ_i, D_o), as a Hessian-vector product
            leaves = {k: v.detach().clone().requires_grad_(True) for k, v in theta.items()}
            first = gradient(inner_objective, leaves, create_graph=True)
            dot = sum((first[k] * outer[k]).sum() for k in theta)
            hvp = dict(zip(theta, torch.autograd.grad(dot, list(leaves.values())), strict=True))
            outer = {k: outer[k] + cfg.inner_lr * hvp[k] for k in theta}
        j_out = float(d_out.episode_returns(cfg.discount)[i].mean())                           # J̃_i(θ_i, D_o)
        score = gradient(lambda p, i=i: surrogate(policy, p, d_in, i, np.ones(d_in.rewards.shape), "episode_sum")
                         * d_in.episodes_per_task, theta)                                       # Σ_τ ∇log π(τ; θ)
        if debias_coef:  # the score term is a visible part of the step (a dropped term must show)
            assert flatten(score, theta).norm() * abs(j_out) > 0.1 * flatten(outer, theta).norm()
        for k in theta:
            update[k] = update[k] + outer[k] + debias_coef * j_out * score[k]
    expected = ascent(theta, update, cfg.outer_lr / len(tasks))                                 # eq. (13)
    change = {k: agent.meta_params()[k].double() - theta[k] for k in theta}
    assert_params_close(change, {k: expected[k] - theta[k] for k in theta}, rtol=1e-3, atol=1e-6,
                        what="θ_new − θ")


def test_sgmrl_practical_step_is_adams_first_step_on_the_estimate():
    """Practical mode (the released code's setting): θ moves by Adam's first step, outer_lr · ĝ / (|ĝ| + ε)
    elementwise (Adam's bias-corrected moments of a single gradient), in the ascent direction ĝ = ∇ of the
    eq. (13) objective on the step's own batches (the objective itself is pinned in exact mode above). The
    record carries the first inner batch's return, the outer batch's, and both batches' env steps."""
    from baselines.common import estimators
    from baselines.sgmrl import score_coefficients

    config = SGMRLConfig(mode="practical", hidden_sizes=(6,), tasks_per_iteration=3, episodes_per_task=3,
                         inner_lr=0.004, discount=0.9, outer_lr=0.002)
    agent = SGMRL(NAV, config, NAV_KWARGS)
    randomise(agent, 4)
    theta = {k: v.detach().clone() for k, v in agent.meta_params().items()}
    calls = record_batches(agent)
    result = agent.meta_train_step(list(metarl_envs.task_set(NAV, "train"))[3:6], np.random.default_rng(5))
    (_, d_in), (_, d_out) = calls
    # the score coefficients written out: J̃_i minus the other tasks' mean, over the spread of J̃ across tasks
    returns = d_out.episode_returns(config.discount).mean(axis=1)
    coefficients = torch.as_tensor((returns - (returns.sum() - returns) / 2) / (returns.std() + 1e-8),
                                   dtype=torch.float32)
    torch.testing.assert_close(score_coefficients(d_out, config), coefficients)
    leaves = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
    objective = estimators.meta_objective(agent.policy, leaves, [agent._data(d_in)], agent._data(d_out),
                                          config.inner_lr, config.reduction,
                                          first_order=config.hessian == "first_order",
                                          score_coefficients=[coefficients]).mean()
    ascent = dict(zip(leaves, torch.autograd.grad(objective, list(leaves.values())), strict=True))
    for k, g in ascent.items():
        expected = config.outer_lr * g / (g.abs() + 1e-8)
        torch.testing.assert_close(agent.meta_params()[k] - theta[k], expected, rtol=1e-4, atol=1e-7)
    assert result.env_steps == d_in.env_steps + d_out.env_steps
    assert result.pre_adaptation_return == pytest.approx(float(d_in.episode_returns().mean()), rel=1e-12)
    assert result.post_adaptation_return == pytest.approx(float(d_out.episode_returns().mean()), rel=1e-12)
    assert result.extra == pytest.approx({"score_coefficient_mean": float(coefficients.mean()),
                                          "score_coefficient_abs_mean": float(coefficients.abs().mean())})


def test_sgmrl_adaptation_step_is_equation_12():
    agent = _sgmrl()
    cfg = agent.config
    task = metarl_envs.task_set(NAV, "test")[7]
    for k, ((before,), batch, (params,)) in enumerate(recorded_rounds(agent, [task], 3, 2, np.random.default_rng(40))):
        before = double(before)
        weights = reward_to_go(batch, cfg.discount, from_start=True)
        g = gradient(lambda p, b=batch, w=weights: surrogate(agent.policy, p, b, 0, w, "episode_sum"), before)
        assert_params_close(params, ascent(before, g, cfg.inner_lr), what=f"adaptation step {k + 1}")


# --------------------------------------------------------------------------------------------
# MEMRL: eqs. (16)-(17) with the sampled ĝ of eqs. (8)-(9)
# --------------------------------------------------------------------------------------------
def _memrl(**overrides) -> MEMRL:
    config = MEMRLConfig(moreau_lambda=1.5, meta_lr=0.3, inner_lr=0.05, inner_steps=3, tasks_per_iteration=2,
                         episodes_per_step=4, discount=0.9, hidden_sizes=(6,), **overrides)
    agent = MEMRL(GRID, config, GRID_KWARGS)
    randomise(agent, 6, std=0.5)
    return agent


def memrl_inner_solve(agent: MEMRL, anchor: Params, calls, task: int) -> list[Params]:
    """θ^0 = w, θ^{k+1} = θ^k + β(ĝ(θ^k; D_k) − λ(θ^k − w)) on the recorded D_k: [θ^0, ..., θ^K]."""
    cfg = agent.config
    thetas = [anchor]
    for _, batch in calls[:cfg.inner_steps]:
        weights = reward_to_go(batch, cfg.discount, from_start=True)                           # eq. (8b)
        g = gradient(lambda p, b=batch, w=weights: surrogate(agent.policy, p, b, task, w, "episode_sum"), thetas[-1])
        thetas.append({k: thetas[-1][k] + cfg.inner_lr * (g[k] - cfg.moreau_lambda * (thetas[-1][k] - anchor[k]))
                       for k in anchor})
    return thetas


def test_memrl_meta_train_step_is_equations_16_and_17():
    agent = _memrl()
    cfg = agent.config
    tasks = list(metarl_envs.task_set(GRID, "train", "memrl"))[:2]
    w = double(agent.meta_params())
    calls = record_batches(agent)
    agent.meta_train_step(tasks, np.random.default_rng(8))
    assert len(calls) == cfg.inner_steps + 1, "K inner batches and the logged batch"
    solved = []
    for i in range(len(tasks)):
        thetas = memrl_inner_solve(agent, w, calls, i)
        for k, (used, _) in enumerate(calls):
            assert_params_close(used[i], thetas[k], what=f"task {i}: batch {k} is collected with θ^{k}")
        solved.append(thetas[-1])
    mean = {k: sum(t[k] for t in solved) / len(solved) for k in w}
    expected = {k: w[k] + cfg.meta_lr * cfg.moreau_lambda * (mean[k] - w[k]) for k in w}        # eq. (17)
    change = {k: agent.meta_params()[k].double() - w[k] for k in w}
    assert_params_close(change, {k: expected[k] - w[k] for k in w}, rtol=1e-4, atol=1e-6, what="w_new − w")


def test_memrl_adaptation_is_the_anchored_inner_solve():
    """One inner step per adaptation round, from θ⁰ = w and anchored at w: K rounds are the K-step solve."""
    agent = _memrl()
    task = metarl_envs.task_set(GRID, "test", "memrl")[1]
    rounds = recorded_rounds(agent, [task], 4, agent.config.inner_steps, np.random.default_rng(9))
    thetas = memrl_inner_solve(agent, double(agent.meta_params()), [(None, batch) for _, batch, _ in rounds], 0)
    assert len(rounds) == agent.config.inner_steps
    for k, (_, _, (adapted,)) in enumerate(rounds):
        assert_params_close(adapted, thetas[k + 1], what=f"θ after round {k + 1}")


def test_memrl_exact_adaptation_steps_each_task_along_its_own_model_gradient():
    """gradient='exact' (privileged): every round is θ ← θ + β(∇J_i(θ) − λ(θ − w)) with ∇J_i on task i's
    own model, whatever the round's trajectories; two tasks with different goals tell the models apart."""
    agent = _memrl(gradient="exact")
    cfg = agent.config
    tasks = list(metarl_envs.task_set(GRID, "test", "memrl"))[:2]
    w = agent.meta_params()
    rounds = recorded_rounds(agent, tasks, 2, 2, np.random.default_rng(9))
    thetas = [dict(w), dict(w)]
    for k, (before, _, after) in enumerate(rounds):
        for i, task in enumerate(tasks):
            assert_params_close(before[i], thetas[i], what=f"task {i}: θ before round {k + 1}")
            g = agent.exact_gradient(task, thetas[i])
            thetas[i] = {n: thetas[i][n] + cfg.inner_lr * (g[n] - cfg.moreau_lambda * (thetas[i][n] - w[n]))
                         for n in w}
            assert_params_close(after[i], thetas[i], what=f"task {i}: θ after round {k + 1}")
            assert not any(after[i][n].requires_grad for n in w)
    other = agent.exact_gradient(tasks[1], w)
    assert any(not torch.allclose(other[n], agent.exact_gradient(tasks[0], w)[n]) for n in w)


@pytest.mark.parametrize("inner_init", ["meta", "warm"])
def test_memrl_inner_solve_starts_from_w_or_from_the_tasks_last_solution(inner_init):
    """θ⁰ of a task's inner solve is the current w ('meta'), or the θ̃ that task's previous solve ended
    at ('warm', docs/sources/memrl.md §2.3 item 2); a task not solved before starts from w."""
    agent = _memrl(inner_init=inner_init)
    tasks = list(metarl_envs.task_set(GRID, "train", "memrl"))[:2]
    calls: list[tuple[list, list[Params]]] = []
    original = agent.sampler.collect

    def collect(policy, params, batch_tasks, episodes_per_task, rng):
        calls.append((list(batch_tasks), [double(p) for p in params]))
        return original(policy, params, batch_tasks, episodes_per_task, rng)

    agent.sampler.collect = collect
    w0 = double(agent.meta_params())
    rng, ws = np.random.default_rng(3), []
    for batch_tasks in (tasks, tasks[::-1]):
        agent.meta_train_step(batch_tasks, rng)
        ws.append(double(agent.meta_params()))
    per_iteration = agent.config.inner_steps + 1
    assert len(calls) == 2 * per_iteration
    first_start, first_end, second_start = calls[0], calls[per_iteration - 1], calls[per_iteration]
    for params in first_start[1]:
        assert_params_close(params, w0, rtol=0, atol=0, what="first visit starts from w")
    solved = {str(task): theta for task, theta in zip(first_end[0], first_end[1], strict=True)}
    assert sorted(solved) == sorted(str(t) for t in tasks)
    for task, params in zip(*second_start, strict=True):
        want = solved[str(task)] if inner_init == "warm" else ws[0]
        assert_params_close(params, want, rtol=0, atol=0, what=f"{inner_init}: second visit of {task}")
    assert any(not torch.equal(solved[str(tasks[0])][k], ws[0][k]) for k in ws[0])
