"""The task API every metarl_envs environment shares.

- `Task`: base of the small frozen dataclasses that describe one task (value-equal, hashable,
  JSON round-trip, picklable). Subclasses validate themselves in `__post_init__` with the
  `check_*` helpers below, so a malformed task raises a `TypeError`/`ValueError` naming the field.
- `Preset`: base of the frozen dataclasses that pin a source code base's protocol (horizon,
  task range, coefficients, task-set sizes).
- `MetaEnv`: mixin for `gymnasium.Env` giving `sample_tasks`, `set_task`, `get_task`,
  `reset(options={"task": ...})` and the preset bookkeeping.
- `MetaVectorEnv`: base of the native batched vector envs (one task per sub-env, Gymnasium's
  next-step autoreset, self-truncation at the preset horizon). The physics lives once, in a
  batched function of the env's module that both the single env and its vector env call.
- `check_box_action` / `check_discrete_action`: action validation that raises instead of clipping.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

__all__ = [
    "MetaEnv",
    "MetaVectorEnv",
    "Preset",
    "Task",
    "check_box_action",
    "check_choice",
    "check_discrete_action",
    "check_finite",
    "check_int",
    "check_seed",
    "check_vector",
]

MAX_SAMPLE_TASKS = 1_000_000
"""`sample_tasks(n)` draws at most this many tasks in one call (a larger n is refused, not attempted)"""

TaskT = TypeVar("TaskT", bound="Task")


# --------------------------------------------------------------------------------------------
# Field validators: each returns the canonical value or raises an error naming owner.field.
# --------------------------------------------------------------------------------------------
def check_finite(owner: str, field: str, value: Any, low: float | None = None,
                 high: float | None = None, *, low_open: bool = False) -> float:
    """Return `value` as a Python float; raise if it is not a finite real within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}.{field}={value!r}: must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{owner}.{field}={value!r}: must be finite")
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        bracket = "(" if low_open else "["
        raise ValueError(f"{owner}.{field}={value!r}: must lie in {bracket}{low}, {high}]")
    return value


