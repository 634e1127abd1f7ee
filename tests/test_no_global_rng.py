"""Library code never touches a global RNG (STYLE R5) and never validates with assert (R9)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GLOBAL_RNG = re.compile(r"np\.random\.(seed|uniform|choice|normal|rand|randn|randint|shuffle|permutation)\(|"
                        r"^import random|^from random import|torch\.manual_seed\(")
ASSERT = re.compile(r"^\s*assert ")


def library_files():
    for package in ("metarl_envs", "baselines", "benchmarks"):
        yield from (ROOT / package).rglob("*.py")


def test_no_global_rng_in_library_code():
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in library_files()
                 for n, line in enumerate(path.read_text().splitlines(), 1) if GLOBAL_RNG.search(line)]
    assert not offenders, offenders


def test_no_assert_in_library_code():
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in library_files() if "perf" not in path.parts
                 for n, line in enumerate(path.read_text().splitlines(), 1) if ASSERT.match(line)]
    assert not offenders, offenders
