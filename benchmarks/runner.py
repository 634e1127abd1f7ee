"""Run an experiment's (agent, seed) cells: meta-train, meta-test, write one results file per cell.

A cell is one `AgentSpec` and one seed s ∈ {0..seeds-1}. Running it builds the agent, meta-trains it
on the stored train task set with `seed=s` through harness-built vector envs (`TrainingEnvs`: the
train tasks only, every env step counted; the training curve records that count), meta-tests it on
the stored test task set with the experiment's protocol and `seed=s` (the evaluator steps every env),
and writes `<out>/<experiment>/<file>` atomically (`benchmarks.results`). An agent with
`get_parameters()` has its meta-trained parameters (as they are after meta-training; meta-test must
leave them unchanged, which is checked) stored beside the file as `<sha256 hex>.pt`, named in the
record's `parameters` field; an agent without it stores none.

Resume: before running, every cell whose results file exists and validates (`load_result`) with
the same settings (protocol, agent class and config, iterations, env kwargs) is skipped; because
files are written atomically, an interrupted sweep leaves only whole files and resumes at the
first missing cell. A file that fails validation is kept aside as `<file>.corrupt` (`.corrupt.1`,
... if that exists) and its cell is run again. A valid file with other settings is never
overwritten: the run stops and names it (use another `--out`). Temp files that a killed write left
(`.<file>.*.tmp`) are removed on start, for every cell no live process has claimed.

Claims: a cell is run only by the process that created its lock file `<file>.lock` (`O_EXCL`,
holding pid and host), so two sweeps into one `--out` never both run it: the second skips it and
reports it as busy. A lock is stale, and is taken over, when its pid is not alive on this host, or,
from another host, when it is older than `STALE_LOCK_SECONDS`.

Checkpoints (`checkpoint_every=N`, `--checkpoint-every N`): a cell whose agent is `resumable` (its
`training_state()` / `load_training_state()` hold everything an iteration changes) saves its full training
state every N meta-iterations to `<file>.ckpt`, atomically: the agent's parameters and optimiser
states, every random stream (the loop's numpy generator, the run's torch generators; the vector envs
are re-seeded from the numpy stream at every rollout and hold none), the training curve so far and
the harness's env-step count (`baselines.common.training.run_meta_training`). A cell that starts
and finds a checkpoint of its own settings resumes from it, and its result equals an uninterrupted
run's bit for bit (but the timestamps and wall times). A checkpoint that cannot be read or applied,
or was made with other settings, is set aside as `<file>.ckpt.corrupt` and the cell starts again,
saying so. The checkpoint is removed once the results file is written. Outside agents without these
methods are run without checkpoints.

Seeds: at most `MAX_SEEDS` per cell (checked before any cell is planned).

Variants: "full" (the experiment as written), "quick" (its `quick` overrides) and "iters<N>" (the
experiment cut to N meta-training iterations, for a run that fits the machine); each variant has its
own files, so a shortened run never stands in for the full one.

Backends: "local" runs cells in-process (one worker) or in a `ProcessPoolExecutor` (spawned
processes, torch limited to cpu_count // workers threads each); "ray" runs the same function as
Ray tasks (`pip install "metarl-envs[ray]"`) on the Ray instance `ray.init()` finds: the cluster
`RAY_ADDRESS` names, or a new local one (see docs/cluster.md). A Ray task whose worker dies (killed,
out of memory, a lost node) is re-run by Ray itself, up to `RAY_MAX_RETRIES` times; with checkpoints
the retry resumes the cell from its last one. Exceptions raised by a cell are not retried.
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import io
import json
import logging
import multiprocessing
import os
import queue as queue_module
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.experiments import AgentSpec, Experiment
from benchmarks.progress import ProgressEvent, ProgressSink, rich_progress
from benchmarks.results import (
    AgentInfo,
    CellId,
    EnvInfo,
    ResultError,
    ResultRecord,
    TaskSetIds,
    encode_parameters,
    git_commit,
    load_result,
    to_json,
    utc_now,
    write_parameters,
    write_result,
)
from metarl_envs.task_sets import atomic_write, read_json_file

__all__ = ["BACKENDS", "MAX_SEEDS", "STALE_LOCK_SECONDS", "Cell", "ProgressEvent", "RunSummary", "SettingsConflict",
           "claim", "plan", "release", "run_cell", "run_claimed", "run_experiment"]

BACKENDS = ("local", "ray")
MAX_SEEDS = 1000
"""most seeds one sweep runs per cell"""
STALE_LOCK_SECONDS = 24 * 3600
"""age after which a lock file written on another host is taken to be stale"""
RAY_MAX_RETRIES = 3
"""times Ray re-runs a cell whose worker process died"""
RAY_TASK_CPUS = 1
"""CPUs a Ray task reserves, and the torch threads its cell runs with"""
CHECKPOINT_FORMAT = "metarl-bench/checkpoint-1"
KILL_AFTER_CHECKPOINT = "METARL_BENCH_KILL_AFTER_CHECKPOINT"
"""test hook: when this environment variable names a file that does not exist yet, the process creates
it and kills itself (SIGKILL) right after its next checkpoint, as a crashed worker would die; a cell
that then resumes from a checkpoint appends a line saying so to that file"""
logger = logging.getLogger(__name__)


class SettingsConflict(RuntimeError):
    """A valid results file of the same cell exists but was made with other settings."""


@dataclasses.dataclass(frozen=True)
class Cell:
    experiment: Experiment
    """already resolved (quick overrides applied)"""
    variant: str
    """"full" or "quick" """
    spec: AgentSpec
    seed: int
    out: Path
    """the results folder; the cell's file is `out/<experiment>/<CellId.filename(seed)>`"""
    checkpoint_every: int | None = None
    """save the training state every N meta-iterations (None: no checkpoints)"""
    setting: str = ""
    """the preset, when the experiment runs on several settings (it then names the cell in progress)"""

    @property
    def path(self) -> Path:
        return self.out / self.experiment.name / self.id.filename(self.seed)

    @property
    def checkpoint_path(self) -> Path:
        return self.path.with_name(self.path.name + ".ckpt")

    @property
    def id(self) -> CellId:
        return CellId(self.experiment.name, self.variant, self.spec.label, self.experiment.env_id,
                      self.experiment.preset)

    @property
    def key(self) -> str:
        return f"{self.spec.label} ({self.setting}) seed {self.seed}" if self.setting else \
            f"{self.spec.label} seed {self.seed}"


