"""One results file per cell and seed: the typed `ResultRecord`, written atomically, loaded validated.

The record is a tree of frozen dataclasses, and the JSON layout is derived from them (field names are
the keys, `X | None` may be `null`, tuples are lists, nested dataclasses are objects): there is no
schema written beside the types. The identity of a cell — (experiment, variant, agent label, env id,
preset) — is `CellId`, defined once here: the runner plans by it, files are named by it, and the
leaderboard groups by it; a cell's files are its seeds.

    ResultRecord (+ "schema", "schema_version", "checksum" in the file)
      experiment, variant           experiment name; "full", "quick" (the --quick overrides applied) or
                                    "iters<N>" (cut to N meta-training iterations)
      agent: AgentInfo              {label, class ("module:Class"), config}
      env: EnvInfo                  {id, kwargs, preset}
      task_sets: TaskSetIds         {train, test}: sha256 fingerprints of the stored task sets used
      protocol: MetaTestProtocol    the meta-test protocol (`benchmarks.evaluate`), a nested object
      seed, iterations, max_test_tasks     max_test_tasks may be null (the whole test set)
      training_curve: [IterationRecord]    (`baselines.common.agent`)
      meta_test: MetaTestResult     stored as {tasks: [TaskResult + its optimality_gaps], track ("main",
                                    or "privileged": the agent read the env's exact model), mean_returns,
                                    mean_optimality_gaps, optimum_kind ("exact", "analytic", "estimated" or
                                    null: how J* behind the gaps was obtained), env_steps, and, only where
                                    some J* is a cached estimate, oracle_estimate {estimator, tasks, cache}};
                                    each task's R_k comes with the
                                    adaptation env steps spent before it; its env id, preset, fingerprint,
                                    protocol and seed are the record's own (stored once, at the top)
      started, finished, wall_time  ISO-8601 UTC timestamps; seconds
      parameters                    "sha256:<hex>": the meta-trained parameters, stored beside the file
                                    as `<hex>.pt` (`write_parameters`); null for an agent without
                                    `get_parameters`
      machine: Machine              {platform, python, cpu_count, torch_threads, packages: {name: version
                                    or null}}; platform is `platform.platform()` and, in files written
                                    since the CPU was found to matter, "; " and `cpu_identity()`
      package_version, git_commit   metarl-envs version; `git rev-parse HEAD` when the process first
                                    asked (its first cell started), or "unknown"
    checksum                        "sha256:" + sha256 of the canonical JSON of everything else

Every field is required in a file, even where the dataclass has a default: a field added to a
nested type (the protocol, say) makes older files fail by name rather than load with a guessed value.
The derived values stored for readers (`optimality_gaps`, `mean_returns`, `mean_optimality_gaps`,
`env_steps` of `meta_test`) are recomputed on load and must agree with what is stored.

Non-finite numbers. JSON has no NaN, and a record with NaN in it is refused on write, naming the
field. Two places are exempt because NaN there means "not applicable", and they are stored as `null`:
`training_curve[i].post_adaptation_return` (algorithms without an inner step during meta-training
report NaN) and `training_curve[i].extra.*`. `optimal_return` and the gaps are `null` where the env
has no oracle. `meta_test.oracle_estimate` is the one optional key: written only where some J* is a
cached estimate (`benchmarks.oracles`), so the records of every other result are unchanged, and a
file without it reads as "no estimate". With it, `mean_optimality_gaps` is the mean over the tasks
that have a J* (the estimate's stated sample), and each task it names must have an `optimal_return`.

`load_result` refuses (raising `ResultError` naming the file and the field, and nothing else) a file
that is not a regular file (a FIFO, a device, a folder), is larger than `MAX_RESULT_BYTES` (checked
before reading), is not strict JSON (NaN, a number that overflows a float, an integer of more than
19 digits, nesting deeper than `MAX_JSON_DEPTH`), has another schema version, lacks a field, has one
of the wrong type or an unknown one, whose checksum does not match its contents (an edited number, a
truncated copy), or whose task-set fingerprints differ from the task sets stored in this checkout of
`metarl_envs`. It also refuses a file that contradicts itself, even with a valid checksum:

- a name that becomes part of a path or a page (experiment, variant, agent label, env id, preset)
  outside the safe patterns `SAFE_NAME` / `SAFE_LABEL` / `SAFE_ENV_ID` / `SAFE_VARIANT`;
- stored means, gaps or step counts that differ from the per-task values;
- a seed other than the one in the file name (`...__seed<s>...`);
- `env.kwargs["preset"]` other than `env.preset`, or meta-test tasks that are not the first tasks of
  the stored test set the fingerprints name;
- an experiment name of this checkout's registry whose experiment is on another env or preset;
- a number of magnitude above `MAX_MAGNITUDE` (the mean or the CI across seeds could overflow).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import io
import json
import math
import os
import platform
import re
import subprocess
import types
import typing
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Literal

from baselines.common.agent import IterationRecord
from benchmarks.evaluate import EstimatedOptimum, MetaTestProtocol, MetaTestResult, TaskResult
from metarl_envs.task_sets import MAX_JSON_DEPTH, atomic_write, read_json_file

__all__ = ["MAX_JSON_DEPTH", "MAX_MAGNITUDE", "MAX_RESULT_BYTES", "SCHEMA", "SCHEMA_VERSION", "AgentInfo", "CellId",
           "EnvInfo", "Machine", "ResultError", "ResultRecord", "TaskSetIds", "checksum", "cpu_identity",
           "encode_parameters", "load_parameters", "load_result", "mean_optimality_gaps", "parameters_path", "rescore",
           "utc_now", "write_parameters", "write_result"]

SCHEMA = "metarl-bench/result"
SCHEMA_VERSION = 3
_NULLABLE_NAN = re.compile(r"^training_curve\[\d+\]\.(post_adaptation_return|extra\..+)$")
_MACHINE_PACKAGES = ("metarl-envs", "numpy", "torch", "gymnasium", "mujoco")
MAX_RESULT_BYTES = 32 * 2**20
"""largest results file read (a 500-iteration curve with 40 test tasks is well under 1 MB)"""
MAX_MAGNITUDE = 1e15
"""largest magnitude of a stored return, gap or time: sums over any sweep stay far from overflow"""
SAFE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}"
"""experiment names and presets (they become file and folder names)"""
SAFE_LABEL = r"[A-Za-z0-9][A-Za-z0-9 _.+()-]{0,63}"
"""agent labels, e.g. "BO-MRL (1)" (rendered in tables; slugged in file names)"""
SAFE_ENV_ID = rf"(?:{SAFE_NAME}/)?{SAFE_NAME}"
SAFE_VARIANT = r"full|quick|iters[1-9][0-9]{0,8}"
PARAMETERS_DIGEST = r"sha256:[0-9a-f]{64}"
"""the `parameters` field: the sha256 of the parameters file, which is named by its hex digits"""
MAX_PARAMETERS_BYTES = 2**30
"""largest parameters file read"""


class ResultError(ValueError):
    """A results file that cannot be trusted; the message names the file and the field."""


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", text).strip("-")


# ---------------------------------------------------------------------------------------------- the record


@dataclasses.dataclass(frozen=True)
class CellId:
    """Which cell a result belongs to. A cell's results files are its seeds."""

    experiment: str
    variant: str
    """"full", "quick" or "iters<N>" """
    label: str
    """the agent's label"""
    env_id: str
    preset: str

    def __post_init__(self) -> None:
        patterns = {"experiment": SAFE_NAME, "variant": SAFE_VARIANT, "label": SAFE_LABEL, "env_id": SAFE_ENV_ID,
                    "preset": SAFE_NAME}
        for name, pattern in patterns.items():
            value = getattr(self, name)
            if not isinstance(value, str) or not re.fullmatch(pattern, value):
                field = {"label": "agent.label", "env_id": "env.id", "preset": "env.preset"}.get(name, name)
                raise ValueError(f"field {field} = {_short(value)} is not a safe name (it must match {pattern})")

    def filename(self, seed: int) -> str:
        """`<label>__<env>__<preset>__seed<s>[__<variant>].json`, stored under a folder named after the experiment."""
        suffix = "" if self.variant == "full" else f"__{self.variant}"
        env = _slug(self.env_id.split("/")[-1])
        return f"{_slug(self.label)}__{env}__{_slug(self.preset)}__seed{seed}{suffix}.json"

    @property
    def table(self) -> tuple[str, str, str, str]:
        """(experiment, variant, env id, preset): the leaderboard table this cell is one agent of."""
        return (self.experiment, self.variant, self.env_id, self.preset)


