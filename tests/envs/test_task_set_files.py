"""Stored task-set files are validated like results files: a malformed, inconsistent or re-fingerprinted
file out of its preset's range is refused with a ValueError naming the file and the field."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from metarl_envs import task_sets

NAV = ("MetaRL/Navigation2D-v0", "maml")
CARTPOLE = ("MetaRL/CartPoleParams-v0", "pmeta")  # a finite family: train = test = the family
STORED = task_sets.task_set_path(*NAV).parent


def _fingerprint(env_id: str, preset: str, split: str, tasks: list) -> str:
    payload = {"env_id": env_id, "preset": preset, "split": split, "tasks": tasks}
    return hashlib.sha256(task_sets.canonical_json(payload).encode()).hexdigest()


def _load(folder: Path, monkeypatch, env_id: str, preset: str, edit=None, *, refingerprint: bool = True,
          text: str | None = None):
    """Copy the stored file into `folder`, apply `edit` to its parsed form (then re-fingerprint the
    splits, so only the edited meaning is wrong) or replace it by `text`, and load it from there."""
    source = STORED / task_sets.task_set_path(env_id, preset).name
    data = json.loads(source.read_text())
    if edit is not None:
        edit(data)
        splits = data.get("splits")
        shaped = isinstance(splits, dict) and all(isinstance(splits.get(s), list) for s in ("train", "test"))
        if refingerprint and shaped and isinstance(data.get("fingerprints"), dict):
            data["fingerprints"] = {split: _fingerprint(env_id, preset, split, data["splits"][split])
                                    for split in ("train", "test")}
    target = folder / source.name
    target.write_text(json.dumps(data) if text is None else text)
    monkeypatch.setattr(task_sets, "_FOLDER", folder)
    return task_sets._load.__wrapped__(env_id, preset)


def _refused(tmp_path: Path, monkeypatch, case, edit=None, match: str = ".", **kwargs) -> None:
    with pytest.raises(ValueError, match=match) as error:
        _load(tmp_path, monkeypatch, *case, edit, **kwargs)
    assert task_sets.task_set_path(*case).name in str(error.value)


def test_the_stored_file_loads_from_the_copy(tmp_path: Path, monkeypatch) -> None:
    sets = _load(tmp_path, monkeypatch, *NAV)
    assert sets["test"].fingerprint == task_sets.task_set(*NAV[:1], "test", NAV[1]).fingerprint


@pytest.mark.parametrize(("edit", "match"), [
    (lambda d: d.pop("fingerprints"), "field fingerprints is missing"),
    (lambda d: d.__setitem__("fingerprints", ["a", "b"]), "field fingerprints must be an object"),
    (lambda d: d.__setitem__("splits", {"train": d["splits"]["train"]}), "field splits must be an object"),
    (lambda d: d["splits"].__setitem__("test", "tasks"), r"field splits\.test must be a list"),
    (lambda d: d.__setitem__("env_id", "MetaRL/GridNavigation-v0"), "field env_id"),
    (lambda d: d.__setitem__("preset", "sgmrl"), "field preset"),
    (lambda d: d.__setitem__("seed", 7), "field seed"),
    (lambda d: d.__setitem__("finite_family", "false"), "field finite_family"),
    (lambda d: d.__setitem__("finite_family", True), "field finite_family"),
    (lambda d: d["splits"]["test"][0].__setitem__("goal", [5.0, 5.0]), r"field splits\.test\[0\].*goal"),
    (lambda d: d["splits"]["test"].__setitem__(1, d["splits"]["train"][3]), r"splits\.test shares 1 task"),
    (lambda d: d["splits"]["train"].__setitem__(1, d["splits"]["train"][0]), r"splits\.train repeats a task"),
    (lambda d: d["splits"].__setitem__("train", d["splits"]["train"][:1]), r"splits\.train holds 1 tasks"),
    (lambda d: d["splits"].__setitem__("test", []), r"splits\.test holds 0 tasks"),
    (lambda d: d.__setitem__("extra", 1), "field extra is not a task-set field"),
])
def test_inconsistent_files_are_refused_naming_the_field(tmp_path: Path, monkeypatch, edit, match: str) -> None:
    _refused(tmp_path, monkeypatch, NAV, edit, match)


def test_a_finite_family_flag_cannot_be_flipped(tmp_path: Path, monkeypatch) -> None:
    _refused(tmp_path, monkeypatch, CARTPOLE, lambda d: d.__setitem__("finite_family", False), "field finite_family")
    sets = _load(tmp_path, monkeypatch, *CARTPOLE)
    assert sets["test"].disjoint_from_train is False and sets["train"].disjoint_from_train is True


def test_an_out_of_range_task_is_refused_even_re_fingerprinted(tmp_path: Path, monkeypatch) -> None:
    def force(data):
        data["splits"]["train"][0]["force_mag"] = 1e300

    _refused(tmp_path, monkeypatch, CARTPOLE, force, r"field splits\.train\[0\].*force_mag")


def test_an_edited_task_with_the_old_fingerprint_is_refused(tmp_path: Path, monkeypatch) -> None:
    def nudge(data):
        data["splits"]["test"][0]["goal"][0] /= 2

    _refused(tmp_path, monkeypatch, NAV, nudge, r"field fingerprints\.test", refingerprint=False)


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"env_id": NaN}', '{"seed": 1e999}',
                                  '{"seed": ' + "9" * 400 + "}", "\xff\xfe", ""])
def test_undecodable_files_are_value_errors_naming_the_file(tmp_path: Path, monkeypatch, text: str) -> None:
    _refused(tmp_path, monkeypatch, NAV, text=text)


def test_a_fifo_is_refused_without_reading(tmp_path: Path, monkeypatch) -> None:
    import os

    os.mkfifo(tmp_path / task_sets.task_set_path(*NAV).name)
    monkeypatch.setattr(task_sets, "_FOLDER", tmp_path)
    with pytest.raises(ValueError, match="not a regular file"):
        task_sets._load.__wrapped__(*NAV)
