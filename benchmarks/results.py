"""One results JSON file per (experiment, agent label, env, preset, seed); written atomically, loaded validated.

Layout of a file (schema version 1; every key is required, `null` only where noted):

    schema, schema_version          "metarl-bench/result", 1
    package_version, git_commit     metarl-envs version; `git rev-parse HEAD` when the process first
                                    asked (its first cell started), or "unknown"
    experiment, variant             experiment name; "full", "quick" (the --quick overrides applied) or
                                    "iters<N>" (cut to N meta-training iterations)
    agent                           {label, class ("module:Class"), config}
    env                             {id, kwargs, preset}
    task_sets                       {train, test}: sha256 fingerprints of the stored task sets used
    protocol                        the MetaTestProtocol's fields
    seed, iterations, max_test_tasks   max_test_tasks may be null (the whole test set)
    training_curve                  [{iteration, env_steps, wall_time, pre_adaptation_return,
                                      post_adaptation_return, extra}]
    meta_test                       {tasks: [{task, returns: [R_0..R_K], optimal_return, optimality_gaps,
                                      env_steps}], mean_returns, mean_optimality_gaps, env_steps}
    machine                         {platform, python, cpu_count, packages: {name: version or null}}
    started, finished, wall_time    ISO-8601 UTC timestamps; seconds
    checksum                        "sha256:" + sha256 of the canonical JSON of everything else

Non-finite numbers. JSON has no NaN, and a result with NaN in it is refused on write, naming the
field. Two places are exempt because NaN there means "not applicable", and they are stored as `null`:
`training_curve[i].post_adaptation_return` (algorithms without an inner step during meta-training
report NaN, see `baselines.agent.IterationRecord`) and `training_curve[i].extra.*`. `optimal_return`
and the gaps are `null` where the env has no oracle.

`load_result` refuses (raising `ResultError` naming the file and the field) a file that is not JSON,
has another schema version, lacks a field or has one of the wrong type, whose checksum does not match
its contents (an edited number, a truncated copy), or whose task-set fingerprints differ from the
task sets stored in this checkout of `metarl_envs`.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import os
import platform
import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.evaluate import MetaTestProtocol, MetaTestResult

__all__ = ["SCHEMA", "SCHEMA_VERSION", "ResultError", "build_result", "load_result", "result_filename",
           "utc_now", "write_result"]

SCHEMA = "metarl-bench/result"
SCHEMA_VERSION = 1
_NULLABLE_NAN = re.compile(r"^training_curve\[\d+\]\.(post_adaptation_return|extra\..+)$")
_MACHINE_PACKAGES = ("metarl-envs", "numpy", "torch", "gymnasium", "mujoco")


class ResultError(ValueError):
    """A results file that cannot be trusted; the message names the file and the field."""


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-")


def result_filename(experiment: str, label: str, env_id: str, preset: str, seed: int, variant: str) -> str:
    """`<label>__<env>__<preset>__seed<s>[__quick].json`, stored under a folder named after the experiment."""
    suffix = "" if variant == "full" else f"__{variant}"
    return f"{_slug(label)}__{_slug(env_id.split('/')[-1])}__{_slug(preset)}__seed{seed}{suffix}.json"


@functools.cache
def git_commit() -> str:
    """HEAD of the checkout this package runs from, read once per process: the code a sweep runs is
    the code it imported when it started, so a commit made during a long sweep must not be recorded
    for the cells that finish after it."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def package_version() -> str:
    import metarl_envs

    return metarl_envs.__version__


def machine_info() -> dict[str, Any]:
    packages: dict[str, str | None] = {}
    for name in _MACHINE_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "packages": packages}


def _curve(records: Sequence[Any]) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        row = record.to_dict() if hasattr(record, "to_dict") else dict(record)
        row["extra"] = {key: _nan_to_none(value) for key, value in dict(row.get("extra", {})).items()}
        row["post_adaptation_return"] = _nan_to_none(row["post_adaptation_return"])
        rows.append(row)
    return rows


