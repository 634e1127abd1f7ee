"""Summarise one pytest-benchmark run of `benchmarks/perf/test_vector_envs.py` into ratios.

    python -m pytest benchmarks/perf --benchmark-json=perf.json
    python -m benchmarks.perf.report perf.json

Prints, per env and sub-env count, steps/s of the native vector env, of SyncVectorEnv and their
ratio (and for CartPoleParams the ratio to Gymnasium's CartPoleVectorEnv), all from the same run.
Steps/s use each benchmark's median time per call. Exit status 1 if a target of issue 2 is
missed: native ≥ 30× SyncVectorEnv at 256 sub-envs; CartPoleParams (nominal task, Gymnasium's
physics) not slower than CartPoleVectorEnv at any sub-env count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SYNC_TARGET = 30.0
TARGET_NUM_ENVS = 256


def steps_per_second(path: Path) -> dict[tuple[str, str, int], float]:
    """(env id, mode, num_envs) -> steps per second, from a pytest-benchmark JSON file."""
    out = {}
    for bench in json.loads(path.read_text())["benchmarks"]:
        info = bench["extra_info"]
        steps = info["num_envs"] * info["steps_per_call"]
        out[(info["env_id"], info["mode"], info["num_envs"])] = steps / bench["stats"]["median"]
    return out


def report(rates: dict[tuple[str, str, int], float]) -> tuple[list[str], list[str]]:
    """Markdown table lines and the list of missed targets."""
    lines = ["| env | sub-envs | native steps/s | sync steps/s | native / sync | native / CartPoleVectorEnv |",
             "|---|---|---|---|---|---|"]
    missed = []
    for env_id, num_envs in sorted({(e, n) for e, mode, n in rates if mode == "native"}):
        native, sync = rates[(env_id, "native", num_envs)], rates.get((env_id, "sync", num_envs))
        gym_rate = rates.get((env_id, "gymnasium", num_envs))
        nominal = rates.get((env_id, "native-nominal", num_envs))
        ratio = native / sync if sync else float("nan")
        gym_ratio = f"{nominal / gym_rate:.2f} (nominal task) / {native / gym_rate:.2f} (test set)" if gym_rate else ""
        lines.append(f"| {env_id} | {num_envs} | {native:,.0f} | {sync:,.0f} | {ratio:.1f} | {gym_ratio} |"
                     if sync else f"| {env_id} | {num_envs} | {native:,.0f} | | | {gym_ratio} |")
        if num_envs == TARGET_NUM_ENVS and sync and ratio < SYNC_TARGET:
            missed.append(f"{env_id}: native/sync = {ratio:.1f} < {SYNC_TARGET} at {num_envs} sub-envs")
        if gym_rate and nominal < gym_rate:
            missed.append(f"{env_id}: slower than CartPoleVectorEnv at {num_envs} sub-envs "
                          f"({nominal:,.0f} < {gym_rate:,.0f} steps/s, nominal task)")
    return lines, missed


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    lines, missed = report(steps_per_second(Path(argv[0])))
    print("\n".join(lines))
    for line in missed:
        print(f"TARGET MISSED: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