def check_int(owner: str, field: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """Return `value` as a Python int; raise if it is not an integer within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}.{field}={value!r}: must be an integer, got {type(value).__name__}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        rule = f"be ≥ {low}" if high is None else f"be ≤ {high}" if low is None else f"lie in [{low}, {high}]"
        raise ValueError(f"{owner}.{field}={value!r}: must {rule}")
    return value


def check_choice(owner: str, field: str, value: Any, choices: Sequence[Any]) -> Any:
    """Return `value` if it is one of `choices` (compared by value, bools excluded)."""
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{owner}.{field}={value!r}: must be one of {list(choices)}")
    return value


def check_vector(owner: str, field: str, value: Any, length: int, low: float | None = None,
                 high: float | None = None) -> tuple[float, ...]:
    """Return a fixed-length tuple of finite floats (tasks store tuples, never arrays: hashable)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{owner}.{field}={value!r}: must be a sequence of {length} numbers")
    if len(value) != length or (isinstance(value, np.ndarray) and value.ndim != 1):
        raise ValueError(f"{owner}.{field}={value!r}: must have shape ({length},)")
    return tuple(check_finite(owner, f"{field}[{i}]", v, low, high) for i, v in enumerate(value))


def check_seed(owner: str, seed: Any) -> int | None:
    """A reset seed as Gymnasium takes it: None or a Python int ≥ 0 (not a bool, not a numpy integer)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"{owner}: seed={seed!r} must be None or a Python int ≥ 0, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{owner}: seed={seed!r} must be ≥ 0")
    return seed


# --------------------------------------------------------------------------------------------
# Tasks and presets
# --------------------------------------------------------------------------------------------
def _to_json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_json_value(v) for v in value]
    return value


_MAX_TASK_NESTING = 8
"""task fields are numbers, strings or (nested) tuples of those; deeper lists are refused"""


def _from_json_value(value: Any, where: str, depth: int = 0) -> Any:
    if isinstance(value, list):
        if depth >= _MAX_TASK_NESTING:
            raise ValueError(f"{where}: lists nested deeper than {_MAX_TASK_NESTING} levels")
        return tuple(_from_json_value(v, where, depth + 1) for v in value)
    return value


class Task:
    """Base of every task dataclass (declare subclasses `@dataclass(frozen=True, slots=True)`).

    Fields hold JSON-native values only (floats, ints, strings, tuples of those), so value
    equality, hashing, pickling and `to_dict`/`from_dict` round-trips come for free.
    """

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _to_json_value(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls: type[TaskT], data: Mapping[str, Any]) -> TaskT:
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__}.from_dict: expected a mapping, got {type(data).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise TypeError(f"{cls.__name__}: unknown key {unknown[0]!r} (fields: {names})")
        missing = [n for n in names if n not in data]
        if missing:
            raise TypeError(f"{cls.__name__}: missing key {missing[0]!r}")
        return cls(**{k: _from_json_value(v, f"{cls.__name__}.{k}") for k, v in data.items()})


@dataclasses.dataclass(frozen=True, kw_only=True)
class Preset:
    """Protocol values pinned by one source code base; env families subclass it (kw_only too)."""

    horizon: int
    """steps per episode; the env truncates by itself at this count"""
    n_train_tasks: int
    """size of the fixed train `TaskSet`"""
    n_test_tasks: int
    """size of the fixed test `TaskSet`"""
    source: str
    """where these values come from (repository@commit:path or paper section)"""
    finite_family: bool = False
    """the task family is a short fixed list (directions ±1, a paper's 3 goals): the test set is
    then the whole family, scored on the tasks trained on, and cannot be disjoint from train"""

    def to_dict(self) -> dict[str, Any]:
        return {k: _to_json_value(v) for k, v in dataclasses.asdict(self).items()}


# --------------------------------------------------------------------------------------------
# Actions
# --------------------------------------------------------------------------------------------
def check_box_action(owner: str, action: Any, space: spaces.Box, batch: int | None = None) -> np.ndarray:
    """Return the action as float64; raise (never clip) if it is non-finite or outside `space`."""
    shape = space.shape if batch is None else (batch, *space.shape)
    try:
        raw = np.asarray(action)
    except (TypeError, ValueError) as error:  # ragged nesting
        raise TypeError(f"{owner}: action {action!r} is not a numeric array") from error
    if raw.dtype.kind not in "fiu":  # real numbers only: no strings, bools, complex or objects
        raise TypeError(f"{owner}: action {action!r} has dtype {raw.dtype}; it must hold real numbers")
    array = raw.astype(np.float64, copy=False)
    if array.shape != shape:
        raise ValueError(f"{owner}: action has shape {array.shape}, expected {shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{owner}: action {action!r} is not finite")
    if np.any(array < space.low) or np.any(array > space.high):
        raise ValueError(f"{owner}: action {action!r} is outside {space}")
    return array


def check_discrete_action(owner: str, action: Any, n: int, batch: int | None = None) -> np.ndarray:
    """Return the action(s) as int64; raise for non-integers or values outside {0..n-1}."""
    array = np.asarray(action)
    shape = () if batch is None else (batch,)
    if array.shape != shape:
        raise ValueError(f"{owner}: action has shape {array.shape}, expected {shape}")
    if array.dtype.kind not in "iu":  # signed or unsigned integers; bools are kind "b"
        raise TypeError(f"{owner}: action {action!r} must be an integer in Discrete({n})")
    if array.min() < 0 or array.max() >= n:
        raise ValueError(f"{owner}: action {action!r} is outside Discrete({n})")
    return array.astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------------
# The single-env mixin
# --------------------------------------------------------------------------------------------
class MetaEnv(gym.Env):
    """Task API of a single environment. Subclasses set `task_type` and `presets` and implement
    the classmethod `draw_tasks(preset, rng, n)` (and `task_family(preset)` for a finite family), and
    the hooks `_check_task_in_preset(task)` and `_on_task_change()`."""

    task_type: ClassVar[type[Task]]
    presets: ClassVar[Mapping[str, Preset]]

    def _init_meta(self, preset: str, task: Task | Mapping[str, Any] | None, horizon: int | None) -> None:
        """Call from `__init__` once the spaces exist: validates the preset, sets the horizon
        (the env truncates by itself, so `gym.make` needs no TimeLimit) and the first task."""
        if not isinstance(preset, str) or preset not in self.presets:
            raise ValueError(f"{type(self).__name__}: unknown preset {preset!r}; choose from {list(self.presets)}")
        self.preset_name = preset
        self.preset = self.presets[preset]
        self.horizon = self.preset.horizon if horizon is None else check_int(
            type(self).__name__, "horizon", horizon, 1)
        self._elapsed_steps: int | None = None
        self._task: Task | None = None
        self.set_task(task if task is not None else self.default_task())

    # ----- task API --------------------------------------------------------------------------
    def default_task(self) -> Task:
        """The task active before any `set_task`: the first task drawn with seed 0."""
        return self.draw_tasks(self.preset, np.random.default_rng(0), 1)[0]

    def sample_tasks(self, n: int) -> list[Task]:
        """Draw `n` tasks from the preset's distribution using this env's seeded `np_random`."""
        n = check_int(type(self).__name__, "sample_tasks.n", n, 0, MAX_SAMPLE_TASKS)
        return list(self.draw_tasks(self.preset, self.np_random, n))

    def set_task(self, task: Task | Mapping[str, Any]) -> None:
        """Make `task` active now (the model is rewritten at once); reset for a clean episode."""
        self._task = self.validate_task(task)
        self._on_task_change()

    def get_task(self) -> Task:
        return self._task  # type: ignore[return-value]

    def validate_task(self, task: Task | Mapping[str, Any]) -> Task:
        """Return `task` as this family's Task (dicts are parsed) or raise naming the field.

        A Task object is rebuilt from its fields, so its own validator runs even if it was made
        around it (`object.__setattr__`, a subclass without `__post_init__`)."""
        if not isinstance(task, (Mapping, self.task_type)):
            raise TypeError(f"{type(self).__name__}: task must be a {self.task_type.__name__}, "
                            f"got {type(task).__name__}")
        task = self.task_type.from_dict(task if isinstance(task, Mapping) else
                                        {f.name: getattr(task, f.name) for f in dataclasses.fields(self.task_type)})
        self._check_task_in_preset(task)
        return task

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=check_seed(f"{type(self).__name__}.reset", seed))
        if options:
            unknown = sorted(set(options) - {"task"})
            if unknown:
                raise ValueError(f"{type(self).__name__}.reset: unknown option {unknown[0]!r}")
            if "task" in options:
                self.set_task(options["task"])
        self._elapsed_steps = 0
        return None

    def _advance_clock(self, terminated: bool) -> bool:
        """Count one step (raising if `reset` never ran); return `truncated` at the horizon."""
        if self._elapsed_steps is None:
            raise RuntimeError(f"{type(self).__name__}: call reset() before step()")
        self._elapsed_steps += 1
        return bool(self._elapsed_steps >= self.horizon and not terminated)

    def close(self) -> None:
        from metarl_envs.rendering import close_window

        close_window(self)  # a render_mode="human" window, if one was opened
        super().close()

    def _require_reset(self) -> None:
        if self._elapsed_steps is None:
            raise RuntimeError(f"{type(self).__name__}: call reset() before step()")

    # ----- hooks -----------------------------------------------------------------------------
    @classmethod
    def draw_tasks(cls, preset: Preset, rng: np.random.Generator, n: int) -> Sequence[Task]:
        """Draw `n` tasks of `preset`'s distribution from `rng` (a classmethod, so task sets can
        be built without constructing the env, e.g. without mujoco)."""
        raise NotImplementedError

    @classmethod
    def task_family(cls, preset: Preset) -> Sequence[Task]:
        """Every task of a `finite_family` preset, in its documented order."""
        raise NotImplementedError(f"{cls.__name__}: preset is not a finite family")

    def _check_task_in_preset(self, task: Task) -> None:
        """Raise ValueError (naming the field and the preset) if `task` is outside the preset."""

    def _on_task_change(self) -> None:
        """Recompute whatever depends on the task (model fields, derived constants)."""


def task_field_error(owner: str, field: str, value: Any, preset: str, support: str) -> ValueError:
    return ValueError(f"{owner}.{field}={value!r}: outside preset {preset!r}, which draws from {support}")


def check_task_in_box(task: Task, fields: Sequence[str], low: Sequence[float], high: Sequence[float],
                      preset: str) -> None:
    """Raise `task_field_error` for the first field of `task` outside [low, high] (per field)."""
    for name, lo, hi in zip(fields, low, high, strict=True):
        value = getattr(task, name)
        if not lo <= value <= hi:
            raise task_field_error(type(task).__name__, name, value, preset, f"[{lo}, {hi}]")


# --------------------------------------------------------------------------------------------
# The native vector env base
# --------------------------------------------------------------------------------------------
class MetaVectorEnv(VectorEnv):
    """Batched env, one task per sub-env; subclasses write only the batched parts.

    Semantics match `gymnasium.vector.SyncVectorEnv` over the single env exactly: sub-env i is
    seeded with `seed + i`, starting states are drawn from sub-env i's own generator with the
    single env's function, a sub-env that ended is reset on the next step (`NEXT_STEP`
    autoreset, its action ignored, reward 0) and the episode is truncated at the preset horizon.

    Subclasses set `single_env_cls` and implement `_on_tasks_change()` (per-sub-env parameter
    arrays from `self.tasks`), `_reset_index(i, rng)` (write sub-env i's start state with the
    single env's function), `_step_batch(actions)` returning (reward, terminated, info arrays)
    for every sub-env, and `_observations()`. Sub-envs that restart this step are stepped too
    (their action is ignored) and then overwritten by `_reset_index` (or by `_reset_indices`,
    an optional batched override).
    """

    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}
    single_env_cls: ClassVar[type[MetaEnv]]

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None,
                 tasks: Sequence[Task] | None = None, **env_kwargs: Any):
        cls = type(self)
        self.num_envs = check_int(cls.__name__, "num_envs", num_envs, 1)
        # The single env validates every kwarg and owns the spaces, the task checks and sampling.
        self._template = self.single_env_cls(**env_kwargs)
        self.env_kwargs = dict(env_kwargs)
        self.preset_name = self._template.preset_name
        self.preset = self._template.preset
        self.horizon = self._template.horizon if max_episode_steps is None else check_int(
            cls.__name__, "max_episode_steps", max_episode_steps, 1)
        self.single_observation_space = self._template.observation_space
        self.single_action_space = self._template.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rngs: list[np.random.Generator] = [seeding.np_random()[0] for _ in range(self.num_envs)]
        self._elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._was_reset = False
        self._allocate_state()
        self.set_tasks(tasks if tasks is not None else [self._template.get_task()] * self.num_envs)

    # ----- task API --------------------------------------------------------------------------
    def sample_tasks(self, n: int) -> list[Task]:
        n = check_int(type(self).__name__, "sample_tasks.n", n, 0, MAX_SAMPLE_TASKS)
        return list(self._template.draw_tasks(self.preset, self.np_random, n))

    def set_tasks(self, tasks: Sequence[Task | Mapping[str, Any]]) -> None:
        """One task per sub-env, in order; active at once, like the single env's `set_task`
        (reset for a clean episode)."""
        if isinstance(tasks, (Task, Mapping)) or len(tasks) != self.num_envs:
            raise ValueError(f"{type(self).__name__}.set_tasks: need a sequence of {self.num_envs} tasks")
        self.tasks = tuple(self._template.validate_task(t) for t in tasks)
        self._on_tasks_change()

    def get_tasks(self) -> tuple[Task, ...]:
        return self.tasks

    def _allocate_state(self) -> None:
        """Create the per-sub-env state arrays (called once, before the first `set_tasks`)."""
        raise NotImplementedError

    def _on_tasks_change(self) -> None:
        """Rebuild per-sub-env parameter arrays from `self.tasks`."""
        raise NotImplementedError

    # ----- Gymnasium vector API --------------------------------------------------------------
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        owner = f"{type(self).__name__}.reset"
        if isinstance(seed, (list, tuple)):
            seeds: Sequence[int | None] = [check_seed(owner, s) for s in seed]
            if len(seeds) != self.num_envs:
                raise ValueError(f"{owner}: need {self.num_envs} seeds, got {len(seeds)}")
        elif check_seed(owner, seed) is None:
            seeds = [None] * self.num_envs
        else:
            seeds = [seed + i for i in range(self.num_envs)]
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        for i, sub_seed in enumerate(seeds):
            if sub_seed is not None or not self._was_reset:
                self._rngs[i] = seeding.np_random(sub_seed)[0]
        mask = np.ones(self.num_envs, dtype=bool)
        if options:
            unknown = sorted(set(options) - {"tasks", "reset_mask"})
            if unknown:
                raise ValueError(f"{owner}: unknown option {unknown[0]!r}")
            if "reset_mask" in options:
                mask = self._check_reset_mask(options["reset_mask"])
            if "tasks" in options:
                self.set_tasks(options["tasks"])
        self._reset_indices(np.flatnonzero(mask))
        self._elapsed[mask] = 0
        self._needs_reset[mask] = False
        self._was_reset = True
        return self._observations(), {}

    def _check_reset_mask(self, mask: Any) -> np.ndarray:
        """`options["reset_mask"]` checked as Gymnasium's vector envs do (a bool array of shape
        (num_envs,) with a True), and on the first reset it must reset every sub-env."""
        owner = f"{type(self).__name__}.reset: options['reset_mask']"
        if not isinstance(mask, np.ndarray):
            raise TypeError(f"{owner} must be a numpy array, got {type(mask).__name__}")
        if mask.shape != (self.num_envs,):
            raise ValueError(f"{owner} must have shape ({self.num_envs},), got {mask.shape}")
        if mask.dtype != np.bool_:
            raise TypeError(f"{owner} must have dtype bool, got {mask.dtype}")
        if not mask.any():
            raise ValueError(f"{owner} must hold at least one True value")
        if not self._was_reset and not mask.all():
            raise ValueError(f"{owner}: the first reset must reset every sub-env, got {mask}")
        return mask

    def step(self, actions: Any):
        if not self._was_reset:
            raise RuntimeError(f"{type(self).__name__}: call reset() before step()")
        actions = self._check_actions(actions)
        restarting = self._needs_reset  # replaced (never mutated) below
        reward, terminated, info = self._step_batch(actions)
        if restarting.any():
            self._reset_indices(np.flatnonzero(restarting))
        stepped = ~restarting  # Gymnasium's vector info: each key has a `_key` mask of valid entries
        reward = np.where(restarting, 0.0, reward)
        terminated = terminated & stepped
        self._elapsed = (self._elapsed + 1) * stepped  # a restarting sub-env's clock goes back to 0
        truncated = (self._elapsed >= self.horizon) & ~terminated  # horizon >= 1: restarting never truncates
        self._needs_reset = terminated | truncated
        if info:
            info = {**info, **{f"_{key}": stepped for key in info}}
        return self._observations(), reward, terminated, truncated, info

    def _check_actions(self, actions: Any) -> np.ndarray:
        space = self.single_action_space
        owner = f"{type(self).__name__}.step"
        if isinstance(space, spaces.Discrete):
            return check_discrete_action(owner, actions, int(space.n), batch=self.num_envs)
        return check_box_action(owner, actions, space, batch=self.num_envs)

    # ----- hooks -----------------------------------------------------------------------------
    def _reset_index(self, i: int, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def _reset_indices(self, indices: np.ndarray) -> None:
        """Reset the sub-envs `indices` (ascending), each from its own generator. Override to
        batch the writes (the draws stay one per generator, in this order); default: one
        `_reset_index` call each."""
        for i in indices:
            self._reset_index(int(i), self._rngs[i])

    def _step_batch(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        raise NotImplementedError

    def _observations(self) -> np.ndarray:
        raise NotImplementedError
