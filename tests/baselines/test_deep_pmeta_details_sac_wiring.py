"""pMeta-RL SAC, its wiring (`baselines/pmetarl_sac.py`): the probe env is made with the agent's env kwargs
and sets the sizes of every model (the context width with and without next observations); the spaces it
refuses, by their full messages (a non-unit action box, a 2-D or a discrete observation space); a zero
ηλ is refused; the initial meta weights are the run's torch stream; PP acts with every task's mean action
on its own z; MP adapts on one prior episode per task and then runs `evaluation_episodes` on its
posterior; `adapt_round` accumulates each task's context; z is the posterior from one context transition
on and the prior on an empty one; `episode_policy` maps (task, episode, obs) to (task, episode, action)
with one z per sub-env; context rows are float32 (s, a, r[, s']) whatever the transitions' dtype;
`draw_update`'s slots and noises, by shape and value, replayed from the same numpy stream; the critic
loss trains the encoder through z; KL and the squashed Gaussian reduce over the last axis only."""

from __future__ import annotations

import math
import re
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import metarl_envs
from baselines.common import training
from baselines.common.personalization import Transitions
from baselines.common.sampler import TrajectoryBatch, torch_generator
from baselines.pmetarl_sac import (
    PART_NAMES,
    PMetaSAC,
    PMetaSACConfig,
    TrialContext,
    kl_to_standard_normal,
    squashed_gaussian,
)
from tests.baselines.test_pmetarl_sac import ENV, KWARGS, SMALL, _Reference

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPACES_ID = "MetaRLTest/SACWiringSpaces-v0"


class _SpacesEnv(gym.Env):
    """A stand-in env whose spaces its kwargs set (PMetaSAC's constructor only reads the probe's spaces)."""

    def __init__(self, obs_dim: int = 4, act_dim: int = 1, obs: str = "box", low: float = -1.0, high: float = 1.0):
        shape = (2, obs_dim) if obs == "box2d" else (obs_dim,)
        self.observation_space = spaces.Discrete(5) if obs == "discrete" else spaces.Box(-np.inf, np.inf, shape,
                                                                                         np.float32)
        self.action_space = spaces.Box(low, high, (act_dim,), np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        return self.observation_space.sample(), 0.0, False, False, {}


if SPACES_ID not in gym.registry:
    gym.register(SPACES_ID, entry_point=_SpacesEnv)


def _seeded_agent(**overrides: Any) -> PMetaSAC:
    """An untrained HalfCheetah-Vel agent (SMALL sizes) whose meta models are drawn from a seeded stream."""
    agent = PMetaSAC(ENV, PMetaSACConfig(**{**SMALL, **overrides}), KWARGS)
    generator = torch.Generator().manual_seed(0)
    for module in agent._template.values():
        training.reset_parameters(module, generator)
    agent.set_parameters({"meta": {name: dict(module.named_parameters()) for name, module in agent._template.items()}})
    return agent


def _transitions(n: int, seed: int, dtype: type = np.float32) -> Transitions:
    """n HalfCheetah-shaped transitions (obs 20, action 6) with float64 rewards."""
    rng = np.random.default_rng(seed)
    return Transitions(rng.normal(size=(n, 20)).astype(dtype), rng.uniform(-1, 1, size=(n, 6)).astype(dtype),
                       rng.normal(size=n), rng.normal(size=(n, 20)).astype(dtype), np.zeros(n, bool))


def _linears(module: torch.nn.Module) -> list[torch.nn.Linear]:
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def _mean_action(actor: torch.nn.Module, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """tanh of the SB3 actor's Gaussian mean at rows (s, z) (any leading shape, sent through it flat)."""
    rows = torch.cat([obs, z], dim=-1)
    with torch.no_grad():
        mean, _, _ = actor.get_action_dist_params(rows.reshape(-1, rows.shape[-1]))
    return torch.tanh(mean).reshape(*rows.shape[:-1], -1)


# --------------------------------------------------------------------------------------------
# Construction: sizes, refusals, the config's ηλ
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("use_next_obs", [False, True])
def test_the_probe_env_is_made_with_the_env_kwargs_and_sizes_every_model(use_next_obs: bool) -> None:
    """The stand-in's defaults are obs 4, action 1; its kwargs make them 3 and 2. The context row is
    (s, a, r) = 3 + 2 + 1 = 6 wide, (s, a, r, s') = 9 with next observations."""
    kwargs = {"obs_dim": 3, "act_dim": 2}
    config = PMetaSACConfig(**SMALL, use_next_obs_in_context=use_next_obs)
    agent = PMetaSAC(SPACES_ID, config, kwargs)
    assert agent.env_kwargs == kwargs
    assert (agent.obs_dim, agent.act_dim) == (3, 2)
    width = 9 if use_next_obs else 6
    assert agent.context_dim == width
    encoder = _linears(agent._template["encoder"])
    assert (encoder[0].in_features, encoder[-1].out_features) == (width, 2 * 2)
    assert _linears(agent._template["actor"])[0].in_features == 3 + 2                 # (s, z)
    assert [layer.in_features for layer in _linears(agent._template["critic"])] == [3 + 2 + 2, 8, 3 + 2 + 2, 8]
    # nothing learned yet: no meta set and no task learners
    assert agent.meta is None and agent.learners == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"low": 0.0}, "PMetaSAC: {id} must have a Box(-1, 1, (d,)) action space (tanh actions), "
                   "got Box(0.0, 1.0, (1,), float32)"),
    ({"obs": "box2d"}, "PMetaSAC: {id} must have a 1-D Box observation space"),
    ({"obs": "discrete"}, "PMetaSAC: {id} must have a 1-D Box observation space"),
])
def test_spaces_it_cannot_act_on_are_refused_by_their_full_message(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=f"^{re.escape(message.format(id=SPACES_ID))}$"):
        PMetaSAC(SPACES_ID, PMetaSACConfig(**SMALL), kwargs)


