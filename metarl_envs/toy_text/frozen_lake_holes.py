"""FrozenLake with random hole maps as the task (BO-MRL's tabular benchmark).

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`FrozenLakeHolesEnv`: `help(FrozenLakeHolesEnv)` shows it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from metarl_envs.core import Preset, Task, check_choice, check_finite, task_field_error
from metarl_envs.rendering import RENDER_MODES
from metarl_envs.toy_text.tabular import TabularEnv, TabularModel, TabularVectorEnv, build_model, render_cells

__all__ = ["FrozenLakeHolesEnv", "FrozenLakeHolesVectorEnv", "FrozenLakePreset", "FrozenLakeTask", "generate_map"]

TILES = "SFHG"
MOVES = ((0, -1), (1, 0), (0, 1), (-1, 0))
"""(drow, dcol) of left, down, right, up: Gymnasium's action order"""


def has_path(tiles: Sequence[str]) -> bool:
    """A start→goal path through non-hole cells exists (4-neighbour moves)."""
    n = len(tiles)
    start = next((r, row.index("S")) for r, row in enumerate(tiles) if "S" in row)
    seen, frontier = {start}, deque([start])
    while frontier:
        row, col = frontier.popleft()
        if tiles[row][col] == "G":
            return True
        for d_row, d_col in MOVES:
            cell = (row + d_row, col + d_col)
            if 0 <= cell[0] < n and 0 <= cell[1] < n and cell not in seen and tiles[cell[0]][cell[1]] != "H":
                seen.add(cell)
                frontier.append(cell)
    return False


def check_tiles(owner: str, field: str, value: Any) -> tuple[str, ...]:
    """Return the map as a tuple of row strings; raise naming the field unless it is a square map
    of S/F/H/G with exactly one S, one G and a start→goal path."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)):
        raise TypeError(f"{owner}.{field}={value!r}: must be a sequence of row strings such as 'SFFH'")
    if not all(isinstance(row, str) for row in value):
        raise TypeError(f"{owner}.{field}={value!r}: every row must be a string")
    rows = tuple(value)
    if len(rows) < 2 or any(len(row) != len(rows) for row in rows):
        raise ValueError(f"{owner}.{field}={value!r}: must be a square map of N ≥ 2 rows of N characters")
    if set("".join(rows)) - set(TILES):
        raise ValueError(f"{owner}.{field}={value!r}: characters must be among {TILES!r}")
    text = "".join(rows)
    if text.count("S") != 1 or text.count("G") != 1:
        raise ValueError(f"{owner}.{field}={value!r}: needs exactly one 'S' and one 'G'")
    if not has_path(rows):
        raise ValueError(f"{owner}.{field}={value!r}: no path from 'S' to 'G' that avoids the holes")
    return rows


@dataclasses.dataclass(frozen=True, slots=True)
class FrozenLakeTask(Task):
    """One map: N row strings over S (start), F (frozen), H (hole), G (goal)."""

    tiles: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "tiles", check_tiles("FrozenLakeTask", "tiles", self.tiles))


@dataclasses.dataclass(frozen=True, kw_only=True)
class FrozenLakePreset(Preset):
    map_size: int
    hole_probability: float
    """each cell other than S and G is a hole independently with this probability"""
    family_seed: int
    """seed of the generator that draws the preset's fixed family of maps"""


PRESETS: dict[str, FrozenLakePreset] = {
    "bomrl-high": FrozenLakePreset(
        horizon=100, n_train_tasks=20, n_test_tasks=20, finite_family=True, map_size=4, hole_probability=0.3,
        family_seed=30, source="Xu & Zhu 2024 (BO-MRL) §6.1, App. A; defaults docs/sources/bomrl.md §6.1",
    ),
    "bomrl-low": FrozenLakePreset(
        horizon=100, n_train_tasks=20, n_test_tasks=20, finite_family=True, map_size=4, hole_probability=0.1,
        family_seed=10, source="Xu & Zhu 2024 (BO-MRL) §6.1, App. A; defaults docs/sources/bomrl.md §6.1",
    ),
}


