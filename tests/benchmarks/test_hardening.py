"""Nothing bad gets through the results files, the report or the runner: every bad file is refused
naming itself and its field, the rest still renders or runs, and nothing is written outside `--out`."""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks.cli import app
from benchmarks.leaderboard import write_leaderboard
from benchmarks.results import ResultError, checksum, load_result
from benchmarks.runner import run_experiment
from tests.benchmarks.conftest import write_document
from tests.benchmarks.test_runner import EXPERIMENT

cli = CliRunner()
WIDE = {"COLUMNS": "200"}


def _rewrite(path: Path, edit) -> None:
    """Edit the parsed file and store it with a fresh checksum: only its meaning is wrong."""
    data = json.loads(path.read_text())
    edit(data)
    data["checksum"] = checksum(data)
    path.write_text(json.dumps(data))


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _refused(path: Path, match: str) -> ResultError:
    with pytest.raises(ResultError, match=match) as error:
        load_result(path)
    assert str(path) in str(error.value)
    return error.value


# ------------------------------------------------------------------ 1. a file that cannot be decoded

NESTED = "[" * 100_000 + "]" * 100_000
UNDECODABLE = {
    "nan": ('"wall_time": 1.0', '"wall_time": NaN'),
    "1e999": ('"wall_time": 1.0', '"wall_time": 1e999'),
    "400 digits": ('"wall_time": 1.0', '"wall_time": ' + "9" * 400),
    "deep nesting": ('"tasks_per_iteration": 2', '"tasks_per_iteration": ' + NESTED),
}


@pytest.mark.parametrize("case", sorted(UNDECODABLE))
def test_undecodable_numbers_and_nesting_are_result_errors(tmp_path: Path, case: str) -> None:
    path = write_document(tmp_path, 0)
    old, new = UNDECODABLE[case]
    text = json.dumps(json.loads(path.read_text()))
    assert old in text
    path.write_text(text.replace(old, new))
    _refused(path, ".")


def test_a_400_digit_return_with_a_valid_checksum_is_a_result_error(tmp_path: Path) -> None:
    path = write_document(tmp_path, 0)
    _rewrite(path, lambda d: d["meta_test"]["tasks"][0]["returns"].__setitem__(0, 10**400))
    _refused(path, "an integer of 401 digits")


def test_report_lists_undecodable_files_and_renders_the_rest(tmp_path: Path) -> None:
    good = [write_document(tmp_path / "r", seed) for seed in (0, 1)]
    bad = []
    for seed, case in zip((2, 3, 4, 5), sorted(UNDECODABLE), strict=True):
        path = write_document(tmp_path / "r", seed)
        old, new = UNDECODABLE[case]
        path.write_text(json.dumps(json.loads(path.read_text())).replace(old, new))
        bad.append(path)
    result = cli.invoke(app, ["report", str(tmp_path / "r"), "--out", str(tmp_path / "site")], env=WIDE)
    assert result.exit_code == 1, result.output
    assert "1 cell(s) rendered, 4 file(s) refused" in result.output
    for path in bad:
        assert path.name in result.output
    assert "| Random | 2 |" in (tmp_path / "site" / "leaderboard.md").read_text()  # the two good seeds
    assert all(p.exists() for p in good)


def test_runner_reruns_a_cell_whose_file_is_bad_and_keeps_the_bad_file_aside(tmp_path: Path) -> None:
    experiment = EXPERIMENT.only(["Random"])
    first = run_experiment(experiment, tmp_path, seeds=1)
    path = first.ran[0]
    text = path.read_text().replace('"wall_time": ', '"wall_time": 1e999, "x": ', 1)
    path.write_text(text)
    again = run_experiment(experiment, tmp_path, seeds=1)
    assert again.ran == (path,)
    load_result(path)
    aside = path.with_name(path.name + ".corrupt")
    assert aside.read_text() == text


# ------------------------------------------------------------------ 2. names that become paths

@pytest.mark.parametrize(("field", "value"), [
    ("experiment", "/tmp/abs"), ("experiment", "../../x"), ("experiment", "sub/dir"), ("variant", "../full"),
    ("agent.label", "a/../../b"), ("agent.label", "<script>alert(1)</script>"), ("agent.label", "a | b"),
    ("agent.label", "two\n# lines"), ("experiment", ""),
])
def test_unsafe_names_are_refused_and_nothing_is_written_outside_out(tmp_path: Path, field: str, value: str) -> None:
    results = tmp_path / "results"
    path = write_document(results, 0)

    def edit(data):
        if "." in field:
            outer, inner = field.split(".")
            data[outer][inner] = value
        else:
            data[field] = value

    _rewrite(path, edit)
    _refused(path, field.replace(".", r"\."))
    before = _files(tmp_path)
    report = write_leaderboard(results, tmp_path / "site")
    assert [p for p, _ in report.bad] == [path]
    assert {p for p in _files(tmp_path) - before if not p.is_relative_to(tmp_path / "site")} == set()
    assert not Path("/tmp/abs").exists() or not any(Path("/tmp/abs").glob("*.png"))


