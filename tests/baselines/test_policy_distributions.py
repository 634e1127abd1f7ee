"""The policies' distributions against torch.distributions: log-probabilities, KL(old ‖ new) per step
(TRPO's constraint) and the mode (the deterministic action), on a batch of (task, episode, time)
observations with non-default sizes and parameters."""

import torch
from torch.distributions import Categorical, Normal, kl_divergence

from baselines.common.policies import CategoricalMLPPolicy, GaussianMLPPolicy, detach


def _perturbed(policy: torch.nn.Module, scale: float, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {name: (p + scale * torch.randn(p.shape, generator=generator)).detach()
            for name, p in detach(dict(policy.named_parameters())).items()}


def test_categorical_log_prob_kl_and_mode():
    torch.manual_seed(0)
    policy = CategoricalMLPPolicy(3, 5, hidden_sizes=(7,))
    obs = torch.randn(2, 4, 6, 3, generator=torch.Generator().manual_seed(1))
    old, new = _perturbed(policy, 0.5, 2), _perturbed(policy, 0.5, 3)
    old_dist, new_dist = policy.dist_params(old, obs), policy.dist_params(new, obs)
    reference_old, reference_new = Categorical(logits=old_dist[0]), Categorical(logits=new_dist[0])
    torch.testing.assert_close(reference_old.probs.sum(-1), torch.ones(2, 4, 6))
    kl = policy.kl(old_dist, new_dist)
    assert kl.shape == (2, 4, 6)
    torch.testing.assert_close(kl, kl_divergence(reference_old, reference_new))
    actions = torch.randint(0, 5, (2, 4, 6), generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(policy.log_prob(old, obs, actions), reference_old.log_prob(actions))
    mode = policy.mode(old, obs)
    assert mode.shape == (2, 4, 6)
    torch.testing.assert_close(mode, reference_old.probs.argmax(-1))
    assert len(set(mode.flatten().tolist())) > 1, "the batch must have more than one greedy action"


def test_gaussian_log_prob_kl_and_mode():
    torch.manual_seed(0)
    policy = GaussianMLPPolicy(3, 2, hidden_sizes=(7,), init_std=0.7)
    obs = torch.randn(2, 4, 6, 3, generator=torch.Generator().manual_seed(1))
    old, new = _perturbed(policy, 0.3, 2), _perturbed(policy, 0.3, 3)
    (m0, s0), (m1, s1) = policy.dist_params(old, obs), policy.dist_params(new, obs)
    assert not torch.allclose(s0, s1) and not torch.allclose(m0, m1)
    reference_old, reference_new = Normal(m0, s0.exp()), Normal(m1, s1.exp())
    torch.testing.assert_close(policy.kl((m0, s0), (m1, s1)), kl_divergence(reference_old, reference_new).sum(-1))
    actions = torch.randn(2, 4, 6, 2, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(policy.log_prob(old, obs, actions), reference_old.log_prob(actions).sum(-1))
    torch.testing.assert_close(policy.mode(old, obs), m0)