def test_a_zero_auxiliary_step_is_refused() -> None:
    """ηλ must lie in (0, 1]: η = 0 would freeze the auxiliaries (and so the meta models)."""
    with pytest.raises(ValueError, match=r"^PMetaSACConfig\.aux_lr=0\.0: need 0 < ηλ ≤ 1 \(λ = 20\.0\)$"):
        PMetaSACConfig(aux_lr=0.0)
    assert PMetaSACConfig(aux_lr=0.05).aux_lr * PMetaSACConfig().lam == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# Set-up and the training-curve evaluations
# --------------------------------------------------------------------------------------------
def _set_up(**overrides: Any) -> tuple[PMetaSAC, list]:
    agent = PMetaSAC(ENV, PMetaSACConfig(**{**SMALL, **overrides}), KWARGS)
    tasks = list(metarl_envs.task_set(ENV, "train", "pmeta"))[:2]
    agent.meta_train(tasks, iterations=0, seed=11)                                    # set up only
    return agent, tasks


def test_the_initial_meta_weights_are_the_runs_torch_stream() -> None:
    """PyTorch's Linear scheme drawn from the run's torch stream (`seeded_streams(seed)`), actor, critic
    and encoder in that order; every task learner starts at them."""
    agent, _ = _set_up()
    expected = PMetaSAC(ENV, agent.config, KWARGS)._template
    _, generator = training.seeded_streams(11)
    for name in PART_NAMES:
        for module in _linears(expected[name]):
            bound = 1.0 / math.sqrt(module.in_features)
            with torch.no_grad():
                module.weight.uniform_(-bound, bound, generator=generator)
                module.bias.uniform_(-bound, bound, generator=generator)
    for name in PART_NAMES:
        reference = dict(expected[name].named_parameters())
        assert agent.meta[name].keys() == reference.keys()
        for k, v in agent.meta[name].items():
            assert torch.equal(v, reference[k]), (name, k)
            for learner in agent.learners:
                assert torch.equal(learner.params(name)[k], reference[k]), (name, k)


