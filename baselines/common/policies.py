"""MLP policies with functional parameters.

A policy is an `nn.Module` whose weights are the *meta*-parameters. Inner loops never touch the
module: they hold `Params` (a dict name → tensor, as `dict(module.named_parameters())`) and
evaluate the network with `policy.head(params, obs)` (≡ `torch.func.functional_call`), so an adapted copy
is just another dict, differentiable with respect to the dict it was computed from.

- `CategoricalMLPPolicy`: logits = MLP(obs · obs_scale) over `Discrete(n)`.
- `GaussianMLPPolicy`: mean = MLP(obs · obs_scale), a state-independent learned log-std (part
  of the adapted parameters, as in pytorch-maml-rl and ProMP), std floored at `min_std`.

`distribution(params, obs)` accepts one `Params` (shared by every leading index) or a
`Sequence[Params]` with one entry per task, in which case `obs` has shape (task, ...) and the
per-task networks are evaluated together, one batched matmul per layer. `rollout_sampler` fixes the
parameters of one rollout so that the per-step forward pass lays nothing out again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from gymnasium import spaces
from torch import nn

__all__ = ["CategoricalMLPPolicy", "GaussianMLPPolicy", "Params", "Policy", "StackedParams", "build_policy", "detach",
           "flat"]

Params = dict[str, torch.Tensor]
ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "tanh": (torch.tanh, torch.tanh_), "relu": (torch.relu, torch.relu_)}
"""name → (activation, its in-place form)"""
Layer = tuple[torch.Tensor, torch.Tensor]
"""(weight, bias) of one affine layer, in the layout its `linear` op reads"""


def detach(params: Mapping[str, torch.Tensor]) -> Params:
    """A copy cut from the graph (what the sampler acts with)."""
    return {k: v.detach().clone() for k, v in params.items()}


def flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


class StackedParams(dict):
    """Per-task parameters stacked along a leading task axis (built once, e.g. by the sampler,
    instead of stacking a list of dicts at every call)."""

    @classmethod
    def of(cls, params: Sequence[Mapping[str, torch.Tensor]]) -> StackedParams:
        return cls({k: torch.stack([p[k] for p in params]) for k in params[0]})


def affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x Wᵀ + b: `F.linear` for one weight (out, in); `torch.baddbmm` for weights stacked on a task
    axis (task, out, in) with x (task, n, in). These are the ops autograd differentiates, twice in
    MAML-TRPO's Fisher products, and every stored number was made with their derivative formulas: a
    matmul-and-add gives the same values and first derivatives but Hessian-vector products that
    differ in the last bits (docs/design-notes.md, "One MLP forward pass")."""
    if weight.dim() == 2:
        return torch.nn.functional.linear(x, weight, bias)
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def sampling_affine(x: torch.Tensor, weight_t: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """x Wᵀ + b without autograd, on the layout `Policy.rollout_sampler` lays out once per rollout:
    Wᵀ contiguous ((in, out), or (task, in, out)) and b with a broadcast row axis, added in place."""
    return torch.matmul(x, weight_t).add_(bias)


def mlp(x: torch.Tensor, layers: Sequence[Layer], activation: Callable[[torch.Tensor], torch.Tensor],
        linear: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] = affine) -> torch.Tensor:
    """The MLP forward pass, written once: x ↦ L_n(σ(⋯ σ(L_1(x)))), L_i(x) = `linear(x, *layers[i])`
    and σ the activation between layers (none after the last)."""
    for index, layer in enumerate(layers):
        if index:
            x = activation(x)
        x = linear(x, *layer)
    return x


