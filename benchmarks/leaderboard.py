"""Validate a folder of results files and render a leaderboard: Markdown, static HTML and PNG plots.

A *cell* here is (experiment, variant, agent label, env id, preset); its files are its seeds. For
every cell and every adaptation step k the leaderboard gives the mean, IQM and 95 % bootstrap CI
across seeds of the per-seed mean meta-test return R_k (mean over the test tasks), the mean
optimality gap where the env has an oracle, and the experiment's target numbers with their source.

Files that fail `load_result`, and files of one cell that disagree with the cell's first file on
protocol, agent class or config, env kwargs, task sets or iterations (or repeat a seed) are
reported as bad with the reason; the rest are still rendered. Results are ranked only against
results with the same budget: a cell whose protocol budget (adaptation rounds, episodes per round,
evaluation episodes, scoring) differs from the first cell of its table is refused, naming both.
Agents that read the env's exact model form a table of their own, labelled the privileged track.
"""

from __future__ import annotations

import dataclasses
import html
import io
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results import CellId, ResultError, ResultRecord, load_result, mean_optimality_gaps, same_cell_settings
from benchmarks.stats import Summary, summarize
from metarl_envs.task_sets import atomic_write

__all__ = ["CellSummary", "Report", "TableKey", "collect", "summarize_cells", "table_rows", "tables", "title",
           "to_html", "to_markdown", "write_leaderboard"]


@dataclasses.dataclass(frozen=True)
class CellSummary:
    cell: CellId
    agent_class: str
    seeds: tuple[int, ...]
    returns: tuple[Summary, ...]
    """per adaptation step k = 0..K, across seeds"""
    gaps: tuple[Summary, ...] | None
    targets: tuple[Any, ...]
    curves: tuple[dict[str, Any], ...]
    """per seed: {"seed", "env_steps": [...], "pre": [...], "post": [...]}"""
    protocol: dict[str, Any]
    adaptation_env_steps: tuple[float, ...] = ()
    """per k: mean over seeds and test tasks of the adaptation env steps spent before R_k"""
    track: str = "main"
    """"main", or "privileged" (the agent reads the env's exact model)"""

    @property
    def label(self) -> str:
        return self.cell.label

    @property
    def table(self) -> tuple[str, str, str, str, str]:
        """(experiment, variant, env id, preset, track): the table this cell is ranked in."""
        return (*self.cell.table, self.track)


@dataclasses.dataclass(frozen=True)
class Report:
    cells: tuple[CellSummary, ...]
    bad: tuple[tuple[Path, str], ...]
    written: tuple[Path, ...]


def collect(directory: str | Path) -> tuple[list[tuple[Path, ResultRecord]], list[tuple[Path, str]]]:
    """Load every results file (`*__seed<s>[__variant].json`, see `CellId.filename`) under `directory`;
    other JSON beside them (e.g. `benchmarks/bound.py`'s `bound.json`) is not a result and is left alone.
    Returns (valid (path, record) pairs, bad (path, reason) pairs)."""
    valid, bad = [], []
    for path in sorted(Path(directory).rglob("*__seed*.json")):
        try:
            valid.append((path, load_result(path)))
        except ResultError as error:
            bad.append((path, str(error)))
    groups: dict[CellId, list[tuple[Path, ResultRecord]]] = defaultdict(list)
    for path, record in valid:
        groups[record.cell].append((path, record))
    kept = []
    for members in groups.values():
        first_path, first = members[0]
        seeds = {first.seed}
        kept.append(members[0])
        for path, record in members[1:]:
            differ = same_cell_settings(first, record)
            if differ:
                bad.append((path, f"{path}: {', '.join(differ)} differ from {first_path.name} of the same cell"))
            elif record.seed in seeds:
                bad.append((path, f"{path}: field seed = {record.seed} repeats a seed of its cell"))
            else:
                seeds.add(record.seed)
                kept.append((path, record))
    return _same_budget(kept, bad)


def _same_budget(kept: list[tuple[Path, ResultRecord]],
                 bad: list[tuple[Path, str]]) -> tuple[list[tuple[Path, ResultRecord]], list[tuple[Path, str]]]:
    """Refuse the cells whose budget differs from the first cell (by label) of the same table."""
    first: dict[tuple[str, str, str, str], ResultRecord] = {}
    for _, record in sorted(kept, key=lambda item: (item[1].cell.label, item[1].seed)):
        first.setdefault(record.cell.table, record)
    ranked = []
    for path, record in kept:
        reference = first[record.cell.table]
        if record.protocol.budget() != reference.protocol.budget():
            bad.append((path, f"{path}: budget {record.protocol.budget()} differs from {reference.cell.label!r}'s "
                              f"{reference.protocol.budget()} in the same table; results are ranked only against "
                              "the same budget"))
        else:
            ranked.append((path, record))
    return ranked, bad


