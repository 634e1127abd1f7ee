from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from baselines.common.agent import IterationRecord
from benchmarks import results
from benchmarks.evaluate import MetaTestProtocol
from benchmarks.results import ResultError, ResultRecord, checksum, load_result, write_result
from tests.benchmarks.conftest import document


def _rewrite(path: Path, edit) -> None:
    """Edit the parsed document and re-store it with a fresh checksum (only the edited field is wrong)."""
    data = json.loads(path.read_text())
    edit(data)
    data["checksum"] = checksum(data)
    path.write_text(json.dumps(data))


def test_round_trip_keeps_every_field(result_file: Path) -> None:
    original = document(0)
    loaded = load_result(result_file)
    assert json.loads(result_file.read_text())["checksum"].startswith("sha256:")
    assert loaded.meta_test == original.meta_test
    assert loaded.agent == original.agent and loaded.protocol == original.protocol
    assert loaded.task_sets == original.task_sets
    assert [row.pre_adaptation_return for row in loaded.training_curve] == [-50.0, -49.0, -48.0]
    assert loaded.git_commit and loaded.package_version == "0.1.0"
    assert loaded.machine.packages["gymnasium"]
    assert len(loaded.meta_test.tasks) == 5 and len(loaded.meta_test.mean_returns()) == 3
    assert loaded.to_document() == json.loads(json.dumps(original.to_document()))


def test_the_file_layout_is_derived_from_the_record(result_file: Path) -> None:
    stored = json.loads(result_file.read_text())
    assert sorted(stored) == sorted(["schema", "schema_version", "checksum",
                                     *(f.name for f in dataclasses.fields(ResultRecord))])
    assert sorted(stored["protocol"]) == sorted(f.name for f in dataclasses.fields(MetaTestProtocol))
    assert sorted(stored["training_curve"][0]) == sorted(f.name for f in dataclasses.fields(IterationRecord))
    assert sorted(stored["agent"]) == ["class", "config", "label"]
    assert sorted(stored["meta_test"]) == ["env_steps", "mean_optimality_gaps", "mean_returns", "optimum_kind", "tasks",
                                           "track"]


def test_nan_post_adaptation_return_is_stored_as_null(result_file: Path) -> None:
    loaded = load_result(result_file)
    assert all(math.isnan(row.post_adaptation_return) for row in loaded.training_curve)
    assert all(row["post_adaptation_return"] is None for row in json.loads(result_file.read_text())["training_curve"])
    assert "NaN" not in result_file.read_text()


def test_optimality_gaps_are_stored_where_an_oracle_exists(tmp_path: Path) -> None:
    path = write_result(tmp_path / "r.json", document(1, oracle=True))
    data = json.loads(path.read_text())
    load_result(path)
    task = data["meta_test"]["tasks"][0]
    assert task["optimality_gaps"] == [pytest.approx(-5.0 - r) for r in task["returns"]]
    assert data["meta_test"]["mean_optimality_gaps"][0] == pytest.approx(-5.0 - data["meta_test"]["mean_returns"][0])


def test_edited_number_is_detected(result_file: Path) -> None:
    data = json.loads(result_file.read_text())
    data["meta_test"]["tasks"][2]["returns"][1] += 1.0
    result_file.write_text(json.dumps(data, indent=1))
    with pytest.raises(ResultError, match=r"checksum.*edited or corrupted") as error:
        load_result(result_file)
    assert str(result_file) in str(error.value)


def test_corrupt_json_is_detected(result_file: Path) -> None:
    text = result_file.read_text()
    result_file.write_text(text[: len(text) // 2])
    with pytest.raises(ResultError, match="not valid JSON"):
        load_result(result_file)


def test_wrong_fingerprint_is_detected_even_with_a_matching_checksum(result_file: Path) -> None:
    _rewrite(result_file, lambda d: d["task_sets"].__setitem__("test", "0" * 64))
    with pytest.raises(ResultError, match=r"field task_sets\.test = 0+ differs from the stored test task set"):
        load_result(result_file)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d.pop("seed"), "missing field seed"),
    (lambda d: d.__setitem__("seed", "0"), "field seed has type str, expected int"),
    (lambda d: d["meta_test"]["tasks"][1].__setitem__("returns", [1.0]), r"meta_test\.tasks\[1\]\.returns must be"),
    (lambda d: d["training_curve"][0].pop("wall_time"), r"missing field training_curve\[0\]\.wall_time"),
    (lambda d: d["protocol"].__setitem__("episodes", 3), "field protocol is not a MetaTestProtocol"),
    (lambda d: d.__setitem__("schema_version", 1), "schema_version = 1"),
])
def test_bad_fields_are_named(result_file: Path, edit, message: str) -> None:
    _rewrite(result_file, edit)
    with pytest.raises(ResultError, match=message):
        load_result(result_file)


def test_non_finite_numbers_are_refused_naming_the_field(tmp_path: Path) -> None:
    doc = document(0)
    tasks = list(doc.meta_test.tasks)
    tasks[3] = dataclasses.replace(tasks[3], returns=(tasks[3].returns[0], math.inf, tasks[3].returns[2]))
    doc = dataclasses.replace(doc, meta_test=dataclasses.replace(doc.meta_test, tasks=tuple(tasks)))
    with pytest.raises(ResultError, match=r"field meta_test\.tasks\[3\]\.returns\[1\] is not finite"):
        write_result(tmp_path / "r.json", doc)
    doc = document(0)
    curve = list(doc.training_curve)
    curve[1] = dataclasses.replace(curve[1], pre_adaptation_return=math.nan)
    with pytest.raises(ResultError, match=r"field training_curve\[1\]\.pre_adaptation_return is not finite"):
        write_result(tmp_path / "r.json", dataclasses.replace(doc, training_curve=tuple(curve)))
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "cell.json"
    write_result(target, document(0))
    before = target.read_bytes()

    def crash(fd: int) -> None:
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(results.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        write_result(target, document(1))
    assert target.read_bytes() == before  # the old complete file, not a half-written new one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell.json"]
    fresh = tmp_path / "fresh.json"
    with pytest.raises(KeyboardInterrupt):
        write_result(fresh, document(1))
    assert not fresh.exists()
    assert load_result(target).seed == 0
