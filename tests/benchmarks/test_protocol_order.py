"""The meta-test protocol's ordering, pinned with a counting agent.

The agent's parameters are the number of adaptation steps that produced them, and its policy
depends on that number, so every score reveals how often the agent had adapted when it was taken.
Through the public `meta_test` entry point: R_k is scored after exactly k adaptation steps
(k = 0..K), every task adapts exactly K times, in order, and nothing adapts after the last score.
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


class CountingAgent:
    """params = {"count": k}; `adapt` returns {"count": k + 1}. Its action is a fixed step whose
    length grows with k, so a Navigation2D return tells which k acted."""

    name = "counting"

    def __init__(self, env_id: str, env_kwargs: dict[str, Any]):
        self.env_id, self.env_kwargs, self.config = env_id, dict(env_kwargs), None
        self.events: list[tuple[str, Any, int]] = []
        """("adapt", task, count before) and ("score", None, count) in call order"""

    def meta_params(self) -> dict[str, int]:
        return {"count": 0}

    def adapt(self, task, params, *, rng: np.random.Generator):
        self.events.append(("adapt", task, params["count"]))
        return {"count": params["count"] + 1}, 7

    def act(self, obs: np.ndarray, params, *, deterministic: bool = False, rng=None) -> np.ndarray:
        self.events.append(("score", None, params["count"]))
        return np.tile(action_of(params["count"]), (np.asarray(obs).shape[0], 1))

    def policy_matrix(self, params) -> np.ndarray:  # tabular: action (count mod 4) everywhere
        self.events.append(("score", None, params["count"]))
        matrix = np.zeros((16, 4))
        matrix[:, params["count"] % 4] = 1.0
        return matrix


class BatchedCountingAgent(CountingAgent):
    """The same agent with the optional batched `adapt_tasks`."""

    def adapt_tasks(self, tasks: Sequence, params: Sequence, *, rng: np.random.Generator):
        pairs = [self.adapt(task, p, rng=rng) for task, p in zip(tasks, params, strict=True)]
        return [p for p, _ in pairs], np.array([s for _, s in pairs])


def action_of(count: int) -> np.ndarray:
    return np.array([0.02 * (count + 1), -0.01 * count], dtype=np.float32)


def rollout_of(task, count: int) -> tuple[float, int]:
    """(undiscounted return, length) of the count-`count` policy's episode on `task`, by stepping a single env."""
    env = gym.make(NAV, preset="maml")
    env.reset(seed=0, options={"task": task})
    total, length, done = 0.0, 0, False
    while not done:
        _, reward, terminated, truncated, _ = env.step(action_of(count))
        total, length, done = total + float(reward), length + 1, terminated or truncated
    return total, length


def check_order(agent: CountingAgent, tasks: Sequence, k_max: int) -> None:
    adapts = [e for e in agent.events if e[0] == "adapt"]
    for task in tasks:  # K adaptations per task, from 0, 1, ..., K − 1 adaptations
        assert [count for _, t, count in adapts if t == task] == list(range(k_max))
    assert len(adapts) == k_max * len(tasks)
    scores = [count for kind, _, count in agent.events if kind == "score"]
    assert scores and scores[0] == 0 and scores[-1] == k_max
    assert agent.events[-1][0] == "score", "an adaptation ran after the last score"
    # the scores of step k all come after every k-th adaptation and before any (k+1)-th
    adapted = [(i, count) for i, (kind, _, count) in enumerate(agent.events) if kind == "adapt"]
    for i, (kind, _, count) in enumerate(agent.events):
        if kind == "score":
            assert all(j < i for j, before in adapted if before < count), f"R_{count} scored before an adaptation"
            assert all(j > i for j, before in adapted if before >= count), f"R_{count} scored after a later one"


@pytest.mark.parametrize("agent_class", [CountingAgent, BatchedCountingAgent], ids=["adapt", "adapt_tasks"])
def test_r_k_is_scored_after_exactly_k_adaptations(agent_class):
    tasks = list(metarl_envs.task_set(NAV, "test"))[:3]
    agent = agent_class(NAV, {"preset": "maml"})
    result = meta_test(agent, tasks, MetaTestProtocol(adaptation_steps=K, evaluation_episodes=2), seed=4)
    check_order(agent, tasks, K)
    for task, scored in zip(tasks, result.tasks, strict=True):
        assert len(scored.returns) == K + 1
        expected, lengths = zip(*(rollout_of(task, k) for k in range(K + 1)), strict=True)
        assert scored.env_steps == 7 * K + 2 * sum(lengths)  # each adaptation reports 7 steps; 2 scored episodes
        assert len(set(np.round(expected, 6))) == K + 1, "the counts must give distinct returns"
        np.testing.assert_allclose(scored.returns, expected, rtol=1e-6)


@pytest.mark.parametrize("agent_class", [CountingAgent, BatchedCountingAgent], ids=["adapt", "adapt_tasks"])
def test_exact_protocol_scores_after_exactly_k_adaptations(agent_class):
    tasks = list(metarl_envs.task_set(LAKE, "test", "bomrl-high"))[:2]
    agent = agent_class(LAKE, {"preset": "bomrl-high"})
    result = meta_test(agent, tasks, MetaTestProtocol(adaptation_steps=K, evaluation_episodes=1, exact=True), seed=0)
    check_order(agent, tasks, K)
    assert [len(t.returns) for t in result.tasks] == [K + 1] * len(tasks)


@pytest.mark.parametrize("k_max", [0, 1])
def test_short_protocols(k_max):
    tasks = list(metarl_envs.task_set(NAV, "test"))[:2]
    agent = CountingAgent(NAV, {"preset": "maml"})
    result = meta_test(agent, tasks, MetaTestProtocol(adaptation_steps=k_max, evaluation_episodes=1), seed=1)
    check_order(agent, tasks, k_max)
    for task, scored in zip(tasks, result.tasks, strict=True):
        np.testing.assert_allclose(scored.returns, [rollout_of(task, k)[0] for k in range(k_max + 1)], rtol=1e-6)
