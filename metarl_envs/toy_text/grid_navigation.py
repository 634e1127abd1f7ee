"""Tabular grid navigation to a hidden goal cell (MEMRL's discrete 2-D navigation; pMeta-RL's gridworld).

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`GridNavigationEnv`: `help(GridNavigationEnv)` shows it.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from metarl_envs.core import Preset, Task, check_choice, check_int, task_field_error
from metarl_envs.rendering import RENDER_MODES
from metarl_envs.toy_text.tabular import TabularEnv, TabularModel, TabularVectorEnv, build_model, render_cells

__all__ = ["GridNavigationEnv", "GridNavigationPreset", "GridNavigationVectorEnv", "GridTask"]


def check_cell(owner: str, field: str, value: Any) -> tuple[int, int]:
    """Return `value` as an (x, y) tuple of Python ints; raise naming the field otherwise."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{owner}.{field}={value!r}: must be a pair of integers (x, y)")
    if len(value) != 2 or (isinstance(value, np.ndarray) and value.ndim != 1):
        raise ValueError(f"{owner}.{field}={value!r}: must have shape (2,)")
    if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in value):
        raise TypeError(f"{owner}.{field}={value!r}: both coordinates must be integers")
    return int(value[0]), int(value[1])


@dataclasses.dataclass(frozen=True, slots=True)
class GridTask(Task):
    """A goal cell (x, y) on a square grid of `size` cells a side (coordinates per preset)."""

    goal: tuple[int, int]
    size: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "goal", check_cell("GridTask", "goal", self.goal))
        object.__setattr__(self, "size", check_int("GridTask", "size", self.size, 1))


@dataclasses.dataclass(frozen=True, kw_only=True)
class GridNavigationPreset(Preset):
    coordinate_low: int
    """smallest coordinate of the frame (and of every task's grid) on both axes"""
    frame_size: int
    """cells a side of the shared frame (the largest task grid)"""
    min_size: int
    """smallest task grid accepted by `set_task`"""
    actions: tuple[tuple[int, int], ...]
    """(dx, dy) of each action index"""
    reward: str
    """"exp_l1": exp(−‖s′ − g‖₁); "scaled_l1": −‖s′ − g‖₁ / (2(size − 1))"""
    goal_terminal: bool
    start: str
    """"uniform": uniform over the task's non-terminal cells; "corner": (low, low)"""
    family_goals: tuple[tuple[int, int], ...]
    family_sizes: tuple[int, ...]


PRESETS: dict[str, GridNavigationPreset] = {
    "memrl": GridNavigationPreset(
        horizon=20, n_train_tasks=3, n_test_tasks=3, finite_family=True, coordinate_low=-5, frame_size=11,
        min_size=11, actions=((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0)), reward="exp_l1", goal_terminal=False,
        start="uniform", family_goals=((-4, 4), (4, 3), (0, -4)), family_sizes=(11, 11, 11),
        source="Toghani et al. 2023 (MEMRL) §4 eqs. (67)-(68); defaults docs/sources/memrl.md §7.1",
    ),
    "pmeta": GridNavigationPreset(
        horizon=324, n_train_tasks=5, n_test_tasks=5, finite_family=True, coordinate_low=0, frame_size=9,
        min_size=2, actions=((0, 1), (0, -1), (1, 0), (-1, 0)), reward="scaled_l1", goal_terminal=True,
        start="corner", family_goals=((4, 4), (5, 5), (6, 6), (7, 7), (8, 8)), family_sizes=(5, 6, 7, 8, 9),
        source="Wang et al. 2022 (pMeta-RL) §V-C; defaults docs/sources/pmetarl.md §2.1",
    ),
    "pmeta-spread": GridNavigationPreset(
        horizon=324, n_train_tasks=5, n_test_tasks=5, finite_family=True, coordinate_low=0, frame_size=9,
        min_size=2, actions=((0, 1), (0, -1), (1, 0), (-1, 0)), reward="scaled_l1", goal_terminal=True,
        start="corner", family_goals=((4, 0), (0, 5), (6, 6), (7, 2), (2, 8)), family_sizes=(5, 6, 7, 8, 9),
        source=("Wang et al. 2022 (pMeta-RL) §V-C with landmarks in different directions (ours); "
                "docs/sources/pmetarl.md §2.1"),
    ),
}


@functools.lru_cache(maxsize=8)
def frame_coordinates(preset: GridNavigationPreset) -> np.ndarray:
    """(S, 2) int64 cell of each state index s = (x − low) · frame + (y − low) (cached per preset; read-only)."""
    xs, ys = np.meshgrid(np.arange(preset.frame_size), np.arange(preset.frame_size), indexing="ij")
    coords = np.stack([xs.ravel(), ys.ravel()], axis=1) + preset.coordinate_low
    coords.setflags(write=False)
    return coords


