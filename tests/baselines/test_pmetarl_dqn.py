"""pMeta-RL with its DQN inner learner and the Table V baselines: the TD target, prioritized replay's
probabilities and importance weights, the proximal gradient, the auxiliary step and the aggregation
against hand computations; the target-copy cadence, the ε schedule, the round's budget, and the
meta-test surface (R_0 = meta network, R_1 = the personalized one)."""

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces

import metarl_envs
from baselines.common.policies import detach
from baselines.common.sampler import TrajectoryBatch
from baselines.pmetarl_dqn import (
    IndependentDQN,
    ModelAveragingDQN,
    PMetaDQN,
    PMetaDQNConfig,
    PooledDQN,
    PrioritizedReplayBuffer,
    Transitions,
    TrialTask,
    add_proximal_gradient,
    aggregate,
    auxiliary_step,
    linear_epsilon,
    td_target,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CARTPOLE = "MetaRL/CartPoleParams-v0"
TINY = {"hidden_sizes": [8, 8], "personal_updates": 6, "warmup_steps": 20, "batch_size": 4, "evaluation_episodes": 1}


def test_td_target_matches_hand_computation():
    rewards = torch.tensor([1.0, 0.5, -1.0])
    terminated = torch.tensor([0.0, 1.0, 0.0])
    next_q = torch.tensor([[1.0, 3.0], [2.0, 0.0], [-1.0, -2.0]])
    # r + γ (1 − done) max_a' Q̄(s', a') with γ = 0.9: 1 + 0.9·3, 0.5 (terminal), −1 + 0.9·(−1)
    assert td_target(rewards, terminated, next_q, 0.9).tolist() == pytest.approx([3.7, 0.5, -1.9])


def _buffer(n: int, alpha: float = 0.6, beta: float = 0.4) -> PrioritizedReplayBuffer:
    buffer = PrioritizedReplayBuffer(16, spaces.Box(-1, 1, (2,), np.float32), spaces.Discrete(2), alpha=alpha,
                                     beta=beta)
    obs = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
    buffer.add_transitions(Transitions(obs, np.arange(n) % 2, np.arange(n, dtype=float), obs + 1,
                                       np.zeros(n, dtype=bool)))
    return buffer


def test_per_probabilities_and_weights_match_the_closed_form():
    buffer = _buffer(4, alpha=0.6, beta=0.4)
    np.testing.assert_array_equal(buffer.probabilities(), np.full(4, 0.25))   # new = max priority (1)
    buffer.update_priorities(np.arange(4), np.array([0.5, -1.0, 2.0, 4.0]))
    priorities = np.array([0.5, 1.0, 2.0, 4.0]) + 1e-6
    expected = priorities ** 0.6 / (priorities ** 0.6).sum()
    np.testing.assert_allclose(buffer.probabilities(), expected, rtol=1e-12)
    slots, batch, weights = buffer.sample_prioritized(64, np.random.default_rng(0))
    n = 4
    closed = (n * expected[slots]) ** -0.4 / ((n * expected) ** -0.4).max()      # Schaul et al. eq. (1)
    np.testing.assert_allclose(weights.numpy(), closed, rtol=1e-6)
    np.testing.assert_array_equal(batch["rewards"].numpy(), slots.astype(np.float32))
    np.testing.assert_array_equal(batch["actions"].numpy(), slots % 2)
    # a new transition enters at the largest priority seen (4 + 1e-6)
    buffer.add_transitions(Transitions(np.zeros((1, 2), np.float32), np.array([0]), np.array([0.0]),
                                       np.zeros((1, 2), np.float32), np.array([False])))
    assert buffer.scaled_priorities[4] == pytest.approx((4.0 + 1e-6) ** 0.6)


def test_per_draws_follow_the_probabilities():
    buffer = _buffer(3, alpha=1.0)
    buffer.update_priorities(np.arange(3), np.array([1.0, 2.0, 7.0]))
    slots, _, _ = buffer.sample_prioritized(60_000, np.random.default_rng(3))
    frequencies = np.bincount(slots, minlength=3) / len(slots)
    np.testing.assert_allclose(frequencies, buffer.probabilities(), atol=0.01)


def test_proximal_gradient_is_lambda_times_the_distance_on_every_parameter():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    anchor = [p.detach() + torch.randn_like(p) for p in net.parameters()]
    x = torch.randn(5, 3)
    net(x).pow(2).sum().backward()
    expected_td = [p.grad.clone() for p in net.parameters()]
    add_proximal_gradient(list(net.parameters()), anchor, 20.0)
    for p, a, g in zip(net.parameters(), anchor, expected_td, strict=True):
        torch.testing.assert_close(p.grad, g + 20.0 * (p.detach() - a))
    # the same as autograd through (λ/2)‖θ − anchor‖²
    net.zero_grad()
    (net(x).pow(2).sum() + 10.0 * sum(((p - a) ** 2).sum() for p, a in zip(net.parameters(), anchor, strict=True))
     ).backward()
    autograd = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    net(x).pow(2).sum().backward()
    add_proximal_gradient(list(net.parameters()), anchor, 20.0)
    for p, g in zip(net.parameters(), autograd, strict=True):
        torch.testing.assert_close(p.grad, g)


def test_auxiliary_step_and_aggregation_match_hand_computation():
    auxiliary = {"w": torch.tensor([1.0, 2.0])}
    auxiliary_step(auxiliary, {"w": torch.tensor([3.0, 0.0])}, 0.25)          # ϑ − ηλ(ϑ − θ)
    torch.testing.assert_close(auxiliary["w"], torch.tensor([1.5, 1.5]))
    meta = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([0.0])}
    auxiliaries = [{"w": torch.tensor([3.0, 4.0]), "b": torch.tensor([1.0])},
                   {"w": torch.tensor([5.0, 8.0]), "b": torch.tensor([3.0])}]
    merged = aggregate(meta, auxiliaries, 0.5)                                  # (1 − β)ϑ + β mean ϑ_i
    torch.testing.assert_close(merged["w"], torch.tensor([2.5, 4.0]))
    torch.testing.assert_close(merged["b"], torch.tensor([1.0]))


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_auxiliary_step_of_the_agent(optimizer):
    """"sgd": eq. 13 as written; "adam": the first Adam step moves every coordinate by η·g/(|g| + 1e-8),
    g = λ(ϑ_i − θ_i) (bias-corrected moments m̂ = g, v̂ = g²)."""
    agent = _agent(PMetaDQN, lam=20.0, aux_lr=0.01, aux_optimizer=optimizer)
    learner = agent._new_learner(detach(dict(agent._template.named_parameters())))
    start = {k: v + 0.5 * torch.randn_like(v) for k, v in learner.params.items()}
    agent._attach_auxiliary(learner, start)
    agent._after_gradient_step(learner)
    for k, theta in learner.params.items():
        g = 20.0 * (start[k] - theta.detach())
        if optimizer == "adam":
            expected = start[k] - 0.01 * g / (g.abs() + 1e-8)
        else:
            expected = start[k] - 0.2 * (start[k] - theta)
        torch.testing.assert_close(learner.anchor[k].detach(), expected.detach())


