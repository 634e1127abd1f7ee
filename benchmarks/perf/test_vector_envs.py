"""Steps per second of the native vector envs (pytest-benchmark; not part of the unit tests).

For every light (non-MuJoCo) registered env: its native vector env against
`gymnasium.vector.SyncVectorEnv` over the single env, on the same tasks (the default preset's
fixed test set, cycled) and the same actions, at 1, 64 and 256 sub-envs; and CartPoleParams
against Gymnasium's own `CartPoleVectorEnv`. Targets (issue 2): native ≥ 30× SyncVectorEnv at
256 sub-envs, and not slower than `CartPoleVectorEnv`. Against `CartPoleVectorEnv`, CartPoleParams
runs the nominal task (Gymnasium's physics) in every sub-env, so both reset equally often; the
default-preset rows (pmeta's five variants, one of which falls within a few steps) are reported too.

    python -m pytest benchmarks/perf --benchmark-json=perf.json   # then:
    python -m benchmarks.perf.report perf.json                     # ratios from that one run

Each benchmarked call runs `STEPS_PER_CALL` vector steps with pre-drawn actions (the episode
ends and next-step autoresets happen inside, as in training); steps/s = num_envs × steps / time.
"""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs
from metarl_envs.classic.cartpole_params import CartPoleParamsTask
from metarl_envs.task_sets import env_class

STEPS_PER_CALL = 50
NUM_ENVS = (1, 64, 256)
LIGHT_IDS = [env_id for env_id in metarl_envs.ENV_IDS
             if not env_class(env_id).__module__.startswith("metarl_envs.mujoco")]


def draw_actions(space: gym.Space, n: int, steps: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    if isinstance(space, gym.spaces.Discrete):
        return list(rng.integers(0, space.n, size=(steps, n)))
    return list(rng.uniform(space.low, space.high, size=(steps, n, *space.shape)).astype(space.dtype))


def make_vector_env(env_id: str, mode: str, num_envs: int) -> gym.vector.VectorEnv:
    if mode == "gymnasium":  # Gymnasium's own CartPoleVectorEnv, the reference for CartPoleParams
        return gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")
    tasks = list(metarl_envs.task_set(env_id, "test"))
    tasks = [tasks[i % len(tasks)] for i in range(num_envs)]
    if mode == "native-nominal":  # Gymnasium's physics in every sub-env: same episode lengths, same resets
        tasks = [CartPoleParamsTask(force_mag=10.0, pole_mass=0.1, half_pole_length=0.5)] * num_envs
    if mode == "sync":
        return gym.vector.SyncVectorEnv([functools.partial(gym.make, env_id, task=t) for t in tasks])
    venv = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    venv.unwrapped.set_tasks(tasks)
    return venv


def run_benchmark(benchmark, env_id: str, mode: str, num_envs: int) -> None:
    venv = make_vector_env(env_id, mode, num_envs)
    actions = draw_actions(venv.single_action_space, num_envs, STEPS_PER_CALL)
    venv.reset(seed=0)

    def steps() -> None:
        for action in actions:
            venv.step(action)

    benchmark.group = f"{env_id.split('/')[1]} n={num_envs}"
    benchmark.extra_info.update(env_id=env_id, mode=mode, num_envs=num_envs, steps_per_call=STEPS_PER_CALL)
    benchmark(steps)
    venv.close()


@pytest.mark.parametrize("num_envs", NUM_ENVS)
@pytest.mark.parametrize("mode", ["native", "sync"])
@pytest.mark.parametrize("env_id", LIGHT_IDS, ids=[i.split("/")[1] for i in LIGHT_IDS])
def test_vector_env_steps_per_second(benchmark, env_id, mode, num_envs):
    run_benchmark(benchmark, env_id, mode, num_envs)


@pytest.mark.parametrize("num_envs", NUM_ENVS)
@pytest.mark.parametrize("mode", ["native-nominal", "gymnasium"])
def test_cartpole_params_against_gymnasium_cartpole_vector_env(benchmark, mode, num_envs):
    run_benchmark(benchmark, "MetaRL/CartPoleParams-v0", mode, num_envs)