def cell_index(preset: GridNavigationPreset, cells: np.ndarray) -> np.ndarray:
    offset = np.asarray(cells) - preset.coordinate_low
    return offset[..., 0] * preset.frame_size + offset[..., 1]


@functools.lru_cache(maxsize=512)
def grid_model(task: GridTask, preset: GridNavigationPreset) -> TabularModel:
    """The exact model of `task` (deterministic moves; off-grid moves and outside cells stay). Cached
    per (task, preset): a model is immutable, so every env and agent may share one."""
    coords = frame_coordinates(preset)
    states = np.arange(len(coords))
    low, high = preset.coordinate_low, preset.coordinate_low + task.size - 1
    inside = np.all((coords >= low) & (coords <= high), axis=1)
    target = coords[:, None, :] + np.asarray(preset.actions)[None]
    off_grid = np.any((target < low) | (target > high), axis=2)
    next_state = np.where(off_grid, states[:, None], cell_index(preset, np.clip(target, low, high)))
    goal = int(cell_index(preset, task.goal))
    terminal = np.zeros(len(states), dtype=bool)
    terminal[goal] = preset.goal_terminal
    next_state[terminal | ~inside] = states[terminal | ~inside, None]
    distance = np.abs(coords - np.asarray(task.goal)).sum(axis=1)
    reward_next = np.exp(-distance) if preset.reward == "exp_l1" else -distance / (2.0 * (task.size - 1))
    reward = np.broadcast_to(reward_next, (len(states), len(preset.actions), len(states))).copy()
    reward[~inside] = 0.0
    if preset.start == "uniform":
        initial = (inside & ~terminal).astype(np.float64)
        initial /= initial.sum()
    else:
        initial = np.zeros(len(states))
        initial[cell_index(preset, (low, low))] = 1.0
    return build_model(next_state[..., None], np.ones((*next_state.shape, 1)), reward, terminal, initial,
                       state_mask=inside)