@dataclasses.dataclass(frozen=True)
class AgentInfo:
    label: str
    agent_class: str = dataclasses.field(metadata={"key": "class"})
    """"module:Class" """
    config: Mapping[str, Any]
    """the agent's full config, defaults included"""


@dataclasses.dataclass(frozen=True)
class EnvInfo:
    id: str
    kwargs: Mapping[str, Any]
    preset: str


@dataclasses.dataclass(frozen=True)
class TaskSetIds:
    train: str
    test: str


@dataclasses.dataclass(frozen=True)
class Machine:
    platform: str
    python: str
    cpu_count: int | None
    torch_threads: int | None
    """torch's intra-op threads when the record was made (reductions change their last bits with it)"""
    packages: Mapping[str, str | None]

    @classmethod
    def current(cls) -> Machine:
        packages = package_versions(_MACHINE_PACKAGES)
        try:
            import torch
        except ImportError:
            threads = None
        else:
            threads = torch.get_num_threads()
        return cls(f"{platform.platform()}; {cpu_identity()}", platform.python_version(), os.cpu_count(), threads,
                   packages)


@functools.cache
def cpu_identity() -> str:
    """The CPU as far as float results depend on it: vendor, family and model (Linux's /proc/cpuinfo;
    elsewhere `platform.processor()`), and torch's CPU capability (the kernels it dispatches to).
    Two hosts of one machine kind whose platform strings differed only in the kernel build gave exact
    tabular returns one ulp apart; numpy's and OpenBLAS's kernels follow the microarchitecture."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            if key in ("vendor_id", "cpu family", "model") and key not in fields:
                fields[key] = value
    except OSError:
        pass
    cpu = (f"{fields['vendor_id']} family {fields['cpu family']} model {fields['model']}" if len(fields) == 3
           else platform.processor() or platform.machine())
    try:
        import torch
    except ImportError:
        return cpu
    return f"{cpu}, torch {torch.backends.cpu.get_cpu_capability()}"


def package_versions(names: Sequence[str]) -> dict[str, str | None]:
    """The installed version of each distribution in `names` (None where it is not installed)."""
    packages: dict[str, str | None] = {}
    for name in names:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return packages


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


def mean_optimality_gaps(result: MetaTestResult) -> tuple[float, ...] | None:
    """Mean over tasks of J* − R_k for k = 0..K. Without an estimate (`oracle_estimate` None): None
    unless every task has an exact or analytic J*. With one, the estimate covers a stated sample of the
    test tasks, so the mean is over the tasks that have a J* (the sample, and any with an exact or
    analytic J*), and `oracle_estimate.tasks` says which."""
    gaps = [t.optimality_gaps for t in result.tasks]
    if result.oracle_estimate is not None:
        gaps = [g for g in gaps if g is not None]
    if not gaps or any(g is None for g in gaps):
        return None
    return tuple(sum(g[k] for g in gaps) / len(gaps) for k in range(len(gaps[0])))


@dataclasses.dataclass(frozen=True)
class ResultRecord:
    """One (cell, seed) result: what ran, on what, and what it scored."""

    experiment: str
    variant: str
    agent: AgentInfo
    env: EnvInfo
    task_sets: TaskSetIds
    protocol: MetaTestProtocol
    seed: int
    iterations: int
    max_test_tasks: int | None
    training_curve: tuple[IterationRecord, ...]
    meta_test: MetaTestResult
    started: str
    finished: str
    wall_time: float
    parameters: str | None = None
    """"sha256:<hex>" of the meta-trained parameters file `<hex>.pt` beside the results file, or None"""
    machine: Machine = dataclasses.field(default_factory=Machine.current)
    package_version: str = dataclasses.field(default_factory=package_version)
    git_commit: str = dataclasses.field(default_factory=git_commit)

    SETTINGS: ClassVar[tuple[str, ...]] = ("protocol", "agent.class", "agent.config", "env.kwargs", "task_sets",
                                           "iterations", "max_test_tasks", "variant")
    """the settings two seeds of one cell must share"""

    def __post_init__(self) -> None:
        object.__setattr__(self, "training_curve", tuple(self.training_curve))
        _ = self.cell  # CellId validates the names
        for name, low in (("seed", 0), ("iterations", 1), ("max_test_tasks", 1)):  # the protocol checks itself
            value = getattr(self, name)
            if value is not None and value < low:
                raise ValueError(f"field {name} = {value} must be ≥ {low}")
        if self.parameters is not None and (not isinstance(self.parameters, str)
                                            or not re.fullmatch(PARAMETERS_DIGEST, self.parameters)):
            raise ValueError(f"field parameters = {_short(self.parameters)} must be null or match {PARAMETERS_DIGEST}")
        if len(self.training_curve) > self.iterations:
            raise ValueError(f"field training_curve has {len(self.training_curve)} rows, more than the "
                             f"{self.iterations} iterations")
        if self.env.kwargs.get("preset", self.env.preset) != self.env.preset:
            raise ValueError(f"field env.kwargs.preset = {_short(self.env.kwargs['preset'])} differs from "
                             f"env.preset = {self.env.preset!r}")
        result = self.meta_test
        own = {"env_id": self.env.id, "preset": self.env.preset, "task_set_fingerprint": self.task_sets.test,
               "protocol": self.protocol, "seed": self.seed}
        for name, value in own.items():
            if getattr(result, name) != value:
                raise ValueError(f"ResultRecord: field meta_test.{name} = {getattr(result, name)!r} differs from "
                                 f"the record's {value!r}")

    @property
    def cell(self) -> CellId:
        return CellId(self.experiment, self.variant, self.agent.label, self.env.id, self.env.preset)

    def settings(self) -> dict[str, Any]:
        """`SETTINGS` by name, as JSON values (what a file stores)."""
        document = self.to_document()
        return {name: _at(document, name) for name in self.SETTINGS}

    def to_document(self) -> dict[str, Any]:
        """The JSON document of this record, without its checksum (NaN kept; `write_result` stores it)."""
        document = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            document[field.name] = _meta_test_json(value) if field.name == "meta_test" else to_json(value)
        return document

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> ResultRecord:
        """Parse a document (envelope keys already checked); raises ValueError/TypeError naming the field."""
        body = {key: value for key, value in data.items() if key not in ("schema", "schema_version", "checksum")}
        meta_test = _require(body, "", "meta_test")
        parsed = from_json(cls, {**body, "meta_test": {}}, "", skip=("meta_test",))
        tasks = from_json(tuple[TaskResult, ...], _require(meta_test, "meta_test", "tasks"), "meta_test.tasks")
        track = from_json(Literal["main", "privileged"], _require(meta_test, "meta_test", "track"), "meta_test.track")
        estimate = from_json(EstimatedOptimum | None, meta_test.get("oracle_estimate") if isinstance(meta_test, dict)
                             else None, "meta_test.oracle_estimate")  # absent: no estimate (and older files)
        parsed["meta_test"] = MetaTestResult(parsed["env"].id, parsed["env"].preset, parsed["task_sets"].test,
                                             parsed["protocol"], parsed["seed"], tasks, track, estimate)
        record = cls(**parsed)
        record._check_derived(data["meta_test"])
        return record

    def _check_derived(self, stored: Mapping[str, Any]) -> None:
        steps = self.protocol.adaptation_steps + 1
        if not self.meta_test.tasks:
            raise ValueError("field meta_test.tasks is empty")
        for i, task in enumerate(self.meta_test.tasks):
            _check_length(f"meta_test.tasks[{i}].returns", task.returns, steps)
            _check_length(f"meta_test.tasks[{i}].adaptation_env_steps", task.adaptation_env_steps, steps)
        expected = _meta_test_json(self.meta_test)
        unknown = sorted(set(stored) - set(expected))
        if unknown:
            raise ValueError(f"field meta_test is not a meta-test block: unknown key {unknown[0]!r}")
        for i in range(len(self.meta_test.tasks)):
            where = f"meta_test.tasks[{i}]"
            _check_close(f"{where}.optimality_gaps", _require(stored["tasks"][i], where, "optimality_gaps"),
                         expected["tasks"][i]["optimality_gaps"])
        estimate = self.meta_test.oracle_estimate
        for i in () if estimate is None else estimate.tasks:
            if i >= len(self.meta_test.tasks) or self.meta_test.tasks[i].optimal_return is None:
                raise ValueError(f"field meta_test.oracle_estimate.tasks names task {i}, which has no optimal_return")
        for name in ("mean_returns", "mean_optimality_gaps", "env_steps"):
            _check_close(f"meta_test.{name}", _require(stored, "meta_test", name), expected[name])
        kind = stored.get("optimum_kind", expected["optimum_kind"])  # files from before kinds were recorded lack it
        if kind != expected["optimum_kind"]:
            raise ValueError(f"field meta_test.optimum_kind = {_short(kind)}, expected {expected['optimum_kind']!r}")


def _at(document: Mapping[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        document = document[part]
    return document


def _meta_test_json(result: MetaTestResult) -> dict[str, Any]:
    gaps = mean_optimality_gaps(result)
    block = {"tasks": to_json(result.tasks), "track": result.track, "mean_returns": to_json(result.mean_returns()),
             "mean_optimality_gaps": None if gaps is None else to_json(gaps), "optimum_kind": result.optimum_kind,
             "env_steps": sum(t.env_steps for t in result.tasks)}
    if result.oracle_estimate is not None:  # written only where there is one: other records keep their bytes
        block["oracle_estimate"] = to_json(result.oracle_estimate)
    return block


def _check_length(where: str, values: Sequence[float], length: int) -> None:
    if len(values) != length:
        raise ValueError(f"field {where} must be a list of {length} numbers, got {len(values)}")


def _check_close(where: str, stored: Any, expected: Any) -> None:
    """`stored` (as read) must equal `expected` (recomputed), numbers to 1e-9 relative."""
    if expected is None or stored is None:
        if stored is not expected:
            raise ValueError(f"field {where} = {_short(stored)} contradicts the per-task values ({_short(expected)})")
        return
    if isinstance(expected, list):
        if not isinstance(stored, list) or len(stored) != len(expected):
            raise ValueError(f"field {where} must be a list of {len(expected)} numbers")
        for i, (a, b) in enumerate(zip(stored, expected, strict=True)):
            _check_close(f"{where}[{i}]", a, b)
        return
    if isinstance(stored, bool) or not isinstance(stored, (int, float)) or not math.isclose(
            stored, expected, rel_tol=1e-9, abs_tol=1e-9):
        raise ValueError(f"field {where} = {_short(stored)} contradicts the per-task values ({_short(expected)})")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------------------------- JSON <-> types


_DERIVED: dict[type, tuple[str, ...]] = {TaskResult: ("optimality_gaps",)}
"""properties stored beside a dataclass's fields for readers; recomputed (and compared) on load"""
_NAN_AS_NULL: dict[type, tuple[str, ...]] = {IterationRecord: ("post_adaptation_return", "extra")}
"""float fields where NaN means "not applicable" and is stored as null"""


