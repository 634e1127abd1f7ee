"""`metarl-bench verify`: a result is re-run from its stored parameters, so a forged return fails even
when its checksum was recomputed."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmarks import verify as verify_module
from benchmarks.cli import app
from benchmarks.results import Machine, checksum, load_result, parameters_path
from benchmarks.runner import run_experiment
from benchmarks.verify import CROSS_MACHINE_RTOL, TABLE_ALPHA, compare, machine_differences, table_checks, verify_result
from tests.benchmarks.test_parameters import TINY

runner = CliRunner()
WIDE = {"COLUMNS": "300"}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A MAML and an RL² result of the tiny experiment, made once for the module (never edited in place)."""
    out = tmp_path_factory.mktemp("fresh")
    return sorted(run_experiment(TINY, out, progress=None).ran)


def _copy(paths: list[Path], folder: Path) -> list[Path]:
    """The results files and their parameters files, copied into `folder/<experiment>/`."""
    target = folder / paths[0].parent.name
    target.mkdir(parents=True)
    for path in paths:
        shutil.copy(path, target)
        shutil.copy(parameters_path(path, load_result(path).parameters), target)
    return [target / path.name for path in paths]


def _forge(path: Path, task: int, k: int, delta: float) -> None:
    """Edit R_k of one task, keep the file consistent (the stored means and, where J* exists, the gaps)
    and recompute its checksum."""
    document = json.loads(path.read_text())
    tasks = document["meta_test"]["tasks"]
    tasks[task]["returns"][k] += delta
    document["meta_test"]["mean_returns"][k] = sum(t["returns"][k] for t in tasks) / len(tasks)
    if tasks[task]["optimality_gaps"] is not None:
        tasks[task]["optimality_gaps"][k] -= delta
        document["meta_test"]["mean_optimality_gaps"][k] = sum(t["optimality_gaps"][k] for t in tasks) / len(tasks)
    document["checksum"] = checksum(document)
    path.write_text(json.dumps(document))


