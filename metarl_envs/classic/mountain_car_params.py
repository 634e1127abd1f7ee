"""MountainCar whose track slope, force and gravity are the task (pMeta-RL's MountainCar family).

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`MountainCarParamsEnv`: `help(MountainCarParamsEnv)` shows it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from metarl_envs.classic.physics_params import PhysicsParamsEnv, PhysicsParamsVectorEnv, PhysicsTask
from metarl_envs.core import Preset, check_choice, check_discrete_action
from metarl_envs.rendering import RENDER_MODES, present

__all__ = ["MountainCarParamsEnv", "MountainCarParamsPreset", "MountainCarParamsTask",
           "MountainCarParamsVectorEnv", "mountain_car_dynamics"]

MIN_POSITION, MAX_POSITION = -1.2, 0.6
MAX_SPEED = 0.07
GOAL_POSITION, GOAL_VELOCITY = 0.5, 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class MountainCarParamsTask(PhysicsTask):
    """Track slope ζ (in cos(ζ·x)), engine force and gravity of one MountainCar task."""

    slope: float
    force: float = 0.001
    gravity: float = 0.0025


@dataclasses.dataclass(frozen=True, kw_only=True)
class MountainCarParamsPreset(Preset):
    family: tuple[tuple[float, float, float], ...]
    """the tasks of the finite family, in the source's order (rows in the task's field order: slope, force, gravity)"""

    @property
    def low(self) -> tuple[float, ...]:
        return tuple(min(column) for column in zip(*self.family, strict=True))

    @property
    def high(self) -> tuple[float, ...]:
        return tuple(max(column) for column in zip(*self.family, strict=True))


PRESETS: dict[str, MountainCarParamsPreset] = {
    "pmeta": MountainCarParamsPreset(
        horizon=200, n_train_tasks=5, n_test_tasks=5, finite_family=True,
        family=tuple((slope, 0.001, 0.0025) for slope in (3.0, 3.5, 4.0, 4.5, 5.0)),
        source="pMeta-RL Table I and eq. 15 (docs/sources/pmetarl.md §2.2); Gymnasium MountainCar-v0",
    ),
}


START_LOW, START_HIGH = -0.6, -0.4


def start_states(rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """Gymnasium's MountainCar start for each generator, shape (len(rngs), 2): position
    ~ U[-0.6, -0.4] (one scalar draw each), velocity 0. NumPy's `uniform(low, high)`, Gymnasium's
    call, is `low + (high - low) * random()`; mapping all draws at once gives the same floats."""
    unit = np.array([rng.random() for rng in rngs], dtype=np.float64)
    states = np.zeros((len(rngs), 2))
    states[:, 0] = START_LOW + (START_HIGH - START_LOW) * unit
    return states


def mountain_car_dynamics(state: np.ndarray, action: np.ndarray,
                          params: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One step over a batch: state (n, 2) = (position, velocity), action (n,) in {0, 1, 2},
    params = `parameter_arrays(...)`. Returns (state', terminated). Gymnasium's operations in Gymnasium's
    order, so slope 3 reproduces its floats bit for bit."""
    slope, force, gravity = params
    position, velocity = state[:, 0], state[:, 1]
    velocity = velocity + ((action - 1) * force + np.cos(slope * position) * (-gravity))
    velocity = np.clip(velocity, -MAX_SPEED, MAX_SPEED)
    position = np.clip(position + velocity, MIN_POSITION, MAX_POSITION)
    velocity[(position == MIN_POSITION) & (velocity < 0)] = 0.0  # inelastic left wall
    terminated = (position >= GOAL_POSITION) & (velocity >= GOAL_VELOCITY)
    return np.stack((position, velocity), axis=1), terminated


