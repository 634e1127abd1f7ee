"""Mutation testing as a standing measurement (not a CI gate): how many plausible bugs the suite catches.

    nice -n 15 python -m benchmarks.perf.mutation                    # every target, then docs/mutation.md
    nice -n 15 python -m benchmarks.perf.mutation --target core      # one target (the others keep their
                                                                     # last results in the document)
    nice -n 15 python -m benchmarks.perf.mutation --target baselines --resume  # continue a stopped pass

Built on mutmut (the `mutation` extra). Each target is one folder or file of the library with the
tests that should catch its bugs; it runs in its own scratch copy of the project under
`build/mutation/<target>/` (mutmut mutates a copy, `mutants/`, never the checkout), with
`OMP_NUM_THREADS=1`. mutmut records which tests reach each function, and runs only those on each
mutant, stopping at the first failure. A mutant is *killed* when a test fails or it times out,
*survives* when every covering test passes, and has *no tests* when no test of the target's
selection reaches it (counted as surviving).

Results (per target: mutants, killed, survived, no tests, score = killed / mutants, wall time, and
every surviving mutant as its diff) are kept as JSON in `benchmarks/perf/mutation_results/<target>.json`
(committed, so a pass over one target keeps the others' last results) and written to `docs/mutation.md`.
Survivors that are equivalent mutants (no input can tell them apart) are listed with the reason in
`docs/design-notes.md`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRATCH = ROOT / "build" / "mutation"
SUMMARIES = ROOT / "benchmarks" / "perf" / "mutation_results"
DOCUMENT = ROOT / "docs" / "mutation.md"
PACKAGES = ("metarl_envs", "baselines", "benchmarks", "tests", "docs")
"""copied into the scratch project (docs: tests run its examples)"""


@dataclasses.dataclass(frozen=True)
class Target:
    name: str
    source: str
    """the folder (trailing '/') or file that is mutated"""
    tests: tuple[str, ...]
    """pytest selection run against its mutants"""
    pytest_args: tuple[str, ...] = ()
    """extra pytest arguments (e.g. a marker expression that leaves out slow families)"""


TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("baselines", "baselines/", ("tests/baselines", "tests/benchmarks/test_protocol_order.py",
                                       "tests/benchmarks/test_checkpoints.py"),
           # the resume tests pin the agents' save/load of their training state; the ones in a child process
           # (SIGKILL) are invisible to mutmut's coverage, and the HalfCheetah one alone takes minutes
           ("-k", "not sigkill and not cheetah")),
    Target("evaluate", "benchmarks/evaluate.py", ("tests/benchmarks/test_protocol_order.py",
                                                 "tests/benchmarks/test_results.py",
                                                 "tests/benchmarks/test_oracle_estimates.py")),
    Target("core", "metarl_envs/core.py",
           ("tests/envs/test_bad_input.py", "tests/envs/test_contract.py", "tests/envs/test_seeds_and_options.py",
            "tests/envs/test_vector_equivalence.py", "tests/envs/test_registration.py", "tests/test_no_global_rng.py"),
           ("-m", "not mujoco", "-k", "not AntDir and not AntVel and not AntGoal and not HalfCheetah "
            "and not Walker2D and not HopperParams and not fresh_process")),
)}

TIMEOUT_MULTIPLIER = 5.0
"""a mutant times out (counts as killed) after 5 × (its tests' clean duration + 1 s) of wall time; mutmut's
default 15 let every looping mutant hold the one worker for a quarter of an hour"""

KILLED = ("killed", "timeout", "segfault", "caught by type check")
SURVIVED = ("survived", "suspicious")
UNCHECKED = ("not checked", "check was interrupted by user", "skipped")


def _mutmut_config(target: Target) -> str:
    folder = target.source if target.source.endswith("/") else target.source.rsplit("/", 1)[0] + "/"
    lines = ["", "[tool.mutmut]", f"source_paths = [{json.dumps(folder)}]",
             f"only_mutate = [{json.dumps(target.source + ('*' if target.source.endswith('/') else ''))}]",
             f"also_copy = {json.dumps([p + '/' for p in PACKAGES if not folder.startswith(p)])}",
             f"pytest_add_cli_args_test_selection = {json.dumps(list(target.tests))}",
             f"pytest_add_cli_args = {json.dumps(['-p', 'no:cacheprovider', '-W', 'ignore', *target.pytest_args])}",
             f"timeout_multiplier = {TIMEOUT_MULTIPLIER}",
             "use_git_change_detection = false"]
    return "\n".join(lines) + "\n"


PASS_FILE = "pass.json"
"""in the scratch copy: the commit it was copied from and the wall time spent on it so far"""


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True, capture_output=True,
                          check=False).stdout.strip()


def prepare(target: Target) -> Path:
    """A fresh scratch copy of the project with the target's mutmut section in its pyproject.toml."""
    work = SCRATCH / target.name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, work / package, ignore=ignore)
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + _mutmut_config(target))
    (work / PASS_FILE).write_text(json.dumps({"commit": _head(), "wall_seconds": 0, "runs": 0}) + "\n")
    return work