def test_pp_acts_with_each_tasks_mean_action_on_its_own_z() -> None:
    """Every action of the PP rollout is tanh(μ_i(s, z_{i,e})) of task i's actor, z one per episode."""
    agent, tasks = _set_up(evaluation_episodes=2)
    zs: list[torch.Tensor] = []
    batches: list[TrajectoryBatch] = []
    episode_z, rollout = agent._episode_z, agent._envs.rollout

    def spy_z(*args: Any) -> torch.Tensor:
        zs.append(episode_z(*args))
        return zs[-1]

    def spy_rollout(*args: Any) -> TrajectoryBatch:
        batches.append(rollout(*args))
        return batches[-1]

    agent._episode_z, agent._envs.rollout = spy_z, spy_rollout
    value = agent._evaluate_personal(tasks, np.random.default_rng(0))
    (batch,) = batches
    assert batch.rewards.shape[:2] == (2, 2) and len(zs) == 4
    for i, learner in enumerate(agent.learners):
        for e in range(2):
            rows = batch.mask[i, e]
            obs = torch.as_tensor(batch.observations[i, e][rows])
            expected = _mean_action(learner.actor, obs, zs[2 * i + e].expand(len(obs), -1))
            torch.testing.assert_close(torch.as_tensor(batch.actions[i, e][rows]), expected, rtol=1e-5, atol=1e-6)
    assert value == float(batch.episode_returns().mean())


def test_mp_adapts_on_one_prior_episode_per_task_then_runs_the_evaluation_episodes() -> None:
    agent, tasks = _set_up(evaluation_episodes=2)
    batches: list[TrajectoryBatch] = []
    adapted: list[tuple[list, TrajectoryBatch, list]] = []
    rollout, adapt_round = agent._envs.rollout, agent.adapt_round

    def spy_rollout(*args: Any) -> TrajectoryBatch:
        batches.append(rollout(*args))
        return batches[-1]

    def spy_adapt(params: list, rollouts: TrajectoryBatch) -> list:
        out = adapt_round(params, rollouts)
        adapted.append((list(params), rollouts, out))
        return out

    agent._envs.rollout, agent.adapt_round = spy_rollout, spy_adapt
    start = agent._envs.env_steps
    prior, meta = agent._evaluate_meta(tasks, np.random.default_rng(1))
    assert [b.rewards.shape[:2] for b in batches] == [(2, 1), (2, 2)]
    assert agent._envs.env_steps - start == 2 * 200 * (1 + 2)
    (params, rollouts, contexts), = adapted
    assert params == [TrialContext(), TrialContext()] and rollouts is batches[0]
    for i, trial in enumerate(contexts):
        assert len(trial.context.rewards) == 200
        np.testing.assert_array_equal(trial.context.observations, Transitions.of_batch(batches[0], i).observations)
    assert (prior, meta) == (float(batches[0].episode_returns().mean()), float(batches[1].episode_returns().mean()))


# --------------------------------------------------------------------------------------------
# Meta-test pieces: the context and z
# --------------------------------------------------------------------------------------------
def _hand_batch(seed: int, horizon: int = 3) -> TrajectoryBatch:
    """Two tasks, one episode each, `horizon` steps, all alive."""
    rng = np.random.default_rng(seed)
    shape = (2, 1, horizon)
    return TrajectoryBatch(rng.normal(size=(*shape, 20)).astype(np.float32),
                           rng.uniform(-1, 1, size=(*shape, 6)).astype(np.float32), rng.normal(size=shape),
                           np.ones(shape, bool), np.zeros(shape, bool), np.zeros(shape, bool),
                           rng.normal(size=(2, 1, 20)).astype(np.float32))


def test_adapt_round_appends_each_rounds_transitions_to_the_tasks_context() -> None:
    agent = _seeded_agent()
    first, second = _hand_batch(1), _hand_batch(2, horizon=4)
    one = agent.adapt_round([TrialContext(), TrialContext()], first)
    two = agent.adapt_round(one, second)
    for i in range(2):
        expected = Transitions.concatenate([Transitions.of_batch(first, i), Transitions.of_batch(second, i)])
        assert len(two[i].context.rewards) == 3 + 4
        for field in Transitions._fields:
            np.testing.assert_array_equal(getattr(two[i].context, field), getattr(expected, field), err_msg=field)
        np.testing.assert_array_equal(one[i].context.observations, first.observations[i, 0])


