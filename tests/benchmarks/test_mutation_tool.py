"""The mutation-testing command (`benchmarks.perf.mutation`): a stopped pass is resumed only from a scratch copy
made for the same target and test selection, and the document states what each pass covered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.perf import mutation


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(mutation, "SCRATCH", tmp_path)
    return tmp_path


def _stopped_pass(scratch: Path, target: mutation.Target, config: str | None = None) -> dict:
    work = scratch / target.name
    work.mkdir()
    (work / "pyproject.toml").write_text("[project]\n" + (config if config is not None else
                                                          mutation._mutmut_config(target)))
    state = {"commit": "abc1234", "wall_seconds": 600.0, "runs": 1}
    (work / mutation.PASS_FILE).write_text(json.dumps(state))
    return state


def test_a_stopped_pass_of_the_same_selection_is_resumable(scratch: Path) -> None:
    target = mutation.TARGETS["evaluate"]
    assert mutation.resumable(target) is None   # nothing to resume
    state = _stopped_pass(scratch, target)
    assert mutation.resumable(target) == state


def test_a_pass_with_another_test_selection_is_not_resumed(scratch: Path) -> None:
    target = mutation.TARGETS["evaluate"]
    other = mutation.Target(target.name, target.source, target.tests[:1])
    _stopped_pass(scratch, target, mutation._mutmut_config(other))
    assert mutation.resumable(target) is None


def test_a_scratch_copy_without_its_pass_file_is_not_resumed(scratch: Path) -> None:
    target = mutation.TARGETS["core"]
    _stopped_pass(scratch, target)
    (scratch / target.name / mutation.PASS_FILE).write_text("{not json")
    assert mutation.resumable(target) is None


def test_the_selection_reaches_mutmut_as_written() -> None:
    target = mutation.TARGETS["baselines"]
    config = mutation._mutmut_config(target)
    assert f"pytest_add_cli_args_test_selection = {json.dumps(list(target.tests))}" in config
    assert 'only_mutate = ["baselines/*"]' in config and json.dumps(list(target.pytest_args))[1:-1] in config


def test_the_document_states_how_each_pass_ended() -> None:
    base = {"target": "core", "source": "metarl_envs/core.py", "commit": "abc1234", "tests": ["tests/envs"],
            "pytest_args": [], "mutants": 10, "checked": 8, "killed": 6, "survived": 1, "no_tests": 1,
            "score": 0.75, "wall_seconds": 900, "completed": False, "budget_minutes": None, "max_children": 1,
            "runs": 2, "survivors": [{"mutant": "metarl_envs.core.xǁMetaEnvǁreset__mutmut_3", "status": "survived",
                                      "diff": ["-    a = 1", "+    a = 2"]}]}
    text = mutation.document([base])
    assert "| `metarl_envs/core.py` | abc1234 | `tests/envs` | 10 | 8 | 6 | 1 | 1 | 75.0 % " in text
    assert "15 min (1 worker, stopped before the end, over 2 resumed runs) |" in text
    assert "### `metarl_envs/core.py`: `MetaEnv.reset`" in text and "# mutant 3\n-    a = 1\n+    a = 2" in text
    finished = mutation.document([{**base, "completed": True, "runs": 1, "max_children": 2}])
    assert "15 min (2 workers) |" in finished


@pytest.mark.parametrize(("mutant", "location"), [
    ("baselines.pg.x_weights__mutmut_3", ("baselines/pg.py", "weights")),
    ("baselines.common.agent.x__choice_rule__mutmut_12", ("baselines/common/agent.py", "_choice_rule")),
    ("metarl_envs.core.xǁMetaVectorEnvǁ__init____mutmut_49", ("metarl_envs/core.py", "MetaVectorEnv.__init__")),
])
def test_a_mutant_name_gives_its_file_and_function(mutant: str, location: tuple[str, str]) -> None:
    assert mutation._mutant_location(mutant) == location
