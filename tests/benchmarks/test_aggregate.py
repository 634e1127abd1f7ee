"""The across-experiment aggregate (rliable's IQM and probability of improvement), checked against rliable."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.stats import aggregate_iqm, probability_of_improvement, stratified_bootstrap_ci


def test_probability_of_improvement_counts_wins_and_half_ties() -> None:
    assert probability_of_improvement([[2.0, 3.0]], [[1.0, 1.5]])[0] == 1.0
    assert probability_of_improvement([[1.0]], [[1.0]])[0] == 0.5
    # experiment 1: 1 of 4 pairs won, one tie (0.25 + 0.125); experiment 2: all won → mean 0.6875
    value, ci = probability_of_improvement([[1.0, 3.0], [5.0]], [[2.0, 3.0], [0.0, 1.0]])
    assert value == pytest.approx((0.25 + 0.125 + 1.0) / 2)
    assert ci is not None and ci[0] <= value <= ci[1]


def test_aggregate_iqm_pools_ragged_experiments_and_trims_outliers() -> None:
    value, ci = aggregate_iqm([[0.1, 0.2, 0.3], [0.4, 100.0], [0.5, 0.6, -50.0]])
    assert value == pytest.approx(np.mean([0.2, 0.3, 0.4, 0.5]))
    assert ci is not None and ci[0] <= value <= ci[1]
    assert aggregate_iqm([[1.0], [2.0]])[1] is None  # one seed per experiment: nothing to resample


def test_stratified_bootstrap_keeps_each_experiment_apart() -> None:
    # resampling within groups never mixes them: group means stay inside their own range
    low, high = stratified_bootstrap_ci([[0.0, 1.0], [10.0, 11.0]], lambda a: a[1].mean(axis=1) - a[0].mean(axis=1),
                                        rng=np.random.default_rng(1))
    assert 9.0 <= low <= high <= 11.0
    with pytest.raises(ValueError, match="at least one group"):
        stratified_bootstrap_ci([], lambda a: np.zeros(1))


def test_agrees_with_rliable_on_rectangular_scores() -> None:
    metrics = pytest.importorskip("rliable.metrics")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 4)), rng.normal(0.3, 1.0, size=(5, 4))  # 5 seeds × 4 experiments
    assert aggregate_iqm(x.T.tolist())[0] == pytest.approx(float(metrics.aggregate_iqm(x)))
    assert probability_of_improvement(x.T.tolist(), y.T.tolist())[0] == pytest.approx(
        float(metrics.probability_of_improvement(x, y)))
