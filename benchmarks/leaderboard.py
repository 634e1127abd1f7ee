"""Validate folders of results files and render a leaderboard: Markdown, static HTML and PNG plots.

A *cell* here is (experiment, variant, agent label, env id, preset) within one source folder; its
files are its seeds. Several folders can be reported together (`report results/ results/reference/`):
each file belongs to the deepest folder given that holds it, and a `reference/` folder inside a
given folder (the committed `results/reference/`) is always a source of its own, so a user's cells
appear next to the reference cells, labelled "[reference]", instead of clashing with them.

Per table (experiment, variant, env, preset, track) the page gives, per agent, R_0..R_K as columns
(mean over seeds of the per-seed mean meta-test return, with the 95 % bootstrap CI across seeds),
the IQM of R_K, the adaptation env steps spent before R_K, the meta-training env steps, the
paper's number with its source in words, and a verdict: "reproduced" when, for every target of the
agent, the measured 95 % CI of R_k (the mean alone with one seed) meets the paper's interval (its
number ± the reported half-width, or the number alone); "not reproduced" otherwise; "no target" when
the paper gives none; "cut run, not judged" for a cut run (`--iterations N`) that has a target, since
its meta-training stopped before the paper's. Across tables, an rliable-style aggregate
(`benchmarks.stats`): the IQM of the normalised R_K of every (table, seed) per agent, and the
probability that an agent beats MAML.

Variants: "full" is the experiment as written; "iters<N>" is a cut run, titled as such, with the full
run's projected time beside it (measured seconds per meta-training iteration × the full iterations,
plus the measured meta-test); "quick" is a
smoke test: titled "SMOKE TEST", never given a verdict or a paper number, and refused outright on a
published page (`publish=True`, `metarl-bench report ... --docs DIR`).

Files that fail `load_result`, and files of one cell that disagree with the cell's first file on
protocol, agent class or config, env kwargs, task sets or iterations (or repeat a seed) are
reported as bad with the reason; the rest are still rendered. Results are ranked only against
results with the same budget: a cell whose protocol budget (adaptation rounds, episodes per round,
evaluation episodes, scoring) differs from the first cell of its table is refused, naming both.
Agents that read the env's exact model form a table of their own, labelled the privileged track.

The page is deterministic: no timestamps, a stable order, seeded bootstraps, PNGs written without
a software version; each plot's data is fingerprinted in the page, so a stale page shows in a diff.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import importlib
import io
import json
import math
import pkgutil
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.results import CellId, ResultError, ResultRecord, load_result, mean_optimality_gaps, same_cell_settings
from benchmarks.stats import Summary, aggregate_iqm, probability_of_improvement, summarize
from metarl_envs.task_sets import atomic_write

__all__ = ["ESTIMATED_CELL_SECONDS", "PAPERS", "REFERENCE_FOLDER", "CellSummary", "Report", "TableKey", "aggregate",
           "cite", "collect", "is_reference_path", "measured_cell_seconds", "optimum_words",
           "reference_root",
           "summarize_cells", "table_rows", "tables", "title", "verdict",
           "write_leaderboard"]

REFERENCE_FOLDER = "reference"
"""the name of the committed reference folder inside a results folder (`results/reference/`)"""


def is_reference_path(path: str | Path) -> bool:
    """True for `results/reference/` and anything inside it (wherever the checkout is): user runs never
    write there (`metarl-bench run` needs `--reference`)."""
    parts = Path(path).resolve().parts
    return any(parts[i:i + 2] == ("results", REFERENCE_FOLDER) for i in range(len(parts) - 1))



def reference_root() -> Path:
    """`results/reference/` of the current folder, or else of the checkout this package runs from."""
    here = Path("results") / REFERENCE_FOLDER
    if here.is_dir():
        return here
    checkout = Path(__file__).resolve().parents[1] / "results" / REFERENCE_FOLDER
    return checkout if checkout.is_dir() else here



def measured_cell_seconds(folder: str | Path) -> dict[str, tuple[float, str]]:
    """Experiment name → (seconds per cell at full settings, mark) from the results under `folder`: the
    mean wall time of its full cells (mark ""), else projected from its longest cut run (mark "†":
    seconds per meta-training iteration × the full iterations, plus its meta-test). Reads only the
    timing fields (no validation: the reference folder is validated by its tests); quick results are
    ignored."""
    from benchmarks.experiments import EXPERIMENTS
    from benchmarks.results import MAX_RESULT_BYTES
    from metarl_envs.task_sets import read_json_file

    full: dict[str, list[float]] = defaultdict(list)
    cut: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(Path(folder).rglob("*__seed*.json")) if Path(folder).is_dir() else []:
        try:
            data = read_json_file(path, max_bytes=MAX_RESULT_BYTES)
            name, variant, seconds, iterations = (data["experiment"], data["variant"], float(data["wall_time"]),
                                                  int(data["iterations"]))
            curve = data["training_curve"]
            training = float(curve[-1]["wall_time"]) if curve else seconds  # the rest is the meta-test
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            continue
        if variant == "full":
            full[name].append(seconds)
        elif variant.startswith("iters") and name in EXPERIMENTS:
            cut[name][iterations].append(training / iterations * EXPERIMENTS[name].iterations + seconds - training)
    found = {name: (float(np.mean(cut[name][max(cut[name])])), "†") for name in cut}
    found.update({name: (float(np.mean(times)), "") for name, times in full.items()})
    return found


PAPERS: dict[str, str] = {
    "SG-MRL": "Fallah, Georgiev, Mokhtari, Ozdaglar, \"On the Convergence Theory of Debiased Model-Agnostic "
              "Meta-Reinforcement Learning\", NeurIPS 2021",
    "MAML": "Finn, Abbeel, Levine, \"Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks\", ICML 2017",
    "MEMRL": "Toghani, Perez-Salazar, Uribe, \"On First-Order Meta-Reinforcement Learning with Moreau Envelopes\", "
             "ICML 2023 workshop",
    "pMeta-RL": "Wang et al., \"On the Convergence Theory of Meta Reinforcement Learning with Personalized "
                "Policies\", arXiv:2209.10072",
    "BO-MRL": "Xu, Zhu, \"Meta-Reinforcement Learning with Universal Policy Adaptation: Provable Near-Optimality "
              "under All-task Optimum Comparator\", NeurIPS 2024",
}
"""the paper each target source names first (`Target.source` = "<paper> <where>"), in words"""

ESTIMATED_CELL_SECONDS: dict[str, float] = {
    "maml-nav2d": 630.0,          # card: 580-680 s per seed (3 seeds, 100 iterations), 2 shared cores
    "sgmrl-nav2d": 775.0,         # card: SG-MRL seed 0 on the walled preset, 775 s on a nearly idle machine
    "sgmrl-cheetah-dir": 5400.0,  # card: ≈ 13 s per iteration × 400 iterations
    "sgmrl-cheetah-vel": 5200.0,  # card: 12-14 s per iteration × 400 iterations
    "memrl-gridnav": 135.0,       # card: t = 120 in 135 s
    "pmeta-gridworld": 1.0,       # measured: 0.5-1.0 s per cell (all 6 cells, 2 shared cores)
    "bomrl-frozenlake": 340.0,    # measured, seed 0 (high), niced on a loaded machine: BO-MRL (1) 487 s, MAML 198 s
}
"""seconds per (agent, seed) cell at full settings on the 2-core reference machine, from the experiment
cards' measured times; `metarl-bench list` prints these, marked "est.", where results/reference/ has none"""


