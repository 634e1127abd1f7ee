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
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from metarl_envs.core import MetaEnv, Task

__all__ = ["REBUILD_RTOL", "TaskSet", "build_task_sets", "env_class", "task_set", "task_set_path", "tasks_match"]

SPLITS = ("train", "test")
BUILD_SEED = 20_240_601
"""seed of every stored set's draw stream (documented so anyone can rebuild and compare)"""
_FOLDER = Path(__file__).resolve().parent
REBUILD_RTOL = 1e-13
"""relative tolerance of `tasks_match` (a few hundred units in the last place of a float64; the
CPU-dependent differences seen are 1-2 units)"""


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
    try:
        data = json.loads(path.read_text())
        finite = bool(data["finite_family"])
        sets = {split: TaskSet(env_id, preset, split,
                               tuple(cls.task_type.from_dict(t) for t in data["splits"][split]),
                               disjoint_from_train=not finite or split == "train")
                for split in SPLITS}
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"task_set: {path.name} is malformed: {error}") from error
    for split, tset in sets.items():
        if data["fingerprints"][split] != tset.fingerprint:
            raise ValueError(f"task_set: {path.name} split {split!r} fingerprint mismatch: stored "
                             f"{data['fingerprints'][split]}, contents hash to {tset.fingerprint}")
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
            _atomic_write(path, json.dumps(document, indent=1, allow_nan=False) + "\n")
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


def _atomic_write(path: Path, text: str) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(tmp, path)