def resumable(target: Target) -> dict | None:
    """The state of a stopped pass over `target` whose scratch copy is still here (mutmut keeps every
    verdict in it, and a new `mutmut run` there checks only the mutants not yet checked), else None.
    Its configuration must be this target's: a pass is never resumed with another test selection."""
    work = SCRATCH / target.name
    try:
        state = json.loads((work / PASS_FILE).read_text())
        config = (work / "pyproject.toml").read_text()
    except (OSError, ValueError):
        return None
    return state if config.endswith(_mutmut_config(target)) else None


def _environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}


_COLLECT = """
import json
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.mutation.data import SourceFileMutationData
from mutmut.stats import status_by_exit_code
from mutmut.utils.file_utils import walk_mutatable_files

out = {}
for path in walk_mutatable_files():
    data = SourceFileMutationData(path=path)
    data.load()
    for name, code in data.exit_code_by_key.items():
        status = status_by_exit_code[code]
        diff = get_diff_for_mutant(name, path=path) if status in SHOWN else None
        out[name] = [status, diff]
print(json.dumps(out))
"""


def _collect(work: Path) -> dict[str, tuple[str, list[str] | None]]:
    """{mutant: (status, the changed lines of its diff for survivors)}, read in one process in `work`."""
    shown = repr((*SURVIVED, "no tests"))
    result = subprocess.run([sys.executable, "-c", f"SHOWN = {shown}\n" + _COLLECT], cwd=work, env=_environment(),
                            text=True, capture_output=True, check=True)
    out = {}
    for name, (status, diff) in json.loads(result.stdout).items():
        lines = None if diff is None else [line.rstrip() for line in diff.splitlines()
                                           if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))]
        out[name] = (status, lines)
    return out


