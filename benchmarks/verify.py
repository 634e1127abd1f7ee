"""Re-check a result from its stored parameters: `metarl-bench verify RESULT.json`.

A checksum only proves that a file is what its writer wrote; anyone can edit a return and recompute
it. `verify_result` instead re-runs the meta-test the file claims: it loads the record
(`load_result`), the meta-trained parameters stored beside it (`load_parameters`: the file's sha256
must be its name), rebuilds the agent from the record (class, config, env id and kwargs), gives it
the parameters (`set_parameters`), sets torch's thread count to the one the run recorded, and runs
`meta_test` on the recorded test set with the recorded protocol, seed and `max_test_tasks`. Every
task's returns R_0..R_K, adaptation env steps and env steps are compared with the file's.

On the machine the result was made on (same platform, which names the CPU, Python and package
versions) the comparison is bit for bit, and any number that differs fails the file, naming the task
and k.

On another machine the last bits of floating-point kernels differ (another BLAS or torch, or numpy's
and OpenBLAS's kernels for another CPU), and a stochastic meta-test amplifies them: a sampled action
or a termination test that falls the other way sends the trajectory, and every adaptation step after
it, down another path (MAML's Navigation2D R_2 of one test task −4.8 on the recording AMD host, −8.7 on
an Intel one; every HalfCheetah trajectory after a few hundred steps). There a single task's number
cannot be told apart from an edited one, and verify checks what can be checked: each per-task number
is compared within `CROSS_MACHINE_RTOL` / `CROSS_MACHINE_ATOL` (steps exactly), the ones beyond it are
reported as branched, and the table must agree (`TableCheck`): for every R_k, adaptation step count
and env step count, the paired differences over the test tasks (zero where within tolerance) must be
consistent with zero by a two-sided t-test at `TABLE_ALPHA`. Shifting many tasks, or the table, fails;
a file is verified bit for bit only on the CPU its `machine.platform` names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import statistics
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from benchmarks.results import Machine, ResultError, ResultRecord, load_parameters, load_result

__all__ = ["CROSS_MACHINE_ATOL", "CROSS_MACHINE_RTOL", "TABLE_ALPHA", "Mismatch", "TableCheck", "Verification",
           "compare", "machine_differences", "table_checks", "verify_result"]

CROSS_MACHINE_RTOL = 1e-4
"""relative tolerance on a return when the recorded machine (platform, Python, packages) is not this one"""
CROSS_MACHINE_ATOL = 1e-6
"""absolute tolerance on a return (for returns near 0) when the machines differ"""
TABLE_ALPHA = 1e-4
"""significance level of the cross-machine table check: the chance that a faithful file whose every
task branched fails one (field, k) of it (small, because a false alarm on a faithful file is the
failure that matters when a user re-checks the references on their own CPU)"""


def number_name(field: str, k: int | None) -> str:
    """A per-task number in words: "R_1", "adaptation env steps before R_1" or "env steps"."""
    return {"returns": f"R_{k}", "adaptation_env_steps": f"adaptation env steps before R_{k}",
            "env_steps": "env steps"}[field]


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
        return f"{where}: {number_name(self.field, self.k)} stored {self.stored!r}, recomputed {self.recomputed!r}"


@dataclasses.dataclass(frozen=True)
class TableCheck:
    """Whether one number of the table (R_k, the adaptation steps before it, or the env steps) agrees
    over the test tasks on another machine: the paired differences recomputed − stored, zero where a
    task reproduced within tolerance, tested for mean zero."""

    field: str
    """"returns", "adaptation_env_steps" or "env_steps" """
    k: int | None
    branched: int
    """tasks whose number differs beyond the per-task tolerance"""
    mean_difference: float
    t: float
    """the t statistic of the mean difference (0 when no task branched; inf when they all moved alike)"""
    critical: float
    """the two-sided critical value at `TABLE_ALPHA` (0 with a single task, which cannot be tested: a
    branched number there fails)"""

    @property
    def passed(self) -> bool:
        return self.branched == 0 or abs(self.t) <= self.critical

    def describe(self) -> str:
        return (f"{number_name(self.field, self.k)}: {self.branched} task(s) branched, "
                f"mean difference {self.mean_difference:+.4g}, "
                f"t = {self.t:.2f} against ±{self.critical:.2f} (two-sided, α = {TABLE_ALPHA:g})")


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
    table: tuple[TableCheck, ...] = ()
    """on another machine, the table-level checks (module docstring); empty on the same machine"""

    @property
    def exact(self) -> bool:
        """True when the comparison was bit for bit (same machine)."""
        return not self.machine_differs

    @property
    def ok(self) -> bool:
        """Same machine: no number differs. Another machine: every table check passes (a branched
        task is reported in `mismatches` but cannot fail the file alone)."""
        if self.exact:
            return not self.mismatches
        return all(check.passed for check in self.table)


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
    table = table_checks(record.meta_test.tasks, result.tasks, mismatches) if differs else ()
    return Verification(path, record, differs, mismatches, identical, table)


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


def table_checks(stored: Sequence[Any], recomputed: Sequence[Any], mismatches: Sequence[Mismatch]) -> tuple[
        TableCheck, ...]:
    """The cross-machine table check of every (field, k) (module docstring): the paired differences
    recomputed − stored over the tasks, zero for the tasks `mismatches` does not name, tested for mean
    zero by a two-sided t-test at `TABLE_ALPHA`."""
    from scipy import stats

    beyond = {(m.field, m.k, m.task) for m in mismatches}
    n = len(stored)
    series: list[tuple[str, int | None, list[float]]] = []
    for k in range(len(stored[0].returns) if n else 0):
        for field in ("returns", "adaptation_env_steps"):
            series.append((field, k, [float(getattr(new, field)[k]) - float(getattr(old, field)[k])
                                      if (field, k, i) in beyond else 0.0
                                      for i, (old, new) in enumerate(zip(stored, recomputed, strict=True))]))
    series.append(("env_steps", None, [float(new.env_steps - old.env_steps) if ("env_steps", None, i) in beyond
                                       else 0.0 for i, (old, new) in enumerate(zip(stored, recomputed, strict=True))]))
    checks = []
    for field, k, differences in series:
        branched = sum(d != 0 for d in differences)
        mean = sum(differences) / n if n else 0.0
        if branched == 0:
            t = 0.0
        else:
            spread = statistics.stdev(differences) if n > 1 else 0.0
            t = math.copysign(math.inf, mean) if spread == 0 else mean / (spread / math.sqrt(n))
        # one task: a branched number cannot be told from an edited one, so it fails
        critical = float(stats.t.ppf(1 - TABLE_ALPHA / 2, n - 1)) if n > 1 else 0.0
        checks.append(TableCheck(field, k, branched, mean, t, critical))
    return tuple(checks)
