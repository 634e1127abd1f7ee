"""`rescore` and `metarl-bench rescore`: a stored result takes today's J* (a cached estimate that
improved, a closed form added after its run) without re-running anything; its returns and every other
field stay the run's, a current file is left alone, `--check` writes nothing, and a refused file is
named while the others are still scored."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import metarl_envs
from baselines.common.envs import EnvProvider
from benchmarks.cli import app
from benchmarks.evaluate import MetaTestResult, TaskResult, meta_test
from benchmarks.oracles import cache_path, write_cache
from benchmarks.results import (
    EnvInfo,
    ResultError,
    ResultRecord,
    TaskSetIds,
    checksum,
    load_result,
    mean_optimality_gaps,
    rescore,
    write_result,
)
from tests.benchmarks.agents import RandomAgent, RandomConfig
from tests.benchmarks.conftest import ENV_ID, PRESET, PROTOCOL, document, oracle_cache

WIDE = {"COLUMNS": "200"}
CHEETAH, CHEETAH_KWARGS = "MetaRL/HalfCheetahVel-v0", {"preset": "maml"}


def _analytic(n_tasks: int = 5) -> list[float]:
    envs = EnvProvider(ENV_ID, {"preset": PRESET})
    return [envs.analytic_optimum(task) for task in metarl_envs.task_set(ENV_ID, "test", PRESET)[:n_tasks]]


def _with_optima(record: ResultRecord, optima: list[float | None]) -> ResultRecord:
    tasks = tuple(dataclasses.replace(t, optimal_return=v) for t, v in zip(record.meta_test.tasks, optima, strict=True))
    return dataclasses.replace(record, meta_test=dataclasses.replace(record.meta_test, tasks=tasks))


def test_a_result_without_a_gap_takes_the_analytic_optimum_and_nothing_else_changes(tmp_path: Path) -> None:
    record = document(0)                                  # Navigation2D, stored with no J* (as before the closed form)
    assert record.meta_test.optimum_kind is None
    new = rescore(record)
    assert [t.optimal_return for t in new.meta_test.tasks] == _analytic()
    assert new.meta_test.optimum_kind == "analytic" and new.meta_test.oracle_estimate is None
    assert dataclasses.replace(new, meta_test=record.meta_test) == record          # only the meta-test's J* moved
    assert [t.returns for t in new.meta_test.tasks] == [t.returns for t in record.meta_test.tasks]
    pairs = list(zip(_analytic(), record.meta_test.tasks, strict=True))
    assert mean_optimality_gaps(new.meta_test) == pytest.approx([np.mean([j - t.returns[k] for j, t in pairs])
                                                                 for k in range(3)])
    assert rescore(new) is new                                                      # current: the very same record
    path = write_result(tmp_path / new.cell.filename(0), new)
    assert load_result(path).meta_test == new.meta_test                            # (the curve holds NaN)


def test_a_wrong_optimum_is_replaced_and_a_last_bit_difference_is_not() -> None:
    analytic = _analytic()
    wrong = _with_optima(document(0), [*analytic[:4], analytic[4] + 1e-6])
    assert [t.optimal_return for t in rescore(wrong).meta_test.tasks] == analytic
    ulp = _with_optima(document(0), [float(np.nextafter(v, 0.0)) for v in analytic])  # DP's summation order
    assert rescore(ulp) is ulp


def test_a_fresh_meta_test_is_already_current() -> None:
    agent = RandomAgent(ENV_ID, RandomConfig(), {"preset": PRESET})
    result = meta_test(agent, metarl_envs.task_set(ENV_ID, "test", PRESET), PROTOCOL, seed=3, max_tasks=4)
    record = dataclasses.replace(document(3), meta_test=result, max_test_tasks=4)
    assert result.optimum_kind == "analytic"
    assert rescore(record) is record


def test_a_record_of_a_test_set_that_is_not_stored_is_refused() -> None:
    record = document(0)
    other = "0" * 64
    record = dataclasses.replace(record, task_sets=dataclasses.replace(record.task_sets, test=other),
                                 meta_test=dataclasses.replace(record.meta_test, task_set_fingerprint=other))
    with pytest.raises(ResultError, match=r"task_sets\.test"):
        rescore(record)


# ------------------------------------------------------------------ a cached estimate that improves


def _cheetah_record() -> ResultRecord:
    """A HalfCheetahVel result on 3 test tasks, meta-tested when no cache existed (no gap)."""
    train, test = (metarl_envs.task_set(CHEETAH, split, "maml") for split in ("train", "test"))
    tasks = tuple(TaskResult(t.to_dict(), (-300.0 + i, -200.0 + i, -150.0 + i), None, 600,
                             adaptation_env_steps=(0, 200, 400)) for i, t in enumerate(test[:3]))
    result = MetaTestResult(CHEETAH, "maml", test.fingerprint, PROTOCOL, 0, tasks)
    return dataclasses.replace(document(0), env=EnvInfo(CHEETAH, CHEETAH_KWARGS, "maml"), max_test_tasks=3,
                               task_sets=TaskSetIds(train.fingerprint, test.fingerprint), meta_test=result)


def test_a_result_takes_a_cached_estimate_and_then_its_improvement(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("mujoco")
    record = _cheetah_record()
    assert rescore(record) is record                                # no cache yet: nothing to take
    first = write_cache(oracle_cache({0: (-60.0, -62.0)}, CHEETAH, CHEETAH_KWARGS, steps=15_000))
    scored = rescore(record)
    assert [t.optimal_return for t in scored.meta_test.tasks] == [-61.0, None, None]
    estimate = scored.meta_test.oracle_estimate
    assert scored.meta_test.optimum_kind == "estimated" and estimate.tasks == (0,)
    assert estimate.cache == checksum(json.loads(first.read_text())) and "15000 env steps" in estimate.estimator
    assert mean_optimality_gaps(scored.meta_test) == (-61.0 + 300.0, -61.0 + 200.0, -61.0 + 150.0)
    assert rescore(scored) is scored
    write_cache(oracle_cache({0: (-60.0, -62.0)}, CHEETAH, CHEETAH_KWARGS, steps=20_000))  # same J*, new estimator
    restated = rescore(scored)
    assert [t.optimal_return for t in restated.meta_test.tasks] == [-61.0, None, None]
    assert "20000 env steps" in restated.meta_test.oracle_estimate.estimator
    # a larger budget, more tasks
    better = write_cache(oracle_cache({0: (-40.0, -42.0), 2: (-20.0, -20.0)}, CHEETAH, CHEETAH_KWARGS, steps=100_000))
    assert better == first
    rescored = rescore(scored)
    assert [t.optimal_return for t in rescored.meta_test.tasks] == [-41.0, None, -20.0]
    assert rescored.meta_test.oracle_estimate.tasks == (0, 2)
    assert "100000 env steps" in rescored.meta_test.oracle_estimate.estimator
    assert rescored.meta_test.oracle_estimate.cache == checksum(json.loads(better.read_text()))
    assert mean_optimality_gaps(rescored.meta_test) == (
        np.mean([-41.0 + 300.0, -20.0 + 298.0]), np.mean([-41.0 + 200.0, -20.0 + 198.0]),
        np.mean([-41.0 + 150.0, -20.0 + 148.0]))
    path = write_result(tmp_path / rescored.cell.filename(0), rescored)
    assert load_result(path).meta_test == rescored.meta_test
    cache_path(CHEETAH, CHEETAH_KWARGS).unlink()                    # the cache withdrawn: the gap goes with it
    assert rescore(rescored).meta_test == record.meta_test


# ------------------------------------------------------------------ the command


def test_the_command_checks_rescores_and_names_a_refused_file(tmp_path: Path) -> None:
    stale = write_result(tmp_path / "a" / document(0).cell.filename(0), document(0))
    current = write_result(tmp_path / "b" / document(1).cell.filename(1), rescore(document(1)))
    tampered = tmp_path / "c" / document(2).cell.filename(2)
    write_result(tampered, document(2))
    data = json.loads(tampered.read_text())
    data["meta_test"]["tasks"][0]["returns"][0] += 1.0
    tampered.write_text(json.dumps(data))
    before = stale.read_bytes()

    checked = CliRunner().invoke(app, ["rescore", "--check", str(stale), str(current)], env=WIDE)
    assert checked.exit_code == 1, checked.output
    assert f"stale {stale}: optimum None → analytic" in checked.output and f"current {current}" in checked.output
    assert stale.read_bytes() == before                             # --check writes nothing

    done = CliRunner().invoke(app, ["rescore", str(tampered), str(stale), str(current)], env=WIDE)
    assert done.exit_code == 1, done.output
    assert f"refused {tampered}" in done.output and "checksum" in done.output
    assert f"rescored {stale}" in done.output                       # the refusal stops nothing else
    assert load_result(stale).meta_test == rescore(document(0)).meta_test
    again = CliRunner().invoke(app, ["rescore", "--check", str(stale), str(current)], env=WIDE)
    assert again.exit_code == 0, again.output