@pytest.mark.parametrize("rows", [0, 1])
def test_z_is_the_prior_on_an_empty_context_and_the_posterior_from_one_transition_on(rows: int) -> None:
    """One transition: the product of one Gaussian factor is that factor, μ the encoder's first half."""
    agent = _seeded_agent()
    context = _transitions(rows, 3)
    obs = np.random.default_rng(4).normal(size=(5, 20)).astype(np.float32)
    latent = agent.config.latent_dim
    if rows == 0:
        z = torch.zeros(latent)
    else:
        row = torch.cat([torch.as_tensor(context.observations), torch.as_tensor(context.actions),
                         torch.as_tensor(context.rewards, dtype=torch.float32)[:, None]], dim=1)
        with torch.no_grad():
            z = agent._template["encoder"](row)[0, :latent]
        assert z.abs().min() > 1e-3                                                       # not the prior's mean
    expected = _mean_action(agent._template["actor"], torch.as_tensor(obs), z.expand(5, -1))
    got = agent.act(obs, TrialContext(context), deterministic=True)
    torch.testing.assert_close(torch.as_tensor(got), expected, rtol=1e-5, atol=1e-6)


def test_episode_policy_keeps_one_z_per_sub_env_and_returns_task_episode_actions() -> None:
    """obs (task 2, episode 3, 20), float64: actions (2, 3, 6) = tanh of the meta actor's mean at (s, z),
    z[i, e] = μ_i + σ_i ε[i, e] with ε drawn (2, 3, latent) from a torch stream seeded from the rng,
    the same z on the next call."""
    agent = _seeded_agent()
    context = _transitions(7, 5)
    params = [TrialContext(context), TrialContext()]
    latent = agent.config.latent_dim
    noise = torch.randn((2, 3, latent), generator=torch_generator(np.random.default_rng(6)))
    with torch.no_grad():
        mean, variance = agent.posterior(agent._template["encoder"], agent.context_of(context))
    z = torch.stack([mean + variance.sqrt() * noise[0], noise[1]])
    policy = agent.episode_policy(params, "adapt", np.random.default_rng(6))
    for seed in (7, 8):
        obs = np.random.default_rng(seed).normal(size=(2, 3, 20))                        # float64
        actions = policy(obs)
        assert actions.shape == (2, 3, 6)
        expected = _mean_action(agent._template["actor"], torch.as_tensor(obs, dtype=torch.float32), z)
        torch.testing.assert_close(torch.as_tensor(actions), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("use_next_obs", [False, True])
def test_context_rows_are_float32_s_a_r_and_s_next_whatever_the_transitions_dtype(use_next_obs: bool) -> None:
    agent = _seeded_agent(use_next_obs_in_context=use_next_obs)
    transitions = _transitions(4, 9, np.float64)
    rows = agent.context_of(transitions)
    expected = np.concatenate([transitions.observations, transitions.actions, transitions.rewards[:, None]]
                              + ([transitions.next_observations] if use_next_obs else []), axis=1)
    assert rows.dtype == torch.float32 and rows.shape == (4, 20 + 6 + 1 + (20 if use_next_obs else 0))
    torch.testing.assert_close(rows, torch.as_tensor(expected.astype(np.float32)), rtol=0, atol=0)
    mean, variance = agent.posterior(agent._template["encoder"], rows)
    assert mean.shape == variance.shape == (agent.config.latent_dim,)


# --------------------------------------------------------------------------------------------
# One gradient step
# --------------------------------------------------------------------------------------------
def _filled_learner(agent: PMetaSAC, n: int, seed: int) -> tuple[Any, Transitions]:
    learner = agent._new_learner(agent.meta)
    transitions = _transitions(n, seed)
    learner.buffer.add_transitions(transitions)
    return learner, transitions


def test_draw_update_replays_the_numpy_stream_batch_slots_context_slots_then_three_normals() -> None:
    agent = _seeded_agent(use_next_obs_in_context=True)
    learner, stored = _filled_learner(agent, 30, 12)
    inputs = agent.draw_update(learner, np.random.default_rng(13))
    rng = np.random.default_rng(13)
    batch_slots, context_slots = rng.integers(0, 30, size=5), rng.integers(0, 30, size=4)   # B = 5, c = 4
    z_noise, next_noise, new_noise = rng.standard_normal(2), rng.standard_normal((5, 6)), rng.standard_normal((5, 6))
    np.testing.assert_array_equal(inputs.batch["observations"].numpy(), stored.observations[batch_slots])
    np.testing.assert_array_equal(inputs.batch["actions"].numpy(), stored.actions[batch_slots])
    context = np.concatenate([stored.observations[context_slots], stored.actions[context_slots],
                              stored.rewards[context_slots, None], stored.next_observations[context_slots]], axis=1)
    torch.testing.assert_close(inputs.context, torch.as_tensor(context.astype(np.float32)), rtol=0, atol=0)
    for got, expected in ((inputs.z_noise, z_noise), (inputs.next_noise, next_noise), (inputs.new_noise, new_noise)):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, torch.as_tensor(expected, dtype=torch.float32), rtol=0, atol=0)


