"""A Gaussian policy with `action_scale` is the normalised-env map: samples scale, log-probs shift by
a constant, and the policy gradient is unchanged."""

import math

import torch

from baselines.common.policies import GaussianMLPPolicy


def test_action_scale_is_a_linear_map_of_the_policy_space():
    torch.manual_seed(0)  # test-only: the module's weights
    plain = GaussianMLPPolicy(2, 2, (8,), init_std=1.0)
    scaled = GaussianMLPPolicy(2, 2, (8,), init_std=1.0, action_scale=0.01)
    scaled.load_state_dict(plain.state_dict())
    obs = torch.randn(5, 2)
    a_plain = plain.sample(plain.meta_params(), obs, torch.Generator().manual_seed(3))
    a_scaled = scaled.sample(scaled.meta_params(), obs, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a_scaled, 0.01 * a_plain)

    def logp(policy, actions):
        params = {k: v.clone().requires_grad_(True) for k, v in policy.meta_params().items()}
        value = policy.log_prob_from(policy.dist_params(params, obs), actions).sum()
        return value, torch.autograd.grad(value, list(params.values()))

    value_plain, grads_plain = logp(plain, a_plain)
    value_scaled, grads_scaled = logp(scaled, a_scaled)
    torch.testing.assert_close(value_scaled, value_plain - 5 * 2 * math.log(0.01))
    for g_plain, g_scaled in zip(grads_plain, grads_scaled, strict=True):
        torch.testing.assert_close(g_scaled, g_plain)
