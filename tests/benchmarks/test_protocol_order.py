"""The meta-test protocol's ordering and scoring, pinned with a counting agent.

The agent's parameters are the number of adaptation steps that produced them, and its policy
depends on that number (and on the episode's index in the batch), so every score reveals how often
the agent had adapted when it was taken. Through the public `meta_test` entry point: R_k is scored
after exactly k adaptation steps (k = 0..K), every task adapts exactly K times, in order, and
nothing adapts after the last score. Every R_k is compared with the return of the count-k policy
computed here by stepping a single env (or, for the exact protocol, by walking the deterministic
lake), so the scored episode, the discount, the env-step count and the optimality gap are pinned too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs
from benchmarks.evaluate import MetaTestProtocol, meta_test

NAV = "MetaRL/Navigation2D-v0"
LAKE = "MetaRL/FrozenLakeHoles-v0"
K = 3
ADAPT_STEPS = 7
"""env steps every adaptation reports"""


class CountingAgent:
    """params = {"count": k}; `adapt` returns {"count": k + 1}. Episode e of the count-k policy takes
    the fixed step `action_of(k, e)`, so a Navigation2D return tells which k (and which e) acted."""

    name = "counting"

    def __init__(self, env_id: str, env_kwargs: dict[str, Any]):
        self.env_id, self.env_kwargs, self.config = env_id, dict(env_kwargs), None
        self.events: list[tuple[str, Any, int]] = []
        """("adapt", task, count before) and ("score", None, count) in call order"""

    def meta_params(self) -> dict[str, int]:
        return {"count": 0}

    def adapt(self, task, params, *, rng: np.random.Generator):
        assert isinstance(rng, np.random.Generator), "adaptation gets the protocol's seeded stream"
        self.events.append(("adapt", task, params["count"]))
        return {"count": params["count"] + 1}, ADAPT_STEPS

    def act(self, obs: np.ndarray, params, *, deterministic: bool = False, rng=None) -> np.ndarray:
        assert deterministic is False and isinstance(rng, np.random.Generator), "R_k scores the stochastic policy"
        self.events.append(("score", None, params["count"]))
        return np.stack([action_of(params["count"], e) for e in range(np.asarray(obs).shape[0])])

    def policy_matrix(self, params) -> np.ndarray:  # tabular: action (count mod 4) in every state
        self.events.append(("score", None, params["count"]))
        matrix = np.zeros((16, 4))
        matrix[:, params["count"] % 4] = 1.0
        return matrix


class BatchedCountingAgent(CountingAgent):
    """The same agent with the optional batched `adapt_tasks` and `act_tasks`."""

    def adapt_tasks(self, tasks: Sequence, params: Sequence, *, rng: np.random.Generator):
        pairs = [self.adapt(task, p, rng=rng) for task, p in zip(tasks, params, strict=True)]
        return [p for p, _ in pairs], np.array([s for _, s in pairs])

    def act_tasks(self, obs: np.ndarray, params: Sequence, *, rng: np.random.Generator) -> np.ndarray:
        assert len(params) == np.asarray(obs).shape[0]
        self.batched_calls += 1
        return np.stack([self.act(obs[i], p, rng=rng) for i, p in enumerate(params)])

    batched_calls = 0
    """`act_tasks` calls: the evaluator uses the batched form when the agent has one"""


def action_of(count: int, episode: int = 0) -> np.ndarray:
    return np.array([0.02 * (count + 1), -0.01 * count + 0.004 * episode], dtype=np.float32)


def rollout_of(task, count: int, episode: int = 0, discount: float = 1.0) -> tuple[float, int]:
    """(return Σ γ^t r_t, length) of episode `episode` of the count-`count` policy on `task`, by stepping
    a single env."""
    env = gym.make(NAV, preset="maml")
    env.reset(seed=0, options={"task": task})
    total, length, done = 0.0, 0, False
    while not done:
        _, reward, terminated, truncated, _ = env.step(action_of(count, episode))
        total, length, done = total + discount**length * float(reward), length + 1, terminated or truncated
    return total, length


def check_order(agent: CountingAgent, tasks: Sequence, k_max: int) -> None:
    adapts = [e for e in agent.events if e[0] == "adapt"]
    for task in tasks:  # K adaptations per task, from 0, 1, ..., K − 1 adaptations
        assert [count for _, t, count in adapts if t == task] == list(range(k_max))
    assert len(adapts) == k_max * len(tasks)
    scores = [count for kind, _, count in agent.events if kind == "score"]
    assert scores and scores[0] == 0 and scores[-1] == k_max
    assert agent.events[-1][0] == "score", "an adaptation ran after the last score"
    adapted = [(i, count) for i, (kind, _, count) in enumerate(agent.events) if kind == "adapt"]
    for i, (kind, _, count) in enumerate(agent.events):
        if kind == "score":
            assert all(j < i for j, before in adapted if before < count), f"R_{count} scored before an adaptation"
            assert all(j > i for j, before in adapted if before >= count), f"R_{count} scored after a later one"


AGENTS = pytest.mark.parametrize("agent_class", [CountingAgent, BatchedCountingAgent], ids=["adapt", "batched"])


@AGENTS
@pytest.mark.parametrize(("scored_episode", "discount"), [("mean", 1.0), ("last", 0.9)])
def test_r_k_is_scored_after_exactly_k_adaptations(agent_class, scored_episode, discount):
    tasks = list(metarl_envs.task_set(NAV, "test"))[:3]
    agent = agent_class(NAV, {"preset": "maml"})
    protocol = MetaTestProtocol(adaptation_steps=K, evaluation_episodes=3, scored_episode=scored_episode,
                                discount=discount)
    scored_steps = []
    result = meta_test(agent, tasks, protocol, seed=4, progress=scored_steps.append)
    check_order(agent, tasks, K)
    assert scored_steps == list(range(K + 1))
    if agent_class is BatchedCountingAgent:  # one batched call per env step of every scored batch
        assert agent.batched_calls == len([e for e in agent.events if e[0] == "score"]) // len(tasks)
    assert result.env_id == NAV and result.preset == "maml" and result.protocol == protocol and result.seed == 4
    expected_returns = []
    for task, scored in zip(tasks, result.tasks, strict=True):
        assert scored.task == task.to_dict() and scored.optimal_return is None and scored.optimality_gaps is None
        episodes = [[rollout_of(task, k, e, discount) for e in range(3)] for k in range(K + 1)]
        expected = [np.mean([r for r, _ in row]) if scored_episode == "mean" else row[-1][0] for row in episodes]
        assert len(set(np.round(expected, 6))) == K + 1, "the counts must give distinct returns"
        np.testing.assert_allclose(scored.returns, expected, rtol=1e-6)
        # every adaptation reports ADAPT_STEPS; every scored episode counts its own length
        assert scored.env_steps == ADAPT_STEPS * K + sum(length for row in episodes for _, length in row)
        expected_returns.append(expected)
    np.testing.assert_allclose(result.mean_returns(), np.mean(expected_returns, axis=0), rtol=1e-6)


def lake_walk(task, action: int, horizon: int) -> float:
    """The undiscounted return of always taking `action` on the (deterministic) lake from S."""
    tiles = "".join(task.tiles)
    size = len(task.tiles)
    row, col, total = 0, 0, 0.0
    for _ in range(horizon):
        dr, dc = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}[action]   # Gymnasium: left, down, right, up
        row, col = min(max(row + dr, 0), size - 1), min(max(col + dc, 0), size - 1)
        tile = tiles[row * size + col]
        if tile in "HG":
            return total + (1.0 if tile == "G" else -1.0)
    return total


@AGENTS
def test_exact_protocol_scores_after_exactly_k_adaptations(agent_class):
    tasks = list(metarl_envs.task_set(LAKE, "test", "bomrl-high"))[:4]
    agent = agent_class(LAKE, {"preset": "bomrl-high"})
    result = meta_test(agent, tasks, MetaTestProtocol(adaptation_steps=K, evaluation_episodes=1, exact=True), seed=0)
    check_order(agent, tasks, K)
    for task, scored in zip(tasks, result.tasks, strict=True):
        expected = [lake_walk(task, k % 4, 100) for k in range(K + 1)]
        np.testing.assert_allclose(scored.returns, expected, atol=1e-12)
        assert scored.optimal_return == pytest.approx(1.0)   # a path to G always exists within 100 steps
        np.testing.assert_allclose(scored.optimality_gaps, [1.0 - r for r in expected], atol=1e-12)
        assert scored.env_steps == ADAPT_STEPS * K           # exact scores step no env
    assert len({tuple(t.returns) for t in result.tasks}) > 1, "the lakes must tell the counts apart"


@pytest.mark.parametrize("k_max", [0, 1])
def test_short_protocols_and_max_tasks(k_max):
    tasks = metarl_envs.task_set(NAV, "test")
    agent = CountingAgent(NAV, {"preset": "maml"})
    result = meta_test(agent, tasks, MetaTestProtocol(adaptation_steps=k_max, evaluation_episodes=1), seed=1,
                       max_tasks=2)
    assert result.task_set_fingerprint == tasks.fingerprint and len(result.tasks) == 2
    check_order(agent, tasks[:2], k_max)
    for task, scored in zip(tasks[:2], result.tasks, strict=True):
        np.testing.assert_allclose(scored.returns, [rollout_of(task, k)[0] for k in range(k_max + 1)], rtol=1e-6)


def test_bad_requests_are_refused():
    agent = CountingAgent(NAV, {"preset": "maml"})
    with pytest.raises(ValueError, match="empty"):
        meta_test(agent, [], MetaTestProtocol(1, 1), seed=0)
    with pytest.raises(ValueError, match="exact"):   # exact needs a tabular env
        meta_test(agent, list(metarl_envs.task_set(NAV, "test"))[:1], MetaTestProtocol(1, 1, exact=True), seed=0)