def _key(field: dataclasses.Field) -> str:
    return field.metadata.get("key", field.name)


def to_json(value: Any) -> Any:
    """A dataclass tree as JSON values: objects by field (plus `_DERIVED` properties), tuples as lists, NaN as null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {_key(f): to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
        out.update({name: to_json(getattr(value, name)) for name in _DERIVED.get(type(value), ())})
        return out
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _require(data: Any, where: str, name: str) -> Any:
    if not isinstance(data, dict):
        raise TypeError(f"field {where or '<root>'} must be an object")
    if name not in data:
        raise ValueError(f"missing field {f'{where}.{name}' if where else name}")
    return data[name]


def from_json(kind: Any, data: Any, where: str, *, skip: tuple[str, ...] = ()) -> Any:
    """`data` parsed as `kind` (a dataclass, `X | None`, `tuple[X, ...]`, `Mapping[str, X]`, `Literal`, a
    scalar). A dataclass comes back as the instance, or as its keyword dict when `skip` names fields
    the caller fills. Raises TypeError/ValueError naming the field (`where`)."""
    name = where or "<root>"
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        fields = dataclasses.fields(kind)
        keys = {_key(f) for f in fields} | set(_DERIVED.get(kind, ()))
        if not isinstance(data, dict):
            raise TypeError(f"field {name} must be an object, got {_json_type(data)}")
        unknown = sorted(set(data) - keys)
        if unknown:
            raise ValueError(f"field {name} is not a {kind.__name__}: unknown key {unknown[0]!r}")
        hints, nullable = _hints(kind), _NAN_AS_NULL.get(kind, ())
        values = {}
        for field in fields:
            if field.name in skip:
                continue
            value = _require(data, where, _key(field))
            inner = f"{where}.{_key(field)}" if where else _key(field)
            values[field.name] = _nan_from_null(hints[field.name], value, inner) if field.name in nullable \
                else from_json(hints[field.name], value, inner)
        return values if skip else kind(**values)
    if origin in (typing.Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"unsupported field type {kind} at {name}")
        return from_json(kinds[0], data, where)
    if origin is typing.Literal:
        if isinstance(data, bool) or data not in args:
            raise ValueError(f"field {name} = {_short(data)} must be one of {list(args)}")
        return data
    if origin in (tuple, list, Sequence):
        if not isinstance(data, list):
            raise TypeError(f"field {name} has type {_json_type(data)}, expected list")
        return tuple(from_json(args[0], v, f"{where}[{i}]") for i, v in enumerate(data))
    if origin in (dict, Mapping) or kind in (dict, Mapping):
        if not isinstance(data, dict):
            raise TypeError(f"field {name} has type {_json_type(data)}, expected object")
        value_kind = args[1] if args else Any
        return {k: from_json(value_kind, v, f"{where}.{k}") for k, v in data.items()}
    if kind is Any:
        return data
    if kind is float:
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            raise TypeError(f"field {name} has type {_json_type(data)}, expected number")
        if not abs(data) <= MAX_MAGNITUDE:  # NaN too
            raise ValueError(f"field {name} = {_short(data)} is not a finite number of magnitude ≤ {MAX_MAGNITUDE:g}")
        return float(data)
    if kind in (int, str, bool):
        if isinstance(data, bool) is not (kind is bool) or not isinstance(data, kind):
            raise TypeError(f"field {name} has type {_json_type(data)}, expected {kind.__name__}")
        if kind is int and not abs(data) <= 2**53:
            raise ValueError(f"field {name} = {_short(data)} is above 2^53")
        return data
    raise TypeError(f"unsupported field type {kind} at {name}")


def _nan_from_null(kind: Any, data: Any, where: str) -> Any:
    """A field of `_NAN_AS_NULL`: null reads back as NaN (inside a mapping too)."""
    if data is None and kind is float:
        return math.nan
    if typing.get_origin(kind) in (dict, Mapping) and isinstance(data, dict):
        return {k: math.nan if v is None else from_json(float, v, f"{where}.{k}") for k, v in data.items()}
    return from_json(kind, data, where)


def _json_type(data: Any) -> str:
    return {dict: "object", list: "list", str: "str", bool: "bool", int: "int", float: "float",
            type(None): "null"}.get(type(data), type(data).__name__)


# ---------------------------------------------------------------------------------------------- writing


def canonical(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False)


def checksum(document: Mapping[str, Any]) -> str:
    body = {key: value for key, value in document.items() if key != "checksum"}
    return "sha256:" + hashlib.sha256(canonical(body).encode()).hexdigest()


def find_non_finite(value: Any, where: str = "") -> list[str]:
    """Paths (like `meta_test.tasks[3].returns[1]`) of NaN or infinite numbers inside `value`."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [where or "<root>"]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {_key(f): getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in find_non_finite(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, (list, tuple)):
        return [p for i, v in enumerate(value) for p in find_non_finite(v, f"{where}[{i}]")]
    return []


