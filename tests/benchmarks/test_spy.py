"""No argument the harness passes an agent, in meta-training or meta-test, is a test-set `Task` or an
object able to get or set tasks: checked with a spy around every reference agent's main-track mode
and the two example outside agents, each run through the runner like any cell."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import pytest

import metarl_envs
from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment
from benchmarks.results import load_result
from benchmarks.runner import run_experiment
from tests.benchmarks.spy import Spy, leaks

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
NAV = ("MetaRL/Navigation2D-v0", {"preset": "maml"})
LAKE = ("MetaRL/FrozenLakeHoles-v0", {"preset": "bomrl-high", "start_distribution": "uniform"})
GRID = ("MetaRL/GridNavigation-v0", {"preset": "pmeta", "obs_mode": "index"})
CARTPOLE = ("MetaRL/CartPoleParams-v0", {"preset": "pmeta"})
CHEETAH = ("MetaRL/HalfCheetahVel-v0", {"preset": "pmeta"})
DQN = {"hidden_sizes": [4], "personal_updates": 3, "warmup_steps": 10, "batch_size": 4, "evaluation_episodes": 1}
SMALL = {"hidden_sizes": [4], "tasks_per_iteration": 2, "episodes_per_task": 2}
CASES = {
    "MAML": (NAV, "baselines.maml:MAML", {**SMALL, "cg_iterations": 2}),
    "E-MAML": (NAV, "baselines.maml:MAML", {**SMALL, "exploration": True, "outer_optimizer": "adam"}),
    "SG-MRL": (NAV, "baselines.sgmrl:SGMRL", {**SMALL, "mode": "practical"}),
    "BO-MRL deep": (NAV, "baselines.bomrl_deep:DeepBOMRL", {**SMALL, "inner_iterations": 2,
                                                             "hypergradient_cg_iterations": 2, "cg_iterations": 2}),
    "MEMRL": (NAV, "baselines.memrl:MEMRL", {"hidden_sizes": [4], "inner_steps": 2, "episodes_per_step": 2}),
    "BO-MRL sampled": (LAKE, "baselines.bomrl:BOMRL", {"estimator": "sampled", "episodes_per_step": 3}),
    "Random init sampled": (LAKE, "baselines.bomrl:BOMRL", {"estimator": "sampled", "meta_learn": False}),
    "tabular MAML sampled": (LAKE, "baselines.tabular_maml:TabularMAML", {"estimator": "sampled"}),
    "pMeta-RL sampled": (GRID, "baselines.pmetarl:PMetaRL", {"mode": "sampled", "episodes_per_update": 2}),
    "pMeta-RL DQN": (CARTPOLE, "baselines.pmetarl_dqn:PMetaDQN", DQN),
    "DQN per task": (CARTPOLE, "baselines.pmetarl_dqn:IndependentDQN", DQN),
    "pMeta-RL SAC": (CHEETAH, "baselines.pmetarl_sac:PMetaSAC", {"hidden_sizes": [4], "encoder_sizes": [4],
                                                                 "latent_dim": 2, "batch_size": 4, "context_size": 3,
                                                                 "buffer_size": 500, "personal_updates": 2,
                                                                 "warmup_steps": 5}),
    "RL2": (NAV, "baselines.rl2:RL2", {"hidden_size": 4, "tasks_per_iteration": 2, "trials_per_task": 2,
                                       "episodes_per_trial": 2}),
    "NoAdapt example": (NAV, f"{EXAMPLES / 'no_adapt.py'}:NoAdapt", {"tasks_per_iteration": 2}),
    "FineTune example": (NAV, f"{EXAMPLES / 'fine_tune.py'}:FineTune", {"tasks_per_iteration": 2}),
}


def test_the_spy_sees_tasks_and_task_setters():
    test_set = metarl_envs.task_set(*NAV[:1], "test", "maml")
    assert leaks(test_set[0]) and leaks([{"x": test_set}]) and leaks(gym.make(NAV[0], **NAV[1]).unwrapped)
    assert leaks(gym.make_vec(NAV[0], num_envs=2, vectorization_mode="vector_entry_point", **NAV[1]).unwrapped)
    assert not leaks(test_set[0], frozenset(test_set))


@pytest.mark.parametrize("label", sorted(CASES))
def test_no_agent_receives_a_test_task_or_a_task_setter(label, tmp_path):
    (env_id, env_kwargs), agent, config = CASES[label]
    experiment = Experiment(
        name="spy", description="spy", env_id=env_id, env_kwargs=env_kwargs,
        agents=(AgentSpec(label, "tests.benchmarks.spy:Spy", {"inner": agent, "config": config}),),
        iterations=1, seeds=1, max_test_tasks=2,
        protocol=MetaTestProtocol(adaptation_steps=1, evaluation_episodes=2, adaptation_episodes=2))
    Spy.calls.clear()
    summary = run_experiment(experiment, tmp_path, progress=None)
    assert load_result(summary.ran[0]).meta_test.track == "main"
    train = frozenset(metarl_envs.task_set(env_id, "train", env_kwargs["preset"]))
    methods = [name for name, _, _ in Spy.calls]
    assert "meta_train" in methods and "start_trial" in methods and "end_round" in methods
    for name, args, kwargs in Spy.calls:  # the train tasks are the agent's in meta-training, nothing else is
        allowed = train if name == "meta_train" else frozenset()
        found = leaks(list(args), allowed, f"{name} args") + leaks(kwargs, allowed, f"{name} kwargs")
        assert not found, found[:3]
