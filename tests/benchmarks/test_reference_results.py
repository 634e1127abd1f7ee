"""results/reference/: the committed reference results, the published leaderboard generated from them,
and the commands that read them (`report` with several folders, `run --from-reference`, `list`)."""

from __future__ import annotations

import dataclasses
import filecmp
import re
from pathlib import Path

from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import EXPERIMENTS, AgentSpec, Experiment, Target
from benchmarks.leaderboard import collect, measured_cell_seconds, verdict, write_leaderboard
from benchmarks.results import rescore, write_result
from metarl_envs.task_sets import env_class
from tests.benchmarks.conftest import ENV_ID, PROTOCOL, document, write_document
from tests.benchmarks.quick_results import one_torch_thread

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "results" / "reference"
SIZE_BUDGET = 128 * 2**20
"""results/reference/ stays below 128 MB. Measured: a full maml-nav2d results file (100-iteration curve, 40
test tasks) is 32 kB and its stored MAML policy (100×100) 45 kB; the tabular experiments' cells are
2-100 kB. pMeta-RL's Gym agents store Table II's 512×512 Q-networks, 1.06 MB each, and only what their
meta-test reads (the meta network; DQN*'s five task networks): 1.06 MB a cell, 5.3 MB for DQN*, so
pmeta-cartpole and pmeta-mountaincar (4 agents × 5 seeds) take 42 MB each of the folder's 125 MB, and
the two λ sweeps (λ ∈ {5, 30, 50} × 5 seeds) 16 MB each (their λ = 20 cells are the Table V ones, not
stored twice); pmeta-cheetah-vel's SAC cells store the meta actor and encoder, 1.5 MB each (4.5 MB).
The MountainCar sweep raised the budget from 120 MB; anything beyond 128 MB raises it
again in the commit that lands it.
Anything bigger (videos, checkpoints, replay data) belongs in a release asset, not in git."""
NARROW = {"COLUMNS": "80"}
cli = CliRunner()


# ------------------------------------------------------------------ the committed folder


def test_every_committed_reference_file_is_valid_and_none_is_a_smoke_test() -> None:
    valid, bad = collect(REFERENCE)
    assert bad == [], bad
    assert not [path for path, record in valid if record.variant == "quick"]
    assert all(record.cell.experiment in EXPERIMENTS for _, record in valid)


def test_reference_folder_is_within_its_size_budget() -> None:
    size = sum(p.stat().st_size for p in REFERENCE.rglob("*") if p.is_file())
    assert size <= SIZE_BUDGET, f"results/reference/ holds {size / 2**20:.1f} MB, above its 120 MB budget"


def test_reference_folder_is_tracked_and_user_results_are_not() -> None:
    ignore = (ROOT / ".gitignore").read_text().splitlines()
    assert "results/*" in ignore and "!results/reference/" in ignore and "results/" not in ignore
    assert (REFERENCE / "README.md").is_file()


def test_every_committed_reference_result_scores_against_todays_oracles() -> None:
    """A result records the J* of the oracles at its meta-test. When a cached estimate improves or a
    closed form is added, the committed results follow it (`metarl-bench rescore results/reference/*/*.json`,
    then the report), so that the leaderboard's gaps are today's."""
    stale = [str(path.relative_to(REFERENCE)) for path, record in collect(REFERENCE)[0]
             if rescore(record) is not record]
    assert stale == [], f"run `metarl-bench rescore` on {len(stale)} file(s), e.g. {stale[:3]}"