def test_linear_epsilon_schedule():
    assert linear_epsilon(0, 1000, 0.3, 0.01, 0.5) == pytest.approx(0.3)
    assert linear_epsilon(250, 1000, 0.3, 0.01, 0.5) == pytest.approx(0.155)
    assert linear_epsilon(500, 1000, 0.3, 0.01, 0.5) == pytest.approx(0.01)
    assert linear_epsilon(900, 1000, 0.3, 0.01, 0.5) == pytest.approx(0.01)


def test_transitions_of_a_batch_end_on_the_final_observation():
    obs = np.arange(2 * 3 * 1, dtype=np.float32).reshape(1, 2, 3, 1)
    mask = np.array([[[True, True, True], [True, False, False]]])
    terminated = np.array([[[False, False, True], [False, False, False]]])
    truncated = np.array([[[False, False, False], [True, False, False]]])
    batch = TrajectoryBatch(obs, np.zeros((1, 2, 3), np.int64), mask.astype(float), mask, terminated, truncated,
                            np.array([[[10.0], [20.0]]], np.float32))
    moves = Transitions.of_batch(batch, 0)
    assert moves.observations[:, 0].tolist() == [0, 1, 2, 3]
    assert moves.next_observations[:, 0].tolist() == [1, 2, 10, 20]
    assert moves.terminated.tolist() == [False, False, True, False]   # truncation is not stored as done


