"""The numbers of every experiment's --quick run, stored under tests/data/quick/ so that a refactor
that must change no number can be checked bit for bit (`test_quick_experiments.py` compares them).

Only what the run computed is kept: the training curve (without wall times) and the meta-test table,
per cell ("<label> seed <s>"). Timestamps, the commit, the machine and the checksum are dropped.

Torch's intra-op reductions change their last bits with the number of threads, so the stored numbers
are made, and compared, with one torch thread (`one_torch_thread`). They also change with the host:
two hosts of this project's machine kind (platform strings differing only in the kernel build; the
second an AMD family 25 model 17) give tabular returns one ulp apart and, where deep BO-MRL's
conjugate gradient and adaptation or SAC's updates amplify that, quick-run numbers up to 1.3 relative
apart;
numpy's and OpenBLAS's kernels follow the CPU's microarchitecture, the likely cause. So `host.json`
records the CPU the numbers were made on (`benchmarks.results.cpu_identity`): there they must match
bit for bit, and on any other CPU within `CROSS_HOST_RTOL`, or for `CROSS_HOST_UNCOMPARED` in all but
their floats.

Regenerate (only for a change that is meant to change numbers, in a commit that says why):

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python -m tests.benchmarks.quick_results
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from benchmarks.results import cpu_identity

STORED = Path(__file__).resolve().parents[1] / "data" / "quick"
HOST_FILE = STORED / "host.json"
CROSS_HOST_RTOL = 1e-6
"""relative tolerance on a stored quick number on a CPU other than the one that made them (module
docstring; measured between two hosts: at most 4e-15 apart where they differ at all); integers,
strings and structure still match exactly"""
CROSS_HOST_UNCOMPARED = frozenset({"bomrl-cheetah-dir", "bomrl-cheetah-vel", "pmeta-cheetah-vel"})
"""experiments whose quick floats another CPU moves beyond any useful tolerance (measured between two
hosts: deep BO-MRL's R_0 2e-5 apart after one meta-update, its R_2 up to 1.3 relative after
adaptation; pMeta-RL SAC's critic loss 0.06). On another CPU their structure, integers (env steps)
and strings are compared, not their floats."""
CROSS_HOST_ATOL = 1e-9
"""absolute tolerance beside it, for numbers near 0"""
_VOLATILE = frozenset({"wall_time"})


def recorded_host() -> str | None:
    """The `cpu_identity()` the stored numbers were made on (None: not recorded)."""
    if not HOST_FILE.is_file():
        return None
    return json.loads(HOST_FILE.read_text()).get("host")


def _strip(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _strip(item) for key, item in value.items() if key not in _VOLATILE}
    if isinstance(value, (list, tuple)):
        return [_strip(item) for item in value]
    return value


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def cell_numbers(document: Mapping[str, Any], settings: bool = False) -> tuple[str, dict[str, Any]]:
    """(cell key, the numbers a results document holds) for one results file. The key is "<label> seed
    <s>", preceded by "<env id> <preset> / " when the experiment runs on several settings."""
    key = f"{document['agent']['label']} seed {document['seed']}"
    if settings:
        key = f"{document['env']['id']} {document['env']['preset']} / {key}"
    return key, {"training_curve": _strip(document["training_curve"]), "meta_test": _strip(document["meta_test"])}


def experiment_numbers(paths: Iterable[Path]) -> dict[str, Any]:
    """The numbers of an experiment's results files (read as the JSON they are), by cell."""
    documents = [json.loads(Path(path).read_text()) for path in paths]
    settings = len({(d["env"]["id"], d["env"]["preset"]) for d in documents}) > 1
    return dict(sorted(cell_numbers(document, settings) for document in documents))


def text(numbers: Mapping[str, Any]) -> str:
    """Canonical JSON (floats written as their shortest round-tripping repr, so equal text = equal bits)."""
    return json.dumps(numbers, indent=1, sort_keys=True, allow_nan=False) + "\n"


def stored_path(experiment: str) -> Path:
    return STORED / f"{experiment}.json"


def first_difference(stored: Any, current: Any, where: str = "", rel_tol: float = 0.0) -> str | None:
    """The path of the first value where two number trees differ (type included), or None; floats
    within `rel_tol` (and `CROSS_HOST_ATOL`) count as equal when `rel_tol` > 0."""
    if isinstance(stored, dict) and isinstance(current, dict):
        for key in sorted(set(stored) | set(current)):
            if key not in stored or key not in current:
                return f"{where}.{key} (present in only one)"
            found = first_difference(stored[key], current[key], f"{where}.{key}", rel_tol)
            if found:
                return found
        return None
    if isinstance(stored, list) and isinstance(current, list):
        if len(stored) != len(current):
            return f"{where} (length {len(stored)} stored, {len(current)} now)"
        for i, (a, b) in enumerate(zip(stored, current, strict=True)):
            found = first_difference(a, b, f"{where}[{i}]", rel_tol)
            if found:
                return found
        return None
    if rel_tol > 0 and type(stored) is float and type(current) is float:
        if math.isclose(stored, current, rel_tol=rel_tol, abs_tol=CROSS_HOST_ATOL):
            return None
        return f"{where}: stored {stored!r}, now {current!r} (beyond rel {rel_tol:g})"
    if type(stored) is not type(current) or json.dumps(stored) != json.dumps(current):
        return f"{where}: stored {stored!r}, now {current!r}"
    return None


def compare_with_stored(name: str, numbers: Mapping[str, Any]) -> str | None:
    """None when an experiment's quick numbers match its stored ones: bit for bit on the CPU that made
    them (`recorded_host`), within `CROSS_HOST_RTOL` on any other; else what differs and where."""
    stored = json.loads(stored_path(name).read_text())
    if text(numbers) == text(stored):
        return None
    here, there = cpu_identity(), recorded_host()
    tolerance = 0.0 if here == there else math.inf if name in CROSS_HOST_UNCOMPARED else CROSS_HOST_RTOL
    found = first_difference(stored, numbers, rel_tol=tolerance)
    if found is None:
        return None
    how = "bit for bit (this is the CPU they were made on)" if tolerance == 0 else (
        f"within rel {tolerance:g} (made on {there or 'an unrecorded CPU'}, compared on {here})")
    return f"{name}: the quick run's numbers differ from {stored_path(name).name}, compared {how}, at {found}"


def main() -> None:
    from benchmarks.experiments import EXPERIMENTS
    from benchmarks.runner import run_experiment

    STORED.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as out, one_torch_thread():
        for name in sorted(EXPERIMENTS):
            summary = run_experiment(EXPERIMENTS[name], out, quick=True)
            numbers = experiment_numbers(summary.ran)
            stored_path(name).write_text(text(numbers))
            print(f"wrote {stored_path(name)} ({len(numbers)} cells)")
    HOST_FILE.write_text(json.dumps({"host": cpu_identity()}, indent=1) + "\n")
    print(f"wrote {HOST_FILE}: {cpu_identity()}")


if __name__ == "__main__":
    main()
