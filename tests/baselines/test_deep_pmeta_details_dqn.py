"""pMeta-RL DQN and its Table V baselines, in detail: the meta-test over two adaptation rounds (the
personalization draws from the adaptation episodes' stream, starts from the trial's meta network, keeps
every round's episodes, and its auxiliary network is what the next meta network aggregates); the ε of
adaptation and evaluation episodes; DQN*'s TD error whatever the dtype of the episodes' arrays; what a
checkpoint holds of each learner (auxiliary network and its Adam, the round's fresh Adam) and what a
loaded one restores; the errors, by their messages; the configs' ηλ bounds."""

import numpy as np
import pytest
import torch

import metarl_envs
from baselines.common.personalization import Transitions
from baselines.common.policies import detach
from baselines.common.sampler import Sampler, TrajectoryBatch
from baselines.pmetarl_dqn import (
    DQNConfig,
    IndependentDQN,
    ModelAveragingDQN,
    PMetaDQN,
    PMetaDQNConfig,
    TrialTask,
)
from benchmarks.evaluate import run_episodes
from tests.baselines.test_pmetarl_dqn import CARTPOLE
from tests.baselines.test_pmetarl_dqn import TINY as SMALL_DQN

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KWARGS = {"preset": "pmeta"}
TINY = {**SMALL_DQN, "buffer_size": 500}


def _agent(cls, **config):
    return cls(CARTPOLE, cls.config_class.from_dict({**TINY, **config}), KWARGS)


def _random_meta(agent, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=generator) for k, v in agent._template.named_parameters()}


def _copy(rng: np.random.Generator) -> np.random.Generator:
    twin = np.random.default_rng()
    twin.bit_generator.state = rng.bit_generator.state
    return twin


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------------------------
# Meta-test: two adaptation rounds
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [PMetaDQN, ModelAveragingDQN])
def test_two_adaptation_rounds_personalize_from_the_trial_meta_on_all_episodes_so_far(cls):
    """Round k: θ = R = 1 personalized step from the trial's meta network on every episode so far, drawn
    from the adaptation episodes' stream; the next meta network is eq. 14 on the auxiliary network,
    ϑ_aux = ϑ + ηλ(θ − ϑ) after one eq.-13 step (pMeta-RL, β = 0.5), and θ itself for Model-Averaging
    (λ = 0, β = 1: FedAvg of one)."""
    pmeta = cls is PMetaDQN
    options = {"lam": 20.0, "aux_lr": 0.01, "beta": 0.5, "aux_optimizer": "sgd"} if pmeta else {}
    agent = _agent(cls, personal_updates=1, **options)
    agent.set_parameters({"meta": _random_meta(agent, 0)})
    tasks = list(metarl_envs.task_set(CARTPOLE, "test", "pmeta"))[:1]
    sampler = Sampler(CARTPOLE, KWARGS)
    agent.start_trial(1)
    run_episodes(agent, sampler, tasks, "evaluate", 1, np.random.default_rng(9))   # another stream first
    meta, memory = dict(agent.meta), None
    for round_seed in (1, 2):
        stream = np.random.default_rng(round_seed)
        batch = run_episodes(agent, sampler, tasks, "adapt", 1, stream)
        fresh = Transitions.of_batch(batch, 0)
        memory = fresh if memory is None else Transitions.concatenate([memory, fresh])
        personal, _ = agent.personalize(meta, memory, _copy(stream))
        agent.end_round(batch)
        (task,) = agent.trial_params()
        assert len(task.acting) == 1 and _same(task.acting[0], personal)
        assert not _same(personal, meta)
        for field in Transitions._fields:
            np.testing.assert_array_equal(getattr(task.memory, field), getattr(memory, field))
        if pmeta:
            auxiliary = {k: meta[k] + 0.2 * (personal[k] - meta[k]) for k in meta}   # ηλ = 0.2
            expected = {k: 0.5 * meta[k] + 0.5 * auxiliary[k] for k in meta}
            for k in meta:
                torch.testing.assert_close(task.meta[k], expected[k], rtol=1e-6, atol=1e-6)
        else:
            assert _same(task.meta, personal)
        meta = task.meta
    assert len(memory.rewards) == len(task.memory.rewards) > len(fresh.rewards)


