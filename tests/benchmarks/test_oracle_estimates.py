"""Estimated optima (`benchmarks.oracles`): the cache round trip, a tampered or stale cache refused
naming the field, the meta-test reading an estimate (never training one) and recording it with its
kind, the committed caches valid against this checkout's task sets, and a real (tiny) estimate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import metarl_envs
from benchmarks import oracles
from benchmarks.evaluate import EstimatedOptimum, MetaTestProtocol, meta_test
from benchmarks.leaderboard import optimum_words
from benchmarks.oracles import OracleCacheError, cache_path, load_cache, write_cache
from benchmarks.results import (
    EnvInfo,
    ResultRecord,
    TaskSetIds,
    checksum,
    load_result,
    mean_optimality_gaps,
    write_result,
)
from tests.benchmarks.agents import RandomAgent, RandomConfig
from tests.benchmarks.conftest import document, oracle_cache

ENV_ID, KWARGS = "MetaRL/HalfCheetahVel-v0", {"preset": "maml"}
PROTOCOL = MetaTestProtocol(adaptation_steps=1, evaluation_episodes=1, adaptation_episodes=1)


def test_cache_round_trip(folder: Path) -> None:
    cache = oracle_cache({0: (-50.0, -52.0), 3: (-61.25, -60.75)})
    path = write_cache(cache)
    assert path == cache_path(ENV_ID, KWARGS) and path.parent == folder
    assert path.name == "HalfCheetahVel-v0__maml.json"
    assert load_cache(path) == cache
    assert cache_path(ENV_ID, {"preset": "promp", "horizon": 200}).name == "HalfCheetahVel-v0__promp__horizon-200.json"


def _rewrite(path: Path, edit, *, reseal: bool = True) -> None:
    data = json.loads(path.read_text())
    edit(data)
    if reseal:
        data["checksum"] = checksum(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(("edit", "reseal", "field"), [
    (lambda d: d["estimates"][0].update(optimal_return=0.0), False, "field checksum"),
    (lambda d: d["estimates"][0].update(optimal_return=0.0), True, "estimates[0].optimal_return"),
    (lambda d: d.update(test_task_set="0" * 64), True, "field test_task_set"),
    (lambda d: d["estimates"][0]["task"].update(velocity=1.5), True, "estimates[0].task"),
    (lambda d: d["estimates"][1].update(index=0), True, "estimates[1].index"),
    (lambda d: d["estimates"][0].update(evaluation_returns=[-50.0]), True, "estimates[0].evaluation_returns"),
    (lambda d: d.update(extra=1), True, "unknown key 'extra'"),
    (lambda d: d["estimator"].pop("seed"), True, "missing field estimator.seed"),
    (lambda d: d["estimator"].update(training_steps=0), True, "estimator.training_steps"),
    (lambda d: d.update(schema_version=2), True, "field schema_version"),
    (lambda d: d["env_kwargs"].update(preset="promp"), True, "field env_kwargs"),
    (lambda d: d.update(test_tasks=3), True, "field test_tasks"),
])
def test_a_tampered_or_stale_cache_is_refused_naming_the_field(folder: Path, edit, reseal: bool, field: str) -> None:
    path = write_cache(oracle_cache({0: (-50.0, -52.0), 3: (-61.25, -60.75)}))
    _rewrite(path, edit, reseal=reseal)
    with pytest.raises(OracleCacheError, match=f"{re.escape(path.name)}.*{re.escape(field)}"):
        load_cache(path)


def test_non_finite_estimates_are_refused_on_write_and_on_load(folder: Path) -> None:
    with pytest.raises(OracleCacheError, match="estimates"):
        write_cache(oracle_cache({0: (float("nan"), -1.0)}))
    path = write_cache(oracle_cache({0: (-50.0, -52.0)}))
    path.write_text(path.read_text().replace("-51.0", "NaN"))
    with pytest.raises(OracleCacheError, match="not a JSON number"):
        load_cache(path)


@pytest.mark.parametrize("tasks", [(), (1, 0), (0, 0), (-1, 2)])
def test_an_estimate_names_distinct_increasing_task_indices(tasks: tuple[int, ...]) -> None:
    message = re.escape(f"field oracle_estimate.tasks = {list(tasks)} must be distinct task indices ≥ 0, "
                        "in increasing order")
    with pytest.raises(ValueError, match=message):
        EstimatedOptimum("sac", tasks, "sha256:0")


def test_an_estimate_keeps_its_task_indices_as_a_tuple() -> None:
    # task 0 is a valid index (the bound is ≥ 0), and a list is frozen into a tuple like the other fields
    assert EstimatedOptimum("sac", [0, 2], "sha256:0").tasks == (0, 2)


def _meta_test(max_tasks: int = 3):
    agent = RandomAgent(ENV_ID, RandomConfig(), KWARGS)
    return meta_test(agent, metarl_envs.task_set(ENV_ID, "test", "maml"), PROTOCOL, seed=0, max_tasks=max_tasks)


def test_meta_test_records_an_estimated_gap_from_the_cache_and_never_trains(
        folder: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("mujoco")
    calls = []
    for name in ("_sac", "_dqn", "estimate"):
        monkeypatch.setattr(oracles, name, lambda *a, _name=name, **k: calls.append(_name))
    without = _meta_test()
    assert without.optimum_kind is None and without.oracle_estimate is None
    assert mean_optimality_gaps(without) is None
    cache = oracle_cache({0: (-50.0, -52.0), 2: (-1e3, -1e3)})          # a sample: tasks 0 and 2 of the 40
    write_cache(cache)
    result = _meta_test()
    assert calls == []                                              # read, never trained
    assert [t.returns for t in result.tasks] == [t.returns for t in without.tasks]
    assert [t.optimal_return for t in result.tasks] == [-51.0, None, -1e3]
    assert result.optimum_kind == "estimated"
    estimate = result.oracle_estimate
    assert estimate.tasks == (0, 2) and estimate.estimator == cache.estimator.summary()
    assert estimate.cache == checksum(json.loads(cache_path(ENV_ID, KWARGS).read_text()))
    gaps = mean_optimality_gaps(result)                             # over the sample only
    assert gaps == pytest.approx([np.mean([-51.0 - result.tasks[0].returns[k], -1e3 - result.tasks[2].returns[k]])
                                  for k in range(2)])
    assert gaps[0] < 0                                              # the agent beat a (bad) estimate: shown as is
    words = optimum_words(result)
    assert words.startswith("estimated: SAC per task (stable-baselines3 2.9.2), 1000 env steps per task")
    assert "on 2 of 3 test tasks" in words and "negative gap" in words
    # the record stores it, loads it back, and a file without the key (written before estimates) still loads
    record = document(0)
    record = ResultRecord(**{**record.__dict__, "env": EnvInfo(ENV_ID, KWARGS, "maml"),
                             "task_sets": TaskSetIds(metarl_envs.task_set(ENV_ID, "train", "maml").fingerprint,
                                                     metarl_envs.task_set(ENV_ID, "test", "maml").fingerprint),
                             "protocol": PROTOCOL, "max_test_tasks": 3, "meta_test": result})
    path = write_result(tmp_path / "r__seed0.json", record)
    stored = json.loads(path.read_text())["meta_test"]
    assert stored["optimum_kind"] == "estimated" and stored["oracle_estimate"]["tasks"] == [0, 2]
    assert load_result(path).meta_test == result
    _rewrite(path, lambda d: d["meta_test"]["oracle_estimate"].update(tasks=[0, 1]))
    with pytest.raises(ValueError, match=r"oracle_estimate\.tasks names task 1"):
        load_result(path)
    plain = write_result(tmp_path / "p__seed0.json", ResultRecord(**{**record.__dict__, "meta_test": without}))
    assert "oracle_estimate" not in json.loads(plain.read_text())["meta_test"]
    assert load_result(plain).meta_test.oracle_estimate is None


def test_a_stale_cache_stops_the_meta_test_instead_of_a_wrong_gap(folder: Path) -> None:
    pytest.importorskip("mujoco")
    path = write_cache(oracle_cache({0: (-50.0, -52.0)}))
    _rewrite(path, lambda d: d.update(test_task_set="f" * 64))
    with pytest.raises(OracleCacheError, match="test_task_set"):
        _meta_test(max_tasks=1)


def test_exact_and_analytic_optima_beat_an_estimate(folder: Path) -> None:
    """CartPole's pmeta tasks all have a balancing witness: a cache for them changes nothing."""
    from baselines.pmetarl_dqn import DQNConfig, IndependentDQN

    kwargs = {"preset": "pmeta"}
    write_cache(oracle_cache({i: (1.0,) for i in range(5)}, "MetaRL/CartPoleParams-v0", kwargs))
    agent = IndependentDQN("MetaRL/CartPoleParams-v0", DQNConfig(hidden_sizes=(4,), personal_updates=1,
                                                                 warmup_steps=0, batch_size=1),
                           kwargs)
    agent.meta_train(metarl_envs.task_set("MetaRL/CartPoleParams-v0", "train", "pmeta")[:1], iterations=1, seed=0)
    result = meta_test(agent, metarl_envs.task_set("MetaRL/CartPoleParams-v0", "test", "pmeta"),
                       MetaTestProtocol(adaptation_steps=0, evaluation_episodes=1, adaptation_episodes=1), seed=0)
    assert [t.optimal_return for t in result.tasks] == [200.0] * 5
    assert result.optimum_kind == "analytic" and result.oracle_estimate is None


