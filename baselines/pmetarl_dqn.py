"""pMeta-RL, DQN version: Wang et al., "On the Convergence Theory of Meta Reinforcement Learning with
Personalized Policies", arXiv:2209.10072, Algorithm 1 (§IV-C) with the DQN inner learner of §V-B/§V-C
and Table II, and the three baselines of Table V under the same budget (docs/sources/pmetarl.md §1.5).

Algorithm 1 with one Q-network per model (the personalized θ_i, the auxiliary ϑ_i, the meta ϑ), as
`PMetaDQN` runs it; one meta-training iteration is one round c:

    for c = 1..C:
        line 7:      θ_i ← ϑ, ϑ_i ← ϑ, target θ̄_i ← ϑ, a fresh Adam, for every task i
        lines 8-12:  every task in parallel (one sub-env each), R times:
                       one env step of T_i, ε-greedy in θ_i, stored in T_i's own prioritized buffer D_i
                       line 10, eq. 12: Adam step on θ_i with ∇[mean_b w_b δ_b²] + λ(θ_i − ϑ_i)
                       line 11, eq. 13: ϑ_i ← ϑ_i − η·Adam-direction of λ(ϑ_i − θ_i)   (see below)
                       θ̄_i ← θ_i every 350 gradient steps of task i
        line 14, eq. 14:  ϑ ← (1 − β) ϑ + β mean_i ϑ_i
        evaluation:  MP = greedy ϑ on every task, PP = greedy θ_i on T_i, 10 episodes each

Every personalized gradient uses task i's own buffer only; the auxiliary and meta updates use
parameters only (no trajectories are shared).

| item | value | source |
|---|---|---|
| learning rate α, hidden layers, batch | 1e-3 (Adam), [512, 512] ReLU, 64 | Table II |
| replay buffer D_i | 2e5 transitions per task, prioritized | Table II, §V-B |
| C, R | 30 rounds; R = 200 (CartPole), 500 (MountainCar) steps per task per round | Table II |
| λ, η, β, γ | 20, 1e-3, 1, 0.99 | Table II; §V-C (α = η = 0.001, β = 1) |
| ε-greedy | 0.3 → 0.01, linear over the first half of each task's C·R steps | Table II; length [DEFAULT] |
| target network | hard copy every 350 gradient steps (per task, over the run) | Table II |
| target at line 7 | reset to ϑ with the personalized network | [DEFAULT] |
| one personalized step | one env step + one gradient step (update-to-data ratio 1) | [DEFAULT] (Table III) |
| TD target | vanilla DQN: r + γ(1 − terminated) max_a' Q_θ̄(s', a') | DQN [3], as the paper names it |
| time-limit truncation | bootstraps (only termination is stored as done) | [DEFAULT] |
| loss | PER-weighted squared TD error, mean over the batch | [DEFAULT] (Tianshou) |
| PER | proportional, α = 0.6, β = 0.4 constant, priority abs(δ) + 1e-6, new = max | [DEFAULT] |
| proximal term | (λ/2)‖θ_i − ϑ_i‖² on every weight and bias | eq. 12 |
| its gradient | λ(θ_i − ϑ_i), added to the TD gradient before the Adam step | eq. 12; Adam [DEFAULT] |
| Adam state | fresh at every round start (the personalized network restarts from ϑ) | [DEFAULT] |
| auxiliary step (eq. 13) | an Adam step, lr η, on (λ/2)‖ϑ_i − θ_i‖² (`aux_optimizer="adam"`) | ours (below) |
| warm-up | 2000 uniform-random transitions per task into D_i before round 1 | [DEFAULT] |
| initial weights | PyTorch's Linear scheme, from the run's torch stream; every task starts at ϑ | ours |

[DEFAULT]: the recommended defaults where the paper is silent (docs/sources/pmetarl.md §1.5).

The auxiliary step. Eq. 13 as written, ϑ_i ← ϑ_i − ηλ(ϑ_i − θ_i) (`aux_optimizer="sgd"`), with Table
II's η = 1e-3 and λ = 20 moves the meta network at plain-SGD speed: the proximal term holds θ_i within
∇J/λ of ϑ_i, so ϑ_i moves by ηλ·∇J/λ = η∇J per step, about a hundredth of an Adam step of the same
learning rate. Measured on CartPole (seed 0, 64×64 networks, 500 warm-up transitions, 10 rounds of R = 200): the
literal step leaves MP and PP at 11-12 (an untrained network's return) after every round, while an
Adam step with lr η on the same objective reaches MP 27.4 and PP 89.1, and DQN* 138.9. The paper's
"η = 0.001" reads as an optimiser's learning rate (as α's does, for which the reference already takes
Adam), and its MP of 192.5 cannot come from the literal step, so Adam is the default here.

A round runs whole episodes (the harness's `rollout`): each task takes exactly R gradient steps per
round, one per env step; the steps of the round's last episode past the R-th are stored in D_i with no
update, so a round takes between R and R + horizon − 1 env steps per task.

Baselines of Table V (one core, `DQNCore`, the same network, buffer, TD loss, ε schedule, target
cadence and per-task env-step budget C·R):
- `IndependentDQN` (DQN*): one DQN per task on its own buffer, never averaged;
- `PooledDQN` (DQN): one DQN on one buffer that all tasks' transitions enter, one gradient step per
  transition (the same N·C·R gradient steps);
- `ModelAveragingDQN` (Model-Averaging): FedAvg of the per-task DQNs: every round the task networks
  restart from the average and train alone (λ = 0), then the average of the task networks is taken.

Scoring. The paper reports the best average return over training (Table V). The training curve
records after every round the greedy returns of the meta network (`meta_return`: pMeta-RL's MP, DQN,
Model-Averaging) and of each task's own network on its task (`personal_return`: pMeta-RL's PP, DQN*,
Model-Averaging's local networks), `evaluation_episodes` (10) each, and their best so far
(`best_meta_return`, `best_personal_return`). These evaluation episodes run on the harness's envs, so
the harness's env-step count includes them; `collection_env_steps` counts the training data alone.

Meta-test (protocol v2: the agent never sees the task). R_0 is the final meta network, greedy (MP;
for DQN*, which has no meta network, the greedy policy of the mean of its task networks' Q-values).
An adaptation round is the personalization step of Algorithm 1 run by the agent on the round's
episodes alone: the task's network starts from the meta network, and R gradient steps (λ-proximal to
an auxiliary network that starts at ϑ, as in training; λ = 0 for DQN and Model-Averaging, whose
adaptation is plain fine-tuning) run on a fresh prioritized buffer holding the task's episodes so far.
R_k after it is that personalized network, greedy (PP). DQN*'s adaptation picks, among its task
networks, the one with the smallest mean squared TD error on the episodes (task identification).
Adaptation episodes act ε-greedily with `adapt_epsilon`; evaluation episodes greedily.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.dqn.policies import QNetwork

from baselines.common import training
from baselines.common.agent import (
    COUNT,
    NON_NEGATIVE,
    POSITIVE,
    AgentConfig,
    Phase,
    checked,
    int_at_least,
    interval,
    sizes,
)
from baselines.common.personalization import (
    SeededReplayBuffer,
    Transitions,
    adam_auxiliary_step,
    add_proximal_gradient,
    aggregate,
    auxiliary_adam,
    auxiliary_step,
)
from baselines.common.policies import Params, detach
from baselines.common.sampler import TrainingEnvs, TrajectoryBatch, Transition
from metarl_envs.core import Task

__all__ = ["DQNConfig", "DQNCore", "IndependentDQN", "ModelAveragingDQN", "PMetaDQN", "PMetaDQNConfig",
           "PooledDQN", "PrioritizedReplayBuffer", "Transitions", "add_proximal_gradient", "aggregate",
           "auxiliary_step", "build_q_network", "linear_epsilon", "td_target"]


# --------------------------------------------------------------------------------------------
# The DQN pieces (each checked against a hand computation in tests/baselines/test_pmetarl_dqn.py)
# --------------------------------------------------------------------------------------------
def td_target(rewards: torch.Tensor, terminated: torch.Tensor, next_q_target: torch.Tensor,
              discount: float) -> torch.Tensor:
    """y = r + γ (1 − terminated) max_a' Q̄(s', a') (vanilla DQN; a truncated step bootstraps)."""
    return rewards + discount * (1.0 - terminated.float()) * next_q_target.max(dim=1).values