def test_a_trial_task_without_a_meta_network_is_refused_by_name():
    agent = _agent(PMetaDQN)
    agent.set_parameters({"meta": _random_meta(agent, 0)})
    steps = np.ones((1, 1, 2), bool)
    batch = TrajectoryBatch(np.zeros((1, 1, 2, 4), np.float32), np.zeros((1, 1, 2), np.int64), np.ones((1, 1, 2)),
                            steps, ~steps, ~steps, np.zeros((1, 1, 4), np.float32))
    agent.episode_policy([agent.meta_params()], "adapt", np.random.default_rng(0))
    with pytest.raises(RuntimeError, match=r"^PMetaDQN: no meta network to personalize$"):
        agent.adapt_round([TrialTask((agent.meta,), None)], batch)


def test_adaptation_episodes_are_epsilon_greedy_and_evaluation_episodes_greedy():
    """Per task i: greedy actions of its network, each replaced by a uniform one with probability ε (the
    explore draws, then the uniform actions, from the caller's stream); ε = adapt_epsilon when adapting,
    0 when evaluating (no draw at all)."""
    agent = _agent(PMetaDQN, adapt_epsilon=0.3)
    trials = [TrialTask((_random_meta(agent, seed),), None) for seed in (3, 4)]
    obs = np.random.default_rng(1).normal(size=(2, 40, 4)).astype(np.float32)
    with torch.no_grad():
        greedy = np.stack([agent.q_values(t.acting[0], torch.as_tensor(o)).argmax(dim=1).numpy()
                           for t, o in zip(trials, obs, strict=True)])
    assert 0 < greedy.mean() < 1, "both actions must be greedy somewhere"
    draws, expected = np.random.default_rng(7), greedy.copy()
    for i in range(2):
        explore, uniform = draws.random(40) < 0.3, draws.integers(2, size=40)
        expected[i] = np.where(explore, uniform, greedy[i])
    assert (expected != greedy).any()
    np.testing.assert_array_equal(agent.episode_policy(trials, "adapt", np.random.default_rng(7))(obs), expected)
    stream = np.random.default_rng(7)
    np.testing.assert_array_equal(agent.episode_policy(trials, "evaluate", stream)(obs), greedy)
    assert stream.random() == np.random.default_rng(7).random()


def test_dqn_star_td_error_is_the_float32_value_whatever_the_arrays_dtype():
    """The episodes' rewards arrive as float64 (`TrajectoryBatch`), actions may arrive as floats: the TD
    error is computed in float32 on int64 actions all the same, equal to that of the float32 copy."""
    agent = _agent(IndependentDQN)
    params = _random_meta(agent, 5)
    rng = np.random.default_rng(2)
    wide = Transitions(rng.normal(size=(20, 4)), rng.integers(2, size=20).astype(np.float64), rng.normal(size=20),
                       rng.normal(size=(20, 4)), rng.random(20) < 0.3)
    narrow = Transitions(wide.observations.astype(np.float32), wide.actions.astype(np.int64),
                         wide.rewards.astype(np.float32), wide.next_observations.astype(np.float32), wide.terminated)
    assert agent.td_error(params, wide) == agent.td_error(params, narrow)


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------
def _set_up(cls, seed: int, iterations: int, **config):
    agent = _agent(cls, **config)
    agent.meta_train(metarl_envs.task_set(CARTPOLE, "train", "pmeta"), iterations=iterations, seed=seed)
    return agent


def _same_optimizer_state(a: dict, b: dict) -> bool:
    if a["param_groups"] != b["param_groups"] or a["state"].keys() != b["state"].keys():
        return False
    return all(torch.equal(a["state"][i][key], b["state"][i][key]) for i in a["state"] for key in a["state"][i])