def _run_with_budget(work: Path, max_children: int, budget: float | None) -> bool:
    """`mutmut run` in its own process group; stopped (the whole group) after `budget` seconds.
    Returns True when the pass completed (mutmut exited 0). mutmut saves every verdict as it goes,
    so a stopped pass leaves its unchecked mutants 'not checked'."""
    with open(work / "mutmut.log", "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)],
                                   cwd=work, env=_environment(), stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            return process.wait(timeout=budget) == 0   # stopped from outside (a signal): not completed
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
                try:
                    process.wait(timeout=30)
                    break
                except subprocess.TimeoutExpired:
                    continue
            return False


def run(target: Target, max_children: int, budget_minutes: float | None = None, resume: bool = False) -> dict:
    """One mutation pass over `target`: its summary (also written to mutation_results/<name>.json).
    `resume`: continue a stopped pass in its scratch copy (the code and tests it copied then, at the
    commit it records), when there is one; else start a fresh pass."""
    work = SCRATCH / target.name
    state = resumable(target) if resume else None
    if state is None:
        if resume:
            print(f"{target.name}: no stopped pass to resume in {work}; starting a fresh one")
        prepare(target)  # (re)creates `work`
        state = json.loads((work / PASS_FILE).read_text())
    start = time.perf_counter()
    completed = _run_with_budget(work, max_children, None if budget_minutes is None else 60 * budget_minutes)
    state = {**state, "wall_seconds": state["wall_seconds"] + time.perf_counter() - start, "runs": state["runs"] + 1}
    (work / PASS_FILE).write_text(json.dumps(state) + "\n")
    commit, wall = state["commit"], state["wall_seconds"]
    collected = _collect(work)
    statuses = {name: status for name, (status, _) in collected.items()}
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    killed = sum(counts.get(s, 0) for s in KILLED)
    unchecked = sum(counts.get(s, 0) for s in UNCHECKED)
    checked = len(statuses) - unchecked
    survivors = sorted(m for m, s in statuses.items() if s in SURVIVED or s == "no tests")
    summary = {"target": target.name, "source": target.source, "commit": commit, "tests": list(target.tests),
               "pytest_args": list(target.pytest_args),
               "mutants": len(statuses), "checked": checked, "killed": killed,
               "survived": sum(counts.get(s, 0) for s in SURVIVED), "no_tests": counts.get("no tests", 0),
               "other": {s: n for s, n in counts.items() if s not in (*KILLED, *SURVIVED, *UNCHECKED, "no tests")},
               "score": killed / checked if checked else float("nan"), "wall_seconds": round(wall),
               "completed": completed, "budget_minutes": budget_minutes, "max_children": max_children,
               "runs": state["runs"],
               "survivors": [{"mutant": m, "status": statuses[m], "diff": collected[m][1]} for m in survivors]}
    SUMMARIES.mkdir(exist_ok=True)
    (SUMMARIES / f"{target.name}.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _mutant_location(mutant: str) -> tuple[str, str]:
    """('baselines/pg.py', 'weights') from 'baselines.pg.x_weights__mutmut_3' (methods: Class.method)."""
    module, _, rest = mutant.rpartition(".x_")  # functions are mangled as module.x_function__mutmut_N
    if "ǁ" in mutant:  # methods as module.xǁClassǁmethod__mutmut_N
        module, _, rest = mutant.partition(".xǁ")
        rest = rest.replace("ǁ", ".")
    function = re.sub(r"__mutmut_\d+$", "", rest)
    return module.replace(".", "/") + ".py", function


def document(summaries: Sequence[dict]) -> str:
    lines = ["# Mutation testing", "",
             "A standing measurement of how many plausible bugs the test suite catches (not a CI gate).",
             "Produced by `nice -n 15 python -m benchmarks.perf.mutation` (mutmut; `pip install -e .[mutation]`);",
             "each target's mutants are run against the listed tests only, stopping at the first failure.",
             "Score = killed / checked mutants (timeouts count as killed; 'no tests' counts as surviving).",
             "A pass stopped at its time budget (`--budget-minutes`) leaves mutants unchecked; mutmut runs the",
             "mutants with the cheapest covering tests first, so a partial score is that of those mutants;",
             "`--resume` continues a stopped pass on the code and tests it copied when it started (its commit).",
             "Survivors that no input can tell from the original are listed in `design-notes.md` with the reason,",
             "and so are those killed by tests written after the pass, until the next pass measures them.",
             "", "| target | code at | tests | mutants | checked | killed | survived | no tests | score | wall time |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        stopped = ("" if s["completed"] else ", stopped before the end" if s["budget_minutes"] is None
                   else f", stopped at the {s['budget_minutes']:g}-min budget")
        if s.get("runs", 1) > 1:
            stopped += f", over {s['runs']} resumed runs"
        carried = f"; not re-run, carried from {s['carried_from']}" if s.get("carried_from") else ""
        tests = ", ".join(f"`{t}`" for t in s["tests"]) + "".join(f" `{a}`" for a in s.get("pytest_args", []))
        lines.append(f"| `{s['source']}` | {s.get('commit', '')} | {tests} | {s['mutants']} "
                     f"| {s['checked']} | {s['killed']} | {s['survived']} | {s['no_tests']} | {100 * s['score']:.1f} % "
                     f"| {s['wall_seconds'] / 60:.0f} min ({s['max_children']} worker{'s' * (s['max_children'] != 1)}"
                     f"{stopped}{carried}) |")
    for s in summaries:
        lines += ["", f"## Surviving mutants: `{s['source']}` ({len(s['survivors'])})", ""]
        by_location: dict[tuple[str, str], list[dict]] = {}
        for survivor in s["survivors"]:
            by_location.setdefault(_mutant_location(survivor["mutant"]), []).append(survivor)
        for (path, function), survivors in sorted(by_location.items()):
            lines += [f"### `{path}`: `{function}`", "", "```diff"]
            for survivor in survivors:
                number = survivor["mutant"].rsplit("_", 1)[1]
                tag = "" if survivor["status"] == "survived" else f" ({survivor['status']})"
                lines.append(f"# mutant {number}{tag}")
                lines += survivor["diff"]
            lines += ["```", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", choices=sorted(TARGETS),
                        help="run only this target (repeatable); default: all")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant workers (default 2)")
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="stop each target's pass after this many minutes (unchecked mutants are reported)")
    parser.add_argument("--resume", action="store_true",
                        help="continue each target's stopped pass from its scratch copy (its code and tests as "
                             "they were when it started); a target without one starts afresh")
    parser.add_argument("--no-document", action="store_true", help="do not rewrite docs/mutation.md")
    args = parser.parse_args(argv)
    if shutil.which("mutmut") is None and not _has_mutmut():
        raise SystemExit("mutmut is not installed: pip install -e .[mutation]")
    for name in args.target or list(TARGETS):
        summary = run(TARGETS[name], args.max_children, args.budget_minutes, resume=args.resume)
        print(f"{name}: {summary['killed']}/{summary['checked']} checked mutants killed "
              f"({100 * summary['score']:.1f} %; {summary['mutants']} mutants), "
              f"{summary['survived']} survived, {summary['no_tests']} without tests, {summary['wall_seconds']} s")
    if not args.no_document:
        summaries = [json.loads(p.read_text()) for name in TARGETS
                     if (p := SUMMARIES / f"{name}.json").exists()]
        DOCUMENT.write_text(document(summaries))
        print(f"wrote {DOCUMENT.relative_to(ROOT)}")


def _has_mutmut() -> bool:
    import importlib.util

    return importlib.util.find_spec("mutmut") is not None


if __name__ == "__main__":
    main()
