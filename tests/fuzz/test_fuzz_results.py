"""Fuzzing the results loader and the report: every mutated, truncated, re-typed or re-nested results
file is loaded with a meaning that is exactly the file's, or refused with a ResultError naming the
file; nothing crashes, hangs, or writes outside the report's folder."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.leaderboard import write_leaderboard
from benchmarks.results import ResultError, checksum, load_result
from tests.benchmarks.conftest import write_document
from tests.fuzz.conftest import OUTCOMES
from tests.fuzz.strategies import EXAMPLES, FUZZ, file_text, mutated_json, numbers_as_floats

NAME = "Random__Navigation2D-v0__maml__seed0.json"


@pytest.fixture(scope="module")
def valid_document(tmp_path_factory) -> dict:
    return json.loads(write_document(tmp_path_factory.mktemp("base"), 0).read_text())


def _hostile_file(data, valid_document) -> tuple[str, bool]:
    mutated = data.draw(mutated_json(valid_document), label="mutated")
    resealed = isinstance(mutated, dict) and data.draw(st.booleans(), label="resealed")
    if resealed:  # a fresh checksum: the loader's other checks must catch what is wrong
        try:
            mutated["checksum"] = checksum(mutated)
        except (ValueError, RecursionError):  # NaN or too deep for the canonical form
            pass
    return data.draw(file_text(mutated), label="text"), resealed


def _check_loads_or_refuses(path: Path, text: str, strategy: str) -> None:
    try:
        record = load_result(path)
    except ResultError as error:
        assert str(path) in str(error), f"the refusal does not name the file: {error}"
        OUTCOMES[f"{strategy}: refused"] += 1
        return
    stored = json.loads(text)
    stored.pop("checksum")
    assert numbers_as_floats(record.to_document()) == numbers_as_floats(stored), "silent accept: loaded a meaning " \
        "other than the file's"
    OUTCOMES[f"{strategy}: loaded"] += 1


@FUZZ
@given(data=st.data())
def test_results_files_load_with_their_meaning_or_are_refused(valid_document, data) -> None:
    text, _ = _hostile_file(data, valid_document)
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / "unit-test" / NAME
        path.parent.mkdir()
        path.write_text(text)
        before = sorted(Path(root).rglob("*"))
        _check_loads_or_refuses(path, text, "results")
        assert sorted(Path(root).rglob("*")) == before, "load_result wrote a file"


@settings(FUZZ, max_examples=max(4, EXAMPLES // 10), deadline=60_000)  # matplotlib renders each case
@given(data=st.data())
def test_report_renders_or_refuses_and_writes_only_into_out(valid_document, data) -> None:
    text, _ = _hostile_file(data, valid_document)
    with tempfile.TemporaryDirectory() as root:
        results = Path(root) / "results"
        good = write_document(results, 1)
        hostile = good.with_name(NAME)
        hostile.write_text(text)
        outside = {p for p in Path(root).rglob("*")}
        report = write_leaderboard(results, Path(root) / "site")
        new = {p for p in Path(root).rglob("*")} - outside
        assert all(p.is_relative_to(Path(root) / "site") for p in new), f"wrote outside --out: {new}"
        reasons = dict(report.bad)
        if good in reasons:  # only for a conflict between two valid files of one cell, either may be named
            assert hostile not in reasons and "differ from" in reasons[good], f"a good file was refused: {reasons}"
        OUTCOMES["report: " + ("refused" if report.bad else "rendered")] += 1
