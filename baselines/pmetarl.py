"""pMeta-RL, tabular: Wang et al., "On the Convergence Theory of Meta Reinforcement Learning with
Personalized Policies", arXiv:2209.10072, §IV-A eqs. 3–9 and Algorithm 1 (docs/sources/pmetarl.md §1.4,
corrected pseudocode).

Three Q-tables: the meta table Q^π over S = ∪ S_i, and per task a personalized table Q_i^{π_i} and an
auxiliary meta table Q_i^π. A round: every task resets both of its tables to Q^π (line 7), alternates
R times K proximal Q-learning updates of the personalized table with one auxiliary step, and the meta
table aggregates the auxiliary tables per (s, a) over the tasks containing (s, a) (eq. 9).
The training curve records the exact discounted J of the greedy meta (pre) and personalized (post)
policies, averaged over the training tasks.

| item | choice | source |
|---|---|---|
| proximal term sign in (6)/(7) | minus: −η^k λ (Q_i − Q_i^π), a pull toward the anchor | erratum 1 (App. C) |
| anchor of (6)/(7) | the auxiliary table Q_i^π | erratum 2 |
| auxiliary step (8) | Q_i^π ← Q_i^π − ηλ(Q_i^π − Q_i^{π_i}) | erratum 3 |
| aggregation (9) | β/N_s over the tasks containing s; N_s = 0 keeps Q^π(s, a) | erratum 4 |
| round start | personalized and auxiliary tables reset to Q^π (`reset_personal_each_round`) | erratum 5 |
| η^k, η, β | 1/(1 + λ) (exact minimiser of Ξ in expected mode), 0.5/λ, 1 | erratum 6 [DEFAULT] |
| mode | "expected" (eq. 6, the task's model) or "sampled" (eq. 7, ε-greedy transitions) | §IV-A |
| policy | greedy in Q, ties split uniformly | §IV-A |
| adaptation (meta-test) | one round on the task alone from Q^π: returns the personalized table (PP); | [DEFAULT] §6.2 |
|                        | sampled mode: one eq. (7) pass over the round's episodes per round | ours (v2) |
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from baselines.common import tabular, training
from baselines.common.agent import COUNT, POSITIVE, AgentConfig, Phase, checked, interval
from baselines.common.envs import EnvProvider
from baselines.common.oracles import policy_return
from baselines.common.sampler import TrajectoryBatch
from metarl_envs.core import Task
from metarl_envs.toy_text.tabular import TabularModel

__all__ = ["PMetaRL", "PMetaRLConfig", "regularized_bellman"]


def regularized_bellman(model: TabularModel, q_values: np.ndarray, anchor: np.ndarray, lam: float,
                        discount: float) -> np.ndarray:
    """B̂Q = (λ·anchor + r + γ E_{s'} max_a' Q(s', a')) / (1 + λ): the exact minimiser of Ξ (eq. 5), a
    sup-norm contraction with modulus γ/(1 + λ) for a fixed anchor (Theorem 1, App. C)."""
    target = model.expected_reward + discount * model.live_transition @ _bootstrap(model, q_values)
    return (lam * anchor + target) / (1.0 + lam)


def _bootstrap(model: TabularModel, q_values: np.ndarray) -> np.ndarray:
    """max_a' Q(s', a'), and 0 at terminal s': entering a terminal state ends the episode (as in the
    sampled update). Q(terminal, ·) is not 0 in transit: the meta table carries values from tasks
    where the cell is not terminal (pmeta's grids of different sizes share one frame)."""
    return np.where(model.terminal_mask, 0.0, q_values.max(axis=1))


@dataclasses.dataclass(frozen=True)
class PMetaRLConfig(AgentConfig):
    lam: float = checked(10.0, POSITIVE)
    """λ: weight of the proximal term (gridworld: 10, §V-C)"""
    personal_updates: int = checked(3, COUNT)
    """R: personalized/auxiliary alternations per round (gridworld: 3)"""
    inner_updates: int = checked(1, COUNT)
    """K: personalized updates (6)/(7) per alternation (gridworld: 1)"""
    discount: float = checked(0.95, interval("(0, 1)"))
    personal_lr: float | None = None
    """η^k; None: 1/(1 + λ) in expected mode, 0.5/(1 + λ) in sampled mode"""
    aux_lr: float | None = None
    """η of the auxiliary step; None: 0.5/λ (ηλ = 0.5)"""
    beta: float = checked(1.0, interval("(0, 1]"))
    """β of the aggregation (9)"""
    mode: Literal["expected", "sampled"] = "expected"
    episodes_per_update: int = checked(5, COUNT)
    """sampled mode: ε-greedy episodes collected for one personalized update"""
    exploration: float = checked(0.1, interval("[0, 1]"))
    """sampled mode: ε of the ε-greedy behaviour policy on the personalized table"""
    reset_personal_each_round: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.personal_lr is not None and not 0 < self.personal_lr * (1 + self.lam) <= 1:
            raise ValueError(f"PMetaRLConfig.personal_lr={self.personal_lr!r}: need 0 < η^k(1 + λ) ≤ 1")
        if self.aux_lr is not None and not 0 < self.aux_lr * self.lam <= 1:
            raise ValueError(f"PMetaRLConfig.aux_lr={self.aux_lr!r}: need 0 < ηλ ≤ 1")

    @property
    def step_personal(self) -> float:
        if self.personal_lr is not None:
            return self.personal_lr
        return (1.0 if self.mode == "expected" else 0.5) / (1.0 + self.lam)

    @property
    def step_aux(self) -> float:
        return self.aux_lr if self.aux_lr is not None else 0.5 / self.lam


class PMetaRL(tabular.TabularParameterAgent):
    """Params are {"meta": Q^π, "personal": Q_i^{π_i} or absent}; the policy is greedy in the personal
    table when there is one (PP), else in the meta table (MP)."""

    name = "pMeta-RL"
    resumable = True
    config_class = PMetaRLConfig

    def __init__(self, env_id: str, config: PMetaRLConfig, env_kwargs: Mapping[str, Any] | None = None):
        super().__init__(env_id, config, env_kwargs)
        self.envs = EnvProvider(env_id, self.env_kwargs)
        self._sampler: Any = None
        """the harness's `TrainingEnvs` of the current meta-training (sampled mode collects there)"""
        self.q_meta: np.ndarray | None = None
        self.q_personal: dict[Task, np.ndarray] = {}

    # ----- Algorithm 1 (tabular) -------------------------------------------------------------
    @property
    def tasks_per_iteration(self) -> None:
        """Every round visits every train task, in order (line 8)."""
        return None

    def _begin_training(self, train_tasks: Any, generator: Any) -> None:
        self._sampler = train_tasks
        self.q_meta = np.zeros(self.envs.model(train_tasks[0]).expected_reward.shape)

    def meta_train_step(self, tasks: list[Task], rng: np.random.Generator) -> training.StepResult:
        """One round c (lines 2-14) over `tasks`; logs the exact discounted J of the greedy meta (pre)
        and personalized (post) policies and the mean largest personal-meta table gap."""
        auxiliaries, masks, env_steps = [], [], 0
        for task in tasks:                                                      # line 8
            personal, auxiliary, steps = self._round(task, self.q_meta, rng)    # lines 7, 9-12
            self.q_personal[task] = personal
            auxiliaries.append(auxiliary)
            masks.append(self.envs.model(task).state_mask)
            env_steps += steps
        self.q_meta = self._aggregate(self.q_meta, auxiliaries, masks)           # line 14, eq. 9
        gap = float(np.mean([np.max(np.abs(self.q_personal[t] - self.q_meta)[self.envs.model(t).state_mask])
                             for t in tasks]))
        meta_value = np.mean([self._value(t, self.q_meta) for t in tasks])
        personal_value = np.mean([self._value(t, self.q_personal[t]) for t in tasks])
        return training.StepResult(env_steps, float(meta_value), float(personal_value), {"personal_meta_gap": gap})

    def _round(self, task: Task, q_meta: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        """One round on one task: (personalized table, auxiliary table, env steps)."""
        personal = q_meta.copy() if self.config.reset_personal_each_round or task not in self.q_personal \
            else self.q_personal[task].copy()                                   # line 7
        return self._personal_round(q_meta, personal, lambda q, anchor: self._personal_update(task, q, anchor, rng))

    def _personal_round(self, q_meta: np.ndarray, personal: np.ndarray,
                        update: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, int]]
                        ) -> tuple[np.ndarray, np.ndarray, int]:
        """Lines 9-12: R times (K personalized updates `update(Q_i, anchor)`, then the auxiliary step)."""
        cfg, auxiliary, steps = self.config, q_meta.copy(), 0                   # eq. 25: Q_i^π ← Q^π
        for _ in range(cfg.personal_updates):                                   # line 9: r = 1..R
            for _ in range(cfg.inner_updates):                                  # K updates, eq. (6)/(7)
                personal, used = update(personal, auxiliary)
                steps += used
            auxiliary = auxiliary - cfg.step_aux * cfg.lam * (auxiliary - personal)   # line 11, eq. (8)
        return personal, auxiliary, steps

    def _personal_update(self, task: Task, personal: np.ndarray, anchor: np.ndarray,
                         rng: np.random.Generator) -> tuple[np.ndarray, int]:
        model = self.envs.model(task)
        inside = model.state_mask
        if self.config.mode == "expected":
            return self._expected_update(model, inside, personal, anchor)
        behaviour = self._behaviour(personal)
        batch = self._sampler.rollout([task], self.config.episodes_per_update,
                                      lambda obs: tabular.sample_actions(behaviour, tabular.batch_states(obs), rng),
                                      rng)
        return self._sampled_update(batch, 0, personal, anchor), batch.env_steps

    def _expected_update(self, model: TabularModel, inside: np.ndarray, personal: np.ndarray,
                         anchor: np.ndarray) -> tuple[np.ndarray, int]:
        """Eq. (6) on every (s, a) ∈ S_i × A of the task's model: (the updated table, 0 env steps)."""
        cfg, step = self.config, self.config.step_personal
        target = model.expected_reward + cfg.discount * model.live_transition @ _bootstrap(model, personal)
        updated = personal + step * (target - personal) - step * cfg.lam * (personal - anchor)
        return np.where(inside[:, None], updated, personal), 0

    def _behaviour(self, personal: np.ndarray) -> np.ndarray:
        """The ε-greedy behaviour policy on a personalized table (sampled mode)."""
        eps = self.config.exploration
        return (1 - eps) * greedy_policy(personal) + eps / personal.shape[1]

    def _sampled_update(self, batch: TrajectoryBatch, index: int, personal: np.ndarray,
                        anchor: np.ndarray) -> np.ndarray:
        """Eq. (7) on every transition of task `index`'s episodes of `batch`, in order (an episode
        ends on entering a terminal state, so termination alone stops the bootstrap)."""
        cfg, q, step = self.config, personal.copy(), self.config.step_personal
        states = tabular.batch_states(batch.observations)[index]
        next_states = np.concatenate([states[:, 1:], tabular.batch_states(batch.final_observations)[index][:, None]],
                                     1)
        for e, t in zip(*np.nonzero(batch.mask[index]), strict=True):
            s, a, s_next = states[e, t], int(batch.actions[index, e, t]), next_states[e, t]
            bootstrap = 0.0 if batch.terminated[index, e, t] else q[s_next].max()
            target = batch.rewards[index, e, t] + cfg.discount * bootstrap
            q[s, a] += step * (target - q[s, a]) - step * cfg.lam * (q[s, a] - anchor[s, a])
        return q

    def _aggregate(self, q_meta: np.ndarray, auxiliaries: Sequence[np.ndarray],
                   masks: Sequence[np.ndarray]) -> np.ndarray:
        """Eq. (9): Q^π(s, a) ← (1 − β) Q^π + β mean over the tasks containing s of Q_i^π(s, a)."""
        inside = np.stack(masks).astype(float)[:, :, None]                      # (N, S, 1)
        count = inside.sum(axis=0)
        mean = (inside * np.stack(auxiliaries)).sum(axis=0) / np.maximum(count, 1.0)
        return np.where(count > 0, (1 - self.config.beta) * q_meta + self.config.beta * mean, q_meta)

    def _value(self, task: Task, q_values: np.ndarray) -> float:
        """Exact discounted J (γ = `discount`) of the greedy policy of `q_values` (training curve only)."""
        return policy_return(self.envs.model(task), greedy_policy(q_values), self.config.discount)

    # ----- meta-test surface -----------------------------------------------------------------
    def meta_params(self) -> dict[str, np.ndarray]:
        if self.q_meta is None:
            raise RuntimeError("PMetaRL.meta_params: call meta_train() or load() first")
        return {"meta": self.q_meta.copy()}

    @property
    def privileged(self) -> bool:
        """mode='expected' updates on each test task's exact model: the privileged track."""
        return self.config.mode == "expected"

    def episode_policy(self, params: Sequence[Mapping[str, np.ndarray]], phase: Phase,
                       rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        """Adaptation rounds act ε-greedily on the personalized table (sampled mode); evaluation
        episodes greedily in it (PP), or in the meta table before any round (MP)."""
        if phase == "adapt" and not self.privileged:
            tables = [p.get("personal", p["meta"]) for p in params]
            return tabular.task_policy_sampler(np.stack([self._behaviour(q) for q in tables]), rng)
        return tabular.task_policy_sampler(np.stack([self.policy_matrix(p) for p in params]), rng)

    def adapt_round(self, params: Sequence[Mapping[str, np.ndarray]], rollouts: TrajectoryBatch) -> list[dict]:
        """One round of Algorithm 1 per task, alone: the personalized table is the adapted policy (PP)
        and the meta table takes this task's aggregation step (for a further round). Expected mode
        runs the R·K updates of eq. (6) on the task's model; sampled mode one pass of eq. (7) over
        the round's episodes. The task's own states S_i are those its model reaches (expected mode);
        sampled mode cannot tell them, so its aggregation covers every state (the others are
        unreachable in the task and never scored)."""
        adapted = []
        for i, p in enumerate(params):
            meta = p["meta"]
            if self.privileged:
                model = self.trial_models[i]
                inside = tabular.reachable_states(model)
                personal, auxiliary, _ = self._personal_round(meta, meta.copy(), functools.partial(
                    self._expected_update, model, inside))
            else:
                inside = np.ones(meta.shape[0], dtype=bool)
                personal = self._sampled_update(rollouts, i, p.get("personal", meta), meta)
                auxiliary = meta - self.config.step_aux * self.config.lam * (meta - personal)
            adapted.append({"meta": self._aggregate(meta, [auxiliary], [inside]), "personal": personal})
        return adapted

    def policy_matrix(self, params: Mapping[str, np.ndarray]) -> np.ndarray:
        return greedy_policy(params["personal"] if "personal" in params else params["meta"])

    def _state(self) -> dict[str, Any]:
        return {"meta": torch.from_numpy(self.meta_params()["meta"])}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        self.q_meta = state["meta"].numpy()

    def training_state(self) -> dict[str, Any]:
        """The checkpoint's state plus every train task's personal table (a round starts from it unless
        `reset_personal_each_round`), by the task's index in the train set."""
        if self._sampler is None:
            raise RuntimeError("PMetaRL.training_state: call meta_train() first (the personal tables are "
                               "indexed by the train set it sets up)")
        index = {task: i for i, task in enumerate(self._sampler)}
        personal = {str(index[task]): torch.from_numpy(table.copy()) for task, table in self.q_personal.items()}
        return {**super().training_state(), "personal": personal}

    def load_training_state(self, state: Mapping[str, Any]) -> None:
        super().load_training_state(state)
        self.q_personal = {self._sampler[int(i)]: table.numpy() for i, table in state["personal"].items()}


def greedy_policy(q_values: np.ndarray) -> np.ndarray:
    """π[s, a] uniform over argmax_a Q(s, a) (exact ties only)."""
    best = q_values == q_values.max(axis=1, keepdims=True)
    return best / best.sum(axis=1, keepdims=True)
