"""Exactness tests of the meta-gradient estimators on a tiny MDP whose objectives are enumerable.

The MDP: a start state s0; action a0 ∈ {0, 1} leads to s_{1+a0}; one more action a1 ends the
episode (horizon 2). Observations are one-hot states; the policy is the library's categorical
policy with no hidden layer (a softmax-linear policy). Two tasks differ in their rewards. With
2 trajectories per batch every batch of 4² = 16 possibilities can be enumerated, so J(θ),
V_1(θ) = E_{D_in}[J(θ + α∇̃J(θ, D_in))] and their gradients are exact (torch autograd). The
estimators under test are the agents' own functions (`estimators.meta_objective`, `estimators.policy_gradients`,
`sgmrl.score_coefficients`, `memrl.moreau_inner_update`, `memrl.meta_gradient`), fed with batches
sampled here by hand.
"""

import itertools

import numpy as np
import pytest
import torch

from baselines.common import estimators, training
from baselines.common.policies import CategoricalMLPPolicy, detach, flat
from baselines.common.sampler import TrajectoryBatch
from baselines.memrl import meta_gradient, moreau_inner_update
from baselines.sgmrl import SGMRLConfig, score_coefficients

GAMMA = 0.9
REWARDS = {  # task -> r[s, a] (state 0 = start, 1 and 2 = after a0 = 0 / 1)
    "A": np.array([[1.0, 0.0], [0.0, 2.0], [1.5, 0.0]]),
    "B": np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 0.5]]),
}
EYE = np.eye(3, dtype=np.float32)
TRAJECTORIES = list(itertools.product((0, 1), repeat=2))  # (a0, a1)
torch.set_num_threads(1)
EXACT_SPEC = SGMRLConfig(mode="exact", discount=GAMMA).weight_spec


def make_policy(seed: int = 0) -> tuple[CategoricalMLPPolicy, dict]:
    policy = CategoricalMLPPolicy(3, 2, hidden_sizes=())
    generator = torch.Generator().manual_seed(seed)
    training.reset_parameters(policy, generator)
    return policy, detach(policy.meta_params())


def batch_of(actions: np.ndarray, task: str) -> TrajectoryBatch:
    """A TrajectoryBatch (T, E, 2) from actions (T, E, 2) on `task`."""
    states = np.stack([np.zeros_like(actions[..., 0]), 1 + actions[..., 0]], axis=-1)
    rewards = REWARDS[task][states, actions]
    shape = actions.shape
    truncated = np.zeros(shape, dtype=bool)
    truncated[..., 1] = True
    return TrajectoryBatch(EYE[states], actions.astype(np.int64), rewards, np.ones(shape, dtype=bool),
                           np.zeros(shape, dtype=bool), truncated, EYE[np.zeros(shape[:2], dtype=int)])


def state_probs(policy, params) -> torch.Tensor:
    """π(a|s) for the 3 states: (3, 2), or (T, 3, 2) for a list of T parameter sets."""
    dtype = next(iter((params if isinstance(params, dict) else params[0]).values())).dtype
    eye = torch.as_tensor(EYE, dtype=dtype)
    obs = eye if isinstance(params, dict) else eye.expand(len(params), 3, 3)
    return policy.dist_params(params, obs)[0].exp()


def exact_return(policy, params, task: str) -> torch.Tensor:
    """J(θ) = Σ_τ π(τ; θ) Σ_h γ^h r_h, differentiable (params may be one dict or a list)."""
    probs = state_probs(policy, params)
    total = 0.0
    for a0, a1 in TRAJECTORIES:
        p = probs[..., 0, a0] * probs[..., 1 + a0, a1]
        total = total + p * float(REWARDS[task][0, a0] + GAMMA * REWARDS[task][1 + a0, a1])
    return total


