"""Adaptation rounds driven the way the meta-test evaluator drives them, for the agents' own tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from baselines.common.agent import is_privileged
from baselines.common.sampler import Sampler
from benchmarks.evaluate import run_episodes


def adapted_params(agent: Any, tasks: Sequence[Any], episodes: int, rng: np.random.Generator,
                   rounds: int = 1) -> tuple[list[Any], np.ndarray]:
    """Every task's parameters after `rounds` adaptation rounds of `episodes` episodes from the
    meta-parameters, and the env steps each task spent."""
    if is_privileged(agent):
        env = gym.make(agent.env_id, **agent.env_kwargs).unwrapped
        models = []
        for task in tasks:
            env.set_task(task)
            models.append(env.unwrapped.model)
        agent.receive_models(models)
    sampler, steps = Sampler(agent.env_id, agent.env_kwargs), np.zeros(len(tasks), dtype=np.int64)
    agent.start_trial(len(tasks))
    for _ in range(rounds):
        batch = run_episodes(agent, sampler, list(tasks), "adapt", episodes, rng)
        agent.end_round(batch)
        steps += batch.mask.sum(axis=(1, 2))
    return agent.trial_params(), steps


def recorded_rounds(agent: Any, tasks: Sequence[Any], episodes: int, rounds: int,
                    rng: np.random.Generator) -> list[tuple[list[Any], Any, list[Any]]]:
    """`rounds` adaptation rounds as the evaluator runs them; per round (every task's parameters
    before it, the round's `TrajectoryBatch`, every task's parameters after it)."""
    calls: list[tuple[list[Any], Any, list[Any]]] = []
    end_round = agent.end_round

    def recording(rollouts: Any) -> None:
        before = agent.trial_params()
        end_round(rollouts)
        calls.append((before, rollouts, agent.trial_params()))

    agent.end_round = recording
    try:
        adapted_params(agent, tasks, episodes, rng, rounds=rounds)
    finally:
        del agent.end_round
    return calls
