"""pMeta-RL's SAC version with a PEARL encoder (`baselines/pmetarl_sac.py`), checked against direct
computations: the product-of-Gaussians posterior against the quadratic fitted to the summed
log-densities, the KL term against torch.distributions, the tanh-Gaussian log-probability against the
change of variables, the soft Bellman target and both SAC losses on a fixed batch against a float64
recomputation, and two rounds of gradient steps of the public training step (eqs. 12-14 on actor,
critics and encoder, with a hand-written Adam) against the parameters it leaves."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.common.personalization import Transitions
from baselines.pmetarl_sac import (
    PART_NAMES,
    PMetaSAC,
    PMetaSACConfig,
    TrialContext,
    context_features,
    kl_to_standard_normal,
    product_of_gaussians,
    soft_target,
    squashed_gaussian,
)

ENV, KWARGS = "MetaRL/HalfCheetahVel-v0", {"preset": "pmeta"}
SMALL = {"hidden_sizes": (8,), "encoder_sizes": (6,), "latent_dim": 2, "batch_size": 5, "context_size": 4,
         "buffer_size": 1000, "warmup_steps": 5}


def test_product_of_gaussians_is_the_normalised_product_of_the_factors():
    rng = np.random.default_rng(0)
    means, variances = rng.normal(size=(7, 3)), rng.uniform(0.1, 2.0, size=(7, 3))
    mean, variance = product_of_gaussians(torch.as_tensor(means), torch.as_tensor(variances))
    grid = np.linspace(-3, 3, 61)
    for j in range(3):  # Σ_n log N(x; μ_n, σ²_n) is a quadratic in x whose vertex and curvature give the product
        log_density = sum(-0.5 * (grid - m) ** 2 / v - 0.5 * np.log(2 * np.pi * v)
                          for m, v in zip(means[:, j], variances[:, j], strict=True))
        a, b, _ = np.polyfit(grid, log_density, 2)
        assert variance[j].item() == pytest.approx(-1 / (2 * a), rel=1e-9)
        assert mean[j].item() == pytest.approx(-b / (2 * a), rel=1e-9, abs=1e-12)
    order = rng.permutation(7)  # permutation invariant
    again = product_of_gaussians(torch.as_tensor(means[order]), torch.as_tensor(variances[order]))
    torch.testing.assert_close(again, (mean, variance))
    one = product_of_gaussians(torch.tensor([[0.5]]), torch.tensor([[0.0]]))  # a factor's variance is floored
    assert one[1].item() == pytest.approx(1e-7) and one[0].item() == pytest.approx(0.5)


def test_the_pmeta_preset_is_oysters_draw_with_the_papers_counts():
    """10 train and 3 test tasks from oyster's seeded list: pearl's first 13 velocities."""
    pearl = list(metarl_envs.task_set(ENV, "train", "pearl"))
    assert list(metarl_envs.task_set(ENV, "train", "pmeta")) == pearl[:10]
    assert list(metarl_envs.task_set(ENV, "test", "pmeta")) == pearl[10:13]


def test_kl_to_the_standard_normal():
    mean, variance = torch.tensor([0.3, -1.2, 0.0], dtype=torch.float64), torch.tensor([0.5, 2.0, 1.0],
                                                                                       dtype=torch.float64)
    expected = torch.distributions.kl_divergence(torch.distributions.Normal(mean, variance.sqrt()),
                                                 torch.distributions.Normal(0.0, 1.0)).sum()
    torch.testing.assert_close(kl_to_standard_normal(mean, variance), expected)
    assert kl_to_standard_normal(torch.zeros(4), torch.ones(4)).item() == 0.0


def test_squashed_gaussian_log_probability_is_the_change_of_variables():
    rng = np.random.default_rng(1)
    mean, log_std, noise = (torch.as_tensor(rng.normal(size=(6, 3)) * s) for s in (0.5, 0.3, 1.0))
    action, log_prob = squashed_gaussian(mean, log_std, noise)
    u = mean + log_std.exp() * noise
    torch.testing.assert_close(action, torch.tanh(u))
    normal = torch.distributions.Normal(mean, log_std.exp())
    jacobian = torch.log(1 - torch.tanh(u) ** 2)                    # d tanh(u)/du = 1 − tanh²(u)
    torch.testing.assert_close(log_prob, (normal.log_prob(u) - jacobian).sum(-1))
    # in float32, where tanh(u) rounds to 1, the stable form keeps the exact value
    far = squashed_gaussian(torch.tensor([[12.0]]), torch.tensor([[-5.0]]), torch.tensor([[0.0]]))[1]
    exact = torch.distributions.Normal(12.0, math.exp(-5.0)).log_prob(torch.tensor(12.0, dtype=torch.float64))
    assert far.item() == pytest.approx(exact.item() - math.log(1 - math.tanh(12.0) ** 2), rel=1e-6)


def test_soft_target_formula():
    rewards, terminated = torch.tensor([1.0, -2.0]), torch.tensor([0.0, 1.0])
    y = soft_target(rewards, terminated, torch.tensor([3.0, 5.0]), torch.tensor([-1.0, 4.0]), 0.9, 0.2)
    torch.testing.assert_close(y, torch.tensor([1.0 + 0.9 * (3.0 + 0.2), -2.0]))


def test_config_needs_a_contracting_auxiliary_step():
    assert PMetaSACConfig(lam=20.0, aux_lr=0.05).aux_lr == 0.05
    with pytest.raises(ValueError, match=r"^PMetaSACConfig\.aux_lr=0\.1: need 0 < ηλ ≤ 1"):
        PMetaSACConfig(lam=20.0, aux_lr=0.1)


def test_a_non_unit_action_box_is_refused():
    with pytest.raises(TypeError, match="Box\\(-1, 1"):
        PMetaSAC("MetaRL/Navigation2D-v0", PMetaSACConfig(), {"preset": "maml"})


# --------------------------------------------------------------------------------------------
# Two gradient steps per task of one round, recomputed in float64
# --------------------------------------------------------------------------------------------
def _double(params):
    return {k: v.detach().double().clone().requires_grad_(True) for k, v in params.items()}


def _adam(param: torch.Tensor, grad: torch.Tensor, state: dict, lr: float) -> torch.Tensor:
    """Adam (β 0.9, 0.999, ε 1e-8) written out: the new value of `param` given its gradient."""
    state["t"] = state.get("t", 0) + 1
    state["m"] = 0.9 * state.get("m", 0.0) + 0.1 * grad
    state["v"] = 0.999 * state.get("v", 0.0) + 0.001 * grad ** 2
    m_hat, v_hat = state["m"] / (1 - 0.9 ** state["t"]), state["v"] / (1 - 0.999 ** state["t"])
    return param - lr * m_hat / (v_hat.sqrt() + 1e-8)


class _Reference:
    """One task's personalized, auxiliary and target parameters in float64, stepped by the formulas."""

    def __init__(self, agent: PMetaSAC, start: dict[str, dict[str, torch.Tensor]]):
        self.agent, self.cfg = agent, agent.config
        self.x = {name: {k: v.detach().double() for k, v in start[name].items()} for name in PART_NAMES}
        self.aux = {name: dict(self.x[name]) for name in PART_NAMES}
        self.target = dict(self.x["critic"])
        self.adam: dict = {}

    @staticmethod
    def _mlp(params, prefix: str, x: torch.Tensor, relu_last: bool = False) -> torch.Tensor:
        """The affine layers `prefix.<i>.weight/bias` in index order, ReLU between (and after the last)."""
        indices = sorted({int(k[len(prefix):].split(".")[0]) for k in params if k.startswith(prefix)})
        for n, i in enumerate(indices):
            x = x @ params[f"{prefix}{i}.weight"].T + params[f"{prefix}{i}.bias"]
            if n < len(indices) - 1 or relu_last:
                x = torch.relu(x)
        return x

    def _actor(self, params, obs, z):
        """SB3's SAC actor: ReLU hidden layers, then the mean and the log-std (clamped to [−20, 2]) heads."""
        latent = self._mlp(params, "latent_pi.", torch.cat([obs, z], -1), relu_last=True)
        mean = latent @ params["mu.weight"].T + params["mu.bias"]
        log_std = (latent @ params["log_std.weight"].T + params["log_std.bias"]).clamp(-20, 2)
        return mean, log_std

    def _q(self, params, obs, z, action):
        x = torch.cat([obs, z, action], -1)
        return [self._mlp(params, f"qf{j}.", x)[:, 0] for j in (0, 1)]

    def step(self, inputs) -> dict[str, float]:
        cfg = self.cfg
        b = {k: v.double() for k, v in inputs.batch.items()}
        x = {name: _double(self.x[name]) for name in PART_NAMES}
        # the encoder: PEARL's Gaussian factors, their product, z = μ + σ ε
        out = self._mlp(x["encoder"], "", inputs.context.double())
        means, variances = out[:, :cfg.latent_dim], torch.nn.functional.softplus(out[:, cfg.latent_dim:])
        precision = (1 / variances.clamp(min=1e-7)).sum(0)
        mean, variance = (means / variances.clamp(min=1e-7)).sum(0) / precision, 1 / precision
        z = (mean + variance.sqrt() * inputs.z_noise.double()).expand(len(b["rewards"]), -1)
        fixed = z.detach()
        with torch.no_grad():  # y = r + γ(1 − d)(min Q̄(s', a') − α log π(a'|s'))
            next_mean, next_log_std = self._actor(x["actor"], b["next_observations"], fixed)
            u = next_mean + next_log_std.exp() * inputs.next_noise.double()
            a_next = torch.tanh(u)
            log_pi = (torch.distributions.Normal(next_mean, next_log_std.exp()).log_prob(u)
                      - torch.log(1 - a_next ** 2)).sum(-1)
            q_target = torch.min(*self._q(self.target, b["next_observations"], fixed, a_next))
            y = b["rewards"] + cfg.discount * (1 - b["terminated"]) * (q_target - cfg.sac_alpha * log_pi)
        q1, q2 = self._q(x["critic"], b["observations"], z, b["actions"])
        critic_loss = 0.5 * ((q1 - y) ** 2).mean() + 0.5 * ((q2 - y) ** 2).mean()
        kl = 0.5 * (variance + mean ** 2 - 1 - variance.log()).sum()
        names_c, names_e = list(x["critic"]), list(x["encoder"])
        grads = torch.autograd.grad(critic_loss + cfg.kl_weight * kl,
                                    [x["critic"][k] for k in names_c] + [x["encoder"][k] for k in names_e],
                                    allow_unused=True)
        lr = {"actor": cfg.actor_lr, "critic": cfg.critic_lr, "encoder": cfg.encoder_lr}
        new = {name: {} for name in PART_NAMES}
        for name, keys, part_grads in (("critic", names_c, grads[:len(names_c)]),
                                       ("encoder", names_e, grads[len(names_c):])):
            for k, g in zip(keys, part_grads, strict=True):
                g = (torch.zeros_like(x[name][k]) if g is None else g) + cfg.lam * (self.x[name][k] - self.aux[name][k])
                new[name][k] = _adam(self.x[name][k], g, self.adam.setdefault((name, k), {}), lr[name])
        # the actor against the updated critics, z detached
        critic_new = {k: v.clone() for k, v in new["critic"].items()}
        act_mean, act_log_std = self._actor(x["actor"], b["observations"], fixed)
        u = act_mean + act_log_std.exp() * inputs.new_noise.double()
        action = torch.tanh(u)
        log_pi = (torch.distributions.Normal(act_mean, act_log_std.exp()).log_prob(u)
                  - torch.log(1 - action ** 2)).sum(-1)
        actor_loss = (cfg.sac_alpha * log_pi - torch.min(*self._q(critic_new, b["observations"], fixed, action))).mean()
        names_a = list(x["actor"])
        for k, g in zip(names_a, torch.autograd.grad(actor_loss, [x["actor"][k] for k in names_a]), strict=True):
            g = g + cfg.lam * (self.x["actor"][k] - self.aux["actor"][k])
            new["actor"][k] = _adam(self.x["actor"][k], g, self.adam.setdefault(("actor", k), {}), cfg.actor_lr)
        self.x = {name: {k: v.detach() for k, v in new[name].items()} for name in PART_NAMES}
        self.target = {k: cfg.tau * self.x["critic"][k] + (1 - cfg.tau) * v for k, v in self.target.items()}
        for name in PART_NAMES:  # eq. 13: an Adam step on (λ/2)‖aux − x‖², or the plain step aux − ηλ(aux − x)
            if cfg.aux_optimizer == "sgd":
                self.aux[name] = {k: v - cfg.aux_lr * cfg.lam * (v - self.x[name][k])
                                  for k, v in self.aux[name].items()}
                continue
            self.aux[name] = {k: _adam(v, cfg.lam * (v - self.x[name][k]), self.adam.setdefault(("aux", name, k), {}),
                                       cfg.aux_lr) for k, v in self.aux[name].items()}
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(), "kl": kl.item()}