# ---------------------------------------------------------------------------------------------- collecting


def source_roots(directories: Sequence[str | Path]) -> list[Path]:
    """The folders files are attributed to: those given, and a `reference/` folder inside any of them."""
    roots = [Path(d) for d in directories]
    for directory in list(roots):
        inner = directory / REFERENCE_FOLDER
        if inner.is_dir() and all(inner.resolve() != r.resolve() for r in roots):
            roots.append(inner)
    return roots


def source_of(path: Path, roots: Sequence[Path]) -> Path:
    """The deepest of `roots` that holds `path`."""
    resolved = path.resolve()
    holding = [r for r in roots if resolved.is_relative_to(r.resolve())]
    return max(holding, key=lambda r: len(r.resolve().parts)) if holding else Path(path).parent


def _source_names(roots: Sequence[Path], used: set[Path]) -> dict[Path, str]:
    """How each root is shown beside an agent's label: nothing with one source; "reference" for a
    `reference/` folder, else the folder as given."""
    if len(used) <= 1:
        return {r: "" for r in roots}
    return {r: REFERENCE_FOLDER if r.name == REFERENCE_FOLDER else str(r) for r in roots}


def collect(*directories: str | Path) -> tuple[list[tuple[Path, ResultRecord]], list[tuple[Path, str]]]:
    """Load every results file (`*__seed<s>[__variant].json`, see `CellId.filename`) under the folders;
    other JSON beside them (e.g. `benchmarks/bound.py`'s `bound.json`) is not a result and is left alone.
    A file reached through two folders is read once. Returns (valid (path, record) pairs, bad (path,
    reason) pairs)."""
    if not directories:
        raise ValueError("collect: give at least one folder")
    roots = source_roots(directories)
    found = {path.resolve(): path for directory in directories for path in Path(directory).rglob("*__seed*.json")}
    # a reference file first: a byte-identical copy elsewhere (`run --from-reference`) is shown once, as the reference
    paths = sorted(found.values(), key=lambda p: (source_of(p, roots).name != REFERENCE_FOLDER, str(p)))
    valid, bad, contents = [], [], {}
    for path in paths:
        try:
            record = load_result(path)
        except ResultError as error:
            bad.append((path, str(error)))
            continue
        with open(path, "rb") as stream:  # a valid result: a regular file within the size cap
            digest = hashlib.sha256(stream.read()).hexdigest()
        where = source_of(path, roots)
        if not any(seen != where for seen in contents.get(digest, ())):
            contents.setdefault(digest, set()).add(where)
            valid.append((path, record))
    groups: dict[tuple[Path, CellId], list[tuple[Path, ResultRecord]]] = defaultdict(list)
    for path, record in valid:
        groups[(source_of(path, roots), record.cell)].append((path, record))
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


# ---------------------------------------------------------------------------------------------- summarising


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
    source: str = ""
    """the folder the cell was read from, shown beside the label when several were reported ("reference")"""
    iterations: int = 0
    """meta-training iterations of every seed"""
    wall_times: tuple[float, ...] = ()
    """per seed: seconds of meta-training and meta-test"""
    training_times: tuple[float, ...] = ()
    """per seed: seconds of meta-training alone (the training curve's last wall time)"""
    per_seed_returns: tuple[tuple[float, ...], ...] = ()
    """per seed: R_0..R_K (mean over the test tasks)"""
    test_tasks: int = 0
    """test tasks scored per seed"""
    optimum: str | None = None
    """how J* behind the gaps was obtained, in words (`optimum_words`); None without gaps"""

    @property
    def label(self) -> str:
        return self.cell.label if not self.source else f"{self.cell.label} [{self.source}]"

    @property
    def table(self) -> tuple[str, str, str, str, str]:
        """(experiment, variant, env id, preset, track): the table this cell is ranked in."""
        return (*self.cell.table, self.track)

    @property
    def training_env_steps(self) -> float | None:
        """Mean over seeds of the env steps meta-training took (None without a training curve)."""
        last = [c["env_steps"][-1] for c in self.curves if c["env_steps"]]
        return float(np.mean(last)) if last else None

    @property
    def seconds_per_iteration(self) -> float | None:
        """Mean seconds of one meta-training iteration (the meta-test left out)."""
        if not self.training_times or not self.iterations:
            return None
        return float(np.mean(self.training_times)) / self.iterations

    @property
    def meta_test_seconds(self) -> float | None:
        """Mean seconds of the cell's set-up and meta-test: its wall time less its meta-training."""
        if not self.training_times or len(self.training_times) != len(self.wall_times):
            return None
        return float(np.mean([w - t for w, t in zip(self.wall_times, self.training_times, strict=True)]))

    def projected_seconds(self, iterations: int) -> float | None:
        """A cell's wall time at `iterations` meta-training iterations: the measured seconds per iteration
        × `iterations`, plus the measured meta-test."""
        rate, test = self.seconds_per_iteration, self.meta_test_seconds
        return None if rate is None or test is None else rate * iterations + test


