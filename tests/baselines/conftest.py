"""Fixtures shared by the agent tests."""

import pytest

from tests.benchmarks.quick_results import one_torch_thread as _one_torch_thread


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: one thread avoids oversubscribing a shared 2-core machine (restored afterwards)."""
    with _one_torch_thread():
        yield