@dataclasses.dataclass(frozen=True)
class RunSummary:
    cells: tuple[Cell, ...]
    ran: tuple[Path, ...]
    skipped: tuple[Path, ...]
    busy: tuple[Path, ...] = ()
    """cells another live process had claimed (or finished meanwhile), left to it"""


def plan(experiment: Experiment, out: str | Path, *, quick: bool, seeds: int | None = None,
         iterations: int | None = None, checkpoint_every: int | None = None) -> list[Cell]:
    """Every (setting, agent, seed) cell of `experiment` (each setting resolved for `quick`, or cut to
    `iterations`) with its results path."""
    if checkpoint_every is not None and (isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int)
                                         or checkpoint_every < 1):
        raise ValueError(f"plan: checkpoint_every={checkpoint_every!r} must be an int ≥ 1 or None")
    parts = [part.resolve(quick) for part in experiment.split()]
    variant = "quick" if quick else "full"
    if iterations is not None:
        if quick:
            raise ValueError("plan: quick and iterations exclude each other (--quick sets its own iterations)")
        if not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"plan: iterations={iterations!r} must be an int ≥ 1")
        parts, variant = [dataclasses.replace(part, iterations=iterations) for part in parts], f"iters{iterations}"
    n_seeds = parts[0].seeds if seeds is None else seeds
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or not 1 <= n_seeds <= MAX_SEEDS:
        raise ValueError(f"plan: seeds={n_seeds!r} must be an int in [1, {MAX_SEEDS}] (MAX_SEEDS)")
    return [Cell(part, variant, spec, seed, Path(out), checkpoint_every, part.preset if len(parts) > 1 else "")
            for part in parts for spec in part.agents for seed in range(n_seeds)]


def cell_settings(cell: Cell) -> dict[str, Any]:
    """The cell's `ResultRecord.SETTINGS` (but the task sets, which `load_result` checks) and identity, as JSON."""
    config_class = cell.spec.agent_class().config_class
    return to_json({"protocol": cell.experiment.protocol, "agent.class": cell.spec.agent,
                    "agent.config": config_class.from_dict(dict(cell.spec.config)).to_dict(),
                    "iterations": cell.experiment.iterations, "env.kwargs": dict(cell.experiment.env_kwargs),
                    "max_test_tasks": cell.experiment.max_test_tasks, "variant": cell.variant,
                    "cell": cell.id, "seed": cell.seed})


