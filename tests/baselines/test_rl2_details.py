"""RL² in detail: what `_Lanes.record` keeps of a step, the trials `_trial` hands to PPO (inputs, actions,
rewards, masks and episode returns, laid out (lane, time) from the rollouts' batches), what `meta_train`
logs, seeds, steps and checkpoints, and how a meta-test round with more episodes than the trial had so far
grows the context (the old lanes carried, the new ones fresh)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import metarl_envs
from baselines.common.sampler import Sampler, TrainingEnvs, TrajectoryBatch, Transition
from baselines.rl2 import RL2, RL2Config, _Lanes
from benchmarks.evaluate import run_episodes
from metarl_envs.classic.navigation_2d import GoalTask2D
from tests.baselines.test_rl2 import KWARGS, NAV

SHORT = {**KWARGS, "horizon": 4}
"""the maml preset's episodes cut to 4 steps (its default horizon is 100)"""
TINY = RL2Config(hidden_size=3, tasks_per_iteration=2, trials_per_task=2, episodes_per_trial=3, ppo_epochs=1)


def _train_tasks() -> Any:
    return metarl_envs.task_set(NAV, "train", "maml")


def _recording_rollouts(envs: TrainingEnvs) -> list[TrajectoryBatch]:
    """Wrap `envs.rollout`: every batch it returns is appended to the list returned."""
    batches: list[TrajectoryBatch] = []
    rollout = envs.rollout

    def recording(*args: Any, **kwargs: Any) -> TrajectoryBatch:
        batch = rollout(*args, **kwargs)
        batches.append(batch)
        return batch

    envs.rollout = recording  # type: ignore[method-assign]
    return batches


# --------------------------------------------------------------------------------------------
# _Lanes.record
# --------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(tasks=st.integers(1, 3), per_task=st.integers(1, 3), act_dim=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_record_keeps_a_live_lanes_step_and_leaves_an_ended_lanes_context(tasks: int, per_task: int, act_dim: int,
                                                                          seed: int) -> None:
    """A lane alive at the step takes its action, reward and ended flag (terminated or truncated) and stays
    alive only if it did not end; a lane not alive keeps all four; all of it float32 whatever the step's dtypes."""
    rng, n, hidden = np.random.default_rng(seed), tasks * per_task, 2
    lanes = _Lanes(n, hidden, act_dim)
    lanes.action = torch.as_tensor(rng.normal(size=(n, act_dim)), dtype=torch.float32)
    lanes.reward = torch.as_tensor(rng.normal(size=(n, 1)), dtype=torch.float32)
    lanes.done = torch.as_tensor(rng.integers(0, 2, size=(n, 1)), dtype=torch.float32)
    lanes.alive = torch.as_tensor(rng.integers(0, 2, size=n).astype(bool))
    before = {name: value.clone() for name, value in vars(lanes).items()}
    alive = rng.integers(0, 2, size=(tasks, per_task)).astype(bool)
    # as the sampler makes them: an episode ends only at a step it was alive for
    terminated = alive & rng.integers(0, 2, size=alive.shape).astype(bool)
    truncated = alive & rng.integers(0, 2, size=alive.shape).astype(bool)
    actions, rewards = rng.normal(size=(tasks, per_task, act_dim)), rng.normal(size=(tasks, per_task))  # float64
    observations = rng.normal(size=(tasks, per_task, 2))
    lanes.record(Transition(observations, actions, rewards, terminated, truncated, observations, alive))

    for lane in range(n):
        task, episode = divmod(lane, per_task)
        if alive[task, episode]:
            ended = bool(terminated[task, episode] or truncated[task, episode])
            want = (actions[task, episode], [rewards[task, episode]], [float(ended)], not ended)
        else:
            want = (before["action"][lane], before["reward"][lane], before["done"][lane], False)
        for name, value in zip(("action", "reward", "done"), want[:3], strict=True):
            torch.testing.assert_close(getattr(lanes, name)[lane], torch.as_tensor(value, dtype=torch.float32),
                                       rtol=0, atol=0, msg=f"{name} of lane {lane}")
        assert bool(lanes.alive[lane]) == want[3], f"alive of lane {lane}"
    assert lanes.inputs(observations.reshape(n, 2)).dtype == torch.float32  # what the GRU cell takes


