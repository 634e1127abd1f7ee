"""The meta-test protocol's ordering and scoring, pinned with a counting agent.

The agent's state per task is the number of adaptation rounds it has ended, and its policy depends
on that number (and on the episode's index in the batch), so every score reveals how often the agent
had adapted when it was taken. Through the public `meta_test` entry point: R_k is scored after
exactly k adaptation rounds (k = 0..K), every task adapts exactly K times, in order, and nothing
adapts after the last score. Every R_k is compared with the return of the count-k policy
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
ROUND = 2
"""episodes per task in every adaptation round"""


class CountingAgent:
    """Every task's state is the number of adaptation rounds it has ended; episode e of the count-k
    policy takes the fixed step `action_of(k, e)`, so a Navigation2D return tells which k (and which e)
    acted. It records ("adapt", task index, count before) and ("score", None, count) in call order."""

    name = "counting"

    def __init__(self, env_id: str, env_kwargs: dict[str, Any]):
        self.env_id, self.env_kwargs, self.config = env_id, dict(env_kwargs), None
        self.events: list[tuple[str, Any, int]] = []
        self.transitions = 0

    def start_trial(self, num_tasks: int) -> None:
        self.counts = [0] * num_tasks

    def begin_episodes(self, phase: str, rng: np.random.Generator) -> None:
        assert isinstance(rng, np.random.Generator), "every batch of episodes gets the protocol's seeded stream"
        self.phase = phase
        if phase == "evaluate":
            self.events += [("score", None, count) for count in self.counts]

    def actions(self, obs: np.ndarray) -> np.ndarray:
        episodes = np.asarray(obs).shape[1]
        if self.env_id == LAKE:  # the action of `policy_matrices`
            return np.stack([np.full(episodes, count % 4) for count in self.counts])
        return np.stack([[action_of(count, e) for e in range(episodes)] for count in self.counts])

    def observe(self, transition: Any) -> None:
        self.transitions += int(transition.alive.sum())

    def end_round(self, rollouts: Any) -> None:
        assert self.phase == "adapt" and rollouts.episodes_per_task == ROUND
        self.events += [("adapt", i, count) for i, count in enumerate(self.counts)]
        self.counts = [count + 1 for count in self.counts]

    def policy_matrices(self) -> np.ndarray:  # tabular: action (count mod 4) in every state
        self.events += [("score", None, count) for count in self.counts]
        matrices = np.zeros((len(self.counts), 16, 4))
        for i, count in enumerate(self.counts):
            matrices[i, :, count % 4] = 1.0
        return matrices


def action_of(count: int, episode: int = 0) -> np.ndarray:
    return np.array([0.02 * (count + 1), -0.01 * count + 0.004 * episode], dtype=np.float32)


def rollout_of(task, count: int, episode: int = 0, discount: float = 1.0, **env_kwargs) -> tuple[float, int]:
    """(return Σ γ^t r_t, length) of episode `episode` of the count-`count` policy on `task`, by stepping
    a single env."""
    env = gym.make(NAV, **env_kwargs)
    env.reset(seed=0, options={"task": task})
    total, length, done = 0.0, 0, False
    while not done:
        _, reward, terminated, truncated, _ = env.step(action_of(count, episode))
        total, length, done = total + discount**length * float(reward), length + 1, terminated or truncated
    return total, length


def check_order(agent: CountingAgent, tasks: Sequence, k_max: int) -> None:
    adapts = [e for e in agent.events if e[0] == "adapt"]
    for index in range(len(tasks)):  # K adaptations per task, from 0, 1, ..., K − 1 adaptations
        assert [count for _, t, count in adapts if t == index] == list(range(k_max))
    assert len(adapts) == k_max * len(tasks)
    scores = [count for kind, _, count in agent.events if kind == "score"]
    assert scores and scores[0] == 0 and scores[-1] == k_max
    assert agent.events[-1][0] == "score", "an adaptation ran after the last score"
    adapted = [(i, count) for i, (kind, _, count) in enumerate(agent.events) if kind == "adapt"]
    for i, (kind, _, count) in enumerate(agent.events):
        if kind == "score":
            assert all(j < i for j, before in adapted if before < count), f"R_{count} scored before an adaptation"
            assert all(j > i for j, before in adapted if before >= count), f"R_{count} scored after a later one"


def _straight_line_optimum(task, discount: float) -> float:
    from baselines.common.oracles import analytic_optimal_return

    env = gym.make(NAV, preset="maml")
    env.unwrapped.set_task(task)
    return analytic_optimal_return(env, task, discount)


@pytest.mark.parametrize(("scored_episode", "discount"), [("mean", 1.0), ("last", 0.9)])
def test_r_k_is_scored_after_exactly_k_adaptations(scored_episode, discount):
    tasks = list(metarl_envs.task_set(NAV, "test"))[:3]
    agent = CountingAgent(NAV, {"preset": "maml"})
    protocol = MetaTestProtocol(adaptation_steps=K, evaluation_episodes=3, adaptation_episodes=ROUND,
                                scored_episode=scored_episode, discount=discount)
    scored_steps = []
    result = meta_test(agent, tasks, protocol, seed=4, progress=scored_steps.append)
    check_order(agent, tasks, K)
    assert scored_steps == list(range(K + 1))
    assert result.env_id == NAV and result.preset == "maml" and result.protocol == protocol and result.seed == 4
    expected_returns = []
    for task, scored in zip(tasks, result.tasks, strict=True):
        assert scored.task == task.to_dict() and scored.optimal_return == _straight_line_optimum(task, discount)
        episodes = [[rollout_of(task, k, e, discount) for e in range(3)] for k in range(K + 1)]
        expected = [np.mean([r for r, _ in row]) if scored_episode == "mean" else row[-1][0] for row in episodes]
        assert len(set(np.round(expected, 6))) == K + 1, "the counts must give distinct returns"
        np.testing.assert_allclose(scored.returns, expected, rtol=1e-6)
        # round k + 1 runs ROUND episodes of the count-k policy; every episode counts its own length
        rounds = [sum(rollout_of(task, k, e)[1] for e in range(ROUND)) for k in range(K)]
        assert scored.adaptation_env_steps == tuple(np.cumsum([0, *rounds]))
        assert scored.env_steps == sum(rounds) + sum(length for row in episodes for _, length in row)
        expected_returns.append(expected)
    np.testing.assert_allclose(result.mean_returns(), np.mean(expected_returns, axis=0), rtol=1e-6)
    assert agent.transitions == sum(t.env_steps for t in result.tasks), "observe sees every step"


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


def test_exact_protocol_scores_after_exactly_k_adaptations():
    tasks = list(metarl_envs.task_set(LAKE, "test", "bomrl-high"))[:4]
    agent = CountingAgent(LAKE, {"preset": "bomrl-high"})
    protocol = MetaTestProtocol(adaptation_steps=K, evaluation_episodes=1, adaptation_episodes=ROUND, exact=True)
    result = meta_test(agent, tasks, protocol, seed=0)
    check_order(agent, tasks, K)
    for task, scored in zip(tasks, result.tasks, strict=True):
        expected = [lake_walk(task, k % 4, 100) for k in range(K + 1)]
        np.testing.assert_allclose(scored.returns, expected, atol=1e-12)
        assert scored.optimal_return == pytest.approx(1.0)   # a path to G always exists within 100 steps
        np.testing.assert_allclose(scored.optimality_gaps, [1.0 - r for r in expected], atol=1e-12)
        assert scored.env_steps == scored.adaptation_env_steps[-1] > 0   # exact scores step no env
    assert len({tuple(t.returns) for t in result.tasks}) > 1, "the lakes must tell the counts apart"


def test_exact_protocol_refuses_a_matrix_count_other_than_the_task_count():
    """One policy matrix for two tasks must not be broadcast to both."""
    class OneMatrixAgent(CountingAgent):
        def policy_matrices(self) -> np.ndarray:
            return super().policy_matrices()[:1]

    tasks = list(metarl_envs.task_set(LAKE, "test", "bomrl-high"))[:2]
    agent = OneMatrixAgent(LAKE, {"preset": "bomrl-high"})
    with pytest.raises(ValueError, match="zip"):
        meta_test(agent, tasks, MetaTestProtocol(adaptation_steps=0, evaluation_episodes=1, adaptation_episodes=1,
                                                 exact=True), seed=0)


@pytest.mark.parametrize("k_max", [0, 1])
def test_short_protocols_and_max_tasks(k_max):
    tasks = metarl_envs.task_set(NAV, "test")
    agent = CountingAgent(NAV, {"preset": "maml"})
    result = meta_test(agent, tasks, MetaTestProtocol(adaptation_steps=k_max, evaluation_episodes=1,
                                                      adaptation_episodes=ROUND), seed=1, max_tasks=2)
    assert result.task_set_fingerprint == tasks.fingerprint and len(result.tasks) == 2
    check_order(agent, tasks[:2], k_max)
    for task, scored in zip(tasks[:2], result.tasks, strict=True):
        np.testing.assert_allclose(scored.returns, [rollout_of(task, k)[0] for k in range(k_max + 1)], rtol=1e-6)


def test_bad_requests_are_refused():
    agent = CountingAgent(NAV, {"preset": "maml"})
    with pytest.raises(ValueError, match=r"^meta_test: the task set is empty$"):
        meta_test(agent, [], MetaTestProtocol(1, 1, adaptation_episodes=1), seed=0)
    with pytest.raises(ValueError, match=r"^meta_test: protocol.exact .*tabular=False, agent CountingAgent$"):
        meta_test(agent, list(metarl_envs.task_set(NAV, "test"))[:1],
                  MetaTestProtocol(1, 1, adaptation_episodes=1, exact=True), seed=0)


def test_env_kwargs_reach_the_scored_env_and_the_record():
    """The agent's env kwargs (here a shorter horizon) make every episode; with no preset among them
    the result names the env's default preset; a plain list of tasks has no fingerprint."""
    tasks = list(metarl_envs.task_set(NAV, "test"))[:2]
    agent = CountingAgent(NAV, {"horizon": 20})
    protocol = MetaTestProtocol(adaptation_steps=1, evaluation_episodes=2, adaptation_episodes=ROUND)
    result = meta_test(agent, tasks, protocol, seed=2)
    assert result.preset == "maml" and result.task_set_fingerprint == "" and result.track == "main"
    assert result.protocol.to_dict() == {"adaptation_steps": 1, "evaluation_episodes": 2,
                                         "adaptation_episodes": ROUND, "scored_episode": "mean", "exact": False,
                                         "discount": 1.0}
    for task, scored in zip(tasks, result.tasks, strict=True):
        episodes = [[rollout_of(task, k, e, horizon=20) for e in range(2)] for k in range(2)]
        np.testing.assert_allclose(scored.returns, [np.mean([r for r, _ in row]) for row in episodes], rtol=1e-6)
        round_steps = sum(rollout_of(task, 0, e, horizon=20)[1] for e in range(ROUND))
        assert scored.adaptation_env_steps == (0, round_steps)
        assert all(type(steps) is int for steps in scored.adaptation_env_steps)
        assert scored.env_steps == round_steps + sum(length for row in episodes for _, length in row)
    assert result.mean_adaptation_env_steps() == (0.0, float(np.mean([t.adaptation_env_steps[1]
                                                                      for t in result.tasks])))


