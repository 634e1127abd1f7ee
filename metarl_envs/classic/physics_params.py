"""What the classic-control envs whose task is a set of physical constants share (CartPoleParams,
MountainCarParams): the task is a row of parameters, each a finite float > 0, in the task
dataclass's field order; a preset is either a finite family of such rows (`family`) or a box
(`low`, `high` per field), and a task is accepted when each field lies within [low, high].
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from metarl_envs.core import MetaEnv, MetaVectorEnv, Preset, Task, check_finite, check_task_in_box

__all__ = ["PhysicsParamsEnv", "PhysicsParamsVectorEnv", "PhysicsTask", "parameter_arrays"]


class PhysicsTask(Task):
    """Base of a task whose every field is a physical constant, a finite float > 0 (declare subclasses
    `@dataclass(frozen=True, slots=True)`; the field order is the order of a family's rows)."""

    __slots__ = ()

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = check_finite(type(self).__name__, field.name, getattr(self, field.name), 0.0, None,
                                 low_open=True)
            object.__setattr__(self, field.name, value)


def parameter_arrays(tasks: Sequence[PhysicsTask]) -> tuple[np.ndarray, ...]:
    """The tasks' parameters as one float64 array per field (field order), shape (n,)."""
    names = [field.name for field in dataclasses.fields(tasks[0])] if tasks else []
    return tuple(np.array([getattr(t, name) for t in tasks], dtype=np.float64) for name in names)


class PhysicsParamsEnv(MetaEnv):
    """A `MetaEnv` whose `task_type` is a `PhysicsTask` and whose presets have `family` rows and
    per-field bounds `low`, `high`. A family preset's tasks are its rows (drawn uniformly by index);
    a box preset's are drawn by `draw_box_tasks`, which a subclass with such presets writes. The
    task's parameter arrays are held in `_params` for the env's dynamics."""

    task_type: type[PhysicsTask]

    @classmethod
    def draw_tasks(cls, preset: Preset, rng: np.random.Generator, n: int) -> Sequence[PhysicsTask]:
        if preset.finite_family:
            family = preset.family  # type: ignore[attr-defined]
            return [cls.task_type(*family[i]) for i in rng.integers(0, len(family), n)]
        return cls.draw_box_tasks(preset, rng, n)

    @classmethod
    def draw_box_tasks(cls, preset: Preset, rng: np.random.Generator, n: int) -> Sequence[PhysicsTask]:
        """n tasks from a preset that is not a finite family."""
        raise NotImplementedError(f"{cls.__name__}: every preset is a finite family")

    @classmethod
    def task_family(cls, preset: Preset) -> Sequence[PhysicsTask]:
        if not preset.finite_family:
            return super().task_family(preset)
        return [cls.task_type(*row) for row in preset.family]  # type: ignore[attr-defined]

    def _check_task_in_preset(self, task: PhysicsTask) -> None:
        names = [field.name for field in dataclasses.fields(task)]
        check_task_in_box(task, names, self.preset.low, self.preset.high, self.preset_name)  # type: ignore[attr-defined]

    def _on_task_change(self) -> None:
        self._params = parameter_arrays([self._task])


class PhysicsParamsVectorEnv(MetaVectorEnv):
    """`PhysicsParamsEnv`'s parameter arrays for n sub-envs, one task each."""

    def _on_tasks_change(self) -> None:
        self._params = parameter_arrays(self.tasks)