def _targets(experiments: Mapping[str, Any], key: CellId, adaptation_steps: int) -> tuple[Any, ...]:
    """The targets the cell's experiment gives its agent on the cell's (env, preset) setting."""
    known = experiments.get(key.experiment)
    part = None if known is None else known.setting(key.env_id, key.preset)
    if part is None:
        return ()
    return tuple(t for t in part.targets if t.agent == key.label and t.step <= adaptation_steps)


def summarize_cells(valid: Sequence[tuple[Path, ResultRecord]], *, seed: int = 0,
                    experiments: Mapping[str, Any] | None = None,
                    roots: Sequence[str | Path] = ()) -> list[CellSummary]:
    """Aggregate the valid documents by source folder and cell (bootstrap draws from
    `np.random.default_rng(seed)`); targets come from `experiments` (name → Experiment; default: the
    `benchmarks.experiments` registry); `roots`: the folders reported (see `source_roots`)."""
    if experiments is None:
        from benchmarks.experiments import EXPERIMENTS as experiments
    all_roots = source_roots(roots) if roots else []
    groups: dict[tuple[Path, CellId], list[ResultRecord]] = defaultdict(list)
    for path, record in valid:
        where = source_of(path, all_roots) if all_roots else Path()
        groups[(where, record.cell)].append(record)
    names = _source_names(all_roots, {where for where, _ in groups})
    rng = np.random.default_rng(seed)
    cells = []
    for where, key in sorted(groups, key=lambda item: (dataclasses.astuple(item[1]), names.get(item[0], ""))):
        records = sorted(groups[(where, key)], key=lambda r: r.seed)
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
                                 targets=_targets(experiments, key, steps - 1),
                                 curves=curves, protocol=dataclasses.asdict(records[0].protocol),
                                 adaptation_env_steps=tuple(float(np.mean(s)) for s in zip(*spent, strict=True)),
                                 track=records[0].meta_test.track, source=names.get(where, ""),
                                 iterations=records[0].iterations, wall_times=tuple(r.wall_time for r in records),
                                 training_times=tuple(r.training_curve[-1].wall_time for r in records)
                                 if all(r.training_curve for r in records) else (),
                                 per_seed_returns=tuple(tuple(m) for m in means),
                                 test_tasks=len(records[0].meta_test.tasks),
                                 optimum=None if gaps is None else optimum_words(records[0].meta_test)))
    return cells


# ---------------------------------------------------------------------------------------------- words


def cite(source: str) -> tuple[str, str | None]:
    """A target's source in words, and the docs page it cites (or None): "SG-MRL Table 1" →
    ("Fallah, Georgiev, Mokhtari, Ozdaglar, "…", NeurIPS 2021, Table 1", None)."""
    page = re.search(r"\(?docs/(sources/[\w.-]+\.md)((?: §[\w.]+)?)\)?", source)
    text = source if page is None else (source[:page.start()] + source[page.end():]).strip()
    paper, _, where = text.partition(" ")
    if paper in PAPERS:
        where = re.sub(r"\b[A-Z][A-Za-z]*'\d\d\b", "", where).strip()  # "ICML'17": the venue is in the words
        text = PAPERS[paper] + (f", {where}" if where else "")
    return text, None if page is None else page.group(1) + page.group(2)


def cited_once(sources: Iterable[str]) -> list[tuple[str, list[str]]]:
    """Each cited table once: sources that differ only in a trailing ", <row>" ("pMeta-RL Table V,
    MP", "pMeta-RL Table V, PP", "pMeta-RL Table V") become ("pMeta-RL Table V", ["MP", "PP"])."""
    rows: dict[str, list[str]] = {}
    for source in sorted(sources):
        table, _, row = source.rpartition(", ")
        if not table:
            rows.setdefault(source, [])
        else:
            rows.setdefault(table, []).append(row)
    return sorted(rows.items())


def verdict(cell: CellSummary) -> str:
    """"reproduced", "not reproduced" or "no target" (the rule is in the module docstring); a smoke
    test gets no verdict ("smoke test"), nor does a cut run, whose meta-training stopped before the
    paper's ("cut run, not judged": its paper number is shown beside it all the same)."""
    if cell.cell.variant == "quick":
        return "smoke test"
    if not cell.targets:
        return "no target"
    if cell.cell.variant.startswith("iters"):
        return "cut run, not judged"
    for target in cell.targets:
        measured = cell.returns[target.step]
        low, high = measured.ci if measured.ci is not None else (measured.mean, measured.mean)
        half = target.ci or 0.0
        if high < target.mean - half or low > target.mean + half:
            return "not reproduced"
    return "reproduced"


def _number(value: float) -> str:
    return f"{value:.2f}".replace("-", "−")


def _count(value: float) -> str:
    for size, unit in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.0f}"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "< 1 s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def protocol_words(protocol: Mapping[str, Any], test_tasks: int) -> str:
    """The meta-test protocol and budget in words."""
    k = protocol["adaptation_steps"]
    rounds = (f"after k = 0..{k} adaptation rounds of {protocol['adaptation_episodes']} episodes per task"
              if k else "without adaptation")
    discount = "undiscounted" if protocol["discount"] == 1.0 else f"discounted by {protocol['discount']:g}"
    if protocol["exact"]:
        score = f"R_k is the exact expected return ({discount}) of the agent's policy on each task's model"
    else:
        which = "the mean" if protocol["scored_episode"] == "mean" else "the last"
        score = (f"R_k is {which} of {protocol['evaluation_episodes']} evaluation episodes' returns "
                 f"({discount}) per task")
    return f"Meta-test on {test_tasks} test task(s): {score}, {rounds}; averaged over the test tasks."