@pytest.mark.parametrize("aux_optimizer", ["adam", "sgd"])
def test_one_round_moves_every_model_by_eqs_12_to_14(aux_optimizer):
    config = PMetaSACConfig(**SMALL, personal_updates=2, discount=0.9, tau=0.3, sac_alpha=0.3, kl_weight=0.7,
                            lam=2.0, aux_lr=0.05, actor_lr=0.01, critic_lr=0.02, encoder_lr=0.03, beta=0.5,
                            aux_optimizer=aux_optimizer)
    agent = PMetaSAC(ENV, config, KWARGS)
    recorded: dict[int, list] = {}
    original_draw, original_step = agent.draw_update, agent.gradient_step

    def draw(learner, rng):
        inputs = original_draw(learner, rng)
        key = id(learner)
        if key not in recorded:  # the round's start: every personalized model is the meta model (line 7)
            recorded[key] = [{name: {k: v.detach().clone() for k, v in learner.params(name).items()}
                              for name in PART_NAMES}]
        recorded[key].append(inputs)
        return inputs

    losses: dict[int, list] = {}

    def step(learner, inputs):
        out = original_step(learner, inputs)
        losses.setdefault(id(learner), []).append(out)
        return out

    agent.draw_update, agent.gradient_step = draw, step
    train = list(metarl_envs.task_set(ENV, "train", "pmeta"))[:2]
    agent.meta_train(train, iterations=1, seed=7)
    # meta before the round = every learner's start; the round's aggregation mixes the auxiliaries in
    meta_before = recorded[id(agent.learners[0])][0]
    auxiliaries = []
    for learner in agent.learners:
        start, *steps = recorded[id(learner)]
        for name in PART_NAMES:
            for k in start[name]:
                torch.testing.assert_close(start[name][k], meta_before[name][k], rtol=0, atol=0)
        reference = _Reference(agent, start)
        assert len(steps) == 2
        for inputs, seen in zip(steps, losses[id(learner)], strict=True):
            expected = reference.step(inputs)
            for key in expected:
                # float32 against float64: the actor loss's log(1 − tanh²) loses digits where an action
                # saturates (1.6e-4 relative apart on an Intel host, within 1e-4 on an AMD one)
                assert seen[key] == pytest.approx(expected[key], rel=1e-3, abs=1e-5), key
        for name in PART_NAMES:
            for k, v in learner.params(name).items():
                torch.testing.assert_close(v.detach().double(), reference.x[name][k], rtol=1e-4, atol=1e-5)
        for k, v in learner.target.named_parameters():
            torch.testing.assert_close(v.detach().double(), reference.target[k], rtol=1e-4, atol=1e-5)
        auxiliaries.append(reference.aux)
    for name in PART_NAMES:  # eq. 14 with β = 0.5
        for k, v in agent.meta[name].items():
            mean_aux = (auxiliaries[0][name][k] + auxiliaries[1][name][k]) / 2
            expected = 0.5 * meta_before[name][k].double() + 0.5 * mean_aux
            torch.testing.assert_close(v.double(), expected, rtol=1e-4, atol=1e-5)
        assert any(not torch.equal(v, meta_before[name][k]) for k, v in agent.meta[name].items()), name