def sample_actions(policy, params, n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(n, size, 2) actions; `params` one dict or a list of n dicts."""
    with torch.no_grad():
        probs = state_probs(policy, params).numpy()
    probs = np.broadcast_to(probs, (n, 3, 2))
    a0 = (rng.random((n, size)) > probs[:, None, 0, 0]).astype(int)
    p1 = np.take_along_axis(probs[:, :, 0], 1 + a0, axis=1)
    a1 = (rng.random((n, size)) > p1).astype(int)
    return np.stack([a0, a1], axis=-1)


def exact_v1_gradient(policy, theta, task: str, inner_lr: float) -> torch.Tensor:
    """∇V_1 with V_1(θ) = Σ_{D_in} q(D_in; θ) J(θ + α∇̃J(θ, D_in)) over all 16 batches of size 2."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
    batches = np.array([[TRAJECTORIES[i], TRAJECTORIES[j]] for i in range(4) for j in range(4)])
    batch = batch_of(batches, task)
    tensors = estimators.BatchTensors.of(batch)
    step_weights = estimators.as_weights(estimators.weights(batch, EXACT_SPEC))
    adapted = estimators.inner_step(policy, leaves, tensors, step_weights, inner_lr, "episode_sum")
    log_q = policy.log_prob(leaves, tensors.observations, tensors.actions).sum(dim=(-1, -2))  # (16,)
    values = exact_return(policy, adapted, task)
    v1 = (log_q.exp() * values).sum()
    return flat(torch.autograd.grad(v1, list(leaves.values())))


def estimator_chunks(policy, theta, task: str, inner_lr: float, with_score: bool, rng: np.random.Generator,
                     chunks: int = 25, per_chunk: int = 400) -> np.ndarray:
    """`chunks` independent means of the outer estimate (each over `per_chunk` samples), flat."""
    config = SGMRLConfig(mode="exact", discount=GAMMA, inner_lr=inner_lr)
    means = []
    for _ in range(chunks):
        inner_batch = batch_of(sample_actions(policy, theta, per_chunk, 2, rng), task)
        inner = [estimators.StepData.of(inner_batch, EXACT_SPEC)]
        adapted = [detach(p) for p in estimators.inner_step(policy, theta, *inner[0], inner_lr, "episode_sum",
                                                            first_order=True)]
        outer_batch = batch_of(sample_actions(policy, adapted, per_chunk, 2, rng), task)
        outer = estimators.StepData.of(outer_batch, EXACT_SPEC)
        coefficients = [score_coefficients(outer_batch, config)] if with_score else None
        leaves = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
        objective = estimators.meta_objective(policy, leaves, inner, outer, inner_lr, "episode_sum",
                                              score_coefficients=coefficients).mean()
        means.append(flat(torch.autograd.grad(objective, list(leaves.values()))).numpy())
    return np.array(means)


@pytest.mark.parametrize("task", ["A", "B"])
def test_sgmrl_estimate_is_unbiased_and_maml_is_not(task):
    torch.set_num_threads(1)
    policy, theta = make_policy(seed=3)
    inner_lr = 1.0
    exact = exact_v1_gradient(policy, theta, task, inner_lr).numpy()
    rng = np.random.default_rng(0 if task == "A" else 1)
    for with_score in (True, False):
        chunks = estimator_chunks(policy, theta, task, inner_lr, with_score, rng)
        mean, se = chunks.mean(0), chunks.std(0, ddof=1) / np.sqrt(len(chunks))
        z = np.abs(mean - exact) / np.maximum(se, 1e-9)
        if with_score:  # SG-MRL: within ±4.5 standard errors on every coordinate
            assert z.max() < 4.5, (mean, exact, se)
        else:  # MAML's estimator (no score term): measurably biased for V_1
            assert z.max() > 8.0, (mean, exact, se)


def test_score_term_is_active():
    """The coefficient is the raw return estimate, not a normalised advantage (≈ 0 in the released code)."""
    policy, theta = make_policy()
    batch = batch_of(sample_actions(policy, theta, 4, 10, np.random.default_rng(0)), "A")
    coefficients = score_coefficients(batch, SGMRLConfig(mode="exact", discount=GAMMA))
    np.testing.assert_allclose(coefficients.numpy(), batch.episode_returns(GAMMA).mean(axis=1), rtol=1e-6)
    assert np.all(np.abs(coefficients.numpy()) > 0.1)


def test_policy_gradient_estimate_is_unbiased():
    """GPOMDP with γ^l from t = 0 (MEMRL eq. (8), SG-MRL eq. (4)) against the exact ∇J."""
    policy, theta = make_policy(seed=1)
    leaves = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
    exact = flat(torch.autograd.grad(exact_return(policy, leaves, "A"), list(leaves.values()))).numpy()
    batch = batch_of(sample_actions(policy, theta, 50, 400, np.random.default_rng(2)), "A")
    gradients, _ = estimators.policy_gradients(policy, theta, estimators.BatchTensors.of(batch),
                                       estimators.as_weights(estimators.weights(batch, EXACT_SPEC)), "episode_sum")
    per_chunk = torch.cat([g.detach().reshape(50, -1) for g in gradients.values()], dim=1).numpy()
    mean, se = per_chunk.mean(0), per_chunk.std(0, ddof=1) / np.sqrt(50)
    assert np.max(np.abs(mean - exact) / np.maximum(se, 1e-9)) < 4.5


def test_memrl_meta_gradient_is_lambda_times_prox_offset():
    """At the inner optimum θ̂(w), λ(θ̂ − w) equals ∇V(w) of the Moreau envelope (eq. (13)),
    checked against central finite differences of V(w) = max_θ J(θ) − λ/2‖θ − w‖²."""
    policy, w = make_policy(seed=2)
    moreau_lambda, inner_lr = 5.0, 0.18  # contraction ≈ 1 − βλ = 0.1 per step

    def solve(anchor):
        theta = dict(anchor)
        for _ in range(60):
            leaves = {k: v.clone().requires_grad_(True) for k, v in theta.items()}
            grads = torch.autograd.grad(exact_return(policy, leaves, "B"), list(leaves.values()))
            theta = moreau_inner_update(theta, anchor, dict(zip(theta, grads, strict=True)), inner_lr, moreau_lambda)
        return theta

    def envelope(anchor):
        theta = solve(anchor)
        distance = sum(((theta[k] - anchor[k]) ** 2).sum() for k in anchor)
        return float(exact_return(policy, theta, "B") - moreau_lambda / 2 * distance)

    w = {k: v.double() for k, v in w.items()}
    policy = policy.double()
    theta_hat = solve(w)
    estimate = flat(list(meta_gradient([theta_hat], w, moreau_lambda).values())).numpy()
    eps, finite = 1e-4, []
    for name in w:
        for index in range(w[name].numel()):
            shifted = [{k: v.clone() for k, v in w.items()} for _ in range(2)]
            shifted[0][name].view(-1)[index] += eps
            shifted[1][name].view(-1)[index] -= eps
            finite.append((envelope(shifted[0]) - envelope(shifted[1])) / (2 * eps))
    np.testing.assert_allclose(estimate, finite, atol=1e-5)
    assert np.linalg.norm(estimate) > 1e-2  # not trivially zero