def test_checkpoint_holds_each_learners_auxiliary_network_and_adam_and_restores_them():
    trained = _set_up(PMetaDQN, 0, 1, learning_rate=0.05)
    state = trained.training_state()
    fresh_adam = trained._new_learner(trained.meta).optimizer.state_dict()["param_groups"]
    for learner, saved in zip(trained.learners, state["learners"], strict=True):
        assert _same(saved["anchor"], detach(learner.anchor))
        assert saved["anchor_optimizer"]["state"], "the auxiliary Adam has taken steps"
        assert _same_optimizer_state(saved["anchor_optimizer"], learner.anchor_optimizer.state_dict())
        # line 7's fresh Adam is the set-up's: lr = learning_rate, the same options
        assert saved["optimizer"]["param_groups"] == fresh_adam and fresh_adam[0]["lr"] == 0.05
    resumed = _set_up(PMetaDQN, 1, 0, learning_rate=0.05)   # set up only, from other initial weights
    resumed.load_training_state(state)
    for mine, saved in zip(resumed.training_state()["learners"], state["learners"], strict=True):
        assert _same(mine["anchor"], saved["anchor"])
        assert _same_optimizer_state(mine["anchor_optimizer"], saved["anchor_optimizer"])
    with pytest.raises(ValueError, match=r"^PMetaDQN: the checkpoint holds 4 learners, this run 5$"):
        resumed.load_training_state({**state, "learners": state["learners"][:4]})
    averaging = _set_up(ModelAveragingDQN, 0, 0, learning_rate=0.05)   # a DQNConfig: no aux_lr
    with pytest.raises(ValueError, match=r"^a checkpoint's learner has an auxiliary Adam, but this agent has no "
                                         r"aux_lr$"):
        averaging.load_training_state(state)


def test_a_checkpoint_without_a_meta_network_restores_none():
    """`training_state` writes an absent meta network as {} (DQN* loaded from its task networks has
    none); loading that leaves the agent with no meta network."""
    independent = _set_up(IndependentDQN, 0, 0)
    independent.set_parameters({"personal": [_random_meta(independent, seed) for seed in range(5)]})
    assert independent.meta is None
    state = independent.training_state()
    assert state["meta"] == {}
    pmeta = _set_up(PMetaDQN, 0, 0)
    pmeta.load_training_state({**pmeta.training_state(), "meta": state["meta"]})
    with pytest.raises(RuntimeError, match=r"^PMetaDQN\.meta_params: call meta_train\(\) or load\(\) first$"):
        pmeta.meta_params()


# --------------------------------------------------------------------------------------------
# Stored state and errors
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, key", [(PMetaDQN, "meta"), (IndependentDQN, "personal")])
def test_a_loaded_agent_stores_what_it_loaded(cls, key):
    """PMetaDQN loaded from its meta network has no task learners; DQN* loaded from its task networks has
    no meta network: each still has something learned to store."""
    agent = _agent(cls)
    networks = [_random_meta(agent, seed) for seed in range(3)]
    agent.set_parameters({key: networks[0] if key == "meta" else networks})
    again = agent.get_parameters()
    assert set(again) == {key}
    stored = [again[key]] if key == "meta" else again[key]
    assert len(stored) == (1 if key == "meta" else 3)
    assert all(_same(detach(s), n) for s, n in zip(stored, networks, strict=False))


@pytest.mark.parametrize("cls", [PMetaDQN, IndependentDQN])
def test_an_agent_with_nothing_learned_says_so(cls):
    agent = _agent(cls)
    with pytest.raises(RuntimeError, match=rf"^{cls.__name__}\.meta_params: call meta_train\(\) or load\(\) first$"):
        agent.meta_params()
    with pytest.raises(RuntimeError, match=rf"^{cls.__name__}\.save: nothing learned yet$"):
        agent.get_parameters()


def test_load_names_the_missing_entry_and_the_keys_it_found():
    with pytest.raises(ValueError, match=r"^PMetaDQN\.load: the state has no 'meta' entry \(keys: \['personal'\]\)$"):
        _agent(PMetaDQN).set_parameters({"personal": []})


def test_pmeta_config_needs_eta_lambda_in_the_half_open_unit_interval():
    assert PMetaDQNConfig(lam=4.0, aux_lr=0.25).aux_lr * 4.0 == 1.0          # ηλ = 1 exactly: allowed
    with pytest.raises(ValueError, match=r"^PMetaDQNConfig\.aux_lr=0\.0: need 0 < ηλ ≤ 1 \(λ = 20\.0\)$"):
        PMetaDQNConfig(aux_lr=0.0)
    assert not hasattr(DQNConfig(), "aux_lr")