def generate_map(rng: np.random.Generator, size: int, hole_probability: float,
                 max_attempts: int = 100_000) -> tuple[str, ...]:
    """Draw holes independently with `hole_probability` (S and G excluded) until S→G has a path."""
    hole_probability = check_finite("generate_map", "hole_probability", hole_probability, 0.0, 1.0)
    for _ in range(max_attempts):
        grid = np.where(rng.random((size, size)) < hole_probability, "H", "F")
        grid[0, 0], grid[-1, -1] = "S", "G"
        tiles = tuple("".join(row) for row in grid)
        if has_path(tiles):
            return tiles
    raise ValueError(f"generate_map: no valid {size}×{size} map in {max_attempts} draws at p={hole_probability}")


@functools.lru_cache(maxsize=16)
def _family(preset: FrozenLakePreset) -> tuple[FrozenLakeTask, ...]:
    """The preset's seeded family of maps (cached per preset: a tuple of frozen tasks)."""
    rng = np.random.default_rng(preset.family_seed)
    family: dict[FrozenLakeTask, None] = {}
    while len(family) < preset.n_train_tasks:
        family[FrozenLakeTask(generate_map(rng, preset.map_size, preset.hole_probability))] = None
    return tuple(family)


@functools.lru_cache(maxsize=1024)
def frozen_lake_model(task: FrozenLakeTask, is_slippery: bool, start_distribution: str) -> TabularModel:
    """The exact model of one map (Gymnasium's transition rules, BO-MRL's rewards). Cached per map and
    rules: a model is immutable, so every env and agent may share one."""
    n = len(task.tiles)
    text = np.array(list("".join(task.tiles)))
    rows, cols = np.divmod(np.arange(n * n), n)
    directions = np.array([[(a - 1) % 4, a, (a + 1) % 4] for a in range(4)] if is_slippery else [[a] for a in range(4)])
    moves = np.asarray(MOVES)[directions]  # (A, K, 2)
    next_row = np.clip(rows[:, None, None] + moves[None, ..., 0], 0, n - 1)
    next_col = np.clip(cols[:, None, None] + moves[None, ..., 1], 0, n - 1)
    branch_next = next_row * n + next_col
    branch_prob = np.full(branch_next.shape, 1.0 / directions.shape[1])
    terminal = np.isin(text, ["G", "H"])
    branch_next[terminal] = np.arange(n * n)[terminal, None, None]
    branch_prob[terminal] = 0.0
    branch_prob[terminal, :, 0] = 1.0  # Gymnasium: one certain self-loop from G and H
    reward_next = np.select([text == "G", text == "H"], [1.0, -1.0], 0.0)
    reward = np.broadcast_to(reward_next, (n * n, 4, n * n)).copy()
    initial = (text == "S") if start_distribution == "start" else ~terminal
    return build_model(branch_next, branch_prob, reward, terminal, initial / initial.sum())


