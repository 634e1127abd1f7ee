"""Train one Stable-Baselines3 PPO policy across CartPoleParams' train tasks, then score it on the
test tasks (the `carl` preset: 100 train / 20 test physics, each field log-uniform in CARL's range).

`ResampleTaskOnReset` gives every training episode a new train task, so a plain single-task learner
sees the whole train distribution; nothing here adapts at test time (this is the multi-task
baseline a meta-learner should beat). `--task-in-obs` adds `TaskInObservation`: the policy then
sees the physics, an oracle-style baseline.

    python docs/examples/multi_task_ppo.py --timesteps 100000
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import metarl_envs
from metarl_envs.wrappers import ResampleTaskOnReset, TaskInObservation

ENV_ID, PRESET = "MetaRL/CartPoleParams-v0", "carl"


def make_env(tasks: Sequence[metarl_envs.Task], task_in_obs: bool) -> gym.Env:
    env = ResampleTaskOnReset(gym.make(ENV_ID, preset=PRESET), tasks)
    return TaskInObservation(env) if task_in_obs else env


def mean_return(model: PPO, tasks: Sequence[metarl_envs.Task], task_in_obs: bool, seed: int) -> float:
    """Mean undiscounted return of the deterministic policy over one episode on each task; the
    tasks run side by side, one per sub-env (a one-task list makes each sub-env's task fixed)."""
    envs = gym.vector.SyncVectorEnv([functools.partial(make_env, [task], task_in_obs) for task in tasks])
    obs, _ = envs.reset(seed=seed)
    returns, running = np.zeros(len(tasks)), np.ones(len(tasks), dtype=bool)
    while running.any():
        actions, _ = model.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, _ = envs.step(actions)
        returns += reward * running
        running &= ~(terminated | truncated)
    envs.close()
    return float(returns.mean())


def train_and_evaluate(timesteps: int = 100_000, seed: int = 0, task_in_obs: bool = False) -> dict[str, float]:
    """Train PPO on the train tasks for `timesteps` env steps; return the mean return on each split."""
    train = metarl_envs.task_set(ENV_ID, "train", PRESET)
    test = metarl_envs.task_set(ENV_ID, "test", PRESET)
    venv = make_vec_env(make_env, n_envs=4, seed=seed, env_kwargs={"tasks": train, "task_in_obs": task_in_obs})
    model = PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0)
    model.learn(total_timesteps=timesteps)
    return {"train": mean_return(model, train, task_in_obs, seed=10_000),
            "test": mean_return(model, test, task_in_obs, seed=20_000)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--task-in-obs", action="store_true")
    args = parser.parse_args()
    returns = train_and_evaluate(args.timesteps, args.seed, args.task_in_obs)
    print(f"mean return over {PRESET} train tasks: {returns['train']:.1f}   test tasks: {returns['test']:.1f}")


if __name__ == "__main__":
    main()