def linear_epsilon(step: int, total_steps: int, start: float, end: float, fraction: float) -> float:
    """ε after `step` env steps of a task: linear from `start` to `end` over `fraction·total_steps`."""
    span = fraction * total_steps
    progress = 1.0 if span <= 0 else min(1.0, step / span)
    return start + (end - start) * progress


def build_q_network(observation_space: spaces.Space, action_space: spaces.Discrete,
                    hidden_sizes: Sequence[int]) -> QNetwork:
    """SB3's DQN Q-network: a ReLU MLP obs → Q(s, ·) with the given hidden layers."""
    return QNetwork(observation_space, action_space, FlattenExtractor(observation_space),
                    features_dim=spaces.flatdim(observation_space), net_arch=list(hidden_sizes))


class PrioritizedReplayBuffer(SeededReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016) on SB3's `ReplayBuffer` storage.

    P(i) = p_i^α / Σ_k p_k^α over the stored transitions; the importance weight of a draw is
    w_i = (N·P(i))^(−β) / max_j (N·P(j))^(−β) = (P(i) / min_j P(j))^(−β). A new transition gets the
    largest priority seen so far; `update_priorities` sets p_i = |δ_i| + eps. Draws come from the
    caller's `np.random.Generator` (SB3's `sample` uses the global NumPy stream, and cpprb's prioritized
    buffer its own internal one, so neither can be seeded from the run's stream); sampling is exact and
    O(N) per batch (cumulative sums), which at 2e5 transitions costs well under a gradient step."""

    def __init__(self, buffer_size: int, observation_space: spaces.Space, action_space: spaces.Space, *,
                 alpha: float, beta: float, eps: float = 1e-6):
        super().__init__(buffer_size, observation_space, action_space)
        self.alpha, self.beta, self.eps = alpha, beta, eps
        self.scaled_priorities = np.zeros(buffer_size)
        """p_i^α of each slot"""
        self.max_priority = 1.0

    def _store_slot(self, slot: int) -> None:
        """A new transition gets the largest priority so far."""
        self.scaled_priorities[slot] = self.max_priority ** self.alpha

    def probabilities(self) -> np.ndarray:
        """P(i) of every stored transition, in slot order."""
        stored = self.scaled_priorities[:self.size()]
        return stored / stored.sum()

    def sample_prioritized(self, batch_size: int, rng: np.random.Generator
                           ) -> tuple[np.ndarray, dict[str, torch.Tensor], torch.Tensor]:
        """(slots, batch tensors, importance weights) of `batch_size` draws with replacement."""
        probabilities = self.probabilities()
        slots = rng.choice(len(probabilities), size=batch_size, p=probabilities)
        weights = (probabilities[slots] / probabilities.min()) ** (-self.beta)
        batch = {"observations": torch.as_tensor(self.observations[slots, 0]),
                 "actions": torch.as_tensor(self.actions[slots, 0, 0], dtype=torch.int64),
                 "rewards": torch.as_tensor(self.rewards[slots, 0]),
                 "next_observations": torch.as_tensor(self.next_observations[slots, 0]),
                 "terminated": torch.as_tensor(self.dones[slots, 0])}
        return slots, batch, torch.as_tensor(weights, dtype=torch.float32)

    def state(self) -> dict[str, Any]:
        filled = self.size()
        return {**super().state(), "priorities": torch.from_numpy(self.scaled_priorities[:filled].copy()),
                "max_priority": float(self.max_priority)}

    def load_state(self, state: Mapping[str, Any]) -> None:
        super().load_state(state)
        self.scaled_priorities[:len(state["priorities"])] = state["priorities"].numpy()
        self.max_priority = float(state["max_priority"])

    def update_priorities(self, slots: np.ndarray, td_errors: np.ndarray) -> None:
        priorities = np.abs(np.asarray(td_errors, dtype=np.float64)) + self.eps
        self.scaled_priorities[slots] = priorities ** self.alpha
        self.max_priority = max(self.max_priority, float(priorities.max()))


# --------------------------------------------------------------------------------------------
# Configs
# --------------------------------------------------------------------------------------------
UNIT = interval("[0, 1]")


@dataclasses.dataclass(frozen=True)
class DQNConfig(AgentConfig):
    """The shared DQN settings (Table II; [DEFAULT]s in the module docstring)."""

    learning_rate: float = checked(1e-3, POSITIVE)
    hidden_sizes: tuple[int, ...] = checked((512, 512), sizes(empty=False))
    batch_size: int = checked(64, COUNT)
    buffer_size: int = checked(200_000, COUNT)
    personal_updates: int = checked(200, COUNT)
    """R: personalized env + gradient steps per task per round (CartPole 200, MountainCar 500)"""
    discount: float = checked(0.99, interval("(0, 1)"))
    epsilon_start: float = checked(0.3, UNIT)
    epsilon_end: float = checked(0.01, UNIT)
    epsilon_fraction: float = checked(0.5, UNIT)
    """ε decays over this fraction of each task's C·R steps"""
    target_update_interval: int = checked(350, COUNT)
    per_alpha: float = checked(0.6, NON_NEGATIVE)
    per_beta: float = checked(0.4, UNIT)
    warmup_steps: int = checked(2000, int_at_least(0))
    """uniform-random transitions per task stored before the first round"""
    evaluation_episodes: int = checked(10, COUNT)
    """greedy episodes per task behind each training-curve evaluation"""
    adapt_epsilon: float = checked(0.01, UNIT)
    """ε of the meta-test adaptation episodes"""