class GridNavigationEnv(TabularEnv):
    """Tabular grid navigation to a hidden goal cell (MEMRL's discrete 2-D navigation; pMeta-RL's gridworld).

    ## Description
    An agent moves between the integer cells of a square grid; the task is a goal cell (and, for
    `pmeta`, the size of the grid) that the agent does not observe. `memrl` is the one experiment of
    Toghani et al. (2023, "On First-Order Meta-Reinforcement Learning with Moreau Envelopes", §4):
    an 11×11 grid, five actions including "pause", reward exp(−‖s′ − g‖₁), three goals. `pmeta` is the
    gridworld warm-up of Wang et al. (2022, pMeta-RL, §V-C): five tasks "of different grid sizes" with a
    landmark to reach; the paper gives no sizes, positions or horizon, so the values below are the
    documented defaults of the reference extraction (docs/sources/pmetarl.md §2.1).

    All tasks of a preset share one coordinate frame (the largest grid), so states have one index
    across tasks; the cells of the frame outside a smaller task's grid are unreachable (`state_mask`
    False there), which is what pMeta-RL's per-(s, a) aggregation over "the tasks that contain it" needs.

    ## Task distribution
    | preset | tasks ~                                  | horizon | train / test | actions | start   | reward          |
    |--------|------------------------------------------|---------|--------------|---------|---------|-----------------|
    | memrl  | 11×11 {-5..5}²; goal (-4,4) (4,3) (0,-4) | 20      | 3 / 3        | 5       | uniform | exp(−‖s′ − g‖₁) |
    | pmeta  | n×n {0..n-1}², n = 5..9; goal (n-1,n-1)  | 324     | 5 / 5        | 4       | (0, 0)  | (1)             |
    | pmeta-spread | n×n {0..n-1}², n = 5..9; goal (4,0) (0,5) (6,6) (7,2) (2,8) | 324 | 5 / 5 | 4 | (0, 0) | (1) |

    (1) −‖s′ − g‖₁ / (2(n − 1)).

    `pmeta-spread` is `pmeta` (same sizes, frame, start, actions, reward, horizon) with the landmarks
    in different directions from the start (ours): in `pmeta` every landmark is the far corner, so one
    shared policy (up and right) is optimal for every task and the meta, personalized and averaged
    policies cannot be told apart; in `pmeta-spread` the landmark of the 5×5 task lies along the x
    axis and that of the 6×6 task along the y axis, so at the start cell no single action is optimal
    for both, and a shared policy is suboptimal on some task.

    Tasks are drawn uniformly over the family. The goal cell is terminal for `pmeta` (and
    `pmeta-spread`) and not for `memrl` (the episode goes on at the goal). Where `pmeta` is named
    below, `pmeta-spread` is the same.

    Frames (shared state indexing): `memrl` {-5..5}² (121 states), `pmeta` {0..8}² (81 states, the
    largest task's grid; a task of size n uses the cells {0..n-1}²). Scored episodes: MEMRL plots the
    mean return of 10 episodes after the K = 8 inner steps; pMeta-RL the average return of the
    meta-policy and of the personalised policies (greedy in their Q-tables).

    Every preset is a finite family (`n_train_tasks` = `n_test_tasks` = 3 and 5): the test set is the
    whole family, scored on the tasks trained on, as in both papers. `sample_tasks` draws uniformly
    from the family; `set_task` accepts any goal inside a task grid of the preset's frame (e.g. held-out
    goals for `memrl`). MEMRL gives no goal coordinates (only stars in its Fig. 1): the three goals are
    the reference's suggested well-separated cells (docs/sources/memrl.md §7.1). pMeta-RL's horizon
    "4·size² steps" is applied at the largest size, 4·9² = 324, to every task (one horizon per preset,
    so every task gets at least its own budget and the vector env truncates all sub-envs alike).
    Discounts are the agent's: γ = 0.99 for `memrl` (MEMRL §4), γ = 0.95 for `pmeta` (reference default).

    ## Action Space
    `Discrete(5)` for `memrl`, in MEMRL eq. (67)'s order: 0 = (0, 0) pause, 1 = (0, +1), 2 = (0, −1),
    3 = (+1, 0), 4 = (−1, 0) as (dx, dy). `Discrete(4)` for `pmeta` (no pause): 0 = (0, +1),
    1 = (0, −1), 2 = (+1, 0), 3 = (−1, 0). Moves are deterministic; a move off the task's grid stays.

    ## Observation Space
    `obs_mode="coordinates"` (default): `Box(low, high, (2,), float32)`, the cell (x, y) as floats
    (`memrl`: −5..5; `pmeta`: 0..8). `obs_mode="index"`: `Discrete(S)`, the state index
    `s = (x − low) · frame + (y − low)` (S = 121 for `memrl`, 81 for `pmeta`). The goal is never observed.

    ## Rewards
    `memrl`: r = exp(−‖s′ − g‖₁) ∈ (0, 1] of the cell after the move (1 on the goal, e^−1 next to it).
    `pmeta`: r = −‖s′ − g‖₁ / (2(size − 1)) ∈ [−1, 0] (0 on entering the landmark).
    The exact model of the active task is exposed on the unwrapped env (read-only numpy arrays,
    recomputed on every task change): `transition_matrix` P[s, a, s′] float64 (S, A, S),
    `reward_matrix` R[s, a, s′] float64 (S, A, S) (zero from terminal or unreachable states),
    `initial_distribution` μ[s] float64 (S,), `terminal_mask` bool (S,), `state_mask` bool (S,);
    `state_observations()` the observation of every state index; `info["state"]` is the integer
    state index after every reset and step.

    ## Starting State
    `memrl`: uniform over the 121 cells (MEMRL: "some random point"; the goal cell included).
    `pmeta`: the corner (0, 0). μ is `initial_distribution`; a reset draws one uniform from `np_random`.

    ## Episode End
    - Termination: `memrl` never (a pause action lets the agent stay on the goal); `pmeta` on
      entering the landmark (absorbing afterwards, reward 0).
    - Truncation: after `horizon` steps (presets: 20 and 324).

    ## Arguments
    | argument | default | meaning |
    |----------|---------|---------|
    | preset   | "memrl" | protocol preset (table above) |
    | task     | None    | initial task (`GridTask` or its dict); default: the first task drawn with seed 0 |
    | horizon  | None    | steps before truncation; None takes the preset's |
    | obs_mode | "coordinates" | "coordinates" (x, y) floats or "index" (the state index) |
    | render_mode | None | None, "rgb_array" (≈480 px; goal green, agent blue, outside cells grey) or "human" |

    ## Vectorized environment
    `gym.make_vec("MetaRL/GridNavigation-v0", num_envs=n, vectorization_mode="vector_entry_point")`
    gives `GridNavigationVectorEnv`: one task per sub-env (`set_tasks`), the tables of every distinct
    task stacked once, one batched `tabular_step` (shared with this env) per step; `info["state"]`.

    ## Sources
    - MEMRL: Toghani, Perez-Salazar, Uribe, ICML 2023 workshop, §4 eqs. (67)–(68) (no public code);
      defaults H = 20, uniform start, clip at the boundary, goals from docs/sources/memrl.md §3, §7.1.
    - pMeta-RL: Wang et al., arXiv:2209.10072v1, §III-C Def. 1, §V-C (no public code); defaults from
      docs/sources/pmetarl.md §2.1 (4 actions, sizes 5..9, start (0, 0), landmark at the far
      corner, normalised negative ℓ1 reward, termination on the landmark, 4·size² steps).

    ## Version History
    - v0: initial release.

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> env = gym.make("MetaRL/GridNavigation-v0", preset="memrl", task={"goal": [-4, 4], "size": 11})
        >>> obs, info = env.reset(seed=0)
        >>> obs.tolist(), info["state"]
        ([2.0, -5.0], 77)
        >>> obs, reward, terminated, truncated, info = env.step(4)      # (dx, dy) = (-1, 0)
        >>> obs.tolist(), info["state"], f"{reward:.6e}"             # exp(-(5 + 9))
        ([1.0, -5.0], 66, '8.315287e-07')
        >>> env.unwrapped.transition_matrix.shape, env.unwrapped.reward_matrix.shape
        ((121, 5, 121), (121, 5, 121))
    """

    task_type = GridTask
    presets = PRESETS

    def __init__(self, preset: str = "memrl", task: GridTask | dict | None = None, horizon: int | None = None,
                 obs_mode: str = "coordinates", render_mode: str | None = None):
        self.obs_mode = check_choice("GridNavigationEnv", "obs_mode", obs_mode, ("coordinates", "index"))
        self.render_mode = check_choice("GridNavigationEnv", "render_mode", render_mode, RENDER_MODES)
        # an unknown preset is reported by _init_meta; size the spaces with the default meanwhile
        values = PRESETS[preset if isinstance(preset, str) and preset in PRESETS else "memrl"]
        self.action_space = spaces.Discrete(len(values.actions))
        low, n = values.coordinate_low, values.frame_size
        if self.obs_mode == "index":
            self.observation_space = spaces.Discrete(n * n)
        else:
            self.observation_space = spaces.Box(low, low + n - 1, (2,), np.float32)
        self._init_meta(preset, task, horizon)
        self._coordinates = frame_coordinates(self.preset).astype(np.float32)

    @classmethod
    def task_family(cls, preset: GridNavigationPreset) -> Sequence[GridTask]:
        return [GridTask(goal=g, size=s) for g, s in zip(preset.family_goals, preset.family_sizes, strict=True)]

    @classmethod
    def draw_tasks(cls, preset: GridNavigationPreset, rng: np.random.Generator, n: int) -> Sequence[GridTask]:
        family = cls.task_family(preset)
        return [family[i] for i in rng.integers(0, len(family), size=n)]

    def _check_task_in_preset(self, task: GridTask) -> None:
        preset, name = self.preset, self.preset_name
        if not preset.min_size <= task.size <= preset.frame_size:
            raise task_field_error("GridTask", "size", task.size, name,
                                   f"sizes {preset.min_size}..{preset.frame_size}")
        low, high = preset.coordinate_low, preset.coordinate_low + task.size - 1
        if not all(low <= v <= high for v in task.goal):
            raise task_field_error("GridTask", "goal", task.goal, name, f"cells {{{low}..{high}}}² of the task grid")
        if preset.start == "corner" and task.goal == (low, low):
            raise task_field_error("GridTask", "goal", task.goal, name, "cells other than the start corner")

    def task_model(self, task: GridTask) -> TabularModel:
        return grid_model(task, self.preset)

    def observe_states(self, states: np.ndarray) -> np.ndarray:
        if self.obs_mode == "index":
            return np.array(states, dtype=np.int64)  # a copy: the vector env updates its state in place
        return self._coordinates[states]

    def _render_image(self) -> np.ndarray:
        n, low = self.preset.frame_size, self.preset.coordinate_low
        coords = frame_coordinates(self.preset)
        rows, cols = (n - 1) - (coords[:, 1] - low), coords[:, 0] - low  # y grows upwards
        colors = np.full((n, n, 3), 235, dtype=np.uint8)
        colors[rows[~self.state_mask], cols[~self.state_mask]] = (90, 90, 90)
        goal = int(cell_index(self.preset, self._task.goal))
        colors[rows[goal], cols[goal]] = (60, 180, 75)
        markers = [] if self._state is None else [(int(rows[self._state]), int(cols[self._state]), (0, 90, 200))]
        return render_cells(colors, markers=markers)


class GridNavigationVectorEnv(TabularVectorEnv):
    single_env_cls = GridNavigationEnv