def _targets(experiments: Mapping[str, Any], experiment: str, label: str, adaptation_steps: int) -> tuple[Any, ...]:
    known = experiments.get(experiment)
    if known is None:
        return ()
    return tuple(t for t in known.targets if t.agent == label and t.step <= adaptation_steps)


def summarize_cells(valid: Sequence[tuple[Path, ResultRecord]], *, seed: int = 0,
                    experiments: Mapping[str, Any] | None = None) -> list[CellSummary]:
    """Aggregate the valid documents by cell (bootstrap draws from `np.random.default_rng(seed)`); targets
    come from `experiments` (name → Experiment; default: the `benchmarks.experiments` registry)."""
    if experiments is None:
        from benchmarks.experiments import EXPERIMENTS as experiments
    groups: dict[CellId, list[ResultRecord]] = defaultdict(list)
    for _, record in valid:
        groups[record.cell].append(record)
    rng = np.random.default_rng(seed)
    cells = []
    for key in sorted(groups, key=dataclasses.astuple):
        records = sorted(groups[key], key=lambda r: r.seed)
        means = [r.meta_test.mean_returns() for r in records]
        steps = len(means[0])
        returns = tuple(summarize([m[k] for m in means], rng=rng) for k in range(steps))
        gaps = None
        mean_gaps = [mean_optimality_gaps(r.meta_test) for r in records]
        if all(g is not None for g in mean_gaps):
            gaps = tuple(summarize([g[k] for g in mean_gaps], rng=rng) for k in range(steps))
        curves = tuple({"seed": r.seed, "env_steps": [row.env_steps for row in r.training_curve],
                        "pre": [row.pre_adaptation_return for row in r.training_curve],
                        "post": [row.post_adaptation_return for row in r.training_curve]} for r in records)
        spent = [r.meta_test.mean_adaptation_env_steps() for r in records]
        cells.append(CellSummary(key, agent_class=records[0].agent.agent_class, seeds=tuple(r.seed for r in records),
                                 returns=returns, gaps=gaps,
                                 targets=_targets(experiments, key.experiment, key.label, steps - 1),
                                 curves=curves, protocol=dataclasses.asdict(records[0].protocol),
                                 adaptation_env_steps=tuple(float(np.mean(s)) for s in zip(*spent, strict=True)),
                                 track=records[0].meta_test.track))
    return cells


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def table_rows(cell: CellSummary) -> list[dict[str, str]]:
    """One row per adaptation step k: the strings printed by the CLI and the Markdown/HTML tables."""
    rows = []
    for k, summary in enumerate(cell.returns):
        ci = "" if summary.ci is None else f"[{summary.ci[0]:.2f}, {summary.ci[1]:.2f}]"
        targets = "; ".join(f"{t.mean:.2f}" + ("" if t.ci is None else f" ± {t.ci:.2f}") + f" ({t.source})"
                            for t in cell.targets if t.step == k)
        rows.append({"agent": cell.label, "k": str(k), "seeds": str(summary.n), "mean": _fmt(summary.mean),
                     "iqm": _fmt(summary.iqm), "ci95": ci, "gap": "" if cell.gaps is None else _fmt(cell.gaps[k].mean),
                     "steps": f"{cell.adaptation_env_steps[k]:.0f}" if cell.adaptation_env_steps else "",
                     "target": targets})
    return rows


COLUMNS = (("agent", "agent"), ("k", "k"), ("seeds", "seeds"), ("mean", "mean R_k"), ("iqm", "IQM"),
           ("ci95", "95 % CI"), ("gap", "gap J*−R_k"), ("steps", "adapt env steps"), ("target", "target (source)"))

TableKey = tuple[str, str, str, str, str]
"""(experiment, variant, env id, preset, track)"""


def tables(cells: Sequence[CellSummary]) -> dict[TableKey, list[CellSummary]]:
    """The cells by table: one per (experiment, variant, env, preset) and track, main before privileged."""
    groups: dict[TableKey, list[CellSummary]] = defaultdict(list)
    for cell in cells:
        groups[cell.table].append(cell)
    return dict(sorted(groups.items(), key=lambda item: (item[0][:4], item[0][4] != "main")))


def title(key: TableKey) -> str:
    experiment, variant, env_id, preset, track = key
    where = f"{experiment}{'' if variant == 'full' else f' ({variant})'} — {env_id}, preset {preset}"
    return where if track == "main" else f"{where} — privileged track (agents read the env's exact model)"


def _plot_stem(key: TableKey) -> str:
    return f"{key[0]}__{key[1]}__{key[2].split('/')[-1]}__{key[3]}" + ("" if key[4] == "main" else "__privileged")


def _md(text: str) -> str:
    """`text` as inert Markdown inline text: one line, HTML escaped, and no character that could open a
    table cell, heading, link, code span or emphasis."""
    return re.sub(r"([\\`*_\[\]#|!])", r"\\\1", html.escape(" ".join(str(text).split()), quote=False))