@dataclasses.dataclass(frozen=True)
class PMetaDQNConfig(DQNConfig):
    lam: float = checked(20.0, POSITIVE)
    """λ, the proximal weight (Table II; Table IV sweeps 5, 20, 30, 50)"""
    aux_lr: float = 1e-3
    """η of the auxiliary step (eq. 13; §V-C); ηλ must lie in (0, 1]"""
    beta: float = checked(1.0, interval("(0, 1]"))
    """β of the aggregation (eq. 14; §V-C)"""
    aux_optimizer: Literal["sgd", "adam"] = "adam"
    """"adam": an Adam step (lr η) on (λ/2)‖ϑ_i − θ_i‖²; "sgd": eq. 13 as written, ϑ_i ← ϑ_i − ηλ(ϑ_i − θ_i)
    (with η = 1e-3 the meta network then moves at plain SGD speed and does not learn in the budget:
    module docstring)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.aux_lr * self.lam <= 1:
            raise ValueError(f"PMetaDQNConfig.aux_lr={self.aux_lr!r}: need 0 < ηλ ≤ 1 (λ = {self.lam})")


# --------------------------------------------------------------------------------------------
# The one DQN core
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Learner:
    """One trained Q-network: its target, optimiser, replay buffer and gradient-step count."""

    net: QNetwork
    target: QNetwork
    buffer: PrioritizedReplayBuffer
    optimizer: torch.optim.Adam
    gradient_steps: int = 0
    anchor: Params | None = None
    """the auxiliary network ϑ_i the proximal term pulls toward (None: no proximal term)"""
    anchor_optimizer: torch.optim.Adam | None = None
    """Adam on ϑ_i when the auxiliary step is an Adam step (`aux_optimizer="adam"`)"""

    def __post_init__(self) -> None:
        self.params: dict[str, torch.nn.Parameter] = dict(self.net.named_parameters())
        self.target_params: dict[str, torch.nn.Parameter] = dict(self.target.named_parameters())


def learner_state(learner: Learner) -> dict[str, Any]:
    """One learner's whole training state as tensors and numbers (a checkpoint is read `weights_only`)."""
    return {"net": detach(learner.params), "target": detach(learner.target_params),
            "optimizer": training.optimiser_state(learner.optimizer), "gradient_steps": int(learner.gradient_steps),
            "replay": learner.buffer.state(), "anchor": None if learner.anchor is None else detach(learner.anchor),
            "anchor_optimizer": None if learner.anchor_optimizer is None
            else training.optimiser_state(learner.anchor_optimizer)}


