"""`--backend ray` on a local Ray instance (the session's `local_ray`: 2 CPUs, no dashboard): the same
result files as the process pool, and a worker killed mid-cell retried by Ray, resuming from its
checkpoint."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from benchmarks.runner import run_experiment
from tests.benchmarks.quick_results import one_torch_thread
from tests.benchmarks.test_checkpoints import KILLED, _numbers
from tests.benchmarks.test_parameters import TINY

pytest.importorskip("ray")


def test_a_ray_sweep_writes_the_process_pools_files(local_ray, tmp_path: Path) -> None:
    sweep = dataclasses.replace(TINY.only(["MAML"]), seeds=2)
    # the pool gives each worker cpu_count // workers torch threads; Ray's workers run one thread (one CPU each)
    pooled = run_experiment(sweep, tmp_path / "pool", workers=max(2, os.cpu_count() or 1), progress=None)
    events = []
    rayed = run_experiment(sweep, tmp_path / "ray", backend="ray", progress=events.append)
    assert len(rayed.ran) == len(pooled.ran) == 2
    for path in pooled.ran:
        twin = tmp_path / "ray" / path.relative_to(tmp_path / "pool")
        assert _numbers(twin) == _numbers(path)
    assert sorted(p.name for p in (tmp_path / "ray" / TINY.name).iterdir()) == \
        sorted(p.name for p in (tmp_path / "pool" / TINY.name).iterdir())
    for twin in (tmp_path / "ray" / TINY.name).glob("*.pt"):
        assert twin.read_bytes() == (tmp_path / "pool" / TINY.name / twin.name).read_bytes()
    assert sorted(e[0] for e in events if e[1] == "done") == ["MAML seed 0", "MAML seed 1"]


def test_a_worker_killed_mid_cell_is_retried_by_ray_and_resumes(local_ray, tmp_path: Path) -> None:
    experiment = dataclasses.replace(KILLED.only(["MAML"]), iterations=4)
    assert not local_ray.exists()
    summary = run_experiment(experiment, tmp_path / "ray", backend="ray", checkpoint_every=2, progress=None)
    # the worker's first checkpoint killed it (SIGKILL); Ray re-ran the task, which resumed from that checkpoint
    assert local_ray.read_text().splitlines() == ["MAML seed 0 killed after iteration 2",
                                                  "MAML seed 0 resumed after iteration 2"]
    assert len(summary.ran) == 1 and not list((tmp_path / "ray").rglob("*.ckpt"))
    with one_torch_thread():  # the uninterrupted run, in this process with the Ray worker's one thread
        expected = run_experiment(experiment, tmp_path / "serial", progress=None)
    assert _numbers(summary.ran[0]) == _numbers(expected.ran[0])
