"""Protocol v2: the evaluator owns every env step, and an agent that learns as before scores as before."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import metarl_envs
from baselines.common.sampler import Sampler
from baselines.maml import MAML, MAMLConfig
from baselines.sgmrl import SGMRL, SGMRLConfig
from benchmarks.evaluate import MetaTestProtocol, meta_test

NAV, KWARGS = "MetaRL/Navigation2D-v0", {"preset": "maml"}


def agent_owned_meta_test(agent, tasks, protocol, seed):
    """R_k as the pre-v2 evaluator computed it: the agent collected its own adaptation batches
    (`Sampler.collect` on the test tasks) and R_k was scored with `agent.act` under each task's params."""
    sampler = Sampler(agent.env_id, agent.env_kwargs)
    streams = np.random.SeedSequence(seed).spawn(2 * (protocol.adaptation_steps + 1))
    params, returns = [agent.meta_params() for _ in tasks], []
    for k in range(protocol.adaptation_steps + 1):
        score_rng, adapt_rng = (np.random.default_rng(s) for s in streams[2 * k: 2 * k + 2])
        batch = sampler.rollout(tasks, protocol.evaluation_episodes,
                                functools.partial(agent.act, params=params, deterministic=False, rng=score_rng),
                                score_rng)
        returns.append(batch.episode_returns().mean(axis=1))
        if k < protocol.adaptation_steps:
            adaptation = sampler.collect(agent.policy, params, tasks, protocol.adaptation_episodes, adapt_rng)
            params = agent.adapt_round(params, adaptation)
    return np.stack(returns, axis=1)


@pytest.mark.parametrize(("cls", "config"), [
    (MAML, MAMLConfig(hidden_sizes=(16,), tasks_per_iteration=3, episodes_per_task=4, adaptation_lrs=(0.5, 0.25),
                      adaptation_reduction="step_mean")),
    (SGMRL, SGMRLConfig(hidden_sizes=(16,), tasks_per_iteration=3, episodes_per_task=4, mode="practical")),
])
def test_meta_test_repeats_agent_owned_adaptation_bit_for_bit(cls, config):
    agent = cls(NAV, config, KWARGS)
    agent.meta_train(metarl_envs.task_set(NAV, "train", "maml"), iterations=2, seed=1)
    test_set = metarl_envs.task_set(NAV, "test", "maml")
    protocol = MetaTestProtocol(adaptation_steps=2, evaluation_episodes=5, adaptation_episodes=6)
    result = meta_test(agent, test_set, protocol, seed=3, max_tasks=4)
    expected = agent_owned_meta_test(agent, list(test_set)[:4], protocol, seed=3)
    np.testing.assert_array_equal(np.array([t.returns for t in result.tasks]), expected)
    assert result.track == "main"
    for task in result.tasks:  # R_k carries the adaptation env steps spent before it: k rounds of 6 × ≤ 100 steps
        assert task.adaptation_env_steps[0] == 0 and np.all(np.diff(task.adaptation_env_steps) > 0)
        assert task.adaptation_env_steps[-1] <= 2 * 6 * 100


def test_protocol_pins_each_budget_field():
    with pytest.raises(TypeError, match="adaptation_episodes"):
        MetaTestProtocol(adaptation_steps=1, evaluation_episodes=2)  # type: ignore[call-arg]
    for field, value in (("adaptation_steps", -1), ("evaluation_episodes", 0), ("adaptation_episodes", 0)):
        fields = {"adaptation_steps": 1, "evaluation_episodes": 2, "adaptation_episodes": 3, field: value}
        with pytest.raises(ValueError, match=field):
            MetaTestProtocol(**fields)
    assert MetaTestProtocol(1, 2, adaptation_episodes=3).budget()["adaptation_episodes"] == 3


def test_an_agent_that_reads_the_exact_model_is_scored_in_the_privileged_track():
    from baselines.bomrl import BOMRL, BOMRLConfig

    env_id, kwargs = "MetaRL/FrozenLakeHoles-v0", {"preset": "bomrl-high", "start_distribution": "uniform"}
    test_set = metarl_envs.task_set(env_id, "test", "bomrl-high")
    protocol = MetaTestProtocol(adaptation_steps=1, evaluation_episodes=1, adaptation_episodes=3, exact=True,
                                discount=0.8)
    tracks = {}
    for estimator in ("exact", "sampled"):
        agent = BOMRL(env_id, BOMRLConfig(estimator=estimator, meta_learn=False, discount=0.8), kwargs)
        agent.meta_train(metarl_envs.task_set(env_id, "train", "bomrl-high"), iterations=1, seed=0)
        result = meta_test(agent, test_set, protocol, seed=0, max_tasks=2)
        tracks[estimator] = result.track
        assert all(t.adaptation_env_steps[1] > 0 for t in result.tasks)  # the round's episodes are always run
    assert tracks == {"exact": "privileged", "sampled": "main"}


def test_meta_training_reaches_the_train_tasks_only_and_every_step_is_counted():
    from baselines.common.sampler import TrainingEnvs

    train, test = (metarl_envs.task_set(NAV, split, "maml") for split in ("train", "test"))
    envs = TrainingEnvs(NAV, KWARGS, train)
    assert len(envs) == len(train) and envs[3] == train[3] and envs.fingerprint == train.fingerprint
    zero = functools.partial(np.zeros_like)
    batch = envs.rollout([train[0], train[1]], 2, lambda obs: zero(obs), np.random.default_rng(0))
    assert envs.env_steps == batch.env_steps == 2 * 2 * 100
    with pytest.raises(ValueError, match="not a train task"):
        envs.rollout([test[0]], 1, lambda obs: zero(obs), np.random.default_rng(0))
    agent = MAML(NAV, MAMLConfig(hidden_sizes=(4,), tasks_per_iteration=2, episodes_per_task=2), KWARGS)
    log = agent.meta_train(envs, iterations=2, seed=0)
    assert agent.sampler is envs and envs.env_steps == batch.env_steps + log.records[-1].env_steps
    with pytest.raises(ValueError, match="not a train task"):  # the agent's own sampler is the harness's now
        agent.sampler.collect(agent.policy, agent.meta_params(), [test[0]], 1, np.random.default_rng(0))


def test_the_results_file_records_the_harness_count_not_the_agents(tmp_path):
    from benchmarks.experiments import AgentSpec, Experiment
    from benchmarks.results import load_result
    from benchmarks.runner import run_experiment

    experiment = Experiment(
        name="count", description="count", env_id=NAV, env_kwargs=KWARGS, iterations=2, seeds=1, max_test_tasks=2,
        agents=(AgentSpec("MAML", "baselines.maml:MAML", {"hidden_sizes": [4], "tasks_per_iteration": 2,
                                                         "episodes_per_task": 2, "cg_iterations": 2}),
                AgentSpec("Self-stepping", "tests.benchmarks.agents:RandomAgent", {})),
        protocol=MetaTestProtocol(adaptation_steps=1, evaluation_episodes=2, adaptation_episodes=2))
    summary = run_experiment(experiment, tmp_path, progress=None)
    curves = {load_result(p).agent.label: load_result(p).training_curve for p in summary.ran}
    assert [r.env_steps for r in curves["MAML"]] == [2 * 2 * 2 * 100, 2 * 2 * 2 * 2 * 100]  # 2 batches/iteration
    # the test agent steps an env of its own (and reports those steps): the harness counted none of them
    assert [r.env_steps for r in curves["Self-stepping"]] == [0, 0]
