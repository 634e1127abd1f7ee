"""Gymnasium wrappers for training one policy across the tasks of a meta-env.

- `ResampleTaskOnReset(env, tasks=None)`: every `reset` draws a new task, from `tasks` (a
  `TaskSet` or any sequence of tasks) or else from the env's own task distribution, with the env's
  seeded `np_random`, and reports it in `info["task"]`. `set_task` is otherwise sticky across
  resets; with this wrapper a plain single-task learner (SB3's PPO, say) sees a new task every
  episode.
- `TaskInObservation(env)`: appends the active task's parameters to the observation, for
  multi-task baselines and oracles that are allowed to see the task.

Both keep the Gymnasium API, so they stack with Gymnasium's own wrappers and vector envs:

Examples:
    >>> import gymnasium as gym, metarl_envs
    >>> from metarl_envs.wrappers import ResampleTaskOnReset, TaskInObservation
    >>> train = metarl_envs.task_set("MetaRL/CartPoleParams-v0", "train", "carl")
    >>> env = TaskInObservation(ResampleTaskOnReset(gym.make("MetaRL/CartPoleParams-v0", preset="carl"), train))
    >>> obs, info = env.reset(seed=0)
    >>> obs.shape, sorted(info["task"])
    ((9,), ['cart_mass', 'force_mag', 'gravity', 'half_pole_length', 'pole_mass'])
    >>> bool(env.reset(seed=0)[1]["task"] == info["task"])
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metarl_envs.core import MetaEnv, Task

__all__ = ["ResampleTaskOnReset", "TaskInObservation", "task_parameters"]


def _meta_env(env: gym.Env, wrapper: str) -> MetaEnv:
    base = env.unwrapped
    if not isinstance(base, MetaEnv):
        raise TypeError(f"{wrapper}: env must wrap a metarl_envs MetaEnv, got {type(base).__name__}")
    return base


class ResampleTaskOnReset(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Draw a new task on every `reset`, from `tasks` or from the env's own distribution.

    The draw uses the env's `np_random`, seeded by `reset(seed=...)` before the task is drawn, so
    a seed fixes the sequence of tasks and starting states. `reset(options={"task": t})` still
    sets `t` explicitly (no draw). The active task is reported as `info["task"]` (its `to_dict()`)
    at every reset.

    Args:
        env: an env whose `unwrapped` is a metarl_envs `MetaEnv`.
        tasks: a `TaskSet` or a sequence of tasks (or their dicts) drawn uniformly; None draws
            from the env's preset distribution (`sample_tasks(1)`).
    """

    def __init__(self, env: gym.Env, tasks: Sequence[Task | Mapping[str, Any]] | None = None):
        gym.utils.RecordConstructorArgs.__init__(self, tasks=tasks)
        gym.Wrapper.__init__(self, env)
        self._meta = _meta_env(env, "ResampleTaskOnReset")
        if tasks is None:
            self.tasks: tuple[Task, ...] | None = None
        else:
            if isinstance(tasks, (Task, Mapping, str)) or not isinstance(tasks, Sequence):
                raise TypeError(f"ResampleTaskOnReset.tasks: expected a TaskSet or a sequence of tasks, "
                                f"got {type(tasks).__name__}")
            if len(tasks) == 0:
                raise ValueError("ResampleTaskOnReset.tasks: must hold at least one task")
            self.tasks = tuple(self._meta.validate_task(task) for task in tasks)

    def draw_task(self) -> Task:
        """One task from `tasks` (uniformly) or from the env's distribution, using its `np_random`."""
        if self.tasks is None:
            return self._meta.sample_tasks(1)[0]
        return self.tasks[int(self._meta.np_random.integers(len(self.tasks)))]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        options = dict(options or {})
        if seed is not None:
            gym.Env.reset(self._meta, seed=seed)  # seed the env's np_random before drawing from it
        if "task" not in options:
            options["task"] = self.draw_task()
        obs, info = self.env.reset(options=options)
        return obs, {**info, "task": self._meta.get_task().to_dict()}


def task_parameters(task: Task) -> np.ndarray:
    """The task's numeric fields flattened in field order into a float64 vector (nested tuples are
    flattened row by row); raise TypeError naming a field that is not numeric."""
    values: list[float] = []
    for name, value in task.to_dict().items():
        flat = np.asarray(value, dtype=object).ravel()
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
            raise TypeError(f"{type(task).__name__}.{name}: only numeric task fields can be observed, "
                            f"got {value!r}")
        values.extend(float(v) for v in flat)
    return np.array(values, dtype=np.float64)


class TaskInObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Append the active task's parameters (`task_parameters`) to a 1-D `Box` observation.

    The observation space becomes the original bounds followed by (-inf, inf) for each task
    parameter, in the original dtype. The task is read at every reset and step, so it follows
    `set_task`, `reset(options={"task": ...})` and `ResampleTaskOnReset` (wrap that one inside).

    Args:
        env: an env whose `unwrapped` is a metarl_envs `MetaEnv` with a 1-D `Box` observation space
            and numeric task fields.
    """

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        self._meta = _meta_env(env, "TaskInObservation")
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise TypeError(f"TaskInObservation: the observation space must be a 1-D Box, got {space}")
        n = len(task_parameters(self._meta.get_task()))
        dtype = space.dtype
        low = np.concatenate([space.low, np.full(n, -np.inf, dtype=dtype)])
        high = np.concatenate([space.high, np.full(n, np.inf, dtype=dtype)])
        self.observation_space = spaces.Box(low, high, dtype=dtype)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        dtype = self.observation_space.dtype
        return np.concatenate([np.asarray(observation, dtype=dtype),
                               task_parameters(self._meta.get_task()).astype(dtype)])
