"""RL², the context-based reference agent: its hidden state carries across a trial's adaptation
rounds, evaluation episodes leave no trace in it, and its meta-training runs through the harness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.common.sampler import Sampler, TrainingEnvs
from baselines.rl2 import RL2, RL2Config
from benchmarks.evaluate import MetaTestProtocol, meta_test, run_episodes

NAV, KWARGS = "MetaRL/Navigation2D-v0", {"preset": "maml"}
SMALL = RL2Config(hidden_size=8, tasks_per_iteration=2, trials_per_task=2, episodes_per_trial=2)


def test_context_carries_across_rounds_and_evaluation_leaves_no_trace():
    agent = RL2(NAV, SMALL, KWARGS)
    tasks = list(metarl_envs.task_set(NAV, "test", "maml"))[:2]
    sampler, rng = Sampler(NAV, KWARGS), np.random.default_rng(0)
    agent.start_trial(len(tasks))
    agent.end_round(run_episodes(agent, sampler, tasks, "adapt", 3, rng))
    after_round = agent._lanes.hidden.clone()
    assert after_round.abs().sum() > 0 and after_round.shape == (2 * 3, 8)
    run_episodes(agent, sampler, tasks, "evaluate", 2, rng)
    assert not torch.equal(agent._lanes.hidden[:2], after_round[:2])  # the evaluation episodes used the context
    agent.begin_episodes("adapt", rng)
    assert torch.equal(agent._lanes.hidden, after_round)  # and left nothing in it for the next round
    agent.start_trial(len(tasks))
    assert agent._lanes is None  # a new trial starts without context


def test_meta_training_is_ppo_on_trials_through_the_harness():
    agent = RL2(NAV, SMALL, KWARGS)
    envs = TrainingEnvs(NAV, KWARGS, metarl_envs.task_set(NAV, "train", "maml"))
    before = {k: v.clone() for k, v in agent.policy.state_dict().items()}
    log = agent.meta_train(envs, iterations=2, seed=0)
    # 2 iterations × 2 tasks × 2 trials × 2 episodes of ≤ 100 steps, every one collected on the harness's envs
    assert len(log.records) == 2 and envs.env_steps == log.records[-1].env_steps
    assert 2 * 2 * 2 * 2 * 50 < envs.env_steps <= 2 * 2 * 2 * 2 * 100
    assert any(not torch.equal(before[k], v) for k, v in agent.policy.state_dict().items())
    result = meta_test(agent, metarl_envs.task_set(NAV, "test", "maml"),
                       MetaTestProtocol(adaptation_steps=2, evaluation_episodes=2, adaptation_episodes=2), seed=0,
                       max_tasks=2)
    assert result.track == "main" and all(len(t.returns) == 3 for t in result.tasks)
    with pytest.raises(TypeError, match="Box action space"):
        RL2("MetaRL/GridNavigation-v0", SMALL, {"preset": "memrl"})


def _independent_ppo(policy: torch.nn.Module, trial: dict, cfg: RL2Config, rng: np.random.Generator) -> dict:
    """RL²'s PPO step written out from its definition: GAE per trial in float64, advantages normalised over
    the whole batch, then `ppo_epochs` passes over random minibatches of whole trials, one Adam step each on
    the clipped surrogate plus `value_coefficient` × the squared value error, each averaged over the
    minibatch's live steps."""
    import copy
    import math

    policy = copy.deepcopy(policy)
    inputs, actions, mask = trial["inputs"], trial["actions"], trial["mask"]
    lanes, steps = mask.shape

    def forward(rows):
        h = torch.zeros(len(rows), cfg.hidden_size)
        log_probs, values = [], []
        for t in range(steps):
            alive = mask[rows, t]
            h = torch.where(alive[:, None], policy.cell(inputs[rows, t], h), h)
            mean, std = policy.mean(h) * cfg.action_scale, policy.log_std.exp() * cfg.action_scale
            z = (actions[rows, t] - mean) / std
            log_probs.append((-0.5 * z ** 2 - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1))
            values.append(policy.value(h)[:, 0])
        return torch.stack(log_probs, 1), torch.stack(values, 1)

    with torch.no_grad():
        old_log_prob, old_values = forward(np.arange(lanes))
    rewards, values, live = trial["rewards"].double().numpy(), old_values.double().numpy(), mask.numpy()
    advantages = np.zeros((lanes, steps))
    for lane in range(lanes):
        ts = np.flatnonzero(live[lane])
        running = 0.0
        for i in range(len(ts) - 1, -1, -1):
            next_value = values[lane, ts[i + 1]] if i + 1 < len(ts) else 0.0
            delta = rewards[lane, ts[i]] + cfg.discount * next_value - values[lane, ts[i]]
            running = delta + cfg.discount * cfg.gae_lambda * running
            advantages[lane, ts[i]] = running
    targets = torch.as_tensor(advantages + values * live, dtype=torch.float32)
    normalized = (advantages - advantages[live].mean()) / (advantages[live].std(ddof=1) + 1e-8)
    normalized = torch.as_tensor(normalized * live, dtype=torch.float32)
    optimizer = torch.optim.Adam(policy.parameters(), lr=cfg.learning_rate)
    for _ in range(cfg.ppo_epochs):
        for rows in np.array_split(rng.permutation(lanes), cfg.minibatches):
            log_prob, value = forward(rows)
            m = mask[rows].float()
            ratio = (log_prob - old_log_prob[rows]).exp()
            a = normalized[rows]
            surrogate = torch.minimum(ratio * a, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * a)
            loss = (-(surrogate * m).sum() + cfg.value_coefficient * ((value - targets[rows]) ** 2 * m).sum()) / m.sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return policy.state_dict()


