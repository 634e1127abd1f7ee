"""MEMRL: first-order Moreau-envelope meta-RL (Toghani, Perez-Salazar, Uribe, ICML 2023 workshop,
"On First-Order Meta-Reinforcement Learning with Moreau Envelopes", Algorithm 1).

    repeat                                                            # Alg. 1, line 3
        sample B tasks                                                # line 4
        for each task i:                                              # line 5
            θ ← w;  K times: D ← D fresh trajectories from π_θ on i;
                             θ ← θ + β(ĝ(θ; D) − λ(θ − w))           # line 6, eq. (16)
        w ← (1 − αλ) w + αλ · mean_i θ̃_i                              # line 8 (= w + α·mean_i λ(θ̃_i − w), eq. (17))

ĝ is eq. (8)-(9): REINFORCE with causal reward-to-go discounted from t = 0 (γ^l), summed over the
trajectory, averaged over D, no baseline. The meta-gradient of task i is λ(θ̃_i − w) (eq. (13)).

| choice (docs/sources/memrl.md) | value here | status |
|---|---|---|
| β | inner step size 0.02 | PAPER value, INFERRED meaning (§2.2) |
| inner init | `inner_init="meta"`: θ⁰ = w (default); `"warm"`: θ⁰ = the task's last θ̃_i (finite task | §2.3 item 2 |
|            | family, meta-training only; still anchored at the current w by λ). The θ̃_i are agent | |
|            | state, saved with it (`state.pt`) | |
| inner data | fresh D = 10 trajectories at every inner step (on-policy) | [DEFAULT] §2.3 item 3 |
| `gradient="exact"` | ∇J_i on a tabular env's model instead of ĝ (an ablation: Algorithm 1 without | ours |
|                    | sampling noise; no inner trajectories, the logged pre-adaptation return is the | |
|                    | exact H-step return of θ⁰) | |
| stopping | fixed K = 8 steps, no ν test | PAPER §4 |
| task sampling | B = 2 of the 3 without replacement | [DEFAULT] §2.3 item 5 |
| optimiser | plain SGA, inner and meta | [DEFAULT] §2.3 item 6 |
| baseline, clipping, entropy | none | [DEFAULT] §2.3 item 7 |
| policy | MLP 2 → 64 → 5 tanh, softmax, inputs scaled by 1/5, PyTorch default init | [DEFAULT] §7.2 |
| horizon | the env preset's (GridNavigation memrl: H = 20) | [DEFAULT] §3 |
| logged post-adaptation return | D extra trajectories from θ̃_i (Fig. 1's 10 trajectories) | [DEFAULT] §2.3 item 9 |
| per-task log (Fig. 1 right) | `extra["task_<i>_return"]`: that mean (undiscounted), each sampled task i | §2.3 10-11 |
|                             | (its train-set index); tabular envs also `extra["task_<i>_ratio"]` = exact | |
|                             | J(θ̃_i) / J* (undiscounted H-step return on the model / value iteration's optimum) | |
| output / meta-test | w; each adaptation round is one inner step from θ⁰ = w anchored at w | §2.3 item 8 |
|                    | on the round's D trajectories (K rounds = the K-step solve); the agent | |
|                    | cannot tell the test task, so there is no warm start at meta-test | |
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from baselines.common import estimators, training
from baselines.common.agent import AgentConfig, checked, sizes
from baselines.common.policies import Params, detach
from baselines.common.sampler import TrajectoryBatch
from metarl_envs.core import Task
from metarl_envs.toy_text.tabular import TabularModel

__all__ = ["MEMRL", "MEMRLConfig", "meta_gradient", "moreau_inner_update"]


@dataclasses.dataclass(frozen=True)
class MEMRLConfig(AgentConfig):
    moreau_lambda: float = 2.0
    """λ, the Moreau-envelope regularisation (paper §4)"""
    meta_lr: float = 0.1
    """α, the meta step size of line 8 (paper §4)"""
    inner_lr: float = 0.02
    """β, the inner ascent step size (paper §4, meaning inferred)"""
    inner_steps: int = 8
    """K (paper §4)"""
    tasks_per_iteration: int = 2
    """B (paper §4)"""
    episodes_per_step: int = 10
    """D, fresh trajectories per inner step (paper §4)"""
    discount: float = 0.99
    """γ (paper §4)"""
    hidden_sizes: tuple[int, ...] = checked((64,), sizes())
    activation: str = "tanh"
    obs_scale: float = 0.2
    """policy input scaling (grid coordinates −5..5 → −1..1)"""
    inner_init: Literal["meta", "warm"] = "meta"
    """θ⁰ of the inner solve: 'meta' (= w) or 'warm' (the task's last θ̃_i; docs/sources/memrl.md §2.3 item 2)"""
    gradient: Literal["sampled", "exact"] = "sampled"
    """ĝ of the inner step: 'sampled' (eqs. (8)-(9) from D fresh trajectories, the paper's) or 'exact'
    (∇J_i itself, on a tabular env's model: what ĝ estimates without bias; no trajectories are drawn
    for it, which separates the sampling noise from the objective and its optimiser)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.inner_lr * self.moreau_lambda >= 2:
            raise ValueError(f"MEMRLConfig: inner_lr·moreau_lambda={self.inner_lr * self.moreau_lambda} must be < 2 "
                             "(the inner recursion diverges otherwise; docs/sources/memrl.md §7.6)")

    @property
    def weight_spec(self) -> estimators.WeightSpec:
        return estimators.WeightSpec(self.discount, "reward_to_go", from_start=True)


def moreau_inner_update(theta: Mapping[str, torch.Tensor], anchor: Mapping[str, torch.Tensor],
                        gradient: Mapping[str, torch.Tensor], inner_lr: float, moreau_lambda: float) -> Params:
    """θ + β(ĝ − λ(θ − w)): one ascent step on F̃(θ) = J̃(θ) − (λ/2)‖θ − w‖² (eq. (16))."""
    return {k: theta[k] + inner_lr * (gradient[k] - moreau_lambda * (theta[k] - anchor[k])) for k in theta}


def meta_gradient(thetas: Sequence[Mapping[str, torch.Tensor]], anchor: Mapping[str, torch.Tensor],
                  moreau_lambda: float) -> Params:
    """mean_i λ(θ̃_i − w): the estimate of ∇V(w) (eqs. (13), (17))."""
    return {k: moreau_lambda * (torch.stack([t[k] for t in thetas]).mean(0) - anchor[k]) for k in anchor}


class MEMRL(training.PolicyGradientLearner):
    name = "memrl"
    resumable = True
    config_class = MEMRLConfig

    def __init__(self, env_id: str, config: MEMRLConfig | None = None, env_kwargs: Mapping[str, Any] | None = None):
        super().__init__(env_id, config, env_kwargs)
        self._state_obs: torch.Tensor | None = None
        self._warm: dict[str, Params] = {}
        """θ̃_i of every task solved so far in meta-training ('warm' inner init), by task key"""
        self._task_index: dict[str, int] = {}
        self._tabular = self.sampler.envs.tabular
        if self.config.gradient == "exact" and not self._tabular:
            raise ValueError(f"MEMRLConfig.gradient='exact' needs a tabular env's model; {env_id} has none")
        self._models: dict[str, tuple[TabularModel, float]] = {}

    def _begin_training(self, train_tasks: Sequence[Task], generator: torch.Generator) -> None:
        super()._begin_training(train_tasks, generator)
        self._warm = {}
        self._task_index = {_key(task): i for i, task in enumerate(train_tasks)}

    def meta_train_step(self, tasks: list[Task], rng: np.random.Generator) -> training.StepResult:
        cfg, w = self.config, detach(self.policy.meta_params())                    # line 4: tasks given
        thetas, steps, pre = self.solve_inner(tasks, w, rng, self._starts(tasks, w))   # lines 5-7
        if cfg.inner_init == "warm":
            self._warm.update({_key(task): theta for task, theta in zip(tasks, thetas, strict=True)})
        logged = self.sampler.collect(self.policy, thetas, tasks, cfg.episodes_per_step, rng)
        step = meta_gradient(thetas, w, cfg.moreau_lambda)
        training.apply(self.policy, {k: w[k] + cfg.meta_lr * step[k] for k in w})         # line 8
        extra = {"meta_gradient_norm": float(torch.sqrt(sum((g**2).sum() for g in step.values())))}
        extra.update(self._task_log(tasks, thetas, logged.episode_returns().mean(axis=1)))
        return training.StepResult(steps + logged.env_steps, pre, float(logged.episode_returns().mean()), extra)

    def _starts(self, tasks: Sequence[Task], anchor: Params) -> list[Params]:
        """θ⁰ per task: w ('meta'), or the task's last θ̃ when there is one ('warm')."""
        if self.config.inner_init == "meta":
            return [dict(anchor) for _ in tasks]
        return [dict(self._warm.get(_key(task), anchor)) for task in tasks]

    def _task_log(self, tasks: Sequence[Task], thetas: Sequence[Params], returns: np.ndarray) -> dict[str, float]:
        """Fig. 1 (right) per sampled task: the logged batch's mean return and, on a tabular env,
        the exact return of π_θ̃ over the optimum."""
        log = {}
        for task, theta, sampled in zip(tasks, thetas, returns, strict=True):
            index = self._task_index.get(_key(task), -1)
            log[f"task_{index}_return"] = float(sampled)
            if self._tabular:
                exact, optimum = self._exact_return(task, theta)
                log[f"task_{index}_ratio"] = exact / optimum
        return log

    def _model(self, task: Task) -> tuple[TabularModel, float]:
        """(the task's exact model, J* = its undiscounted H-step optimum), J* solved once per task."""
        from baselines.common.oracles import optimal_return

        if _key(task) not in self._models:
            model = self.sampler.envs.model(task)
            self._models[_key(task)] = (model, optimal_return(model, 1.0, self.sampler.horizon))
        return self._models[_key(task)]

    def _exact_return(self, task: Task, theta: Params) -> tuple[float, float]:
        """(J(π_θ), J*) of a tabular task: undiscounted H-step returns on its model."""
        from baselines.common.oracles import policy_return

        model, optimum = self._model(task)
        return policy_return(model, self.policy_matrix(theta), 1.0, self.sampler.horizon), optimum

    def solve_inner(self, tasks: Sequence[Task], anchor: Params, rng: np.random.Generator,
                    starts: Sequence[Params] | None = None) -> tuple[list[Params], int, float]:
        """K steps of θ ← θ + β(ĝ − λ(θ − w)) per task from θ⁰ = `starts` (default w), every task
        batched in one sampler call per step: (θ̃ per task, env steps, mean return of the first batch)."""
        cfg = self.config
        thetas = [dict(anchor) for _ in tasks] if starts is None else [dict(t) for t in starts]
        steps, first_return = 0, float("nan")
        for k in range(cfg.inner_steps):
            if cfg.gradient == "exact":
                gradients = [self.exact_gradient(task, theta) for task, theta in zip(tasks, thetas, strict=True)]
                if k == 0:  # the exact H-step return of θ⁰ stands in for the first batch's mean
                    first_return = float(np.mean([self._exact_return(t, theta)[0]
                                                  for t, theta in zip(tasks, thetas, strict=True)]))
            else:
                batch = self.sampler.collect(self.policy, thetas, tasks, cfg.episodes_per_step, rng)
                grads, _ = estimators.policy_gradients(self.policy, thetas, estimators.BatchTensors.of(batch),
                                               estimators.as_weights(estimators.weights(batch, cfg.weight_spec)),
                                               "episode_sum",
                                               create_graph=False)
                gradients = estimators.unstack({n: g.detach() for n, g in grads.items()}, len(tasks))
                steps += batch.env_steps
                first_return = float(batch.episode_returns().mean()) if k == 0 else first_return
            thetas = [moreau_inner_update(t, anchor, g, cfg.inner_lr, cfg.moreau_lambda)
                      for t, g in zip(thetas, gradients, strict=True)]
        return [detach(t) for t in thetas], steps, first_return

    def exact_gradient(self, task: Task, theta: Params) -> Params:
        """∇_θ J_i(θ), J_i the γ-discounted H-step return on the task's exact model (eq. (1)): the
        expectation of the sampled ĝ of eqs. (8)-(9)."""
        return self.model_gradient(self._model(task)[0], theta)

    def model_gradient(self, model: TabularModel, theta: Params) -> Params:
        """∇_θ of the γ-discounted H-step return of π_θ on a task's exact model."""
        from baselines.common.tabular import finite_horizon_return

        leaves = {k: v.detach().requires_grad_(True) for k, v in theta.items()}
        with torch.enable_grad():
            probabilities = self.policy.probabilities(leaves, self._state_observations()).double()
            objective = finite_horizon_return(model, probabilities, self.config.discount, self.sampler.horizon)
            grads = torch.autograd.grad(objective, list(leaves.values()))
        return {k: g.to(theta[k].dtype) for k, g in zip(leaves, grads, strict=True)}

    def _state_observations(self) -> torch.Tensor:
        if self._state_obs is None:
            self._state_obs = torch.as_tensor(self.sampler.envs.state_observations())
        return self._state_obs

    # ----- meta-test adaptation --------------------------------------------------------------
    @property
    def privileged(self) -> bool:
        """gradient='exact' reads each test task's exact model: the privileged track."""
        return self.config.gradient == "exact"

    def start_trial(self, num_tasks: int) -> None:
        """θ⁰ = w for every test task (the agent cannot tell which task it faces), anchored at w."""
        super().start_trial(num_tasks)
        self._anchor = self.meta_params()

    def adapt_round(self, params: Sequence[Params], rollouts: TrajectoryBatch) -> list[Params]:
        """One step θ ← θ + β(ĝ − λ(θ − w)) of the inner solve per round (eq. (16)), ĝ from the
        round's D trajectories (or ∇J_i on the task's model, privileged)."""
        cfg, thetas = self.config, [dict(p) for p in params]
        if cfg.gradient == "exact":
            gradients = [self.model_gradient(m, t)
                         for m, t in zip(self.trial_models, thetas, strict=True)]
        else:
            step_weights = estimators.as_weights(estimators.weights(rollouts, cfg.weight_spec))
            grads, _ = estimators.policy_gradients(self.policy, thetas, estimators.BatchTensors.of(rollouts),
                                                   step_weights, "episode_sum", create_graph=False)
            gradients = estimators.unstack({n: g.detach() for n, g in grads.items()}, len(thetas))
        return [detach(moreau_inner_update(t, self._anchor, g, cfg.inner_lr, cfg.moreau_lambda))
                for t, g in zip(thetas, gradients, strict=True)]

    def policy_matrix(self, params: Params) -> np.ndarray:
        """π[s, a] on every state of the tabular env (exact evaluation)."""
        with torch.no_grad():
            probs = self.policy.probabilities(params, self._state_observations()).double().numpy()
        return probs / probs.sum(axis=1, keepdims=True)

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "warm": self._warm, "task_index": self._task_index}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        super()._load_state(state)
        self._warm, self._task_index = dict(state["warm"]), dict(state["task_index"])


def _key(task: Task) -> str:
    """A task's identity as a string (the key of the per-task inner state, stable across save/load)."""
    return json.dumps(task.to_dict(), sort_keys=True)
