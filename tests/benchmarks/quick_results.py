"""The numbers of every experiment's --quick run, stored under tests/data/quick/ so that a refactor
that must change no number can be checked bit for bit (`test_quick_experiments.py` compares them).

Only what the run computed is kept: the training curve (without wall times) and the meta-test table,
per cell ("<label> seed <s>"). Timestamps, the commit, the machine and the checksum are dropped.

Torch's intra-op reductions change their last bits with the number of threads, so the stored numbers
are made, and compared, with one torch thread (`one_torch_thread`). They also change with the CPU:
numpy's and OpenBLAS's kernels, and torch's, follow its vendor and microarchitecture. Two hosts of
this project's machine kind (an AMD family 25 model 17 and another whose CPU was not recorded) gave
tabular returns one ulp apart, deep BO-MRL's HalfCheetah R_2 up to 1.3 relative apart after its
conjugate gradient and adaptation, and an Intel family 6 model 167 moved SG-MRL's HalfCheetah quick
returns by 1e-6 and E-MAML's float32 loss by 6e-6 relative: on another CPU no tolerance both holds and
still means something. So the numbers are stored per CPU (`benchmarks.results.cpu_identity`), one
folder each under tests/data/quick/ with a `host.json` naming it: on a CPU that has a folder they must
match it bit for bit; on any other, their structure (keys, lengths) and strings must match the first
folder's, and the numbers go unchecked (the test says so).

Regenerate (only for a change that is meant to change numbers, in a commit that says why). This
writes this CPU's folder and removes the others, whose numbers are of the code before the change:

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python -m tests.benchmarks.quick_results

Add this CPU's folder beside the others, for a code state that has not changed their numbers:

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python -m tests.benchmarks.quick_results --add-host
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from benchmarks.results import cpu_identity

STORED = Path(__file__).resolve().parents[1] / "data" / "quick"
"""one folder per CPU the numbers were made on, each with a `host.json` naming it"""
_VOLATILE = frozenset({"wall_time"})


def host_folder(identity: str) -> Path:
    """The folder of the numbers made on the CPU `identity` (a `cpu_identity()` string)."""
    return STORED / re.sub(r"[^a-z0-9]+", "-", identity.lower()).strip("-")


def stored_hosts() -> dict[str, Path]:
    """Every CPU that has stored numbers, by its `cpu_identity()`, in sorted folder order."""
    hosts = {}
    for marker in sorted(STORED.glob("*/host.json")):
        hosts[json.loads(marker.read_text())["host"]] = marker.parent
    return hosts


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


def stored_path(experiment: str, folder: Path) -> Path:
    return folder / f"{experiment}.json"


def first_difference(stored: Any, current: Any, where: str = "", numbers: bool = True) -> str | None:
    """The path of the first value where two number trees differ (type included), or None; with
    `numbers` False only their structure (keys, list lengths) and strings are compared."""
    if isinstance(stored, dict) and isinstance(current, dict):
        for key in sorted(set(stored) | set(current)):
            if key not in stored or key not in current:
                return f"{where}.{key} (present in only one)"
            found = first_difference(stored[key], current[key], f"{where}.{key}", numbers)
            if found:
                return found
        return None
    if isinstance(stored, list) and isinstance(current, list):
        if len(stored) != len(current):
            return f"{where} (length {len(stored)} stored, {len(current)} now)"
        for i, (a, b) in enumerate(zip(stored, current, strict=True)):
            found = first_difference(a, b, f"{where}[{i}]", numbers)
            if found:
                return found
        return None
    if not numbers and all(isinstance(v, (int, float, type(None))) for v in (stored, current)):
        return None  # a number, or a number that another path left undefined (a gap, a loss)
    if type(stored) is not type(current) or json.dumps(stored) != json.dumps(current):
        return f"{where}: stored {stored!r}, now {current!r}"
    return None


def compare_with_stored(name: str, numbers: Mapping[str, Any]) -> str | None:
    """None when an experiment's quick numbers match the stored ones: bit for bit on a CPU that has
    its own (`stored_hosts`), in structure and strings on any other; else what differs and where."""
    here, hosts = cpu_identity(), stored_hosts()
    if not hosts:
        return f"{name}: no stored quick numbers under {STORED}"
    exact = here in hosts
    folder = hosts[here] if exact else next(iter(hosts.values()))
    stored = json.loads(stored_path(name, folder).read_text())
    if text(numbers) == text(stored):
        return None
    found = first_difference(stored, numbers, numbers=exact)
    if found is None:
        return None
    how = "bit for bit (this CPU made them)" if exact else (
        f"in structure and strings only (made on {', '.join(hosts)}; this is {here})")
    return (f"{name}: the quick run's numbers differ from {folder.name}/{stored_path(name, folder).name}, "
            f"compared {how}, at {found}")


def main(add_host: bool = False) -> None:
    from benchmarks.experiments import EXPERIMENTS
    from benchmarks.runner import run_experiment

    here = cpu_identity()
    folder = host_folder(here)
    if not add_host:
        for other in stored_hosts().values():
            if other != folder:
                shutil.rmtree(other)
                print(f"removed {other}: its numbers are of the code before this change")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as out, one_torch_thread():
        for name in sorted(EXPERIMENTS):
            summary = run_experiment(EXPERIMENTS[name], out, quick=True)
            numbers = experiment_numbers(summary.ran)
            stored_path(name, folder).write_text(text(numbers))
            print(f"wrote {stored_path(name, folder)} ({len(numbers)} cells)")
    (folder / "host.json").write_text(json.dumps({"host": here}, indent=1) + "\n")
    print(f"wrote {folder / 'host.json'}: {here}")


if __name__ == "__main__":
    main(add_host="--add-host" in sys.argv[1:])
