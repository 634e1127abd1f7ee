"""Fixed, fingerprinted task sets: `task_set(env_id, split, preset)`.

One JSON file per (env id, preset) in this folder holds both splits. A set's fingerprint is the
sha256 of its canonical JSON (sorted keys, no spaces, floats in shortest round-trip form), over
env id, preset, split and the ordered tasks. Loading recomputes every fingerprint and refuses a
file whose stored fingerprint disagrees (hand edits, corruption).

The files are built by `python -m metarl_envs.task_sets` from one seeded stream per file:
tasks are drawn with `Env.draw_tasks` until `n_train + n_test` distinct tasks are collected; the
first `n_train` are train, the rest test, so the splits are disjoint by construction. A preset
whose family is a short fixed list (`Preset.finite_family`) has train = test = the whole family.
An env class may define a classmethod `fixed_split(preset) -> (train, test) | None`: a preset for
which it returns a pair stores exactly that source-given split (no draws).

The stored files, not the builder, are the reference. A seeded draw is reproducible only up to the
last bits of NumPy's vectorised `exp`/`power`, whose SIMD kernels round differently on different
CPUs (AVX2 vs AVX-512 machines give tasks one or two units in the last place apart). A rebuild
therefore keeps a stored file whose tasks equal the new draw within `REBUILD_RTOL` (`tasks_match`),
so fingerprints do not churn with the machine that rebuilds them.

Loading validates a file as the results loader validates a result: it must be a regular file of at
most `MAX_TASK_SET_BYTES`, strict JSON (no NaN, no overflowing numbers, nesting at most
`MAX_JSON_DEPTH` deep) with exactly the keys `env_id`, `preset`, `seed`, `finite_family`,
`fingerprints`, `splits`; the header must name the file's env id and preset, `BUILD_SEED`, and the
preset's own `finite_family`; every task goes through its family's validator and the preset's range
check (through the env's `validate_task`); the split sizes must be the preset's, the test split
nonempty, no split may repeat a task, and the splits of a family that is not finite must be
disjoint (a finite family's test split is its train split). A set's fingerprint covers env id,
preset, split and tasks; `disjoint_from_train` is fixed by those (through the preset's
`finite_family`, which the header must repeat), so no field that changes a set's meaning is outside it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import json
import math
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from metarl_envs.core import MetaEnv, Task

__all__ = ["MAX_JSON_DEPTH", "MAX_TASK_SET_BYTES", "REBUILD_RTOL", "TaskSet", "atomic_write", "build_task_sets",
           "env_class", "load_task_sets", "read_json_file", "task_set", "task_set_path", "tasks_match"]

SPLITS = ("train", "test")
BUILD_SEED = 20_240_601
"""seed of every stored set's draw stream (documented so anyone can rebuild and compare)"""
_FOLDER = Path(__file__).resolve().parent
REBUILD_RTOL = 1e-13
"""relative tolerance of `tasks_match` (a few hundred units in the last place of a float64; the
CPU-dependent differences seen are 1-2 units)"""

MAX_TASK_SET_BYTES = 16 * 2**20
"""largest task-set file read (the largest stored one is ~100 kB)"""
MAX_JSON_DEPTH = 32
"""deepest nesting of lists and objects accepted in a task-set or results file"""
_MAX_INT_DIGITS = 19
_HEADER = ("env_id", "preset", "seed", "finite_family", "fingerprints", "splits")


def read_json_file(path: str | Path, *, max_bytes: int) -> Any:
    """Parse the JSON file `path` strictly, or raise ValueError naming the file: only a regular file
    (not a FIFO, device or folder) of at most `max_bytes` is read, checked before reading; NaN,
    ±Infinity, numbers that overflow a float, integers of more than 19 digits, invalid UTF-8 and
    nesting deeper than `MAX_JSON_DEPTH` are refused."""
    path = Path(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path}: not a regular file; refused without reading it")
        if info.st_size > max_bytes:
            raise ValueError(f"{path}: {info.st_size} bytes is above the cap of {max_bytes} bytes; refused unread")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):  # swapped in since the stat
                raise ValueError(f"{path}: not a regular file; refused without reading it")
            raw = stream.read(max_bytes + 1)
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error}") from error
    if len(raw) > max_bytes:
        raise ValueError(f"{path}: above the cap of {max_bytes} bytes; refused")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite_float,
                          parse_int=_bounded_int)
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text: {error}") from error
    except RecursionError as error:
        raise ValueError(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels") from error
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON (corrupt or truncated): {error}") from error
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from error
    _check_depth(path, data)
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number; files hold finite numbers only")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} overflows a float")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits is longer than {_MAX_INT_DIGITS}")
    return int(text)


def _check_depth(path: Path, data: Any) -> None:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels")
            stack.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))