def optimum_words(result: Any) -> str | None:
    """The kind of J* behind a meta-test's optimality gaps, in words: "exact", "analytic", or
    "estimated" with the estimator, its budget and the sample of tasks it covers."""
    kind = result.optimum_kind
    if kind == "exact":
        return "exact (dynamic programming on each test task's model)"
    if kind == "analytic":
        return "analytic (a closed form per test task)"
    if kind != "estimated":
        return None
    estimate, scored = result.oracle_estimate, len(result.tasks)
    covered = sum(t.optimal_return is not None for t in result.tasks)
    others = covered - len(estimate.tasks)
    also = f" and {others} with an exact or analytic J*" if others else ""
    return (f"estimated: {estimate.estimator}; on {len(estimate.tasks)} of {scored} test tasks{also}, and the gap is "
            f"the mean over those {covered}. An estimate is a trained policy's return, a lower bound on J*: a "
            "negative gap means the agent beat the estimator")


def variant_words(cell: CellSummary, experiments: Mapping[str, Any]) -> str:
    """What the variant is, for the table's heading paragraph (with the projected full-run time of a cut run)."""
    variant = cell.cell.variant
    if variant == "quick":
        return ("SMOKE TEST (--quick): the experiment's smoke-test overrides (a few iterations, small networks, "
                "few test tasks). These numbers only show that the code runs; they are not results and are "
                "not compared with the paper.")
    known = experiments.get(cell.cell.experiment)
    if variant == "full":
        return f"Full run: {cell.iterations} meta-training iterations per seed, as the experiment is written."
    full = known.iterations if known is not None else None
    text = f"Cut run: meta-training stopped after {cell.iterations}" + (f" of the full {full}" if full else "") + \
        " iterations per seed (`--iterations`); not the experiment's full setting."
    rate, test, projected = cell.seconds_per_iteration, cell.meta_test_seconds, cell.projected_seconds(full or 0)
    if projected is not None and full:
        text += (f" Measured {rate:.1f} s per meta-training iteration and {test:.0f} s of meta-test per cell, so "
                 f"the full run would take about {_duration(projected)} per cell here ({rate:.1f} s × {full} + "
                 f"{test:.0f} s).")
    return text


def title(key: TableKey) -> str:
    experiment, variant, env_id, preset, track = key
    cut = f" — cut run ({variant[5:]} iteration{'s' * (variant != 'iters1')})"
    kind = {"full": "", "quick": " — SMOKE TEST (--quick), not a result"}.get(
        variant, cut if variant.startswith("iters") else f" ({variant})")
    where = f"{experiment}{kind} — {env_id}, preset {preset}"
    return where if track == "main" else f"{where} — privileged track (agents read the env's exact model)"


# ---------------------------------------------------------------------------------------------- tables


TableKey = tuple[str, str, str, str, str]
"""(experiment, variant, env id, preset, track)"""


def tables(cells: Sequence[CellSummary]) -> dict[TableKey, list[CellSummary]]:
    """The cells by table: one per (experiment, variant, env, preset) and track, main before privileged."""
    groups: dict[TableKey, list[CellSummary]] = defaultdict(list)
    for cell in cells:
        groups[cell.table].append(cell)
    return dict(sorted(groups.items(), key=lambda item: (item[0][:4], item[0][4] != "main")))


def _target_text(target: Any, with_source: bool) -> str:
    text = f"R_{target.step} {_number(target.mean)}" + ("" if target.ci is None else f" ± {target.ci:.2f}")
    return text + (f" ({target.source})" if with_source else "")


def table_rows(cell: CellSummary) -> list[dict[str, str]]:
    """One row per adaptation step k: the strings of the terminal table (`COLUMNS`)."""
    rows = []
    for k, summary in enumerate(cell.returns):
        ci = "" if summary.ci is None else f"[{summary.ci[0]:.2f}, {summary.ci[1]:.2f}]"
        targets = "" if cell.cell.variant == "quick" else "; ".join(
            f"{t.mean:.2f}" + ("" if t.ci is None else f" ± {t.ci:.2f}") for t in cell.targets if t.step == k)
        rows.append({"agent": cell.label, "k": str(k), "seeds": str(summary.n), "mean": f"{summary.mean:.2f}",
                     "iqm": f"{summary.iqm:.2f}", "ci95": ci,
                     "gap": "" if cell.gaps is None else f"{cell.gaps[k].mean:.2f}",
                     "steps": f"{cell.adaptation_env_steps[k]:.0f}" if cell.adaptation_env_steps else "",
                     "target": targets})
    return rows


COLUMNS = (("agent", "agent"), ("k", "k"), ("seeds", "n"), ("mean", "R_k"), ("iqm", "IQM"),
           ("ci95", "95 % CI"), ("gap", "J*−R_k"), ("steps", "steps"), ("target", "paper"))
"""the terminal table's columns (one row per agent and k); the page has one row per agent"""


def page_header(cells: Sequence[CellSummary]) -> list[str]:
    """The page table's header: agent, seeds, R_0..R_K, IQM, (optimality gap), steps, paper, verdict."""
    steps = len(cells[0].returns)
    gap = [f"gap J*−R_{steps - 1}"] if any(c.gaps is not None for c in cells) else []
    return ["agent", "seeds", *(f"R_{k}" for k in range(steps)), f"IQM R_{steps - 1}", *gap,
            f"adaptation env steps (before R_{steps - 1})", "meta-training env steps", "paper", "verdict"]


def page_row(cell: CellSummary, gap_column: bool = False) -> list[str]:
    """One agent's row of the page table (`page_header`; `gap_column` when it has the optimality gap)."""
    values = []
    for summary in cell.returns:
        values.append(_number(summary.mean) + ("" if summary.ci is None else
                                                f" [{_number(summary.ci[0])}, {_number(summary.ci[1])}]"))
    last = cell.returns[-1]
    spent = f"{cell.adaptation_env_steps[-1]:.0f}" if cell.adaptation_env_steps else ""
    trained = cell.training_env_steps
    paper = "" if cell.cell.variant == "quick" else "; ".join(_target_text(t, False) for t in cell.targets)
    gap = [] if not gap_column else ["" if cell.gaps is None else _number(cell.gaps[-1].mean)]
    return [cell.label, str(len(cell.seeds)), *values, _number(last.iqm), *gap, spent,
            "" if trained is None else _count(trained), paper, verdict(cell)]


