"""Shared core against closed forms and hand-rolled loops: returns, GAE, baseline, CG, TRPO,
policies, the sampler; agents' save/load identity and configs."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.func import functional_call

import metarl_envs
from baselines.common import estimators
from baselines.common.policies import CategoricalMLPPolicy, GaussianMLPPolicy, StackedParams, detach
from baselines.common.returns import LinearFeatureBaseline, discounted_returns, gae
from baselines.common.sampler import Sampler
from baselines.common.trpo import conjugate_gradient, trpo_step
from baselines.maml import MAML, MAMLConfig
from baselines.memrl import MEMRL, MEMRLConfig
from baselines.sgmrl import SGMRL, SGMRLConfig
from benchmarks.evaluate import MetaTestProtocol, meta_test

torch.set_num_threads(1)
NAV = "MetaRL/Navigation2D-v0"


def test_single_terminal_reward_with_constant_value():
    rewards = np.array([[0.0, 0.0, 0.0, 1.0]])
    mask = np.ones_like(rewards, dtype=bool)
    terminated = np.array([[False, False, False, True]])
    gamma, lam, value = 0.9, 0.8, 0.5
    np.testing.assert_allclose(discounted_returns(rewards, mask, gamma), [[gamma**3, gamma**2, gamma, 1.0]])
    np.testing.assert_allclose(discounted_returns(rewards, mask, gamma, from_start=True), [[gamma**3] * 4])
    adv = gae(rewards, np.full_like(rewards, value), np.array([99.0]), mask, terminated, ~mask, gamma, lam)
    deltas = np.array([gamma * value - value] * 3 + [1.0 - value])  # terminal: next value 0, final value unused
    expected = [sum((gamma * lam) ** k * deltas[t + k] for k in range(4 - t)) for t in range(4)]
    np.testing.assert_allclose(adv[0], expected)


def test_infinite_chain_bootstraps_at_truncation():
    """r = 1 forever, V = 1/(1−γ): truncation bootstraps, so every advantage is 0; termination does not."""
    gamma, horizon = 0.95, 7
    rewards, mask = np.ones((1, horizon)), np.ones((1, horizon), dtype=bool)
    values = np.full((1, horizon), 1 / (1 - gamma))
    ends = np.zeros((1, horizon), dtype=bool)
    ends[0, -1] = True
    truncated = gae(rewards, values, values[:, -1], mask, np.zeros_like(ends), ends, gamma, 0.9)
    np.testing.assert_allclose(truncated, 0.0, atol=1e-10)
    terminated = gae(rewards, values, values[:, -1], mask, ends, np.zeros_like(ends), gamma, 0.9)
    assert terminated[0, -1] == pytest.approx(1 - 1 / (1 - gamma))


def test_linear_baseline_recovers_linear_returns():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(2, 5, 6, 3))
    mask = np.ones((2, 5, 6), dtype=bool)
    baseline = LinearFeatureBaseline(reg_coeff=1e-10)
    times = np.broadcast_to(np.arange(6), mask.shape)
    coeffs = rng.normal(size=(2, 10))
    returns = np.einsum("t...f,tf->t...", baseline.features(obs, times), coeffs)
    fitted = baseline.predict(baseline.fit(obs, returns, mask), obs, times)  # t-features are near-collinear:
    np.testing.assert_allclose(fitted, returns, atol=1e-4)                  # compare predictions, not coefficients


def test_conjugate_gradient_on_a_quadratic():
    a = torch.tensor([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]], dtype=torch.float64)
    b = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    np.testing.assert_allclose(conjugate_gradient(lambda v: a @ v, b, 10).numpy(), np.linalg.solve(a, b), atol=1e-8)


def test_trpo_step_improves_within_the_trust_region():
    target = torch.tensor([1.0, -2.0])
    params = {"x": torch.zeros(2)}
    loss = lambda p: ((p["x"] - target) ** 2).sum()  # noqa: E731
    kl = lambda p: 0.5 * ((p["x"] - params["x"]) ** 2).sum()  # noqa: E731
    new, info = trpo_step(params, loss, kl, max_kl=0.01)
    assert float(loss(new)) < float(loss(params)) and float(kl(new)) <= 0.01 + 1e-7 and info["step_fraction"] > 0


def test_functional_policy_matches_the_module_and_per_task_params():
    policy = GaussianMLPPolicy(2, 2, (8, 8))
    obs = torch.randn(3, 4, 2)
    params = detach(policy.meta_params())
    torch.testing.assert_close(policy.head(params, obs), functional_call(policy, params, (obs,)))
    per_task = [{k: v + 0.1 * i for k, v in params.items()} for i in range(3)]
    batched = policy.dist_params(per_task, obs)
    for i in range(3):
        single = policy.dist_params(per_task[i], obs[i])
        torch.testing.assert_close(batched[0][i], single[0])
        torch.testing.assert_close(batched[1][i], single[1])
    actions = torch.randn(3, 4, 2)
    normal = torch.distributions.Normal(single[0], single[1].exp())
    torch.testing.assert_close(policy.log_prob(per_task[2], obs[2], actions[2]), normal.log_prob(actions[2]).sum(-1))


@pytest.mark.parametrize("policy", [GaussianMLPPolicy(2, 2, (8, 8), action_scale=0.1),
                                    CategoricalMLPPolicy(2, 5, (8,), activation="relu")],
                         ids=["gaussian", "categorical"])
def test_rollout_sampler_draws_what_sample_draws(policy):
    obs = torch.randn(3, 4, 2)
    params = detach(policy.meta_params())
    per_task = StackedParams.of([{k: v + 0.1 * i for k, v in params.items()} for i in range(3)])
    for used in (params, per_task):
        expected = policy.sample(used, obs, torch.Generator().manual_seed(5))
        drawn = policy.rollout_sampler(used, torch.Generator().manual_seed(5))(obs)
        torch.testing.assert_close(drawn, expected)
        assert not drawn.requires_grad


def test_sampler_matches_a_hand_rolled_loop():
    tasks = list(metarl_envs.task_set(NAV, "test"))[:3]
    sampler = Sampler(NAV, {"preset": "maml"})

    def act(obs):  # deterministic and often outside the action box, so the clipping is exercised
        return -0.5 * obs + 0.07

    batch = sampler.rollout(tasks, 2, act, np.random.default_rng(0))
    assert batch.rewards.shape[:2] == (3, 2) and batch.observations.shape[-1] == 2
    env = gym.make(NAV, preset="maml")
    for i, task in enumerate(tasks):
        obs, _ = env.reset(options={"task": task})
        total, steps = 0.0, 0
        for _ in range(env.unwrapped.horizon):
            action = np.clip(act(obs[None, None])[0, 0], -0.1, 0.1).astype(np.float32)
            obs, reward, terminated, truncated, _ = env.step(action)
            total, steps = total + reward, steps + 1
            if terminated or truncated:
                break
        np.testing.assert_allclose(batch.episode_returns()[i], total, rtol=1e-6)
        assert batch.mask[i].sum(axis=-1).tolist() == [steps, steps]
        assert not np.any(batch.terminated[i] & batch.truncated[i])
        assert (batch.terminated[i] | batch.truncated[i]).sum() == 2


def test_sampler_keeps_unclipped_actions_and_is_seeded():
    sampler = Sampler(NAV, {"preset": "maml"})
    policy = GaussianMLPPolicy(2, 2, (8,), init_std=1.0)
    tasks = list(metarl_envs.task_set(NAV, "train"))[:2]
    first = sampler.collect(policy, policy.meta_params(), tasks, 3, np.random.default_rng(5))
    second = sampler.collect(policy, policy.meta_params(), tasks, 3, np.random.default_rng(5))
    np.testing.assert_array_equal(first.actions, second.actions)
    assert np.abs(first.actions[first.mask]).max() > 0.1  # the stored sample, not the clipped action
    weights = estimators.weights(first, MAMLConfig().weight_spec)
    assert weights.shape == first.rewards.shape and np.all(weights[~first.mask] == 0)


@pytest.mark.parametrize(("cls", "config", "env_id", "kwargs"), [
    (MAML, MAMLConfig(tasks_per_iteration=2, episodes_per_task=2, hidden_sizes=(8,), cg_iterations=2), NAV,
     {"preset": "maml"}),
    (SGMRL, SGMRLConfig(tasks_per_iteration=2, episodes_per_task=2, hidden_sizes=(8,), inner_steps=2), NAV,
     {"preset": "maml"}),
    (MEMRL, MEMRLConfig(inner_steps=2), "MetaRL/GridNavigation-v0", {"preset": "memrl"}),
])
def test_agents_train_save_load_and_act_identically(cls, config, env_id, kwargs, tmp_path):
    agent = cls(env_id, config, kwargs)
    before = agent.meta_params()
    log = agent.meta_train(metarl_envs.task_set(env_id, "train", kwargs["preset"]), iterations=1, seed=3)
    assert len(log.records) == 1 and log.records[0].env_steps > 0
    assert any(not torch.equal(before[k], v) for k, v in agent.meta_params().items())
    agent.save(tmp_path / "agent")
    loaded = cls.load(tmp_path / "agent")
    obs = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
    for deterministic in (True, False):
        np.testing.assert_array_equal(
            agent.act(obs, agent.meta_params(), deterministic=deterministic, rng=np.random.default_rng(1)),
            loaded.act(obs, loaded.meta_params(), deterministic=deterministic, rng=np.random.default_rng(1)))
    with pytest.raises(TypeError, match="unknown key 'fast-lr'"):
        cls.config_class.from_dict({"fast-lr": 0.1})
    assert cls.config_class.from_dict(config.to_dict()) == config


def test_meta_test_exact_carries_the_oracle_gap():
    agent = MEMRL("MetaRL/GridNavigation-v0", MEMRLConfig(inner_steps=1), {"preset": "memrl"})
    test_set = metarl_envs.task_set("MetaRL/GridNavigation-v0", "test", "memrl")
    result = meta_test(agent, test_set, MetaTestProtocol(1, 10, adaptation_episodes=10, exact=True), seed=0)
    assert len(result.tasks) == 3 and result.task_set_fingerprint == test_set.fingerprint
    for task in result.tasks:
        assert 0 < task.returns[0] < task.optimal_return and all(g > 0 for g in task.optimality_gaps)


def test_reductions_weigh_early_ended_episodes_as_documented():
    per_step = torch.tensor([[[1.0, 1.0, 1.0, 1.0], [4.0, 0.0, 0.0, 0.0]]])  # one task, episodes of length 4 and 1
    mask = torch.tensor([[[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]]])
    assert estimators.reduce_steps(per_step, mask, "episode_sum").item() == pytest.approx((4 + 4) / 2)
    assert estimators.reduce_steps(per_step, mask, "episode_mean").item() == pytest.approx((1 + 4) / 2)
    assert estimators.reduce_steps(per_step, mask, "step_mean").item() == pytest.approx(8 / 5)
    with pytest.raises(ValueError, match="reduction"):
        estimators.reduce_steps(per_step, mask, "mean")
    with pytest.raises(ValueError, match=r"MAMLConfig\.reduction"):
        MAMLConfig(reduction="mean")


def _trained_agents():
    """One small trained agent of each reference algorithm, with the env it runs on."""
    from baselines.bomrl import BOMRL, BOMRLConfig
    from baselines.pmetarl import PMetaRL, PMetaRLConfig
    from baselines.tabular_maml import TabularMAML, TabularMAMLConfig

    lake, lake_kwargs = "MetaRL/FrozenLakeHoles-v0", {"preset": "bomrl-high"}
    grid, grid_kwargs = "MetaRL/GridNavigation-v0", {"preset": "pmeta"}
    specs = [(MAML(NAV, MAMLConfig(tasks_per_iteration=2, episodes_per_task=2, hidden_sizes=(8,), cg_iterations=2),
                   {"preset": "maml"}), NAV, "maml"),
             (MEMRL("MetaRL/GridNavigation-v0", MEMRLConfig(inner_steps=1), {"preset": "memrl"}),
              "MetaRL/GridNavigation-v0", "memrl"),
             (BOMRL(lake, BOMRLConfig(tasks_per_iteration=2, cg_iterations=5), lake_kwargs), lake, "bomrl-high"),
             (TabularMAML(lake, TabularMAMLConfig(tasks_per_iteration=2), lake_kwargs), lake, "bomrl-high"),
             (PMetaRL(grid, PMetaRLConfig(), grid_kwargs), grid, "pmeta")]
    for agent, env_id, preset in specs:
        agent.meta_train(metarl_envs.task_set(env_id, "train", preset), iterations=1, seed=0)
        yield agent, env_id


def test_every_agent_acts_by_one_rule():
    """Deterministic: the mode; stochastic: a draw that needs rng — a missing rng is an error for every
    agent, never a silent greedy action (pMeta-RL acted greedily without one)."""
    for agent, env_id in _trained_agents():
        env = gym.make(env_id, **agent.env_kwargs)
        obs = np.stack([env.reset(seed=s)[0] for s in range(3)])
        params = agent.meta_params()
        first = agent.act(obs, params, deterministic=True)
        np.testing.assert_array_equal(first, agent.act(obs, params, deterministic=True, rng=np.random.default_rng(9)))
        message = rf"^{type(agent).__name__}\.act: a stochastic action needs rng \(an np\.random\.Generator\)$"
        with pytest.raises(ValueError, match=message):
            agent.act(obs, params, deterministic=False)
        np.testing.assert_array_equal(agent.act(obs, params, rng=np.random.default_rng(4)),
                                      agent.act(obs, params, rng=np.random.default_rng(4)))


@pytest.mark.parametrize("name", ["bomrl", "tabular_maml", "pmetarl"])
def test_tabular_agents_act_by_their_policy_matrix_and_reload_it(name, tmp_path):
    """Every state's deterministic action is the argmax of π = `policy_matrix(params)`, its draws follow
    π, and a saved agent loads back with the same π (BO-MRL, tabular MAML, pMeta-RL)."""
    from baselines.bomrl import BOMRL, BOMRLConfig
    from baselines.pmetarl import PMetaRL, PMetaRLConfig
    from baselines.tabular_maml import TabularMAML, TabularMAMLConfig

    lake, grid = "MetaRL/FrozenLakeHoles-v0", "MetaRL/GridNavigation-v0"
    cls, config, env_id, preset = {
        "bomrl": (BOMRL, BOMRLConfig(tasks_per_iteration=2, cg_iterations=5, meta_lr=0.5), lake, "bomrl-high"),
        "tabular_maml": (TabularMAML, TabularMAMLConfig(tasks_per_iteration=2, meta_lr=0.5), lake, "bomrl-high"),
        "pmetarl": (PMetaRL, PMetaRLConfig(lam=2.0), grid, "pmeta")}[name]
    agent = cls(env_id, config, {"preset": preset})
    agent.meta_train(metarl_envs.task_set(env_id, "train", preset), iterations=2, seed=0)
    params = agent.meta_params()
    policy = agent.policy_matrix(params)
    states = np.arange(policy.shape[0])
    np.testing.assert_allclose(policy.sum(axis=1), 1.0)
    greedy = agent.act(states, params, deterministic=True)
    np.testing.assert_array_equal(greedy, policy.argmax(axis=1))
    draws = agent.act(np.repeat(states, 4000), params, rng=np.random.default_rng(3)).reshape(len(states), 4000)
    frequencies = np.stack([np.bincount(row, minlength=policy.shape[1]) for row in draws]) / 4000
    np.testing.assert_allclose(frequencies, policy, atol=0.03)
    agent.save(tmp_path / "agent")
    loaded = cls.load(tmp_path / "agent")
    assert loaded.config == agent.config and loaded.env_kwargs == agent.env_kwargs
    np.testing.assert_array_equal(loaded.policy_matrix(loaded.meta_params()), policy)
    assert np.ptp(policy) > 0.05, "the trained policy must not be uniform"


def test_meta_train_seed_draws_the_weights_and_the_callback_sees_every_record():
    """One seed repeats its initial weights and its run, another seed draws others; `callback` gets each
    iteration's record as it is logged, and a record's dict is JSON's own (the results file's curve)."""
    import json

    tasks = metarl_envs.task_set("MetaRL/GridNavigation-v0", "train", "memrl")

    def run(seed: int, iterations: int, callback=None):
        agent = MEMRL("MetaRL/GridNavigation-v0", MEMRLConfig(hidden_sizes=(6,), inner_steps=1, tasks_per_iteration=2,
                                                              episodes_per_step=2, meta_lr=0.3), {"preset": "memrl"})
        log = agent.meta_train(tasks, iterations=iterations, seed=seed, callback=callback)
        return agent.meta_params(), log

    first, second, other = run(0, 0)[0], run(0, 0)[0], run(1, 0)[0]
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)
    seen = []
    params, log = run(4, 2, seen.append)
    assert seen == log.records and [r.iteration for r in seen] == [0, 1]
    again, _ = run(4, 2)
    assert all(torch.equal(params[k], again[k]) for k in params)
    for record in seen:
        data = record.to_dict()
        assert json.loads(json.dumps(data)) == data
        assert data == {"iteration": record.iteration, "env_steps": record.env_steps, "wall_time": record.wall_time,
                        "pre_adaptation_return": record.pre_adaptation_return,
                        "post_adaptation_return": record.post_adaptation_return, "extra": dict(record.extra)}
    # MEMRL logs ‖mean_i λ(θ̃_i − w)‖, the meta-gradient of eq. (17): w moves by meta_lr times it
    start, (moved, log) = run(4, 0)[0], run(4, 1)
    change = torch.sqrt(sum(((moved[k].double() - start[k].double()) ** 2).sum() for k in start))
    assert log.records[0].extra["meta_gradient_norm"] == pytest.approx(float(change) / 0.3, rel=1e-4)


def test_an_agent_without_a_tabular_policy_says_so_under_the_exact_protocol():
    agent = MAML("MetaRL/GridNavigation-v0", MAMLConfig(hidden_sizes=(4,)), {"preset": "memrl"})
    message = r"^MAML has no tabular policy \(protocol exact=True needs one\)$"
    with pytest.raises(TypeError, match=message):
        agent.policy_matrix(agent.meta_params())
    task = metarl_envs.task_set("MetaRL/GridNavigation-v0", "test", "memrl")[0]
    with pytest.raises(TypeError, match=message):
        meta_test(agent, [task], MetaTestProtocol(1, 1, adaptation_episodes=1, exact=True), seed=0)


def test_neural_agents_draw_meta_test_actions_as_documented():
    """An adaptation round samples like `Sampler.collect` (the meta-training batches); an evaluation
    episode like `act` at every step (one draw from the episode's stream per step)."""
    from benchmarks.evaluate import run_episodes

    agent = MAML(NAV, MAMLConfig(hidden_sizes=(8,), init_std=0.5), {"preset": "maml"})
    tasks = list(metarl_envs.task_set(NAV, "test", "maml"))[:2]
    sampler = Sampler(NAV, {"preset": "maml"})
    agent.start_trial(len(tasks))
    theta = agent.meta_params()
    adapt = run_episodes(agent, sampler, tasks, "adapt", 3, np.random.default_rng(5))
    collected = sampler.collect(agent.policy, [theta, theta], tasks, 3, np.random.default_rng(5))
    np.testing.assert_array_equal(adapt.actions, collected.actions)
    evaluate = run_episodes(agent, sampler, tasks, "evaluate", 3, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    by_act = sampler.rollout(tasks, 3, lambda obs: agent.act(obs, [theta, theta], rng=rng), rng)
    np.testing.assert_array_equal(evaluate.actions, by_act.actions)
    assert not np.array_equal(evaluate.actions, adapt.actions)


class _Pickled:
    """An object that only a full unpickler would rebuild."""


def test_a_saved_agents_state_is_loaded_without_unpickling_objects(tmp_path):
    """`load` reads state.pt with weights_only=True: a state file holding a pickled object is refused."""
    import pickle

    agent = MAML(NAV, MAMLConfig(hidden_sizes=(4,)), {"preset": "maml"})
    agent.save(tmp_path / "agent")
    torch.save({"policy": agent.policy.state_dict(), "payload": _Pickled()}, tmp_path / "agent" / "state.pt")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        MAML.load(tmp_path / "agent")


def test_adam_outer_step_uses_the_configured_rate():
    """Adam's first step moves every parameter by the learning rate (m̂/√v̂ = ±1 where the gradient is
    not tiny): with outer_lr = 0.05, not Adam's default 1e-3."""
    tasks = metarl_envs.task_set(NAV, "train", "maml")
    config = MAMLConfig(outer_optimizer="adam", outer_lr=0.05, hidden_sizes=(4,), tasks_per_iteration=2,
                        episodes_per_task=2)
    start = MAML(NAV, config, {"preset": "maml"})
    start.meta_train(tasks, iterations=0, seed=0)
    stepped = MAML(NAV, config, {"preset": "maml"})
    stepped.meta_train(tasks, iterations=1, seed=0)
    change = torch.cat([(stepped.meta_params()[k] - start.meta_params()[k]).abs().ravel() for k in start.meta_params()])
    assert float(change.max()) == pytest.approx(0.05, rel=1e-3)
    assert float((change > 0.04).float().mean()) > 0.5
