"""CartPole whose physical parameters are the task (pMeta-RL's CartPole family).

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`CartPoleParamsEnv`: `help(CartPoleParamsEnv)` shows it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from metarl_envs.classic.physics_params import PhysicsParamsEnv, PhysicsParamsVectorEnv, PhysicsTask
from metarl_envs.core import Preset, check_choice, check_discrete_action
from metarl_envs.rendering import RENDER_MODES, draw_disc, draw_gauges, draw_segment, present

__all__ = ["CartPoleParamsEnv", "CartPoleParamsPreset", "CartPoleParamsTask", "CartPoleParamsVectorEnv",
           "cartpole_dynamics"]

TAU = 0.02
"""seconds per step (Gymnasium's `tau`, explicit Euler)"""
THETA_THRESHOLD = 12 * 2 * math.pi / 360
"""terminate when |pole angle| exceeds 12° (written as Gymnasium writes it, to match its float)"""
X_THRESHOLD = 2.4
_THRESHOLDS = np.array([[X_THRESHOLD], [THETA_THRESHOLD]])
_PUSH_SIGN = np.array([-1.0, 1.0])
"""action 0 pushes left, 1 right"""
FIELDS = ("force_mag", "pole_mass", "half_pole_length", "cart_mass", "gravity")


@dataclasses.dataclass(frozen=True, slots=True)
class CartPoleParamsTask(PhysicsTask):
    """CartPole physics. `half_pole_length` is half the pole (Gymnasium's `length`)."""

    force_mag: float
    pole_mass: float
    half_pole_length: float
    cart_mass: float = 1.0
    gravity: float = 9.8

    @property
    def total_mass(self) -> float:
        return self.pole_mass + self.cart_mass

    @property
    def pole_mass_length(self) -> float:
        return self.pole_mass * self.half_pole_length


@dataclasses.dataclass(frozen=True, kw_only=True)
class CartPoleParamsPreset(Preset):
    low: tuple[float, ...]
    """per field (order of `FIELDS`): smallest accepted value"""
    high: tuple[float, ...]
    """per field: largest accepted value"""
    family: tuple[tuple[float, ...], ...] = ()
    """the tasks of a finite family, in the source's order (rows in `FIELDS` order)"""


# pMeta-RL Table I, task1..task5; cart mass and gravity are the Gymnasium defaults (not varied).
_PMETA_FAMILY = ((20.0, 0.1, 0.5, 1.0, 9.8), (1.0, 0.1, 0.5, 1.0, 9.8), (10.0, 1.0, 0.5, 1.0, 9.8),
                 (10.0, 0.01, 0.5, 1.0, 9.8), (10.0, 0.1, 0.05, 1.0, 9.8))

PRESETS: dict[str, CartPoleParamsPreset] = {
    "pmeta": CartPoleParamsPreset(
        horizon=200, n_train_tasks=5, n_test_tasks=5, finite_family=True, family=_PMETA_FAMILY,
        low=tuple(min(column) for column in zip(*_PMETA_FAMILY, strict=True)),
        high=tuple(max(column) for column in zip(*_PMETA_FAMILY, strict=True)),
        source="pMeta-RL Table I (docs/sources/pmetarl.md §2.2); Gymnasium CartPole-v0",
    ),
    "carl": CartPoleParamsPreset(
        horizon=200, n_train_tasks=100, n_test_tasks=20,
        low=(1.0, 0.01, 0.05, 0.1, 0.98), high=(100.0, 1.0, 5.0, 10.0, 98.0),
        source="automl/CARL:carl/envs/gymnasium/classic_control/carl_cartpole.py (bounds; log-uniform here)",
    ),
}


START_LOW, START_HIGH = -0.05, 0.05


def start_states(rngs: Sequence[np.random.Generator]) -> np.ndarray:
    """Gymnasium's CartPole start U[-0.05, 0.05]^4 for each generator, shape (len(rngs), 4).

    Gymnasium calls `rng.uniform(-0.05, 0.05, size=(4,))`, which NumPy computes as
    `low + (high - low) * rng.random(4)`; drawing `random(4)` per generator and mapping all rows
    at once consumes the same stream and gives the same floats (the Gymnasium-equality tests
    check it), without a `uniform` call per restarting sub-env."""
    unit = np.array([rng.random(4) for rng in rngs]).reshape(len(rngs), 4)
    return START_LOW + (START_HIGH - START_LOW) * unit


def cartpole_dynamics(state: np.ndarray, action: np.ndarray,
                      params: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One Euler step of Gymnasium's CartPole over a batch: state (4, n) (rows x, x_dot, theta,
    theta_dot: contiguous rows keep the ufuncs fast), action (n,) in {0, 1}, params =
    `parameter_arrays(...)`. Returns (state', terminated). The operations and their order are
    Gymnasium's, so n = 1 with the nominal task reproduces its floats bit for bit."""
    force_mag, pole_mass, half_pole_length, cart_mass, gravity = params
    total_mass = pole_mass + cart_mass  # derived here, every step (R6)
    pole_mass_length = pole_mass * half_pole_length
    _, x_dot, theta, theta_dot = state
    force = _PUSH_SIGN[action] * force_mag  # ±force_mag exactly
    cos_theta = np.cos(theta)
    sin_theta = np.sin(theta)
    temp = (force + pole_mass_length * np.square(theta_dot) * sin_theta) / total_mass
    theta_acc = (gravity * sin_theta - cos_theta * temp) / (
        half_pole_length * (4.0 / 3.0 - pole_mass * np.square(cos_theta) / total_mass))
    x_acc = temp - pole_mass_length * theta_acc * cos_theta / total_mass
    # Euler: every variable + tau × its derivative, elementwise as Gymnasium's four lines
    new_state = state + TAU * np.stack((x_dot, x_acc, theta_dot, theta_acc))
    terminated = (np.abs(new_state[::2]) > _THRESHOLDS).any(axis=0)  # |x| > 2.4 or |theta| > 12°
    return new_state, terminated


class CartPoleParamsEnv(PhysicsParamsEnv):
    """CartPole whose physical parameters are the task (pMeta-RL's CartPole family).

    ## Description
    Gymnasium's CartPole (Barto, Sutton & Anderson 1983): a pole is hinged on a cart that moves on a
    frictionless track; the agent pushes the cart left or right to keep the pole upright. The task is
    the physics: push force, pole mass, half pole length, cart mass and gravity. The tasks differ in
    their transition function only (pMeta-RL §V-A), so the agent must infer the physics from motion.

    ## Task distribution
    | preset | tasks ~                             | horizon | train / test | obs | scored episodes                   |
    |--------|-------------------------------------|---------|--------------|-----|-----------------------------------|
    | pmeta  | the 5 variants of Table I (below)   | 200     | 5 / 5        | 4-D | best average return in training   |
    | carl   | each field log-uniform in its range | 200     | 100 / 20     | 4-D | mean return on fresh test tasks   |

    "best average return in training": pMeta-RL Table V.

    | field            | pmeta task1..task5   | carl ~            | Gymnasium default |
    |------------------|----------------------|-------------------|-------------------|
    | force_mag        | 20, 1, 10, 10, 10    | log-U[1, 100]     | 10.0              |
    | pole_mass        | 0.1, 0.1, 1, 0.01, 0.1 | log-U[0.01, 1]  | 0.1               |
    | half_pole_length | 0.5, 0.5, 0.5, 0.5, 0.05 | log-U[0.05, 5] | 0.5               |
    | cart_mass        | 1, 1, 1, 1, 1        | log-U[0.1, 10]    | 1.0               |
    | gravity          | 9.8, 9.8, 9.8, 9.8, 9.8 | log-U[0.98, 98] | 9.8              |

    - `pmeta` is a finite family of 5 tasks (pMeta-RL Table I, task1..task5, in that order); each
      changes one Gymnasium default. It has no train/test split: `task_set` train = test = the 5
      tasks (5 and 5). A task is accepted if each field lies within the family's range (the table's
      min..max per column), so the Gymnasium nominal task (10.0, 0.1, 0.5, 1.0, 9.8) is usable too.
    - `carl` draws each field independently and log-uniformly within CARL's context bounds
      (automl/CARL `carl_cartpole.py`: default ×/÷ 10 for masses, length and force). CARL bounds
      gravity only below (0.1, ∞); here it is ×/÷ 10 around 9.8 like the other fields. Task sets:
      100 train / 20 test. The horizon is CartPole-v0's 200, as in `pmeta`, so returns compare.
      CARL's context also has the time step `tau` (default 0.02 s, bounds [0.002, 0.2]) and the
      start-state bounds (default ±0.1); `carl` leaves them out: tau stays Gymnasium's 0.02 s
      (a task with another tau would change the time a 200-step episode covers) and the start
      state Gymnasium's U[−0.05, 0.05].
    - Derived quantities (total mass, pole mass × half length) are never stored: they are
      `CartPoleParamsTask` properties and are recomputed inside the dynamics at every step, so a task
      change can never leave a stale value behind (the Gymnasium/gymnax `total_mass` trap).

    ## Action Space
    `Discrete(2)`: 0 pushes the cart left with `force_mag`, 1 pushes it right.

    ## Observation Space
    `Box(float32)` of shape (4,): cart position (±4.8), cart velocity (±inf), pole angle (±0.419 rad),
    pole angular velocity (±inf), as Gymnasium's CartPole. The task is not observed.

    ## Rewards
    +1 for every step taken, including the terminating step (Gymnasium's CartPole), so the return
    is at most the horizon (200).

    ## Starting State
    Every state variable ~ U[-0.05, 0.05] from the env's `np_random`, the same draws and floats as
    Gymnasium's `np_random.uniform(-0.05, 0.05, size=(4,))`: with the nominal task a seed gives
    Gymnasium's trajectory exactly.

    ## Episode End
    - Termination: |pole angle| > 12° (0.2095 rad) or |cart position| > 2.4.
    - Truncation: after `horizon` steps (preset: 200, CartPole-v0's limit).

    ## Arguments
    | argument | default | meaning |
    |----------|---------|---------|
    | preset   | "pmeta" | protocol preset (table above) |
    | task     | None    | initial task (`CartPoleParamsTask` or its dict); default: the first task drawn with seed 0 |
    | horizon  | None    | steps before truncation; None takes the preset's |
    | render_mode | None | None, "rgb_array" (600×400: cart, pole at its length, task gauges) or "human" |

    ## Vectorized environment
    `gym.make_vec("MetaRL/CartPoleParams-v0", num_envs=n, vectorization_mode="vector_entry_point")`
    gives `CartPoleParamsVectorEnv`: one task per sub-env (`set_tasks`), the same `cartpole_dynamics`.

    ## Sources
    - Farama-Foundation/Gymnasium@v1.4.0:gymnasium/envs/classic_control/cartpole.py (dynamics, Euler
      integration with tau = 0.02, thresholds, start state, reward)
    - pMeta-RL, Table I and §V-A (the five variants; CartPole-v0, 200 steps) — docs/sources/pmetarl.md §2.2
    - automl/CARL:carl/envs/gymnasium/classic_control/carl_cartpole.py (context bounds of `carl`)

    ## Version History
    - v0: initial release.

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> env = gym.make("MetaRL/CartPoleParams-v0", task={"force_mag": 20.0, "pole_mass": 0.1,
        ...                "half_pole_length": 0.5, "cart_mass": 1.0, "gravity": 9.8})
        >>> obs, info = env.reset(seed=0)
        >>> [round(float(v), 4) for v in obs]
        [0.0137, -0.023, -0.0459, -0.0483]
        >>> env.unwrapped.get_task().total_mass
        1.1
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array", "human"], "render_fps": 50}
    task_type = CartPoleParamsTask
    presets = PRESETS

    def __init__(self, preset: str = "pmeta", task: CartPoleParamsTask | dict | None = None,
                 horizon: int | None = None, render_mode: str | None = None):
        self.render_mode = check_choice("CartPoleParamsEnv", "render_mode", render_mode, RENDER_MODES)
        high = np.array([X_THRESHOLD * 2, np.inf, THETA_THRESHOLD * 2, np.inf], dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(-high, high, dtype=np.float32)
        self._state = np.zeros((4, 1))
        self._init_meta(preset, task, horizon)

    @classmethod
    def draw_box_tasks(cls, preset: CartPoleParamsPreset, rng: np.random.Generator,
                       n: int) -> Sequence[CartPoleParamsTask]:
        values = np.exp(rng.uniform(np.log(preset.low), np.log(preset.high), size=(n, len(FIELDS))))
        return [CartPoleParamsTask(*row) for row in values.tolist()]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed, options=options)
        self._state = start_states([self.np_random]).T
        return self._state[:, 0].astype(np.float32), {}

    def step(self, action: Any):
        self._require_reset()
        action = check_discrete_action("CartPoleParamsEnv.step", action, 2)
        self._state, terminated = cartpole_dynamics(self._state, action[None], self._params)
        truncated = self._advance_clock(bool(terminated[0]))
        return self._state[:, 0].astype(np.float32), 1.0, bool(terminated[0]), truncated, {}

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        return present(self, render_cartpole(self._state[:, 0], self._task))


class CartPoleParamsVectorEnv(PhysicsParamsVectorEnv):
    """Sub-env i draws its start states from its own generator, the same doubles in the same order
    as the single env, but `RESETS_PER_DRAW` starts at a time (one `random((R, 4))` call gives the
    values of R successive `random(4)` calls), so an autoreset costs no Python call per sub-env.
    A generator replaced by `reset(seed=...)` drops its unused block."""

    single_env_cls = CartPoleParamsEnv
    RESETS_PER_DRAW = 64

    def _allocate_state(self) -> None:
        self._state = np.zeros((4, self.num_envs))
        self._reward = np.ones(self.num_envs)
        self._unit_block = np.zeros((self.num_envs, self.RESETS_PER_DRAW, 4))
        self._next_row = np.full(self.num_envs, self.RESETS_PER_DRAW)  # all blocks empty
        self._block_rng: list[np.random.Generator | None] = [None] * self.num_envs
        self._generators_may_change = True

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        self._generators_may_change = True  # checked once, in the `_reset_indices` call of this reset
        return super().reset(seed=seed, options=options)

    def _reset_index(self, i: int, rng: np.random.Generator) -> None:
        self._reset_indices(np.array([i]))

    def _reset_indices(self, indices: np.ndarray) -> None:
        if self._generators_may_change:
            for i, rng in enumerate(self._rngs):
                if self._block_rng[i] is not rng:
                    self._next_row[i] = self.RESETS_PER_DRAW
            self._generators_may_change = False
        for i in indices[self._next_row[indices] >= self.RESETS_PER_DRAW]:
            self._unit_block[i] = self._rngs[i].random((self.RESETS_PER_DRAW, 4))
            self._next_row[i] = 0
            self._block_rng[i] = self._rngs[i]
        unit = self._unit_block[indices, self._next_row[indices]]
        self._state[:, indices] = (START_LOW + (START_HIGH - START_LOW) * unit).T  # as `start_states`
        self._next_row[indices] += 1

    def _step_batch(self, actions: np.ndarray):
        self._state, terminated = cartpole_dynamics(self._state, actions, self._params)
        return self._reward, terminated, {}

    def _observations(self) -> np.ndarray:
        return self._state.T.astype(np.float32)


GAUGE_LOW = (1.0, 0.01, 0.05, 0.1, 0.98)
GAUGE_HIGH = (100.0, 1.0, 5.0, 10.0, 98.0)
"""log-scale ends of the task gauges (Gymnasium's defaults ÷ and × 10, `FIELDS` order)"""


def render_cartpole(state: np.ndarray, task: CartPoleParamsTask, width: int = 600, height: int = 400) -> np.ndarray:
    """An RGB image: the track, the cart (black), the pole (brown) at the state's angle and at its
    true length (2 × half_pole_length, clipped to the frame; thicker for a heavier pole), and at the
    top left one gauge per task field (force_mag, pole_mass, half_pole_length, cart_mass, gravity,
    top to bottom) on a log scale from a tenth to ten times Gymnasium's default."""
    image = np.full((height, width, 3), 255, dtype=np.uint8)
    scale = width / (2 * X_THRESHOLD)  # pixels per metre
    track_y = int(height * 0.75)
    image[track_y:track_y + 2, :] = 0
    cart_x, cart_half_width, cart_height = state[0] * scale + width / 2, 25, 30
    left, right = int(np.rint(cart_x - cart_half_width)), int(np.rint(cart_x + cart_half_width))
    image[track_y - cart_height:track_y, max(left, 0):max(min(right, width), 0)] = 0
    axle = (cart_x, track_y - cart_height)
    tip = (axle[0] + 2 * task.half_pole_length * scale * np.sin(state[2]),
           axle[1] - 2 * task.half_pole_length * scale * np.cos(state[2]))
    thickness = float(np.clip(8 + 3 * np.log10(task.pole_mass / 0.1), 3, 14))
    draw_segment(image, axle, tip, (202, 152, 101), thickness)
    draw_disc(image, axle[0], axle[1], 4, (129, 132, 203))
    draw_gauges(image, [getattr(task, name) for name in FIELDS], GAUGE_LOW, GAUGE_HIGH)
    return image