def write_result(path: str | Path, record: ResultRecord) -> Path:
    """Write `record` plus its checksum to `path` atomically (`metarl_envs.task_sets.atomic_write`)."""
    path = Path(path)
    body = {f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.name != "meta_test"}
    body["meta_test"] = {"tasks": record.meta_test.tasks}
    bad = [p for p in find_non_finite(body) if not _NULLABLE_NAN.match(p)]
    if bad:
        raise ResultError(f"{path}: field {bad[0]} is not finite ({len(bad)} non-finite field(s) in all); "
                          "results files hold finite numbers only")
    document = record.to_document()
    document["checksum"] = checksum(document)
    return atomic_write(path, json.dumps(document, indent=1, sort_keys=True, allow_nan=False) + "\n")


def rescore(record: ResultRecord) -> ResultRecord:
    """`record` with its J* re-read from today's oracles (`benchmarks.evaluate.task_optima`): each task's
    `optimal_return` and the `oracle_estimate` behind them, and so its gaps and `optimum_kind`. Nothing
    else changes: the returns, step counts, training curve, times and machine are the run's, and
    `metarl-bench verify` still re-checks them. A result records the J* of the oracles at its meta-test;
    when a cached estimate improves (a larger budget, more test tasks), rescoring is how the committed
    results take the new one without re-running anything. Returns `record` itself when nothing changes
    (each J* equal to 1e-12 relative, `_same_optimum`, and the same estimate)."""
    import metarl_envs
    from baselines.common.envs import EnvProvider
    from benchmarks.evaluate import task_optima

    result = record.meta_test
    _check_fingerprints("rescore", record)
    test_set = metarl_envs.task_set(record.env.id, "test", record.env.preset)
    tasks = list(test_set)[: len(result.tasks)]
    optimal, estimate = task_optima(EnvProvider(record.env.id, record.env.kwargs), tasks, test_set.fingerprint,
                                    record.protocol.discount)
    if estimate == result.oracle_estimate and all(_same_optimum(t.optimal_return, value)
                                                  for t, value in zip(result.tasks, optimal, strict=True)):
        return record
    scored = tuple(dataclasses.replace(t, optimal_return=value) for t, value in zip(result.tasks, optimal, strict=True))
    return dataclasses.replace(record, meta_test=dataclasses.replace(result, tasks=scored, oracle_estimate=estimate))


