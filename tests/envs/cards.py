"""Reading env cards: the card is the env class's docstring; its "Task distribution" tables state
each preset's range, horizon and train / test sizes, and `statements` computes from the preset
specs what those cells must say.

The format every card follows: in the Task distribution section, a table with one row per preset
(first cell = the preset name) and the columns `horizon` (the horizon, exactly), `train / test`
(`n_train / n_test`, notes may follow) and one or more range columns whose header ends with `~`
(the distribution, stated as below). Numbers are written as Python's `{:g}` writes them (0, 2,
0.05). A per-field table (CartPoleParams) has one row per task field and one column per preset.
"""

from __future__ import annotations

import inspect
import re

from metarl_envs.core import MetaEnv, Preset


def card_of(cls: type[MetaEnv]) -> str:
    """The env card: the class docstring (what `help()` and the API reference show)."""
    return inspect.getdoc(cls) or ""


def section(card: str, heading: str) -> str:
    return card.split(f"## {heading}")[1].split("\n## ")[0]


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every Markdown table in `text` as (header cells, rows of cells)."""
    found, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.strip().startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif block:
            if len(block) >= 2:
                found.append((block[0], block[2:]))
            block = []
    return found


def cell(text: str, row: str, column: str) -> str | None:
    """The cell of the first table that has a row named `row` and a column whose header is or
    starts with `column` (None if no table has both)."""
    for header, rows in tables(text):
        index = next((i for i, name in enumerate(header) if name == column or name.startswith(f"{column} ")), None)
        if index is None:
            continue
        for cells in rows:
            if cells and cells[0] == row and index < len(cells):
                return cells[index]
    return None


def states(text: str, expected: str, exact: bool = False) -> bool:
    """`text` states `expected` (whole numbers: "U[0, 2]" does not state "U[0, 2.5]")."""
    text = text.replace("−", "-")
    if exact:
        return text == expected
    return re.search(rf"(?<![\w.]){re.escape(expected)}(?![\d.])", text) is not None


def g(value: float) -> str:
    return f"{value:g}"


def _range(preset: Preset, name: str, cls: type[MetaEnv]) -> list[tuple[str, str, str]]:
    """(row, column, statement) of the preset's task distribution for env class `name`."""
    p = preset
    if name in ("HalfCheetahVelEnv", "AntVelEnv"):
        return [("", "velocity ~", f"U[{g(p.velocity_low)}, {g(p.velocity_high)}]")]
    if name in ("HalfCheetahDirEnv", "AntDirEnv"):
        directions = sorted(t.direction for t in cls.task_family(p))
        return [("", "direction ~", "±1" if directions == [-1.0, 1.0] else ", ".join(map(g, directions)))]
    if name == "AntGoalEnv":
        return [("", "goal ~", f"disk, radius {g(p.goal_radius)}")]
    if name == "Navigation2DEnv":
        return [("", "goal ~", f"U[{g(p.goal_low)}, {g(p.goal_high)}]^2")]
    if name in ("Walker2DParamsEnv", "HopperParamsEnv"):
        if not p.mass_base == p.inertia_base == p.friction_base:
            raise AssertionError(f"{name}: mass, inertia and friction bases differ: the card needs a column each")
        limit = g(p.log_scale_limit)
        return [("", "mass, inertia, friction ~", f"{g(p.mass_base)}^U[-{limit}, {limit}]"),
                ("", "damping ~", f"{g(p.damping_base)}^U[-{limit}, {limit}]")]
    if name == "SparsePointRobotEnv":
        return [("", "goal angle ~", f"one of {p.fixed_goals} fixed goals" if p.fixed_goals else "U(0, π)")]
    if name == "FrozenLakeHolesEnv":
        return [("", "tasks ~", f"{len(cls.task_family(p))} fixed maps (family_seed {p.family_seed})"),
                ("", "p_hole", g(p.hole_probability)), ("", "map", f"{p.map_size}×{p.map_size}")]
    if name == "MountainCarParamsEnv":
        return [("", "slope ζ ~", ", ".join(g(t.slope) for t in cls.task_family(p)))]
    if name == "GridNavigationEnv":
        family = cls.task_family(p)
        sizes = sorted({t.size for t in family})
        low = p.coordinate_low
        if len(sizes) == 1:
            n = sizes[0]
            grid = f"{n}×{n} {{{low}..{low + n - 1}}}²"
        else:
            grid = f"n×n {{{low}..n-1}}², n = {sizes[0]}..{sizes[-1]}"
        if all(t.goal == (low + t.size - 1,) * 2 for t in family):
            goals = "goal (n-1,n-1)"
        else:
            goals = "goal " + " ".join(f"({x},{y})" for x, y in (t.goal for t in family))
        return [("", "tasks ~", f"{grid}; {goals}")]
    if name == "CartPoleParamsEnv":
        from metarl_envs.classic.cartpole_params import FIELDS

        if p.finite_family:
            return [(field, "", ", ".join(g(row[i]) for row in p.family)) for i, field in enumerate(FIELDS)]
        return [(field, "", f"log-U[{g(lo)}, {g(hi)}]") for field, lo, hi in zip(FIELDS, p.low, p.high, strict=True)]
    raise AssertionError(f"{name}: no statement of its task distribution is known to the card test")


def statements(cls: type[MetaEnv], preset_name: str) -> list[tuple[str, str, str, bool]]:
    """(row, column, what the cell must state, exactly?) for one preset, read from its spec. An
    empty row means the preset's row; an empty column means the preset's column (field tables)."""
    preset = cls.presets[preset_name]
    out = [(preset_name, "horizon", str(preset.horizon), True),
           (preset_name, "train / test", f"{preset.n_train_tasks} / {preset.n_test_tasks}", False)]
    for row, column, text in _range(preset, cls.__name__, cls):
        out.append((row or preset_name, column or preset_name, text, False))
    return out