def test_checked_in_leaderboard_is_not_stale(tmp_path: Path, monkeypatch) -> None:
    """`metarl-bench report results/reference/ --docs docs/` regenerated into tmp equals what is checked in
    (Markdown, HTML and the cards page byte for byte, with the episode returns of their videos; the plots
    and videos by name, their data by the fingerprint each page carries)."""
    monkeypatch.chdir(ROOT)
    # whatever torch thread count the caller left (tests before this one set 1): videos re-run a meta-test
    # with the result's recorded count, and HalfCheetah returns follow the reductions' last bits
    with one_torch_thread():
        result = cli.invoke(app, ["report", "results/reference/", "--docs", str(tmp_path), "--videos"], env=NARROW)
    assert result.exit_code == 0, result.output
    for name in ("leaderboard.md", "leaderboard.html", "experiments.md"):
        assert filecmp.cmp(tmp_path / name, ROOT / "docs" / name, shallow=False), (
            f"docs/{name} is stale: run `metarl-bench report results/reference/ --docs docs/`")
    for pattern in ("*.png", "*.mp4"):
        made = sorted(p.name for p in (tmp_path / "leaderboard").glob(pattern))
        assert made == sorted(p.name for p in (ROOT / "docs" / "leaderboard").glob(pattern)), pattern
    assert list((tmp_path / "leaderboard").glob("*.mp4")), "the published page shows each table's videos"
    assert "<video controls" in (tmp_path / "leaderboard.html").read_text(), "played on the page, not only linked"


def test_mkdocs_nav_holds_the_leaderboard_and_the_cards() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    assert "leaderboard.md" in nav and "experiments.md" in nav


# ------------------------------------------------------------------ user runs never write there


def test_run_refuses_an_out_inside_the_reference_folder_without_the_flag(tmp_path: Path, monkeypatch) -> None:
    from tests.benchmarks.test_runner import EXPERIMENT

    monkeypatch.setattr("benchmarks.cli._experiments", lambda: {EXPERIMENT.name: EXPERIMENT})
    inside = tmp_path / "results" / "reference"
    for out in (inside, inside / "sub"):
        result = cli.invoke(app, ["run", EXPERIMENT.name, "--quick", "--out", str(out)], env=NARROW)
        assert result.exit_code == 2 and "--reference" in result.output, result.output
        assert not out.exists()
    result = cli.invoke(app, ["run", EXPERIMENT.name, "--quick", "--seeds", "1", "--out", str(inside), "--reference"],
                        env=NARROW)
    assert result.exit_code == 0, result.output
    assert len(list(inside.rglob("*__quick.json"))) == len(EXPERIMENT.agents)


def test_from_reference_takes_the_committed_cells_and_runs_only_the_missing(tmp_path: Path, monkeypatch) -> None:
    from tests.benchmarks.test_runner import EXPERIMENT

    monkeypatch.setattr("benchmarks.cli._experiments", lambda: {EXPERIMENT.name: EXPERIMENT})
    monkeypatch.chdir(tmp_path)
    made = cli.invoke(app, ["run", EXPERIMENT.name, "--quick", "--seeds", "2", "--reference"], env=NARROW)
    assert made.exit_code == 0, made.output
    stored = sorted((tmp_path / "results" / "reference" / EXPERIMENT.name).glob("*.json"))
    assert len(stored) == 4
    stored[0].unlink()  # one reference cell missing: it is the only one run
    args = ["run", EXPERIMENT.name, "--quick", "--seeds", "2", "--from-reference", "--out", "mine"]
    result = cli.invoke(app, args, env=NARROW)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "took 3 cell(s) from results/reference (the committed reference results, not re-run), ran 1 missing" \
        in text
    for path in stored[1:]:
        assert (tmp_path / "mine" / EXPERIMENT.name / path.name).read_bytes() == path.read_bytes()
    report = cli.invoke(app, ["report", "mine", "results/reference"], env=NARROW)
    assert report.exit_code == 0, report.output  # the copies are shown once, as the reference cells:
    assert "3 cell(s) rendered" in report.output  # Random and Timid [reference], and the one cell run in mine