class FrozenLakeHolesEnv(TabularEnv):
    """FrozenLake with random hole maps as the task (BO-MRL's tabular benchmark).

    ## Description
    Gymnasium's FrozenLake: walk on an N×N frozen lake from the start S (top-left) to the goal G
    (bottom-right) without falling into a hole H. A task is one hole map; holes are drawn independently
    per cell with probability p, and a map without a start→goal path is rejected and redrawn (as
    Gymnasium's `generate_random_map` does). This is the theory-verification benchmark of Xu & Zhu
    (NeurIPS 2024, "Meta-Reinforcement Learning with Universal Policy Adaptation", §6.1, App. A):
    two task distributions of exactly 20 tasks, "high task variance" p = 0.3 and "low" p = 0.1, with
    reward +1 at the goal and −1 in a hole.

    ## Task distribution
    | preset     | tasks ~                        | p_hole | map | horizon | train / test | reward        | slippery |
    |------------|--------------------------------|--------|-----|---------|--------------|---------------|----------|
    | bomrl-high | 20 fixed maps (family_seed 30) | 0.3    | 4×4 | 100     | 20 / 20      | +1 G, −1 H, 0 | no       |
    | bomrl-low  | 20 fixed maps (family_seed 10) | 0.1    | 4×4 | 100     | 20 / 20      | +1 G, −1 H, 0 | no       |

    Scored (both presets): exact J after k = 0–4 adaptation steps. The paper plots the expected
    (exact) accumulated discounted reward after k = 0..4 adaptation steps and the expected
    optimality gap, averaged over the 20 tasks.

    Both presets are finite families (`n_train_tasks` = `n_test_tasks` = 20): the paper trains on its
    20 tasks and reports the expected gap over the same 20, so train = test = the family (reference
    docs/sources/bomrl.md §6.1). The family is the first 20 *distinct* valid maps drawn with
    `np.random.default_rng(family_seed)` (a repeated map, likely at p = 0.1 where the hole-free map has
    probability ≈ 0.23, would be the same task twice). `sample_tasks` draws fresh maps from the same
    generator (p_hole, path guaranteed): held-out maps for generalisation. The paper's discount is
    γ = 0.8 (applied by the agent); its horizon is not stated: 100 is Gymnasium's FrozenLake 4×4 limit.

    Slippery or not is our choice: Gymnasium's FrozenLake defaults to slippery ice and the paper says
    only "the Frozen Lake environment in Gym". The presets are deterministic (`is_slippery=False`)
    because of the paper's figures (Figs. 1 and 3, left panels): every curve there lies at or below
    the "optimal task-specific policies" line, and the y-axes reach 1.5 (ticks −0.5…1.5 and
    0.0…1.5), so the optimal value is about 1.4 or more. With γ = 0.8 on these 4×4 families the
    optimal value is, deterministic: 0.328 (= 0.8⁵, a 6-move path from S on all 40 maps) from S and
    0.59 / 0.62 (high / low) from a uniform start, ×5 = 1.64 and 2.96 / 3.08 in the 1/(1−γ) scale
    of the paper's J; slippery: 0.011 / 0.047 from S, 0.056 / 0.181 uniform, at most 0.91 even ×5.
    No slippery variant reaches an axis of 1.5; the deterministic map from S in the 1/(1−γ) scale
    (1.64) is the one whose auto-scaled axis ends at the 1.5 tick. (Values: `optimal_return` of
    `baselines.common.oracles` on the stored families; pinned in tests/envs/test_source_fidelity.py.)

    ## Action Space
    `Discrete(4)`, Gymnasium's order: 0 = left, 1 = down, 2 = right, 3 = up. A move off the map stays.
    With `is_slippery=True` the agent moves in the intended direction or either perpendicular one with
    probability 1/3 each (Gymnasium's semantics and branch order, so trajectories equal Gymnasium's
    `FrozenLakeEnv` with the same map and seed).

    ## Observation Space
    `Discrete(N²)`: the cell index `row · N + col` (row 0 at the top), as in Gymnasium.

    ## Rewards
    +1 on entering G, −1 on entering H, 0 otherwise (Gymnasium: `reward_schedule=(1, -1, 0)`).
    The exact model of the active task is exposed on the unwrapped env (read-only numpy arrays,
    recomputed on every task change): `transition_matrix` P[s, a, s′] float64 (S, A, S),
    `reward_matrix` R[s, a, s′] float64 (S, A, S) (zero from the terminal G and H),
    `initial_distribution` μ[s] float64 (S,), `terminal_mask` bool (S,) (G and H), `state_mask`
    bool (S,) (all True); `state_observations()` the observation of every state index;
    `info["state"]` is the integer state index after every reset and step.

    ## Starting State
    `start_distribution="start"` (default): the S cell. `"uniform"`: uniform over the non-terminal
    cells, which BO-MRL's Assumption 2 (ν(s) ≥ ε > 0) needs for the bound-verification experiment
    (docs/sources/bomrl.md §6.1). A reset draws one uniform from `np_random` (Gymnasium's rule).

    ## Episode End
    - Termination: entering G or H (both absorbing in the model, paying 0 afterwards).
    - Truncation: after `horizon` steps (presets: 100).

    ## Arguments
    | argument | default | meaning |
    |----------|---------|---------|
    | preset   | "bomrl-high" | protocol preset (table above) |
    | task     | None    | initial task (`FrozenLakeTask` or its dict); default: the first map drawn with seed 0 |
    | horizon  | None    | steps before truncation; None takes the preset's |
    | is_slippery | False | Gymnasium's slippery ice (1/3 intended, 1/3 each perpendicular) |
    | start_distribution | "start" | "start" (the S cell) or "uniform" (every non-terminal cell) |
    | render_mode | None | None, "rgb_array" (≈480 px; ice, holes dark, goal green, agent red) or "human" |

    ## Vectorized environment
    `gym.make_vec("MetaRL/FrozenLakeHoles-v0", num_envs=n, vectorization_mode="vector_entry_point")`
    gives `FrozenLakeHolesVectorEnv`: one map per sub-env (`set_tasks`), the tables of every distinct
    map stacked once, one batched `tabular_step` (shared with this env) per step; slip draws come from
    each sub-env's own generator; `info["state"]`.

    ## Sources
    - Xu & Zhu, NeurIPS 2024 (BO-MRL), §6.1 and App. A (no public code): p_hole 0.3 / 0.1, 20 tasks,
      +1/−1 rewards, γ = 0.8; defaults from docs/sources/bomrl.md §2.1 and §6.1.
    - Farama-Foundation/Gymnasium@v1.x:gymnasium/envs/toy_text/frozen_lake.py (map generation with the
      path check, action order, slippery branches, TimeLimit 100 for 4×4).

    ## Version History
    - v0: initial release.

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> env = gym.make("MetaRL/FrozenLakeHoles-v0", task={"tiles": ["SFFF", "FHFH", "FFFH", "HFFG"]})
        >>> env.reset(seed=0)
        (0, {'state': 0})
        >>> env.step(1)[:4], env.step(1)[:4], env.step(2)[:4]     # down, down, right
        ((4, 0.0, False, False), (8, 0.0, False, False), (9, 0.0, False, False))
        >>> env.step(0)[:3], env.unwrapped.terminal_mask.nonzero()[0].tolist()
        ((8, 0.0, False), [5, 7, 11, 12, 15])
    """

    task_type = FrozenLakeTask
    presets = PRESETS

    def __init__(self, preset: str = "bomrl-high", task: FrozenLakeTask | dict | None = None,
                 horizon: int | None = None, is_slippery: bool = False, start_distribution: str = "start",
                 render_mode: str | None = None):
        if not isinstance(is_slippery, bool):
            raise TypeError(f"FrozenLakeHolesEnv.is_slippery={is_slippery!r}: must be a bool")
        self.is_slippery = is_slippery
        self.start_distribution = check_choice("FrozenLakeHolesEnv", "start_distribution", start_distribution,
                                               ("start", "uniform"))
        self.render_mode = check_choice("FrozenLakeHolesEnv", "render_mode", render_mode, RENDER_MODES)
        # an unknown preset is reported by _init_meta; size the spaces with the default meanwhile
        size = PRESETS[preset if isinstance(preset, str) and preset in PRESETS else "bomrl-high"].map_size
        self.action_space = spaces.Discrete(4)
        self.observation_space = spaces.Discrete(size * size)
        self._init_meta(preset, task, horizon)

    @classmethod
    def task_family(cls, preset: FrozenLakePreset) -> Sequence[FrozenLakeTask]:
        return list(_family(preset))

    @classmethod
    def draw_tasks(cls, preset: FrozenLakePreset, rng: np.random.Generator, n: int) -> Sequence[FrozenLakeTask]:
        return [FrozenLakeTask(generate_map(rng, preset.map_size, preset.hole_probability)) for _ in range(n)]

    def _check_task_in_preset(self, task: FrozenLakeTask) -> None:
        n = self.preset.map_size
        if len(task.tiles) != n:
            raise task_field_error("FrozenLakeTask", "tiles", task.tiles, self.preset_name, f"{n}×{n} maps")
        if task.tiles[0][0] != "S" or task.tiles[-1][-1] != "G":
            raise task_field_error("FrozenLakeTask", "tiles", task.tiles, self.preset_name,
                                   "maps with 'S' at the top-left and 'G' at the bottom-right")

    def task_model(self, task: FrozenLakeTask) -> TabularModel:
        return frozen_lake_model(task, self.is_slippery, self.start_distribution)

    def observe_states(self, states: np.ndarray) -> np.ndarray:
        return np.array(states, dtype=np.int64)  # a copy: the vector env updates its state in place

    def _render_image(self) -> np.ndarray:
        palette = {"S": (200, 225, 245), "F": (200, 225, 245), "H": (25, 40, 80), "G": (60, 180, 75)}
        colors = np.array([[palette[c] for c in row] for row in self._task.tiles], dtype=np.uint8)
        n = len(self._task.tiles)
        markers = [] if self._state is None else [(self._state // n, self._state % n, (220, 40, 40))]
        return render_cells(colors, markers=markers)


class FrozenLakeHolesVectorEnv(TabularVectorEnv):
    single_env_cls = FrozenLakeHolesEnv