def is_complete(cell: Cell) -> bool:
    """True if the cell's results file exists, validates and matches the cell's settings."""
    if not cell.path.exists():
        return False
    try:
        record = load_result(cell.path)
    except ResultError:
        _set_aside(cell.path)
        return False
    stored = {**record.settings(), "cell": to_json(record.cell), "seed": record.seed}
    wanted = cell_settings(cell)
    differ = [key for key in wanted if wanted[key] != stored[key]]
    if differ:
        raise SettingsConflict(f"{cell.path}: a valid result of this cell exists with other {', '.join(differ)}; "
                               "delete it or choose another --out")
    return True


def _set_aside(path: Path) -> Path:
    """Rename a refused results file to `<file>.corrupt` (or `.corrupt.<n>`), keeping it for inspection."""
    target, n = path.with_name(path.name + ".corrupt"), 0
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt.{n}")
    os.rename(path, target)
    return target


def _lock_path(cell: Cell) -> Path:
    return cell.path.with_name(cell.path.name + ".lock")


def claim(cell: Cell) -> bool:
    """Create the cell's lock file (`O_EXCL`); True if this process now holds it. A stale lock (see
    the module docstring) is taken over."""
    lock = _lock_path(cell)
    lock.parent.mkdir(parents=True, exist_ok=True)
    owner = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "claimed": time.time()})
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            if not _take_over_stale(lock):
                return False
            continue
        with os.fdopen(fd, "w") as stream:
            stream.write(owner)
        return True
    return False


def release(cell: Cell) -> None:
    _lock_path(cell).unlink(missing_ok=True)


def _is_stale(lock: Path) -> bool:
    try:
        age = time.time() - lock.stat().st_mtime
    except FileNotFoundError:
        return False
    try:
        owner = read_json_file(lock, max_bytes=4096)
        pid, host = int(owner["pid"]), str(owner["host"])
    except (ValueError, TypeError, KeyError):  # unreadable: a claim killed before it wrote its owner
        return age > 60
    if host != socket.gethostname():
        return age > STALE_LOCK_SECONDS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _take_over_stale(lock: Path) -> bool:
    """Remove `lock` if it is stale; the rename makes one process win a takeover race."""
    if not _is_stale(lock):
        return False
    grabbed = lock.with_name(f"{lock.name}.stale.{os.getpid()}")
    try:
        os.rename(lock, grabbed)
    except FileNotFoundError:
        return True  # another process removed it first: try to claim
    if not _is_stale(grabbed):  # a live claim was made since the check: give it back
        try:
            os.link(grabbed, lock)
        except FileExistsError:
            pass
        grabbed.unlink(missing_ok=True)
        return False
    grabbed.unlink(missing_ok=True)
    return True


def _sweep_temp_files(cell: Cell) -> None:
    """Remove the temp files a killed write of this cell left, unless a live process holds the cell."""
    lock = _lock_path(cell)
    if lock.exists() and not _is_stale(lock):
        return
    if cell.path.parent.is_dir():
        for tmp in cell.path.parent.glob(f".{cell.path.name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def run_claimed(cell: Cell, progress: ProgressSink | None = None,
                cell_runner: Callable[[Cell, ProgressSink | None], Path] | None = None) -> Path | None:
    """Run `cell` if this process can claim it and it is still incomplete; None if it was left to another."""
    if not claim(cell):
        return None
    try:
        if is_complete(cell):  # finished by another process since the plan
            return None
        return (cell_runner or run_cell)(cell, progress)
    finally:
        release(cell)