def _mlp(sizes: Sequence[int], activation: str) -> nn.Sequential:
    """The module that owns the weights (`net.{i}.weight`/`.bias`, PyTorch's default init); the
    forward pass is `mlp`'s."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"policy activation={activation!r}: must be one of {list(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append({"tanh": nn.Tanh, "relu": nn.ReLU}[activation]())
    return nn.Sequential(*layers)


class Policy(nn.Module):
    """Shared functional surface of the two policy families.

    `params` arguments are one `Params` (shared by every leading index of `obs`) or a sequence
    of `Params`, one per task, for `obs` of shape (task, ...). Distributions are written in
    closed form (no `torch.distributions`), so they run under `torch.func.vmap`/`grad`.
    """

    obs_scale: float
    activation: str
    """a key of `ACTIVATIONS`, applied between the layers"""

    def meta_params(self) -> Params:
        """The module's own parameters (the leaves optimisers update), by name."""
        return dict(self.named_parameters())

    def layers(self, params: Mapping[str, torch.Tensor]) -> list[Layer]:
        """(weight, bias) of every affine layer under `params`, input to output."""
        return [(params[f"net.{i}.weight"], params[f"net.{i}.bias"])
                for i, layer in enumerate(self.net) if isinstance(layer, nn.Linear)]

    def head(self, params: Mapping[str, torch.Tensor], obs: torch.Tensor) -> torch.Tensor:
        """The network output (logits or mean) under `params`: the same computation as
        `functional_call(self, params, obs)`, run by `mlp` because it is several times faster for these
        small MLPs. With a `StackedParams` (one parameter set per leading index of `obs`) every layer is
        one batched matmul over the tasks, the same result as `vmap(head)` at a fraction of its overhead."""
        x = obs * self.obs_scale
        if not isinstance(params, StackedParams):
            return mlp(x, self.layers(params), ACTIVATIONS[self.activation][0])
        x = mlp(x.reshape(obs.shape[0], -1, obs.shape[-1]), self.layers(params), ACTIVATIONS[self.activation][0])
        return x.reshape(*obs.shape[:-1], x.shape[-1])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.head(self.meta_params(), obs)

    def _heads(self, params, obs: torch.Tensor) -> tuple[torch.Tensor, Mapping[str, torch.Tensor]]:
        if not isinstance(params, Mapping):
            if obs.shape[0] != len(params):
                raise ValueError(f"{type(self).__name__}: {len(params)} parameter sets for obs of shape {obs.shape}")
            params = StackedParams.of(params)
        return self.head(params, obs), params

    def dist_params(self, params, obs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self._dist_from_head(*self._heads(params, obs))

    def _dist_from_head(self, head: torch.Tensor, params: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def _draw(self, dist: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def sample(self, params, obs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self._draw(self.dist_params(params, obs), generator)

    def rollout_sampler(self, params: Mapping[str, torch.Tensor],
                        generator: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
        """`obs ↦ sample(params, obs, generator)` for one rollout, without autograd: `params` (one
        dict, or a `StackedParams` for obs of shape (task, ...)) are laid out once as transposed
        weights and the activations run in place, which halves the per-step cost of the forward pass."""
        layers = [(weight.detach().transpose(-1, -2).contiguous(), bias.detach().unsqueeze(-2))
                  for weight, bias in self.layers(params)]
        stacked = isinstance(params, StackedParams)

        def head(obs: torch.Tensor) -> torch.Tensor:
            x = obs * self.obs_scale
            x = x.reshape(obs.shape[0], -1, obs.shape[-1]) if stacked else x
            x = mlp(x, layers, ACTIVATIONS[self.activation][1], sampling_affine)
            return x.reshape(*obs.shape[:-1], x.shape[-1])

        def draw(obs: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return self._draw(self._dist_from_head(head(obs), params), generator)

        return draw

    def log_prob_from(self, dist: tuple[torch.Tensor, ...], actions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def kl(self, old: tuple[torch.Tensor, ...], new: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """KL(old ‖ new) per step."""
        raise NotImplementedError

    def log_prob(self, params, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.log_prob_from(self.dist_params(params, obs), actions)

    def mode(self, params, obs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class CategoricalMLPPolicy(Policy):
    def __init__(self, obs_dim: int, n_actions: int, hidden_sizes: Sequence[int] = (64, 64),
                 activation: str = "tanh", obs_scale: float = 1.0):
        super().__init__()
        self.obs_scale, self.activation = float(obs_scale), activation
        self.net = _mlp([obs_dim, *hidden_sizes, n_actions], activation)

    def _dist_from_head(self, head: torch.Tensor, params: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor]:
        return (torch.log_softmax(head, dim=-1),)

    def log_prob_from(self, dist: tuple[torch.Tensor, ...], actions: torch.Tensor) -> torch.Tensor:
        return torch.gather(dist[0], -1, actions.long().unsqueeze(-1)).squeeze(-1)

    def kl(self, old: tuple[torch.Tensor, ...], new: tuple[torch.Tensor, ...]) -> torch.Tensor:
        # `new` is normalised again (a no-op on log-probabilities), so that the KL is that of softmax(new):
        # zero gradient at new = old and the Fisher diag(p) − ppᵀ as its Hessian, which MAML-TRPO's Fisher
        # product (`estimators.adapted_fisher_product`) takes in these coordinates (linear in new, it had none)
        return (old[0].exp() * (old[0] - torch.log_softmax(new[0], dim=-1))).sum(-1)

    def _draw(self, dist: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
        probs = dist[0].exp()
        flat_probs = probs.reshape(-1, probs.shape[-1])
        return torch.multinomial(flat_probs, 1, generator=generator).reshape(probs.shape[:-1])

    def mode(self, params, obs: torch.Tensor) -> torch.Tensor:
        return self.dist_params(params, obs)[0].argmax(dim=-1)

    def probabilities(self, params, obs: torch.Tensor) -> torch.Tensor:
        return self.dist_params(params, obs)[0].exp()


class GaussianMLPPolicy(Policy):
    def __init__(self, obs_dim: int, action_dim: int, hidden_sizes: Sequence[int] = (64, 64),
                 activation: str = "tanh", init_std: float = 1.0, min_std: float = 1e-6, obs_scale: float = 1.0,
                 action_scale: float = 1.0):
        super().__init__()
        self.obs_scale, self.activation = float(obs_scale), activation
        # ProMP/maml_zoo's normalised env: the Gaussian lives in a space `1/action_scale` times wider
        # than the env's and is mapped linearly onto it (SG-MRL's point env: scale 0.01). Scaling mean
        # and std by the same factor is that map; log-probs shift by a constant, gradients and KL do not.
        self.log_action_scale = math.log(action_scale)
        self.action_scale = float(action_scale)
        self.min_log_std = math.log(min_std)
        self.net = _mlp([obs_dim, *hidden_sizes, action_dim], activation)
        self.log_std = nn.Parameter(torch.full((action_dim,), math.log(init_std)))

    def _dist_from_head(self, mean: torch.Tensor,
                        used: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        log_std = used["log_std"].clamp(min=self.min_log_std)
        if log_std.dim() > 1:  # per-task log-stds (task, action) broadcast over the middle axes
            log_std = log_std.reshape(log_std.shape[0], *([1] * (mean.dim() - 2)), log_std.shape[-1])
        if self.action_scale != 1.0:
            mean, log_std = mean * self.action_scale, log_std + self.log_action_scale
        return mean, log_std.expand_as(mean)

    def log_prob_from(self, dist: tuple[torch.Tensor, ...], actions: torch.Tensor) -> torch.Tensor:
        mean, log_std = dist
        z = (actions - mean) * torch.exp(-log_std)
        return (-0.5 * z**2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def kl(self, old: tuple[torch.Tensor, ...], new: tuple[torch.Tensor, ...]) -> torch.Tensor:
        (m0, s0), (m1, s1) = old, new
        return (s1 - s0 + (torch.exp(2 * s0) + (m0 - m1) ** 2) / (2 * torch.exp(2 * s1)) - 0.5).sum(-1)

    def _draw(self, dist: tuple[torch.Tensor, ...], generator: torch.Generator) -> torch.Tensor:
        mean, log_std = dist
        return mean + log_std.exp() * torch.randn(mean.shape, generator=generator, dtype=mean.dtype)

    def mode(self, params, obs: torch.Tensor) -> torch.Tensor:
        return self.dist_params(params, obs)[0]


def build_policy(observation_space: spaces.Space, action_space: spaces.Space, *, hidden_sizes: Sequence[int],
                 activation: str = "tanh", init_std: float = 1.0, obs_scale: float = 1.0,
                 action_scale: float = 1.0) -> Policy:
    """The policy family that fits the spaces: categorical for `Discrete`, Gaussian for `Box`."""
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
        raise TypeError(f"build_policy: observation space must be a 1-D Box, got {observation_space}")
    obs_dim = observation_space.shape[0]
    if isinstance(action_space, spaces.Discrete):
        return CategoricalMLPPolicy(obs_dim, int(action_space.n), hidden_sizes, activation, obs_scale)
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        return GaussianMLPPolicy(obs_dim, action_space.shape[0], hidden_sizes, activation, init_std,
                                 obs_scale=obs_scale, action_scale=action_scale)
    raise TypeError(f"build_policy: unsupported action space {action_space}")

