"""Details of `optimiser_states` / `load_optimiser_states` (baselines/common/training.py): a round trip
restores each optimiser's parameters and state, the saved state is a copy (neither the saving nor a
loading optimiser updates it in place), and a checkpoint whose optimiser names, tensor count or
tensor shapes differ from the agent's is refused with its message, before anything is copied."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch

from baselines.common.training import load_optimiser_states, optimiser_states


def owner_with_optimisers(*shapes: tuple[int, ...], names: tuple[str, ...] = ("actor",)) -> SimpleNamespace:
    """An object holding one Adam per name over parameters of `shapes` (values 0, 1, 2, … in order), and
    a non-optimiser attribute that `optimiser_states` must skip."""
    owner = SimpleNamespace(config="not an optimiser")
    for name in names:
        params = [torch.nn.Parameter(torch.arange(float(torch.Size(shape).numel())).reshape(shape)) for shape in shapes]
        setattr(owner, name, torch.optim.Adam(params, lr=0.1))
    return owner


def adam_step(optimiser: torch.optim.Optimizer) -> None:
    """One Adam step on Σ p² (moves every parameter and fills the moment buffers)."""
    optimiser.zero_grad()
    sum((p**2).sum() for group in optimiser.param_groups for p in group["params"]).backward()
    optimiser.step()


def test_round_trip_restores_parameters_and_optimiser_state():
    """Saved after one step, loaded after a second: parameters, step count and moments are those saved."""
    owner = owner_with_optimisers((2, 3), (4,))
    adam_step(owner.actor)
    saved = optimiser_states(owner)
    after_one = [p.detach().clone() for p in owner.actor.param_groups[0]["params"]]
    adam_step(owner.actor)
    load_optimiser_states(owner, saved)
    for param, expected in zip(owner.actor.param_groups[0]["params"], after_one, strict=True):
        torch.testing.assert_close(param.detach(), expected, rtol=0, atol=0)
    state = owner.actor.state_dict()["state"]
    assert [float(state[index]["step"]) for index in (0, 1)] == [1.0, 1.0]
    torch.testing.assert_close(state[1]["exp_avg"], saved["actor"]["state"]["state"][1]["exp_avg"], rtol=0, atol=0)


def test_a_saved_state_stays_as_saved_while_the_optimiser_steps_on():
    """`optimiser_states` copies the optimiser state: Adam's in-place updates of its step count and
    moments after the save leave the saved ones as they were."""
    owner = owner_with_optimisers((3,))
    adam_step(owner.actor)
    saved = optimiser_states(owner)
    moment = owner.actor.state_dict()["state"][0]["exp_avg"].clone()
    adam_step(owner.actor)
    assert float(saved["actor"]["state"]["state"][0]["step"]) == 1.0
    torch.testing.assert_close(saved["actor"]["state"]["state"][0]["exp_avg"], moment, rtol=0, atol=0)


def test_optimisers_loaded_from_one_state_do_not_share_its_tensors():
    """Two agents loaded from one saved state step independently: stepping one changes neither the
    other's step count and moments nor the saved state."""
    source = owner_with_optimisers((3,))
    adam_step(source.actor)
    saved = optimiser_states(source)
    first, second = owner_with_optimisers((3,)), owner_with_optimisers((3,))
    load_optimiser_states(first, saved)
    load_optimiser_states(second, saved)
    moment = second.actor.state_dict()["state"][0]["exp_avg"].clone()
    adam_step(first.actor)
    assert float(second.actor.state_dict()["state"][0]["step"]) == 1.0
    assert float(saved["actor"]["state"]["state"][0]["step"]) == 1.0
    torch.testing.assert_close(second.actor.state_dict()["state"][0]["exp_avg"], moment, rtol=0, atol=0)


def test_other_optimiser_names_are_refused_naming_both_sets():
    """A checkpoint of optimisers {actor, critic} does not load into an agent holding only {actor}."""
    saved = optimiser_states(owner_with_optimisers((2,), names=("critic", "actor")))
    message = "optimisers ['actor', 'critic'] saved, the agent holds ['actor']"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_optimiser_states(owner_with_optimisers((2,)), saved)


@pytest.mark.parametrize(("saved_shapes", "agent_shapes"), [([(2,)], [(2,), (3,)]), ([(2,), (3,), (1,)], [(2,), (3,)]),
                                                            ([(2,), (1,)], [(2,), (3,)])],
                         ids=["fewer tensors", "more tensors", "a (1,) tensor for a (3,) one"])
def test_tensors_of_another_number_or_shape_are_refused_and_nothing_is_copied(saved_shapes, agent_shapes):
    """A saved optimiser over fewer or more tensors, or one whose tensor would broadcast into the agent's,
    is refused with its message and the agent's parameters stay as they were."""
    saved = optimiser_states(owner_with_optimisers(*saved_shapes))
    owner = owner_with_optimisers(*agent_shapes)
    for param in owner.actor.param_groups[0]["params"]:
        param.data.fill_(-7.0)
    message = "optimiser actor: the saved tensors do not match the agent's in number or shape"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_optimiser_states(owner, saved)
    assert all(bool((p == -7.0).all()) for p in owner.actor.param_groups[0]["params"])