class MountainCarParamsEnv(PhysicsParamsEnv):
    """MountainCar whose track slope, force and gravity are the task (pMeta-RL's MountainCar family).

    ## Description
    Gymnasium's MountainCar (Moore 1990): an under-powered car in a valley must rock back and forth
    to reach the flag on the right hill. The task is the physics of the velocity update

        v' = v + (a − 1)·force − cos(slope·x)·gravity,      x' = x + v'

    where `slope` is pMeta-RL's track "inclination" ζ (Gymnasium hard-codes 3). The tasks differ in
    their transition function only (pMeta-RL §V-A, eq. 15).

    ## Task distribution
    | preset | slope ζ ~         | force | gravity | horizon | train / test | obs | scored episodes                 |
    |--------|-------------------|-------|---------|---------|--------------|-----|---------------------------------|
    | pmeta  | 3, 3.5, 4, 4.5, 5 | 0.001 | 0.0025  | 200     | 5 / 5        | 2-D | best average return in training |

    "best average return in training": pMeta-RL Table V.

    - `pmeta` is a finite family of 5 tasks (pMeta-RL Table I, task1..task5, in that order; task1 is
      Gymnasium's MountainCar-v0). Table I lists force and gravity per task too, but gives every task
      the Gymnasium values 0.001 and 0.0025: only ζ varies. The fields exist so that other families
      can vary them. No train/test split: `task_set` train = test = the 5 tasks (5 and 5). A task is
      accepted if each field lies within the family's range (slope in [3.0, 5.0], force 0.001,
      gravity 0.0025).
    - With ζ ≠ 3 the valley bottom moves to x = −π/(2ζ) but, as in the paper, the start
      distribution, the walls and the goal stay at Gymnasium's values.

    ## Action Space
    `Discrete(3)`: 0 accelerates left, 1 does not push, 2 accelerates right (Gymnasium's labels;
    the paper's text mislabels them, docs/sources/pmetarl.md §2.2 erratum).

    ## Observation Space
    `Box(float32)` of shape (2,): position in [−1.2, 0.6], velocity in [−0.07, 0.07]. The task is not
    observed.

    ## Rewards
    −1 for every step (Gymnasium's MountainCar-v0), so the return lies in [−200, −1].

    ## Starting State
    Position ~ U[−0.6, −0.4] (one draw from `np_random`, the same float as Gymnasium's
    `np_random.uniform(-0.6, -0.4)`), velocity 0: with slope 3 a seed gives Gymnasium's
    MountainCar-v0 trajectory exactly.

    ## Episode End
    - Termination: position ≥ 0.5 and velocity ≥ 0 (the flag). Velocity is clipped to ±0.07 and
      position to [−1.2, 0.6]; at the left wall a negative velocity is set to 0.
    - Truncation: after `horizon` steps (preset: 200, MountainCar-v0's limit).

    ## Arguments
    | argument | default | meaning |
    |----------|---------|---------|
    | preset   | "pmeta" | protocol preset (table above) |
    | task     | None    | initial task (`MountainCarParamsTask` or its dict); default: the first task of seed 0 |
    | horizon  | None    | steps before truncation; None takes the preset's |
    | render_mode | None | None, "rgb_array" (600×400: the task's track, the car, the flag) or "human" |

    ## Vectorized environment
    `gym.make_vec("MetaRL/MountainCarParams-v0", num_envs=n, vectorization_mode="vector_entry_point")`
    gives `MountainCarParamsVectorEnv`: one task per sub-env (`set_tasks`), the same
    `mountain_car_dynamics`.

    ## Sources
    - Farama-Foundation/Gymnasium@v1.4.0:gymnasium/envs/classic_control/mountain_car.py (dynamics,
      clipping, start, reward, goal)
    - pMeta-RL, eq. 15, Table I and §V-A (ζ values; MountainCar-v0, 200 steps) — docs/sources/pmetarl.md §2.2

    ## Version History
    - v0: initial release.

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> env = gym.make("MetaRL/MountainCarParams-v0", task={"slope": 4.5, "force": 0.001, "gravity": 0.0025})
        >>> obs, info = env.reset(seed=0)
        >>> obs, reward, terminated, truncated, info = env.step(2)
        >>> reward, round(float(obs[1]), 6)
        (-1.0, 0.002319)
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array", "human"], "render_fps": 30}
    task_type = MountainCarParamsTask
    presets = PRESETS

    def __init__(self, preset: str = "pmeta", task: MountainCarParamsTask | dict | None = None,
                 horizon: int | None = None, render_mode: str | None = None):
        self.render_mode = check_choice("MountainCarParamsEnv", "render_mode", render_mode, RENDER_MODES)
        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Box(np.array([MIN_POSITION, -MAX_SPEED], dtype=np.float32),
                                            np.array([MAX_POSITION, MAX_SPEED], dtype=np.float32), dtype=np.float32)
        self._state = np.zeros((1, 2))
        self._init_meta(preset, task, horizon)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed, options=options)
        self._state = start_states([self.np_random])
        return self._state[0].astype(np.float32), {}

    def step(self, action: Any):
        self._require_reset()
        action = check_discrete_action("MountainCarParamsEnv.step", action, 3)
        self._state, terminated = mountain_car_dynamics(self._state, action[None], self._params)
        truncated = self._advance_clock(bool(terminated[0]))
        return self._state[0].astype(np.float32), -1.0, bool(terminated[0]), truncated, {}

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        return present(self, render_mountain_car(self._state[0, 0], self._task.slope))


class MountainCarParamsVectorEnv(PhysicsParamsVectorEnv):
    single_env_cls = MountainCarParamsEnv

    def _allocate_state(self) -> None:
        self._state = np.zeros((self.num_envs, 2))
        self._reward = np.full(self.num_envs, -1.0)

    def _reset_index(self, i: int, rng: np.random.Generator) -> None:
        self._state[i] = start_states([rng])[0]

    def _reset_indices(self, indices: np.ndarray) -> None:
        self._state[indices] = start_states([self._rngs[i] for i in indices])

    def _step_batch(self, actions: np.ndarray):
        self._state, terminated = mountain_car_dynamics(self._state, actions, self._params)
        return self._reward, terminated, {}

    def _observations(self) -> np.ndarray:
        return self._state.astype(np.float32)


def render_mountain_car(position: float, slope: float, width: int = 600, height: int = 400) -> np.ndarray:
    """A small RGB image: the track height sin(slope·x)·0.45 + 0.55 (Gymnasium's drawing with its 3
    replaced by the task's slope), the flag at the goal (red) and the car (blue)."""
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    xs = np.linspace(MIN_POSITION, MAX_POSITION, width)

    def to_row(x: np.ndarray | float) -> np.ndarray:
        track = np.sin(slope * np.asarray(x)) * 0.45 + 0.55
        return np.clip(np.rint((1.0 - track / 1.1) * (height - 1)), 0, height - 1).astype(int)

    for offset in (0, 1, 2):  # a 3-pixel track
        image[np.clip(to_row(xs) + offset, 0, height - 1), np.arange(width)] = 0
    def to_col(x: float) -> int:
        return int(np.rint((x - MIN_POSITION) / (MAX_POSITION - MIN_POSITION) * (width - 1)))

    flag_col, flag_row = to_col(GOAL_POSITION), int(to_row(GOAL_POSITION))
    image[max(flag_row - 50, 0):flag_row, flag_col:flag_col + 3] = (60, 60, 60)
    image[max(flag_row - 50, 0):max(flag_row - 35, 0), flag_col + 3:flag_col + 28] = (200, 30, 30)
    car_col, car_row = to_col(position), int(to_row(position))
    image[max(car_row - 16, 0):car_row + 1, max(car_col - 14, 0):car_col + 15] = (0, 90, 200)
    return image
