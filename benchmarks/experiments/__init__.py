"""Experiments as declarative data that carry their own targets.

Each module `benchmarks/experiments/<paper>_<figure>.py` defines one frozen `EXPERIMENT`:

    EXPERIMENT = Experiment(
        name="sgmrl-nav2d", description="SG-MRL Table 1, 2D navigation",
        env_id="MetaRL/Navigation2D-v0", env_kwargs={"preset": "maml"},
        agents=(AgentSpec("SG-MRL", "baselines.sgmrl:SGMRL", {"inner_lr": 0.1}),),
        iterations=500, seeds=3,
        protocol=MetaTestProtocol(adaptation_steps=1, evaluation_episodes=20, adaptation_episodes=20),
        targets=(Target("SG-MRL Table 1", agent="SG-MRL", step=1, mean=-16.90, ci=0.70),),
        quick={"iterations": 2, "seeds": 1, "max_test_tasks": 4, "config": {"tasks_per_iteration": 4}},
    )

An experiment may run on several (env, preset) settings: `settings=(Setting(env_id, env_kwargs,
agent_config={label: {...}}), ...)` adds settings beside its own `env_id`/`env_kwargs`, each with the
same agents (configs merged with the setting's `agent_config`, e.g. a λ per task distribution) and its
own targets. `Experiment.split()` gives one single-setting experiment per setting, all under the
experiment's name; the runner plans cells from them, and a cell's identity (experiment, variant,
agent label, env id, preset) keeps the settings apart.

`EXPERIMENTS` (name → Experiment) discovers every module of this package that defines
`EXPERIMENT`. `Experiment.resolve(quick=True)` applies the `quick` overrides:

| key              | effect                                                                 |
|------------------|------------------------------------------------------------------------|
| "iterations"     | replaces `iterations`                                                  |
| "seeds"          | replaces `seeds`                                                       |
| "max_test_tasks" | replaces `max_test_tasks` (None: the whole test set)                   |
| "config"         | dict merged into every reference agent's `AgentSpec.config` (not into  |
|                  | outside agents added with `with_agents`)                               |
| "agent_config"   | {label: dict} merged into that agent's config only (after "config")    |
| "protocol"       | dict of `MetaTestProtocol` fields replaced in `protocol`               |

Unknown keys, unknown protocol fields and unknown agent labels fail naming the key.

An agent's class is "package.module:Class" or "path/to/file.py:Class" (the file is imported by
path). `load_experiment(name_or_path)` finds an experiment by name, or reads `EXPERIMENT` from a
Python file outside the package. `Experiment.with_agents(specs)` adds outside agents, and
`Experiment.check_agents()` imports every agent class and builds every config before anything runs.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.evaluate import MetaTestProtocol

__all__ = ["EXPERIMENTS", "AgentSpec", "Experiment", "Setting", "Target", "discover", "load_experiment", "load_file"]

QUICK_KEYS = ("iterations", "seeds", "max_test_tasks", "config", "agent_config", "protocol")


@dataclasses.dataclass(frozen=True)
class Target:
    """A number a paper reports, to be printed next to the measured one."""

    source: str
    """where the number comes from, e.g. "SG-MRL Table 1" """
    agent: str
    """the `AgentSpec.label` it belongs to"""
    step: int
    """k: the number of adaptation steps the number is reported after"""
    mean: float
    ci: float | None = None
    """± half-width of the reported interval, when the paper gives one"""

    def __post_init__(self) -> None:
        if not isinstance(self.step, int) or self.step < 0:
            raise ValueError(f"Target.step={self.step!r}: must be an int ≥ 0")
        if self.ci is not None and not self.ci >= 0:
            raise ValueError(f"Target.ci={self.ci!r}: must be ≥ 0 or None")


@dataclasses.dataclass(frozen=True)
class AgentSpec:
    """One agent of an experiment: a label, its class as "module:Class", and its config."""

    label: str
    """the name printed in tables, e.g. "SG-MRL" """
    agent: str
    """"module:Class", e.g. "baselines.sgmrl:SGMRL" """
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """passed to `Class.config_class.from_dict`"""
    reference: bool = True
    """False for an outside agent added to the experiment: --quick's shared config is not merged into it"""

    def __post_init__(self) -> None:
        if not self.label:
            raise ValueError("AgentSpec.label: must be a non-empty string")
        if not isinstance(self.agent, str) or self.agent.count(":") != 1:
            raise ValueError(f"AgentSpec.agent={self.agent!r}: must be 'package.module:Class' or "
                             "'path/to/file.py:Class'")
        if not isinstance(self.config, Mapping):
            raise TypeError(f"AgentSpec.config of {self.label!r}: must be a mapping, got {type(self.config).__name__}")
        object.__setattr__(self, "config", dict(self.config))

    def agent_class(self) -> type:
        module, name = self.agent.split(":")
        where = f"AgentSpec {self.label!r}: agent={self.agent!r}"
        try:
            loaded = load_file(module, where) if module.endswith(".py") else importlib.import_module(module)
        except ImportError as error:
            raise ImportError(f"{where}: cannot import {module!r}: {error}") from error
        if not hasattr(loaded, name):
            raise ImportError(f"{where}: {module!r} has no {name!r}")
        cls = getattr(loaded, name)
        if not isinstance(cls, type) or not hasattr(cls, "config_class"):
            raise TypeError(f"{where}: {name!r} must be a class with a `config_class` (see docs/your-agent.md)")
        return cls

    def check(self) -> None:
        """Import the class and build its config (unknown keys fail by name) without building the agent."""
        cls = self.agent_class()
        try:
            cls.config_class.from_dict(dict(self.config))
        except (TypeError, ValueError) as error:
            raise type(error)(f"AgentSpec {self.label!r} ({self.agent}): config {dict(self.config)}: "
                              f"{error}") from error

    def build(self, env_id: str, env_kwargs: Mapping[str, Any]) -> Any:
        """Construct the agent: `Class(env_id, Class.config_class.from_dict(config), env_kwargs)`."""
        cls = self.agent_class()
        return cls(env_id, cls.config_class.from_dict(dict(self.config)), dict(env_kwargs))


