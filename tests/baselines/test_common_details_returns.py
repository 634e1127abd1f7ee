"""Details of `LinearFeatureBaseline` (baselines/common/returns.py) that test_core.py's recovery test
leaves open: the features written out element by element (the clip at ±obs_clip, obs², the time
polynomial in t/100), the fit as the ridge regression of the masked returns, and the retries on a
singular system (regularisation ×10, five tries, then a FloatingPointError with its message)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from baselines.common.returns import LinearFeatureBaseline


def features_by_hand(observation: np.ndarray, time: int, obs_clip: float) -> np.ndarray:
    """φ(s, t) = [clip(s), clip(s)², t/100, (t/100)², (t/100)³, 1] for one step, one number at a time."""
    clipped = [min(max(float(value), -obs_clip), obs_clip) for value in observation]
    scaled = time / 100.0
    return np.array([*clipped, *(value * value for value in clipped), scaled, scaled * scaled,
                     scaled * scaled * scaled, 1.0])


def test_features_clip_each_side_square_and_take_the_cubic_in_t_over_100():
    """Observations are clipped to [−10, 10] on both sides before squaring; the time features are
    t/100, its square and cube; float32 observations give float64 features."""
    observations = np.array([[12.5, -0.5], [-15.0, 3.0], [0.25, 10.0]], dtype=np.float32)
    times = np.array([0, 7, 150])
    got = LinearFeatureBaseline().features(observations, times)
    assert got.dtype == np.float64 and got.shape == (3, 2 * 2 + 4)
    for row, observation, time in zip(got, observations, times, strict=True):
        np.testing.assert_array_equal(row, features_by_hand(observation, int(time), 10.0))
    np.testing.assert_array_equal(got[:, :2], [[10.0, -0.5], [-10.0, 3.0], [0.25, 10.0]])


@settings(max_examples=40, deadline=None)
@given(observations=hnp.arrays(np.float64, (2, 3, 2), elements=st.floats(-40.0, 40.0)),
       times=hnp.arrays(np.int64, (2, 3), elements=st.integers(0, 500)),
       obs_clip=st.floats(0.5, 30.0))
def test_features_match_the_closed_form_for_any_observation_time_and_clip(observations, times, obs_clip):
    """φ matches the element-by-element closed form for any observations, times and clip level."""
    got = LinearFeatureBaseline(obs_clip=obs_clip).features(observations, times)
    for index in np.ndindex(times.shape):
        np.testing.assert_allclose(got[index], features_by_hand(observations[index], int(times[index]), obs_clip),
                                   rtol=1e-14, atol=0)


def ridge_by_least_squares(rows: np.ndarray, targets: np.ndarray, reg: float) -> np.ndarray:
    """argmin_c ‖rows c − targets‖² + reg ‖c‖², as the least-squares solution of the stacked system
    [rows; √reg I] c = [targets; 0] (no normal equations)."""
    stacked = np.vstack([rows, np.sqrt(reg) * np.eye(rows.shape[1])])
    return np.linalg.lstsq(stacked, np.concatenate([targets, np.zeros(rows.shape[1])]), rcond=None)[0]


@pytest.mark.parametrize("reg_coeff", [1e-5, 0.3])
def test_fit_is_the_ridge_regression_of_the_masked_returns_on_the_features(reg_coeff):
    """Per task, the coefficients minimise Σ_masked (φ·c − R)² + reg‖c‖² over the masked steps only
    (unmasked steps, whatever their observations and returns, take no part)."""
    rng = np.random.default_rng(4)
    tasks, episodes, horizon, obs_dim = 2, 3, 6, 2
    observations = rng.normal(size=(tasks, episodes, horizon, obs_dim)) * 3
    returns = rng.normal(size=(tasks, episodes, horizon))
    mask = np.arange(horizon) < rng.integers(2, horizon + 1, size=(tasks, episodes, 1))
    observations[~mask], returns[~mask] = 1e3, 1e3     # would dominate the fit if they took part
    got = LinearFeatureBaseline(reg_coeff=reg_coeff).fit(observations, returns, mask)
    assert got.shape == (tasks, 2 * obs_dim + 4)
    for task in range(tasks):
        steps = list(zip(*np.nonzero(mask[task]), strict=True))
        rows = np.array([features_by_hand(observations[task, e, h], int(h), 10.0) for e, h in steps])
        targets = np.array([returns[task, e, h] for e, h in steps])
        np.testing.assert_allclose(got[task], ridge_by_least_squares(rows, targets, reg_coeff), rtol=1e-7, atol=1e-9)


def singular_until_the_regularisation_shows():
    """Two masked steps at t = 0 whose first observation is 1: the columns obs₀, obs₀² and 1 are equal,
    so the Gram matrix has three equal rows (diagonal 2) and is exactly singular while the
    regularisation r is lost in 2 + r (r < 2.2e-16). The second observation is ±a with 2a² = 1e-15,
    orthogonal to every other column, so its ridge coefficient is a (R₁ − R₂) / (2a² + r)."""
    a = np.sqrt(0.5e-15)
    observations = np.array([[[[1.0, a]], [[1.0, -a]]]])
    returns = np.array([[[3.0], [1.0]]])
    return observations, returns, np.ones((1, 2, 1), dtype=bool), a


def test_fit_retries_a_singular_system_with_ten_times_the_regularisation():
    """Starting at 1e-19 the tries 1e-19 … 1e-16 are singular and the fifth, 1e-15 (= 2a²), solves:
    the ±a coefficient is a (R₁ − R₂) / (2a² + 1e-15) and the values are the mean ± half the spread."""
    observations, returns, mask, a = singular_until_the_regularisation_shows()
    baseline = LinearFeatureBaseline(reg_coeff=1e-19)
    coeffs = baseline.fit(observations, returns, mask)
    assert np.all(np.isfinite(coeffs))
    assert coeffs[0, 1] == pytest.approx(a * (3.0 - 1.0) / (2 * a * a + 1e-15), rel=1e-12)
    values = baseline.predict(coeffs, observations, np.zeros((1, 2, 1), dtype=int))
    np.testing.assert_allclose(values, [[[2.5], [1.5]]], rtol=0, atol=1e-9)


def test_fit_gives_up_after_five_regularisations_with_its_message():
    """From 1e-20 the five tries (1e-20 … 1e-16) are all singular: FloatingPointError, although a
    sixth (1e-15) would have solved (as the fit from 1e-19 shows)."""
    observations, returns, mask, _ = singular_until_the_regularisation_shows()
    with pytest.raises(FloatingPointError,
                       match=r"^LinearFeatureBaseline\.fit: singular system at every regularisation tried$"):
        LinearFeatureBaseline(reg_coeff=1e-20).fit(observations, returns, mask)
    assert np.all(np.isfinite(LinearFeatureBaseline(reg_coeff=1e-19).fit(observations, returns, mask)))