# ---------------------------------------------------------------------------------------------- aggregate


@dataclasses.dataclass(frozen=True)
class AggregateRow:
    agent: str
    tables: int
    iqm: float
    iqm_ci: tuple[float, float] | None
    improvement: tuple[float, tuple[float, float] | None, str, int] | None
    """P(agent > its MAML comparator), its CI, the comparator's label and the number of tables"""


def _comparator(cell: CellSummary, group: Sequence[CellSummary]) -> CellSummary | None:
    """The MAML agent a cell is compared with in its table: the MAML cell with the same parenthesised
    suffix ("SG-MRL (2 step)" → "MAML (2 step)"), else the one labelled "MAML"."""
    if cell.cell.label.startswith("MAML"):
        return None
    suffix = re.search(r"\(.*\)$", cell.cell.label)
    by_label = {c.cell.label: c for c in group if c.source == cell.source}
    if suffix and f"MAML {suffix.group(0)}" in by_label:
        return by_label[f"MAML {suffix.group(0)}"]
    return by_label.get("MAML")


def aggregate(cells: Sequence[CellSummary], *, seed: int = 0) -> list[AggregateRow]:
    """Per agent label, over one table per experiment and track (its full run, else its longest cut run;
    smoke tests left out): the IQM of the per-seed R_K
    normalised within its table (0 = the lowest, 1 = the highest per-seed R_k of any agent and k in the
    table), and P(agent > its MAML comparator) on R_K, both with stratified-bootstrap 95 % CIs."""
    rng = np.random.default_rng(seed)
    scores: dict[str, list[list[float]]] = defaultdict(list)
    pairs: dict[str, tuple[list[list[float]], list[list[float]], set[str]]] = {}
    ranked = {key: group for key, group in tables(cells).items() if key[1] != "quick"}
    longest: dict[tuple[str, ...], TableKey] = {}  # per experiment and track: the full run, else the longest cut
    for key in ranked:
        where = (key[0], *key[2:])
        length = math.inf if key[1] == "full" else int(key[1].removeprefix("iters"))
        current = longest.get(where)
        if current is None or length > (math.inf if current[1] == "full" else int(current[1].removeprefix("iters"))):
            longest[where] = key
    for key, group in ranked.items():
        if longest[(key[0], *key[2:])] != key:
            continue
        everything = [r for c in group for seed_returns in c.per_seed_returns for r in seed_returns]
        low, high = min(everything), max(everything)
        span = high - low if high > low else 1.0
        for cell in group:
            scores[cell.label].append([(r[-1] - low) / span for r in cell.per_seed_returns])
            other = _comparator(cell, group)
            if other is not None:
                x, y, names = pairs.setdefault(cell.label, ([], [], set()))
                x.append([r[-1] for r in cell.per_seed_returns])
                y.append([r[-1] for r in other.per_seed_returns])
                names.add(other.cell.label)
    rows = []
    for label in sorted(scores):
        value, ci = aggregate_iqm(scores[label], rng=rng)
        improvement = None
        if label in pairs:
            x, y, names = pairs[label]
            p, p_ci = probability_of_improvement(x, y, rng=rng)
            improvement = (p, p_ci, " / ".join(sorted(names)), len(x))
        rows.append(AggregateRow(label, len(scores[label]), value, ci, improvement))
    return rows


# ---------------------------------------------------------------------------------------------- the page


@dataclasses.dataclass(frozen=True)
class Link:
    text: str
    href: str


Span = str | Link
Block = tuple[str, Any]
"""("h1" | "h2" | "h3", text), ("p", [Span]), ("table", (header, rows of [Span])), ("img", [(src, alt)]),
("comment", text), ("list", [[Span]])"""


def _card_modules() -> dict[str, str]:
    """Experiment name → the module whose docstring is its card."""
    import benchmarks.experiments as package

    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        experiment = getattr(module, "EXPERIMENT", None)
        if experiment is not None and hasattr(experiment, "name"):
            found[experiment.name] = module.__name__
    return found


def _plot_stem(key: TableKey) -> str:
    return f"{key[0]}__{key[1]}__{key[2].split('/')[-1]}__{key[3]}" + ("" if key[4] == "main" else "__privileged")


def _plot_data(group: Sequence[CellSummary]) -> dict[str, Any]:
    return {"returns": [[c.label, [dataclasses.astuple(s) for s in c.returns],
                         [dataclasses.astuple(t) for t in c.targets]] for c in group],
            "curves": [[c.label, list(c.curves)] for c in group]}