# --------------------------------------------------------------------------------------------
# _trial
# --------------------------------------------------------------------------------------------
def _expected_trial(batches: list[TrajectoryBatch]) -> dict[str, Any]:
    """A trial rebuilt from its episodes' batches: per lane ((task, trial) row-major) the steps of its
    episodes one after another, each input (o_t, a, r, d) with (a, r, d) the lane's last live step's action,
    reward and ended flag (zeros before its first step), d = 1 at every episode's first step."""
    n = batches[0].rewards.shape[0] * batches[0].rewards.shape[1]
    act_dim = int(np.prod(batches[0].actions.shape[3:]))
    previous_action, previous_reward, previous_done = np.zeros((n, act_dim)), np.zeros(n), np.ones(n)
    inputs, actions, rewards, masks = [], [], [], []
    for batch in batches:
        steps = batch.rewards.shape[2]
        obs = batch.observations.reshape(n, steps, -1)
        act, rew = batch.actions.reshape(n, steps, act_dim), batch.rewards.reshape(n, steps)
        mask = batch.mask.reshape(n, steps)
        ended = (batch.terminated | batch.truncated).reshape(n, steps)
        previous_done[:] = 1.0
        for t in range(steps):
            inputs.append(np.concatenate([obs[:, t], previous_action, previous_reward[:, None],
                                          previous_done[:, None]], axis=1))
            live = mask[:, t]
            previous_action[live], previous_reward[live] = act[live, t], rew[live, t]
            previous_done[live] = ended[live, t]
        actions.append(act)
        rewards.append(rew)
        masks.append(mask)
    return {"inputs": torch.as_tensor(np.stack(inputs, 1), dtype=torch.float32),
            "actions": torch.as_tensor(np.concatenate(actions, 1), dtype=torch.float32),
            "rewards": torch.as_tensor(np.concatenate(rewards, 1), dtype=torch.float32),
            "mask": torch.as_tensor(np.concatenate(masks, 1)),
            "episode_returns": np.stack([b.rewards.sum(axis=2).reshape(n) for b in batches], 1)}


def test_a_trial_is_its_episodes_in_a_row_per_lane_with_the_previous_steps_in_the_inputs() -> None:
    """`_trial` lays each lane's episodes end to end, (lane, time), float32 rewards and float64 returns
    (lane, episode); lanes whose episode ended early (goal at the start, actions ≈ 0) carry their last step."""
    tasks = [GoalTask2D(goal=(0.0, 0.0)), GoalTask2D(goal=(0.3, -0.2))]  # the first ends at step 1
    config = RL2Config(hidden_size=3, tasks_per_iteration=2, trials_per_task=3, episodes_per_trial=3,
                       action_scale=1e-4)
    agent, envs = RL2(NAV, config, SHORT), TrainingEnvs(NAV, SHORT, tasks)
    batches = _recording_rollouts(envs)
    trial = agent._trial(envs, tasks, np.random.default_rng(3))

    expected = _expected_trial(batches)
    assert len(batches) == 3 and [b.rewards.shape[:3] for b in batches] == [(2, 3, 4)] * 3
    assert not expected["mask"][:3, 1:4].any() and expected["mask"][3:].all()  # the early ends happened
    for key in ("inputs", "actions", "rewards", "mask"):
        torch.testing.assert_close(trial[key], expected[key], rtol=0, atol=0, msg=key)
    assert trial["episode_returns"].dtype == np.float64 and trial["episode_returns"].shape == (6, 3)
    np.testing.assert_allclose(trial["episode_returns"], expected["episode_returns"], rtol=1e-12)


