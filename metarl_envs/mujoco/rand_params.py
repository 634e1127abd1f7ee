"""Shared parts of the random-physics meta-tasks (`walker2d_params.py`, `hopper_params.py`): the
rand_param_envs task (per-element multipliers of the model's mass, inertia, damping and friction),
its preset fields, and the planar-walker observation and reward.

rand_param_envs (dennisl88/rand_param_envs@4d1529d:rand_param_envs/base.py, `RandomEnv`) draws,
per task and per element of each model array, body_mass, body_inertia and geom_friction
multipliers 1.5^U[−3, 3] and dof_damping multipliers 1.3^U[−3, 3] (log_scale_limit = 3), and
multiplies the nominal arrays. Here a task holds those multipliers, and a task change writes
nominal × multiplier into the model (never compounding) and reruns `mj_setConst`.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from metarl_envs.core import Task, check_finite, task_field_error
from metarl_envs.mujoco.base import MODEL_FIELDS, ModelBatch, MujocoMetaEnv, MujocoPreset

__all__ = ["ModelParamsTask", "RandParamsMetaEnv", "RandParamsPreset"]

_ROW_WIDTH = {"body_mass": None, "body_inertia": 3, "dof_damping": None, "geom_friction": 3}


def _check_multipliers(field: str, value: Any) -> tuple:
    """A tuple of positive finite floats (width None) or of `width`-tuples of them."""
    owner, width = "ModelParamsTask", _ROW_WIDTH[field]
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)) \
            or len(value) == 0:
        raise TypeError(f"{owner}.{field}={value!r}: must be a non-empty sequence of multipliers")
    rows = []
    for i, row in enumerate(value):
        if width is None:
            rows.append(check_finite(owner, f"{field}[{i}]", row, 0.0, low_open=True))
            continue
        if isinstance(row, (str, bytes, Mapping, numbers.Number)) or not isinstance(row, (Sequence, np.ndarray)) \
                or len(row) != width:
            raise ValueError(f"{owner}.{field}[{i}]={row!r}: must be a sequence of {width} multipliers")
        rows.append(tuple(check_finite(owner, f"{field}[{i}][{j}]", v, 0.0, low_open=True)
                          for j, v in enumerate(row)))
    return tuple(rows)


@dataclasses.dataclass(frozen=True, slots=True)
class ModelParamsTask(Task):
    """Per-element multipliers of the nominal model arrays (shapes: nbody, nbody×3, nv, ngeom×3)."""

    body_mass: tuple[float, ...]
    body_inertia: tuple[tuple[float, float, float], ...]
    dof_damping: tuple[float, ...]
    geom_friction: tuple[tuple[float, float, float], ...]

    def __post_init__(self) -> None:
        for field in MODEL_FIELDS:
            object.__setattr__(self, field, _check_multipliers(field, getattr(self, field)))

    def scales(self) -> dict[str, np.ndarray]:
        return {field: np.asarray(getattr(self, field)) for field in MODEL_FIELDS}


@dataclasses.dataclass(frozen=True, kw_only=True)
class RandParamsPreset(MujocoPreset):
    log_scale_limit: float
    """exponents ~ U[−limit, limit]"""
    mass_base: float
    inertia_base: float
    damping_base: float
    friction_base: float
    ctrl_cost_weight: float
    healthy_reward: float
    """added every step (rand_param_envs' alive_bonus)"""

    def base(self, field: str) -> float:
        return {"body_mass": self.mass_base, "body_inertia": self.inertia_base,
                "dof_damping": self.damping_base, "geom_friction": self.friction_base}[field]


class RandParamsMetaEnv(MujocoMetaEnv):
    """A planar walker whose physics is the task. Subclasses set `xml_file`, `frame_skip`,
    `model_shapes` (checked against the compiled model) and `is_healthy`."""

    reset_noise_scale: ClassVar[float] = 5e-3
    reset_qvel_noise: ClassVar[str] = "uniform"
    task_type = ModelParamsTask
    model_shapes: ClassVar[dict[str, tuple[int, ...]]]
    preset: RandParamsPreset

    def make_batch(self, num_envs: int, num_threads: int = 1) -> ModelBatch:
        sim = super().make_batch(num_envs, num_threads)
        for field, shape in self.model_shapes.items():
            if getattr(sim.nominal, field).shape != shape:
                raise RuntimeError(f"{type(self).__name__}: {self.xml_file} has {field} of shape "
                                   f"{getattr(sim.nominal, field).shape}, expected {shape}")
        return sim

    @classmethod
    def draw_tasks(cls, preset: RandParamsPreset, rng: np.random.Generator, n: int) -> list[ModelParamsTask]:
        tasks = []
        for _ in range(n):  # per task, in rand_param_envs' order: mass, inertia, damping, friction
            fields = {}
            for field in MODEL_FIELDS:
                exponents = rng.uniform(-preset.log_scale_limit, preset.log_scale_limit, cls.model_shapes[field])
                fields[field] = (preset.base(field) ** exponents).tolist()
            tasks.append(ModelParamsTask(**fields))
        return tasks

    def _check_task_in_preset(self, task: ModelParamsTask) -> None:
        preset = self.preset
        for field, shape in self.model_shapes.items():
            array = np.asarray(getattr(task, field))
            if array.shape != shape:
                raise ValueError(f"ModelParamsTask.{field} has shape {array.shape}; {self.xml_file} needs {shape}")
            low = preset.base(field) ** -preset.log_scale_limit * (1 - 1e-12)
            high = preset.base(field) ** preset.log_scale_limit * (1 + 1e-12)
            if not np.all((array >= low) & (array <= high)):  # NaN fails both comparisons
                raise task_field_error("ModelParamsTask", field, getattr(task, field), self.preset_name,
                                       f"{preset.base(field)}^U[-{preset.log_scale_limit}, {preset.log_scale_limit}]")

    def model_scales(self, task: ModelParamsTask) -> dict[str, np.ndarray]:
        return task.scales()

    def task_arrays(self, tasks: Sequence[ModelParamsTask]) -> dict[str, np.ndarray]:
        return {}  # the task acts through the model only

    def observe(self, sim: ModelBatch, rows: Sequence[int] | None = None) -> np.ndarray:
        return np.concatenate([sim.qpos(rows)[:, 1:], np.clip(sim.qvel(rows), -10.0, 10.0)], axis=1)

    def probe(self, sim: ModelBatch) -> np.ndarray:
        return sim.qpos()[:, :1]  # rootx

    def is_healthy(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def rewards(self, before, after, sim, actions, params):
        x_velocity = (after[:, 0] - before[:, 0]) / sim.dt
        reward_ctrl = -self.preset.ctrl_cost_weight * np.sum(np.square(actions), axis=1)
        reward_survive = np.full(len(actions), self.preset.healthy_reward)
        terminated = ~self.is_healthy(sim.qpos(), sim.qvel())
        info = {"x_velocity": x_velocity, "reward_forward": x_velocity, "reward_ctrl": reward_ctrl,
                "reward_survive": reward_survive}
        return x_velocity + reward_survive + reward_ctrl, terminated, info