@dataclasses.dataclass(frozen=True)
class Setting:
    """A further (env, preset) an experiment runs on, beside its own `env_id`/`env_kwargs`."""

    env_id: str
    env_kwargs: Mapping[str, Any]
    """must hold "preset" (which also selects the task sets)"""
    agent_config: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    """{label: dict} merged into that agent's config on this setting"""
    targets: tuple[Target, ...] = ()
    """the numbers a paper reports on this setting"""
    description: str = ""
    """replaces the experiment's description on this setting (when given)"""

    def __post_init__(self) -> None:
        if not isinstance(self.env_kwargs, Mapping) or "preset" not in self.env_kwargs:
            raise ValueError(f"Setting {self.env_id!r}: env_kwargs must be a mapping holding 'preset'")
        if not isinstance(self.agent_config, Mapping) or not all(isinstance(c, Mapping)
                                                                  for c in self.agent_config.values()):
            raise TypeError(f"Setting {self.env_id!r}: agent_config must map labels to config mappings")
        object.__setattr__(self, "env_kwargs", dict(self.env_kwargs))
        object.__setattr__(self, "agent_config", {label: dict(c) for label, c in self.agent_config.items()})
        object.__setattr__(self, "targets", tuple(self.targets))


@dataclasses.dataclass(frozen=True)
class Experiment:
    name: str
    """the CLI name, e.g. "sgmrl-nav2d" """
    description: str
    env_id: str
    env_kwargs: Mapping[str, Any]
    """passed to every agent; must hold "preset" (which also selects the task sets)"""
    agents: tuple[AgentSpec, ...]
    iterations: int
    """meta-training iterations per (agent, seed)"""
    seeds: int
    """seeds 0..seeds-1 are run"""
    protocol: MetaTestProtocol
    targets: tuple[Target, ...] = ()
    quick: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """overrides for --quick (see the module docstring)"""
    max_test_tasks: int | None = None
    """meta-test on the first `max_test_tasks` tasks of the test set (None: all)"""
    notes: str = ""
    settings: tuple[Setting, ...] = ()
    """further (env, preset) settings run with the same agents (see the module docstring)"""

    def __post_init__(self) -> None:
        where = f"Experiment {self.name!r}"
        if not self.name:
            raise ValueError("Experiment.name: must be a non-empty string")
        if not isinstance(self.env_kwargs, Mapping) or "preset" not in self.env_kwargs:
            raise ValueError(f"{where}: env_kwargs must be a mapping holding 'preset'")
        object.__setattr__(self, "env_kwargs", dict(self.env_kwargs))
        object.__setattr__(self, "agents", tuple(self.agents))
        object.__setattr__(self, "targets", tuple(self.targets))
        object.__setattr__(self, "quick", dict(self.quick))
        object.__setattr__(self, "settings", tuple(self.settings))
        for field in ("iterations", "seeds"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{where}: {field}={value!r} must be an int ≥ 1")
        if self.max_test_tasks is not None and (not isinstance(self.max_test_tasks, int) or self.max_test_tasks < 1):
            raise ValueError(f"{where}: max_test_tasks={self.max_test_tasks!r} must be an int ≥ 1 or None")
        if not isinstance(self.protocol, MetaTestProtocol):
            raise TypeError(f"{where}: protocol must be a MetaTestProtocol")
        if not self.agents:
            raise ValueError(f"{where}: agents must not be empty")
        labels = [spec.label for spec in self.agents]
        if len(set(labels)) != len(labels):
            raise ValueError(f"{where}: agent labels must be unique, got {labels}")
        for target in self.targets:
            if target.agent not in labels:
                raise ValueError(f"{where}: target from {target.source!r} names agent {target.agent!r}, "
                                 f"not one of {labels}")
            if target.step > self.protocol.adaptation_steps:
                raise ValueError(f"{where}: target from {target.source!r} has step={target.step} > "
                                 f"protocol.adaptation_steps={self.protocol.adaptation_steps}")
        _check_quick(where, self.quick, labels)
        seen = {(self.env_id, self.preset)}
        for setting in self.settings:
            if not isinstance(setting, Setting):
                raise TypeError(f"{where}: settings must hold Setting objects, got {type(setting).__name__}")
            key = (setting.env_id, str(setting.env_kwargs["preset"]))
            if key in seen:
                raise ValueError(f"{where}: setting {key} appears twice (a cell is identified by env id and preset)")
            seen.add(key)
            for label in setting.agent_config:
                if label not in labels:
                    raise ValueError(f"{where}: setting {key} configures unknown agent {label!r}; choose from {labels}")
        self.split()  # each setting's agents and targets are checked as an experiment's

    @property
    def preset(self) -> str:
        return str(self.env_kwargs["preset"])

    def split(self) -> tuple[Experiment, ...]:
        """One single-setting experiment per setting, under this experiment's name: first its own
        env, then each of `settings` with its env, agent configs and targets."""
        own = dataclasses.replace(self, settings=()) if self.settings else self
        return (own, *(dataclasses.replace(
            self, env_id=setting.env_id, env_kwargs=setting.env_kwargs, settings=(), targets=setting.targets,
            description=setting.description or self.description,
            agents=tuple(dataclasses.replace(spec, config={**spec.config, **setting.agent_config.get(spec.label, {})})
                         for spec in self.agents)) for setting in self.settings))

    def setting(self, env_id: str, preset: str) -> Experiment | None:
        """The single-setting experiment this experiment runs on (`env_id`, `preset`), or None."""
        return next((part for part in self.split() if (part.env_id, part.preset) == (env_id, preset)), None)

    def agent(self, label: str) -> AgentSpec:
        for spec in self.agents:
            if spec.label == label:
                return spec
        raise KeyError(f"Experiment {self.name!r}: no agent labelled {label!r}")

    def with_agents(self, specs: Sequence[AgentSpec]) -> Experiment:
        """This experiment with outside agents added (run under the same protocol, in the same table);
        they are not reference agents, so --quick's shared config is not merged into theirs."""
        added = tuple(dataclasses.replace(spec, reference=False) for spec in specs)
        return dataclasses.replace(self, agents=(*self.agents, *added))

    def check_agents(self) -> None:
        """Import every agent class and build every config, on every setting: fails, naming the agent and
        the key, before any cell runs."""
        for part in self.split():
            for spec in part.agents:
                spec.check()

    def only(self, labels: Sequence[str]) -> Experiment:
        """This experiment with just the agents labelled `labels` (and their targets); the cells it
        plans are the same cells as the whole experiment's, so results mix and resume freely."""
        specs = tuple(self.agent(label) for label in dict.fromkeys(labels))
        kept = {spec.label for spec in specs}
        quick = dict(self.quick)
        if "agent_config" in quick:
            quick["agent_config"] = {k: v for k, v in quick["agent_config"].items() if k in kept}
        settings = tuple(dataclasses.replace(
            setting, agent_config={k: v for k, v in setting.agent_config.items() if k in kept},
            targets=tuple(t for t in setting.targets if t.agent in kept)) for setting in self.settings)
        return dataclasses.replace(self, agents=specs, targets=tuple(t for t in self.targets if t.agent in kept),
                                   quick=quick, settings=settings)

    def resolve(self, quick: bool) -> Experiment:
        """This experiment, with the `quick` overrides applied when `quick` is true."""
        if not quick:
            return self
        overrides = self.quick
        shared = dict(overrides.get("config", {}))
        per_agent = overrides.get("agent_config", {})
        shrink = {spec.label: {**(shared if spec.reference else {}), **per_agent.get(spec.label, {})}
                  for spec in self.agents}
        agents = tuple(dataclasses.replace(spec, config={**spec.config, **shrink[spec.label]}) for spec in self.agents)
        protocol = dataclasses.replace(self.protocol, **overrides.get("protocol", {}))
        targets = tuple(t for t in self.targets if t.step <= protocol.adaptation_steps)
        # each further setting's own agent configs stay under the quick shrink, so that splitting the
        # resolved experiment gives the settings resolved one by one (as `runner.plan` resolves them)
        settings = tuple(dataclasses.replace(
            setting, targets=tuple(t for t in setting.targets if t.step <= protocol.adaptation_steps),
            agent_config={label: {**setting.agent_config.get(label, {}), **shrink[label]} for label in shrink
                          if setting.agent_config.get(label) or shrink[label]}) for setting in self.settings)
        return dataclasses.replace(
            self, agents=agents, protocol=protocol, targets=targets, quick={}, settings=settings,
            iterations=overrides.get("iterations", self.iterations), seeds=overrides.get("seeds", self.seeds),
            max_test_tasks=overrides.get("max_test_tasks", self.max_test_tasks))


def _check_quick(where: str, quick: Mapping[str, Any], labels: list[str]) -> None:
    for key in quick:
        if key not in QUICK_KEYS:
            raise ValueError(f"{where}: unknown quick key {key!r}; choose from {list(QUICK_KEYS)}")
    for key in ("config", "protocol", "agent_config"):
        if key in quick and not isinstance(quick[key], Mapping):
            raise TypeError(f"{where}: quick[{key!r}] must be a mapping")
    protocol_fields = {f.name for f in dataclasses.fields(MetaTestProtocol)}
    for key in quick.get("protocol", {}):
        if key not in protocol_fields:
            raise ValueError(f"{where}: unknown quick['protocol'] field {key!r}; choose from {sorted(protocol_fields)}")
    for label, config in quick.get("agent_config", {}).items():
        if label not in labels:
            raise ValueError(f"{where}: quick['agent_config'] names unknown agent {label!r}; choose from {labels}")
        if not isinstance(config, Mapping):
            raise TypeError(f"{where}: quick['agent_config'][{label!r}] must be a mapping")


def load_file(path: str, where: str = "load_file") -> Any:
    """Import a Python file by path (once per process; the module is registered under a name made
    from its absolute path, so a spawned worker imports the same file under the same name)."""
    import hashlib
    import importlib.util
    import sys
    from pathlib import Path

    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise ImportError(f"{where}: no such file {str(file)!r}")
    name = f"metarl_bench_file_{file.stem}_{hashlib.sha256(str(file).encode()).hexdigest()[:10]}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"{where}: {str(file)!r} is not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise ImportError(f"{where}: importing {str(file)!r} failed: {type(error).__name__}: {error}") from error
    return module


def load_experiment(name_or_path: str) -> Experiment:
    """A registered experiment by name, or the `EXPERIMENT` of a Python file (`my_experiment.py`)."""
    if name_or_path.endswith(".py"):
        experiment = getattr(load_file(name_or_path, "load_experiment"), "EXPERIMENT", None)
        if not isinstance(experiment, Experiment):
            raise TypeError(f"load_experiment: {name_or_path!r} must define EXPERIMENT = Experiment(...)")
        return experiment
    known = _registry()
    if name_or_path not in known:
        raise KeyError(f"unknown experiment {name_or_path!r}; choose from {sorted(known)} or give a .py file")
    return known[name_or_path]


def _registry() -> dict[str, Experiment]:
    return __getattr__("EXPERIMENTS")


def discover(package: str = __name__) -> dict[str, Experiment]:
    """Import every module of `package` (default: this one) and collect its `EXPERIMENT`, keyed by name."""
    found: dict[str, Experiment] = {}
    root = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{info.name}")
        experiment = getattr(module, "EXPERIMENT", None)
        if experiment is None:
            continue
        if not isinstance(experiment, Experiment):
            raise TypeError(f"{module.__name__}.EXPERIMENT: must be an Experiment, got {type(experiment).__name__}")
        if experiment.name in found:
            raise ValueError(f"{module.__name__}.EXPERIMENT: name {experiment.name!r} is already taken")
        found[experiment.name] = experiment
    return found


_REGISTRY: dict[str, Experiment] | None = None


def __getattr__(name: str) -> Any:
    # EXPERIMENTS is built on first access, so experiment modules can import this package's classes.
    global _REGISTRY
    if name == "EXPERIMENTS":
        if _REGISTRY is None:
            _REGISTRY = discover()
        return _REGISTRY
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