@pytest.mark.mujoco
def test_a_trial_runs_where_observation_and_action_sizes_differ() -> None:
    """`_trial` on HalfCheetahDir (20 observation, 6 action dims; one task, one trial): every step's input is
    (o, a, r, d), 20 + 6 + 2 wide, and the actions come back as the sampler recorded them."""
    pytest.importorskip("mujoco")
    env_id, kwargs = "MetaRL/HalfCheetahDir-v0", {"preset": "maml", "horizon": 2}
    task = next(iter(metarl_envs.task_set(env_id, "train", "maml")))
    config = RL2Config(hidden_size=3, tasks_per_iteration=1, trials_per_task=1, episodes_per_trial=1)
    agent, envs = RL2(env_id, config, kwargs), TrainingEnvs(env_id, kwargs, [task])
    batches = _recording_rollouts(envs)
    trial = agent._trial(envs, [task], np.random.default_rng(0))
    assert trial["inputs"].shape == (1, 2, 28)
    torch.testing.assert_close(trial["actions"], torch.as_tensor(batches[0].actions.reshape(1, 2, 6)), rtol=0, atol=0)


# --------------------------------------------------------------------------------------------
# meta_train
# --------------------------------------------------------------------------------------------
def test_meta_train_logs_each_iterations_first_and_last_episode_return_and_its_env_steps() -> None:
    """Per iteration the log holds the mean return of the trials' first episode (pre-adaptation) and of their
    last (post-adaptation), over every trial of every task, and the env steps so far (PPO in 2 minibatches)."""
    envs = TrainingEnvs(NAV, SHORT, _train_tasks())
    batches = _recording_rollouts(envs)
    config = RL2Config(**{**vars(TINY), "minibatches": 2})
    log = RL2(NAV, config, SHORT).meta_train(envs, iterations=2, seed=5)

    assert len(batches) == 2 * 3 and len(log.records) == 2
    env_steps = 0
    for iteration, record in enumerate(log.records):
        first, second, last = batches[3 * iteration:3 * iteration + 3]
        env_steps += sum(int(b.mask.sum()) for b in (first, second, last))
        assert record.env_steps == env_steps
        assert record.pre_adaptation_return == pytest.approx(first.rewards.sum(axis=2).mean(), rel=1e-12)
        assert record.post_adaptation_return == pytest.approx(last.rewards.sum(axis=2).mean(), rel=1e-12)
        # the three episodes' means differ, so a swapped episode shows
        means = [b.rewards.sum(axis=2).mean() for b in (first, second, last)]
        assert len({round(m, 9) for m in means}) == 3


def test_meta_train_on_a_list_of_tasks_runs_on_the_agents_env_and_kwargs() -> None:
    """An agent used directly (train tasks as a plain list) collects on envs of its own env id and kwargs
    (here a 4-step horizon), the same run as on the harness's `TrainingEnvs` of those tasks."""
    tasks = list(_train_tasks())[:4]
    on_list = RL2(NAV, TINY, SHORT)
    log = on_list.meta_train(tasks, iterations=1, seed=2)
    on_envs = RL2(NAV, TINY, SHORT)
    reference = on_envs.meta_train(TrainingEnvs(NAV, SHORT, tasks), iterations=1, seed=2)
    assert log.records[0].env_steps <= 2 * 2 * 3 * 4
    assert [(r.env_steps, r.pre_adaptation_return, r.post_adaptation_return) for r in log.records] == [
        (r.env_steps, r.pre_adaptation_return, r.post_adaptation_return) for r in reference.records]
    for name, value in on_envs.policy.state_dict().items():
        torch.testing.assert_close(on_list.policy.state_dict()[name], value, rtol=0, atol=0, msg=name)


def test_meta_train_draws_the_gru_uniformly_within_one_over_root_hidden() -> None:
    """The GRU's weights and biases are drawn as PyTorch initialises a GRU cell, uniform on ±1/√hidden:
    all inside it, filling it to both ends, centred."""
    hidden = 16
    agent = RL2(NAV, RL2Config(hidden_size=hidden), SHORT)
    agent.meta_train(_train_tasks(), iterations=0, seed=0)
    values = torch.cat([p.detach().reshape(-1) for p in agent.policy.cell.parameters()])
    bound = hidden ** -0.5
    assert len(values) > 1000
    assert values.abs().max() <= bound
    assert values.min() < -0.98 * bound and values.max() > 0.98 * bound
    assert abs(float(values.mean())) < 0.05 * bound


