"""2-D point navigation with a hidden goal (MAML's "2D navigation").

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`Navigation2DEnv`: `help(Navigation2DEnv)` shows it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from metarl_envs.core import MetaEnv, MetaVectorEnv, Preset, Task, check_box_action, check_choice, check_vector
from metarl_envs.rendering import RENDER_MODES, draw_disc, draw_segment, present

__all__ = ["GoalTask2D", "Navigation2DEnv", "Navigation2DPreset", "Navigation2DVectorEnv", "PointGoalEnv",
           "PointGoalVectorEnv"]


@dataclasses.dataclass(frozen=True, slots=True)
class GoalTask2D(Task):
    """A goal position (x, y)."""

    goal: tuple[float, float]

    def __post_init__(self) -> None:
        object.__setattr__(self, "goal", check_vector("GoalTask2D", "goal", self.goal, 2))


@dataclasses.dataclass(frozen=True, kw_only=True)
class Navigation2DPreset(Preset):
    goal_low: float
    goal_high: float
    max_action: float
    success_tolerance: float
    """terminate when both |dx| and |dy| are below this"""
    wall: float | None = None
    """walls at ±wall: the position is clipped to [−wall, wall]² after every move, and that square
    is the observation box (SG-MRL's point env); None: the open plane (MAML's)"""


PRESETS: dict[str, Navigation2DPreset] = {
    "maml": Navigation2DPreset(
        horizon=100, n_train_tasks=1000, n_test_tasks=40, goal_low=-0.5, goal_high=0.5,
        max_action=0.1, success_tolerance=0.01,
        source="cbfinn/maml_rl@9c8e2eb:maml_examples/point_env_randgoal.py",
    ),
    "sgmrl": Navigation2DPreset(
        horizon=100, n_train_tasks=1000, n_test_tasks=40, goal_low=-0.5, goal_high=0.5,
        max_action=0.1, success_tolerance=0.01, wall=0.5,
        source="kristian-georgiev/SGMRL@7286d21:maml_zoo/envs/point_envs/point_env_2d_v2.py",
    ),
}


def navigation_step(position: np.ndarray, action: np.ndarray, goal: np.ndarray, squared: bool,
                    tolerance: float, wall: float | None = None,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batched dynamics over (n, 2) arrays: returns (position', reward, terminated, distance).
    With `wall`, the moved position is clipped to [−wall, wall]² before the reward is computed."""
    position = position + action
    if wall is not None:
        position = np.clip(position, -wall, wall)
    offset = position - goal
    distance = np.sqrt(np.sum(offset**2, axis=1))
    reward = -(distance**2) if squared else -distance
    terminated = np.all(np.abs(offset) < tolerance, axis=1)
    return position, reward, terminated, distance


class PointGoalEnv(MetaEnv):
    """The 2-D point envs' shared state: a point that starts every episode at the origin and is observed
    as its position (float32), and the task's `goal` as the (1, 2) array the env's step kernel reads.
    A subclass builds its spaces, sets `_position = np.zeros((1, 2))` and writes `step`."""

    _position: np.ndarray

    def _on_task_change(self) -> None:
        self._goal = np.asarray([self._task.goal])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed, options=options)
        self._position = np.zeros((1, 2))
        return self._observation(), {}

    def _observation(self) -> np.ndarray:
        return self._position[0].astype(np.float32)


class PointGoalVectorEnv(MetaVectorEnv):
    """`PointGoalEnv`'s state for n sub-envs: positions (n, 2), goals (n, 2), each reset to the origin."""

    def _allocate_state(self) -> None:
        self._position = np.zeros((self.num_envs, 2))

    def _on_tasks_change(self) -> None:
        self._goal = np.asarray([t.goal for t in self.tasks])

    def _reset_index(self, i: int, rng: np.random.Generator) -> None:
        self._position[i] = 0.0

    def _observations(self) -> np.ndarray:
        return self._position.astype(np.float32)