# --------------------------------------------------------------------------------------------
# Meta-test: a context agent
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained() -> PMetaSAC:
    agent = PMetaSAC(ENV, PMetaSACConfig(**SMALL, personal_updates=3), KWARGS)
    agent.meta_train(list(metarl_envs.task_set(ENV, "train", "pmeta"))[:2], iterations=1, seed=0)
    return agent


def test_meta_test_infers_z_from_the_adaptation_episodes_only(trained):
    """R_0 acts with z from the prior; each adaptation round's transitions join the context (no gradient
    step); evaluation episodes leave the trial's state as it was."""
    from baselines.common.sampler import Sampler
    from benchmarks.evaluate import run_episodes

    tasks = list(metarl_envs.task_set(ENV, "test", "pmeta"))[:2]
    sampler = Sampler(ENV, KWARGS)
    meta = {name: {k: v.clone() for k, v in trained.meta[name].items()} for name in PART_NAMES}
    trained.start_trial(2)
    assert all(p.context is None for p in trained.trial_params())
    run_episodes(trained, sampler, tasks, "evaluate", 2, np.random.default_rng(0))
    assert all(p.context is None for p in trained.trial_params())
    batch = run_episodes(trained, sampler, tasks, "adapt", 1, np.random.default_rng(1))
    trained.end_round(batch)
    for i, params in enumerate(trained.trial_params()):
        np.testing.assert_array_equal(params.context.observations, Transitions.of_batch(batch, i).observations)
        assert len(params.context.rewards) == 200
    run_episodes(trained, sampler, tasks, "evaluate", 2, np.random.default_rng(2))
    assert [len(p.context.rewards) for p in trained.trial_params()] == [200, 200]
    for name in PART_NAMES:
        for k, v in trained.meta[name].items():
            assert torch.equal(v, meta[name][k])
    # z: the prior without context, the meta encoder's posterior with it
    noise = torch.tensor([0.3, -0.7])
    torch.testing.assert_close(trained._latent(TrialContext(), (), noise), noise)
    context = trained.trial_params()[0].context
    mean, variance = trained.posterior(trained._template["encoder"], trained.context_of(context))
    torch.testing.assert_close(trained._latent(TrialContext(context), (), noise), mean + variance.sqrt() * noise)


