"""Aggregates across seeds: mean, interquartile mean and a 95 % percentile-bootstrap CI.

The IQM is the mean of the middle 50 % of the values (`scipy.stats.trim_mean(x, 0.25)`, as in
Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice"). The bootstrap resamples
the seeds with replacement from an explicit `np.random.Generator` (seeded, so a report is
reproducible); with fewer than two values there is no interval and `ci` is None.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats as scipy_stats

__all__ = ["Summary", "bootstrap_ci", "iqm", "summarize"]

DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0


def _as_array(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"stats: values must be a non-empty 1-D sequence, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError("stats: values must be finite")
    return array


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: the mean after trimming 25 % from each end."""
    return float(scipy_stats.trim_mean(_as_array(values), 0.25))


def bootstrap_ci(values: Sequence[float], *, statistic: Callable[..., np.ndarray] = np.mean,
                 confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                 rng: np.random.Generator | None = None) -> tuple[float, float] | None:
    """Percentile-bootstrap interval of `statistic(x, axis=...)` over `values` (None for fewer than 2 values)."""
    array = _as_array(values)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"bootstrap_ci: confidence={confidence!r} must be in (0, 1)")
    if array.size < 2:
        return None
    if np.all(array == array[0]):
        return float(array[0]), float(array[0])
    rng = np.random.default_rng(DEFAULT_SEED) if rng is None else rng
    result = scipy_stats.bootstrap((array,), statistic,
                                   confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                                   vectorized=True, rng=rng)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@dataclasses.dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    iqm: float
    ci: tuple[float, float] | None
    """95 % bootstrap interval of the mean (None when n < 2)"""

    @property
    def ci_half_width(self) -> float | None:
        return None if self.ci is None else (self.ci[1] - self.ci[0]) / 2


def summarize(values: Sequence[float], *, rng: np.random.Generator | None = None) -> Summary:
    array = _as_array(values)
    return Summary(n=int(array.size), mean=float(array.mean()), iqm=iqm(array), ci=bootstrap_ci(array, rng=rng))