def test_one_ppo_step_is_the_minibatch_clipped_surrogate_on_whole_trials():
    cfg = RL2Config(hidden_size=4, tasks_per_iteration=3, trials_per_task=2, episodes_per_trial=2, ppo_epochs=2,
                    minibatches=3, clip=0.1, value_coefficient=0.7, discount=0.9, gae_lambda=0.6,
                    learning_rate=0.01, action_scale=0.1, init_std=0.5)
    agent = RL2(NAV, cfg, KWARGS)
    torch.manual_seed(0)
    lanes, steps = 6, 9
    lengths = torch.tensor([9, 4, 7, 9, 2, 6])  # trials whose episodes ended early
    trial = {"inputs": torch.randn(lanes, steps, agent.obs_dim + agent.act_dim + 2),
             "actions": 0.1 * torch.randn(lanes, steps, agent.act_dim), "rewards": torch.randn(lanes, steps),
             "mask": torch.arange(steps)[None, :] < lengths[:, None]}
    expected = _independent_ppo(agent.policy, trial, cfg, np.random.default_rng(7))
    optimizer = torch.optim.Adam(agent.policy.parameters(), lr=cfg.learning_rate)
    agent._ppo(trial, optimizer, np.random.default_rng(7))
    for name, value in agent.policy.state_dict().items():
        torch.testing.assert_close(value, expected[name], rtol=1e-5, atol=1e-6, msg=name)
    assert not torch.equal(expected["mean.weight"], RL2(NAV, cfg, KWARGS).policy.state_dict()["mean.weight"])


def test_action_scale_maps_the_gaussian_onto_the_box_and_bad_values_are_refused():
    agent = RL2(NAV, RL2Config(hidden_size=4, action_scale=0.1, init_std=0.5), KWARGS)
    hidden = torch.randn(3, 4)
    dist = agent.policy.dist(hidden)
    torch.testing.assert_close(dist.mean, agent.policy.mean(hidden) * 0.1, rtol=0, atol=0)
    torch.testing.assert_close(dist.stddev, torch.full_like(dist.mean, 0.05))
    for field, value in (("action_scale", 0.0), ("action_scale", float("nan")), ("minibatches", 0),
                         ("minibatches", 41)):
        with pytest.raises(ValueError, match=f"RL2Config.{field}"):
            RL2Config(**{field: value, "tasks_per_iteration": 20, "trials_per_task": 2})
