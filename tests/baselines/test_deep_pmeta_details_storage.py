"""What pMeta-RL's deep agents write and read back, in detail: a replay buffer's state (the filled slots
only, the write position, whether it wrapped) through a full round trip; `save_agent` / `load_agent`
(the folder made with its parents, an existing folder overwritten, config.json's layout, the refusal of
another agent's folder by name, state.pt read `weights_only` whatever the environment says); and the
policy-gradient learners' `act` on float64 observations."""

import json
import pickle

import numpy as np
import pytest
import torch
from gymnasium import spaces

from baselines.common import training
from baselines.common.personalization import SeededReplayBuffer, Transitions
from baselines.common.policies import detach
from baselines.maml import MAML, MAMLConfig
from baselines.pmetarl_dqn import IndependentDQN, PMetaDQN, PrioritizedReplayBuffer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OBS, ACTIONS = spaces.Box(-10, 10, (2,), np.float32), spaces.Discrete(3)


def _moves(first: int, n: int) -> Transitions:
    """n transitions numbered first, first + 1, ... (the number is the reward and the observation)."""
    numbers = np.arange(first, first + n, dtype=np.float32)
    obs = np.stack([numbers, -numbers], axis=1)
    return Transitions(obs, (numbers % 3).astype(np.int64), numbers.astype(float), obs + 0.5,
                       numbers % 2 == 0)


@pytest.mark.parametrize("cls", [SeededReplayBuffer, PrioritizedReplayBuffer])
@pytest.mark.parametrize("stored", [3, 4, 6])   # part filled, exactly full, wrapped (slots 0, 1 overwritten)
def test_buffer_state_holds_the_filled_slots_and_round_trips(cls, stored):
    options = {"alpha": 0.6, "beta": 0.4} if cls is PrioritizedReplayBuffer else {}
    buffer = cls(4, OBS, ACTIONS, **options)
    buffer.add_transitions(_moves(0, stored))
    if cls is PrioritizedReplayBuffer:
        buffer.update_priorities(np.arange(min(stored, 4)), np.arange(min(stored, 4)) + 1.0)
    filled = min(stored, 4)
    state = buffer.state()
    assert (state["pos"], state["full"]) == (stored % 4, stored >= 4)
    expected_rewards = {3: [0, 1, 2], 4: [0, 1, 2, 3], 6: [4, 5, 2, 3]}[stored]
    assert state["rewards"][:, 0].tolist() == expected_rewards            # the filled slots, no more
    assert all(len(state[name]) == filled for name in cls.STATE_FIELDS)
    if cls is PrioritizedReplayBuffer:
        assert len(state["priorities"]) == filled
    loaded = cls(4, OBS, ACTIONS, **options)
    loaded.load_state(state)
    assert (loaded.pos, loaded.full, loaded.size()) == (buffer.pos, buffer.full, filled)
    for name in cls.STATE_FIELDS:
        np.testing.assert_array_equal(getattr(loaded, name), getattr(buffer, name))
    slots = buffer.uniform_slots(32, np.random.default_rng(0))
    np.testing.assert_array_equal(loaded.uniform_slots(32, np.random.default_rng(0)), slots)
    if cls is PrioritizedReplayBuffer:
        np.testing.assert_array_equal(loaded.probabilities(), buffer.probabilities())
    # the next transition goes where the saved buffer would have put it
    buffer.add_transitions(_moves(10, 1))
    loaded.add_transitions(_moves(10, 1))
    np.testing.assert_array_equal(loaded.rewards, buffer.rewards)


def test_a_buffer_refuses_a_state_larger_than_itself():
    big = SeededReplayBuffer(5, OBS, ACTIONS)
    big.add_transitions(_moves(0, 5))
    with pytest.raises(ValueError, match=r"^the saved replay buffer holds 5 transitions, more than 4$"):
        SeededReplayBuffer(4, OBS, ACTIONS).load_state(big.state())


# --------------------------------------------------------------------------------------------
# save_agent / load_agent
# --------------------------------------------------------------------------------------------
CARTPOLE, KWARGS = "MetaRL/CartPoleParams-v0", {"preset": "pmeta"}


def _agent() -> PMetaDQN:
    """A PMetaDQN whose meta network is its (untrained) template: enough to save and load."""
    agent = PMetaDQN(CARTPOLE, PMetaDQN.config_class(hidden_sizes=(4,)), KWARGS)
    agent.set_parameters({"meta": detach(dict(agent._template.named_parameters()))})
    return agent


def test_save_makes_missing_parents_and_overwrites_an_earlier_save(tmp_path):
    agent = _agent()
    folder = tmp_path / "results" / "cell" / "agent"          # none of these exist yet
    agent.save(folder)
    first = (folder / "config.json").read_text()
    agent.meta = {k: v + 1.0 for k, v in agent.meta.items()}
    agent.save(folder)                                          # the folder exists now
    assert (folder / "config.json").read_text() == first
    loaded = PMetaDQN.load(folder)
    assert all(torch.equal(loaded.meta[k], agent.meta[k]) for k in agent.meta)


def test_config_json_is_the_document_at_indent_one(tmp_path):
    agent = _agent()
    agent.save(tmp_path)
    text = (tmp_path / "config.json").read_text()
    document = {"agent": "pMeta-RL DQN", "env_id": CARTPOLE, "env_kwargs": KWARGS, "config": agent.config.to_dict()}
    assert json.loads(text) == json.loads(json.dumps(document))
    assert text == json.dumps(json.loads(text), indent=1) + "\n"
    assert text.startswith('{\n "agent": "pMeta-RL DQN",\n "env_id"')


def test_load_names_the_agent_the_folder_holds(tmp_path):
    _agent().save(tmp_path)
    with pytest.raises(ValueError, match=rf"^IndependentDQN\.load: {tmp_path} holds a 'pMeta-RL DQN' agent, "
                                         r"not 'DQN\*'$"):
        IndependentDQN.load(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"env_id": CARTPOLE}))
    with pytest.raises(ValueError, match=r"holds a None agent, not 'pMeta-RL DQN'$"):
        PMetaDQN.load(tmp_path)


class Pickled:
    """A class the weights-only unpickler does not know."""


def test_load_reads_the_state_weights_only_even_when_the_environment_says_otherwise(tmp_path, monkeypatch):
    agent = _agent()
    agent.save(tmp_path)
    torch.save({"meta": dict(agent.meta), "extra": Pickled()}, tmp_path / "state.pt")
    # torch honours this variable only where the caller left weights_only unset
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        PMetaDQN.load(tmp_path)


# --------------------------------------------------------------------------------------------
# PolicyGradientLearner.act on float64 observations
# --------------------------------------------------------------------------------------------
def test_policy_gradient_act_reads_float64_observations_as_float32():
    agent = MAML("MetaRL/Navigation2D-v0", MAMLConfig(hidden_sizes=(4,)), {"preset": "maml"})
    training.seed_policy(agent.policy, 0)
    params = agent.meta_params()
    obs = np.random.default_rng(0).normal(size=(5, 2))                      # float64, as numpy draws it
    single = obs.astype(np.float32)
    np.testing.assert_array_equal(agent.act(obs, params, deterministic=True),
                                  agent.act(single, params, deterministic=True))
    np.testing.assert_array_equal(agent.act(obs, params, rng=np.random.default_rng(4)),
                                  agent.act(single, params, rng=np.random.default_rng(4)))