def test_a_tabular_meta_test_records_its_exact_optimum_and_no_estimate(folder: Path) -> None:
    """A tabular env's J* is exact dynamic programming: no cache is read, and the result says "exact"."""
    from baselines.pmetarl import PMetaRL, PMetaRLConfig

    env_id, kwargs = "MetaRL/GridNavigation-v0", {"preset": "pmeta", "obs_mode": "index"}
    agent = PMetaRL(env_id, PMetaRLConfig(), kwargs)
    agent.meta_train(metarl_envs.task_set(env_id, "train", "pmeta")[:1], iterations=1, seed=0)
    result = meta_test(agent, metarl_envs.task_set(env_id, "test", "pmeta"),
                       MetaTestProtocol(adaptation_steps=0, evaluation_episodes=1, adaptation_episodes=1), seed=0,
                       max_tasks=2)
    assert result.oracle_estimate is None and result.optimum_kind == "exact"
    assert all(t.optimal_return is not None for t in result.tasks)


def test_a_tiny_real_estimate_writes_a_valid_cache(folder: Path) -> None:
    """The DQN* estimator end to end (seconds): IndependentDQN on one MountainCar task, scored by
    deterministic episodes; a second call with the same estimator adds to the file, another refuses."""
    config = {"hidden_sizes": [8], "personal_updates": 5, "warmup_steps": 10, "batch_size": 4,
              "evaluation_episodes": 1}
    env_id, kwargs = "MetaRL/MountainCarParams-v0", {"preset": "pmeta"}
    first = oracles.estimate(env_id, kwargs, [1], method="dqn", steps=1, evaluation_episodes=2, config=config,
                             log=lambda _: None)
    assert first.estimator.training_steps == 5 and [e.index for e in first.estimates] == [1]
    assert first.estimates[0].optimal_return == -200.0  # five gradient steps never reach the flag
    both = oracles.estimate(env_id, kwargs, [3], method="dqn", steps=1, evaluation_episodes=2, config=config,
                            log=lambda _: None)
    assert [e.index for e in both.estimates] == [1, 3] and load_cache(cache_path(env_id, kwargs)) == both
    with pytest.raises(OracleCacheError, match="another estimator"):
        oracles.estimate(env_id, kwargs, [0], method="dqn", steps=2, evaluation_episodes=2, config=config,
                         log=lambda _: None)