def canonical_json(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclasses.dataclass(frozen=True)
class TaskSet(Sequence[Task]):
    """An ordered, immutable set of tasks of one env id and preset, with its fingerprint."""

    env_id: str
    preset: str
    split: str
    tasks: tuple[Task, ...]
    disjoint_from_train: bool = True
    """False only for finite task families, whose test split is the whole (trained-on) family"""

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"TaskSet.split={self.split!r}: must be one of {SPLITS}")
        if not isinstance(self.disjoint_from_train, bool):
            raise TypeError(f"TaskSet.disjoint_from_train={self.disjoint_from_train!r}: must be a bool")
        object.__setattr__(self, "tasks", tuple(self.tasks))

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, index):  # type: ignore[override]
        return self.tasks[index]

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def payload(self) -> dict[str, Any]:
        return {"env_id": self.env_id, "preset": self.preset, "split": self.split,
                "tasks": [t.to_dict() for t in self.tasks]}

    @functools.cached_property
    def fingerprint(self) -> str:
        return hashlib.sha256(canonical_json(self.payload()).encode()).hexdigest()


def env_class(env_id: str) -> type[MetaEnv]:
    """The env class behind a registered id, imported from its entry point string."""
    import metarl_envs  # noqa: F401  (registers the ids)

    entry_point = gym.spec(env_id).entry_point
    if not isinstance(entry_point, str):
        raise TypeError(f"{env_id}: entry point must be a 'module:Class' string")
    module, name = entry_point.split(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, MetaEnv)):
        raise TypeError(f"{env_id}: {entry_point} is not a MetaEnv")
    return cls


def _default_preset(env_id: str) -> str:
    import metarl_envs  # noqa: F401

    return gym.spec(env_id).kwargs.get("preset")


def task_set_path(env_id: str, preset: str) -> Path:
    return _FOLDER / f"{env_id.split('/')[-1]}__{preset}.json"


def task_set(env_id: str, split: str = "train", preset: str | None = None) -> TaskSet:
    """The fixed task set of `env_id` (and `preset`, default the id's registered preset)."""
    if split not in SPLITS:
        raise ValueError(f"task_set: split={split!r} must be one of {SPLITS}")
    preset = _default_preset(env_id) if preset is None else preset
    return _load(env_id, preset)[split]


@functools.cache
def _load(env_id: str, preset: str) -> dict[str, TaskSet]:
    cls = env_class(env_id)
    if preset not in cls.presets:
        raise ValueError(f"task_set: {env_id} has no preset {preset!r}; choose from {list(cls.presets)}")
    path = task_set_path(env_id, preset)
    if not path.exists():
        raise FileNotFoundError(f"task_set: no stored task set for {env_id} preset {preset!r} ({path.name}); "
                                "build it with `python -m metarl_envs.task_sets`")
    return load_task_sets(path, env_id, preset)


def load_task_sets(path: str | Path, env_id: str, preset: str) -> dict[str, TaskSet]:
    """Both splits of the task-set file `path` of `env_id` and `preset`, validated (see the module
    docstring); raises ValueError naming the file and the field."""
    path = Path(path)
    cls = env_class(env_id)
    if preset not in cls.presets:
        raise ValueError(f"task_set: {env_id} has no preset {preset!r}; choose from {list(cls.presets)}")
    spec = cls.presets[preset]
    data = read_json_file(path, max_bytes=MAX_TASK_SET_BYTES)

    def fail(field: str, problem: str) -> ValueError:
        return ValueError(f"task_set: {path}: field {field} {problem}")

    if not isinstance(data, dict):
        raise fail("<root>", "must be an object")
    for key in _HEADER:
        if key not in data:
            raise fail(key, "is missing")
    unknown = sorted(set(data) - set(_HEADER))
    if unknown:
        raise fail(unknown[0], "is not a task-set field")
    expected = {"env_id": env_id, "preset": preset, "seed": BUILD_SEED, "finite_family": spec.finite_family}
    for key, value in expected.items():
        if type(data[key]) is not type(value) or data[key] != value:
            raise fail(key, f"= {data[key]!r} must be {value!r} (the file is {env_id} preset {preset!r})")
    if path.name != task_set_path(env_id, preset).name:
        raise fail("env_id", f"and preset name the file {task_set_path(env_id, preset).name}, not {path.name}")
    for key in ("fingerprints", "splits"):
        if not isinstance(data[key], dict) or sorted(data[key]) != sorted(SPLITS):
            raise fail(key, f"must be an object with exactly the keys {list(SPLITS)}")
    validator = _task_validator(cls, preset)
    sets = {}
    for split in SPLITS:
        rows = data["splits"][split]
        if not isinstance(rows, list):
            raise fail(f"splits.{split}", "must be a list of tasks")
        tasks = []
        for i, row in enumerate(rows):
            try:
                tasks.append(validator(row))
            except (TypeError, ValueError) as error:
                raise fail(f"splits.{split}[{i}]", f"is not a task of {env_id} preset {preset!r}: {error}") from error
        size = spec.n_train_tasks if split == "train" else spec.n_test_tasks
        if len(tasks) != size:
            raise fail(f"splits.{split}", f"holds {len(tasks)} tasks; preset {preset!r} has {size}")
        if not tasks:
            raise fail(f"splits.{split}", "is empty")
        if len(set(tasks)) != len(tasks):
            raise fail(f"splits.{split}", "repeats a task")
        sets[split] = TaskSet(env_id, preset, split, tuple(tasks),
                              disjoint_from_train=not spec.finite_family or split == "train")
    shared = set(sets["train"]) & set(sets["test"])
    if not spec.finite_family and shared:
        raise fail("splits.test", f"shares {len(shared)} task(s) with splits.train; the splits must be disjoint")
    if spec.finite_family and set(sets["train"]) != set(sets["test"]):
        raise fail("splits.test", "must be the whole finite family, as splits.train is")
    for split, tset in sets.items():
        stored = data["fingerprints"][split]
        if stored != tset.fingerprint:
            raise fail(f"fingerprints.{split}", f"= {stored!r}: fingerprint mismatch, the contents hash to "
                       f"{tset.fingerprint} (edited or corrupted)")
    return sets