def _agent(cls, **config):
    return cls(CARTPOLE, cls.config_class.from_dict({**TINY, **config}), {"preset": "pmeta"})


def _train(agent, rounds=2, seed=0):
    tasks = metarl_envs.task_set(CARTPOLE, "train", "pmeta")
    records = []
    agent.meta_train(tasks, iterations=rounds, seed=seed, callback=records.append)
    return records


def test_hard_target_copy_every_interval_gradient_steps():
    agent = _agent(PMetaDQN, target_update_interval=3)
    _train(agent, rounds=1)
    learner = agent.learners[0]
    agent._rounds = 1
    rng = np.random.default_rng(0)
    same = []
    for _ in range(7):
        agent._gradient_step(learner, rng)
        same.append(all(torch.equal(a, b) for a, b in zip(learner.net.parameters(), learner.target.parameters(),
                                                            strict=True)))
    # 6 steps were taken in the round: copies after steps 9 and 12 of the learner
    assert learner.gradient_steps == 13
    assert same == [False, False, True, False, False, True, False]


def test_pmeta_round_budget_and_aggregation():
    agent = _agent(PMetaDQN, lam=20.0, aux_lr=0.01)
    records = _train(agent, rounds=2)
    assert [learner.gradient_steps for learner in agent.learners] == [12] * 5    # R per task per round
    manual = {k: torch.stack([learner.anchor[k] for learner in agent.learners]).mean(0) for k in agent.meta}
    for k in agent.meta:                                                         # β = 1: the mean of ϑ_i
        torch.testing.assert_close(agent.meta[k], manual[k])
    last = records[-1].extra
    assert last["best_meta_return"] >= last["meta_return"] and last["best_personal_return"] >= last["personal_return"]
    assert last["gradient_steps"] == 60.0
    assert records[-1].env_steps > last["collection_env_steps"] >= 5 * (20 + 12)


def test_round_start_restarts_every_task_from_the_meta_network():
    agent = _agent(PMetaDQN)
    _train(agent, rounds=1)
    agent._start_round()
    for learner in agent.learners:
        for name, value in learner.net.named_parameters():
            assert torch.equal(value, agent.meta[name]) and torch.equal(learner.anchor[name], agent.meta[name])


def test_baselines_share_the_budget():
    pooled, independent, averaging = _agent(PooledDQN), _agent(IndependentDQN), _agent(ModelAveragingDQN)
    curves = {}
    for agent in (pooled, independent, averaging):
        curves[agent.name] = _train(agent, rounds=2)
        assert curves[agent.name][-1].extra["gradient_steps"] == 60.0              # N·C·R for every agent
    assert len(pooled.learners) == 1 and len(independent.learners) == len(averaging.learners) == 5
    assert math.isnan(curves[pooled.name][-1].extra["personal_return"])          # DQN has no task networks
    assert math.isnan(curves[independent.name][-1].extra["meta_return"])         # DQN* has no meta network
    averaged = {k: torch.stack([dict(learner.net.named_parameters())[k].detach() for learner in averaging.learners])
                .mean(0) for k in averaging.meta}
    for k in averaging.meta:
        torch.testing.assert_close(averaging.meta[k], averaged[k])