def _same_optimum(stored: float | None, today: float | None) -> bool:
    """Equal, or both numbers within 1e-12 relative: dynamic programming's last bit moves with the
    order of its sums (numpy's kernels), and a 1-ulp J* is not worth re-sealing a file."""
    if stored is None or today is None:
        return stored is today
    return math.isclose(stored, today, rel_tol=1e-12, abs_tol=1e-12)


def encode_parameters(state: Mapping[str, Any]) -> tuple[str, bytes]:
    """("sha256:<hex>", the bytes of `torch.save(dict(state))`) for an agent's `get_parameters()`.
    Saved to a buffer, not a named file: torch names the archive inside after the file, so the bytes
    (and the digest) depend on the state alone."""
    import torch

    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    data = buffer.getvalue()
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def parameters_path(result_path: str | Path, digest: str) -> Path:
    """The parameters file a results file's `parameters` digest names: `<hex>.pt` in the same folder."""
    if not isinstance(digest, str) or not re.fullmatch(PARAMETERS_DIGEST, digest):
        raise ValueError(f"field parameters = {_short(digest)} must match {PARAMETERS_DIGEST}")
    return Path(result_path).parent / f"{digest.removeprefix('sha256:')}.pt"


def write_parameters(folder: str | Path, state: Mapping[str, Any]) -> str:
    """Store an agent's `get_parameters()` in `folder` as `<sha256 hex>.pt`, atomically; returns the
    digest. The same state always gets the same name, so writing it twice changes nothing."""
    digest, data = encode_parameters(state)
    atomic_write(Path(folder) / f"{digest.removeprefix('sha256:')}.pt", data)
    return digest