def test_from_reference_takes_a_cell_with_the_same_settings_from_another_experiment(tmp_path: Path,
                                                                                      monkeypatch) -> None:
    """bomrl-nav2d's MAML is maml-nav2d's cell: an experiment whose cell is committed under another
    experiment with the same settings takes it (re-written under its own name, the numbers unchanged) instead
    of running it again; a cell with any setting changed is not taken."""
    from benchmarks.results import load_result
    from tests.benchmarks.test_runner import EXPERIMENT

    timid = EXPERIMENT.agent("Timid")
    sibling = dataclasses.replace(EXPERIMENT, name="sibling", agents=(timid, dataclasses.replace(
        EXPERIMENT.agent("Random"), config={**EXPERIMENT.agent("Random").config, "action_scale": 0.3})))
    both = {EXPERIMENT.name: EXPERIMENT, sibling.name: sibling}
    monkeypatch.setattr("benchmarks.cli._experiments", lambda: both)
    monkeypatch.chdir(tmp_path)
    made = cli.invoke(app, ["run", EXPERIMENT.name, "--quick", "--reference"], env=NARROW)
    assert made.exit_code == 0, made.output
    result = cli.invoke(app, ["run", sibling.name, "--quick", "--from-reference", "--out", "mine"], env=NARROW)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "took 1 cell(s) from results/reference" in text and "ran 1 missing" in text, text
    name = "Timid__Navigation2D-v0__maml__seed0__quick.json"
    assert f"{name}: taken from {EXPERIMENT.name}/{name}, a cell with the same settings in another experiment" \
        in text
    original = load_result(tmp_path / "results" / "reference" / EXPERIMENT.name / name)
    copy = load_result(tmp_path / "mine" / sibling.name / name)
    assert copy.experiment == sibling.name and dataclasses.replace(copy, experiment=original.experiment) == original
    ran = load_result(tmp_path / "mine" / sibling.name / "Random__Navigation2D-v0__maml__seed0__quick.json")
    assert ran.agent.config["action_scale"] == 0.3   # its settings differ from the reference's Random: run


def test_from_reference_and_report_keep_the_settings_of_a_multi_setting_experiment(tmp_path: Path,
                                                                                    monkeypatch) -> None:
    """An experiment on two (env, preset) settings: --reference writes both settings' cells, --from-reference
    takes them back setting by setting, and run and report print one table per setting, each named."""
    from benchmarks.experiments import Setting
    from tests.benchmarks.test_runner import EXPERIMENT

    walled = Setting(EXPERIMENT.env_id, {"preset": "sgmrl"}, agent_config={"Timid": {"action_scale": 0.2}},
                     description="random agents on the walled square")
    two = dataclasses.replace(EXPERIMENT, name="two-settings", settings=(walled,))
    monkeypatch.setattr("benchmarks.cli._experiments", lambda: {two.name: two})
    monkeypatch.setattr("benchmarks.experiments.EXPERIMENTS", {two.name: two}, raising=False)
    monkeypatch.chdir(tmp_path)
    made = cli.invoke(app, ["run", two.name, "--quick", "--reference"], env=NARROW)
    assert made.exit_code == 0, made.output
    stored = sorted((tmp_path / "results" / "reference" / two.name).glob("*.json"))
    assert [p.name for p in stored] == sorted(f"{label}__Navigation2D-v0__{preset}__seed0__quick.json"
                                              for label in ("Random", "Timid") for preset in ("maml", "sgmrl"))
    stored[-1].unlink()  # Timid on sgmrl: the only cell run
    result = cli.invoke(app, ["run", two.name, "--quick", "--from-reference", "--out", "mine"], env=NARROW)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "took 3 cell(s) from results/reference" in text and "ran 1 missing" in text
    assert "two-settings on Navigation2D-v0 preset maml (quick" in text
    assert "two-settings on Navigation2D-v0 preset sgmrl (quick" in text
    for path in stored[:-1]:
        assert (tmp_path / "mine" / two.name / path.name).read_bytes() == path.read_bytes()
    report = write_leaderboard([tmp_path / "mine"], tmp_path / "site", experiments={two.name: two})
    assert report.bad == () and len({c.table for c in report.cells}) == 2
    page = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "preset maml" in page and "preset sgmrl" in page and "random agents on the walled square." in page


