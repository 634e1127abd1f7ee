"""`metarl-bench`: run experiments, list them, and report a folder of results.

    metarl-bench list
    metarl-bench run maml-nav2d --quick                    # results/maml-nav2d/*.json + the meta-test table
    metarl-bench run sgmrl-nav2d --seeds 3 --workers 2     # process pool; --backend ray for a Ray cluster
    metarl-bench run sgmrl-nav2d --checkpoint-every 10     # a killed cell resumes from its last checkpoint
    metarl-bench run maml-nav2d --quick --add-agent "NoAdapt=docs/examples/no_adapt.py:NoAdapt"
    metarl-bench run path/to/my_experiment.py              # an experiment file outside the package
    metarl-bench report results/                           # results/leaderboard/: leaderboard.md, .html, PNG plots
    metarl-bench verify results/maml-nav2d/*.json          # re-run each meta-test from its stored parameters
    metarl-bench rescore results/maml-nav2d/*.json         # re-read J* from today's oracles, re-seal the files
    metarl-bench report results/ --verify --sample 5       # the report, and 5 of its files verified
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchmarks.leaderboard import (
    COLUMNS,
    ESTIMATED_CELL_SECONDS,
    REFERENCE_FOLDER,
    CellSummary,
    _duration,
    cite,
    collect,
    is_reference_path,
    measured_cell_seconds,
    reference_root,
    summarize_cells,
    table_rows,
    tables,
    title,
    verdict,
    write_leaderboard,
)
from benchmarks.progress import rich_progress
from benchmarks.runner import MAX_SEEDS

app = typer.Typer(help="Meta-RL benchmark runner: meta-train, meta-test, report.", no_args_is_help=True,
                  add_completion=False)
console = Console()


def _experiments() -> dict:
    from benchmarks.experiments import EXPERIMENTS

    return EXPERIMENTS


@app.command("list")
def list_experiments() -> None:
    """One line per experiment: name, env, agents, seeds × iterations, wall time per cell (fits 80 columns)."""
    measured = measured_cell_seconds(reference_root())
    rows, marks = [], set()
    for name, experiment in sorted(_experiments().items()):
        labels = [spec.label for spec in experiment.agents]
        agents = ", ".join(labels)
        if len(agents) > 14:
            agents = f"{labels[0]} +{len(labels) - 1}" if len(labels[0]) <= 11 else f"{len(labels)} agents"
        if name in measured:
            seconds, mark = measured[name]
        elif name in ESTIMATED_CELL_SECONDS:
            seconds, mark = ESTIMATED_CELL_SECONDS[name], "*"
        else:
            seconds, mark = None, ""
        marks.add(mark if seconds is not None else "?")
        envs = dict.fromkeys(part.env_id.split("/")[-1].removesuffix("-v0") for part in experiment.split())
        rows.append((name, "/".join(envs), agents,
                     f"{experiment.seeds}×{experiment.iterations}",
                     "unknown" if seconds is None else _duration(seconds) + mark))
    table = Table(box=None, pad_edge=False, collapse_padding=True)
    for i, header in enumerate(("experiment", "env", "agents", "seeds×iters", "per cell")):
        # nothing is cut: each column is as wide as its widest entry (the widest line is 78 characters)
        table.add_column(header, no_wrap=True, min_width=max(len(header), *(len(row[i]) for row in rows)))
    for row in rows:
        table.add_row(*row)
    console.print(table)
    notes = {"": "measured mean wall time of the full cells in results/reference/",
             "†": "projected from a cut run in results/reference/ (s/iteration × iterations)",
             "*": "estimate from measured times (the card's or this machine's; no reference result yet)",
             "?": "unknown: not measured yet"}
    for mark, note in notes.items():
        if mark in marks:
            console.print(f"{mark or 'no mark'}: {note}")


def results_table(title: str, cells: list[CellSummary]) -> Table:
    """The meta-test table: one row per agent and adaptation step k, next to the paper's numbers; the
    optimality-gap and paper columns only where some row has one (readable at 80 columns)."""
    rows = [row for cell in cells for row in table_rows(cell)]
    columns = [(key, name) for key, name in COLUMNS if key not in ("gap", "target") or any(r[key] for r in rows)]
    table = Table(title=title, box=box.MINIMAL, pad_edge=False, title_justify="left")
    for key, name in columns:  # labels and numbers are never cut; an interval may wrap at its comma
        widest = max((len(r[key]) for r in rows), default=0)
        table.add_column(name, min_width=widest if key in ("agent", "mean", "iqm", "gap", "steps") else None,
                         no_wrap=key not in ("ci95", "target"))
    for row in rows:
        table.add_row(*(escape(row[key]) for key, _ in columns))
    return table


def _require_folder(path: Path, option: str) -> None:
    """Exit 2 with one line if `path` exists but is not a folder (it is created when missing)."""
    if path.exists() and not path.is_dir():
        console.print(f"[red]error:[/red] {option} {escape(str(path))} is a file, not a folder")
        raise typer.Exit(2)


def _fail(error: Exception) -> NoReturn:
    """One line for a fault the user can fix (a full or read-only disk, a conflicting file), exit code 2."""
    if isinstance(error, OSError) and error.strerror:
        message = f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    else:
        message = str(error)
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2) from error


def _outside_agents(add_agent: list[str], agent_config: list[str]) -> list[Any]:
    """`--add-agent LABEL=SPEC` (repeatable) and `--agent-config JSON` (one per added agent, in order)."""
    from benchmarks.experiments import AgentSpec

    if len(agent_config) > len(add_agent):
        raise typer.BadParameter(f"{len(agent_config)} --agent-config for {len(add_agent)} --add-agent; give one "
                                 "config per added agent, in the same order", param_hint="--agent-config")
    specs = []
    for i, item in enumerate(add_agent):
        label, sep, spec = item.partition("=")
        module, colon, name = spec.rpartition(":")
        if not sep or not label or not colon or not module or not name:
            raise typer.BadParameter(f"{item!r} must be LABEL=package.module:Class or LABEL=path/to/file.py:Class",
                                     param_hint="--add-agent")
        if module.endswith(".py"):
            module = str(Path(module).expanduser().resolve())
        config: Any = {}
        if i < len(agent_config):
            try:
                config = json.loads(agent_config[i])
            except json.JSONDecodeError as error:
                raise typer.BadParameter(f"{agent_config[i]!r} is not JSON: {error}",
                                         param_hint="--agent-config") from error
            if not isinstance(config, dict):
                raise typer.BadParameter(f"{agent_config[i]!r} must be a JSON object", param_hint="--agent-config")
        specs.append(AgentSpec(label, f"{module}:{name}", config))
    return specs


def _take_reference_cells(experiment: Any, out: Path, *, quick: bool, seeds: int | None,
                          iterations: int | None) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """Copy into `out` every planned cell whose valid file with the same settings is committed in
    results/reference/ (with its stored parameters). A cell with none there takes a committed cell of
    another experiment whose settings are the same but for the experiment's name (bomrl-nav2d's MAML is
    maml-nav2d's): its record is written again under this experiment, nothing else changed. Returns
    (the copies, [(each copy taken from another experiment, the file it came from)])."""
    from benchmarks.results import ResultError, load_result
    from benchmarks.runner import SettingsConflict, is_complete, plan

    root = reference_root()
    taken, borrowed = [], []
    twins: dict[str, list[Any]] = {}   # each other experiment's planned cell, by its settings without the name
    for name, other in sorted(_experiments().items()):
        if name != experiment.name:
            for twin in plan(other, root, quick=quick, seeds=seeds, iterations=iterations):
                twins.setdefault(_anonymous_settings(twin), []).append(twin)
    for cell, stored in zip(plan(experiment, out, quick=quick, seeds=seeds, iterations=iterations),
                            plan(experiment, root, quick=quick, seeds=seeds, iterations=iterations), strict=True):
        if cell.path.exists():
            continue
        candidates = [stored, *twins.get(_anonymous_settings(cell), [])]
        for candidate in candidates:
            if not candidate.path.is_file():
                continue
            try:
                record = load_result(candidate.path)
                if not is_complete(candidate):
                    continue
            except (ResultError, SettingsConflict) as error:
                console.print(f"not taken from the references: {escape(str(error))}", soft_wrap=True)
                continue
            _copy_cell(candidate.path, record, cell)
            taken.append(cell.path)
            if candidate is not stored:
                borrowed.append((cell.path, candidate.path))
            break
    return taken, borrowed


def _anonymous_settings(cell: Any) -> str:
    """A planned cell's settings (`runner.cell_settings`) without its experiment's name, as a key: two cells
    with the same key would run the same."""
    from benchmarks.runner import cell_settings

    settings = cell_settings(cell)
    return json.dumps({**settings, "cell": {k: v for k, v in settings["cell"].items() if k != "experiment"}},
                      sort_keys=True)


def _copy_cell(source: Path, record: Any, cell: Any) -> None:
    """`source`'s record (and its stored parameters) as `cell`'s file: re-written under `cell`'s experiment
    when it came from another one (a new checksum over the same numbers), else copied byte for byte."""
    import shutil

    from benchmarks.results import parameters_path, write_result

    cell.path.parent.mkdir(parents=True, exist_ok=True)
    if record.parameters is not None:  # the meta-trained parameters stored beside it, if committed
        weights = parameters_path(source, record.parameters)
        if weights.is_file():
            shutil.copyfile(weights, cell.path.parent / weights.name)
    if record.experiment == cell.experiment.name:
        shutil.copyfile(source, cell.path)
    else:
        write_result(cell.path, dataclasses.replace(record, experiment=cell.experiment.name))


def _print_verdicts(cells: list[CellSummary]) -> None:
    """Below a table: each agent's paper numbers, their source in words, and the verdict."""
    for cell in cells:
        if cell.targets and cell.cell.variant != "quick":
            sources = "; ".join(cite(source)[0] for source in sorted({t.source for t in cell.targets}))
            console.print(f"{escape(cell.label)}: {verdict(cell)} against {escape(sources)}", soft_wrap=True)


