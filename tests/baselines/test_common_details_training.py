"""Details of `load_optimiser_states` (baselines/common/training.py): a checkpoint whose optimiser
names, tensor count or tensor shapes differ from the agent's is refused with its message, before
anything is copied."""

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