# ------------------------------------------------------------------ 3. only regular files, with a size cap

def _load_in_thread(path: Path, seconds: float = 10.0) -> BaseException | None:
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            load_result(path)
            outcome.append(None)
        except BaseException as error:  # reported to the test
            outcome.append(error)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    assert outcome, f"load_result({path}) did not return within {seconds} s"
    return outcome[0]


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "Random__Navigation2D-v0__maml__seed9.json"
    os.mkfifo(fifo)
    error = _load_in_thread(fifo)
    assert isinstance(error, ResultError) and "not a regular file" in str(error)


def test_a_symlink_to_a_device_is_refused_before_reading(tmp_path: Path) -> None:
    link = tmp_path / "Random__Navigation2D-v0__maml__seed9.json"
    link.symlink_to("/dev/zero")
    error = _load_in_thread(link)
    assert isinstance(error, ResultError) and "not a regular file" in str(error)


def test_a_file_above_the_cap_is_refused_before_reading(tmp_path: Path, monkeypatch) -> None:
    path = write_document(tmp_path, 0)
    with path.open("r+b") as stream:
        stream.truncate(64 * 2**20)  # sparse: 64 MiB of zeros
    monkeypatch.setattr(Path, "read_text", lambda *a, **k: pytest.fail("read a file above the cap"))
    monkeypatch.setattr(Path, "read_bytes", lambda *a, **k: pytest.fail("read a file above the cap"))
    _refused(path, "above the cap")


# ------------------------------------------------------------------ 4. everything rendered is escaped

def test_markdown_cannot_be_injected_through_a_refused_file_name(tmp_path: Path) -> None:
    write_document(tmp_path / "r", 0)
    hostile = tmp_path / "r" / "x | y\n# injected <b>bold<b>__seed1.json"
    hostile.write_text("{}")
    report = write_leaderboard(tmp_path / "r", tmp_path / "site")
    assert len(report.bad) == 1
    markdown = (tmp_path / "site" / "leaderboard.md").read_text()
    assert not any(line.startswith("# injected") for line in markdown.splitlines())
    assert "<b>" not in markdown and not re.search(r"(?<!\\)\| y", markdown)


# ------------------------------------------------------------------ 5. files that contradict themselves

def _set_mean(data) -> None:
    data["meta_test"]["mean_returns"][1] += 3.0


def _swap_tasks(data) -> None:
    tasks = data["meta_test"]["tasks"]
    tasks[0]["task"], tasks[1]["task"] = tasks[1]["task"], tasks[0]["task"]


def _huge_returns(data) -> None:
    for task in data["meta_test"]["tasks"]:
        task["returns"] = [1e300, 1e300, 1e300]
    data["meta_test"]["mean_returns"] = [1e300, 1e300, 1e300]


@pytest.mark.parametrize(("edit", "match"), [
    (_set_mean, r"meta_test\.mean_returns\[1\]"),
    (lambda d: d.__setitem__("seed", 3), r"field seed = 3 differs from the seed 0 in the file name"),
    (lambda d: d["env"]["kwargs"].__setitem__("preset", "sgmrl"), r"env\.kwargs\.preset"),
    (_swap_tasks, r"meta_test\.tasks\[0\]\.task"),
    (lambda d: d.__setitem__("experiment", "pmeta-gridworld"), r"field experiment = 'pmeta-gridworld' runs"),
    (_huge_returns, r"meta_test\.tasks\[0\]\.returns\[0\] = 1e\+300 is not a finite number of magnitude"),
    (lambda d: d["meta_test"].__setitem__("env_steps", 7), r"meta_test\.env_steps"),
    (lambda d: d.__setitem__("max_test_tasks", 4), r"meta_test\.tasks holds 5 tasks; max_test_tasks = 4"),
])
def test_self_contradicting_files_are_refused_despite_a_valid_checksum(tmp_path: Path, edit, match: str) -> None:
    path = write_document(tmp_path, 0)
    _rewrite(path, edit)
    _refused(path, match)


# ------------------------------------------------------------------ 8. the CLI under faults

