"""pMeta-RL SAC, in detail: `act` recomputed by hand (the mode: the posterior's mean z and tanh of the
actor's mean; a draw: z from the posterior, then the action's noise, both from one torch stream seeded
from the caller's generator), on float64 observations; what a loaded state restores of the personalized
sets; a checkpoint whose per-task lists disagree in length is refused; the errors, by their messages."""

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.common import training
from baselines.common.personalization import Transitions
from baselines.pmetarl_sac import PART_NAMES, PMetaSAC, PMetaSACConfig, TrialContext
from tests.baselines.test_pmetarl_sac import ENV, KWARGS, SMALL

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _agent() -> PMetaSAC:
    """An untrained agent whose meta models are drawn from a seeded stream (no meta-training)."""
    agent = PMetaSAC(ENV, PMetaSACConfig(**SMALL), KWARGS)
    generator = torch.Generator().manual_seed(0)
    for module in agent._template.values():
        training.reset_parameters(module, generator)
    agent.set_parameters({"meta": {name: dict(module.named_parameters()) for name, module in agent._template.items()}})
    return agent


def _context(n: int, seed: int) -> Transitions:
    rng = np.random.default_rng(seed)
    return Transitions(rng.normal(size=(n, 20)).astype(np.float32), rng.uniform(-1, 1, size=(n, 6)).astype(np.float32),
                       rng.normal(size=n), rng.normal(size=(n, 20)).astype(np.float32), np.zeros(n, bool))


@pytest.mark.parametrize("context", [None, 7])
def test_act_is_the_posterior_z_and_the_tanh_gaussian_recomputed_by_hand(context):
    agent = _agent()
    params = TrialContext(None if context is None else _context(context, 1))
    obs = np.random.default_rng(2).normal(size=(5, 20))                       # float64
    x = torch.as_tensor(obs.astype(np.float32))
    latent = agent.config.latent_dim
    if context is None:
        z_mean, z_variance = torch.zeros(latent), torch.ones(latent)           # the prior N(0, I)
    else:
        with torch.no_grad():
            z_mean, z_variance = agent.posterior(agent._template["encoder"], agent.context_of(params.context))
    actor = agent._template["actor"]
    with torch.no_grad():
        mean, _, _ = actor.get_action_dist_params(torch.cat([x, z_mean.expand(5, -1)], dim=1))
    mode = agent.act(obs, params, deterministic=True)
    torch.testing.assert_close(torch.as_tensor(mode), torch.tanh(mean), rtol=0, atol=0)
    # a draw: one torch stream seeded from the caller's generator, z's noise first, then the action's
    generator = torch.Generator().manual_seed(int(np.random.default_rng(4).integers(2**63 - 1)))
    z = z_mean + z_variance.sqrt() * torch.randn((5, latent), generator=generator)
    with torch.no_grad():
        mean, log_std, _ = actor.get_action_dist_params(torch.cat([x, z], dim=1))
    action = torch.tanh(mean + log_std.exp() * torch.randn(mean.shape, generator=generator))
    sampled = agent.act(obs, params, rng=np.random.default_rng(4))
    assert sampled.shape == (5, 6)
    torch.testing.assert_close(torch.as_tensor(sampled), action, rtol=1e-6, atol=1e-6)
    assert not np.allclose(sampled, mode)


def test_a_loaded_state_restores_the_personalized_sets_it_holds():
    """A result stored before the trim held every task's personalized models: they load as the agent's
    task learners; a trimmed result has none."""
    agent = _agent()
    sets = []
    for seed in (1, 2):
        generator = torch.Generator().manual_seed(seed)
        sets.append({name: {k: torch.randn(v.shape, generator=generator) for k, v in agent.meta[name].items()}
                     for name in PART_NAMES})
    full_meta = {name: dict(module.named_parameters()) for name, module in agent._template.items()}
    agent.set_parameters({"meta": full_meta, "personal": sets})
    assert len(agent.learners) == 2
    for learner, stored in zip(agent.learners, sets, strict=True):
        for name in PART_NAMES:
            personal = learner.personal()[name]
            assert personal.keys() == stored[name].keys()
            assert all(torch.equal(personal[k], stored[name][k]) for k in personal), name
    agent.set_parameters({"meta": {name: full_meta[name] for name in PMetaSAC.STORED_PARTS}})
    assert agent.learners == []


@pytest.mark.parametrize("cut", [1, 3])
def test_a_checkpoint_with_a_step_count_per_task_of_another_length_is_refused(cut):
    agent = PMetaSAC(ENV, PMetaSACConfig(**SMALL), KWARGS)
    agent.meta_train(list(metarl_envs.task_set(ENV, "train", "pmeta"))[:2], iterations=0, seed=0)   # set up only
    state = agent.training_state()
    steps = [0, 0, 0][:cut]
    with pytest.raises(ValueError, match="zip"):
        agent.load_training_state({**state, "gradient_steps": steps})


def test_an_agent_with_nothing_learned_says_so():
    agent = PMetaSAC(ENV, PMetaSACConfig(**SMALL), KWARGS)
    with pytest.raises(RuntimeError, match=r"^PMetaSAC\.meta_params: call meta_train\(\) or load\(\) first$"):
        agent.meta_params()
    with pytest.raises(RuntimeError, match=r"^PMetaSAC\.training_state: meta_train\(\) has not set up the run$"):
        agent.training_state()
    with pytest.raises(RuntimeError, match=r"^PMetaSAC\.save: nothing learned yet$"):
        agent.get_parameters()
    assert _agent().meta_params() == TrialContext()