def test_verify_reproduces_fresh_results_bit_for_bit(fresh: list[Path]) -> None:
    result = runner.invoke(app, ["verify", *map(str, fresh)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert result.output.count("bit for bit") == 2
    check = verify_result(fresh[0])
    assert check.ok and check.exact and check.mismatches == ()


def test_a_forged_return_with_a_valid_checksum_fails_naming_task_and_k(fresh: list[Path], tmp_path: Path) -> None:
    paths = _copy(fresh, tmp_path)
    _forge(paths[0], task=1, k=1, delta=0.25)
    forged = load_result(paths[0])  # the forgery passes every check a file can make of itself
    assert forged.meta_test.tasks[1].returns[1] == load_result(fresh[0]).meta_test.tasks[1].returns[1] + 0.25
    result = runner.invoke(app, ["verify", *map(str, paths)], env=WIDE)
    assert result.exit_code == 1, result.output
    assert "differs" in result.output and "task 1, k = 1: R_1 stored" in result.output
    assert "verified" in result.output  # the other file still passes
    mismatch = verify_result(paths[0]).mismatches
    assert [(m.task, m.field, m.k) for m in mismatch] == [(1, "returns", 1)]


def test_report_verify_checks_every_file_or_a_sample(fresh: list[Path], tmp_path: Path) -> None:
    paths = _copy(fresh, tmp_path / "results")
    result = runner.invoke(app, ["report", str(tmp_path / "results"), "--out", str(tmp_path / "site"), "--verify"],
                           env=WIDE)
    assert result.exit_code == 0, result.output
    assert result.output.count("verified") == 2
    result = runner.invoke(app, ["report", str(tmp_path / "results"), "--out", str(tmp_path / "site"), "--verify",
                                 "--sample", "1"], env=WIDE)
    assert result.exit_code == 0 and result.output.count("verified") == 1, result.output
    _forge(paths[1], task=0, k=0, delta=-1.0)
    result = runner.invoke(app, ["report", str(tmp_path / "results"), "--out", str(tmp_path / "site"), "--verify"],
                           env=WIDE)
    assert result.exit_code == 1 and "task 0, k = 0: R_0 stored" in result.output, result.output


def test_a_tampered_or_missing_parameters_file_fails_with_a_clear_error(fresh: list[Path], tmp_path: Path) -> None:
    paths = _copy(fresh, tmp_path)
    stored = parameters_path(paths[0], load_result(paths[0]).parameters)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    result = runner.invoke(app, ["verify", str(paths[0])], env=WIDE)
    assert result.exit_code == 1 and "cannot verify" in result.output, result.output
    assert f"not {load_result(paths[0]).parameters}" in result.output and "edited or corrupted" in result.output
    stored.unlink()
    result = runner.invoke(app, ["verify", str(paths[0])], env=WIDE)
    assert result.exit_code == 1 and f"the parameters file {stored.name} is missing" in result.output, result.output


def test_on_another_machine_verify_says_so_and_uses_the_stated_tolerance(fresh: list[Path], tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    here = Machine.current()
    other = dataclasses.replace(here, packages={**here.packages, "torch": "0.0.1"})
    monkeypatch.setattr(verify_module.Machine, "current", classmethod(lambda cls: other))
    result = runner.invoke(app, ["verify", str(fresh[0])], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "recorded on another machine" in result.output and "→ 0.0.1" in result.output
    # the same bits all the same: said, so a cross-machine check does not undersell itself
    assert "bit for bit, though recorded on another machine" in result.output
    assert verify_result(fresh[0]).bit_identical and not verify_result(fresh[0]).exact
    paths = _copy(fresh, tmp_path)
    value = load_result(paths[0]).meta_test.tasks[0].returns[1]
    _forge(paths[0], task=0, k=1, delta=abs(value) * CROSS_MACHINE_RTOL * 0.1)  # inside the tolerance
    result = runner.invoke(app, ["verify", str(paths[0])], env=WIDE)
    assert result.exit_code == 0 and "within rel" in result.output and "bit for bit" not in result.output, result.output
    assert not verify_result(paths[0]).bit_identical


def test_on_another_machine_one_branched_task_is_reported_and_a_moved_table_fails(
        fresh: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another CPU can send one task's trajectory down another path (a sampled action or a termination
    that falls the other way), which no single number can tell from an edit: reported, not failed. A
    table whose every task moved alike fails, naming the number."""
    here = Machine.current()
    other = dataclasses.replace(here, packages={**here.packages, "torch": "0.0.1"})
    monkeypatch.setattr(verify_module.Machine, "current", classmethod(lambda cls: other))
    paths = _copy(fresh, tmp_path)
    _forge(paths[0], task=0, k=1, delta=5.0)
    result = runner.invoke(app, ["verify", str(paths[0])], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "1 branched" in result.output and "branched: task 0, k = 1: R_1 stored" in result.output, result.output
    check = verify_result(paths[0])
    assert check.ok and [(m.task, m.field, m.k) for m in check.mismatches] == [(0, "returns", 1)]
    assert [c.t for c in check.table if c.branched] == [pytest.approx(-1.0)]  # one outlier: t = ±1 exactly
    _forge(paths[0], task=1, k=1, delta=5.0)  # now every task of the table moved by the same amount
    result = runner.invoke(app, ["verify", str(paths[0])], env=WIDE)
    assert result.exit_code == 1, result.output
    assert "the table disagrees" in result.output and "R_1: 2 task(s) branched" in result.output, result.output
    assert not verify_result(paths[0]).ok


def test_the_table_check_is_a_paired_t_test_on_the_differences_beyond_tolerance(fresh: list[Path]) -> None:
    from scipy import stats

    tasks = list(load_result(fresh[0]).meta_test.tasks) * 3  # six tasks
    shifts = [0.0, 2.0, -1.0, 3.0, 1e-12, 4.0]  # the fifth within the per-task tolerance: counted as 0
    moved = [dataclasses.replace(task, returns=(task.returns[0] + shift, *task.returns[1:]))
             for task, shift in zip(tasks, shifts, strict=True)]
    checks = table_checks(tasks, moved, compare(tasks, moved, exact=False))
    (r0,) = [c for c in checks if c.field == "returns" and c.k == 0]
    counted = [0.0, 2.0, -1.0, 3.0, 0.0, 4.0]
    expected = stats.ttest_1samp(counted, 0.0)
    assert r0.branched == 4 and r0.mean_difference == pytest.approx(sum(counted) / 6)
    assert r0.t == pytest.approx(expected.statistic, rel=1e-12)
    assert r0.critical == pytest.approx(stats.t.ppf(1 - TABLE_ALPHA / 2, 5), rel=1e-12)
    assert r0.passed and all(c.branched == 0 and c.passed for c in checks if c is not r0)
    one = table_checks(tasks[:1], moved[1:2], compare(tasks[:1], moved[1:2], exact=False))
    assert not all(c.passed for c in one)  # a single branched task cannot be tested, so it fails


def test_compare_is_exact_on_the_same_machine_and_counts_steps_exactly(fresh: list[Path]) -> None:
    tasks = load_result(fresh[0]).meta_test.tasks
    first = tasks[0].returns
    nudged = [dataclasses.replace(tasks[0], returns=(first[0] + abs(first[0]) * 1e-12, *first[1:])),
              dataclasses.replace(tasks[1], env_steps=tasks[1].env_steps + 1), *tasks[2:]]
    exact = compare(tasks, nudged, exact=True)
    assert [(m.task, m.field, m.k) for m in exact] == [(0, "returns", 0), (1, "env_steps", None)]
    assert [(m.task, m.field) for m in compare(tasks, nudged, exact=False)] == [(1, "env_steps")]


def test_the_recorded_machine_names_the_cpu_so_another_cpu_is_another_machine(fresh: list[Path]) -> None:
    # two hosts of one kind, whose platform strings differed only in the kernel build, gave MEMRL's exact
    # returns one ulp apart: a platform string without the CPU would have demanded bit for bit there
    from benchmarks.results import cpu_identity

    here = Machine.current()
    assert here.platform.endswith(f"; {cpu_identity()}") and "torch " in cpu_identity()
    if Path("/proc/cpuinfo").is_file():
        assert " family " in cpu_identity() and " model " in cpu_identity()
    recorded = load_result(fresh[0]).machine
    elsewhere = dataclasses.replace(here, platform=here.platform.replace(cpu_identity(), "Other family 1 model 2"))
    assert machine_differences(recorded, here) == ()
    assert machine_differences(recorded, elsewhere) == (f"platform {here.platform} → {elsewhere.platform}",)
