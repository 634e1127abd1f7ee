"""Aggregates across seeds: mean, interquartile mean and a 95 % percentile-bootstrap CI.

The IQM is the mean of the middle 50 % of the values (`scipy.stats.trim_mean(x, 0.25)`, as in
Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice"). The bootstrap resamples
the seeds with replacement from an explicit `np.random.Generator` (seeded, so a report is
reproducible); with fewer than two values there is no interval and `ci` is None.

Across experiments (`aggregate_iqm`, `probability_of_improvement`) the statistics are rliable's
(Agarwal et al. 2021, §4 and Appendix A): the IQM of every (experiment, seed) score pooled, and
P(X > Y) = the mean over experiments of the Mann-Whitney probability that a seed of X beats a seed
of Y (ties count one half), each with a percentile interval from the stratified bootstrap (seeds
resampled with replacement within each experiment). They are written here on numpy rather than
taken from the `rliable` package because rliable takes rectangular (runs × tasks) matrices, and
experiments here have different numbers of seeds; tests check both against rliable where it is
installed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats as scipy_stats

__all__ = ["Summary", "aggregate_iqm", "bootstrap_ci", "iqm", "probability_of_improvement", "stratified_bootstrap_ci",
           "summarize"]

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


def _groups(groups: Sequence[Sequence[float]], where: str) -> list[np.ndarray]:
    arrays = [_as_array(g) for g in groups]
    if not arrays:
        raise ValueError(f"{where}: needs at least one group of scores")
    return arrays


def stratified_bootstrap_ci(groups: Sequence[Sequence[float]], statistic: Callable[[list[np.ndarray]], np.ndarray], *,
                            confidence: float = 0.95, n_resamples: int = DEFAULT_RESAMPLES,
                            rng: np.random.Generator | None = None) -> tuple[float, float] | None:
    """Percentile interval of `statistic` when each group's values (one experiment's seeds) are
    resampled with replacement within the group; None when every group has fewer than 2 values.
    `statistic` is vectorised: it receives one (resamples, group size) array per group and returns one
    value per resample."""
    arrays = _groups(groups, "stratified_bootstrap_ci")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"stratified_bootstrap_ci: confidence={confidence!r} must be in (0, 1)")
    if all(a.size < 2 for a in arrays):
        return None
    rng = np.random.default_rng(DEFAULT_SEED) if rng is None else rng
    draws = statistic([a[rng.integers(0, a.size, (n_resamples, a.size))] for a in arrays])
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)


def _pooled_iqm(arrays: list[np.ndarray]) -> np.ndarray:
    """Per row: `scipy.stats.trim_mean(row, 0.25)` of the groups' rows pooled (int(n/4) values cut from
    each end), vectorised over the bootstrap's resamples."""
    pooled = np.sort(np.concatenate(arrays, axis=1), axis=1)
    cut = int(0.25 * pooled.shape[1])
    return pooled[:, cut:pooled.shape[1] - cut].mean(axis=1)


def aggregate_iqm(groups: Sequence[Sequence[float]], *, rng: np.random.Generator | None = None,
                  n_resamples: int = DEFAULT_RESAMPLES) -> tuple[float, tuple[float, float] | None]:
    """IQM of the scores of every group pooled, and its stratified-bootstrap 95 % interval."""
    arrays = _groups(groups, "aggregate_iqm")
    value = float(_pooled_iqm([a[None, :] for a in arrays])[0])
    return value, stratified_bootstrap_ci(arrays, _pooled_iqm, rng=rng, n_resamples=n_resamples)


def _improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per row, P(X > Y) on one experiment: the fraction of (seed of X, seed of Y) pairs X wins, ties one half."""
    wins = x[:, :, None] > y[:, None, :]
    ties = x[:, :, None] == y[:, None, :]
    return wins.mean(axis=(1, 2)) + 0.5 * ties.mean(axis=(1, 2))


def probability_of_improvement(x: Sequence[Sequence[float]], y: Sequence[Sequence[float]], *,
                               rng: np.random.Generator | None = None, n_resamples: int = DEFAULT_RESAMPLES,
                               ) -> tuple[float, tuple[float, float] | None]:
    """P(X > Y) averaged over experiments (`x[i]`, `y[i]`: the two agents' per-seed scores on experiment i),
    and its stratified-bootstrap 95 % interval (X's and Y's seeds resampled within each experiment)."""
    xs, ys = _groups(x, "probability_of_improvement"), _groups(y, "probability_of_improvement")
    if len(xs) != len(ys):
        raise ValueError(f"probability_of_improvement: x has {len(xs)} experiments, y has {len(ys)}")
    n = len(xs)

    def statistic(arrays: list[np.ndarray]) -> np.ndarray:
        return np.mean([_improvement(arrays[i], arrays[n + i]) for i in range(n)], axis=0)

    both = [*xs, *ys]
    value = float(statistic([a[None, :] for a in both])[0])
    return value, stratified_bootstrap_ci(both, statistic, rng=rng, n_resamples=n_resamples)
