"""A spy: wraps any agent and records every argument the harness passes it, in both phases, so a
test can check that nothing able to reveal or set a test task reaches an agent."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from benchmarks.experiments import AgentSpec
from metarl_envs.core import Task


@dataclasses.dataclass(frozen=True)
class SpyConfig:
    inner: str
    """the spied agent's class, "module:Class" or "path/file.py:Class" """
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"inner": self.inner, "config": dict(self.config)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpyConfig:
        return cls(**data)


class Spy:
    config_class = SpyConfig
    calls: ClassVar[list[tuple[str, tuple, dict]]] = []
    """(method, args, kwargs) of every call into any spy of this process, in order"""

    def __init__(self, env_id: str, config: SpyConfig, env_kwargs: Mapping[str, Any] | None = None):
        self.env_id, self.env_kwargs, self.config = env_id, dict(env_kwargs or {}), config
        self._inner = AgentSpec("inner", config.inner, config.config).build(env_id, self.env_kwargs)

    @property
    def privileged(self) -> bool:
        return bool(getattr(self._inner, "privileged", False))

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def recorded(*args: Any, **kwargs: Any) -> Any:
            type(self).calls.append((name, args, kwargs))
            return value(*args, **kwargs)

        return recorded


def leaks(value: Any, allowed_tasks: frozenset = frozenset(), where: str = "argument") -> list[str]:
    """Where inside `value` a `Task` outside `allowed_tasks`, or an object that can get or set tasks, is."""
    if isinstance(value, Task):
        return [] if value in allowed_tasks else [f"{where}: a Task {value!r}"]
    if any(hasattr(value, name) for name in ("set_task", "get_task", "set_tasks", "sample_tasks")):
        return [f"{where}: {type(value).__name__} can get or set tasks"]
    if isinstance(value, np.ndarray):
        return [] if value.dtype != object else [p for i, v in enumerate(value.flat)
                                                 for p in leaks(v, allowed_tasks, f"{where}[{i}]")]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [p for f in dataclasses.fields(value) for p in leaks(getattr(value, f.name), allowed_tasks,
                                                                    f"{where}.{f.name}")]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in leaks(v, allowed_tasks, f"{where}[{k!r}]")]
    if isinstance(value, (list, tuple, set, frozenset)) or hasattr(value, "fingerprint"):  # a TaskSet too
        return [p for i, v in enumerate(value) for p in leaks(v, allowed_tasks, f"{where}[{i}]")]
    return []