def test_meta_test_scores_the_meta_network_then_the_personalized_one(tmp_path):
    from benchmarks.evaluate import MetaTestProtocol, meta_test

    agent = _agent(PMetaDQN)
    _train(agent, rounds=1)
    tasks = metarl_envs.task_set(CARTPOLE, "test", "pmeta")
    protocol = MetaTestProtocol(adaptation_steps=1, evaluation_episodes=2, adaptation_episodes=1)
    result = meta_test(agent, tasks, protocol, seed=0)
    assert all(len(task.returns) == 2 for task in result.tasks)
    agent.start_trial(1)
    assert all(torch.equal(agent.trial_params()[0].acting[0][k], agent.meta[k]) for k in agent.meta)   # R_0: MP
    again = meta_test(agent, tasks, protocol, seed=0)
    assert [t.returns for t in again.tasks] == [t.returns for t in result.tasks]
    agent.save(tmp_path / "agent")
    loaded = PMetaDQN.load(tmp_path / "agent")
    assert [t.returns for t in meta_test(loaded, tasks, protocol, seed=0).tasks] == [t.returns for t in result.tasks]


def test_personalization_pulls_toward_the_meta_network():
    agent = _agent(PMetaDQN, personal_updates=30, aux_optimizer="sgd")
    _train(agent, rounds=1)
    rng = np.random.default_rng(0)
    batch = agent._envs.rollout([agent._envs[0]], 2, lambda obs: np.zeros(obs.shape[:2], np.int64), rng)
    memory = Transitions.of_batch(batch, 0)
    free = _agent(ModelAveragingDQN, personal_updates=30)
    free.meta, free._template = agent.meta, agent._template
    pulled, _ = agent.personalize(agent.meta, memory, np.random.default_rng(1))
    unpulled, _ = free.personalize(agent.meta, memory, np.random.default_rng(1))

    def distance(params):
        return sum(float((params[k] - agent.meta[k]).pow(2).sum()) for k in params)

    assert distance(pulled) < distance(unpulled)


def test_dqn_star_adaptation_picks_the_network_with_the_smallest_td_error():
    agent = _agent(IndependentDQN)
    _train(agent, rounds=1)
    rng = np.random.default_rng(0)
    batch = agent._envs.rollout([agent._envs[2]], 2, lambda obs: np.zeros(obs.shape[:2], np.int64), rng)
    memory = Transitions.of_batch(batch, 0)
    trial = agent.meta_params()
    assert len(trial.acting) == 5
    adapted = agent._adapt(trial, memory, rng)
    errors = [agent.td_error(p, memory) for p in trial.acting]
    # the TD error written out in float64: mean over the episodes' steps of (r + γ(1 − d) max_a' Q(s', a') − Q(s, a))²
    rewards, done = memory.rewards.astype(np.float64), memory.terminated.astype(np.float64)
    for params, error in zip(trial.acting, errors, strict=True):
        with torch.no_grad():
            q = agent.q_values(params, torch.as_tensor(memory.observations, dtype=torch.float32)).double().numpy()
            q_next = agent.q_values(params, torch.as_tensor(memory.next_observations,
                                                            dtype=torch.float32)).double().numpy()
        target = rewards + agent.config.discount * (1 - done) * q_next.max(axis=1)
        taken = q[np.arange(len(q)), memory.actions.astype(np.int64)]
        assert error == pytest.approx(np.mean((target - taken) ** 2), rel=1e-5)
    assert len(set(errors)) == len(errors), "the networks must differ for the choice to be seen"
    chosen = int(np.argmin(errors))
    assert all(torch.equal(adapted.acting[0][k], trial.acting[chosen][k]) for k in trial.acting[chosen])
    assert adapted.meta is None and adapted.memory is memory   # DQN* keeps no meta network; the episodes stay


@pytest.mark.parametrize("field, value", [("lam", 0.0), ("aux_lr", 0.1), ("beta", 0.0), ("personal_updates", 0),
                                          ("epsilon_start", 1.5), ("discount", 1.0), ("aux_optimizer", "sgdx")])