def _fingerprint(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _has_curve(group: Sequence[CellSummary]) -> bool:
    return any(len(curve["env_steps"]) > 1 for cell in group for curve in cell.curves)


def build_page(cells: Sequence[CellSummary], bad: Sequence[tuple[Path, str]], *, publish: bool,
               sources: Sequence[str], experiments: Mapping[str, Any], assets: str,
               videos: Mapping[TableKey, Any] | None = None) -> list[Block]:
    """The page as blocks (rendered by `to_markdown` and `to_html`); `videos`: table → (record, Video)."""
    cards = _card_modules() if publish else {}
    header = "Leaderboard" if publish else "metarl-bench leaderboard"
    blocks: list[Block] = [("h1", header)]
    made = " ".join(["metarl-bench", "report", *sources] + (["--docs", "docs/"] if publish else [])
                    + (["--videos"] if videos else []))
    blocks.append(("p", [f"Generated by `{made}`; regenerate rather than edit. Per experiment: the protocol and "
                         "budget, then one row per agent with R_0..R_K, the mean return over the test tasks "
                         "after k adaptation rounds (mean over seeds, 95 % bootstrap CI across seeds in "
                         "brackets), the IQM over seeds of R_K, the adaptation env steps spent per test task "
                         "before R_K, the meta-training env steps per seed, the paper's number and a verdict. "
                         "Reproduced: every paper number of the agent lies within reach of the measured 95 % "
                         "CI (the two intervals meet; with one seed, the measured mean); not reproduced: some "
                         "number does not; no target: the paper reports none for this setting."]))
    if not cells:
        blocks.append(("p", ["No results here yet." + (" The reference results are committed under "
                                                       "`results/reference/`; see its README.md." if publish else "")]))
    rows = aggregate(cells)
    if rows:
        blocks.append(("h2", "Across experiments"))
        blocks.append(("p", ["rliable-style aggregate (Agarwal et al. 2021) over the tables below, one per "
                             "experiment (its full run, else its longest cut run; smoke tests excluded): the IQM "
                             "of every (table, seed) score of the agent, where a score is R_K "
                             "normalised within its table (0 = the lowest and 1 = the highest per-seed R_k of "
                             "any agent at any k there), with a stratified-bootstrap 95 % CI; and the probability "
                             "that a seed of the agent beats a seed of its MAML comparator on R_K (ties count "
                             "one half), averaged over the tables holding both."]))
        body = []
        for row in rows:
            ci = "" if row.iqm_ci is None else f" [{row.iqm_ci[0]:.2f}, {row.iqm_ci[1]:.2f}]"
            if row.improvement is None:
                improvement = ""
            else:
                p, p_ci, against, n = row.improvement
                improvement = (f"{p:.2f}" + ("" if p_ci is None else f" [{p_ci[0]:.2f}, {p_ci[1]:.2f}]")
                               + f" vs {against} ({n} table{'s' if n > 1 else ''})")
            body.append([row.agent, str(row.tables), f"{row.iqm:.2f}{ci}", improvement])
        blocks.append(("table", (["agent", "tables", "IQM of normalised R_K [95 % CI]", "P(agent > MAML) [95 % CI]"],
                                 body)))
    for key, group in tables(cells).items():
        blocks += _table_blocks(key, group, cards=cards, experiments=experiments, assets=assets, publish=publish,
                                video=(videos or {}).get(key))
    if bad:
        blocks.append(("h2", "Refused files"))
        blocks.append(("list", [[f"{path}: {reason}"] for path, reason in bad]))
    return blocks


def _table_blocks(key: TableKey, group: Sequence[CellSummary], *, cards: Mapping[str, str],
                  experiments: Mapping[str, Any], assets: str, publish: bool, video: Any = None) -> list[Block]:
    first = group[0]
    known = experiments.get(key[0])
    part = None if known is None else known.setting(key[2], key[3])  # the table's (env, preset) setting
    blocks: list[Block] = [("h2", title(key))]
    if part is not None:
        blocks.append(("p", [part.description + "."]))
    blocks.append(("p", [variant_words(first, experiments) + " " + protocol_words(first.protocol, first.test_tasks)]))
    body = []
    gap_column = any(c.gaps is not None for c in group)
    for cell in group:
        row: list[Span] = list(page_row(cell, gap_column))
        if key[0] in cards and cell.cell.variant != "quick":
            row[-1] = Link(str(row[-1]), f"experiments.md#{key[0]}")
        body.append(row)
    blocks.append(("table", (page_header(group), body)))
    for words in sorted({c.optimum for c in group if c.optimum is not None}):
        blocks.append(("p", [f"Optimality gap J*−R_K: J* {words}."]))
    sources = {t.source for c in group for t in c.targets} if key[1] != "quick" else set()
    for source, rows in cited_once(sources):
        words, page = cite(source)
        spans: list[Span] = [f"Paper numbers: {words}" + (f" ({', '.join(rows)})" if rows else "")]
        if page is not None:
            spans += ["; see ", Link(page, page.split(" ")[0]) if publish else page]
        blocks.append(("p", [*spans, "."]))
    if key[0] in cards:
        blocks.append(("p", ["Measured explanation (the experiment card): ",
                             Link(f"{key[0]} card", f"experiments.md#{key[0]}"), "."]))
    stem = _plot_stem(key)
    images = [(f"{assets}/{stem}__returns.png", f"R_k against k, {key[0]}")]
    if _has_curve(group):
        images.append((f"{assets}/{stem}__training.png", f"learning curves, {key[0]}"))
    else:
        blocks.append(("p", ["One meta-training iteration per seed: no learning curve is drawn."]))
    blocks.append(("img", images))
    if video is not None:
        record, made = video
        blocks.append(("p", [f"Videos of {record.agent.label} (seed {record.seed}, meta-parameters stored with its "
                             "result) on the first test task: ",
                             Link("the meta-policy before adaptation", f"{assets}/{made.before.name}"),
                             f" (episode return {_number(made.returns[0])}), ",
                             Link(f"after {made.rounds} adaptation round(s)", f"{assets}/{made.after.name}"),
                             f" (episode return {_number(made.returns[1])})."]))
        blocks.append(("video", [(f"{assets}/{made.before.name}", "before adaptation"),
                                 (f"{assets}/{made.after.name}", f"after {made.rounds} adaptation round(s)")]))
    blocks.append(("comment", f"plot data {_fingerprint(_plot_data(group))}"))
    return blocks


def _md(text: str) -> str:
    """`text` as inert Markdown inline text: one line, HTML escaped, and no character that could open a
    table cell, heading, link, code span or emphasis (a `code` span written by this module is kept)."""
    return re.sub(r"([\\`*_\[\]#|!<>])", r"\\\1", html.escape(re.sub(r"\s+", " ", str(text)), quote=False))


def _md_spans(spans: Sequence[Span]) -> str:
    out = []
    for span in spans:
        if isinstance(span, Link):
            out.append(f"[{_md(span.text)}]({span.href})")
        else:
            parts = str(span).split("`")
            out.append("".join(f"`{p}`" if i % 2 else _md(p) for i, p in enumerate(parts)))
    return "".join(out)


def to_markdown(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for kind, value in blocks:
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + _md(value), ""]
        elif kind == "p":
            lines += [_md_spans(value), ""]
        elif kind == "list":
            lines += [f"- {_md_spans(item)}" for item in value] + [""]
        elif kind == "table":
            header, rows = value
            lines += ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(_md_spans([c]) for c in row) + " |" for row in rows]
            lines.append("")
        elif kind == "img":
            lines += [" ".join(f"![{_md(alt)}]({src})" for src, alt in value), ""]
        elif kind == "video":  # players on the page (raw HTML passes through Markdown); the links are above
            lines += [" ".join(_video_tag(src, caption) for src, caption in value), ""]
        elif kind == "comment":
            lines += [f"<!-- {value} -->", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _html_spans(spans: Sequence[Span]) -> str:
    out = []
    for span in spans:
        if isinstance(span, Link):
            href = re.sub(r"\.md(#|$)", r"/\1", span.href)  # the built site's address of a docs page
            out.append(f"<a href='{html.escape(href)}'>{html.escape(span.text)}</a>")
        else:
            parts = str(span).split("`")
            out.append("".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p)
                               for i, p in enumerate(parts)))
    return "".join(out)