def _nan_to_none(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def _meta_test(result: MetaTestResult) -> dict[str, Any]:
    tasks = [{"task": dict(t.task), "returns": [float(r) for r in t.returns],
              "optimal_return": None if t.optimal_return is None else float(t.optimal_return),
              "optimality_gaps": None if t.optimality_gaps is None else [float(g) for g in t.optimality_gaps],
              "env_steps": int(t.env_steps)} for t in result.tasks]
    gaps = [t["optimality_gaps"] for t in tasks]
    mean_gaps = None
    if gaps and all(g is not None for g in gaps):
        mean_gaps = [sum(g[k] for g in gaps) / len(gaps) for k in range(len(gaps[0]))]
    return {"tasks": tasks, "mean_returns": [float(r) for r in result.mean_returns()],
            "mean_optimality_gaps": mean_gaps, "env_steps": sum(t["env_steps"] for t in tasks)}


def build_result(*, experiment: str, variant: str, label: str, agent_class: str, config: Mapping[str, Any],
                 env_id: str, env_kwargs: Mapping[str, Any], fingerprints: Mapping[str, str], seed: int,
                 iterations: int, max_test_tasks: int | None, training_curve: Sequence[Any],
                 meta_test: MetaTestResult, started: str, finished: str, wall_time: float) -> dict[str, Any]:
    """The results document of one (agent, seed) cell, without its checksum (`write_result` adds it)."""
    if meta_test.task_set_fingerprint != fingerprints["test"]:
        raise ResultError(f"build_result: meta_test.task_set_fingerprint {meta_test.task_set_fingerprint} "
                          f"differs from the test task set's {fingerprints['test']}")
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "package_version": package_version(), "git_commit": git_commit(),
        "experiment": experiment, "variant": variant,
        "agent": {"label": label, "class": agent_class, "config": dict(config)},
        "env": {"id": env_id, "kwargs": dict(env_kwargs), "preset": str(env_kwargs["preset"])},
        "task_sets": {"train": fingerprints["train"], "test": fingerprints["test"]},
        "protocol": meta_test.protocol.to_dict(),
        "seed": seed, "iterations": iterations, "max_test_tasks": max_test_tasks,
        "training_curve": _curve(training_curve),
        "meta_test": _meta_test(meta_test),
        "machine": machine_info(),
        "started": started, "finished": finished, "wall_time": float(wall_time),
    }


def canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)


def checksum(document: Mapping[str, Any]) -> str:
    body = {key: value for key, value in document.items() if key != "checksum"}
    return "sha256:" + hashlib.sha256(canonical(body).encode()).hexdigest()