def test_the_critic_loss_trains_the_encoder_through_z() -> None:
    """With w_KL = 0 the encoder's only gradient is the critic loss's, through z = μ + σ ε (the twin
    critics read (s, z) with gradients on): one step moves it as a float64 recomputation does."""
    agent = _seeded_agent(kl_weight=0.0, encoder_lr=0.03, critic_lr=0.02, actor_lr=0.01)
    learner, _ = _filled_learner(agent, 30, 14)
    start = {name: {k: v.detach().clone() for k, v in learner.params(name).items()} for name in PART_NAMES}
    inputs = agent.draw_update(learner, np.random.default_rng(15))
    reference = _Reference(agent, start)
    expected = reference.step(inputs)
    seen = agent.gradient_step(learner, inputs)
    assert seen["kl"] == pytest.approx(expected["kl"], rel=1e-4)
    assert seen["critic_loss"] == pytest.approx(expected["critic_loss"], rel=1e-4)
    for name in PART_NAMES:
        for k, v in learner.params(name).items():
            torch.testing.assert_close(v.detach().double(), reference.x[name][k], rtol=1e-4, atol=1e-5)
    moved = [float((v.detach() - start["encoder"][k]).abs().max()) for k, v in learner.params("encoder").items()]
    assert max(moved) > 0.01                                                  # Adam's first step: about the lr


# --------------------------------------------------------------------------------------------
# The reductions: over the last axis only
# --------------------------------------------------------------------------------------------
def test_kl_and_the_squashed_gaussian_reduce_over_the_last_axis_only() -> None:
    rng = np.random.default_rng(16)
    mean, variance = rng.normal(size=(3, 4)), rng.uniform(0.2, 2.0, size=(3, 4))
    kl = kl_to_standard_normal(torch.as_tensor(mean), torch.as_tensor(variance))
    expected = [0.5 * sum(v + m * m - 1 - math.log(v) for m, v in zip(mean[n], variance[n], strict=True))
                for n in range(3)]
    torch.testing.assert_close(kl, torch.tensor(expected, dtype=torch.float64))
    for shape in ((2, 3, 4), (4,)):
        mu, log_std, noise = (rng.normal(size=shape) * s for s in (0.5, 0.3, 1.0))
        action, log_prob = squashed_gaussian(*(torch.as_tensor(x) for x in (mu, log_std, noise)))
        u = mu + np.exp(log_std) * noise
        density = -0.5 * noise ** 2 - log_std - 0.5 * math.log(2 * math.pi) - np.log(1 - np.tanh(u) ** 2)
        assert action.shape == shape and log_prob.shape == shape[:-1]
        torch.testing.assert_close(action, torch.as_tensor(np.tanh(u)))
        torch.testing.assert_close(log_prob, torch.as_tensor(density.sum(axis=-1)))