class Navigation2DEnv(PointGoalEnv):
    """2-D point navigation with a hidden goal (MAML's "2D navigation").

    ## Description
    A point starts at the origin and moves by its action each step; the task is a goal position that
    the agent does not observe and must infer from rewards. This is the dense point-navigation task of
    Finn et al. (2017), section 5.2, used by every seed paper of this project as the first benchmark.
    The `sgmrl` preset puts walls around the square [−0.5, 0.5]², as SG-MRL's released point env does.

    ## Task distribution
    | preset | goal ~         | horizon | train / test | walls                 | reward    | success   | scored |
    |--------|----------------|---------|--------------|-----------------------|-----------|-----------|--------|
    | maml   | U[-0.5, 0.5]^2 | 100     | 1000 / 40    | none (open plane)     | -‖p − g‖₂ | 0.01/axis | (1)    |
    | sgmrl  | U[-0.5, 0.5]^2 | 100     | 1000 / 40    | clip to [-0.5, 0.5]^2 | -‖p − g‖₂ | 0.01/axis | (1)    |

    Task sets (`metarl_envs.task_set`): 1000 train / 40 test goals for each preset (MAML meta-tests on
    40 tasks). Both presets draw from the same seeded stream, so their goals are the same numbers; the
    sets' fingerprints differ because the preset is part of what is hashed. (1) scored: the mean
    return of the post-adaptation batch.

    ## Action Space
    `Box(-0.1, 0.1, (2,), float32)`: the displacement (dx, dy). An action outside the box raises
    `ValueError`; the sampler clips explicitly (so a policy's log-probabilities stay those of the action
    it drew, as in pytorch-maml-rl). cbfinn's env adds the action unclipped; its runs clip through
    rllab's `normalize` wrapper (`maml_trpo_point.py`), which maps the policy's [−1, 1] onto the box.
    pytorch-maml-rl's and SG-MRL's envs clip inside `step`.

    ## Observation Space
    The position (x, y) after the step; the goal is not observed. `maml`: `Box(-inf, inf, (2,),
    float32)`. `sgmrl`: `Box(-0.5, 0.5, (2,), float32)`, the walls, which the position never leaves.

    ## Rewards
    `reward = -‖p' − g‖₂` after the move (`reward="distance"`, the source's), or `-‖p' − g‖₂²`
    (`reward="squared"`). `info["distance"]` holds ‖p' − g‖₂.

    ## Starting State
    (0, 0), deterministic.

    ## Walls (`sgmrl`)
    After the move p' = clip(p + a, −0.5, 0.5) per coordinate, and the reward and the termination are
    computed at the clipped p'. Pushing into a wall leaves that coordinate at ±0.5. Goals lie inside the
    square, so a policy that walks straight to its goal never touches a wall.

    ## Episode End
    - Termination: |x' − g_x| < 0.01 and |y' − g_y| < 0.01.
    - Truncation: after `horizon` steps (preset: 100).

    ## Arguments
    | argument    | default    | meaning                                                                            |
    |-------------|------------|------------------------------------------------------------------------------------|
    | preset      | "maml"     | protocol preset (table above)                                                      |
    | task        | None       | initial task (`GoalTask2D` or its dict); default: the first task drawn with seed 0 |
    | horizon     | None       | steps before truncation; None takes the preset's                                   |
    | reward      | "distance" | "distance" or "squared"                                                            |
    | render_mode | None       | None, "rgb_array" (400×400: goal green, agent blue, goal range grey) or "human"     |

    ## Vectorized environment
    `gym.make_vec("MetaRL/Navigation2D-v0", num_envs=n, vectorization_mode="vector_entry_point")`
    gives `Navigation2DVectorEnv`: one task per sub-env (`set_tasks`), the same batched step.

    ## Sources
    - cbfinn/maml_rl@9c8e2eb:maml_examples/point_env_randgoal.py (goal range, reward, done rule; no
      clipping of actions or position)
    - cbfinn/maml_rl@9c8e2eb:maml_examples/maml_trpo_point.py (max_path_length = 100; `normalize` wrapper)
    - tristandeleu/pytorch-maml-rl@21d4ba1:maml_rl/envs/navigation.py (`2DNavigation-v0`, same rules,
      actions clipped in `step`)
    - kristian-georgiev/SGMRL@7286d21:maml_zoo/envs/point_envs/point_env_2d_v2.py (sgmrl: action clipped
      to ±0.1, position clipped to [−0.5, 0.5]², observation box [−0.5, 0.5]², same reward and done rule)
    Details of each code base: docs/sources/code-bases.md.

    ## Version History
    - v0: initial release.
    - v0, sgmrl preset added: the walled square of SG-MRL's point env (the maml preset is unchanged).

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> env = gym.make("MetaRL/Navigation2D-v0")
        >>> obs, info = env.reset(seed=0, options={"task": {"goal": [0.25, -0.1]}})
        >>> obs.tolist()
        [0.0, 0.0]
        >>> obs, reward, terminated, truncated, info = env.step([0.1, 0.0])
        >>> round(float(reward), 6)
        -0.180278
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array", "human"], "render_fps": 20}
    task_type = GoalTask2D
    presets = PRESETS

    def __init__(self, preset: str = "maml", task: GoalTask2D | dict | None = None,
                 horizon: int | None = None, reward: str = "distance", render_mode: str | None = None):
        self.reward_mode = check_choice("Navigation2DEnv", "reward", reward, ("distance", "squared"))
        self.render_mode = check_choice("Navigation2DEnv", "render_mode", render_mode, RENDER_MODES)
        preset_values = PRESETS.get(preset)
        bound = preset_values.max_action if preset_values else 0.1
        wall = preset_values.wall if preset_values else None
        self.action_space = spaces.Box(-bound, bound, (2,), np.float32)
        extent = np.inf if wall is None else wall
        self.observation_space = spaces.Box(-extent, extent, (2,), np.float32)
        self._position = np.zeros((1, 2))
        self._init_meta(preset, task, horizon)

    @classmethod
    def draw_tasks(cls, preset: Navigation2DPreset, rng: np.random.Generator, n: int) -> Sequence[GoalTask2D]:
        goals = rng.uniform(preset.goal_low, preset.goal_high, size=(n, 2))
        return [GoalTask2D(goal=tuple(g)) for g in goals.tolist()]

    def _check_task_in_preset(self, task: GoalTask2D) -> None:
        check_vector("GoalTask2D", "goal", task.goal, 2, self.preset.goal_low, self.preset.goal_high)

    def step(self, action: Any):
        self._require_reset()
        action = check_box_action("Navigation2DEnv.step", action, self.action_space)
        self._position, reward, terminated, distance = navigation_step(
            self._position, action[None], self._goal, self.reward_mode == "squared",
            self.preset.success_tolerance, self.preset.wall)
        truncated = self._advance_clock(bool(terminated[0]))
        info = {"distance": float(distance[0])}
        return self._observation(), float(reward[0]), bool(terminated[0]), truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        low, high = self.preset.goal_low, self.preset.goal_high
        return present(self, render_points(self._position[0], self._task.goal, extent=1.0,
                                           goal_region=((low, low), (high, high))))


class Navigation2DVectorEnv(PointGoalVectorEnv):
    single_env_cls = Navigation2DEnv

    def _step_batch(self, actions: np.ndarray):
        self._position, reward, terminated, distance = navigation_step(
            self._position, actions, self._goal, self._template.reward_mode == "squared",
            self.preset.success_tolerance, self.preset.wall)
        return reward, terminated, {"distance": distance}


def render_points(agent: np.ndarray, goal: Sequence[float], extent: float, size: int = 400,
                  goal_radius: float = 0.0, goal_region: tuple[tuple[float, float], tuple[float, float]] | None = None,
                  goal_arc: float = 0.0) -> np.ndarray:
    """An RGB image of the square [-extent, extent]^2 (shared by the 2-D point envs): light axes
    through the origin, the goal region (a grey box `goal_region` = (low corner, high corner), or a
    grey arc of radius `goal_arc` for goals on the upper half circle), the goal (green; a ring of
    its reward radius when `goal_radius` > 0) and the agent (blue)."""
    image = np.full((size, size, 3), 255, dtype=np.uint8)
    pixels = size / (2 * extent)

    def to_pixel(point: Sequence[float]) -> tuple[float, float]:
        return (point[0] + extent) * pixels, (extent - point[1]) * pixels

    centre = to_pixel((0.0, 0.0))
    image[int(centre[1]), :] = image[:, int(centre[0])] = (225, 225, 225)
    if goal_region is not None:
        (x0, y0), (x1, y1) = to_pixel(goal_region[0]), to_pixel(goal_region[1])
        for a, b in (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0))):
            draw_segment(image, a, b, (170, 170, 170), 2.0)
    if goal_arc > 0:
        draw_disc(image, *centre, goal_arc * pixels, (170, 170, 170), ring=2.0)
        image[int(centre[1]) + 1:] = np.where(image[int(centre[1]) + 1:] == 170, 255, image[int(centre[1]) + 1:])
    goal_px = to_pixel(goal)
    if goal_radius > 0:
        draw_disc(image, *goal_px, goal_radius * pixels, (60, 180, 75), ring=3.0)
    draw_disc(image, *goal_px, 8, (60, 180, 75))
    draw_disc(image, *to_pixel(agent), 7, (0, 90, 200))
    return image