class CellCheckpoint:
    """A cell's `<file>.ckpt` (module docstring): the loop's training state plus the harness's curve
    bookkeeping (the env steps counted after each iteration), tagged with the cell's settings."""

    def __init__(self, cell: Cell, envs: Any, counted: list[int], seen: list[Any], emit: ProgressSink) -> None:
        if cell.checkpoint_every is None:
            raise ValueError(f"{cell.key}: CellCheckpoint needs cell.checkpoint_every")
        self.cell, self.every, self.path = cell, cell.checkpoint_every, cell.checkpoint_path
        self.envs, self.counted, self.seen, self.emit = envs, counted, seen, emit
        self.restored_seconds = 0.0
        """the training time of the iterations a loaded checkpoint restored (what this process did not spend)"""

    def _settings(self) -> str:
        return json.dumps(cell_settings(self.cell), sort_keys=True)

    def save(self, state: Mapping[str, Any]) -> None:
        import torch

        payload = {"format": CHECKPOINT_FORMAT, "settings": self._settings(), "training": dict(state),
                   "harness": {"counted": list(self.counted), "env_steps": int(self.envs.env_steps)}}
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        atomic_write(self.path, buffer.getvalue())
        marker = os.environ.get(KILL_AFTER_CHECKPOINT)
        if marker and not os.path.exists(marker):
            Path(marker).write_text(f"{self.cell.key} killed after iteration {len(self.counted)}\n")
            os.kill(os.getpid(), signal.SIGKILL)

    def load(self) -> Mapping[str, Any] | None:
        """The training state of a usable checkpoint (the harness's part restored), or None."""
        import torch

        if not self.path.exists():
            return None
        try:
            payload = torch.load(io.BytesIO(self.path.read_bytes()), weights_only=True)
            if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"not a {CHECKPOINT_FORMAT} file")
            if payload["settings"] != self._settings():
                raise ValueError("made with other settings than this cell's")
            training, counted = payload["training"], [int(n) for n in payload["harness"]["counted"]]
            if len(counted) != len(training["records"]):
                raise ValueError(f"{len(counted)} counted iterations for {len(training['records'])} records")
            env_steps = int(payload["harness"]["env_steps"])
        except Exception as error:  # unreadable in any way (truncated, another format): start again
            self.discard(f"{type(error).__name__}: {error}")
            return None
        from baselines.common.agent import IterationRecord

        self.counted[:], self.envs.env_steps = counted, env_steps
        self.seen[:] = [IterationRecord(**record) for record in training["records"]]
        self.restored_seconds = float(self.seen[-1].wall_time) if self.seen else 0.0
        logger.warning("%s: resuming from its checkpoint %s after iteration %d", self.cell.key, self.path.name,
                       len(counted))
        marker = os.environ.get(KILL_AFTER_CHECKPOINT)
        if marker and os.path.exists(marker):
            with open(marker, "a") as stream:
                stream.write(f"{self.cell.key} resumed after iteration {len(counted)}\n")
        self.emit((self.cell.key, "train", len(counted), self.cell.experiment.iterations))
        return training

    def discard(self, reason: str) -> None:
        """Set an unusable checkpoint aside as `<file>.ckpt.corrupt` and say so; the cell starts again."""
        if self.path.exists():
            target = _set_aside(self.path)
            logger.warning("%s: checkpoint %s is unusable (%s); kept as %s, the cell starts again", self.cell.key,
                           self.path.name, reason, target.name)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _meta_train(cell: Cell, train_set: Any, emit: ProgressSink) -> tuple[Any, Any, list[Any], list[int],
                                                                          CellCheckpoint | None]:
    """Build the cell's agent and meta-train it on harness-built envs (resuming from its checkpoint);
    returns (agent, its log, the records the callback saw, the env steps counted after each, checkpoint)."""
    from baselines.common.sampler import TrainingEnvs
    from baselines.common.training import CheckpointError

    experiment = cell.experiment
    agent = cell.spec.build(experiment.env_id, experiment.env_kwargs)
    envs = TrainingEnvs(experiment.env_id, experiment.env_kwargs, train_set)  # train tasks only; steps counted
    seen: list[Any] = []
    counted: list[int] = []
    checkpoint = None
    if cell.checkpoint_every is not None and getattr(agent, "resumable", False):
        checkpoint = envs.checkpoint = CellCheckpoint(cell, envs, counted, seen, emit)

    def on_iteration(record: Any) -> None:
        seen.append(record)
        counted.append(envs.env_steps)
        emit((cell.key, "train", len(seen), experiment.iterations))

    emit((cell.key, "train", 0, experiment.iterations))
    try:
        log = agent.meta_train(envs, iterations=experiment.iterations, seed=cell.seed, callback=on_iteration)
    except CheckpointError as error:
        if checkpoint is None:
            raise
        checkpoint.discard(str(error))
        return _meta_train(cell, train_set, emit)
    return agent, log, seen, counted, checkpoint