# ------------------------------------------------------------------ report: several folders, one table


def test_report_puts_my_cells_next_to_the_reference_cells(tmp_path: Path) -> None:
    results = tmp_path / "results"
    for seed in range(3):
        write_document(results / "reference", seed, label="Random")
        write_document(results, seed, label="Random", offset=2.0)
    for folders in ([results], [results, results / "reference"]):
        report = write_leaderboard(folders, tmp_path / "site")
        assert report.bad == ()
        assert {c.label for c in report.cells} == {"Random [reference]", f"Random [{results}]"}
        assert len({c.table for c in report.cells}) == 1  # one table, two rows
    result = cli.invoke(app, ["report", str(results), str(results / "reference"), "--out", str(tmp_path / "s")],
                        env=NARROW)
    assert result.exit_code == 0 and "Random [reference]" in result.output


def test_report_defaults_its_page_outside_the_reference_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_document(Path("results/reference"), 0)
    result = cli.invoke(app, ["report", "results/reference"], env=NARROW)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results" / "leaderboard" / "leaderboard.md").is_file()
    assert not (tmp_path / "results" / "reference" / "leaderboard").exists()


# ------------------------------------------------------------------ the page


def _experiment(iterations: int = 100) -> Experiment:
    return Experiment(
        name="unit-test", description="a test experiment", env_id=ENV_ID, env_kwargs={"preset": "maml"},
        agents=(AgentSpec("Random", "tests.benchmarks.agents:RandomAgent"),
                AgentSpec("Better", "tests.benchmarks.agents:RandomAgent"),
                AgentSpec("MAML", "tests.benchmarks.agents:RandomAgent")),
        iterations=iterations, seeds=3, protocol=PROTOCOL,
        targets=(Target("SG-MRL Table 1", "Random", 1, -30.0, 1.0), Target("SG-MRL Table 1", "Better", 1, -30.0, 1.0)))


def _write(folder: Path, seed: int, *, variant: str = "full", iterations: int = 3, **kwargs) -> Path:
    record = document(seed, iterations=iterations, **kwargs)
    record = dataclasses.replace(record, variant=variant)
    return write_result(folder / record.experiment / record.cell.filename(seed), record)


def test_page_rows_verdicts_and_paper_in_words(tmp_path: Path) -> None:
    for seed in range(3):
        _write(tmp_path / "r", seed, label="Random")
        _write(tmp_path / "r", seed, label="Better", offset=5.0)
        _write(tmp_path / "r", seed, label="MAML", offset=-1.0)
    report = write_leaderboard(tmp_path / "r", tmp_path / "site", experiments={"unit-test": _experiment()})
    marks = {c.label: verdict(c) for c in report.cells}
    assert marks == {"Random": "reproduced", "Better": "not reproduced", "MAML": "no target"}
    markdown = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "Fallah, Georgiev, Mokhtari, Ozdaglar" in markdown and "NeurIPS 2021, Table 1" in markdown
    assert "Meta-test on 5 test task(s): R\\_k is the mean of 4 evaluation episodes' returns" in markdown
    assert "{'adaptation_steps'" not in markdown  # the protocol in words, not a dict
    assert "| Random | 3 | −40.50 \\[" in markdown and "R\\_1 −30.00 ± 1.00 | reproduced |" in markdown
    aggregate = markdown.split("## Across experiments")[1].split("## unit-test")[0]
    assert re.search(r"\| Better \| 1 \| [0-9.]+ \\\[.*\] \| 1\.00 \\\[1\.00, 1\.00\\\] vs MAML \(1 table\) \|",
                     aggregate), aggregate
    html = (tmp_path / "site" / "leaderboard.html").read_text()
    assert "<td>reproduced</td>" in html and "Full run: 3 meta-training iterations" in html


