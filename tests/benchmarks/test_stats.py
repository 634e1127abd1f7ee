from __future__ import annotations

import numpy as np
import pytest

from benchmarks.stats import bootstrap_ci, iqm, summarize


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    assert iqm([1, 2, 3, 4, 5, 6, 7, 8]) == pytest.approx(4.5)  # mean of 3, 4, 5, 6
    assert iqm([1, 2, 3, 4, 5, 6, 7, 1000]) == pytest.approx(4.5)  # an outlier does not move it
    assert iqm([2.0, 2.0, 2.0]) == pytest.approx(2.0)


def test_bootstrap_ci_contains_the_mean_and_shrinks_with_n() -> None:
    data = np.random.default_rng(7).normal(loc=3.0, scale=2.0, size=1000)
    widths = []
    for n in (10, 100, 1000):
        low, high = bootstrap_ci(data[:n], rng=np.random.default_rng(0))
        assert low < data[:n].mean() < high
        widths.append(high - low)
    assert widths[0] > 2 * widths[1] > 4 * widths[2]
    # √n scaling: at n=1000 the 95 % half-width is about 1.96·σ/√n ≈ 0.124
    assert widths[2] / 2 == pytest.approx(1.96 * 2.0 / np.sqrt(1000), rel=0.15)


def test_bootstrap_is_reproducible_from_its_generator() -> None:
    data = [1.0, 4.0, 2.0, 8.0, 5.0]
    assert bootstrap_ci(data, rng=np.random.default_rng(3)) == bootstrap_ci(data, rng=np.random.default_rng(3))


def test_summary_of_one_seed_has_no_interval_and_bad_input_fails() -> None:
    one = summarize([-12.5])
    assert (one.n, one.mean, one.iqm, one.ci, one.ci_half_width) == (1, -12.5, -12.5, None, None)
    assert summarize([1.0, 1.0]).ci == (1.0, 1.0)
    with pytest.raises(ValueError, match="finite"):
        summarize([1.0, float("nan")])
    with pytest.raises(ValueError, match="non-empty"):
        summarize([])