@app.command()
def run(
    experiment: Annotated[str, typer.Argument(
        help="experiment name (see `metarl-bench list`) or path/to/my_experiment.py defining EXPERIMENT")],
    seeds: Annotated[int | None, typer.Option(
        min=1, max=MAX_SEEDS, help=f"seeds 0..N-1, N ≤ {MAX_SEEDS} (default: the experiment's)")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="apply the experiment's quick overrides")] = False,
    iterations: Annotated[int | None, typer.Option(
        min=1, help="cut meta-training to N iterations (results kept apart as variant itersN)")] = None,
    out: Annotated[Path, typer.Option(help="results folder")] = Path("results"),
    agent: Annotated[list[str] | None, typer.Option(
        help="run only the agent with this label (repeatable; default: every agent)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="parallel cells (local process pool)")] = 1,
    backend: Annotated[str, typer.Option(help="local | ray")] = "local",
    add_agent: Annotated[list[str] | None, typer.Option(
        "--add-agent", help="LABEL=package.module:Class or LABEL=path/to/file.py:Class: an outside agent run beside "
                            "the experiment's own, under the same protocol (repeatable)")] = None,
    agent_config: Annotated[list[str] | None, typer.Option(
        "--agent-config", help="JSON config of the added agent (one per --add-agent, in order)")] = None,
    from_reference: Annotated[bool, typer.Option(
        "--from-reference", help="take every cell already committed in results/reference/ (copied into --out, "
                                 "not re-run) and run only the missing ones")] = False,
    reference: Annotated[bool, typer.Option(
        "--reference", help="write into results/reference/, the committed reference results (maintainers only; "
                            "without this flag no --out inside it is accepted)")] = False,
    checkpoint_every: Annotated[int | None, typer.Option(
        "--checkpoint-every", min=1, help="save each cell's full training state every N meta-iterations "
                                          "(<file>.ckpt); a killed cell resumes from it")] = None,
) -> None:
    """Meta-train and meta-test every (agent, seed) cell, resuming completed ones, and print the table."""
    from benchmarks.runner import BACKENDS, SettingsConflict, run_experiment

    if reference and out == Path("results"):
        out = Path("results") / REFERENCE_FOLDER
    if is_reference_path(out) and not reference:
        raise typer.BadParameter(f"{out} is inside results/{REFERENCE_FOLDER}/, the committed reference results; "
                                 "your runs go elsewhere (default results/). Maintainers regenerating the "
                                 "references add --reference", param_hint="--out")
    _require_folder(out, "--out")
    known = _experiments()
    if experiment.endswith(".py"):
        from benchmarks.experiments import load_experiment

        try:
            chosen = load_experiment(experiment)
        except (ImportError, TypeError) as error:
            raise typer.BadParameter(str(error), param_hint="EXPERIMENT") from error
    elif experiment not in known:
        raise typer.BadParameter(f"unknown experiment {experiment!r}; choose from {sorted(known)} or give a .py file",
                                 param_hint="EXPERIMENT")
    else:
        chosen = known[experiment]
    if backend not in BACKENDS:
        raise typer.BadParameter(f"{backend!r} is not one of {list(BACKENDS)}", param_hint="--backend")
    outside = _outside_agents(add_agent or [], agent_config or [])
    if outside:
        try:
            chosen = chosen.with_agents(outside)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--add-agent") from error
    if agent:
        try:
            chosen = chosen.only(agent)
        except KeyError as error:
            raise typer.BadParameter(f"{error.args[0]}; labels: {[s.label for s in chosen.agents]}",
                                     param_hint="--agent") from error
    if quick and iterations is not None:
        raise typer.BadParameter("--iterations cannot be combined with --quick", param_hint="--iterations")
    resolved = chosen.resolve(quick)
    try:
        resolved.check_agents()  # every agent importable and every config valid before any cell runs
    except (ImportError, TypeError, ValueError) as error:
        _fail(error)
    taken: list[Path] = []
    borrowed: list[tuple[Path, Path]] = []
    if from_reference:
        if reference:
            raise typer.BadParameter("--from-reference reads results/reference/; it cannot also write there",
                                     param_hint="--from-reference")
        try:
            taken, borrowed = _take_reference_cells(chosen, out, quick=quick, seeds=seeds, iterations=iterations)
        except (OSError, ValueError) as error:
            _fail(error)
    try:
        with rich_progress(console) as bars:
            summary = run_experiment(chosen, out, quick=quick, seeds=seeds, iterations=iterations,
                                     workers=workers, backend=backend, progress=bars,
                                     checkpoint_every=checkpoint_every)
    except (RuntimeError, SettingsConflict, ValueError, OSError) as error:
        _fail(error)
    busy = f", left {len(summary.busy)} to another running sweep" if summary.busy else ""
    if from_reference:
        console.print(f"took {len(taken)} cell(s) from {reference_root()} (the committed reference results, "
                      f"not re-run), ran {len(summary.ran)} missing one(s), skipped "
                      f"{len(summary.skipped) - len(taken)} of yours already complete{busy}; results in "
                      f"{out / resolved.name}", soft_wrap=True)
        for copy, source in borrowed:
            console.print(f"{copy.name}: taken from {source.parent.name}/{source.name}, a cell with the same "
                          "settings in another experiment", soft_wrap=True)
    else:
        console.print(f"ran {len(summary.ran)} cell(s), skipped {len(summary.skipped)} complete one(s){busy}; "
                      f"results in {out / resolved.name}")
    valid, _ = collect(out / resolved.name)
    mine = {cell.path for cell in summary.cells}
    cells = summarize_cells([(path, data) for path, data in valid if path in mine],
                            experiments={resolved.name: resolved})
    cut = f" ({iterations} iteration{'s' * (iterations != 1)})" if iterations else ""
    variant = " (quick: a smoke test, not a result)" if quick else cut
    setting = (f"{resolved.iterations} meta-training iteration{'s' * (resolved.iterations != 1)} per seed, "
               f"{resolved.max_test_tasks or 'all'} test tasks")
    several = len(resolved.split()) > 1
    for key, group in tables(cells).items():
        track = "" if key[4] == "main" else ", privileged track (agents read the env's exact model)"
        where = f"{resolved.name} on {key[2].split('/')[-1]} preset {key[3]}" if several else resolved.name
        console.print(results_table(f"{where}{variant}: meta-test return after k adaptation steps "
                                    f"({setting}){track}", group))
    _print_verdicts(cells)
    if from_reference:
        console.print("every experiment's reference results: docs/leaderboard.md (`metarl-bench report "
                      "results/reference/ --docs docs/`)", soft_wrap=True)


def _verify(paths: list[Path]) -> bool:
    """Verify each results file (`benchmarks.verify`), printing one line per file; True if all passed."""
    from benchmarks.results import ResultError
    from benchmarks.verify import CROSS_MACHINE_ATOL, CROSS_MACHINE_RTOL, TABLE_ALPHA, verify_result

    passed = True
    for path in paths:
        try:
            check = verify_result(path)
        except ResultError as error:
            console.print(f"[red]cannot verify[/red] {escape(str(error))}", soft_wrap=True)
            passed = False
            continue
        elsewhere = "recorded on another machine (" + "; ".join(check.machine_differs) + ")"
        branched = sorted({m.task for m in check.mismatches})
        how = "bit for bit" if check.exact else (
            f"bit for bit, though {elsewhere}" if check.bit_identical else
            f"within rel {CROSS_MACHINE_RTOL:g} / abs {CROSS_MACHINE_ATOL:g}: {elsewhere}")
        tasks = len(check.record.meta_test.tasks)
        if check.ok:
            what = f"{tasks} task(s) reproduced {how}" if not branched else (
                f"{tasks} task(s): {tasks - len(branched)} reproduced within rel {CROSS_MACHINE_RTOL:g} / abs "
                f"{CROSS_MACHINE_ATOL:g}, {len(branched)} branched (took another path from a last-bit difference), "
                f"and the table agrees (paired t-test over tasks, α = {TABLE_ALPHA:g}): {elsewhere}")
            console.print(f"[green]verified[/green] {escape(str(path))}: {escape(what)}", soft_wrap=True)
            for mismatch in check.mismatches[:5] if branched else ():
                console.print(f"  branched: {escape(mismatch.describe())}", soft_wrap=True)
            continue
        passed = False
        if check.exact:
            console.print(f"[red]differs[/red] {escape(str(path))} (compared {escape(how)}): "
                          f"{len(check.mismatches)} number(s)", soft_wrap=True)
        else:
            console.print(f"[red]differs[/red] {escape(str(path))}: the table disagrees ({elsewhere}, so each "
                          f"task is held to rel {CROSS_MACHINE_RTOL:g} / abs {CROSS_MACHINE_ATOL:g} and the table to a "
                          f"paired t-test over tasks):", soft_wrap=True)
            for table_check in check.table:
                if not table_check.passed:
                    console.print(f"  {escape(table_check.describe())}", soft_wrap=True)
        for mismatch in check.mismatches[:20]:
            console.print(f"  {escape(mismatch.describe())}", soft_wrap=True)
    return passed


@app.command()
def verify(
    results: Annotated[list[Path], typer.Argument(help="results files (.json) to re-check")],
) -> None:
    """Re-run each result's meta-test from its stored parameters (same protocol, seed and thread count) and
    compare every R_k; exit code 1 if any differs or cannot be re-run."""
    if not _verify(results):
        raise typer.Exit(1)


@app.command()
def rescore(
    results: Annotated[list[Path], typer.Argument(help="results files (.json) to re-score")],
    check: Annotated[bool, typer.Option(
        "--check", help="write nothing; exit code 1 if any file's J* differs from today's oracles")] = False,
) -> None:
    """Re-read each result's J* from today's oracles (a cached estimate that has since improved) and re-seal
    the file with the new optimum and gaps; its returns and everything else stay the run's. Exit code 1 if
    a file is refused (or, with --check, would change)."""
    from benchmarks.results import ResultError, load_result, mean_optimality_gaps, rescore, write_result

    failed = False
    for path in results:
        try:
            record = load_result(path)
            new = rescore(record)
        except (ResultError, ValueError) as error:
            console.print(f"[red]refused[/red] {escape(str(path))}: {escape(str(error))}", soft_wrap=True)
            failed = True
            continue
        if new is record:
            console.print(f"current {escape(str(path))}: J* as today's oracles give it", soft_wrap=True)
            continue
        before, after = mean_optimality_gaps(record.meta_test), mean_optimality_gaps(new.meta_test)
        change = (f"optimum {record.meta_test.optimum_kind} → {new.meta_test.optimum_kind}, mean gap of R_0..R_K "
                  f"{_gaps(before)} → {_gaps(after)}")
        if check:
            console.print(f"[red]stale[/red] {escape(str(path))}: {escape(change)}", soft_wrap=True)
            failed = True
            continue
        try:
            write_result(path, new)
        except OSError as error:
            _fail(error)
        console.print(f"[green]rescored[/green] {escape(str(path))}: {escape(change)}", soft_wrap=True)
    if failed:
        raise typer.Exit(1)


def _gaps(gaps: tuple[float, ...] | None) -> str:
    return "none" if gaps is None else "(" + ", ".join(f"{g:.2f}" for g in gaps) + ")"


@app.command()
def report(
    directories: Annotated[list[Path], typer.Argument(
        help="folders of results files (searched recursively); several are shown in one table, e.g. "
             "`results/ results/reference/` puts your cells next to the reference cells")],
    out: Annotated[Path | None, typer.Option(help="leaderboard folder (default FIRST/leaderboard)")] = None,
    docs: Annotated[Path | None, typer.Option(
        help="publish into this docs folder instead: leaderboard.md (+ .html, plots, experiments.md); "
             "--quick smoke tests are refused")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="also re-run the meta-test of every valid file")] = False,
    sample: Annotated[int | None, typer.Option(
        min=1, help="with --verify: re-run a random sample of N files instead of all")] = None,
    videos: Annotated[bool, typer.Option(
        "--videos", help="per experiment, mp4s of a stored meta-policy before and after adaptation on one test "
                         "task, linked from the page (extra: video; MuJoCo renders through EGL)")] = False,
) -> None:
    """Validate every results file and render the leaderboard; exit code 1 if any file was refused (or, with
    --verify, did not reproduce)."""
    for directory in directories:
        if not directory.is_dir():
            raise typer.BadParameter(f"{directory} is not a folder", param_hint="DIRECTORIES")
    if out is not None and docs is not None:
        raise typer.BadParameter("give --out or --docs, not both", param_hint="--docs")
    for option, folder in (("--out", out), ("--docs", docs)):
        if folder is not None:
            _require_folder(folder, option)
    try:
        result = write_leaderboard(directories, docs if docs is not None else out, publish=docs is not None,
                                   videos=videos)
    except OSError as error:
        _fail(error)
    for path, reason in result.bad:
        console.print(f"[red]refused[/red] {escape(str(path))}: {escape(reason)}")
    for key, cells in tables(result.cells).items():
        console.print(results_table(title(key), cells))
    for note in result.notes:
        console.print(escape(note), soft_wrap=True)
    videos_made = sum(p.suffix == ".mp4" for p in result.written)
    console.print(f"{len(result.cells)} cell(s) rendered, {len(result.bad)} file(s) refused; wrote "
                  + ", ".join(str(p) for p in result.written if p.suffix not in (".png", ".mp4"))
                  + f" and {sum(p.suffix == '.png' for p in result.written)} plot(s)"
                  + (f" and {videos_made} video(s)" if videos else ""))
    reproduced = True
    if verify:
        import numpy as np

        paths = sorted(path for path, _ in collect(*directories)[0])
        if sample is not None and sample < len(paths):
            chosen = np.random.default_rng().choice(len(paths), size=sample, replace=False)
            paths = [paths[int(i)] for i in sorted(chosen)]
        reproduced = _verify(paths)
    if result.bad or not reproduced:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