def _settings_key(env_id: str, env_kwargs: dict) -> tuple[str, str]:
    return env_id, json.dumps(oracles.canonical_kwargs(env_id, env_kwargs), sort_keys=True)


def test_every_committed_cache_is_valid_for_this_checkout() -> None:
    """Each committed file loads (schema, checksum, finite numbers), was made for the stored test set
    of its env and preset as it is now (fingerprint and tasks), and is for an env and kwargs that some
    experiment runs or that `gymnasium.make(env_id)` gives a user (a cache nothing reads is dead weight)."""
    from benchmarks.experiments import EXPERIMENTS

    settings = {_settings_key(part.env_id, part.env_kwargs)
                for experiment in EXPERIMENTS.values() for part in experiment.split()}
    settings |= {_settings_key(env_id, {}) for env_id in metarl_envs.ENV_IDS}
    paths = sorted(oracles.ESTIMATES_FOLDER.glob("*.json"))
    for path in paths:
        cache = load_cache(path)
        test = metarl_envs.task_set(cache.env_id, "test", cache.env_kwargs["preset"])
        assert cache.test_task_set == test.fingerprint
        assert (cache.env_id, json.dumps(dict(cache.env_kwargs), sort_keys=True)) in settings, path.name


def test_every_registered_env_has_an_optimum_at_its_default_settings() -> None:
    """Issue 14's "an optimality gap on every env": each registered env, as `gymnasium.make(env_id)` gives
    it, has J* by dynamic programming or a closed form, or a committed estimate for its default preset."""
    from baselines.common.oracles import optimum_kind
    from metarl_envs.task_sets import env_class

    missing = [env_id for env_id in metarl_envs.ENV_IDS
               if optimum_kind(env_class(env_id)) is None
               and not cache_path(env_id, oracles.canonical_kwargs(env_id, {})).exists()]
    assert missing == []


