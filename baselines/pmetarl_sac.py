"""pMeta-RL, SAC version with a PEARL-style context encoder: Wang et al., "On the Convergence Theory of
Meta Reinforcement Learning with Personalized Policies", arXiv:2209.10072, Definition 2 (§III-C) and
Algorithm 1 with eqs. 10-14 (§IV-C), Table III's settings for the MuJoCo suite (§V-D); the encoder
and the test-time adaptation are PEARL's (Rakelly et al. 2019), as the paper says
(docs/sources/pmetarl.md §1.3, §1.5, §3).

Three models: an actor π(a|s, z), twin soft critics Q(s, a, z) and an inference network q(z|c). Each
exists three times, as in the DQN version (`baselines/pmetarl_dqn.py`): per task a personalized set
(φ_i, θ_i, ζ_i) and an auxiliary set (ω_i, ϑ_i, ϖ_i), and one meta set (ω, ϑ, ϖ). One meta-training
iteration is one round c:

    for c = 1..C:
        line 7:      (φ_i, θ_i, ζ_i) ← (ω, ϑ, ϖ), auxiliaries ← (ω, ϑ, ϖ), target critics θ̄_i ← ϑ,
                     fresh Adams, for every task i
        lines 2-5:   each training episode of T_i acts with one z: z ~ N(0, I) for the round's first
                     episode, later z ~ q_{ζ_i}(z|c), c = `context_size` transitions drawn from D_i
        lines 8-12:  every task in parallel (one sub-env each), R times:
                       one env step of T_i, a ~ π_{φ_i}(·|s, z), stored in T_i's own buffer D_i
                       draw a batch b (256) and a context c (100) from D_i; z ~ q_{ζ_i}(z|c) (reparameterised)
                       line 10, eq. 12 on the critic and the encoder (Definition 2's F_{i,Q}, F_{i,q}):
                         Adam step on ∇[J_Q(θ_i, ζ_i) + w_KL·KL(q_{ζ_i}(z|c) ‖ N(0, I))] + λ(x − x_aux)
                       line 10, eq. 12 on the actor (F_{i,π}): Adam step on ∇J_π(φ_i; z̄) + λ(φ_i − ω_i)
                       θ̄_i ← τθ_i + (1 − τ)θ̄_i
                       line 11, eq. 13: each auxiliary ← an Adam step of size η on (λ/2)‖x_aux − x‖²
        line 14, eq. 14:  (ω, ϑ, ϖ) ← (1 − β)(ω, ϑ, ϖ) + β mean_i (ω_i, ϑ_i, ϖ_i)
        evaluation:  PP (every φ_i on T_i) and MP (the meta set, PEARL's adaptation), see Scoring

with the losses of Definition 2 (z̄: no gradient flows into the encoder; SAC with twin critics):

    J_Q = E_b ½ Σ_{j=1,2} (Q_{θ_i,j}(s, a, z) − y)²,
          y = r + γ(1 − terminated)(min_j Q_{θ̄_i,j}(s', a', z̄) − α log π(a'|s', z̄)),  a' ~ π_{φ_i}(·|s', z̄)
    J_π = E_b [α log π_{φ_i}(ã|s, z̄) − min_j Q_{θ_i,j}(s, ã, z̄)],  ã ~ π_{φ_i}(·|s, z̄) (reparameterised)

The encoder (PEARL): every context transition (s, a, r) goes through one MLP to a Gaussian factor
N(μ_n, σ²_n) (σ²_n = softplus, floored at 1e-7); the posterior is their product,
σ² = 1/Σ_n σ_n⁻², μ = σ² Σ_n μ_n σ_n⁻² (permutation invariant); the prior is N(0, I), and the
encoder learns from the critic's loss through z plus the KL term (it never sees the actor's loss).
The actor is a tanh-squashed Gaussian, a = tanh(u), u ~ N(μ(s, z), σ(s, z)²), log π(a) = log N(u) −
Σ log(1 − a²) (SB3's SAC actor network, its log σ clamped to [−20, 2]; the Jacobian term in the form
that stays exact in float32, not SB3's log(1 − a² + 1e-6), which is off by up to 1e-2 per dimension
where tanh rounds to ±1).

| item | value | source |
|---|---|---|
| actor, critic learning rate | 1e-3, 1e-3 (Adam) | Table III |
| actor, critic hidden layers | [512, 512] ReLU (SB3's SAC `Actor`, `ContinuousCritic`) | Table III |
| batch D | 256 transitions of D_i | Table III |
| replay buffer D_i | 2e4 per task (Half-Cheetah-Vel; Ant and Cheetah-Dir 1e5) | Table III |
| C, R | 100 rounds, R = 2000 env and gradient steps per task per round (Cheetah-Vel) | Table III |
| λ, τ, γ | 20, 0.005, 0.99 | Table III |
| one personalized step | one env step + one gradient step (C·R·N = Table III's 2e6) | Table III [DEFAULT] |
| critics | twin Q and twin Polyak targets (SAC-v2), the target's entropy term, no V network | [DEFAULT] (Tianshou) |
| SAC temperature α | 0.2, fixed (PEARL's reward scale 5 with α = 1 weighs reward and entropy alike) | [DEFAULT] |
| encoder | MLP [200, 200, 200] ReLU → 2 × latent dim 5, product of Gaussians, prior N(0, I) | [DEFAULT] (PEARL) |
| encoder learning rate | 3e-4 (Adam) | [DEFAULT] (PEARL's context_lr) |
| KL weight w_KL | 0.1 (Definition 2 writes 1; PEARL's kl_lambda is 0.1) | [DEFAULT] |
| context | 100 transitions (s, a, r) drawn uniformly from D_i; no next observation | [DEFAULT] (PEARL) |
| z while collecting | prior in a round's first episode, then posterior on a context of D_i | [DEFAULT] (PEARL) |
| z in the actor loss and the target | detached (z̄) | Definition 2, PEARL |
| proximal term | (λ/2)‖x − x_aux‖² on every weight and bias of actor, both critics and encoder | eq. 12 |
| its gradient | λ(x − x_aux), added before the Adam step | eq. 12; Adam [DEFAULT] |
| auxiliary step (eq. 13) | an Adam step, lr η = 1e-3, on (λ/2)‖x_aux − x‖² (`aux_optimizer`) | `pmetarl_dqn` |
| aggregation | β = 1, uniform over the tasks, for actor, critics and encoder | eq. 14, §V-C |
| not aggregated | target critics (reset to ϑ at line 7), Adam states (fresh at line 7) | [DEFAULT] |
| warm-up | 2000 transitions per task before round 1, initial actor, z ~ N(0, I) | [DEFAULT] (PEARL) |
| time-limit truncation | bootstraps (only termination is stored as done) | [DEFAULT] |
| initial weights | PyTorch's Linear scheme, from the run's torch stream; every task starts at the meta set | ours |

[DEFAULT]: the recommended defaults where the paper is silent (docs/sources/pmetarl.md §1.5).
Not implemented: automatic entropy tuning and PEARL's policy-mean/log-std penalties (neither is in the paper).

A round runs whole episodes (the harness's `rollout`): each task takes exactly R gradient steps per
round, one per env step; the steps of the round's last episode past the R-th are stored with no
update (R = 2000 is ten whole 200-step episodes, so none are on Half-Cheetah-Vel). Random numbers:
batch and context slots and every Gaussian draw of a gradient step come from the run's numpy stream
(`draw_update`), action noise from a torch stream seeded from it once per rollout.

Scoring. After every round the training curve records (10 episodes of the paper's "average return"
are `evaluation_episodes` per task, 1 by default): `personal_return`, every φ_i on its own task with
z ~ q_{ζ_i}(z|c) on a context of D_i (PP); `meta_return`, the meta set with PEARL's adaptation on every
train task: one episode with z ~ N(0, I), then the evaluation episodes with z ~ q_ϖ(z|c) on that
episode (MP); `meta_prior_return`, that first episode's return; and the best of each so far. Every
evaluation acts with the mean action tanh(μ(s, z)) (PEARL's eval_deterministic). These episodes run
on the harness's envs, so its env-step count includes them; `collection_env_steps` counts the
training data alone.

Meta-test (protocol v2: the agent never sees the task). The paper tests "consistent with PEARL" and
defines no personalization step on an unseen task, so there is no gradient step at meta-test: every
task starts with an empty context; each adaptation round adds its episodes' transitions to the
task's context; every episode (adaptation or evaluation) draws one z per sub-env from the meta
encoder's posterior on the context so far (the prior N(0, I) while it is empty) and acts with the
meta actor's mean action. Evaluation episodes never enter the context.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.torch_layers import FlattenExtractor, create_mlp
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.sac.policies import Actor
from torch import nn

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
from baselines.common.sampler import TrainingEnvs, TrajectoryBatch, Transition, torch_generator
from metarl_envs.core import Task

__all__ = ["PART_NAMES", "PMetaSAC", "PMetaSACConfig", "TaskLearner", "TrialContext", "UpdateInputs",
           "context_features", "gaussian_factors", "kl_to_standard_normal", "product_of_gaussians",
           "soft_target", "squashed_gaussian"]

PART_NAMES = ("actor", "critic", "encoder")
"""the three models of Definition 2, each personalized, auxiliary and meta"""
MIN_VARIANCE = 1e-7
"""floor of each Gaussian factor's variance (PEARL)"""