def find_non_finite(value: Any, where: str = "") -> list[str]:
    """Paths (like `meta_test.tasks[3].returns[1]`) of NaN or infinite numbers inside `value`."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [where or "<root>"]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in find_non_finite(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in find_non_finite(v, f"{where}[{i}]")]
    return []


def write_result(path: str | Path, document: Mapping[str, Any]) -> Path:
    """Write `document` plus its checksum to `path` atomically (a temp file, then `os.replace`)."""
    path = Path(path)
    bad = [p for p in find_non_finite(document) if not _NULLABLE_NAN.match(p)]
    if bad:
        raise ResultError(f"{path}: field {bad[0]} is not finite ({len(bad)} non-finite field(s) in all); "
                          "results files hold finite numbers only")
    document = {key: _nan_to_none_deep(value) for key, value in document.items() if key != "checksum"}
    document["checksum"] = checksum(document)
    text = json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _nan_to_none_deep(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {k: _nan_to_none_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none_deep(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------- loading

_NUMBER = (int, float)
_TOP: dict[str, Any] = {
    "schema": str, "schema_version": int, "package_version": str, "git_commit": str, "experiment": str,
    "variant": str, "agent": dict, "env": dict, "task_sets": dict, "protocol": dict, "seed": int,
    "iterations": int, "max_test_tasks": (int, type(None)), "training_curve": list, "meta_test": dict,
    "machine": dict, "started": str, "finished": str, "wall_time": _NUMBER, "checksum": str,
}
_NESTED: dict[str, dict[str, Any]] = {
    "agent": {"label": str, "class": str, "config": dict},
    "env": {"id": str, "kwargs": dict, "preset": str},
    "task_sets": {"train": str, "test": str},
    "meta_test": {"tasks": list, "mean_returns": list, "mean_optimality_gaps": (list, type(None)), "env_steps": int},
}
_CURVE_ROW = {"iteration": int, "env_steps": int, "wall_time": _NUMBER, "pre_adaptation_return": _NUMBER,
              "post_adaptation_return": (*_NUMBER, type(None)), "extra": dict}
_TASK_ROW = {"task": dict, "returns": list, "optimal_return": (*_NUMBER, type(None)),
             "optimality_gaps": (list, type(None)), "env_steps": int}


def _check_fields(path: Path, where: str, data: Any, fields: Mapping[str, Any]) -> None:
    if not isinstance(data, dict):
        raise ResultError(f"{path}: field {where or '<root>'} must be an object")
    for name, kind in fields.items():
        field = f"{where}.{name}" if where else name
        if name not in data:
            raise ResultError(f"{path}: missing field {field}")
        value = data[name]
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise ResultError(f"{path}: field {field} has type {type(value).__name__}, expected {_kind_name(kind)}")


def _kind_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)


def _check_numbers(path: Path, where: str, values: Any, length: int) -> None:
    if not isinstance(values, list) or len(values) != length:
        raise ResultError(f"{path}: field {where} must be a list of {length} numbers")
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, _NUMBER) or not math.isfinite(value):
            raise ResultError(f"{path}: field {where}[{i}] must be a finite number, got {value!r}")


def _check_body(path: Path, data: dict[str, Any]) -> None:
    _check_fields(path, "", data, _TOP)
    for name, fields in _NESTED.items():
        _check_fields(path, name, data[name], fields)
    try:
        protocol = MetaTestProtocol(**data["protocol"])
    except TypeError as error:
        raise ResultError(f"{path}: field protocol is not a MetaTestProtocol: {error}") from error
    steps = protocol.adaptation_steps + 1
    for i, row in enumerate(data["training_curve"]):
        _check_fields(path, f"training_curve[{i}]", row, _CURVE_ROW)
    tasks = data["meta_test"]["tasks"]
    if not tasks:
        raise ResultError(f"{path}: field meta_test.tasks is empty")
    for i, row in enumerate(tasks):
        _check_fields(path, f"meta_test.tasks[{i}]", row, _TASK_ROW)
        _check_numbers(path, f"meta_test.tasks[{i}].returns", row["returns"], steps)
        if row["optimality_gaps"] is not None:
            _check_numbers(path, f"meta_test.tasks[{i}].optimality_gaps", row["optimality_gaps"], steps)
    _check_numbers(path, "meta_test.mean_returns", data["meta_test"]["mean_returns"], steps)
    if data["meta_test"]["mean_optimality_gaps"] is not None:
        _check_numbers(path, "meta_test.mean_optimality_gaps", data["meta_test"]["mean_optimality_gaps"], steps)


def _check_fingerprints(path: Path, data: dict[str, Any]) -> None:
    import metarl_envs

    env_id, preset = data["env"]["id"], data["env"]["preset"]
    for split in ("train", "test"):
        try:
            current = metarl_envs.task_set(env_id, split, preset).fingerprint
        except Exception as error:  # unknown env id or preset, missing or corrupt stored set
            raise ResultError(f"{path}: field task_sets.{split}: cannot load the stored task set of "
                              f"{env_id} preset {preset!r}: {error}") from error
        if data["task_sets"][split] != current:
            raise ResultError(f"{path}: field task_sets.{split} = {data['task_sets'][split]} differs from the "
                              f"stored {split} task set of {env_id} preset {preset!r} ({current})")


def load_result(path: str | Path) -> dict[str, Any]:
    """Read and validate one results file (see the module docstring); returns the document."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise ResultError(f"{path}: cannot read: {error}") from error
    except json.JSONDecodeError as error:
        raise ResultError(f"{path}: not valid JSON (corrupt or truncated): {error}") from error
    if not isinstance(data, dict):
        raise ResultError(f"{path}: field <root> must be an object")
    if data.get("schema") != SCHEMA:
        raise ResultError(f"{path}: field schema = {data.get('schema')!r}, expected {SCHEMA!r}")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ResultError(f"{path}: field schema_version = {data.get('schema_version')!r}; this reader "
                          f"understands version {SCHEMA_VERSION}")
    if "checksum" not in data:
        raise ResultError(f"{path}: missing field checksum")
    expected = checksum(data)
    if data["checksum"] != expected:
        raise ResultError(f"{path}: field checksum = {data['checksum']!r} does not match the contents "
                          f"({expected}); the file was edited or corrupted")
    _check_body(path, data)
    _check_fingerprints(path, data)
    return data


def protocol_of(data: Mapping[str, Any]) -> MetaTestProtocol:
    return MetaTestProtocol(**data["protocol"])


def same_cell_settings(data: Mapping[str, Any], other: Mapping[str, Any]) -> list[str]:
    """Names of the settings in which two results of one cell (different seeds) disagree."""
    keys = [("protocol",), ("agent", "class"), ("agent", "config"), ("env", "kwargs"), ("task_sets",),
            ("iterations",), ("max_test_tasks",), ("variant",)]
    differ = []
    for key in keys:
        a, b = data, other
        for part in key:
            a, b = a[part], b[part]
        if a != b:
            differ.append(".".join(key))
    return differ