def load_learner_state(learner: Learner, state: Mapping[str, Any], aux_lr: float | None) -> None:
    """Restore `learner_state` into a learner built with the same config (`aux_lr`: the auxiliary Adam's)."""
    training.apply(learner.net, state["net"])
    training.apply(learner.target, state["target"])
    training.load_optimiser_state(learner.optimizer, state["optimizer"])
    learner.gradient_steps = int(state["gradient_steps"])
    learner.buffer.load_state(state["replay"])
    learner.anchor, learner.anchor_optimizer = None, None
    if state["anchor"] is not None:
        learner.anchor = detach(state["anchor"])
        if state["anchor_optimizer"] is not None:
            if aux_lr is None:
                raise ValueError("a checkpoint's learner has an auxiliary Adam, but this agent has no aux_lr")
            learner.anchor_optimizer = auxiliary_adam(learner.anchor, aux_lr)
            training.load_optimiser_state(learner.anchor_optimizer, state["anchor_optimizer"])


@dataclasses.dataclass(frozen=True)
class TrialTask:
    """One test task's state during a meta-test trial."""

    acting: tuple[Params, ...]
    """the network(s) the task acts with (greedy in the mean of their Q-values)"""
    meta: Params | None
    """the meta network the next personalization step starts from (None: DQN*)"""
    memory: Transitions | None = None
    """the task's adaptation transitions so far"""


