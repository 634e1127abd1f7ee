"""Library code never touches a global RNG (STYLE R5) and never validates with assert (R9)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GLOBAL_NUMPY_CALLS = {"seed", "uniform", "choice", "normal", "rand", "randn", "randint", "shuffle", "permutation",
                      "random", "binomial", "integers"}


def library_files():
    for package in ("metarl_envs", "baselines", "benchmarks"):
        yield from (ROOT / package).rglob("*.py")


def global_rng_uses(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value  # np.random.<fn>(...) or torch.manual_seed(...)
            if (node.func.attr in GLOBAL_NUMPY_CALLS and isinstance(owner, ast.Attribute) and owner.attr == "random"
                    and isinstance(owner.value, ast.Name) and owner.value.id in {"np", "numpy"}):
                lines.append(node.lineno)
            if node.func.attr == "manual_seed" and isinstance(owner, ast.Name) and owner.id == "torch":
                lines.append(node.lineno)
        if isinstance(node, ast.Import) and any(alias.name == "random" for alias in node.names):
            lines.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and node.module == "random":
            lines.append(node.lineno)
    return sorted(lines)


def test_no_global_rng_in_library_code():
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in library_files()
                 for n in global_rng_uses(ast.parse(path.read_text()))]
    assert not offenders, offenders


def test_the_rng_check_catches_a_global_draw():
    assert global_rng_uses(ast.parse("import numpy as np\nx = np.random.uniform(0, 1)\nimport random")) == [2, 3]


def test_no_assert_in_library_code():
    offenders = [f"{path.relative_to(ROOT)}:{node.lineno}" for path in library_files() if "perf" not in path.parts
                 for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Assert)]
    assert not offenders, offenders