def _first_flag_step(task, starts: np.ndarray, depth: int) -> np.ndarray:
    """Brute force: for each start, the fewest steps to the flag over all 3^depth action sequences
    (depth + 1 where none reaches it), on the env's own dynamics."""
    from metarl_envs.classic.mountain_car_params import mountain_car_dynamics
    from metarl_envs.classic.physics_params import parameter_arrays

    sequences = np.array(np.meshgrid(*[np.arange(3)] * depth, indexing="ij")).reshape(depth, -1).T
    best = []
    for start in starts:
        states = np.repeat(start[None], len(sequences), axis=0)
        params = tuple(np.full(len(sequences), x[0]) for x in parameter_arrays([task]))
        reached = np.full(len(sequences), depth + 1)
        for t in range(depth):
            states, terminated = mountain_car_dynamics(states, sequences[:, t], params)
            reached = np.where(terminated & (reached > depth), t + 1, reached)
        best.append(reached.min())
    return np.array(best)


def test_the_minimum_time_search_finds_the_brute_force_minimum_and_its_plan_reaches_the_flag() -> None:
    """Near the flag, every action sequence of length 7 can be enumerated: the search's plan length is
    the true minimum on a fine grid, never shorter on a coarse one (merging only drops paths), and the
    plan played in the env ends at the flag on its last step."""
    import gymnasium as gym

    tasks = metarl_envs.task_set("MetaRL/MountainCarParams-v0", "test", "pmeta")
    rng = np.random.default_rng(5)
    starts = np.column_stack([rng.uniform(0.3, 0.5, 12), rng.uniform(-0.02, 0.05, 12)])
    for task in (tasks[0], tasks[4]):
        truth = _first_flag_step(task, starts, 7)
        assert truth.min() <= 3 and truth.max() == 8 and len(set(truth.tolist())) >= 4  # short, long, unreachable
        for start, minimum in zip(starts, truth, strict=True):
            plan, simulated = oracles.minimum_time_plan(task, start, 7, 1000)
            assert simulated > 0
            assert len(plan) == (minimum if minimum <= 7 else 0)
            coarse, _ = oracles.minimum_time_plan(task, start, 7, 4)
            assert (len(coarse) >= minimum) if coarse else True
            if plan:
                env = gym.make("MetaRL/MountainCarParams-v0", task=task.to_dict()).unwrapped
                env.reset(seed=0)
                env._state = start[None].copy()
                ends = [env.step(a)[2] for a in plan]
                assert ends == [False] * (len(plan) - 1) + [True]


def test_the_search_estimator_plays_one_plan_per_episode(folder: Path) -> None:
    """The search estimate end to end: each evaluation episode is planned once from its first
    observation (the float32 observation stays within the tolerance of the float64 plan) and its return
    is minus the plan's length; the cache records the estimator and its budget."""
    env_id, kwargs = "MetaRL/MountainCarParams-v0", {"preset": "pmeta"}
    task = metarl_envs.task_set(env_id, "test", "pmeta")[2]
    plans: list[int] = []

    class CountingPolicy(oracles.MinimumTimePolicy):
        def _plan(self, observation: np.ndarray) -> tuple[list[int], np.ndarray, int]:
            made = super()._plan(observation)
            plans.append(len(made[0]))
            return made

    policy = CountingPolicy(task, 200, 100, 1e-5)
    returns = oracles._evaluate(env_id, kwargs, task, policy, 3, seed=0)
    assert len(plans) == 3 and sorted(returns) == sorted(-float(n) for n in plans)
    cache = oracles.estimate(env_id, kwargs, [2], method="search", steps=0, evaluation_episodes=3,
                             config={"cells": 100}, log=lambda _: None)
    assert cache.estimates[0].evaluation_returns == returns and cache.estimator.training_steps == 200
    assert cache.estimator.config == {"cells": 100, "tolerance": 1e-5}
    assert "100 × 100 position × velocity grid), depth 200 steps" in cache.estimator.summary()
    assert load_cache(cache_path(env_id, kwargs)) == cache


@pytest.mark.parametrize(("env_id", "config", "message"), [
    ("MetaRL/CartPoleParams-v0", {}, "plans on MountainCarParams' dynamics; .* is CartPoleParamsEnv"),
    ("MetaRL/MountainCarParams-v0", {"cell": 10}, "config field 'cell' is not a search setting"),
])
def test_the_search_estimator_refuses_other_envs_and_unknown_settings(folder: Path, env_id: str, config: dict,
                                                                      message: str) -> None:
    with pytest.raises(ValueError, match=message):
        oracles.estimate(env_id, {"preset": "pmeta"}, [0], method="search", steps=0, evaluation_episodes=1,
                         config=config, log=lambda _: None)
