"""The one provider of envs and exact task models: agents, the sampler and the meta-test evaluator
get them here and nowhere else.

`EnvProvider(env_id, env_kwargs)` builds, for one registered id and its keyword arguments:

- `vector_env(num_envs)`: a new native vector env (`gym.make_vec(..., vectorization_mode=
  "vector_entry_point")`); the caller owns it (the sampler keeps one per sub-env count);
- `model(task)`: the exact `TabularModel` of a task of a tabular env, from the env class's public
  `task_model`. A model is an immutable value (read-only arrays); the tabular envs cache it per task
  (`grid_model`, `frozen_lake_model`), so asking again is a dictionary lookup, never a rebuild;
- `analytic_optimum(task, discount)`: J*(task) in closed form where the env has one;
- `state_observations()`: the observation of every state index of a tabular env;
- `tabular`, `horizon`, `preset_name`: read off a template env that the provider builds on first
  use and keeps to itself. The template is never stepped, reset or given a task: nothing a caller
  does can change what another caller reads from it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from metarl_envs.core import MetaEnv
from metarl_envs.toy_text.tabular import TabularEnv, TabularModel

__all__ = ["EnvProvider"]


class EnvProvider:
    """The envs and exact task models of `env_id` with `env_kwargs` (see the module docstring)."""

    def __init__(self, env_id: str, env_kwargs: Mapping[str, Any] | None = None):
        import metarl_envs  # noqa: F401  (registers the ids)

        if not isinstance(env_id, str) or not env_id:
            raise ValueError(f"EnvProvider: env_id={env_id!r} must be a non-empty env id string")
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})

    @functools.cached_property
    def _template(self) -> MetaEnv:
        return gym.make(self.env_id, **self.env_kwargs).unwrapped

    def vector_env(self, num_envs: int) -> gym.vector.VectorEnv:
        """A new native vector env of `num_envs` sub-envs."""
        return gym.make_vec(self.env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **self.env_kwargs)

    @property
    def tabular(self) -> bool:
        """The env is a `TabularEnv` (it has exact task models)."""
        return isinstance(self._template, TabularEnv)

    @property
    def horizon(self) -> int:
        return int(self._template.horizon)

    @property
    def preset_name(self) -> str:
        return str(self.env_kwargs.get("preset", getattr(self._template, "preset_name", "")))

    def _tabular_env(self, what: str) -> TabularEnv:
        if not self.tabular:
            raise TypeError(f"EnvProvider.{what}: {self.env_id} is not a tabular env")
        return self._template

    def model(self, task: Any) -> TabularModel:
        """The exact model of `task` (a `Task` or its dict form) under this env's preset."""
        env = self._tabular_env("model")
        return env.task_model(env.validate_task(task))

    def analytic_optimum(self, task: Any, discount: float = 1.0) -> float | None:
        """J*(task) in closed form where the env has one (`oracles.analytic_optimal_return`: it reads
        the preset, horizon and action box, never a task set on an env), else None."""
        from baselines.common.oracles import analytic_optimal_return

        return analytic_optimal_return(self._template, self._template.validate_task(task), discount)

    def state_observations(self) -> np.ndarray:
        """float32 observations of every state index, in index order (what a tabular agent's
        `policy_matrix` feeds its policy)."""
        return np.asarray(self._tabular_env("state_observations").state_observations(), dtype=np.float32)
