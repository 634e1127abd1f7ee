"""Fuzzing the task-set loader: every mutated task-set file is loaded with a meaning that is exactly
the file's and valid for its preset, or refused with a ValueError naming the file."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metarl_envs import task_sets
from tests.envs.test_task_set_files import STORED, _fingerprint
from tests.fuzz.conftest import OUTCOMES
from tests.fuzz.strategies import FUZZ, file_text, mutated_json

CASES = [("MetaRL/Navigation2D-v0", "maml"), ("MetaRL/CartPoleParams-v0", "pmeta"),
         ("MetaRL/FrozenLakeHoles-v0", "bomrl-high"), ("MetaRL/GridNavigation-v0", "memrl")]


@pytest.fixture(scope="module")
def stored() -> dict[tuple[str, str], dict]:
    return {case: json.loads((STORED / task_sets.task_set_path(*case).name).read_text()) for case in CASES}


def _independently_valid(env_id: str, preset: str, data: dict, sets: dict) -> None:
    """What a loaded file must satisfy, checked here without the loader's code."""
    cls = task_sets.env_class(env_id)
    spec = cls.presets[preset]
    env = cls(preset=preset)
    assert (data["env_id"], data["preset"], data["seed"]) == (env_id, preset, task_sets.BUILD_SEED)
    assert data["finite_family"] is spec.finite_family
    for split, size in (("train", spec.n_train_tasks), ("test", spec.n_test_tasks)):
        tasks = [env.validate_task(t) for t in data["splits"][split]]
        assert [t.to_dict() for t in sets[split]] == [t.to_dict() for t in tasks], "loaded other tasks than stored"
        assert len(tasks) == size > 0 and len(set(tasks)) == size
        assert data["fingerprints"][split] == _fingerprint(env_id, preset, split, data["splits"][split])
    if not spec.finite_family:
        assert not set(sets["train"]) & set(sets["test"])


@FUZZ
@given(data=st.data())
def test_task_set_files_load_valid_or_are_refused(stored, data) -> None:
    case = data.draw(st.sampled_from(CASES), label="case")
    mutated = data.draw(mutated_json(stored[case]), label="mutated")
    if isinstance(mutated, dict) and isinstance(mutated.get("splits"), dict) and data.draw(st.booleans()):
        try:  # re-fingerprint: only the loader's other checks stand between the file and its use
            mutated["fingerprints"] = {s: _fingerprint(*case, s, mutated["splits"][s]) for s in ("train", "test")}
        except (KeyError, TypeError, ValueError, RecursionError):
            pass
    text = data.draw(file_text(mutated), label="text")
    with tempfile.TemporaryDirectory() as root:
        path = Path(root) / task_sets.task_set_path(*case).name
        path.write_text(text)
        try:
            sets = task_sets.load_task_sets(path, *case)
        except ValueError as error:
            assert path.name in str(error), f"the refusal does not name the file: {error}"
            OUTCOMES["task sets: refused"] += 1
            return
        _independently_valid(*case, json.loads(text), sets)
        assert [p.name for p in Path(root).iterdir()] == [path.name]
        OUTCOMES["task sets: loaded"] += 1
