"""Outcome counts of the fuzz tests, written to $FUZZ_STATS (JSON) at the end of the session if set."""

from __future__ import annotations

import collections
import json
import os

import pytest

OUTCOMES: collections.Counter = collections.Counter()


@pytest.fixture(scope="session", autouse=True)
def _write_outcomes():
    yield
    if os.environ.get("FUZZ_STATS"):
        with open(os.environ["FUZZ_STATS"], "w") as stream:
            json.dump(dict(sorted(OUTCOMES.items())), stream, indent=1)