def test_cut_runs_are_labelled_with_the_projected_full_time(tmp_path: Path) -> None:
    for seed in range(3):
        record = document(seed, iterations=3, label="Random")
        # meta-training took 10 s per iteration (the curve's wall times), the meta-test the other 60 s
        curve = [dataclasses.replace(row, wall_time=10.0 * (row.iteration + 1)) for row in record.training_curve]
        record = dataclasses.replace(record, variant="iters3", training_curve=curve, wall_time=90.0)
        write_result(tmp_path / "r" / record.experiment / record.cell.filename(seed), record)
    report = write_leaderboard(tmp_path / "r", tmp_path / "site", experiments={"unit-test": _experiment(400)})
    markdown = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "## unit-test — cut run (3 iterations)" in markdown
    assert "Cut run: meta-training stopped after 3 of the full 400 iterations" in markdown
    # 10 s × 400 + 60 s = 4060 s ≈ 68 min: the meta-test is measured once, not once per iteration
    assert ("Measured 10.0 s per meta-training iteration and 60 s of meta-test per cell, so the full run would "
            "take about 68 min per cell here (10.0 s × 400 + 60 s)") in markdown
    assert report.bad == ()
    # the paper's number is shown beside a cut run, but the cut is not judged against it
    cut = dataclasses.replace(report.cells[0], targets=(Target("SG-MRL Table 1", "Random", 1, -30.0, 1.0),))
    assert verdict(cut) == "cut run, not judged"
    full = dataclasses.replace(cut, cell=dataclasses.replace(cut.cell, variant="full"))
    assert verdict(full) in ("reproduced", "not reproduced")
    # `metarl-bench list` projects a registered experiment's cell the same way (maml-nav2d: 100 iterations)
    record = dataclasses.replace(record, experiment="maml-nav2d")
    write_result(tmp_path / "listed" / "maml-nav2d" / record.cell.filename(0), record)
    assert measured_cell_seconds(tmp_path / "listed") == {"maml-nav2d": (10.0 * 100 + 60.0, "†")}


def test_quick_results_are_never_rendered_as_real(tmp_path: Path) -> None:
    for seed in range(2):
        _write(tmp_path / "r", seed, variant="quick", label="Random")
    experiments = {"unit-test": _experiment()}
    report = write_leaderboard(tmp_path / "r", tmp_path / "site", experiments=experiments)
    markdown = (tmp_path / "site" / "leaderboard.md").read_text()
    assert "SMOKE TEST" in markdown and "not a result" in markdown
    assert "reproduced" not in markdown.split("## unit-test")[1] and "Table 1" not in markdown
    assert {verdict(c) for c in report.cells} == {"smoke test"}
    published = write_leaderboard(tmp_path / "r", tmp_path / "docs", publish=True, experiments=experiments)
    assert published.cells == () and len(published.bad) == 2
    assert all("smoke test" in reason for _, reason in published.bad)
    assert "## unit-test" not in (tmp_path / "docs" / "leaderboard.md").read_text()


def test_a_one_iteration_curve_is_not_drawn(tmp_path: Path) -> None:
    for seed in range(2):
        _write(tmp_path / "r", seed, iterations=1)
    report = write_leaderboard(tmp_path / "r", tmp_path / "site")
    plots = [p.name for p in report.written if p.suffix == ".png"]
    assert plots == ["unit-test__full__Navigation2D-v0__maml__returns.png"]
    assert "no learning curve is drawn" in (tmp_path / "site" / "leaderboard.md").read_text()


def test_the_page_is_deterministic_and_old_plots_are_removed(tmp_path: Path) -> None:
    for seed in range(3):
        write_document(tmp_path / "r", seed)
    stale = tmp_path / "site" / "leaderboard" / "gone__full__X__y__returns.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    first = write_leaderboard(tmp_path / "r", tmp_path / "site")
    pages = {p: p.read_bytes() for p in first.written}
    again = write_leaderboard(tmp_path / "r", tmp_path / "site")
    assert {p: p.read_bytes() for p in again.written} == pages  # PNGs too: no timestamp, no version
    assert not stale.exists()