def test_act_save_load(trained, tmp_path):
    trained.save(tmp_path / "agent")
    loaded = PMetaSAC.load(tmp_path / "agent")
    obs = np.random.default_rng(0).normal(size=(4, 20)).astype(np.float32)
    params = trained.meta_params()
    for deterministic in (True, False):
        np.testing.assert_array_equal(
            trained.act(obs, params, deterministic=deterministic, rng=np.random.default_rng(1)),
            loaded.act(obs, loaded.meta_params(), deterministic=deterministic, rng=np.random.default_rng(1)))
    with pytest.raises(ValueError, match=r"^PMetaSAC\.act: a stochastic action needs rng"):
        trained.act(obs, params)
    assert np.all(np.abs(trained.act(obs, params, deterministic=True)) <= 1)
    assert math.isfinite(float(trained.act(obs, params, rng=np.random.default_rng(2)).sum()))


def test_stored_state_is_what_the_meta_test_reads_and_reloads_the_same_returns(trained):
    from benchmarks.evaluate import MetaTestProtocol, meta_test

    tasks = list(metarl_envs.task_set(ENV, "test", "pmeta"))[:1]
    protocol = MetaTestProtocol(adaptation_steps=1, evaluation_episodes=1, adaptation_episodes=1)
    expected = [t.returns for t in meta_test(trained, tasks, protocol, seed=3).tasks]
    state = trained.get_parameters()
    assert set(state) == {"meta"} and set(state["meta"]) == {"actor", "encoder"}
    fresh = PMetaSAC(ENV, trained.config, KWARGS)
    fresh.set_parameters(state)
    assert [t.returns for t in meta_test(fresh, tasks, protocol, seed=3).tasks] == expected
    # a result stored before the trim held the critics and the personalized sets; it loads the same
    old = PMetaSAC(ENV, trained.config, KWARGS)
    old.set_parameters({"meta": {name: dict(trained.meta[name]) for name in PART_NAMES},
                        "personal": [learner.personal() for learner in trained.learners]})
    assert [t.returns for t in meta_test(old, tasks, protocol, seed=3).tasks] == expected
    with pytest.raises(ValueError, match=r"no \['encoder'\] part"):
        PMetaSAC(ENV, trained.config, KWARGS).set_parameters({"meta": {"actor": state["meta"]["actor"]}})