def tasks_match(stored: Sequence[Task], drawn: Sequence[Task], rtol: float = REBUILD_RTOL) -> bool:
    """True when both lists hold the same tasks in the same order, floats equal within `rtol`."""
    return len(stored) == len(drawn) and all(type(a) is type(b) and _values_match(a.to_dict(), b.to_dict(), rtol)
                                             for a, b in zip(stored, drawn, strict=True))


def _values_match(a: Any, b: Any, rtol: float) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_values_match(a[k], b[k], rtol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_values_match(x, y, rtol) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=rtol, abs_tol=0.0)
    return type(a) is type(b) and a == b


def _task_validator(cls: type[MetaEnv], preset: str) -> Any:
    """`validate_task` of an env of `preset` (family validator and preset range); the family
    validator alone where the env cannot be built here (e.g. MuJoCo not installed)."""
    try:
        return cls(preset=preset).validate_task
    except ImportError:
        return cls.task_type.from_dict


def split_tasks(cls: type[MetaEnv], preset_name: str, seed: int = BUILD_SEED) -> tuple[list[Task], list[Task]]:
    """Draw the train and test lists of a preset (see the module docstring)."""
    preset = cls.presets[preset_name]
    rng = np.random.default_rng(seed)
    fixed_split = getattr(cls, "fixed_split", None)  # a source's own fixed split (PEARL's 80/20 goals)
    split = fixed_split(preset) if fixed_split is not None else None
    if split is not None:
        return list(split[0]), list(split[1])
    if preset.finite_family:
        family = list(cls.task_family(preset))
        return family, list(family)
    wanted = preset.n_train_tasks + preset.n_test_tasks
    distinct: dict[Task, None] = {}
    for _ in range(100):
        distinct.update(dict.fromkeys(cls.draw_tasks(preset, rng, wanted)))
        if len(distinct) >= wanted:
            tasks = list(distinct)[:wanted]
            return tasks[: preset.n_train_tasks], tasks[preset.n_train_tasks:]
    raise ValueError(f"{cls.__name__} preset {preset_name!r}: fewer than {wanted} distinct tasks; "
                     "mark the preset finite_family=True")


def build_task_sets(env_ids: Sequence[str] | None = None) -> list[Path]:
    """(Re)write the stored task-set files; returns the paths written."""
    import metarl_envs

    written = []
    for env_id in env_ids or metarl_envs.ENV_IDS:
        cls = env_class(env_id)
        for preset_name, preset in cls.presets.items():
            train, test = split_tasks(cls, preset_name)
            path = task_set_path(env_id, preset_name)
            if _stored_matches(env_id, preset_name, train, test):
                continue  # the stored file is this draw up to the last bits (module docstring)
            sets = {"train": TaskSet(env_id, preset_name, "train", tuple(train)),
                    "test": TaskSet(env_id, preset_name, "test", tuple(test))}
            document = {
                "env_id": env_id, "preset": preset_name, "seed": BUILD_SEED,
                "finite_family": preset.finite_family,
                "fingerprints": {s: t.fingerprint for s, t in sets.items()},
                "splits": {s: [task.to_dict() for task in t.tasks] for s, t in sets.items()},
            }
            atomic_write(path, json.dumps(document, indent=1, allow_nan=False) + "\n")
            written.append(path)
    _load.cache_clear()
    return written


def _stored_matches(env_id: str, preset: str, train: Sequence[Task], test: Sequence[Task]) -> bool:
    if not task_set_path(env_id, preset).exists():
        return False
    try:
        stored = _load(env_id, preset)
    except ValueError:  # malformed or tampered: rewrite it
        return False
    return tasks_match(stored["train"], train) and tasks_match(stored["test"], test)


def atomic_write(path: str | Path, content: str | bytes) -> Path:
    """Write `content` to `path` atomically: a temp file `.<name>.<random>.tmp` beside it, fsynced,
    then `os.replace`; an interrupted write leaves the old file (or none) and at most that temp file.
    The file gets the mode a plain `open` would give it (0o666 less the umask), not mkstemp's 0o600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), 0o666 & ~_umask())
            stream.write(content.encode() if isinstance(content, str) else content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