# ------------------------------------------------------------------ 80 columns


def test_list_fits_80_columns_one_line_per_experiment() -> None:
    result = cli.invoke(app, ["list"], env=NARROW)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in result.output
    for name, experiment in EXPERIMENTS.items():
        line = next(line for line in lines if line.startswith(name + " "))
        assert f"{experiment.seeds}×{experiment.iterations}" in line
        assert re.search(r"(\d+ (s|min)|< 1 s|\d+\.\d h)[*†]?\s*$|unknown\s*$", line), line
        assert not re.search(r"\s0 s[*†]?\s*$", line), f"a sub-second cell reads '< 1 s', not '0 s': {line}"


def test_report_and_run_tables_are_readable_at_80_columns(tmp_path: Path, monkeypatch) -> None:
    from tests.benchmarks.test_runner import EXPERIMENT

    monkeypatch.setattr("benchmarks.cli._experiments", lambda: {EXPERIMENT.name: EXPERIMENT})
    for seed in range(2):
        _write(tmp_path / "r", seed, label="Model-Averaging (long)", offset=1e4,
               protocol=MetaTestProtocol(adaptation_steps=2, evaluation_episodes=4, adaptation_episodes=4))
    outputs = [cli.invoke(app, ["report", str(tmp_path / "r"), "--out", str(tmp_path / "s")], env=NARROW).output,
               cli.invoke(app, ["run", EXPERIMENT.name, "--quick", "--out", str(tmp_path / "q")], env=NARROW).output]
    for output in outputs:
        assert "…" not in output and all(len(line) <= 80 for line in output.splitlines()), output
    assert "Model-Averaging (long)" in outputs[0] and "9959.60" in outputs[0]
    assert EXPERIMENT.name in outputs[1]


# ------------------------------------------------------------------ the README's main job


def _full_reference_cell(folder: Path, name: str, seed: int, returns: tuple[float, ...]) -> Path:
    """A results file of `name`'s full setting (what `run NAME --reference` writes), with given R_k."""
    import metarl_envs
    from baselines.common.agent import IterationRecord
    from benchmarks.evaluate import MetaTestResult, TaskResult
    from benchmarks.results import AgentInfo, EnvInfo, ResultRecord, TaskSetIds

    experiment = EXPERIMENTS[name]
    spec = experiment.agents[0]
    config = spec.agent_class().config_class.from_dict(dict(spec.config)).to_dict()
    train, test = (metarl_envs.task_set(experiment.env_id, split, experiment.preset) for split in ("train", "test"))
    steps = experiment.protocol.adaptation_steps + 1
    tasks = tuple(TaskResult(task=t.to_dict(), returns=returns, env_steps=100,
                             adaptation_env_steps=tuple(4000 * k for k in range(steps))) for t in test)
    meta_test = MetaTestResult(experiment.env_id, experiment.preset, test.fingerprint, experiment.protocol, seed, tasks)
    curve = [IterationRecord(i, 74000 * (i + 1), 1.0, -60.0 + 0.2 * i, -30.0 + 0.2 * i)
             for i in range(experiment.iterations)]
    record = ResultRecord(
        experiment=name, variant="full", agent=AgentInfo(spec.label, spec.agent, config),
        env=EnvInfo(experiment.env_id, dict(experiment.env_kwargs), experiment.preset),
        task_sets=TaskSetIds(train.fingerprint, test.fingerprint), protocol=experiment.protocol, seed=seed,
        iterations=experiment.iterations, max_test_tasks=experiment.max_test_tasks, training_curve=tuple(curve),
        meta_test=meta_test, started="2026-01-01T00:00:00+00:00", finished="2026-01-01T00:10:00+00:00",
        wall_time=600.0)
    return write_result(folder / name / record.cell.filename(seed), record)