def test_the_rounds_record_what_it_collected_evaluated_and_best_so_far():
    """Two rounds of the public training step: the warm-up runs once, before the first round; each
    record's returns are the round's own evaluations (pre = its training episodes, post = PP); the best
    MP and PP are the maxima so far; env steps are counted once, as the harness's envs saw them."""
    # 250 gradient steps a task a round: two 200-step episodes, the second's z from the task's posterior
    # and a warm-up of 400 steps a task: exactly two episodes
    agent = PMetaSAC(ENV, PMetaSACConfig(**{**SMALL, "buffer_size": 4000, "warmup_steps": 400}, personal_updates=250),
                     KWARGS)
    warm_ups, collected, personal, meta, firsts = [], [], [], [], []
    original = {name: getattr(agent, name) for name in ("_warm_up", "_collect_round", "_evaluate_personal",
                                                         "_evaluate_meta")}

    def spy(name, log, pick=lambda out: out):
        def call(*args):
            out = original[name](*args)
            log.append(pick(out))
            return out
        setattr(agent, name, call)

    spy("_warm_up", warm_ups, lambda out: agent._envs.env_steps)
    spy("_collect_round", collected, lambda out: (float(np.mean(out[0])), out[1]))
    spy("_evaluate_personal", personal)
    spy("_evaluate_meta", meta)
    episode_z, posterior, posteriors = agent._episode_z, agent.posterior, []

    def counted_posterior(*args):
        posteriors.append(1)
        return posterior(*args)

    def spy_episode_z(learner, first, rng):
        before = len(posteriors)
        z = episode_z(learner, first, rng)
        firsts.append((first, len(posteriors) - before))
        return z

    agent._episode_z, agent.posterior = spy_episode_z, counted_posterior
    log = agent.meta_train(list(metarl_envs.task_set(ENV, "train", "pmeta"))[:2], iterations=2, seed=3)
    records = log.records
    assert len(warm_ups) == 1 and warm_ups[0] > 0   # once, before the first round, and it stepped the envs
    assert records[-1].env_steps == agent._envs.env_steps and 0 < records[0].env_steps < records[1].env_steps
    for i, record in enumerate(records):
        (pre, losses), (prior, meta_return) = collected[i], meta[i]
        assert record.pre_adaptation_return == pytest.approx(pre, rel=1e-12)
        assert record.post_adaptation_return == personal[i]
        assert dict(record.extra) == pytest.approx({
            "meta_return": meta_return, "meta_prior_return": prior, "personal_return": personal[i],
            "best_meta_return": max(m for _, m in meta[:i + 1]), "best_personal_return": max(personal[:i + 1]),
            "collection_env_steps": record.extra["collection_env_steps"],
            "gradient_steps": float(2 * 250 * (i + 1)), **losses})
    # every transition collected is stored once (the buffers do not wrap here): warm-up, then 2 episodes a round
    assert [r.extra["collection_env_steps"] for r in records] == [2 * 200 * 4, 2 * 200 * 6]
    assert sum(learner.buffer.size() for learner in agent.learners) == 2 * 200 * 6
    # the z of each training episode: the prior for a round's first, then the posterior on the task's buffer;
    # PP's evaluation episodes (after the collection) draw from the posterior too
    evaluation = [False] * 2 * agent.config.evaluation_episodes
    assert [first for first, _ in firsts] == [True, True, False, False, *evaluation] * 2
    assert [calls for _, calls in firsts] == [int(not first) for first, _ in firsts]


