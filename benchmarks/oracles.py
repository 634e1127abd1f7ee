"""Estimated optima: J*(task) where neither dynamic programming nor a closed form gives it, trained once,
cached in the repo with the test task set's fingerprint, and read (never trained) at meta-test.

The meta-test (`benchmarks.evaluate.meta_test`) takes J* from three places, best first:

| kind | where | J* |
|---|---|---|
| exact | tabular envs | dynamic programming on the task's model (`baselines.common.oracles`) |
| analytic | Navigation2D, SparsePointRobot; CartPoleParams where a balancing witness exists | a closed form |
| estimated | a cached estimate's tasks that have neither | the mean return of a policy trained on the task alone |

An estimate is the return of one trained policy, so it is a lower bound on the true J* up to the
evaluation's sampling error: a gap J* − R_k measured against it understates the true gap, and an agent
that beats the estimator shows a negative gap (information about the estimator's budget, not an error;
the leaderboard prints it as it is).

Estimators (`ESTIMATORS`), each trained on one task alone, from scratch, with a stated budget:

- "dqn" (discrete actions: CartPoleParams, MountainCarParams): DQN*, pMeta-RL Table V's "one
  independent DQN per task" — `baselines.pmetarl_dqn.IndependentDQN` run on the one task, with Table
  II's settings (`DQNConfig`, R = `personal_updates` gradient steps per round) for C = `rounds` rounds;
  the budget is C·R gradient steps per task (Table V: 30 × 200 on CartPole, 30 × 500 on MountainCar).
- "sac" (continuous actions: the MuJoCo envs): stable-baselines3's SAC with its defaults (or the
  stated `config` overrides), `steps` env steps on the task.
- "search" (MountainCarParams: deterministic dynamics, −1 a step until the flag): a minimum-time
  plan on the task's own dynamics (`minimum_time_plan`), breadth-first over action sequences with one
  state kept per cell of a `cells` × `cells` position × velocity grid, to the preset's horizon. It
  uses the task's model, as the exact oracles do; a plan is a real trajectory of the dynamics, and
  merging states can only lengthen it, so its return is a lower bound on J* like the others. DQN* at
  pMeta-RL's budget never reaches MountainCar's flag (J* ≈ −200), which made its gap meaningless.

Each is scored by `evaluation_episodes` deterministic episodes (greedy Q; SAC's mean action; the plan,
followed from each episode's first observation and re-planned only if the observations leave it) of the
trained policy on the task, run by the harness's sampler (the meta-test's own episode loop) from a
seeded stream: J* is their mean undiscounted return. Estimates exist only for discount 1 (every seed
paper's scored return); a meta-test with another discount gets no estimated gap.

Cache files: `benchmarks/oracle_estimates/<env>__<preset>[__<kwarg>-<value>...].json`, one per (env id,
env kwargs), holding one estimator's estimates for some tasks of the preset's stored test set (the
sample is stated: the task indices). A file is validated on load as results files are: strict JSON,
its schema and version, every field typed (unknown or missing fields refused), finite numbers, a
checksum over its contents, the env id and kwargs its name stands for, the test set's fingerprint
equal to the stored test set's of this checkout (a stale cache, made for a test set that has since
changed, is refused), and every task equal to the stored test set's task at its index. A refused file
raises `OracleCacheError` naming the file and the field; `meta_test` lets it raise rather than report
a gap it cannot vouch for.

Compute and write estimates (the CLI; the task indices are into the preset's test set):

    python -m benchmarks.oracles estimate MetaRL/HalfCheetahVel-v0 --preset maml --tasks 0,1 --steps 20000
    python -m benchmarks.oracles estimate MetaRL/MountainCarParams-v0 --preset pmeta --tasks 0,1,2,3,4 \\
        --method search --config '{"cells": 1000}'
    python -m benchmarks.oracles show

A new estimate joins the env's cache file when its estimator (method, config, budget, evaluation
episodes, seed) is the file's; otherwise the command refuses unless `--replace` is given.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from benchmarks.evaluate import EstimatedOptimum
from metarl_envs.task_sets import atomic_write

__all__ = ["ESTIMATES_FOLDER", "ESTIMATORS", "SCHEMA", "SCHEMA_VERSION", "Estimator", "MinimumTimePolicy",
           "OracleCache", "OracleCacheError", "TaskEstimate", "attach_estimates", "cache_path", "canonical_kwargs",
           "estimate", "estimated_optima", "load_cache", "minimum_time_plan", "write_cache"]

SCHEMA = "metarl-bench/oracle-estimates"
SCHEMA_VERSION = 1
ESTIMATES_FOLDER = Path(__file__).resolve().parent / "oracle_estimates"
"""the committed cache files (`cache_path`)"""
ESTIMATORS = ("dqn", "sac", "search")
MAX_CACHE_BYTES = 4 * 2**20
_PACKAGES = ("metarl-envs", "numpy", "torch", "gymnasium", "mujoco", "stable-baselines3")


class OracleCacheError(ValueError):
    """A cache file that cannot be trusted; the message names the file and the field."""


@dataclasses.dataclass(frozen=True)
class Estimator:
    """What estimated J*, with its budget (the same for every task of a cache file)."""

    method: Literal["dqn", "sac", "search"]
    config: Mapping[str, Any]
    """dqn: the `DQNConfig` fields; sac: stable-baselines3 SAC's keyword arguments that were set;
    search: `cells` (grid cells per state dimension) and `tolerance` (re-plan when an observation is
    further than this from the plan's)"""
    training_steps: int
    """dqn: gradient steps per task (C·R); sac: env steps per task; search: the search depth in steps"""
    evaluation_episodes: int
    """deterministic episodes whose mean return is the estimate"""
    seed: int
    packages: Mapping[str, str | None]
    """versions of the libraries the estimate was made with"""

    def __post_init__(self) -> None:
        if self.method not in ESTIMATORS:
            raise ValueError(f"field estimator.method = {self.method!r} must be one of {list(ESTIMATORS)}")
        for name in ("training_steps", "evaluation_episodes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"field estimator.{name} = {value!r} must be an int ≥ 1")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"field estimator.seed = {self.seed!r} must be an int ≥ 0")

    def summary(self) -> str:
        """One line for results and leaderboards, e.g. "SAC [64, 64] per task (stable-baselines3 2.9.2),
        15000 env steps per task, 10 deterministic evaluation episodes, seed 0"."""
        if self.method == "dqn":
            what = (f"DQN* per task (pMeta-RL Table V; DQN [{', '.join(map(str, self.config['hidden_sizes']))}]), "
                    f"{self.training_steps} gradient steps per task")
        elif self.method == "search":
            cells = self.config["cells"]
            what = (f"minimum-time search on the task's dynamics per task (breadth-first, one state per cell of a "
                    f"{cells} × {cells} position × velocity grid), depth {self.training_steps} steps")
        else:
            layers = (self.config.get("policy_kwargs") or {}).get("net_arch")
            what = (f"SAC{'' if layers is None else f' {layers}'} per task (stable-baselines3 "
                    f"{self.packages.get('stable-baselines3')}), {self.training_steps} env steps per task")
        return f"{what}, {self.evaluation_episodes} deterministic evaluation episodes, seed {self.seed}"


@dataclasses.dataclass(frozen=True)
class TaskEstimate:
    index: int
    """the task's index in the preset's stored test set"""
    task: Mapping[str, Any]
    optimal_return: float
    """the estimate of J*(task): the mean of `evaluation_returns`"""
    evaluation_returns: tuple[float, ...]
    training_env_steps: int
    """env steps the training took (warm-up and the estimator's own evaluations included); search: the
    model transitions the plans simulated"""
    wall_time: float
    """seconds of training and evaluation"""


@dataclasses.dataclass(frozen=True)
class OracleCache:
    """One cache file: one estimator's estimates for some test tasks of one (env id, env kwargs)."""

    env_id: str
    env_kwargs: Mapping[str, Any]
    test_task_set: str
    """the fingerprint of the preset's stored test set the task indices refer to"""
    test_tasks: int
    """the test set's size (the estimates cover a stated sample of it)"""
    discount: float
    estimator: Estimator
    estimates: tuple[TaskEstimate, ...]

    def by_index(self) -> dict[int, TaskEstimate]:
        return {e.index: e for e in self.estimates}


def _preset(env_id: str, env_kwargs: Mapping[str, Any]) -> str:
    from baselines.common.envs import EnvProvider

    return EnvProvider(env_id, env_kwargs).preset_name


def canonical_kwargs(env_id: str, env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """`env_kwargs` with the preset named (the env's default when they do not name it): the key a
    cache file is made and found by."""
    return {**env_kwargs, "preset": _preset(env_id, env_kwargs)}


def cache_path(env_id: str, env_kwargs: Mapping[str, Any], folder: Path | None = None) -> Path:
    """`<folder>/<env>__<preset>[__<key>-<value>...].json` (the other kwargs sorted by name)."""
    name = env_id.split("/")[-1]
    extras = sorted((k, v) for k, v in env_kwargs.items() if k != "preset")
    parts = [name, _preset(env_id, env_kwargs)] + [f"{k}-{json.dumps(v, sort_keys=True)}" for k, v in extras]
    slug = "__".join(re.sub(r"[^A-Za-z0-9_.+-]+", "-", part).strip("-") for part in parts)
    return (ESTIMATES_FOLDER if folder is None else Path(folder)) / f"{slug}.json"


def _document(cache: OracleCache) -> dict[str, Any]:
    from benchmarks.results import checksum, to_json

    document = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **to_json(cache)}
    document["checksum"] = checksum(document)
    return document


def write_cache(cache: OracleCache, folder: Path | None = None) -> Path:
    """Write `cache` (with its checksum) to its `cache_path`, atomically; refuses non-finite numbers."""
    from benchmarks.results import find_non_finite

    bad = find_non_finite(cache)
    if bad:
        raise OracleCacheError(f"oracle cache of {cache.env_id}: field {bad[0]} is not finite")
    path = cache_path(cache.env_id, cache.env_kwargs, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, json.dumps(_document(cache), indent=1, sort_keys=True, allow_nan=False) + "\n")


def load_cache(path: str | Path) -> OracleCache:
    """Read and validate one cache file (module docstring); raises `OracleCacheError` naming the file
    and the field."""
    import metarl_envs
    from benchmarks.results import from_json, read_sealed

    path = Path(path)
    data = read_sealed(path, SCHEMA, SCHEMA_VERSION, max_bytes=MAX_CACHE_BYTES, error=OracleCacheError)
    body = {k: v for k, v in data.items() if k not in ("schema", "schema_version", "checksum")}
    try:
        cache = from_json(OracleCache, body, "")
    except (TypeError, ValueError) as error:
        raise OracleCacheError(f"{path}: {error}") from error
    if dict(cache.env_kwargs) != canonical_kwargs(cache.env_id, cache.env_kwargs) \
            or cache_path(cache.env_id, cache.env_kwargs, path.parent).name != path.name:
        raise OracleCacheError(f"{path}: field env_kwargs = {dict(cache.env_kwargs)} (env_id {cache.env_id}) "
                               f"belongs in {cache_path(cache.env_id, cache.env_kwargs).name}, not this file")
    try:
        test = metarl_envs.task_set(cache.env_id, "test", _preset(cache.env_id, cache.env_kwargs))
    except Exception as error:  # unknown env id or preset
        raise OracleCacheError(f"{path}: field env_id: no stored test set for {cache.env_id} "
                               f"{dict(cache.env_kwargs)}: {error}") from error
    if cache.test_task_set != test.fingerprint:
        raise OracleCacheError(f"{path}: field test_task_set = {cache.test_task_set} is not the stored test set's "
                               f"fingerprint ({test.fingerprint}): the cache is stale, re-estimate it")
    if cache.test_tasks != len(test):
        raise OracleCacheError(f"{path}: field test_tasks = {cache.test_tasks}, but the test set holds {len(test)}")
    if not 0.0 < cache.discount <= 1.0:
        raise OracleCacheError(f"{path}: field discount = {cache.discount} must be in (0, 1]")
    seen: set[int] = set()
    for i, entry in enumerate(cache.estimates):
        where = f"{path}: field estimates[{i}]"
        if not 0 <= entry.index < len(test) or entry.index in seen:
            raise OracleCacheError(f"{where}.index = {entry.index} is not a new index into the {len(test)}-task "
                                   "test set")
        seen.add(entry.index)
        if dict(entry.task) != test[entry.index].to_dict():
            raise OracleCacheError(f"{where}.task = {dict(entry.task)} is not test task {entry.index} "
                                   f"({test[entry.index].to_dict()})")
        if len(entry.evaluation_returns) != cache.estimator.evaluation_episodes:
            raise OracleCacheError(f"{where}.evaluation_returns holds {len(entry.evaluation_returns)} returns, "
                                   f"not estimator.evaluation_episodes = {cache.estimator.evaluation_episodes}")
        mean = float(np.mean(entry.evaluation_returns))
        if not np.isclose(entry.optimal_return, mean, rtol=1e-12, atol=1e-12):
            raise OracleCacheError(f"{where}.optimal_return = {entry.optimal_return} is not the mean of its "
                                   f"evaluation_returns ({mean})")
    return cache


def estimated_optima(env_id: str, env_kwargs: Mapping[str, Any], fingerprint: str, discount: float,
                     folder: Path | None = None) -> OracleCache | None:
    """The validated cache of (env id, env kwargs) when it exists and was made for the test set with
    `fingerprint` and for `discount`, else None (no estimate: no gap). A cache file that exists but is
    refused raises `OracleCacheError`."""
    env_kwargs = canonical_kwargs(env_id, env_kwargs)
    path = cache_path(env_id, env_kwargs, folder)
    if not path.exists():
        return None
    cache = load_cache(path)
    if cache.env_id != env_id or dict(cache.env_kwargs) != env_kwargs or cache.test_task_set != fingerprint \
            or cache.discount != discount:
        return None
    return cache


def attach_estimates(optimal: list[float | None], tasks: Sequence[Any], env_id: str, env_kwargs: Mapping[str, Any],
                     fingerprint: str, discount: float) -> EstimatedOptimum | None:
    """Fill `optimal[i]` (in place) from the cache for every task i that has no exact or analytic J*
    and a cached estimate (`tasks` are the first tasks of the test set with `fingerprint`); returns
    what the result records about it, or None when no task took an estimate."""
    if all(value is not None for value in optimal) or not fingerprint:
        return None
    cache = estimated_optima(env_id, env_kwargs, fingerprint, discount)
    if cache is None:
        return None
    entries, used = cache.by_index(), []
    for i, task in enumerate(tasks):
        entry = entries.get(i)
        if optimal[i] is None and entry is not None:
            if dict(entry.task) != task.to_dict():
                raise OracleCacheError(f"{cache_path(env_id, env_kwargs)}: field estimates: task {i} is "
                                       f"{dict(entry.task)}, the meta-test's task {i} is {task.to_dict()}")
            optimal[i] = entry.optimal_return
            used.append(i)
    if not used:
        return None
    from benchmarks.results import checksum

    return EstimatedOptimum(cache.estimator.summary(), tuple(used), checksum(_document(cache)))


# ---------------------------------------------------------------------------------------------- estimators


def _evaluate(env_id: str, env_kwargs: Mapping[str, Any], task: Any, act: Any, episodes: int,
              seed: int) -> tuple[float, ...]:
    """Undiscounted returns of `episodes` episodes of `task` under the deterministic `act` (obs (E, d)
    → actions), on the harness's sampler, reset seeds from `SeedSequence([seed, 1])`."""
    from baselines.common.sampler import Sampler

    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    batch = Sampler(env_id, env_kwargs).rollout([task], episodes, lambda obs: act(obs[0])[None], rng)
    return tuple(float(r) for r in batch.episode_returns(1.0)[0])


def _dqn(env_id: str, env_kwargs: Mapping[str, Any], task: Any, config: Mapping[str, Any], rounds: int,
         evaluation_episodes: int, seed: int) -> tuple[tuple[float, ...], int, dict[str, Any]]:
    from baselines.pmetarl_dqn import DQNConfig, IndependentDQN

    agent = IndependentDQN(env_id, DQNConfig.from_dict(dict(config)), env_kwargs)
    log = agent.meta_train([task], iterations=rounds, seed=seed)
    params = agent.meta_params()  # one task: its own network, greedy
    returns = _evaluate(env_id, env_kwargs, task, lambda obs: agent.act(obs, params, deterministic=True),
                        evaluation_episodes, seed)
    env_steps = int(log.records[-1].env_steps) if log.records else 0  # cumulative
    return returns, env_steps, agent.config.to_dict()


_SAC_SETTINGS = ("learning_rate", "buffer_size", "learning_starts", "batch_size", "tau", "gamma", "train_freq",
                 "gradient_steps", "ent_coef", "target_update_interval", "target_entropy")


def _sac(env_id: str, env_kwargs: Mapping[str, Any], task: Any, config: Mapping[str, Any], steps: int,
         evaluation_episodes: int, seed: int) -> tuple[tuple[float, ...], int, dict[str, Any]]:
    import gymnasium as gym
    import torch
    from stable_baselines3 import SAC

    env = gym.make(env_id, **env_kwargs)
    env.unwrapped.set_task(task)
    options = dict(config)
    policy_kwargs = options.pop("policy_kwargs", None)
    model = SAC("MlpPolicy", env, seed=seed, device="cpu", verbose=0, policy_kwargs=policy_kwargs, **options)
    model.learn(total_timesteps=steps)
    with torch.no_grad():
        returns = _evaluate(env_id, env_kwargs, task, lambda obs: model.predict(obs, deterministic=True)[0],
                            evaluation_episodes, seed)
    used = {name: _json_value(getattr(model, name)) for name in _SAC_SETTINGS}
    used["train_freq"] = [model.train_freq.frequency, model.train_freq.unit.value]
    used["policy_kwargs"] = {**(policy_kwargs or {}), "net_arch": _json_value(model.policy.net_arch)}
    env.close()
    return returns, int(model.num_timesteps), used


def minimum_time_plan(task: Any, start: np.ndarray, horizon: int, cells: int) -> tuple[list[int], int]:
    """The shortest action sequence the search finds that takes MountainCarParams `task` from `start`
    (position, velocity) to the flag within `horizon` steps ([] if none), and the model transitions it
    simulated. Breadth-first over action sequences on the env's own dynamics (`mountain_car_dynamics`,
    float64 as the env steps): each layer expands every kept state by the 3 actions and keeps one state
    (the first) per cell of a `cells` × `cells` grid over [−1.2, 0.6] × [−0.07, 0.07]. Every plan is a
    real trajectory; merging can only drop paths, so its length is ≥ the true minimum time."""
    from metarl_envs.classic.mountain_car_params import MAX_POSITION, MAX_SPEED, MIN_POSITION, mountain_car_dynamics
    from metarl_envs.classic.physics_params import parameter_arrays

    if isinstance(cells, bool) or not isinstance(cells, int) or cells < 1:
        raise ValueError(f"minimum_time_plan: cells = {cells!r} must be an int ≥ 1")
    params = parameter_arrays([task])
    low, width = np.array([MIN_POSITION, -MAX_SPEED]), np.array([MAX_POSITION - MIN_POSITION, 2 * MAX_SPEED])
    states = np.asarray(start, dtype=np.float64).reshape(1, 2)
    parents: list[np.ndarray] = []  # layer t: the index in layer t − 1 of each kept state's predecessor
    actions: list[np.ndarray] = []
    simulated = 0
    for _ in range(horizon):
        n = len(states)
        action = np.tile(np.arange(3), n)
        parent = np.repeat(np.arange(n), 3)
        successors, terminated = mountain_car_dynamics(states[parent], action,
                                                       tuple(np.broadcast_to(x, (3 * n,)) for x in params))
        simulated += 3 * n
        if terminated.any():
            i = int(np.flatnonzero(terminated)[0])
            plan, j = [int(action[i])], int(parent[i])
            for layer_parent, layer_action in zip(reversed(parents), reversed(actions), strict=True):
                plan.append(int(layer_action[j]))
                j = int(layer_parent[j])
            return plan[::-1], simulated
        cell = np.clip(np.floor((successors - low) / width * cells).astype(np.int64), 0, cells - 1)
        _, keep = np.unique(cell[:, 0] * cells + cell[:, 1], return_index=True)
        states = successors[keep]
        parents.append(parent[keep])
        actions.append(action[keep])
    return [], simulated


class MinimumTimePolicy:
    """The search estimator's policy for a batch of episodes (one per row, as the sampler runs them):
    each row follows the plan made from its first observation, and re-plans when an observation is
    further than `tolerance` from the plan's (the observations are float32, the dynamics float64).
    After a plan's last action the row's episode has ended (the flag): it is not planned again.
    An instance keeps its rows' plans, so it serves one rollout (one batch of episodes); the next
    rollout takes a new one. `simulated` counts the model transitions of every plan made."""

    def __init__(self, task: Any, horizon: int, cells: int, tolerance: float) -> None:
        from metarl_envs.classic.mountain_car_params import mountain_car_dynamics
        from metarl_envs.classic.physics_params import parameter_arrays

        self.task, self.horizon, self.cells, self.tolerance = task, horizon, cells, tolerance
        params = parameter_arrays([task])
        self._step = lambda state, a: mountain_car_dynamics(state, np.array([a]), params)[0]
        self._rows: dict[int, tuple[list[int], np.ndarray, int]] = {}  # plan, its states, next action's index
        self.simulated = 0

    def _plan(self, observation: np.ndarray) -> tuple[list[int], np.ndarray, int]:
        start = observation.astype(np.float64).reshape(1, 2)
        plan, simulated = minimum_time_plan(self.task, start, self.horizon, self.cells)
        self.simulated += simulated
        states = [start]
        for a in plan:
            states.append(self._step(states[-1], a))
        return plan, np.concatenate(states), 0

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        chosen = np.ones(len(observations), dtype=np.int64)  # 1: no push (a row whose episode has ended)
        for row, observation in enumerate(np.asarray(observations)):
            entry = self._rows.get(row)
            if entry is not None and entry[2] > len(entry[0]):
                continue
            if entry is None or np.abs(entry[1][entry[2]] - observation).max() > self.tolerance:
                entry = self._plan(observation)
            plan, states, index = entry
            self._rows[row] = (plan, states, index + 1)
            if index < len(plan):
                chosen[row] = plan[index]
        return chosen


def _search(env_id: str, env_kwargs: Mapping[str, Any], task: Any, config: Mapping[str, Any],
            evaluation_episodes: int, seed: int) -> tuple[tuple[float, ...], int, dict[str, Any]]:
    from metarl_envs.classic.mountain_car_params import MountainCarParamsEnv
    from metarl_envs.task_sets import env_class

    if not issubclass(env_class(env_id), MountainCarParamsEnv):
        raise ValueError(f"estimate: method='search' plans on MountainCarParams' dynamics; {env_id} is "
                         f"{env_class(env_id).__name__}")
    unknown = set(config) - {"cells", "tolerance"}
    if unknown:
        raise ValueError(f"estimate: config field {sorted(unknown)[0]!r} is not a search setting (cells, tolerance)")
    used = {"cells": int(config.get("cells", 1000)), "tolerance": float(config.get("tolerance", 1e-5))}
    policy = MinimumTimePolicy(task, _search_depth(env_id, env_kwargs), used["cells"], used["tolerance"])
    returns = _evaluate(env_id, env_kwargs, task, policy, evaluation_episodes, seed)
    return returns, policy.simulated, used


def _search_depth(env_id: str, env_kwargs: Mapping[str, Any]) -> int:
    """The search's depth: the preset's horizon (the longest episode)."""
    from baselines.common.envs import EnvProvider

    return EnvProvider(env_id, env_kwargs).horizon


def _json_value(value: Any) -> Any:
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    return repr(value)


def estimate(env_id: str, env_kwargs: Mapping[str, Any], indices: Sequence[int], *, method: str, steps: int,
             evaluation_episodes: int = 10, seed: int = 0, config: Mapping[str, Any] | None = None,
             folder: Path | None = None, replace: bool = False, log: Any = print) -> OracleCache:
    """Estimate J* of test tasks `indices` of (env id, env kwargs) with `method` and write them into the
    env's cache file (module docstring). `steps`: SAC env steps per task, or DQN rounds C (the
    budget is C·R gradient steps, R = `config["personal_updates"]`); the search ignores it (its depth
    is the preset's horizon)."""
    import metarl_envs
    from benchmarks.results import package_versions

    if method not in ESTIMATORS:
        raise ValueError(f"estimate: method={method!r} must be one of {list(ESTIMATORS)}")
    env_kwargs = canonical_kwargs(env_id, env_kwargs)
    test = metarl_envs.task_set(env_id, "test", _preset(env_id, env_kwargs))
    bad = [i for i in indices if not 0 <= i < len(test)]
    if bad or not indices:
        raise ValueError(f"estimate: tasks={list(indices)} must be indices into the {len(test)}-task test set")
    entries, used_config = [], None
    for index in indices:
        start = time.perf_counter()
        if method == "dqn":
            returns, env_steps, used_config = _dqn(env_id, env_kwargs, test[index], config or {}, steps,
                                                   evaluation_episodes, seed)
        elif method == "search":
            returns, env_steps, used_config = _search(env_id, env_kwargs, test[index], config or {},
                                                      evaluation_episodes, seed)
        else:
            returns, env_steps, used_config = _sac(env_id, env_kwargs, test[index], config or {}, steps,
                                                   evaluation_episodes, seed)
        entry = TaskEstimate(index, test[index].to_dict(), float(np.mean(returns)), returns, env_steps,
                             round(time.perf_counter() - start, 1))
        log(f"{env_id} {env_kwargs} task {index} {entry.task}: J* ≈ {entry.optimal_return:.3f} "
            f"(± {np.std(returns):.3f} over {len(returns)} episodes), {env_steps} "
            f"{'model transitions' if method == 'search' else 'env steps'}, {entry.wall_time} s")
        entries.append(entry)
    if method == "dqn":
        training_steps = steps * used_config["personal_updates"]
    elif method == "search":
        training_steps = _search_depth(env_id, env_kwargs)
    else:
        training_steps = steps
    estimator = Estimator(method, used_config, training_steps, evaluation_episodes, seed, package_versions(_PACKAGES))
    path = cache_path(env_id, env_kwargs, folder)
    kept: list[TaskEstimate] = []
    if path.exists() and not replace:
        old = load_cache(path)
        mine = dataclasses.replace(estimator, packages=old.estimator.packages)
        if old.estimator != mine:
            raise OracleCacheError(f"{path}: holds estimates of another estimator ({old.estimator.summary()}); "
                                   "pass replace=True (--replace) to start the file over")
        estimator = old.estimator
        kept = [e for e in old.estimates if e.index not in set(indices)]
    cache = OracleCache(env_id, env_kwargs, test.fingerprint, len(test), 1.0, estimator,
                        tuple(sorted([*kept, *entries], key=lambda e: e.index)))
    write_cache(cache, folder)
    return cache


# ---------------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.oracles", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("estimate", help="train the estimator on test tasks and write the cache")
    run.add_argument("env_id")
    run.add_argument("--preset", default=None)
    run.add_argument("--kwargs", default="{}", help="other env kwargs, as JSON (e.g. '{\"horizon\": 200}')")
    run.add_argument("--tasks", required=True, help="test-set indices, e.g. 0,1")
    run.add_argument("--method", choices=ESTIMATORS, default=None,
                     help="dqn for discrete actions, sac for continuous (the default follows the action space); "
                          "search for MountainCarParams (a plan on the task's dynamics)")
    run.add_argument("--steps", type=int, default=None, help="sac: env steps per task")
    run.add_argument("--rounds", type=int, default=30, help="dqn: rounds C (C·R gradient steps per task)")
    run.add_argument("--episodes", type=int, default=10, help="deterministic evaluation episodes per task")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--config", default="{}", help="estimator settings as JSON (DQNConfig fields, SAC kwargs)")
    run.add_argument("--replace", action="store_true", help="start the cache file over with this estimator")
    commands.add_parser("show", help="list the committed estimates")
    args = parser.parse_args(argv)
    if args.command == "show":
        for path in sorted(ESTIMATES_FOLDER.glob("*.json")):
            cache = load_cache(path)
            values = ", ".join(f"task {e.index}: {e.optimal_return:.2f} ({e.wall_time:.0f} s)" for e in cache.estimates)
            print(f"{path.name}: {cache.estimator.summary()}; {len(cache.estimates)} of {cache.test_tasks} "
                  f"test tasks: {values}")
        return
    import gymnasium as gym

    import metarl_envs  # noqa: F401  (registers the ids)

    env_kwargs = {**({} if args.preset is None else {"preset": args.preset}), **json.loads(args.kwargs)}
    method = args.method
    if method is None:
        discrete = isinstance(gym.make(args.env_id, **env_kwargs).action_space, gym.spaces.Discrete)
        method = "dqn" if discrete else "sac"
    if method == "sac" and args.steps is None:
        parser.error("--steps is required with the sac estimator")
    steps = args.rounds if method == "dqn" else 0 if method == "search" else args.steps
    indices = [int(part) for part in args.tasks.split(",") if part.strip()]
    estimate(args.env_id, env_kwargs, indices, method=method, steps=steps, evaluation_episodes=args.episodes,
             seed=args.seed, config=json.loads(args.config), replace=args.replace)


if __name__ == "__main__":
    main()