def test_the_readme_main_job_shows_the_reference_cells_next_to_the_paper(tmp_path: Path, monkeypatch) -> None:
    """`metarl-bench run maml-nav2d --from-reference` (the README's first command) with the three full
    cells committed: nothing is meta-trained, the output says what it took and shows the paper's numbers."""
    import time

    monkeypatch.chdir(tmp_path)
    for seed, shift in enumerate((-0.3, 0.0, 0.3)):
        _full_reference_cell(Path("results/reference"), "maml-nav2d", seed, (-40.4 + shift, -11.7 + shift,
                                                                              -3.3 + shift, -3.2 + shift))
    clock = time.perf_counter()
    result = cli.invoke(app, ["run", "maml-nav2d", "--from-reference"], env=NARROW)
    assert time.perf_counter() - clock < 60
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "took 3 cell(s) from results/reference (the committed reference results, not re-run), ran 0 missing" in text
    assert "(100 meta-training iterations per seed, all test tasks)" in text
    assert "-40.40" in text and "-11.70" in text  # the paper's numbers beside the measured ones
    assert "MAML: reproduced against Finn, Abbeel, Levine" in text and "docs/leaderboard.md" in text


def _readme_main_job() -> list[str]:
    """The arguments of the README's first command (`metarl-bench ...` after the install)."""
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"&& metarl-bench (.+)\n", readme)
    assert commands, "the README has no `... && metarl-bench ...` main job"
    return commands[0].split()


def test_the_readme_main_job_takes_only_committed_cells(tmp_path: Path, monkeypatch) -> None:
    """The README's main job, run exactly as written in a copy of this checkout's results/reference/,
    finds every cell it asks for committed: it meta-trains nothing, and prints the committed numbers."""
    import shutil

    args = _readme_main_job()
    assert args[:1] == ["run"] and "--from-reference" in args
    shutil.copytree(REFERENCE, tmp_path / "results" / "reference")
    monkeypatch.chdir(tmp_path)
    result = cli.invoke(app, args, env=NARROW)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert re.search(r"took \d+ cell\(s\) from results/reference .* ran 0 missing", text), text
    assert "docs/leaderboard.md" in text


def test_every_committed_reference_table_verifies() -> None:
    """`metarl-bench verify` re-runs a committed result's meta-test from its stored parameters: here one
    file per table (experiment, env, preset, variant: the lowest seed of its alphabetically first
    agent), so that CI stays within its time; every file is verified whenever reference results land
    (`metarl-bench report results/reference/ --verify`), and every agent's store, reload and verify
    run on its quick cell (`test_quick_experiments.py`). Bit for bit on the CPU a result was recorded
    on; on another (CI's, a later session's) last bits differ and a stochastic meta-test can send a
    task down another path (on an Intel host, MAML Navigation2D's task 3 and three of a pMeta-RL
    CartPole file's five tasks), so verify there reports the branched tasks and checks the table by a
    paired t-test over tasks (`benchmarks.verify`). The MuJoCo tables are left out here for their
    cost (a HalfCheetah meta-test takes minutes): they are verified in full when they land, and each
    MuJoCo agent's verify runs on its quick cell."""
    first: dict[object, str] = {}
    for path, record in collect(REFERENCE)[0]:
        if env_class(record.env.id).__module__.startswith("metarl_envs.mujoco"):
            continue  # minutes per meta-test (bomrl-cheetah-vel's 40 tasks: 4 min); verified as they land
        table = (record.experiment, record.env.id, record.env.preset, record.variant)
        first[table] = min(first.get(table, str(path)), str(path))
    files = sorted(first.values())
    assert len(files) >= 8, files
    result = cli.invoke(app, ["verify", *files])
    assert result.exit_code == 0, result.output
    assert result.output.count("verified") == len(files), result.output