def to_markdown(cells: Sequence[CellSummary], bad: Sequence[tuple[Path, str]] = ()) -> str:
    lines = ["# metarl-bench leaderboard", "",
             "Mean over seeds of the mean meta-test return R_k after k adaptation steps; IQM and 95 % bootstrap "
             "CI across seeds; optimality gap where the env has an oracle.", ""]
    for key, group in tables(cells).items():
        lines += [f"## {_md(title(key))}", "", f"Protocol: {_md(str(group[0].protocol))}", "",
                  "| " + " | ".join(title for _, title in COLUMNS) + " |",
                  "|" + "---|" * len(COLUMNS)]
        for cell in group:
            lines += ["| " + " | ".join(_md(row[name]) for name, _ in COLUMNS) + " |" for row in table_rows(cell)]
        lines += ["", f"![returns]({_plot_stem(key)}__returns.png) ![training]({_plot_stem(key)}__training.png)", ""]
    if bad:
        lines += ["## Refused files", ""] + [f"- {_md(str(path))}: {_md(reason)}" for path, reason in bad] + [""]
    return "\n".join(lines)


def to_html(cells: Sequence[CellSummary], bad: Sequence[tuple[Path, str]] = ()) -> str:
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>metarl-bench leaderboard</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}img{max-width:48%}</style></head><body>",
             "<h1>metarl-bench leaderboard</h1>"]
    for key, group in tables(cells).items():
        parts.append(f"<h2>{esc(title(key))}</h2><p>Protocol: <code>{esc(str(group[0].protocol))}</code></p>")
        parts.append("<table><tr>" + "".join(f"<th>{esc(title)}</th>" for _, title in COLUMNS) + "</tr>")
        for cell in group:
            for row in table_rows(cell):
                parts.append("<tr>" + "".join(f"<td>{esc(row[name])}</td>" for name, _ in COLUMNS) + "</tr>")
        stem = esc(_plot_stem(key))
        parts.append(f"</table><p><img src='{stem}__returns.png' alt='returns'>"
                     f"<img src='{stem}__training.png' alt='training curves'></p>")
    if bad:
        parts.append("<h2>Refused files</h2><ul>" + "".join(f"<li><code>{esc(str(p))}</code>: {esc(r)}</li>"
                                                            for p, r in bad) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _plot_returns(key: TableKey, group: Sequence[CellSummary], path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for cell in group:
        steps = np.arange(len(cell.returns))
        means = np.array([s.mean for s in cell.returns])
        line = axes.plot(steps, means, marker="o", label=f"{cell.label} ({len(cell.seeds)} seeds)")[0]
        if all(s.ci is not None for s in cell.returns):
            axes.fill_between(steps, [s.ci[0] for s in cell.returns], [s.ci[1] for s in cell.returns],
                              color=line.get_color(), alpha=0.2)
        for target in cell.targets:
            axes.errorbar([target.step], [target.mean], yerr=target.ci, fmt="x", color=line.get_color(),
                          capsize=4)
    axes.set(xlabel="adaptation steps k", ylabel="mean meta-test return R_k", title=title(key))
    axes.set_xticks(range(max(len(c.returns) for c in group)))
    axes.legend(fontsize="small")
    _save(figure, path)


def _save(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, dpi=100, format="png")
    plt.close(figure)
    atomic_write(path, buffer.getvalue())


def _plot_training(key: TableKey, group: Sequence[CellSummary], path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for cell in group:
        color = None
        for curve in cell.curves:
            label = cell.label if color is None else None
            line = axes.plot(curve["env_steps"], curve["pre"], color=color, alpha=0.8, label=label)[0]
            color = line.get_color()
            post = np.asarray(curve["post"], dtype=float)
            if not np.all(np.isnan(post)):
                axes.plot(curve["env_steps"], post, color=color, alpha=0.8, linestyle="--")
    axes.set(xlabel="environment steps", ylabel="return (solid: pre-, dashed: post-adaptation)",
             title=title(key))
    axes.legend(fontsize="small")
    _save(figure, path)


def write_leaderboard(directory: str | Path, out: str | Path | None = None) -> Report:
    """Validate `directory`'s results and write leaderboard.md, leaderboard.html and PNGs into `out`, each
    atomically (a full disk leaves the previous page, never a truncated one)."""
    import matplotlib

    matplotlib.use("Agg")
    out = Path(directory) / "leaderboard" if out is None else Path(out)
    valid, bad = collect(directory)
    cells = summarize_cells(valid)
    written = [atomic_write(out / "leaderboard.md", to_markdown(cells, bad)),
               atomic_write(out / "leaderboard.html", to_html(cells, bad))]
    for key, group in tables(cells).items():
        stem = _plot_stem(key)
        _plot_returns(key, group, out / f"{stem}__returns.png")
        _plot_training(key, group, out / f"{stem}__training.png")
        written += [out / f"{stem}__returns.png", out / f"{stem}__training.png"]
    return Report(tuple(cells), tuple(bad), tuple(written))
