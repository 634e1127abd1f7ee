"""`TrajectoryBatch.task` and `TrajectoryBatch.concatenate`: what an agent's `end_round` may use to
take one task's episodes or to stack rounds of different lengths. Checked field by field against
arrays built here by hand."""

import dataclasses

import numpy as np
import pytest

from baselines.common.sampler import TrajectoryBatch


def batch(tasks: int, episodes: int, horizon: int, offset: float) -> TrajectoryBatch:
    """A batch whose every entry tells (task, episode, time) apart; the last step of each episode ends it."""
    shape = (tasks, episodes, horizon)
    values = offset + np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    terminated = np.zeros(shape, dtype=bool)
    terminated[..., -1] = True
    return TrajectoryBatch(observations=np.stack([values, -values], axis=-1), actions=values.astype(np.int64),
                           rewards=values / 10, mask=np.ones(shape, dtype=bool), terminated=terminated,
                           truncated=np.zeros(shape, dtype=bool),
                           final_observations=offset + np.arange(tasks * episodes * 2.0).reshape(tasks, episodes, 2))


@pytest.mark.parametrize("index", [0, 1, 2])
def test_task_keeps_one_task_and_its_axis(index):
    whole = batch(3, 2, 4, 0.0)
    one = whole.task(index)
    assert type(one) is TrajectoryBatch and one.num_tasks == 1 and one.episodes_per_task == 2
    for field in dataclasses.fields(TrajectoryBatch):
        expected = getattr(whole, field.name)[index][None]
        np.testing.assert_array_equal(getattr(one, field.name), expected, err_msg=field.name)
    np.testing.assert_array_equal(one.episode_returns(), whole.episode_returns()[index:index + 1])


def test_concatenate_stacks_tasks_and_pads_time_with_masked_steps():
    short, long = batch(1, 2, 3, 0.0), batch(2, 2, 5, 100.0)
    both = TrajectoryBatch.concatenate([short, long])
    assert (both.num_tasks, both.episodes_per_task, both.rewards.shape[2]) == (3, 2, 5)
    for field in dataclasses.fields(TrajectoryBatch):
        got, first, rest = getattr(both, field.name), getattr(short, field.name), getattr(long, field.name)
        if field.name == "final_observations":  # no time axis: stacked as they are
            np.testing.assert_array_equal(got, np.concatenate([first, rest]))
            continue
        np.testing.assert_array_equal(got[1:], rest, err_msg=field.name)
        np.testing.assert_array_equal(got[:1, :, :3], first, err_msg=field.name)
        assert got.dtype == first.dtype, field.name
        np.testing.assert_array_equal(got[:1, :, 3:], np.zeros_like(got[:1, :, 3:]), err_msg=field.name)
    assert not both.mask[0, :, 3:].any() and both.env_steps == short.env_steps + long.env_steps
    np.testing.assert_allclose(both.episode_returns(0.5),
                               np.concatenate([short.episode_returns(0.5), long.episode_returns(0.5)]))
    round_trip = TrajectoryBatch.concatenate([both.task(i) for i in range(3)])
    for field in dataclasses.fields(TrajectoryBatch):
        np.testing.assert_array_equal(getattr(round_trip, field.name), getattr(both, field.name))