def test_out_pointing_at_a_file_is_one_line_and_exit_2(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("benchmarks.cli._experiments", lambda: {EXPERIMENT.name: EXPERIMENT})
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = cli.invoke(app, ["run", EXPERIMENT.name, "--quick", "--out", str(afile)], env=WIDE)
    assert result.exit_code == 2 and "is a file, not a folder" in result.output
    assert "Traceback" not in result.output
    write_document(tmp_path / "r", 0)
    result = cli.invoke(app, ["report", str(tmp_path / "r"), "--out", str(afile)], env=WIDE)
    assert result.exit_code == 2 and "is a file, not a folder" in result.output


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _read_only(*args, **kwargs):
    raise OSError(errno.EROFS, "Read-only file system")


@pytest.mark.parametrize(("fault", "message"), [(_disk_full, "No space left on device"),
                                               (_read_only, "Read-only file system")])
def test_a_full_or_read_only_disk_is_one_line_exit_2_and_leaves_the_previous_report(tmp_path: Path, monkeypatch,
                                                                                    fault, message: str) -> None:
    write_document(tmp_path / "r", 0)
    site = tmp_path / "site"
    assert cli.invoke(app, ["report", str(tmp_path / "r"), "--out", str(site)], env=WIDE).exit_code == 0
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    write_document(tmp_path / "r", 1)
    monkeypatch.setattr(os, "fsync", fault)
    result = cli.invoke(app, ["report", str(tmp_path / "r"), "--out", str(site)], env=WIDE)
    assert result.exit_code == 2 and message in result.output
    assert isinstance(result.exception, SystemExit) and len(result.output.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before


def test_a_full_disk_during_run_is_one_line_and_exit_2(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("benchmarks.cli._experiments", lambda: {EXPERIMENT.name: EXPERIMENT})
    monkeypatch.setattr(os, "fsync", _disk_full)
    result = cli.invoke(app, ["run", EXPERIMENT.name, "--quick", "--out", str(tmp_path)], env=WIDE)
    assert result.exit_code == 2 and "No space left on device" in result.output
    assert isinstance(result.exception, SystemExit)
    assert not list(tmp_path.rglob("*.json")) and not list(tmp_path.rglob("*.tmp"))


def test_seeds_are_capped_before_any_cell_is_planned(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("benchmarks.cli._experiments", lambda: {EXPERIMENT.name: EXPERIMENT})
    result = cli.invoke(app, ["run", EXPERIMENT.name, "--seeds", "99999999999999999999", "--out", str(tmp_path)],
                        env=WIDE)
    assert result.exit_code == 2 and "--seeds" in result.output
    with pytest.raises(ValueError, match=r"seeds=1001 must be an int in \[1, 1000\]"):
        run_experiment(EXPERIMENT, tmp_path, seeds=1001)
    assert not (tmp_path / EXPERIMENT.name).exists()


def test_stale_temp_files_are_swept_and_results_get_the_umask_mode(tmp_path: Path) -> None:
    experiment = EXPERIMENT.only(["Random"])
    folder = tmp_path / experiment.name
    folder.mkdir()
    name = "Random__Navigation2D-v0__maml__seed0.json"
    stale = folder / f".{name}.k9x2_a.tmp"
    stale.write_text('{"half": ')
    other = folder / "notes.tmp"
    other.write_text("mine")
    previous = os.umask(0o027)
    try:
        summary = run_experiment(experiment, tmp_path, seeds=1)
    finally:
        os.umask(previous)
    assert not stale.exists() and other.exists()
    assert stat.S_IMODE(summary.ran[0].stat().st_mode) == 0o640


# ------------------------------------------------------------------ 9. one cell, one process

def test_a_cell_claimed_by_a_live_process_is_left_to_it(tmp_path: Path) -> None:
    experiment = EXPERIMENT.only(["Random"])
    folder = tmp_path / experiment.name
    folder.mkdir()
    held = folder / "Random__Navigation2D-v0__maml__seed0.json.lock"
    held.write_text(json.dumps({"pid": os.getppid(), "host": os.uname().nodename, "claimed": 0}))
    dead = folder / "Random__Navigation2D-v0__maml__seed1.json.lock"
    dead.write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename, "claimed": 0}))
    summary = run_experiment(experiment, tmp_path, seeds=2)
    assert [p.name for p in summary.ran] == ["Random__Navigation2D-v0__maml__seed1.json"]
    assert [p.name for p in summary.busy] == ["Random__Navigation2D-v0__maml__seed0.json"]
    assert held.exists() and not dead.exists()
    assert not (folder / "Random__Navigation2D-v0__maml__seed0.json").exists()


def _sweep(out: str) -> int:
    from tests.benchmarks.test_runner import EXPERIMENT as experiment

    return len(run_experiment(experiment, out, seeds=2).ran)


def test_two_concurrent_sweeps_run_each_cell_once(tmp_path: Path) -> None:
    import concurrent.futures as futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        ran = [job.result() for job in [pool.submit(_sweep, str(tmp_path)) for _ in range(2)]]
    assert sum(ran) == 4, ran
    assert len(list((tmp_path / EXPERIMENT.name).glob("*.json"))) == 4
    assert not list((tmp_path / EXPERIMENT.name).glob("*.lock"))
