"""Hypothesis strategies for hostile JSON files and env inputs.

`mutated_json(document)` draws a mutation of a valid JSON document: a value deleted, replaced by an
arbitrary JSON value (huge or non-finite numbers, deep nesting, hostile strings), re-typed, or
re-nested, one to three times; `file_text` then renders it (strict JSON, JSON with NaN/Infinity, or
the text truncated or with a byte flipped). `FUZZ_EXAMPLES` (environment variable) sets the number
of cases per strategy; the default keeps the fuzz tests of the suite well under a minute.
"""

from __future__ import annotations

import copy
import json
import math
import os
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=5000, derandomize="FUZZ_SEED" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
"""the fuzz tests' settings: a case that takes more than 5 s fails (a hang), and the draws are
derandomized unless FUZZ_SEED is set, so CI runs the same cases every time"""

HOSTILE_TEXT = st.sampled_from(["", "../../x", "/tmp/abs", "sub/dir", "<script>alert(1)</script>", "a | b",
                                "two\n# lines", "\x00", "é" * 3, "full", "quick", "iters3", "maml", "pmeta",
                                "MetaRL/Navigation2D-v0", "MetaRL/GridNavigation-v0", "NaN", "sha256:" + "0" * 64])
NUMBERS = st.one_of(st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
                    st.sampled_from([10**400, -(10**19), 2**63, 0, -1, 1]),
                    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e300, -1e300, 1e16, 5e-324]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=8), HOSTILE_TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                             st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                           max_leaves=12)


def paths(value: Any, max_depth: int = 12) -> list[tuple]:
    """Every path (tuple of keys and indices) inside `value` down to `max_depth`, the root included."""
    found, stack = [], [((), value)]
    while stack:
        prefix, inner = stack.pop()
        found.append(prefix)
        if len(prefix) < max_depth and isinstance(inner, dict):
            stack.extend(((*prefix, k), v) for k, v in inner.items())
        elif len(prefix) < max_depth and isinstance(inner, list):
            stack.extend(((*prefix, i), v) for i, v in enumerate(inner))
    return sorted(found, key=repr)


def _get(value: Any, path: tuple) -> Any:
    for part in path:
        value = value[part]
    return value


def _retype(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return [value]
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return 0


@st.composite
def mutated_json(draw: st.DrawFn, document: dict) -> Any:
    """`document` with one to three mutations (see the module docstring)."""
    data = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(data)))
        op = draw(st.sampled_from(["delete", "replace", "retype", "nest", "deep", "number", "text", "duplicate"]))
        if not path:
            if op in ("replace", "retype"):
                data = draw(JSON_VALUES) if op == "replace" else _retype(data)
            continue
        parent, key = _get(data, path[:-1]), path[-1]
        old = parent[key]
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(JSON_VALUES)
        elif op == "retype":
            parent[key] = _retype(old)
        elif op == "nest":
            parent[key] = draw(st.sampled_from([[old], {"value": old}]))
        elif op == "deep":
            value: Any = old
            for _ in range(draw(st.sampled_from([40, 1000, 5000]))):
                value = [value]
            parent[key] = value
            break  # the last mutation: the others would recurse into it
        elif op == "number":
            parent[key] = draw(NUMBERS)
        elif op == "text":
            parent[key] = draw(HOSTILE_TEXT)
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(old))
    return data


@st.composite
def file_text(draw: st.DrawFn, data: Any) -> str:
    """`data` as the text of a file: strict JSON, JSON with NaN/Infinity, truncated, or a character changed."""
    try:
        text = json.dumps(data, allow_nan=True)
    except (RecursionError, ValueError):
        text = "[" * 5000 + "]" * 5000
    form = draw(st.sampled_from(["json", "json", "json", "truncated", "flipped"]))
    if form == "truncated" and text:
        return text[: draw(st.integers(0, len(text) - 1))]
    if form == "flipped" and text:
        at = draw(st.integers(0, len(text) - 1))
        return text[:at] + draw(st.characters()) + text[at + 1:]
    return text


def numbers_as_floats(value: Any) -> Any:
    """`value` with every number as a float (ints and floats read back alike), NaN as None."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        value = float(value)
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: numbers_as_floats(v) for k, v in value.items()}
    return [numbers_as_floats(v) for v in value]


# ------------------------------------------------------------------------------------- env inputs

DTYPES = st.sampled_from(["float64", "float32", "float16", "int64", "int8", "uint8", "bool", "complex128",
                          "U3", "object"])


@st.composite
def actions(draw: st.DrawFn, shape: tuple[int, ...]) -> Any:
    """An action of about the right shape, of any dtype, or something that is not an array."""
    kind = draw(st.sampled_from(["array", "array", "list", "scalar", "other"]))
    if kind == "other":
        return draw(st.one_of(st.none(), st.text(max_size=4), st.dictionaries(st.text(max_size=2), st.integers(),
                                                                                max_size=2), JSON_VALUES))
    if kind == "scalar":
        return draw(st.one_of(NUMBERS, st.complex_numbers(), st.booleans()))
    dims = draw(st.sampled_from([shape, shape, (*shape, 1), shape[:-1], (0,), ()]))
    dtype = draw(DTYPES)
    if dtype == "object":
        array = np.array(draw(st.lists(SCALARS, min_size=1, max_size=3)), dtype=object)
    else:
        array = draw(hnp.arrays(np.dtype(dtype), dims))
    return array.tolist() if kind == "list" else array


SEEDS = st.one_of(st.none(), st.integers(-5, 2**70), st.booleans(), st.floats(), st.text(max_size=3),
                  st.sampled_from([np.int64(3), np.uint8(2), np.float64(1.0)]),
                  st.lists(st.one_of(st.none(), st.integers(-2, 10), st.floats(0, 3)), max_size=4))