def load_parameters(result_path: str | Path, record: ResultRecord) -> dict[str, Any]:
    """The meta-trained parameters stored beside a results file, read `weights_only` after checking
    that the file's sha256 is the one its name and the record give. Raises `ResultError` naming the file."""
    import torch

    if record.parameters is None:
        raise ResultError(f"{result_path}: field parameters is null: the agent stored no parameters")
    path = parameters_path(result_path, record.parameters)
    try:
        if not path.is_file():
            raise ResultError(f"{result_path}: the parameters file {path.name} is missing")
        if path.stat().st_size > MAX_PARAMETERS_BYTES:
            raise ResultError(f"{path}: parameters file larger than {MAX_PARAMETERS_BYTES} bytes")
        data = path.read_bytes()
    except OSError as error:
        raise ResultError(f"{path}: cannot read the parameters file: {error}") from error
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != record.parameters:
        raise ResultError(f"{path}: the parameters file's sha256 is {actual}, not {record.parameters} "
                          "(its name and the record's parameters field); it was edited or corrupted")
    try:
        state = torch.load(io.BytesIO(data), weights_only=True)
    except Exception as error:  # any unpickling failure of a file with the right hash but bad content
        raise ResultError(f"{path}: not a parameters file torch.load(weights_only=True) reads: {error}") from error
    if not isinstance(state, dict):
        raise ResultError(f"{path}: the parameters file holds a {type(state).__name__}, not a dict")
    return state