class DQNCore(training.MetaLearner):
    """The shared DQN machinery; subclasses choose the learners, the round start and end (see the
    module docstring)."""

    name: ClassVar[str]
    config_class: ClassVar[type] = DQNConfig
    proximal_weight: ClassVar[float] = 0.0
    has_meta: ClassVar[bool] = True
    has_personal: ClassVar[bool] = True
    resumable = True

    def __init__(self, env_id: str, config: Any = None, env_kwargs: Mapping[str, Any] | None = None):
        super().__init__(env_id, config, env_kwargs)
        import gymnasium as gym

        import metarl_envs  # noqa: F401  (registers the ids)

        probe = gym.make(env_id, **self.env_kwargs)
        if not isinstance(probe.action_space, spaces.Discrete):
            raise TypeError(f"{type(self).__name__}: {env_id} must have a Discrete action space")
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        probe.close()
        self._template = build_q_network(self.observation_space, self.action_space, self.config.hidden_sizes)
        self._layers = [(f"{name}.weight", f"{name}.bias") for name, module in self._template.named_modules()
                        if isinstance(module, torch.nn.Linear)]
        self.meta: Params | None = None
        self.learners: list[Learner] = []

    # ----- set-up ----------------------------------------------------------------------------
    @property
    def tasks_per_iteration(self) -> None:
        """Every round visits every train task, in order (Algorithm 1 line 8)."""
        return None

    def meta_train(self, train_tasks: Sequence[Task], *, iterations: int, seed: int,
                   callback: Any = None) -> Any:
        self._rounds = int(iterations)
        return super().meta_train(train_tasks, iterations=iterations, seed=seed, callback=callback)

    def n_learners(self, n_tasks: int) -> int:
        return n_tasks

    def learner_of(self, task_index: int) -> int:
        return task_index

    def _new_learner(self, start: Params) -> Learner:
        cfg = self.config
        net = build_q_network(self.observation_space, self.action_space, cfg.hidden_sizes)
        target = build_q_network(self.observation_space, self.action_space, cfg.hidden_sizes)
        training.apply(net, start)
        training.apply(target, start)
        buffer = PrioritizedReplayBuffer(cfg.buffer_size, self.observation_space, self.action_space,
                                         alpha=cfg.per_alpha, beta=cfg.per_beta)
        return Learner(net, target, buffer, torch.optim.Adam(net.parameters(), lr=cfg.learning_rate, foreach=True))

    def _begin_training(self, train_tasks: TrainingEnvs, generator: torch.Generator) -> None:
        self._envs = train_tasks
        training.reset_parameters(self._template, generator)  # type: ignore[arg-type]
        self.meta = detach(dict(self._template.named_parameters()))
        self.learners = [self._new_learner(self.meta) for _ in range(self.n_learners(len(train_tasks)))]
        self._task_steps = np.zeros(len(train_tasks), dtype=np.int64)
        self._collected = 0
        self._best = {"meta": -math.inf, "personal": -math.inf}
        self._warmed_up = False

    # ----- one round (one meta-training iteration) -------------------------------------------
    def meta_train_step(self, tasks: list[Task], rng: np.random.Generator) -> training.StepResult:
        start_steps = self._envs.env_steps
        if not self._warmed_up:
            self._warm_up(tasks, rng)
            self._warmed_up = True
        self._start_round()                                                          # line 7
        returns = self._collect_round(tasks, rng)                                    # lines 8-12
        personal = self._personal_networks()
        self._end_round()                                                            # line 14
        meta_return = self._evaluate(tasks, [(self.meta,)] * len(tasks), rng) if self.has_meta else math.nan
        personal_return = self._evaluate(tasks, [(p,) for p in personal], rng) if self.has_personal else math.nan
        for key, value in (("meta", meta_return), ("personal", personal_return)):
            if not math.isnan(value):
                self._best[key] = max(self._best[key], value)
        extra = {"meta_return": meta_return, "personal_return": personal_return,
                 "best_meta_return": self._best["meta"] if self.has_meta else math.nan,
                 "best_personal_return": self._best["personal"] if self.has_personal else math.nan,
                 "collection_env_steps": float(self._collected),
                 "gradient_steps": float(sum(learner.gradient_steps for learner in self.learners)),
                 "epsilon": self._epsilon(int(self._task_steps.min()))}
        return training.StepResult(self._envs.env_steps - start_steps, float(np.mean(returns)), personal_return,
                                   extra)

    def _start_round(self) -> None:
        """Line 7 (subclasses that restart the task networks from the meta network)."""

    def _after_gradient_step(self, learner: Learner) -> None:
        """Line 11 (pMeta-RL's auxiliary step)."""

    def _end_round(self) -> None:
        """Line 14 (the aggregation of subclasses that have one)."""

    def _personal_networks(self) -> list[Params]:
        """Each train task's own network (PP), by task."""
        return [detach(dict(self.learners[self.learner_of(i)].net.named_parameters()))
                for i in range(len(self._task_steps))]

    def _restart_learners(self) -> None:
        """θ_i ← ϑ, target ← ϑ, fresh Adam (line 7); the buffers and step counts persist."""
        for learner in self.learners:
            training.apply(learner.net, self.meta)
            training.apply(learner.target, self.meta)
            learner.optimizer = torch.optim.Adam(learner.net.parameters(), lr=self.config.learning_rate, foreach=True)

    def _epsilon(self, step: int) -> float:
        cfg = self.config
        total = self._rounds * cfg.personal_updates
        return linear_epsilon(step, total, cfg.epsilon_start, cfg.epsilon_end, cfg.epsilon_fraction)

    def _warm_up(self, tasks: list[Task], rng: np.random.Generator) -> None:
        """`warmup_steps` uniform-random transitions per task into the buffers (whole episodes)."""
        counts = np.zeros(len(tasks), dtype=np.int64)
        episodes = max(1, math.ceil(self.config.warmup_steps / self._envs.horizon))
        while (counts < self.config.warmup_steps).any():
            active = np.flatnonzero(counts < self.config.warmup_steps)
            batch = self._envs.rollout([tasks[i] for i in active], episodes,
                                       lambda obs: rng.integers(self.action_space.n, size=obs.shape[:2]), rng)
            for j, i in enumerate(active):
                transitions = Transitions.of_batch(batch, j)
                self.learners[self.learner_of(i)].buffer.add_transitions(transitions)
                counts[i] += len(transitions.rewards)
        self._collected += int(counts.sum())

    def _collect_round(self, tasks: list[Task], rng: np.random.Generator) -> list[float]:
        """Lines 8-12: R gradient steps per task, one per env step of the task (module docstring);
        returns the round's training-episode returns."""
        cfg, updates, returns = self.config, np.zeros(len(tasks), dtype=np.int64), []
        while (updates < cfg.personal_updates).any():
            active = np.flatnonzero(updates < cfg.personal_updates)

            def act(obs: np.ndarray, active: np.ndarray = active) -> np.ndarray:
                actions = np.zeros(obs.shape[:2], dtype=np.int64)
                for j, i in enumerate(active):
                    params = self.learners[self.learner_of(i)].params
                    actions[j] = self._epsilon_greedy(params, obs[j], self._epsilon(int(self._task_steps[i])), rng)
                return actions

            def observe(step: Transition, active: np.ndarray = active) -> None:
                for j, i in enumerate(active):
                    if not step.alive[j, 0]:
                        continue
                    learner = self.learners[self.learner_of(i)]
                    learner.buffer.add_transitions(Transitions(
                        step.observations[j], step.actions[j], step.rewards[j], step.next_observations[j],
                        step.terminated[j]))
                    self._task_steps[i] += 1
                    self._collected += 1
                    if updates[i] < cfg.personal_updates:
                        self._gradient_step(learner, rng)
                        self._after_gradient_step(learner)
                        updates[i] += 1

            batch = self._envs.rollout([tasks[i] for i in active], 1, act, rng, observe)
            returns.extend(batch.episode_returns().ravel().tolist())
        return returns

    def _epsilon_greedy(self, params: Params, obs: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        """Actions for a batch of observations (E, d): uniform with probability ε, else greedy."""
        with torch.no_grad():
            greedy = self.q_values(params, torch.as_tensor(obs)).argmax(dim=1).numpy()
        explore = rng.random(len(obs)) < epsilon
        return np.where(explore, rng.integers(self.action_space.n, size=len(obs)), greedy)

    def _gradient_step(self, learner: Learner, rng: np.random.Generator, lam: float | None = None) -> None:
        """One Adam step on the PER-weighted squared TD error (+ the proximal term), the priority
        update, and the hard target copy every `target_update_interval` steps."""
        cfg = self.config
        lam = self.proximal_weight if lam is None else lam
        slots, batch, weights = learner.buffer.sample_prioritized(cfg.batch_size, rng)
        with torch.no_grad():
            target = td_target(batch["rewards"], batch["terminated"],
                               self.q_values(learner.target_params, batch["next_observations"]), cfg.discount)
        q_taken = self.q_values(learner.params, batch["observations"]).gather(1, batch["actions"][:, None])[:, 0]
        td_error = target - q_taken
        loss = (weights * td_error.pow(2)).mean()
        learner.optimizer.zero_grad()
        loss.backward()
        if lam > 0 and learner.anchor is not None:
            add_proximal_gradient(list(learner.params.values()), [learner.anchor[k] for k in learner.params], lam)
        learner.optimizer.step()
        learner.buffer.update_priorities(slots, td_error.detach().numpy())
        learner.gradient_steps += 1
        if learner.gradient_steps % cfg.target_update_interval == 0:
            polyak_update(learner.net.parameters(), learner.target.parameters(), 1.0)

    def _evaluate(self, tasks: list[Task], networks: Sequence[tuple[Params, ...]], rng: np.random.Generator) -> float:
        """Mean greedy return over tasks, `evaluation_episodes` episodes each, task i acting with `networks[i]`."""
        batch = self._envs.rollout(tasks, self.config.evaluation_episodes,
                                   self._acting_policy(networks, 0.0, rng), rng)
        return float(batch.episode_returns().mean())

    def q_values(self, params: Params, obs: torch.Tensor) -> torch.Tensor:
        """Q(obs, ·) of the network with parameters `params` (the template's layers, ReLU between)."""
        x = obs.float()
        for index, (weight, bias) in enumerate(self._layers):
            x = torch.nn.functional.linear(x, params[weight], params[bias])
            if index < len(self._layers) - 1:
                x = torch.relu(x)
        return x

    def _acting_policy(self, networks: Sequence[tuple[Params, ...]], epsilon: float,
                       rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        """obs (task, episode, d) ↦ actions, task i ε-greedy in the mean Q of `networks[i]`."""

        def act(obs: np.ndarray) -> np.ndarray:
            actions = np.zeros(obs.shape[:2], dtype=np.int64)
            with torch.no_grad():
                for i, sets in enumerate(networks):
                    x = torch.as_tensor(obs[i], dtype=torch.float32)
                    q = self.q_values(sets[0], x) if len(sets) == 1 else \
                        torch.stack([self.q_values(p, x) for p in sets]).mean(dim=0)
                    greedy = q.argmax(dim=1).numpy()
                    if epsilon > 0:
                        explore = rng.random(len(greedy)) < epsilon
                        greedy = np.where(explore, rng.integers(self.action_space.n, size=len(greedy)), greedy)
                    actions[i] = greedy
            return actions

        return act

    # ----- meta-test -------------------------------------------------------------------------
    def meta_params(self) -> TrialTask:
        if self.meta is None:
            raise RuntimeError(f"{type(self).__name__}.meta_params: call meta_train() or load() first")
        return TrialTask((self.meta,), self.meta)

    def episode_policy(self, params: Sequence[TrialTask], phase: Phase,
                       rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        """Adaptation episodes act ε-greedily (`adapt_epsilon`), evaluation episodes greedily."""
        if phase == "adapt":
            self._adapt_rng = rng
        epsilon = self.config.adapt_epsilon if phase == "adapt" else 0.0
        return self._acting_policy([p.acting for p in params], epsilon, rng)

    def adapt_round(self, params: Sequence[TrialTask], rollouts: TrajectoryBatch) -> list[TrialTask]:
        adapted = []
        for i, task in enumerate(params):
            fresh = Transitions.of_batch(rollouts, i)
            memory = fresh if task.memory is None else Transitions.concatenate([task.memory, fresh])
            adapted.append(self._adapt(task, memory, self._adapt_rng))
        return adapted

    def _adapt(self, task: TrialTask, memory: Transitions, rng: np.random.Generator) -> TrialTask:
        """The personalization step of Algorithm 1 on the task's episodes (module docstring)."""
        if task.meta is None:
            raise RuntimeError(f"{type(self).__name__}: no meta network to personalize")
        personal, auxiliary = self.personalize(task.meta, memory, rng)
        return TrialTask((personal,), self._next_meta(task.meta, auxiliary), memory)

    def personalize(self, start: Params, memory: Transitions, rng: np.random.Generator) -> tuple[Params, Params]:
        """(θ, ϑ_aux) after R personalized steps from `start` on a fresh prioritized buffer holding
        `memory`, λ-proximal to an auxiliary network that starts at `start` (λ = this agent's)."""
        learner = self._new_learner(start)
        learner.buffer.add_transitions(memory)
        self._attach_auxiliary(learner, start)
        for _ in range(self.config.personal_updates):
            self._gradient_step(learner, rng)
            self._after_gradient_step(learner)
        personal = detach(dict(learner.net.named_parameters()))
        return personal, (personal if learner.anchor is None else learner.anchor)

    def _attach_auxiliary(self, learner: Learner, start: Params) -> None:
        """Give `learner` an auxiliary network starting at `start` (agents with a proximal term)."""

    def _next_meta(self, meta: Params, auxiliary: Params) -> Params:
        return meta

    # ----- checkpoints ------------------------------------------------------------------------
    def training_state(self) -> dict[str, Any]:
        """Everything a round changes, for a checkpoint (`run_meta_training`): the meta network, every
        learner (network, target, Adam state, gradient steps, the filled replay slots with their
        priorities, and the auxiliary network with its Adam where there is one) and the loop's counters.
        Larger than a stored result by the replay buffers (CartPole's full 2e5 slots ≈ 11 MB a task)."""
        return {"meta": {} if self.meta is None else detach(self.meta),
                "learners": [learner_state(learner) for learner in self.learners],
                "task_steps": torch.from_numpy(self._task_steps.copy()), "collected": int(self._collected),
                "best": dict(self._best), "warmed_up": bool(self._warmed_up)}

    def load_training_state(self, state: Mapping[str, Any]) -> None:
        """Restore `training_state()` into an agent whose `meta_train` set-up is done (same config, envs)."""
        if len(state["learners"]) != len(self.learners):
            raise ValueError(f"{type(self).__name__}: the checkpoint holds {len(state['learners'])} learners, "
                             f"this run {len(self.learners)}")
        self.meta = detach(state["meta"]) if state["meta"] else None
        for learner, saved in zip(self.learners, state["learners"], strict=True):
            load_learner_state(learner, saved, getattr(self.config, "aux_lr", None))
        self._task_steps = state["task_steps"].numpy().copy()
        self._collected, self._warmed_up = int(state["collected"]), bool(state["warmed_up"])
        self._best = {key: float(value) for key, value in state["best"].items()}

    # ----- acting, save and load -------------------------------------------------------------
    def _mode(self, obs: np.ndarray, params: TrialTask) -> np.ndarray:
        return self._acting_policy([params.acting], 0.0, np.random.default_rng(0))(np.asarray(obs)[None])[0]

    def _sample(self, obs: np.ndarray, params: TrialTask, rng: np.random.Generator) -> np.ndarray:
        return self._acting_policy([params.acting], self.config.adapt_epsilon, rng)(np.asarray(obs)[None])[0]

    def _state(self) -> dict[str, Any]:
        """What a meta-test reads, and no more: the meta network, or for DQN* (no meta network) its
        task networks. The other agents' training-task networks are left out: a trial personalizes
        from the meta network, so they would be dead weight in every stored result (a 512×512
        Q-network is about 1 MB)."""
        learned = self.meta is not None if self.has_meta else bool(self.learners)
        if not learned:
            raise RuntimeError(f"{type(self).__name__}.save: nothing learned yet")
        if self.has_meta:
            return {"meta": dict(self.meta)}
        return {"personal": [dict(learner.net.named_parameters()) for learner in self.learners]}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Reads `_state`'s output; a state that also holds the other key (results stored before the
        trim held both) loads too, the extra networks unused."""
        needed = "meta" if self.has_meta else "personal"
        if needed not in state:
            raise ValueError(f"{type(self).__name__}.load: the state has no {needed!r} entry "
                             f"(keys: {sorted(state)})")
        self.meta = detach(state["meta"]) if "meta" in state else None
        self.learners = [self._new_learner(detach(p)) for p in state.get("personal", ())]


class PooledDQN(DQNCore):
    """DQN (Table V): one network trained on the pooled transitions of every task."""

    name = "DQN (pooled)"
    has_personal = False

    def n_learners(self, n_tasks: int) -> int:
        return 1

    def learner_of(self, task_index: int) -> int:
        return 0

    def _end_round(self) -> None:
        self.meta = detach(dict(self.learners[0].net.named_parameters()))


class IndependentDQN(DQNCore):
    """DQN* (Table V): one independent DQN per task, each on its own buffer."""

    name = "DQN*"
    has_meta = False

    def _end_round(self) -> None:
        # no meta network: kept at the initial weights for save/load; the trial acts with the task networks
        return None

    def meta_params(self) -> TrialTask:
        if not self.learners:
            raise RuntimeError("IndependentDQN.meta_params: call meta_train() or load() first")
        return TrialTask(tuple(self._personal_networks_all()), None)

    def _personal_networks_all(self) -> list[Params]:
        return [detach(dict(learner.net.named_parameters())) for learner in self.learners]

    def _adapt(self, task: TrialTask, memory: Transitions, rng: np.random.Generator) -> TrialTask:
        """Keep the task network with the smallest mean squared TD error on the episodes."""
        candidates = self._personal_networks_all()
        errors = [self.td_error(p, memory) for p in candidates]
        return TrialTask((candidates[int(np.argmin(errors))],), None, memory)

    def td_error(self, params: Params, memory: Transitions) -> float:
        """Mean squared TD error of Q_params on `memory`, bootstrapping with Q_params itself."""
        with torch.no_grad():
            obs = torch.as_tensor(memory.observations, dtype=torch.float32)
            next_obs = torch.as_tensor(memory.next_observations, dtype=torch.float32)
            target = td_target(torch.as_tensor(memory.rewards, dtype=torch.float32),
                               torch.as_tensor(memory.terminated), self.q_values(params, next_obs),
                               self.config.discount)
            taken = self.q_values(params, obs).gather(1, torch.as_tensor(memory.actions, dtype=torch.int64)[:, None])
            return float((target - taken[:, 0]).pow(2).mean())


class ModelAveragingDQN(DQNCore):
    """Model-Averaging (Table V): every round the task networks restart from the average (line 7)
    and train alone; the new average is the mean of the task networks (FedAvg, uniform weights)."""

    name = "Model-Averaging DQN"

    def _start_round(self) -> None:
        self._restart_learners()

    def _end_round(self) -> None:
        self.meta = aggregate(self.meta, self._personal_networks(), 1.0)

    def _next_meta(self, meta: Params, auxiliary: Params) -> Params:
        return aggregate(meta, [auxiliary], 1.0)


class PMetaDQN(DQNCore):
    """pMeta-RL with the DQN inner learner (Algorithm 1; module docstring)."""

    name = "pMeta-RL DQN"
    config_class = PMetaDQNConfig

    @property
    def proximal_weight(self) -> float:  # type: ignore[override]
        return self.config.lam

    def _start_round(self) -> None:
        self._restart_learners()                                                    # θ_i ← ϑ
        for learner in self.learners:
            self._attach_auxiliary(learner, self.meta)                              # ϑ_i ← ϑ (eq. 25)

    def _attach_auxiliary(self, learner: Learner, start: Params) -> None:
        learner.anchor = detach(start)
        learner.anchor_optimizer = None
        if self.config.aux_optimizer == "adam":
            learner.anchor_optimizer = auxiliary_adam(learner.anchor, self.config.aux_lr)

    def _after_gradient_step(self, learner: Learner) -> None:
        if learner.anchor is None:
            return
        if learner.anchor_optimizer is None:                                        # eq. 13 as written
            auxiliary_step(learner.anchor, learner.params, self.config.aux_lr * self.config.lam)
            return
        adam_auxiliary_step(learner.anchor, learner.params, self.config.lam, learner.anchor_optimizer)

    def _end_round(self) -> None:                                                   # eq. 14
        self.meta = aggregate(self.meta, [learner.anchor for learner in self.learners], self.config.beta)

    def _next_meta(self, meta: Params, auxiliary: Params) -> Params:
        return aggregate(meta, [auxiliary], self.config.beta)
