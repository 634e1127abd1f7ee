"""Returns, advantages and the linear feature baseline, written once.

Arrays are indexed (..., time) with a boolean `mask` of the steps that happened; episodes never
continue past their last masked step (the sampler runs one episode per sub-env).

- `discounted_returns`: reward-to-go R^h = Σ_{l≥h} γ^{l−h} r_l, or with `from_start=True` the
  GPOMDP form Σ_{l≥h} γ^l r_l of MEMRL eq. (8b) / SG-MRL eq. (4) (discount counted from t = 0).
- `gae`: generalized advantage estimation. At a *terminated* step the next value is 0; at a
  *truncated* step it is V(final observation) (bootstrapping). The two flags arrive separately
  and are never merged.
- `LinearFeatureBaseline`: ridge regression of returns on the features of rllab / pytorch-maml-rl
  [obs, obs², t/100, (t/100)², (t/100)³, 1] (observations clipped to ±10 as in rllab and ProMP),
  regularisation 1e-5, multiplied by 10 on a singular system; fitted per task.
- `normalize`: advantages to zero mean and unit std over the masked steps of each task.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LinearFeatureBaseline", "discounted_returns", "gae", "normalize"]


def discounted_returns(rewards: np.ndarray, mask: np.ndarray, discount: float, *,
                       from_start: bool = False) -> np.ndarray:
    """Reward-to-go along the last axis (zero on masked-out steps)."""
    rewards = np.where(mask, rewards, 0.0)
    out = np.zeros_like(rewards, dtype=np.float64)
    running = np.zeros(rewards.shape[:-1])
    for t in range(rewards.shape[-1] - 1, -1, -1):
        running = rewards[..., t] + discount * running
        out[..., t] = running
    if from_start:
        out = out * discount ** np.arange(rewards.shape[-1])
    return np.where(mask, out, 0.0)


def gae(rewards: np.ndarray, values: np.ndarray, final_values: np.ndarray, mask: np.ndarray,
        terminated: np.ndarray, truncated: np.ndarray, discount: float, gae_lambda: float) -> np.ndarray:
    """Advantages A_t = Σ_k (γλ)^k δ_{t+k}, δ_t = r_t + γ V_{t+1} − V_t, with V_{t+1} = 0 after a
    terminated step and V(final observation) after a truncated one. `final_values` has the
    shape of `rewards` without the time axis."""
    horizon = rewards.shape[-1]
    next_values = np.concatenate([values[..., 1:], np.zeros_like(values[..., :1])], axis=-1)
    next_values = np.where(truncated, final_values[..., None], next_values)
    next_values = np.where(terminated, 0.0, next_values)
    deltas = np.where(mask, rewards + discount * next_values - values, 0.0)
    advantages = np.zeros_like(deltas)
    running = np.zeros(deltas.shape[:-1])
    for t in range(horizon - 1, -1, -1):
        running = deltas[..., t] + discount * gae_lambda * running
        advantages[..., t] = running
    return np.where(mask, advantages, 0.0)


def normalize(advantages: np.ndarray, mask: np.ndarray, axes: tuple[int, ...] = (1, 2),
              epsilon: float = 1e-8) -> np.ndarray:
    """Zero mean, unit std over the masked entries of `axes` (default: per task of (T, E, H))."""
    count = mask.sum(axis=axes, keepdims=True)
    mean = np.where(mask, advantages, 0.0).sum(axis=axes, keepdims=True) / count
    var = np.where(mask, (advantages - mean) ** 2, 0.0).sum(axis=axes, keepdims=True) / count
    return np.where(mask, (advantages - mean) / (np.sqrt(var) + epsilon), 0.0)


class LinearFeatureBaseline:
    """V(s_t) ≈ φ(s_t, t)·c, one coefficient vector per task (leading axis)."""

    def __init__(self, reg_coeff: float = 1e-5, obs_clip: float = 10.0):
        self.reg_coeff = reg_coeff
        self.obs_clip = obs_clip

    def features(self, observations: np.ndarray, times: np.ndarray) -> np.ndarray:
        """φ for observations (..., obs_dim) at integer times (...)."""
        obs = np.clip(observations.astype(np.float64), -self.obs_clip, self.obs_clip)
        t = (times / 100.0)[..., None]
        return np.concatenate([obs, obs**2, t, t**2, t**3, np.ones_like(t)], axis=-1)

    def fit(self, observations: np.ndarray, returns: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Coefficients (T, F) from (T, E, H, obs_dim) observations and (T, E, H) returns."""
        times = np.broadcast_to(np.arange(mask.shape[-1]), mask.shape)
        phi = self.features(observations, times) * mask[..., None]
        phi = phi.reshape(phi.shape[0], -1, phi.shape[-1])
        target = (returns * mask).reshape(returns.shape[0], -1)
        gram = np.einsum("tnf,tng->tfg", phi, phi)
        rhs = np.einsum("tnf,tn->tf", phi, target)
        identity = np.eye(gram.shape[-1])
        reg = self.reg_coeff
        for _ in range(5):
            try:
                coeffs = np.linalg.solve(gram + reg * identity, rhs[..., None])[..., 0]
            except np.linalg.LinAlgError:
                coeffs = np.full(rhs.shape, np.nan)
            if np.all(np.isfinite(coeffs)):
                return coeffs
            reg *= 10
        raise FloatingPointError("LinearFeatureBaseline.fit: singular system at every regularisation tried")

    def predict(self, coeffs: np.ndarray, observations: np.ndarray, times: np.ndarray) -> np.ndarray:
        """V for observations (T, ..., obs_dim) at times (T, ...)."""
        phi = self.features(observations, times)
        return np.einsum("t...f,tf->t...", phi, coeffs)

    def values(self, observations: np.ndarray, returns: np.ndarray, mask: np.ndarray,
               final_observations: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fit on the batch and return (V per step (T, E, H), V of the final observations (T, E))."""
        coeffs = self.fit(observations, returns, mask)
        times = np.broadcast_to(np.arange(mask.shape[-1]), mask.shape)
        values = np.where(mask, self.predict(coeffs, observations, times), 0.0)
        return values, self.predict(coeffs, final_observations, lengths)