def run_cell(cell: Cell, progress: ProgressSink | None = None) -> Path:
    """Meta-train and meta-test one cell and write its results file; returns the path."""
    import metarl_envs
    from benchmarks.evaluate import meta_test

    experiment, emit = cell.experiment, progress or (lambda event: None)
    git_commit()  # read now, before the cell's hours of training (cached for the record)
    train_set = metarl_envs.task_set(experiment.env_id, "train", experiment.preset)
    test_set = metarl_envs.task_set(experiment.env_id, "test", experiment.preset)
    n_scored = experiment.protocol.adaptation_steps + 1
    started, clock = utc_now(), time.perf_counter()
    agent, log, seen, counted, checkpoint = _meta_train(cell, train_set, emit)
    learned = getattr(agent, "get_parameters", None)
    parameters = None if learned is None else write_parameters(cell.path.parent, learned())
    scored = [0]

    def on_scored(_: int) -> None:  # meta_test calls progress(k) once step k is scored on every test task
        scored[0] += 1
        emit((cell.key, "test", scored[0], n_scored))

    emit((cell.key, "test", 0, n_scored))
    result = meta_test(agent, test_set, experiment.protocol, seed=cell.seed, max_tasks=experiment.max_test_tasks,
                       progress=on_scored)
    if learned is not None and encode_parameters(learned())[0] != parameters:
        raise RuntimeError(f"{cell.key}: meta_test changed the agent's parameters (get_parameters()); the stored "
                           "parameters would not reproduce the meta-test. Adapt copies, never the meta-parameters")
    records = list(log.records) if log is not None and log.records else seen
    if len(records) != len(counted):
        raise ValueError(f"{cell.key}: meta_train logged {len(records)} iterations but called its callback "
                         f"{len(counted)} times; it must call callback(record) once per iteration")
    curve = [dataclasses.replace(_iteration_record(r), env_steps=steps)  # the harness's count, not the agent's
             for r, steps in zip(records, counted, strict=True)]
    record = ResultRecord(
        experiment=experiment.name, variant=cell.variant,
        agent=AgentInfo(cell.spec.label, cell.spec.agent, dict(agent.config.to_dict())),  # defaults included
        env=EnvInfo(experiment.env_id, dict(experiment.env_kwargs), experiment.preset),
        task_sets=TaskSetIds(train_set.fingerprint, test_set.fingerprint), protocol=experiment.protocol,
        seed=cell.seed, iterations=experiment.iterations, max_test_tasks=experiment.max_test_tasks,
        training_curve=tuple(curve), meta_test=result, started=started, finished=utc_now(),
        # a resumed cell counts the training time its checkpoint restored, as its curve's wall times do
        wall_time=float(time.perf_counter() - clock) + (checkpoint.restored_seconds if checkpoint else 0.0),
        parameters=parameters)
    path = write_result(cell.path, record)
    if checkpoint is not None:
        checkpoint.remove()
    emit((cell.key, "done", 1, 1))
    return path


def _iteration_record(record: Any) -> Any:
    """An `IterationRecord`, or a mapping with its fields (what an agent that imports nothing from
    `baselines` reports), as an `IterationRecord`."""
    from baselines.common.agent import IterationRecord

    if isinstance(record, IterationRecord):
        return record
    if not isinstance(record, Mapping):
        raise TypeError(f"meta_train: a training record must be an IterationRecord or a mapping, got {record!r}")
    fields = {f.name for f in dataclasses.fields(IterationRecord)}
    unknown = sorted(set(record) - fields)
    if unknown:
        raise TypeError(f"meta_train: training record key {unknown[0]!r} is not one of {sorted(fields)}")
    return IterationRecord(**record)