# --------------------------------------------------------------------------------------------
# The pieces (each checked against a direct computation in tests/baselines/test_pmetarl_sac.py)
# --------------------------------------------------------------------------------------------
def gaussian_factors(encoder: nn.Module | Callable[[torch.Tensor], torch.Tensor], context: torch.Tensor,
                     latent_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ_n, σ²_n) of every context transition (n, latent): the encoder's output split in two, the
    variance through softplus."""
    out = encoder(context)
    return out[..., :latent_dim], torch.nn.functional.softplus(out[..., latent_dim:])


def product_of_gaussians(means: torch.Tensor, variances: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised product of the factors N(μ_n, σ²_n) over the context axis (the first):
    σ² = 1 / Σ_n σ_n⁻², μ = σ² Σ_n μ_n σ_n⁻² (each σ²_n floored at 1e-7)."""
    variances = variances.clamp(min=MIN_VARIANCE)
    variance = 1.0 / torch.reciprocal(variances).sum(dim=0)
    return variance * (means / variances).sum(dim=0), variance


def kl_to_standard_normal(mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (σ²_j + μ²_j − 1 − log σ²_j)."""
    return 0.5 * (variance + mean.pow(2) - 1.0 - variance.log()).sum(dim=-1)


def squashed_gaussian(mean: torch.Tensor, log_std: torch.Tensor,
                      noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, log π(a)) of a = tanh(u), u = μ + σ ε for standard normal `noise` ε: log N(u; μ, σ) − Σ log(1 − a²),
    the Jacobian term written 2(log 2 − u − softplus(−2u)), which float32 keeps exact where a rounds to ±1."""
    u = mean + log_std.exp() * noise
    gaussian = (-0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)
    jacobian = 2.0 * (math.log(2.0) - u - torch.nn.functional.softplus(-2.0 * u))
    return torch.tanh(u), gaussian - jacobian.sum(dim=-1)


def soft_target(rewards: torch.Tensor, terminated: torch.Tensor, next_q: torch.Tensor, next_log_prob: torch.Tensor,
                discount: float, alpha: float) -> torch.Tensor:
    """y = r + γ(1 − terminated)(min_j Q̄_j(s', a') − α log π(a'|s')); `next_q` is already the minimum."""
    return rewards + discount * (1.0 - terminated) * (next_q - alpha * next_log_prob)


def context_features(transitions: Mapping[str, torch.Tensor], use_next_obs: bool) -> torch.Tensor:
    """One row per context transition: (s, a, r), and s' when `use_next_obs`."""
    parts = [transitions["observations"], transitions["actions"], transitions["rewards"].reshape(-1, 1)]
    if use_next_obs:
        parts.append(transitions["next_observations"])
    return torch.cat(parts, dim=-1)


# --------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PMetaSACConfig(AgentConfig):
    """Table III's Half-Cheetah-Vel column; [DEFAULT]s in the module docstring."""

    actor_lr: float = checked(1e-3, POSITIVE)
    critic_lr: float = checked(1e-3, POSITIVE)
    encoder_lr: float = checked(3e-4, POSITIVE)
    """[DEFAULT] PEARL's context_lr"""
    hidden_sizes: tuple[int, ...] = checked((512, 512), sizes(empty=False))
    """actor and critic hidden layers"""
    encoder_sizes: tuple[int, ...] = checked((200, 200, 200), sizes(empty=False))
    latent_dim: int = checked(5, COUNT)
    batch_size: int = checked(256, COUNT)
    context_size: int = checked(100, COUNT)
    """transitions of D_i in each context c"""
    use_next_obs_in_context: bool = False
    buffer_size: int = checked(20_000, COUNT)
    personal_updates: int = checked(2000, COUNT)
    """R: personalized env + gradient steps per task per round"""
    lam: float = checked(20.0, POSITIVE)
    """λ, the proximal weight"""
    aux_lr: float = 1e-3
    """η of the auxiliary step (eq. 13); ηλ must lie in (0, 1]"""
    beta: float = checked(1.0, interval("(0, 1]"))
    """β of the aggregation (eq. 14)"""
    aux_optimizer: Literal["sgd", "adam"] = "adam"
    """"adam": an Adam step (lr η) on (λ/2)‖x_aux − x‖²; "sgd": eq. 13 as written"""
    tau: float = checked(0.005, interval("(0, 1]"))
    """Polyak weight of the target critics"""
    discount: float = checked(0.99, interval("(0, 1)"))
    sac_alpha: float = checked(0.2, NON_NEGATIVE)
    """the SAC temperature (the paper's α of J_π, not eq. 12's learning rate)"""
    kl_weight: float = checked(0.1, NON_NEGATIVE)
    warmup_steps: int = checked(2000, int_at_least(0))
    """transitions per task collected before the first round (initial actor, z ~ N(0, I))"""
    evaluation_episodes: int = checked(1, COUNT)
    """episodes per task behind each training-curve evaluation"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.aux_lr * self.lam <= 1:
            raise ValueError(f"PMetaSACConfig.aux_lr={self.aux_lr!r}: need 0 < ηλ ≤ 1 (λ = {self.lam})")


# --------------------------------------------------------------------------------------------
# Per-task state
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class TaskLearner:
    """One task's personalized models, their target critics, optimisers and auxiliary models, and D_i."""

    actor: Actor
    critic: ContinuousCritic
    target: ContinuousCritic
    encoder: nn.Sequential
    buffer: SeededReplayBuffer
    optimizers: dict[str, torch.optim.Adam] = dataclasses.field(default_factory=dict)
    auxiliary: dict[str, Params] = dataclasses.field(default_factory=dict)
    """ω_i, ϑ_i, ϖ_i by part (empty: no proximal term)"""
    auxiliary_optimizers: dict[str, torch.optim.Adam | None] = dataclasses.field(default_factory=dict)
    gradient_steps: int = 0

    def part(self, name: str) -> nn.Module:
        return getattr(self, name)

    def params(self, name: str) -> dict[str, nn.Parameter]:
        return dict(self.part(name).named_parameters())

    def personal(self) -> dict[str, Params]:
        return {name: detach(self.params(name)) for name in PART_NAMES}


class UpdateInputs(NamedTuple):
    """Everything random in one gradient step: the batch b, the context c and the standard normal draws."""

    batch: dict[str, torch.Tensor]
    context: torch.Tensor
    z_noise: torch.Tensor
    """(latent,) z = μ + σ ε"""
    next_noise: torch.Tensor
    """(B, action) for a' ~ π(·|s', z̄)"""
    new_noise: torch.Tensor
    """(B, action) for ã ~ π(·|s, z̄)"""


@dataclasses.dataclass(frozen=True)
class TrialContext:
    """One test task's state during a meta-test trial: its adaptation transitions so far."""

    context: Transitions | None = None


# --------------------------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------------------------
class PMetaSAC(training.MetaLearner):
    """pMeta-RL with the SAC inner learner and a PEARL context encoder (module docstring)."""

    name: ClassVar[str] = "pMeta-RL SAC"
    config_class: ClassVar[type] = PMetaSACConfig
    resumable = True

    def __init__(self, env_id: str, config: PMetaSACConfig | None = None, env_kwargs: Mapping[str, Any] | None = None):
        super().__init__(env_id, config, env_kwargs)
        import gymnasium as gym

        import metarl_envs  # noqa: F401  (registers the ids)

        probe = gym.make(env_id, **self.env_kwargs)
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        probe.close()
        box = self.action_space
        unit = isinstance(box, spaces.Box) and len(box.shape) == 1 and (box.low == -1).all() and (box.high == 1).all()
        if not unit:
            raise TypeError(f"PMetaSAC: {env_id} must have a Box(-1, 1, (d,)) action space (tanh actions), "
                            f"got {self.action_space}")
        if not isinstance(self.observation_space, spaces.Box) or len(self.observation_space.shape) != 1:
            raise TypeError(f"PMetaSAC: {env_id} must have a 1-D Box observation space")
        self.obs_dim, self.act_dim = self.observation_space.shape[0], box.shape[0]
        cfg = self.config
        self.context_dim = self.obs_dim * (2 if cfg.use_next_obs_in_context else 1) + self.act_dim + 1
        self._template = self._new_models()
        self.meta: dict[str, Params] | None = None
        self.learners: list[TaskLearner] = []

    # ----- models ----------------------------------------------------------------------------
    def _new_models(self) -> dict[str, nn.Module]:
        """Actor, twin critics (on (s, z) and a) and encoder, SB3's SAC modules with the config's sizes."""
        cfg = self.config
        joint = spaces.Box(-np.inf, np.inf, (self.obs_dim + cfg.latent_dim,), np.float32)
        actor = Actor(joint, self.action_space, list(cfg.hidden_sizes), FlattenExtractor(joint), joint.shape[0])
        critic = ContinuousCritic(joint, self.action_space, list(cfg.hidden_sizes), FlattenExtractor(joint),
                                  joint.shape[0], n_critics=2, share_features_extractor=False)
        encoder = nn.Sequential(*create_mlp(self.context_dim, 2 * cfg.latent_dim, list(cfg.encoder_sizes)))
        return {"actor": actor, "critic": critic, "encoder": encoder}

    def _new_learner(self, start: Mapping[str, Params]) -> TaskLearner:
        models = self._new_models()
        target = self._new_models()["critic"]
        for name, module in models.items():
            training.apply(module, start[name])
        training.apply(target, start["critic"])
        buffer = SeededReplayBuffer(self.config.buffer_size, self.observation_space, self.action_space)
        learner = TaskLearner(models["actor"], models["critic"], target, models["encoder"], buffer)
        self._fresh_optimizers(learner)
        return learner

    def _fresh_optimizers(self, learner: TaskLearner) -> None:
        cfg = self.config
        rates = {"actor": cfg.actor_lr, "critic": cfg.critic_lr, "encoder": cfg.encoder_lr}
        learner.optimizers = {name: torch.optim.Adam(learner.part(name).parameters(), lr=rates[name], foreach=True)
                              for name in PART_NAMES}

    def _attach_auxiliary(self, learner: TaskLearner, start: Mapping[str, Params]) -> None:
        """ω_i, ϑ_i, ϖ_i ← `start` (eq. 25), with their Adams when the auxiliary step is an Adam step."""
        learner.auxiliary = {name: detach(start[name]) for name in PART_NAMES}
        learner.auxiliary_optimizers = {
            name: auxiliary_adam(learner.auxiliary[name], self.config.aux_lr) if self.config.aux_optimizer == "adam"
            else None for name in PART_NAMES}

    def posterior(self, encoder: nn.Module, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, σ²) of q(z|c) for context rows (n, context_dim)."""
        return product_of_gaussians(*gaussian_factors(encoder, context, self.config.latent_dim))

    def context_of(self, transitions: Transitions) -> torch.Tensor:
        """Context rows of a task's transitions (what the encoder reads)."""
        return context_features({"observations": torch.as_tensor(transitions.observations, dtype=torch.float32),
                                 "actions": torch.as_tensor(transitions.actions, dtype=torch.float32).reshape(
                                     len(transitions.rewards), -1),
                                 "rewards": torch.as_tensor(transitions.rewards, dtype=torch.float32),
                                 "next_observations": torch.as_tensor(transitions.next_observations,
                                                                      dtype=torch.float32)},
                                self.config.use_next_obs_in_context)

    @staticmethod
    def _actor_params(actor: Actor, obs: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ) of the actor's Gaussian before the tanh, at (s, z)."""
        mean, log_std, _ = actor.get_action_dist_params(torch.cat([obs, z], dim=-1))
        return mean, log_std

    def _set_meta(self, meta: Mapping[str, Params]) -> None:
        """(ω, ϑ, ϖ) ← `meta`, also written into the template models the meta-test acts with."""
        self.meta = {name: detach(meta[name]) for name in PART_NAMES}
        for name, module in self._template.items():
            training.apply(module, self.meta[name])

    # ----- set-up ----------------------------------------------------------------------------
    @property
    def tasks_per_iteration(self) -> None:
        """Every round visits every train task, in order (Algorithm 1 line 8)."""
        return None

    def _begin_training(self, train_tasks: TrainingEnvs, generator: torch.Generator) -> None:
        self._envs = train_tasks
        for module in self._template.values():
            training.reset_parameters(module, generator)  # type: ignore[arg-type]
        self._set_meta({name: dict(module.named_parameters()) for name, module in self._template.items()})
        self.learners = [self._new_learner(self.meta) for _ in range(len(train_tasks))]
        self._collected = 0
        self._best = {"meta": -math.inf, "personal": -math.inf}
        self._warmed_up = False

    # ----- one round (one meta-training iteration) -------------------------------------------
    def meta_train_step(self, tasks: list[Task], rng: np.random.Generator) -> training.StepResult:
        start_steps = self._envs.env_steps
        if not self._warmed_up:
            self._warm_up(tasks, rng)
            self._warmed_up = True
        for learner in self.learners:                                                # line 7
            self._restart(learner, self.meta)
        returns, losses = self._collect_round(tasks, rng)                            # lines 2-5, 8-12
        self._set_meta({name: aggregate(self.meta[name], [learner.auxiliary[name] for learner in self.learners],
                                        self.config.beta) for name in PART_NAMES})   # line 14, eq. 14
        personal_return = self._evaluate_personal(tasks, rng)
        meta_prior, meta_return = self._evaluate_meta(tasks, rng)
        self._best["meta"] = max(self._best["meta"], meta_return)
        self._best["personal"] = max(self._best["personal"], personal_return)
        extra = {"meta_return": meta_return, "meta_prior_return": meta_prior, "personal_return": personal_return,
                 "best_meta_return": self._best["meta"], "best_personal_return": self._best["personal"],
                 "collection_env_steps": float(self._collected),
                 "gradient_steps": float(sum(learner.gradient_steps for learner in self.learners)), **losses}
        return training.StepResult(self._envs.env_steps - start_steps, float(np.mean(returns)), personal_return,
                                   extra)

    def _restart(self, learner: TaskLearner, start: Mapping[str, Params]) -> None:
        """Line 7: personalized models and target critics ← `start`, auxiliaries ← `start`, fresh Adams."""
        for name in PART_NAMES:
            training.apply(learner.part(name), start[name])
        training.apply(learner.target, start["critic"])
        self._fresh_optimizers(learner)
        self._attach_auxiliary(learner, start)

    def _warm_up(self, tasks: list[Task], rng: np.random.Generator) -> None:
        """`warmup_steps` transitions per task into D_i (whole episodes), the initial actor with z ~ N(0, I)."""
        counts = np.zeros(len(tasks), dtype=np.int64)
        while (counts < self.config.warmup_steps).any():
            active = np.flatnonzero(counts < self.config.warmup_steps)
            z = torch.as_tensor(rng.standard_normal((len(active), self.config.latent_dim)), dtype=torch.float32)
            batch = self._envs.rollout([tasks[i] for i in active], 1,
                                       self._task_policy([self.learners[i].actor for i in active], z, rng), rng)
            for j, i in enumerate(active):
                transitions = Transitions.of_batch(batch, j)
                self.learners[i].buffer.add_transitions(transitions)
                counts[i] += len(transitions.rewards)
        self._collected += int(counts.sum())

    def _episode_z(self, learner: TaskLearner, first: bool, rng: np.random.Generator) -> torch.Tensor:
        """z of one training episode: N(0, I) for the round's first, else q_{ζ_i}(z|c) on a context of D_i."""
        noise = torch.as_tensor(rng.standard_normal(self.config.latent_dim), dtype=torch.float32)
        if first or learner.buffer.size() == 0:
            return noise
        slots = learner.buffer.uniform_slots(self.config.context_size, rng)
        with torch.no_grad():
            mean, variance = self.posterior(learner.encoder,
                                            context_features(learner.buffer.tensors(slots),
                                                             self.config.use_next_obs_in_context))
        return mean + variance.sqrt() * noise

    def _collect_round(self, tasks: list[Task], rng: np.random.Generator) -> tuple[list[float], dict[str, float]]:
        """Lines 8-12: R gradient steps per task, one per env step of the task (module docstring);
        returns the round's training-episode returns and the losses of each task's last step (means)."""
        cfg, updates, returns = self.config, np.zeros(len(tasks), dtype=np.int64), []
        losses: dict[int, dict[str, float]] = {}
        episode = 0
        while (updates < cfg.personal_updates).any():
            active = np.flatnonzero(updates < cfg.personal_updates)
            z = torch.stack([self._episode_z(self.learners[i], episode == 0, rng) for i in active])

            def observe(step: Transition, active: np.ndarray = active) -> None:
                for j, i in enumerate(active):
                    if not step.alive[j, 0]:
                        continue
                    learner = self.learners[i]
                    learner.buffer.add_transitions(Transitions(
                        step.observations[j], step.actions[j], step.rewards[j], step.next_observations[j],
                        step.terminated[j]))
                    self._collected += 1
                    if updates[i] < cfg.personal_updates:
                        losses[i] = self.gradient_step(learner, self.draw_update(learner, rng))
                        updates[i] += 1

            policy = self._task_policy([self.learners[i].actor for i in active], z, rng)
            batch = self._envs.rollout([tasks[i] for i in active], 1, policy, rng, observe)
            returns.extend(batch.episode_returns().ravel().tolist())
            episode += 1
        keys = next(iter(losses.values())).keys()
        return returns, {key: float(np.mean([loss[key] for loss in losses.values()])) for key in keys}

    def _task_policy(self, actors: Sequence[Actor], z: torch.Tensor,
                     rng: np.random.Generator, deterministic: bool = False) -> Callable[[np.ndarray], np.ndarray]:
        """obs (task, episode, d) ↦ actions, task j acting with `actors[j]` and latent z[j] (or z[j, e]
        per episode): tanh of the mean, or a draw (noise from a torch stream seeded from `rng`)."""
        generator = None if deterministic else torch_generator(rng)

        def act(obs: np.ndarray) -> np.ndarray:
            x = torch.as_tensor(obs, dtype=torch.float32)
            latent = z[:, None].expand(-1, x.shape[1], -1) if z.dim() == 2 else z
            out = []
            with torch.no_grad():
                for j, actor in enumerate(actors):
                    mean, log_std = self._actor_params(actor, x[j], latent[j])
                    if generator is None:
                        out.append(torch.tanh(mean))
                    else:
                        noise = torch.randn(mean.shape, generator=generator)
                        out.append(squashed_gaussian(mean, log_std, noise)[0])
            return torch.stack(out).numpy()

        return act

    # ----- one gradient step (lines 10-11) ---------------------------------------------------
    def draw_update(self, learner: TaskLearner, rng: np.random.Generator) -> UpdateInputs:
        """The random inputs of one gradient step of task i: batch and context slots of D_i, the normal draws."""
        cfg = self.config
        batch = learner.buffer.tensors(learner.buffer.uniform_slots(cfg.batch_size, rng))
        context = context_features(learner.buffer.tensors(learner.buffer.uniform_slots(cfg.context_size, rng)),
                                   cfg.use_next_obs_in_context)

        def normal(*shape: int) -> torch.Tensor:
            return torch.as_tensor(rng.standard_normal(shape), dtype=torch.float32)

        return UpdateInputs(batch, context, normal(cfg.latent_dim), normal(cfg.batch_size, self.act_dim),
                            normal(cfg.batch_size, self.act_dim))

    def gradient_step(self, learner: TaskLearner, inputs: UpdateInputs) -> dict[str, float]:
        """Line 10 (eq. 12) on critic + encoder, then on the actor; the Polyak target; line 11 (eq. 13)."""
        cfg, b = self.config, inputs.batch
        mean, variance = self.posterior(learner.encoder, inputs.context)
        z = mean + variance.sqrt() * inputs.z_noise                                    # reparameterised
        zb = z.expand(len(b["rewards"]), -1)
        fixed = zb.detach()
        with torch.no_grad():
            next_action, next_log_prob = squashed_gaussian(
                *self._actor_params(learner.actor, b["next_observations"], fixed), inputs.next_noise)
            next_q = torch.min(*learner.target(torch.cat([b["next_observations"], fixed], dim=-1), next_action))
            target = soft_target(b["rewards"], b["terminated"], next_q[:, 0], next_log_prob, cfg.discount,
                                 cfg.sac_alpha)
        q_values = learner.critic(torch.cat([b["observations"], zb], dim=-1), b["actions"])
        critic_loss = sum(0.5 * (q[:, 0] - target).pow(2).mean() for q in q_values)
        kl = kl_to_standard_normal(mean, variance)
        for name in ("critic", "encoder"):
            learner.optimizers[name].zero_grad()
        (critic_loss + cfg.kl_weight * kl).backward()
        self._proximal("critic", learner)
        self._proximal("encoder", learner)
        learner.optimizers["critic"].step()
        learner.optimizers["encoder"].step()

        action, log_prob = squashed_gaussian(*self._actor_params(learner.actor, b["observations"], fixed),
                                             inputs.new_noise)
        q_new = torch.min(*learner.critic(torch.cat([b["observations"], fixed], dim=-1), action))
        actor_loss = (cfg.sac_alpha * log_prob - q_new[:, 0]).mean()
        learner.optimizers["actor"].zero_grad()
        actor_loss.backward()
        self._proximal("actor", learner)
        learner.optimizers["actor"].step()

        polyak_update(learner.critic.parameters(), learner.target.parameters(), cfg.tau)
        for name in PART_NAMES:                                                        # line 11, eq. 13
            if learner.auxiliary:
                optimizer = learner.auxiliary_optimizers[name]
                if optimizer is None:
                    auxiliary_step(learner.auxiliary[name], learner.params(name), cfg.aux_lr * cfg.lam)
                else:
                    adam_auxiliary_step(learner.auxiliary[name], learner.params(name), cfg.lam, optimizer)
        learner.gradient_steps += 1
        return {"critic_loss": float(critic_loss.detach()), "actor_loss": float(actor_loss.detach()),
                "kl": float(kl.detach())}

    def _proximal(self, name: str, learner: TaskLearner) -> None:
        """Eq. 12's λ(x − x_aux) on every parameter of the part (none without an auxiliary model)."""
        if learner.auxiliary:
            params = learner.params(name)
            add_proximal_gradient(list(params.values()), [learner.auxiliary[name][k] for k in params], self.config.lam)

    # ----- training-curve evaluations --------------------------------------------------------
    def _evaluate_personal(self, tasks: list[Task], rng: np.random.Generator) -> float:
        """PP: every φ_i on T_i, z ~ q_{ζ_i}(z|c) on a context of D_i, mean actions."""
        episodes = self.config.evaluation_episodes
        z = torch.stack([torch.stack([self._episode_z(learner, False, rng) for _ in range(episodes)])
                         for learner in self.learners])
        batch = self._envs.rollout(tasks, episodes, self._task_policy([learner.actor for learner in self.learners], z,
                                                                      rng, deterministic=True), rng)
        return float(batch.episode_returns().mean())

    def _evaluate_meta(self, tasks: list[Task], rng: np.random.Generator) -> tuple[float, float]:
        """MP with PEARL's adaptation: one episode with z ~ N(0, I), then the evaluation episodes with
        z ~ q_ϖ(z|c) on it; returns (the first episode's mean return, the evaluation episodes')."""
        params = [TrialContext()] * len(tasks)
        first = self._envs.rollout(tasks, 1, self.episode_policy(params, "adapt", rng), rng)
        adapted = self.adapt_round(params, first)
        then = self._envs.rollout(tasks, self.config.evaluation_episodes,
                                  self.episode_policy(adapted, "evaluate", rng), rng)
        return float(first.episode_returns().mean()), float(then.episode_returns().mean())

    # ----- meta-test -------------------------------------------------------------------------
    def meta_params(self) -> TrialContext:
        if self.meta is None:
            raise RuntimeError("PMetaSAC.meta_params: call meta_train() or load() first")
        return TrialContext()

    def _meta_actor(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ) of the meta actor at rows x = (s, z) (any leading shape: SB3's extractor flattens
        all but the first axis, so the rows go through it flat)."""
        mean, log_std, _ = self._template["actor"].get_action_dist_params(x.reshape(-1, x.shape[-1]))
        return mean.reshape(*x.shape[:-1], -1), log_std.reshape(*x.shape[:-1], -1)

    def _latent(self, params: TrialContext, shape: tuple[int, ...], noise: torch.Tensor | None) -> torch.Tensor:
        """z for one task: the posterior's mean (noise None) or μ + σ·noise, from the meta encoder on the
        task's context (the prior N(0, I) while it is empty)."""
        if params.context is None or len(params.context.rewards) == 0:
            mean, variance = torch.zeros(self.config.latent_dim), torch.ones(self.config.latent_dim)
        else:
            with torch.no_grad():
                mean, variance = self.posterior(self._template["encoder"], self.context_of(params.context))
        return mean.expand(*shape, -1) if noise is None else mean + variance.sqrt() * noise

    def episode_policy(self, params: Sequence[TrialContext], phase: Phase,
                       rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
        """Every sub-env draws one z from its task's posterior when the batch starts, then acts with the
        meta actor's mean action (adaptation and evaluation alike, PEARL's eval_deterministic)."""
        generator = torch_generator(rng)
        latents: list[torch.Tensor] = []

        def act(obs: np.ndarray) -> np.ndarray:
            if not latents:
                noise = torch.randn((obs.shape[0], obs.shape[1], self.config.latent_dim), generator=generator)
                latents.append(torch.stack([self._latent(p, (), noise[i]) for i, p in enumerate(params)]))
            x = torch.as_tensor(obs, dtype=torch.float32)
            with torch.no_grad():
                mean, _ = self._meta_actor(torch.cat([x, latents[0]], dim=-1))
            return torch.tanh(mean).numpy()

        return act

    def adapt_round(self, params: Sequence[TrialContext], rollouts: TrajectoryBatch) -> list[TrialContext]:
        """The round's transitions join each task's context (no gradient step)."""
        adapted = []
        for i, task in enumerate(params):
            fresh = Transitions.of_batch(rollouts, i)
            adapted.append(TrialContext(fresh if task.context is None else Transitions.concatenate([task.context,
                                                                                                   fresh])))
        return adapted

    # ----- acting, save and load -------------------------------------------------------------
    def _act_with(self, obs: np.ndarray, params: TrialContext, generator: torch.Generator | None) -> np.ndarray:
        x = torch.as_tensor(np.asarray(obs), dtype=torch.float32)
        noise = None if generator is None else torch.randn((len(x), self.config.latent_dim), generator=generator)
        z = self._latent(params, (len(x),), noise)
        with torch.no_grad():
            mean, log_std = self._meta_actor(torch.cat([x, z], dim=-1))
            if generator is None:
                return torch.tanh(mean).numpy()
            return squashed_gaussian(mean, log_std, torch.randn(mean.shape, generator=generator))[0].numpy()

    def _mode(self, obs: np.ndarray, params: TrialContext) -> np.ndarray:
        """The posterior's mean z and the mean action."""
        return self._act_with(obs, params, None)

    def _sample(self, obs: np.ndarray, params: TrialContext, rng: np.random.Generator) -> np.ndarray:
        """z drawn from the posterior and a drawn action, per observation."""
        return self._act_with(obs, params, torch_generator(rng))

    # ----- checkpoints ------------------------------------------------------------------------
    def training_state(self) -> dict[str, Any]:
        """What a round carries to the next, for a checkpoint (`run_meta_training`): the meta models, each
        task's replay buffer D_i and gradient-step count, and the loop's counters. Every round starts by
        setting the personalized models, target critics, auxiliaries and Adams from the meta models
        (line 7, `_restart`), so those are not carried."""
        if self.meta is None:
            raise RuntimeError("PMetaSAC.training_state: meta_train() has not set up the run")
        return {"meta": {name: detach(self.meta[name]) for name in PART_NAMES},
                "replay": [learner.buffer.state() for learner in self.learners],
                "gradient_steps": [int(learner.gradient_steps) for learner in self.learners],
                "collected": int(self._collected), "best": dict(self._best), "warmed_up": bool(self._warmed_up)}

    def load_training_state(self, state: Mapping[str, Any]) -> None:
        """Restore `training_state()` into an agent whose `meta_train` set-up is done (same config, envs)."""
        if len(state["replay"]) != len(self.learners):
            raise ValueError(f"PMetaSAC: the checkpoint holds {len(state['replay'])} tasks' buffers, this run "
                             f"{len(self.learners)}")
        self._set_meta(state["meta"])
        for learner, replay, steps in zip(self.learners, state["replay"], state["gradient_steps"], strict=True):
            learner.buffer.load_state(replay)
            learner.gradient_steps = int(steps)
        self._collected, self._warmed_up = int(state["collected"]), bool(state["warmed_up"])
        self._best = {key: float(value) for key, value in state["best"].items()}

    STORED_PARTS: ClassVar[tuple[str, ...]] = ("actor", "encoder")
    """what a meta-test reads: the meta actor and the meta encoder (PEARL's adaptation takes no
    gradient step, so the critics and the train tasks' personalized models are never used there)"""

    def _state(self) -> dict[str, Any]:
        """What a meta-test reads, and no more (`STORED_PARTS`): the twin [512, 512] critics and the ten
        personalized sets would make a result 41 MB instead of about 1.5 MB. A loaded agent meta-tests;
        it does not resume meta-training."""
        if self.meta is None:
            raise RuntimeError("PMetaSAC.save: nothing learned yet")
        return {"meta": {name: dict(self.meta[name]) for name in self.STORED_PARTS}}

    def _load_state(self, state: Mapping[str, Any]) -> None:
        """Reads `_state`'s output; a state that also holds the critics and the personalized models
        (results stored before the trim) loads too, the extra parts unused. A part not stored keeps the
        template's own weights."""
        meta = state.get("meta")
        missing = [name for name in self.STORED_PARTS if not isinstance(meta, Mapping) or name not in meta]
        if missing:
            raise ValueError(f"PMetaSAC.load: the state's 'meta' entry has no {missing} part(s)")
        self._set_meta({name: meta[name] if name in meta else dict(self._template[name].named_parameters())
                        for name in PART_NAMES})
        self.learners = [self._new_learner({name: detach(p[name]) for name in PART_NAMES})
                         for p in state.get("personal", ())]
