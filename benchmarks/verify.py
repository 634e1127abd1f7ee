"""Re-check a result from its stored parameters: `metarl-bench verify RESULT.json`.

A checksum only proves that a file is what its writer wrote; anyone can edit a return and recompute
it. `verify_result` instead re-runs the meta-test the file claims: it loads the record
(`load_result`), the meta-trained parameters stored beside it (`load_parameters`: the file's sha256
must be its name), rebuilds the agent from the record (class, config, env id and kwargs), gives it
the parameters (`set_parameters`), sets torch's thread count to the one the run recorded, and runs
`meta_test` on the recorded test set with the recorded protocol, seed and `max_test_tasks`. Every
task's returns R_0..R_K, adaptation env steps and env steps are compared with the file's.

On the machine the result was made on (same platform, Python and package versions) the comparison
is bit for bit. Elsewhere the last bits of floating-point reductions may differ (another BLAS, another
torch), so returns are compared within `CROSS_MACHINE_RTOL` relative (and `CROSS_MACHINE_ATOL`
absolute) tolerance, and the report says the machines differ. Env step counts are always exact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.results import Machine, ResultError, ResultRecord, load_parameters, load_result

__all__ = ["CROSS_MACHINE_ATOL", "CROSS_MACHINE_RTOL", "Mismatch", "Verification", "machine_differences",
           "verify_result"]

CROSS_MACHINE_RTOL = 1e-4
"""relative tolerance on a return when the recorded machine (platform, Python, packages) is not this one"""
CROSS_MACHINE_ATOL = 1e-6
"""absolute tolerance on a return (for returns near 0) when the machines differ"""


@dataclasses.dataclass(frozen=True)
class Mismatch:
    """One recomputed number that differs from the file's."""

    task: int
    """index of the test task (into the file's meta_test.tasks)"""
    field: str
    """"returns", "adaptation_env_steps" or "env_steps" """
    k: int | None
    """the adaptation step k of R_k (None for the task's env_steps)"""
    stored: float
    recomputed: float

    def describe(self) -> str:
        where = f"task {self.task}" + ("" if self.k is None else f", k = {self.k}")
        name = {"returns": f"R_{self.k}", "adaptation_env_steps": f"adaptation env steps before R_{self.k}",
                "env_steps": "env steps"}[self.field]
        return f"{where}: {name} stored {self.stored!r}, recomputed {self.recomputed!r}"


@dataclasses.dataclass(frozen=True)
class Verification:
    path: Path
    record: ResultRecord
    machine_differs: tuple[str, ...]
    """what differs between the recorded machine and this one; empty on the same machine"""
    mismatches: tuple[Mismatch, ...]
    bit_identical: bool = False
    """every recomputed number equals the file's exactly, whether or not the machines differ (on
    another machine this says more than the tolerance the check was held to)"""

    @property
    def exact(self) -> bool:
        """True when the comparison was bit for bit (same machine)."""
        return not self.machine_differs

    @property
    def ok(self) -> bool:
        return not self.mismatches


def machine_differences(recorded: Machine, current: Machine) -> tuple[str, ...]:
    """The platform, Python and package versions in which two machines differ, e.g. "torch 2.3.0 → 2.4.1"."""
    differ = [f"{name} {getattr(recorded, name)} → {getattr(current, name)}" for name in ("platform", "python")
              if getattr(recorded, name) != getattr(current, name)]
    for name in sorted(set(recorded.packages) | set(current.packages)):
        was, now = recorded.packages.get(name), current.packages.get(name)
        if was != now:
            differ.append(f"{name} {was} → {now}")
    return tuple(differ)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with torch's intra-op thread count set to `threads` (None: leave it), restored afterwards."""
    import torch

    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def rebuild_agent(record: ResultRecord) -> Any:
    """The agent the record names, built from its class, config, env id and kwargs (`AgentSpec.build`)."""
    from benchmarks.experiments import AgentSpec

    return AgentSpec(record.agent.label, record.agent.agent_class, dict(record.agent.config)).build(
        record.env.id, record.env.kwargs)


def verify_result(path: str | Path) -> Verification:
    """Re-run the meta-test of the results file at `path` from its stored parameters (module docstring).
    Raises `ResultError` naming the file when it cannot be re-run: the file is refused, stores no
    parameters, the parameters file is missing or does not match its sha256, or the agent cannot be
    rebuilt or take the parameters."""
    import metarl_envs
    from benchmarks.evaluate import meta_test

    path = Path(path)
    record = load_result(path)
    state = load_parameters(path, record)
    try:
        agent = rebuild_agent(record)
        agent.set_parameters(state)
    except Exception as error:  # an agent that cannot be imported, built or loaded: report it, naming the file
        raise ResultError(f"{path}: cannot rebuild agent {record.agent.agent_class} with the stored parameters: "
                          f"{type(error).__name__}: {error}") from error
    differs = machine_differences(record.machine, Machine.current())
    test_set = metarl_envs.task_set(record.env.id, "test", record.env.preset)
    with torch_threads(record.machine.torch_threads):
        result = meta_test(agent, test_set, record.protocol, seed=record.seed, max_tasks=record.max_test_tasks)
    mismatches = tuple(compare(record.meta_test.tasks, result.tasks, exact=not differs))
    identical = not mismatches if not differs else not compare(record.meta_test.tasks, result.tasks, exact=True)
    return Verification(path, record, differs, mismatches, identical)


def compare(stored: Sequence[Any], recomputed: Sequence[Any], *, exact: bool) -> list[Mismatch]:
    """Every per-task number of `recomputed` (TaskResults) that differs from `stored`: returns bit for bit
    when `exact`, else within the cross-machine tolerance; step counts always exactly."""
    if len(stored) != len(recomputed):
        raise ValueError(f"compare: {len(stored)} stored tasks, {len(recomputed)} recomputed")
    found = []
    for i, (old, new) in enumerate(zip(stored, recomputed, strict=True)):
        for k, (a, b) in enumerate(zip(old.returns, new.returns, strict=True)):
            same = a == b if exact else math.isclose(a, b, rel_tol=CROSS_MACHINE_RTOL, abs_tol=CROSS_MACHINE_ATOL)
            if not same:
                found.append(Mismatch(i, "returns", k, a, b))
        for k, (a, b) in enumerate(zip(old.adaptation_env_steps, new.adaptation_env_steps, strict=True)):
            if a != b:
                found.append(Mismatch(i, "adaptation_env_steps", k, a, b))
        if old.env_steps != new.env_steps:
            found.append(Mismatch(i, "env_steps", None, old.env_steps, new.env_steps))
    return found
