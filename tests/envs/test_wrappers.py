"""ResampleTaskOnReset and TaskInObservation: seeded task draws, the observed task, both env checkers."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import metarl_envs
from metarl_envs.wrappers import ResampleTaskOnReset, TaskInObservation, task_parameters

from .conftest import ENV_PRESETS, IDS

CARTPOLE = "MetaRL/CartPoleParams-v0"


def cartpole(preset: str = "carl") -> gym.Env:
    return gym.make(CARTPOLE, preset=preset)


def task_sequence(env: gym.Env, seed: int, resets: int) -> list[dict]:
    first = env.reset(seed=seed)[1]["task"]
    return [first] + [env.reset()[1]["task"] for _ in range(resets - 1)]


def test_resample_draws_a_new_task_each_reset_reproducibly():
    train = metarl_envs.task_set(CARTPOLE, "train", "carl")
    tasks = task_sequence(ResampleTaskOnReset(cartpole(), train), seed=7, resets=30)
    assert tasks == task_sequence(ResampleTaskOnReset(cartpole(), train), seed=7, resets=30)
    assert tasks != task_sequence(ResampleTaskOnReset(cartpole(), train), seed=8, resets=30)
    train_dicts = [t.to_dict() for t in train]
    assert all(t in train_dicts for t in tasks)
    assert len({tuple(t.values()) for t in tasks}) > 20  # 30 draws from 100 tasks: mostly distinct


def test_resample_sets_the_drawn_task_on_the_env():
    env = ResampleTaskOnReset(cartpole())
    for seed in range(3):
        _, info = env.reset(seed=seed)
        assert env.unwrapped.get_task().to_dict() == info["task"]


def test_resample_without_tasks_draws_from_the_env_distribution():
    env = ResampleTaskOnReset(gym.make("MetaRL/Navigation2D-v0"))
    tasks = task_sequence(env, seed=3, resets=5)
    reference = gym.make("MetaRL/Navigation2D-v0").unwrapped
    gym.Env.reset(reference, seed=3)
    first = reference.sample_tasks(1)[0]
    assert tasks[0] == first.to_dict()
    assert len({tuple(t["goal"]) for t in tasks}) == 5


def test_resample_keeps_an_explicit_task():
    test_task = metarl_envs.task_set(CARTPOLE, "test", "carl")[0]
    env = ResampleTaskOnReset(cartpole(), metarl_envs.task_set(CARTPOLE, "train", "carl"))
    _, info = env.reset(seed=0, options={"task": test_task})
    assert info["task"] == test_task.to_dict()


def test_resample_rejects_bad_input():
    with pytest.raises(TypeError, match="MetaEnv"):
        ResampleTaskOnReset(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="at least one"):
        ResampleTaskOnReset(cartpole(), [])
    with pytest.raises(TypeError, match="CartPoleParamsTask"):
        ResampleTaskOnReset(cartpole(), metarl_envs.task_set("MetaRL/Navigation2D-v0", "train"))
    with pytest.raises(TypeError, match="sequence of tasks"):
        ResampleTaskOnReset(cartpole(), metarl_envs.task_set(CARTPOLE, "train", "carl")[0])


def test_task_in_observation_appends_the_active_task():
    env = TaskInObservation(ResampleTaskOnReset(cartpole(), metarl_envs.task_set(CARTPOLE, "train", "carl")))
    assert env.observation_space.shape == (9,)
    obs, info = env.reset(seed=1)
    np.testing.assert_allclose(obs[4:], [info["task"][k] for k in ("force_mag", "pole_mass", "half_pole_length",
                                                                   "cart_mass", "gravity")], rtol=1e-6)
    obs, *_ = env.step(0)
    assert obs in env.observation_space
    other = metarl_envs.task_set(CARTPOLE, "test", "carl")[3]
    env.unwrapped.set_task(other)
    obs, *_ = env.step(1)
    np.testing.assert_allclose(obs[4:], task_parameters(other), rtol=1e-6)


def test_task_parameters_flatten_nested_fields_and_refuse_strings():
    grid = gym.make("MetaRL/GridNavigation-v0").unwrapped.get_task()
    assert task_parameters(grid).tolist() == [*map(float, grid.goal), float(grid.size)]
    lake = gym.make("MetaRL/FrozenLakeHoles-v0").unwrapped.get_task()
    with pytest.raises(TypeError, match=r"FrozenLakeTask\.tiles"):
        task_parameters(lake)


def test_task_in_observation_rejects_a_non_box_observation():
    with pytest.raises(TypeError, match="1-D Box"):
        TaskInObservation(gym.make("MetaRL/GridNavigation-v0", obs_mode="index"))


def checked(env: gym.Env) -> None:
    """Both env checkers, on the wrapped env. Gymnasium's checker notes that the env is wrapped and
    that a bound is infinite (the appended task parameters are unbounded, as are most observations
    here); those two notes are silenced, every other warning still shows."""
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is different from the unwrapped version")
        warnings.filterwarnings("ignore", message=".*Box observation space (minimum|maximum) value is -?infinity")
        check_env(env, skip_render_check=True)
    sb3_check_env(env, warn=False)


LIGHT = [(env_id, preset) for env_id, preset in ENV_PRESETS if "mujoco" not in metarl_envs.task_sets.env_class(
    env_id).__module__]


@pytest.mark.parametrize(("env_id", "preset"), LIGHT, ids=[i for (e, p), i in zip(ENV_PRESETS, IDS, strict=True)
                                                            if (e, p) in LIGHT])
def test_resample_passes_both_checkers(env_id, preset):
    checked(ResampleTaskOnReset(gym.make(env_id, preset=preset).unwrapped,
                                metarl_envs.task_set(env_id, "train", preset)))


@pytest.mark.parametrize("env_id", ["MetaRL/CartPoleParams-v0", "MetaRL/Navigation2D-v0",
                                    "MetaRL/GridNavigation-v0", "MetaRL/MountainCarParams-v0"])
def test_task_in_observation_passes_both_checkers(env_id):
    checked(TaskInObservation(ResampleTaskOnReset(gym.make(env_id).unwrapped)))


@pytest.mark.mujoco
def test_both_wrappers_pass_both_checkers_on_a_mujoco_env():
    pytest.importorskip("mujoco")
    env = gym.make("MetaRL/HalfCheetahVel-v0").unwrapped
    checked(TaskInObservation(ResampleTaskOnReset(env, metarl_envs.task_set("MetaRL/HalfCheetahVel-v0", "train"))))


def load_example():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "multi_task_ppo.py"
    spec = importlib.util.spec_from_file_location("multi_task_ppo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_multi_task_example_scores_each_task_once():
    """The docs example's evaluator (one sub-env per task) equals one plain episode per task."""
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO

    example = load_example()
    tasks = metarl_envs.task_set(CARTPOLE, "test", "carl")[:2]
    for task_in_obs in (False, True):
        model = PPO("MlpPolicy", example.make_env(tasks, task_in_obs), seed=0, device="cpu")
        by_hand = []
        for i, task in enumerate(tasks):
            env = example.make_env([task], task_in_obs)
            obs, _ = env.reset(seed=5 + i)
            total, done = 0.0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(int(model.predict(obs, deterministic=True)[0]))
                total, done = total + reward, terminated or truncated
            by_hand.append(total)
        assert example.mean_return(model, tasks, task_in_obs, seed=5) == pytest.approx(np.mean(by_hand))


def test_multi_task_example_trains_and_reports_both_splits():
    pytest.importorskip("stable_baselines3")
    returns = load_example().train_and_evaluate(timesteps=2048, seed=0)
    assert set(returns) == {"train", "test"}
    assert all(1.0 <= value <= 200.0 for value in returns.values())  # CartPole returns: steps survived