# ---------------------------------------------------------------------------------------------- loading


def _check_fingerprints(path: Path | str, record: ResultRecord) -> None:
    import metarl_envs

    env_id, preset = record.env.id, record.env.preset
    for split in ("train", "test"):
        try:
            current = metarl_envs.task_set(env_id, split, preset).fingerprint
        except Exception as error:  # unknown env id or preset, missing or corrupt stored set
            raise ResultError(f"{path}: field task_sets.{split}: cannot load the stored task set of "
                              f"{env_id} preset {preset!r}: {error}") from error
        stored = getattr(record.task_sets, split)
        if stored != current:
            raise ResultError(f"{path}: field task_sets.{split} = {stored} differs from the "
                              f"stored {split} task set of {env_id} preset {preset!r} ({current})")


def _check_against_sources(path: Path, record: ResultRecord) -> None:
    """The parts of a record that must agree with its file name, the stored task sets and the registry."""
    import metarl_envs
    from benchmarks.experiments import EXPERIMENTS

    named = re.search(r"__seed(\d+)(?:__|\.json$)", path.name)
    if named is not None and int(named.group(1)) != record.seed:
        raise ResultError(f"{path}: field seed = {record.seed} differs from the seed {named.group(1)} in the file name")
    _check_fingerprints(path, record)
    test = metarl_envs.task_set(record.env.id, "test", record.env.preset)
    scored = len(test) if record.max_test_tasks is None else min(record.max_test_tasks, len(test))
    if len(record.meta_test.tasks) != scored:
        raise ResultError(f"{path}: field meta_test.tasks holds {len(record.meta_test.tasks)} tasks; max_test_tasks = "
                          f"{record.max_test_tasks} of the {len(test)}-task test set makes {scored}")
    for i, (task, expected) in enumerate(zip(record.meta_test.tasks, test, strict=False)):
        if task.task != expected.to_dict():
            raise ResultError(f"{path}: field meta_test.tasks[{i}].task = {_short(task.task)} is not task {i} of the "
                              f"stored test set ({_short(expected.to_dict())})")
    known = EXPERIMENTS.get(record.experiment)
    if known is not None and known.setting(record.env.id, record.env.preset) is None:
        runs = " and ".join(f"{part.env_id} preset {part.preset!r}" for part in known.split())
        raise ResultError(f"{path}: field experiment = {record.experiment!r} runs {runs}, not env.id "
                          f"{record.env.id} preset {record.env.preset!r}")