def _html_cell(cell: Span) -> str:
    """A table cell: a number's CI under it, a list of paper numbers one per line (the table stays narrow)."""
    text = _html_spans([cell])
    return text if isinstance(cell, Link) else re.sub(r" (\[−?\d)", r"<br>\1", text).replace("; ", "<br>")


_CSS = ("body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1500px;padding:0 1em;line-height:1.4}"
        "h2{margin-top:2em;overflow-wrap:anywhere}table{border-collapse:collapse;font-size:0.9em;display:block;"
        "overflow-x:auto}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right;vertical-align:top}"
        # cells wrap only where a table is wider than the page (a CI at its comma, the paper's number, the
        # verdict): a six-agent R_0..R_3 table with gaps fits 1400 px instead of hiding its verdict off-screen
        "td:first-child,th:first-child{text-align:left;white-space:nowrap}th{background:#f3f3f3}"
        ".plots{display:flex;flex-wrap:wrap;gap:1em}.plots img{max-width:100%;width:640px;height:auto}"
        # below ~1000 px a full R_0..R_K row would scroll sideways: smaller type, the agent's name wraps too
        "@media (max-width:1000px){table{font-size:0.72em}td,th{padding:2px 4px}"
        "td:first-child{white-space:normal}}")


def _video_tag(src: str, caption: str) -> str:
    """An inline player for one of the page's own mp4s, captioned."""
    return (f"<figure style='margin:0'><video controls muted loop preload='metadata' width='320' "
            f"src='{html.escape(src)}' title='{html.escape(caption)}'></video>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def to_html(blocks: Sequence[Block]) -> str:
    heading = next((value for kind, value in blocks if kind == "h1"), "leaderboard")
    parts = ["<!doctype html>", "<html lang='en'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<title>{html.escape(heading)}</title><style>{_CSS}</style></head><body>"]
    for kind, value in blocks:
        if kind in ("h1", "h2", "h3"):
            anchor = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
            parts.append(f"<{kind} id='{anchor}'>{html.escape(value)}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{_html_spans(value)}</p>")
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{_html_spans(item)}</li>" for item in value) + "</ul>")
        elif kind == "table":
            header, rows = value
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>" for row in rows]
            parts.append("</table>")
        elif kind == "img":
            parts.append("<div class='plots'>" + "".join(
                f"<img src='{html.escape(src)}' alt='{html.escape(alt)}'>" for src, alt in value) + "</div>")
        elif kind == "video":
            parts.append("<div class='plots'>" + "".join(_video_tag(src, caption) for src, caption in value)
                         + "</div>")
        elif kind == "comment":
            parts.append(f"<!-- {html.escape(value)} -->")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def cards_page(experiment_names: Sequence[str]) -> str:
    """docs/experiments.md: each experiment's card (its module docstring, rendered by mkdocstrings)."""
    cards = _card_modules()
    lines = ["# Experiment cards", "",
             "Each experiment's card is its module docstring: the paper's setting, the choices made where the "
             "paper is silent, and what was measured, with the explanation of every gap to the paper. The "
             "leaderboard's verdicts link here.", ""]
    for name in experiment_names:
        if name in cards:
            lines += [f"## {name}", "", f"::: {cards[name]}", "    options:", "      show_root_heading: false",
                      "      members: false", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------- plots


def _plot_returns(key: TableKey, group: Sequence[CellSummary], path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for cell in group:
        steps = np.arange(len(cell.returns))
        means = np.array([s.mean for s in cell.returns])
        line = axes.plot(steps, means, marker="o", label=f"{cell.label} ({len(cell.seeds)} seeds)")[0]
        if all(s.ci is not None for s in cell.returns):
            axes.fill_between(steps, [s.ci[0] for s in cell.returns], [s.ci[1] for s in cell.returns],
                              color=line.get_color(), alpha=0.2)
        if cell.cell.variant != "quick":
            for target in cell.targets:
                axes.errorbar([target.step], [target.mean], yerr=target.ci, fmt="x", color=line.get_color(),
                              capsize=4, markersize=9)
    axes.set(xlabel="adaptation rounds k", ylabel="mean meta-test return R_k")
    papers = key[1] != "quick" and any(cell.targets for cell in group)
    axes.set_title(_plot_title(key, "R_k, 95 % CI bands" + ("; x: paper" if papers else "")),
                   fontsize="medium")
    axes.set_xticks(range(max(len(c.returns) for c in group)))
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    _save(figure, path)


def _plot_title(key: TableKey, what: str) -> str:
    variant = {"full": "", "quick": " SMOKE TEST"}.get(key[1], f" cut run {key[1]}")
    return f"{key[0]}{variant}{'' if key[4] == 'main' else ' (privileged)'}\n{what}"


def _plot_training(key: TableKey, group: Sequence[CellSummary], path: Path) -> None:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    # agents that read the model spend no env steps in meta-training: their curves are drawn per iteration
    by_iteration = all(len(set(c["env_steps"])) <= 1 for cell in group for c in cell.curves)
    for cell in group:
        last_color = None
        length = min(len(c["env_steps"]) for c in cell.curves)
        if length < 2:
            continue
        steps = np.arange(1, length + 1) if by_iteration else \
            np.mean([c["env_steps"][:length] for c in cell.curves], axis=0)
        for name, style in (("pre", "-"), ("post", "--")):
            values = np.array([c[name][:length] for c in cell.curves], dtype=float)
            if np.all(np.isnan(values)):
                continue
            label = f"{cell.label}, {'before' if name == 'pre' else 'after'} adaptation"
            mean = np.nanmean(values, axis=0)
            line = axes.plot(steps, mean, linestyle=style, label=label,
                             color=None if name == "pre" else last_color)[0]
            last_color = line.get_color()
            if values.shape[0] > 1:
                axes.fill_between(steps, np.nanmin(values, axis=0), np.nanmax(values, axis=0),
                                  color=line.get_color(), alpha=0.15, linewidth=0)
    axes.set(xlabel="meta-training iteration (no env steps: the model is read)" if by_iteration
             else "meta-training env steps", ylabel="training return")
    axes.set_title(_plot_title(key, "mean over seeds, shaded: min-max over seeds"), fontsize="medium")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    _save(figure, path)


def _save(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, dpi=100, format="png", metadata={"Software": None})
    plt.close(figure)
    atomic_write(path, buffer.getvalue())


# ---------------------------------------------------------------------------------------------- writing


@dataclasses.dataclass(frozen=True)
class Report:
    cells: tuple[CellSummary, ...]
    bad: tuple[tuple[Path, str], ...]
    written: tuple[Path, ...]
    notes: tuple[str, ...] = ()
    """what was not made (a table without a video, and why)"""


def write_leaderboard(directory: str | Path | Sequence[str | Path], out: str | Path | None = None, *,
                      publish: bool = False, experiments: Mapping[str, Any] | None = None,
                      videos: bool = False) -> Report:
    """Validate the results under `directory` (one folder or several) and write leaderboard.md,
    leaderboard.html and the PNGs (in `leaderboard/`) into `out` (default `<first folder>/leaderboard`),
    each atomically (a full disk leaves the previous page, never a truncated one). `publish`: the
    page for the docs site (`metarl-bench report results/reference/ --docs docs/`): smoke tests are
    refused, verdicts link to the experiment cards, and `experiments.md` (the cards) is written too.
    `videos`: per table, mp4s of one stored meta-policy before and after adaptation (`benchmarks.videos`),
    linked from the page; a table whose results store no parameters gets none (named in `Report.notes`)."""
    import matplotlib

    matplotlib.use("Agg")
    folders = [Path(directory)] if isinstance(directory, (str, Path)) else [Path(d) for d in directory]
    if experiments is None:
        from benchmarks.experiments import EXPERIMENTS as experiments
    if out is None:  # never inside the committed reference folder
        out = Path("results") / "leaderboard" if is_reference_path(folders[0]) else folders[0] / "leaderboard"
    out = Path(out)
    valid, bad = collect(*folders)
    if publish:
        smoke = [(path, record) for path, record in valid if record.variant == "quick"]
        bad = bad + [(path, f"{path}: a --quick smoke test; the published leaderboard shows no smoke tests")
                     for path, _ in smoke]
        valid = [(path, record) for path, record in valid if record.variant != "quick"]
    bad = sorted(bad, key=lambda item: str(item[0]))
    cells = summarize_cells(valid, experiments=experiments, roots=folders)
    assets = "leaderboard"
    made, notes = _videos(valid, out / assets) if videos else ({}, [])
    blocks = build_page(cells, bad, publish=publish, sources=[str(f) for f in folders], experiments=experiments,
                        assets=assets, videos=made)
    written = [atomic_write(out / "leaderboard.md", to_markdown(blocks)),
               atomic_write(out / "leaderboard.html", to_html(blocks))]
    if publish:
        names = sorted({cell.cell.experiment for cell in cells})
        written.append(atomic_write(out / "experiments.md", cards_page(names)))
    for key, group in tables(cells).items():
        stem = out / assets / _plot_stem(key)
        _plot_returns(key, group, Path(f"{stem}__returns.png"))
        written.append(Path(f"{stem}__returns.png"))
        if _has_curve(group):
            _plot_training(key, group, Path(f"{stem}__training.png"))
            written.append(Path(f"{stem}__training.png"))
    for _, video in made.values():
        written += [video.before, video.after]
    stale = {*(out / assets).glob("*.png"), *(out / assets).glob("*.mp4")} - set(written)
    for old in sorted(stale):  # plots and videos of tables no longer on the page
        old.unlink()
    return Report(tuple(cells), tuple(bad), tuple(written), tuple(notes))


def _videos(valid: Sequence[tuple[Path, ResultRecord]], folder: Path) -> tuple[dict[TableKey, Any], list[str]]:
    """Per table, the before/after videos of its first agent's (by label) lowest seed that stored parameters."""
    from benchmarks.videos import record_before_after

    chosen: dict[TableKey, tuple[Path, ResultRecord]] = {}
    for path, record in sorted(valid, key=lambda item: (item[1].cell.label, item[1].seed, str(item[0]))):
        key = (*record.cell.table, record.meta_test.track)
        if record.parameters is not None:
            chosen.setdefault(key, (path, record))
    made, notes = {}, []
    for key in sorted({(*r.cell.table, r.meta_test.track) for _, r in valid}):
        if key not in chosen:
            notes.append(f"{title(key)}: no video, no result of this table stores its meta-parameters")
            continue
        path, record = chosen[key]
        try:
            made[key] = (record, record_before_after(path, folder / _plot_stem(key)))
        except (ResultError, TypeError, ValueError, RuntimeError, ImportError) as error:
            notes.append(f"{title(key)}: no video: {error}")
    return made, notes