def test_meta_train_steps_adam_at_the_configured_learning_rate() -> None:
    """One iteration with one PPO epoch of one minibatch is one Adam step from the seeded initial weights:
    its first step moves every parameter by lr·g/(|g| + ε), so by at most lr and by lr where |g| ≫ ε."""
    config = RL2Config(**{**vars(TINY), "learning_rate": 0.0123})
    initial, trained = RL2(NAV, config, SHORT), RL2(NAV, config, SHORT)
    initial.meta_train(_train_tasks(), iterations=0, seed=4)
    trained.meta_train(_train_tasks(), iterations=1, seed=4)
    moves = torch.cat([(trained.policy.state_dict()[name] - value).abs().reshape(-1)
                       for name, value in initial.policy.state_dict().items()])
    assert float(moves.max()) == pytest.approx(0.0123, rel=1e-4)
    assert float(moves.max()) <= 0.0123 * (1 + 1e-4)


class _MemoryCheckpoint:
    """A harness checkpoint kept in memory: `load` gives what `save` stored last (None before)."""

    def __init__(self, every: int, state: Mapping[str, Any] | None = None):
        self.every, self.state = every, state

    def load(self) -> Mapping[str, Any] | None:
        return self.state

    def save(self, state: Mapping[str, Any]) -> None:
        self.state = state


def test_a_checkpoint_keeps_the_gru_init_stream_under_init() -> None:
    """RL²'s checkpoints hold its one torch stream, the GRU initialisation's, under the name "init" (what the
    checkpoints runs have already written hold; any other set of names is refused on resume), and resume."""
    envs = TrainingEnvs(NAV, SHORT, _train_tasks())
    envs.checkpoint = _MemoryCheckpoint(every=1)
    first = RL2(NAV, TINY, SHORT).meta_train(envs, iterations=1, seed=1)
    saved = envs.checkpoint.state
    assert saved is not None and set(saved["generators"]) == {"init"}

    resumed_envs = TrainingEnvs(NAV, SHORT, _train_tasks())
    resumed_envs.checkpoint = _MemoryCheckpoint(every=1, state=saved)
    resumed = RL2(NAV, TINY, SHORT).meta_train(resumed_envs, iterations=1, seed=1)
    assert [r.env_steps for r in resumed.records] == [r.env_steps for r in first.records]
    assert resumed_envs.env_steps == 0  # nothing left to run


# --------------------------------------------------------------------------------------------
# meta-test: growing the context
# --------------------------------------------------------------------------------------------
def test_a_round_with_more_episodes_keeps_each_tasks_lanes_and_starts_the_new_ones_fresh() -> None:
    """After a round of 2 episodes per task, a round of 3 steps each task's first 2 lanes from their own
    hidden state, previous action and reward (done = 1), and its third from zeros, lanes laid out (task, lane)."""
    agent = RL2(NAV, RL2Config(hidden_size=3), SHORT)
    tasks = list(metarl_envs.task_set(NAV, "test", "maml"))[:2]
    rng = np.random.default_rng(0)
    agent.start_trial(len(tasks))
    run_episodes(agent, Sampler(NAV, SHORT), tasks, "adapt", 2, rng)
    before = {name: value.clone().reshape(2, 2, -1) for name, value in vars(agent._lanes).items()}
    assert before["hidden"].abs().sum() > 0 and before["reward"].abs().sum() > 0

    agent.begin_episodes("adapt", rng)
    observations = np.random.default_rng(1).normal(size=(2, 3, 2)).astype(np.float32)
    agent.actions(observations)
    hidden, action, reward = torch.zeros(2, 3, 3), torch.zeros(2, 3, 2), torch.zeros(2, 3, 1)
    hidden[:, :2], action[:, :2], reward[:, :2] = before["hidden"], before["action"], before["reward"]
    inputs = torch.cat([torch.as_tensor(observations), action, reward, torch.ones(2, 3, 1)], dim=2)
    with torch.no_grad():
        want = agent.policy.cell(inputs.reshape(6, -1), hidden.reshape(6, -1))
    torch.testing.assert_close(agent._lanes.hidden, want)
    torch.testing.assert_close(agent._lanes.action, action.reshape(6, 2), rtol=0, atol=0)
    torch.testing.assert_close(agent._lanes.reward, reward.reshape(6, 1), rtol=0, atol=0)
    assert agent._lanes.done.eq(1).all() and agent._lanes.alive.all()
