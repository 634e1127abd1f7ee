"""Sparse point robot: reach a hidden goal on the upper half circle (PEARL's and VariBAD's).

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`SparsePointRobotEnv`: `help(SparsePointRobotEnv)` shows it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from metarl_envs.classic.navigation_2d import PointGoalEnv, PointGoalVectorEnv, render_points
from metarl_envs.core import Preset, Task, check_box_action, check_choice, check_finite
from metarl_envs.rendering import RENDER_MODES, present

__all__ = ["SemicircleGoalTask", "SparsePointRobotEnv", "SparsePointRobotPreset", "SparsePointRobotVectorEnv",
           "pearl_goal_angles", "point_robot_step"]


@dataclasses.dataclass(frozen=True, slots=True)
class SemicircleGoalTask(Task):
    """A goal on the upper unit half circle, given by its angle in radians."""

    angle: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "angle", check_finite("SemicircleGoalTask", "angle", self.angle, 0.0, math.pi))

    @property
    def goal(self) -> tuple[float, float]:
        return (math.cos(self.angle), math.sin(self.angle))


@dataclasses.dataclass(frozen=True, kw_only=True)
class SparsePointRobotPreset(Preset):
    goal_radius: float
    """sparse reward inside this distance of the goal"""
    action_bound: float
    """the action space is Box(-action_bound, action_bound)"""
    action_scale: float
    """the point moves by action_scale × action"""
    fixed_goals: int = 0
    """> 0: tasks come from this many evenly spaced angles in a fixed shuffled order (PEARL)"""
    shuffle_seed: int = 0
    """seed of the legacy RandomState that shuffles the fixed goals (oyster's np.random.seed)"""


PRESETS: dict[str, SparsePointRobotPreset] = {
    "pearl": SparsePointRobotPreset(
        horizon=20, n_train_tasks=80, n_test_tasks=20, goal_radius=0.2, action_bound=0.1, action_scale=1.0,
        fixed_goals=100, shuffle_seed=1337,
        source="katerakelly/oyster@ee4fe88:rlkit/envs/point_robot.py, configs/sparse-point-robot.json",
    ),
    "varibad": SparsePointRobotPreset(
        horizon=100, n_train_tasks=1000, n_test_tasks=100, goal_radius=0.2, action_bound=1.0, action_scale=0.1,
        source="lmzintgraf/varibad@57e1795:environments/navigation/point_robot.py",
    ),
}


def pearl_goal_angles(preset: SparsePointRobotPreset) -> np.ndarray:
    """The fixed goal angles in oyster's shuffled order. oyster shuffles the (cos, sin) rows after
    `np.random.seed(1337)`; shuffling the angles with a RandomState(1337) applies the same
    permutation (legacy streams are frozen by NumPy's compatibility policy)."""
    angles = np.linspace(0, np.pi, num=preset.fixed_goals)
    np.random.RandomState(preset.shuffle_seed).shuffle(angles)
    return angles


def point_robot_step(position: np.ndarray, action: np.ndarray, goal: np.ndarray, action_scale: float,
                     goal_radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched step over (n, 2) arrays: returns (position', sparse reward, dense reward)."""
    position = position + action_scale * action
    offset = position - goal
    dense = -np.sqrt(offset[:, 0] ** 2 + offset[:, 1] ** 2)
    sparse = np.where(dense >= -goal_radius, dense + 1.0, 0.0)
    return position, sparse, dense


class SparsePointRobotEnv(PointGoalEnv):
    """Sparse point robot: reach a hidden goal on the upper half circle (PEARL's and VariBAD's).

    ## Description
    A point starts at the origin and moves by its action each step. The task is a goal on the upper
    half of the unit circle; reward is only given within `goal_radius` of it, so the agent must
    explore the half circle and then remember where the reward was. This is the sparse-reward
    benchmark of PEARL (Rakelly et al. 2019, Fig. 3 and App.) and VariBAD (Zintgraf et al. 2020).

    ## Task distribution
    | preset  | goal angle ~           | horizon | train / test | obs | action           | goal_radius | scored     |
    |---------|------------------------|---------|--------------|-----|------------------|-------------|------------|
    | pearl   | one of 100 fixed goals | 20      | 80 / 20      | 2-D | Box(-0.1, 0.1)   | 0.2         | sparse (1) |
    | varibad | U(0, π)                | 100     | 1000 / 100   | 2-D | Box(-1, 1) × 0.1 | 0.2         | sparse (2) |

    (1) sparse return; oyster evaluates after `num_exp_traj_eval` = 5 exploration episodes, discount 0.9.
    (2) sparse return of each of 3 consecutive episodes of a task (`max_rollouts_per_task` = 3).

    The goal is (cos angle, sin angle) (radius 1.0); the task stores the angle and the goal is
    computed from it. Any angle in [0, π] is a valid task for either preset.
    - `pearl`: the goal angles are `linspace(0, π, 100)` shuffled exactly as oyster shuffles its goal
      list (`np.random.seed(1337)` then `np.random.shuffle`), reproduced here with the explicit,
      local legacy generator `np.random.RandomState(1337)` (never the global RNG) so that the split
      is PEARL's own: `task_set` train = the first 80 shuffled goals, test = the last 20.
      `sample_tasks(n)` draws uniformly, with replacement, from the 100 goals.
    - `varibad`: the angle is drawn U(0, π) from the env's `np_random`; task sets hold 1000 train /
      100 test angles.

    ## Action Space
    - `pearl`: `Box(-0.1, 0.1, (2,), float32)`, the displacement (oyster's raw env; PEARL's
      `NormalizedBoxEnv` shows the agent [-1, 1] and rescales).
    - `varibad`: `Box(-1, 1, (2,), float32)`; the step moves by 0.1 × action, as VariBAD's `step`.
    The sources clip larger actions; here an action outside the box raises `ValueError`.

    ## Observation Space
    `Box(-inf, inf, (2,), float32)`: the position (x, y) after the step. The goal is not observed.

    ## Rewards
    With d = ‖p' − g‖₂ after the move, the dense reward is −d and `step` returns the SPARSE reward

        sparse = dense + 1  if dense ≥ −goal_radius  (i.e. d ≤ goal_radius, boundary included)
                 0          otherwise

    so it lies in [1 − goal_radius, 1] inside the radius (oyster's `sparsify_rewards` plus its +1,
    and VariBAD's identical rule). `info["dense_reward"]` holds −d. (oyster's `step` returns the
    dense reward and puts the sparse one in `info`; VariBAD's returns the sparse one, as here.)

    ## Starting State
    (0, 0), deterministic.

    ## Episode End
    - Termination: never (reaching the goal does not end the episode).
    - Truncation: after `horizon` steps (preset: 20 for pearl, 100 for varibad).

    ## Arguments
    | argument | default | meaning |
    |----------|---------|---------|
    | preset   | "pearl" | protocol preset (table above) |
    | task     | None    | initial task (`SemicircleGoalTask` or its dict); default: the first task drawn with seed 0 |
    | horizon  | None    | steps before truncation; None takes the preset's |
    | render_mode | None | None, "rgb_array" (400×400: goal arc, goal and its radius, agent) or "human" |

    ## Vectorized environment
    `gym.make_vec("MetaRL/SparsePointRobot-v0", num_envs=n, vectorization_mode="vector_entry_point")`
    gives `SparsePointRobotVectorEnv`: one task per sub-env (`set_tasks`), the same `point_robot_step`.

    ## Sources
    - katerakelly/oyster@ee4fe88:rlkit/envs/point_robot.py (`SparsePointEnv`: goals, shuffle seed
      1337, goal_radius 0.2, sparse rule) and configs/sparse-point-robot.json (100 tasks, 80/20,
      max_path_length 20)
    - lmzintgraf/varibad@57e1795 (master):environments/navigation/point_robot.py (`SparsePointEnv`:
      action [-1, 1] × 0.1, sparse reward returned; `semi_circle_goal_sampler` draws the angle
      U(0, π), the sampler environments/__init__.py registers for `SparsePointEnv-v0`, with
      goal_radius 0.2 and 100 steps) and config/pointrobot/args_pointrobot_varibad.py (3 rollouts
      per task). Commit 22eca2c, which this card cited before, is not on master: its env draws r
      and θ within bounds picked by an `args.goal_sampler` name (close, mid, far, left, right, …)

    ## Version History
    - v0: initial release.

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> env = gym.make("MetaRL/SparsePointRobot-v0", preset="varibad", task={"angle": 1.5707963267948966})
        >>> obs, info = env.reset(seed=0)
        >>> for _ in range(9):
        ...     obs, reward, terminated, truncated, info = env.step([0.0, 1.0])
        >>> round(float(reward), 6), round(info["dense_reward"], 6)
        (0.9, -0.1)
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array", "human"], "render_fps": 20}
    task_type = SemicircleGoalTask
    presets = PRESETS

    def __init__(self, preset: str = "pearl", task: SemicircleGoalTask | dict | None = None,
                 horizon: int | None = None, render_mode: str | None = None):
        self.render_mode = check_choice("SparsePointRobotEnv", "render_mode", render_mode, RENDER_MODES)
        preset_values = PRESETS.get(preset)
        bound = preset_values.action_bound if preset_values else 1.0
        self.action_space = spaces.Box(-bound, bound, (2,), np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self._position = np.zeros((1, 2))
        self._init_meta(preset, task, horizon)

    @classmethod
    def draw_tasks(cls, preset: SparsePointRobotPreset, rng: np.random.Generator,
                   n: int) -> Sequence[SemicircleGoalTask]:
        if preset.fixed_goals:
            angles = pearl_goal_angles(preset)[rng.integers(0, preset.fixed_goals, n)]
        else:
            angles = rng.uniform(0.0, np.pi, size=n)
        return [SemicircleGoalTask(angle=a) for a in angles.tolist()]

    @classmethod
    def fixed_split(cls, preset: SparsePointRobotPreset) -> tuple[list[SemicircleGoalTask],
                                                                  list[SemicircleGoalTask]] | None:
        """PEARL's own split (used by `task_sets.split_tasks`): the first `n_train_tasks` shuffled
        goals train, the last `n_test_tasks` test. None for presets without fixed goals."""
        if not preset.fixed_goals:
            return None
        tasks = [SemicircleGoalTask(angle=a) for a in pearl_goal_angles(preset).tolist()]
        return tasks[: preset.n_train_tasks], tasks[len(tasks) - preset.n_test_tasks:]

    def step(self, action: Any):
        self._require_reset()
        action = check_box_action("SparsePointRobotEnv.step", action, self.action_space)
        self._position, sparse, dense = point_robot_step(
            self._position, action[None], self._goal, self.preset.action_scale, self.preset.goal_radius)
        truncated = self._advance_clock(False)
        info = {"dense_reward": float(dense[0])}
        return self._observation(), float(sparse[0]), False, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        return present(self, render_points(self._position[0], self._task.goal, extent=1.5,
                                           goal_radius=self.preset.goal_radius, goal_arc=1.0))


class SparsePointRobotVectorEnv(PointGoalVectorEnv):
    single_env_cls = SparsePointRobotEnv

    def _allocate_state(self) -> None:
        super()._allocate_state()
        self._terminated = np.zeros(self.num_envs, dtype=bool)

    def _step_batch(self, actions: np.ndarray):
        self._position, sparse, dense = point_robot_step(
            self._position, actions, self._goal, self.preset.action_scale, self.preset.goal_radius)
        return sparse, self._terminated, {"dense_reward": dense}