def test_config_rejects_bad_values_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        PMetaDQNConfig.from_dict({field: value})


@pytest.mark.parametrize("cls, stored", [(PMetaDQN, {"meta"}), (ModelAveragingDQN, {"meta"}),
                                         (PooledDQN, {"meta"}), (IndependentDQN, {"personal"})])
def test_stored_state_is_what_the_meta_test_reads_and_reloads_the_same_returns(cls, stored):
    from benchmarks.evaluate import MetaTestProtocol, meta_test

    agent = _agent(cls)
    _train(agent, rounds=1)
    tasks = metarl_envs.task_set(CARTPOLE, "test", "pmeta")
    protocol = MetaTestProtocol(adaptation_steps=1, evaluation_episodes=1, adaptation_episodes=1)
    expected = [t.returns for t in meta_test(agent, tasks, protocol, seed=3).tasks]
    state = agent.get_parameters()
    assert set(state) == stored
    fresh = _agent(cls)
    fresh.set_parameters(state)
    assert [t.returns for t in meta_test(fresh, tasks, protocol, seed=3).tasks] == expected
    # a result stored before the trim held both keys; it loads, the extra networks unused
    both = {"meta": dict(agent.meta), "personal": [dict(learner.net.named_parameters()) for learner in agent.learners]}
    old = _agent(cls)
    old.set_parameters(both)
    assert [t.returns for t in meta_test(old, tasks, protocol, seed=3).tasks] == expected
    missing = "meta" if "meta" in stored else "personal"
    with pytest.raises(ValueError, match=f"no '{missing}' entry"):
        _agent(cls).set_parameters({k: v for k, v in both.items() if k != missing})


def test_act_is_greedy_in_the_mean_q_and_epsilon_greedy_when_sampled():
    """The public `act`: deterministic = argmax of the mean Q of the trial's networks (DQN*: its five task
    networks); sampled = ε-greedy with ε = adapt_epsilon, each action replaced by a uniform one with
    probability ε, the draws (explore, then the random action) taken from the caller's generator."""
    agent = _agent(IndependentDQN, adapt_epsilon=0.3)
    _train(agent, rounds=1)
    generator = torch.Generator().manual_seed(3)   # three random networks, so that their argmaxes disagree
    shapes = agent.meta_params().acting[0]
    trial = TrialTask(tuple({k: torch.randn(v.shape, generator=generator) for k, v in shapes.items()}
                            for _ in range(3)), None)
    obs = np.random.default_rng(1).normal(size=(64, 4)).astype(np.float32)
    with torch.no_grad():
        q = [agent.q_values(p, torch.as_tensor(obs)).numpy() for p in trial.acting]
    greedy = np.mean(q, axis=0).argmax(axis=1)
    assert len(set(greedy.tolist())) == 2 and (greedy != q[0].argmax(axis=1)).any(), "the mean must be seen"
    np.testing.assert_array_equal(agent.act(obs, trial, deterministic=True), greedy)
    draws = np.random.default_rng(7)
    explore, uniform = draws.random(len(obs)) < 0.3, draws.integers(2, size=len(obs))
    sampled = agent.act(obs, trial, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(sampled, np.where(explore, uniform, greedy))
    assert (sampled != greedy).any()


def test_transitions_concatenate_field_by_field_in_order():
    rng = np.random.default_rng(0)

    def part(n: int) -> Transitions:
        return Transitions(rng.normal(size=(n, 4)), rng.integers(2, size=n), rng.normal(size=n),
                           rng.normal(size=(n, 4)), rng.random(n) < 0.5)

    first, second = part(3), part(2)
    both = Transitions.concatenate([first, second])
    assert type(both) is Transitions and len(both.rewards) == 5
    for field in Transitions._fields:
        np.testing.assert_array_equal(getattr(both, field),
                                      np.concatenate([getattr(first, field), getattr(second, field)]))