def test_training_state_restores_a_run_that_then_takes_the_same_round():
    """The checkpoint of a run (`training_state`: meta models, each task's replay buffer and step count, the
    counters) loaded into a fresh run (other initial weights): it reads back the same state, and the next
    round, driven by the same generator, moves both runs' models identically."""
    config = PMetaSACConfig(**SMALL, personal_updates=2)
    tasks = list(metarl_envs.task_set(ENV, "train", "pmeta"))[:2]
    first = PMetaSAC(ENV, config, KWARGS)
    first.meta_train(tasks, iterations=1, seed=0)
    state = first.training_state()
    second = PMetaSAC(ENV, config, KWARGS)
    second.meta_train(tasks, iterations=0, seed=1)   # set up only, from other initial weights
    assert any(not torch.equal(v, state["meta"]["actor"][k]) for k, v in second.meta["actor"].items())
    with pytest.raises(ValueError, match=r"^PMetaSAC: the checkpoint holds 1 tasks' buffers, this run 2$"):
        second.load_training_state({**state, "replay": state["replay"][:1]})
    second.load_training_state(state)
    again = second.training_state()
    assert again.keys() == state.keys()
    for name in PART_NAMES:
        for k, v in state["meta"][name].items():
            assert torch.equal(again["meta"][name][k], v), (name, k)
    for mine, theirs in zip(again["replay"], state["replay"], strict=True):
        assert mine.keys() == theirs.keys()
        for key, value in theirs.items():
            assert torch.equal(mine[key], value) if isinstance(value, torch.Tensor) else mine[key] == value, key
    assert [again[k] for k in ("gradient_steps", "collected", "best", "warmed_up")] == \
        [state[k] for k in ("gradient_steps", "collected", "best", "warmed_up")]
    steps = [agent.meta_train_step(tasks, np.random.default_rng(5)) for agent in (first, second)]
    assert steps[0].extra == steps[1].extra
    for name in PART_NAMES:
        for k, v in first.meta[name].items():
            assert torch.equal(second.meta[name][k], v), (name, k)


@pytest.mark.parametrize("use_next_obs", [False, True])
def test_context_features_are_s_a_r_and_optionally_s_next(use_next_obs):
    rng = torch.Generator().manual_seed(0)
    batch = {"observations": torch.randn(4, 3, generator=rng), "actions": torch.randn(4, 2, generator=rng),
             "rewards": torch.randn(4, generator=rng), "next_observations": torch.randn(4, 3, generator=rng)}
    expected = [batch["observations"], batch["actions"], batch["rewards"][:, None]]
    expected += [batch["next_observations"]] if use_next_obs else []
    torch.testing.assert_close(context_features(batch, use_next_obs), torch.cat(expected, dim=1), rtol=0, atol=0)