def test_exact_protocol_reads_the_agents_env_kwargs():
    tasks = list(metarl_envs.task_set(LAKE, "test", "bomrl-high"))[:4]
    agent = CountingAgent(LAKE, {"preset": "bomrl-high", "horizon": 2})
    protocol = MetaTestProtocol(adaptation_steps=K, evaluation_episodes=1, adaptation_episodes=ROUND, exact=True)
    result = meta_test(agent, tasks, protocol, seed=0)
    for task, scored in zip(tasks, result.tasks, strict=True):
        np.testing.assert_allclose(scored.returns, [lake_walk(task, k % 4, 2) for k in range(K + 1)], atol=1e-12)
        assert scored.optimal_return == 0.0   # no lake of this set reaches G in 2 steps


class RandomActingAgent(CountingAgent):
    """Acts with the generator the evaluator hands it: its scores show how the protocol is seeded."""

    def begin_episodes(self, phase: str, rng: np.random.Generator) -> None:
        self.phase, self.rng = phase, rng

    def actions(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(-0.1, 0.1, size=(*np.asarray(obs).shape[:2], 2)).astype(np.float32)

    def end_round(self, rollouts: Any) -> None:
        pass


def test_one_seed_repeats_and_two_seeds_differ():
    tasks = list(metarl_envs.task_set(NAV, "test"))[:2]
    protocol = MetaTestProtocol(adaptation_steps=2, evaluation_episodes=2, adaptation_episodes=1)
    runs = {seed: [meta_test(RandomActingAgent(NAV, {"preset": "maml"}), tasks, protocol, seed=seed) for _ in (0, 1)]
            for seed in (5, 6)}
    assert runs[5][0].tasks == runs[5][1].tasks
    assert runs[5][0].tasks != runs[6][0].tasks
    returns = np.array([t.returns for t in runs[5][0].tasks])
    assert len(np.unique(np.round(returns, 9))) == returns.size, "every (task, k) batch is drawn from its own stream"


@pytest.mark.parametrize(("field", "value"), [("adaptation_steps", -1), ("evaluation_episodes", 0),
                                              ("adaptation_episodes", 0), ("adaptation_steps", True),
                                              ("scored_episode", "first"), ("discount", 0.0), ("discount", 1.5)])
def test_bad_protocol_is_refused_naming_the_field(field, value):
    kwargs = {"adaptation_steps": 1, "evaluation_episodes": 1, "adaptation_episodes": 1, field: value}
    with pytest.raises(ValueError, match=rf"^MetaTestProtocol\.{field}={value!r}: must "):
        MetaTestProtocol(**kwargs)


def test_protocol_budget_is_every_field_but_none_other():
    protocol = MetaTestProtocol(2, 3, adaptation_episodes=4, scored_episode="last", exact=False, discount=0.5)
    assert protocol.budget() == {"adaptation_steps": 2, "adaptation_episodes": 4, "evaluation_episodes": 3,
                                 "scored_episode": "last", "exact": False, "discount": 0.5}
    assert protocol.budget() == protocol.to_dict()
    assert MetaTestProtocol(0, 1, adaptation_episodes=1).adaptation_steps == 0


class PrivilegedCountingAgent(CountingAgent):
    """A counting agent that declares it reads the exact model: it receives one model per test task."""

    privileged = True

    def receive_models(self, models) -> None:
        self.models = list(models)


def test_privileged_agents_get_each_tasks_model_and_their_own_track():

    tasks = list(metarl_envs.task_set(LAKE, "test", "bomrl-high"))[:3]
    agent = PrivilegedCountingAgent(LAKE, {"preset": "bomrl-high"})
    protocol = MetaTestProtocol(adaptation_steps=1, evaluation_episodes=1, adaptation_episodes=ROUND, exact=True)
    result = meta_test(agent, tasks, protocol, seed=0)
    assert result.track == "privileged"
    assert len(agent.models) == len(tasks)
    for task, model in zip(tasks, agent.models, strict=True):
        np.testing.assert_array_equal(model.transition_matrix,
                                      gym.make(LAKE, preset="bomrl-high", task=task).unwrapped.model.transition_matrix)
    assert meta_test(CountingAgent(LAKE, {"preset": "bomrl-high"}), tasks, protocol, seed=0).track == "main"
    with pytest.raises(ValueError, match=r"^meta_test: PrivilegedCountingAgent is privileged \(reads the exact "
                                         r"model\), but MetaRL/Navigation2D-v0 is not a tabular env$"):
        meta_test(PrivilegedCountingAgent(NAV, {"preset": "maml"}), list(metarl_envs.task_set(NAV, "test"))[:1],
                  MetaTestProtocol(1, 1, adaptation_episodes=1), seed=0)