def read_sealed(path: Path, schema: str, version: int, *, max_bytes: int,
                error: type[ValueError] = ValueError) -> dict[str, Any]:
    """The JSON object in `path` once its envelope is checked: strict JSON (`read_json_file`), its
    `schema` and `schema_version`, and a `checksum` that matches the rest; else `error` naming the file
    and the field (results files here, oracle caches in `benchmarks.oracles`)."""
    try:
        data = read_json_file(path, max_bytes=max_bytes)
    except ValueError as failure:
        raise error(str(failure)) from failure
    if not isinstance(data, dict):
        raise error(f"{path}: field <root> must be an object")
    if data.get("schema") != schema:
        raise error(f"{path}: field schema = {_short(data.get('schema'))}, expected {schema!r}")
    if data.get("schema_version") != version or isinstance(data.get("schema_version"), bool):
        raise error(f"{path}: field schema_version = {_short(data.get('schema_version'))}; this reader "
                    f"understands version {version}")
    if "checksum" not in data:
        raise error(f"{path}: missing field checksum")
    expected = checksum(data)
    if data["checksum"] != expected:
        raise error(f"{path}: field checksum = {_short(data['checksum'])} does not match the contents "
                    f"({expected}); the file was edited or corrupted")
    return data


def load_result(path: str | Path) -> ResultRecord:
    """Read and validate one results file (see the module docstring); returns its record. Every
    failure is a `ResultError` naming the file."""
    path = Path(path)
    data = read_sealed(path, SCHEMA, SCHEMA_VERSION, max_bytes=MAX_RESULT_BYTES, error=ResultError)
    try:
        record = ResultRecord.from_document(data)
    except (TypeError, ValueError, OverflowError) as error:
        raise ResultError(f"{path}: {error}") from error
    _check_against_sources(path, record)
    return record


def same_cell_settings(record: ResultRecord, other: ResultRecord) -> list[str]:
    """Names of the settings (`ResultRecord.SETTINGS`) in which two results of one cell disagree."""
    mine, theirs = record.settings(), other.settings()
    return [name for name in ResultRecord.SETTINGS if mine[name] != theirs[name]]