def run_experiment(experiment: Experiment, out: str | Path, *, quick: bool = False, seeds: int | None = None,
                   iterations: int | None = None, workers: int = 1, backend: str = "local",
                   progress: ProgressSink | str | None = "rich",
                   cell_runner: Callable[[Cell, ProgressSink | None], Path] = run_cell,
                   checkpoint_every: int | None = None) -> RunSummary:
    """Run every incomplete cell of `experiment` (see the module docstring); returns what ran and what was
    skipped. Every agent class is imported and every cell's config built before the first cell starts.
    `progress`: "rich" (default) draws one progress bar per cell, a callable receives every
    `ProgressEvent`, None is silent."""
    if progress == "rich":
        with rich_progress() as bars:
            return run_experiment(experiment, out, quick=quick, seeds=seeds, iterations=iterations, workers=workers,
                                  backend=backend, progress=bars, cell_runner=cell_runner,
                                  checkpoint_every=checkpoint_every)
    if progress is not None and not callable(progress):
        raise ValueError(f"run_experiment: progress={progress!r} must be 'rich', a callable or None")
    if backend not in BACKENDS:
        raise ValueError(f"run_experiment: backend={backend!r} must be one of {BACKENDS}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"run_experiment: workers={workers!r} must be an int ≥ 1")
    ray = _import_ray() if backend == "ray" else None
    cells = plan(experiment, out, quick=quick, seeds=seeds, iterations=iterations, checkpoint_every=checkpoint_every)
    for cell in cells:
        _sweep_temp_files(cell)
    for spec in {(cell.setting, cell.spec.label): cell.spec for cell in cells}.values():
        spec.check()
    done = [cell for cell in cells if is_complete(cell)]
    todo = [cell for cell in cells if cell not in done]
    for cell in done:
        if progress:
            progress((cell.key, "done", 1, 1))
    if ray is not None:
        outcomes = _run_ray(ray, todo, progress)
    elif workers == 1 or len(todo) <= 1:
        outcomes = [run_claimed(cell, progress, cell_runner) for cell in todo]
    else:
        outcomes = _run_pool(todo, workers, progress)
    ran = tuple(path for path in outcomes if path is not None)
    busy = tuple(cell.path for cell, path in zip(todo, outcomes, strict=True) if path is None)
    return RunSummary(tuple(cells), ran, tuple(cell.path for cell in done), busy)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise RuntimeError('--backend ray needs Ray, which is not installed: pip install "metarl-envs[ray]" '
                           "(or use --backend local)") from error
    return ray


def _limit_threads(threads: int) -> None:
    # Runs first in each spawned worker: cells must not oversubscribe the cores. Unpickling this
    # function imports the runner, which may already have imported torch, so its thread count is set
    # directly too (the environment variables alone would come too late).
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _pool_job(cell: Cell, events: Any) -> Path | None:
    return run_claimed(cell, events.put)


def _run_pool(cells: Sequence[Cell], workers: int, progress: ProgressSink | None) -> list[Path | None]:
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        events = manager.Queue()
        stop = threading.Event()
        pump = threading.Thread(target=_pump, args=(events, progress, stop), daemon=True)
        pump.start()
        try:
            with futures.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_limit_threads,
                                             initargs=(threads,)) as pool:
                jobs = [pool.submit(_pool_job, cell, events) for cell in cells]
                paths = [job.result() for job in jobs]
        finally:
            stop.set()
            pump.join()
    return paths


def _pump(events: Any, progress: ProgressSink | None, stop: threading.Event) -> None:
    while True:
        try:
            event = events.get(timeout=0.1)
        except queue_module.Empty:
            if stop.is_set():
                return
            continue
        except (EOFError, OSError):
            return
        if progress:
            progress(event)


def _ray_job(cell: Cell) -> Path | None:
    import torch

    # Ray leaves OMP_NUM_THREADS unset in some setups, and the thread count is part of the record (and
    # of the last bits): each task runs on its CPU with one torch thread, like a pool of cpu_count workers.
    torch.set_num_threads(RAY_TASK_CPUS)
    return run_claimed(cell)


def _run_ray(ray: Any, cells: Sequence[Cell], progress: ProgressSink | None) -> list[Path | None]:
    if not ray.is_initialized():
        ray.init()  # the cluster RAY_ADDRESS names, else a new local instance
    remote = ray.remote(num_cpus=RAY_TASK_CPUS, max_retries=RAY_MAX_RETRIES, retry_exceptions=False)(_ray_job)
    jobs = [remote.remote(cell) for cell in cells]
    pending = dict(zip(jobs, cells, strict=True))
    paths = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        cell = pending.pop(ready[0])
        paths[ready[0]] = ray.get(ready[0])
        if progress:
            progress((cell.key, "done", 1, 1))
    return [paths[job] for job in jobs]
