"""Details of the sampling and meta-training loops (baselines/common/sampler.py, training.py) that the
other tests leave open, each against a hand computation or an exact expected outcome:

- `Sampler.rollout`: its refusal of no task or no episode (full message); the env reset seeded with
  `rng.integers(2**31 - 1)` (the first observations equal a fresh vector env reset with that seed);
  episodes that all end early end the batch there, and the sampler's `horizon` caps the steps recorded;
  integer actions stored as int64 on a Discrete space; float64 env observations handed to `act` and
  `observe` and stored (observations, final observations) as float32; `env_seconds` summing the time
  of every reset and step across calls (a fake clock);
- `TrainingEnvs`: its refusal of an empty task set (full message), its `fingerprint` taken from a
  `TaskSet` and "" from a plain list;
- `TrajectoryBatch`: its refusal of a field whose shape is not the rewards' (full message);
- `MetaLearner.__init__`: the default config when none is given, the refusal of another type (full message);
- `reset_parameters`: biases drawn from U(−1/√fan_in, 1/√fan_in) right after the weights (replayed by hand);
- `seeded_streams`: the torch seed derived from the run's SeedSequence (by hand);
- `run_meta_training`: its refusal of no tasks (full message), wall times on a fake clock (fresh and
  resumed runs), the checkpoint schedule ((iteration + 1) % every), the log returned when the callback
  stops the run, a checkpoint on the tasks ignored without an agent and a plain list taken without one,
  and task batches larger than the set drawn with replacement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from gymnasium import spaces

import metarl_envs
from baselines.common import sampler as sampler_module
from baselines.common import training as training_module
from baselines.common.agent import IterationRecord, TrainingLog
from baselines.common.policies import build_policy
from baselines.common.sampler import Sampler, TrainingEnvs, TrajectoryBatch, Transition
from baselines.common.training import MetaLearner, StepResult, reset_parameters, run_meta_training, seeded_streams

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAV = "MetaRL/Navigation2D-v0"
CARTPOLE = "MetaRL/CartPoleParams-v0"
CHEETAH = "MetaRL/HalfCheetahVel-v0"


def fake_clock(monkeypatch: pytest.MonkeyPatch, module: Any, start: float = 1000.0, tick: float = 0.25) -> list[float]:
    """Replace `module.time` by a clock reading start, start + tick, start + 2·tick, … (one tick per
    read); returns the list of readings made so far."""
    readings: list[float] = []

    def perf_counter() -> float:
        readings.append(start + tick * len(readings))
        return readings[-1]

    monkeypatch.setattr(module, "time", SimpleNamespace(perf_counter=perf_counter))
    return readings


def constant_actions(value: Any, shape: tuple[int, ...], dtype: type) -> Callable[[np.ndarray], np.ndarray]:
    """act: obs (T, E, ...) ↦ `value` for every sub-env, actions of `shape` each."""
    return lambda obs: np.full((*obs.shape[:2], *shape), value, dtype=dtype)


# ----- Sampler.rollout -------------------------------------------------------------------------------
@pytest.mark.parametrize(("n_tasks", "n_episodes"), [(0, 1), (1, 0), (0, 0)])
def test_rollout_refuses_no_task_or_no_episode_with_its_message(n_tasks: int, n_episodes: int) -> None:
    sampler = Sampler(NAV, {"horizon": 3})
    tasks = list(metarl_envs.task_set(NAV, "train", "maml")[:n_tasks])
    message = rf"^Sampler\.rollout: need ≥ 1 task and episode, got {n_tasks} and {n_episodes}$"
    with pytest.raises(ValueError, match=message):
        sampler.rollout(tasks, n_episodes, constant_actions(0.0, (2,), np.float32), np.random.default_rng(0))


@pytest.mark.parametrize("seed", [0, 3])
def test_rollout_resets_the_envs_with_a_seed_below_2_to_the_31_drawn_from_rng(seed: int) -> None:
    """The first observations are those of a fresh vector env (same tasks) reset with
    `default_rng(seed).integers(2**31 - 1)`; CartPole's initial state depends on the reset seed."""
    sampler = Sampler(CARTPOLE)
    tasks = list(metarl_envs.task_set(CARTPOLE, "train"))[:2]
    batch = sampler.rollout(tasks, 3, constant_actions(1, (), np.int64), np.random.default_rng(seed))
    reference = sampler.envs.vector_env(6)
    reference.unwrapped.set_tasks([task for task in tasks for _ in range(3)])
    expected, _ = reference.reset(seed=int(np.random.default_rng(seed).integers(2**31 - 1)))
    np.testing.assert_array_equal(batch.observations[:, :, 0], expected.reshape(2, 3, -1))


def test_a_rollout_whose_episodes_all_end_early_stops_at_the_longest_one_with_int64_actions() -> None:
    """Always pushing right topples every pole long before CartPole's horizon of 200: the batch's time
    axis is the longest episode, every episode ends by termination, and Discrete actions are int64."""
    sampler = Sampler(CARTPOLE)
    tasks = list(metarl_envs.task_set(CARTPOLE, "train"))[:2]
    batch = sampler.rollout(tasks, 2, constant_actions(1, (), np.int64), np.random.default_rng(0))
    lengths = batch.mask.sum(axis=2)
    assert sampler.horizon == 200
    assert batch.rewards.shape[2] == lengths.max() < 50
    assert batch.terminated.sum(axis=2).tolist() == [[1, 1], [1, 1]]
    assert not batch.truncated.any()
    assert batch.actions.dtype == np.int64
    # the action is stored at every step, masked or not
    np.testing.assert_array_equal(batch.actions, np.ones(batch.rewards.shape, dtype=np.int64))


def test_the_sampler_horizon_caps_the_steps_even_when_the_env_would_run_on() -> None:
    """Navigation2D's episodes last 100 steps; a sampler whose horizon is 3 records exactly 3 steps."""
    sampler = Sampler(NAV)
    sampler.horizon = 3
    tasks = list(metarl_envs.task_set(NAV, "train", "maml")[:2])
    batch = sampler.rollout(tasks, 1, constant_actions(0.0, (2,), np.float32), np.random.default_rng(0))
    assert batch.rewards.shape == (2, 1, 3)
    assert batch.mask.all() and not batch.terminated.any() and not batch.truncated.any()


def test_float64_env_observations_reach_act_and_observe_and_the_batch_as_float32() -> None:
    """HalfCheetahVel observes float64: `act` and `observe` see float32, and the batch stores float32
    observations and final observations equal to the env's rounded to float32."""
    sampler = Sampler(CHEETAH, {"horizon": 3})
    assert sampler.observation_space.dtype == np.float64
    tasks = list(metarl_envs.task_set(CHEETAH, "train", "maml")[:2])
    seen: list[np.ndarray] = []
    transitions: list[Transition] = []

    def act(obs: np.ndarray) -> np.ndarray:
        seen.append(obs)
        return np.zeros((*obs.shape[:2], 6), dtype=np.float32)

    batch = sampler.rollout(tasks, 1, act, np.random.default_rng(0), observe=transitions.append)
    assert [obs.dtype for obs in seen] == [np.float32] * 3
    assert [t.observations.dtype for t in transitions] == [np.float32] * 3
    assert batch.observations.dtype == np.float32 and batch.final_observations.dtype == np.float32
    np.testing.assert_array_equal(batch.observations, np.stack(seen, axis=2))
    np.testing.assert_array_equal(batch.final_observations, transitions[-1].next_observations.astype(np.float32))
    assert transitions[-1].next_observations.dtype == np.float64  # the env's own, handed on as it came


def test_env_seconds_sum_every_reset_and_step_across_rollouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a clock that moves 0.25 s per read, each reset and each step takes 0.25 s: two rollouts of 3
    steps spend 2 × (1 + 3) × 0.25 = 2 s in the env."""
    sampler = Sampler(NAV, {"horizon": 3})
    tasks = list(metarl_envs.task_set(NAV, "train", "maml")[:2])
    readings = fake_clock(monkeypatch, sampler_module)
    act = constant_actions(0.0, (2,), np.float32)
    sampler.rollout(tasks, 1, act, np.random.default_rng(0))
    assert sampler.env_seconds == 1.0
    sampler.rollout(tasks, 1, act, np.random.default_rng(1))
    assert sampler.env_seconds == 2.0
    assert len(readings) == 16


# ----- TrainingEnvs, TrajectoryBatch -----------------------------------------------------------------
def test_training_envs_refuse_an_empty_task_set_with_its_message() -> None:
    with pytest.raises(ValueError, match=r"^TrainingEnvs: the train task set is empty$"):
        TrainingEnvs(NAV, {"horizon": 3}, [])


def test_training_envs_take_the_fingerprint_of_a_task_set_and_none_of_a_list() -> None:
    train = metarl_envs.task_set(CARTPOLE, "train")
    assert train.fingerprint and TrainingEnvs(CARTPOLE, None, train).fingerprint == train.fingerprint
    assert TrainingEnvs(CARTPOLE, None, list(train)).fingerprint == ""


def test_trajectory_batch_refuses_a_flag_of_another_shape_naming_both_shapes() -> None:
    ones = np.ones((2, 1, 4))
    with pytest.raises(ValueError, match=r"^TrajectoryBatch\.truncated has shape \(2, 1, 3\), expected \(2, 1, 4\)$"):
        TrajectoryBatch(np.zeros((2, 1, 4, 2)), np.zeros((2, 1, 4, 2)), ones, ones > 0, ones < 0,
                        np.zeros((2, 1, 3), dtype=bool), np.zeros((2, 1, 2)))


# ----- MetaLearner, reset_parameters, seeded_streams -------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TinyConfig:
    width: int = 7


class TinyLearner(MetaLearner):
    name = "tiny"
    config_class: ClassVar[type] = TinyConfig

    def meta_params(self) -> Any:
        raise NotImplementedError

    def episode_policy(self, params: Any, phase: Any, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def adapt_round(self, params: Any, rollouts: TrajectoryBatch) -> Any:
        raise NotImplementedError


def test_a_learner_built_without_config_gets_its_default_config() -> None:
    learner = TinyLearner(NAV, env_kwargs={"horizon": 3})
    assert learner.config == TinyConfig() and learner.env_kwargs == {"horizon": 3}


def test_a_learner_refuses_a_config_of_another_type_naming_both_types() -> None:
    with pytest.raises(TypeError, match=r"^TinyLearner: config must be a TinyConfig, got dict$"):
        TinyLearner(NAV, {"width": 7})


def test_reset_parameters_draws_each_bias_within_the_fan_in_bound_after_its_weights() -> None:
    """Per Linear layer: weights then biases, each U(−1/√fan_in, 1/√fan_in) from the one generator."""
    policy = build_policy(spaces.Box(-1, 1, (64,), np.float32), spaces.Discrete(40), hidden_sizes=(16,))
    reset_parameters(policy, torch.Generator().manual_seed(5))
    replay = torch.Generator().manual_seed(5)
    linears = [m for m in policy.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.in_features for m in linears] == [64, 16]
    for module in linears:
        bound = 1.0 / module.in_features ** 0.5
        weight = torch.empty_like(module.weight).uniform_(-bound, bound, generator=replay)
        bias = torch.empty_like(module.bias).uniform_(-bound, bound, generator=replay)
        torch.testing.assert_close(module.weight, weight, rtol=0, atol=0)
        torch.testing.assert_close(module.bias, bias, rtol=0, atol=0)
        assert float(module.bias.detach().abs().max()) <= bound


def test_seeded_streams_seed_torch_with_the_second_child_seed_halved() -> None:
    """The torch seed is the spawned second SeedSequence's first uint64 word shifted right by one."""
    child = np.random.SeedSequence(0).spawn(2)[1]
    by_hand = int(child.generate_state(1, np.uint64)[0]) >> 1
    assert by_hand == 2440950710608614359
    assert seeded_streams(0)[1].initial_seed() == by_hand


# ----- run_meta_training -----------------------------------------------------------------------------
class TaskList(list):
    """Train tasks with a `checkpoint` attribute, as the harness's `TrainingEnvs`."""

    checkpoint: Any = None


class Recorder:
    """A checkpoint that hands back `saved` and keeps every state saved to it."""

    def __init__(self, every: int, saved: dict[str, Any] | None = None):
        self.every, self.saved, self.states, self.loads = every, saved, [], 0

    def load(self) -> dict[str, Any] | None:
        self.loads += 1
        return self.saved

    def save(self, state: dict[str, Any]) -> None:
        self.states.append(state)


class StatelessAgent:
    def training_state(self) -> dict[str, Any]:
        return {}

    def load_training_state(self, state: Any) -> None:
        assert state == {}


def counting_step(batches: list[list[Any]]) -> Callable[[list[Any], np.random.Generator], StepResult]:
    """A step that records its task batch and reports 10 env steps."""
    def step(tasks: list[Any], rng: np.random.Generator) -> StepResult:
        batches.append(tasks)
        return StepResult(10, 0.0, 1.0, {})
    return step


def saved_run(records: int, wall_time: float) -> dict[str, Any]:
    """A checkpoint after `records` iterations, the last one at `wall_time` seconds."""
    return {"agent": {}, "rng": np.random.default_rng(1).bit_generator.state, "generators": {},
            "records": [IterationRecord(i, 10 * (i + 1), wall_time, 0.0, 1.0).to_dict() for i in range(records)],
            "env_steps": 10 * records}


def test_run_meta_training_refuses_no_tasks_with_its_message() -> None:
    with pytest.raises(ValueError, match=r"^meta_train: train_tasks is empty$"):
        run_meta_training(counting_step([]), [], None, iterations=1, rng=np.random.default_rng(0), callback=None)


def test_wall_times_count_from_the_start_of_a_fresh_run(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_clock(monkeypatch, training_module, tick=0.5)
    log = run_meta_training(counting_step([]), ["a"], None, iterations=3, rng=np.random.default_rng(0), callback=None)
    assert [r.wall_time for r in log.records] == [0.5, 1.0, 1.5]
    assert [r.env_steps for r in log.records] == [10, 20, 30]


def test_a_resumed_run_continues_the_wall_time_of_its_checkpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_clock(monkeypatch, training_module, tick=0.5)
    tasks = TaskList(["a"])
    tasks.checkpoint = Recorder(every=100, saved=saved_run(2, wall_time=5.0))
    log = run_meta_training(counting_step([]), tasks, None, iterations=4, rng=np.random.default_rng(0),
                            callback=None, agent=StatelessAgent())
    assert [r.wall_time for r in log.records] == [5.0, 5.0, 5.5, 6.0]
    assert [r.env_steps for r in log.records] == [10, 20, 30, 40]


def test_a_checkpoint_with_an_empty_curve_starts_the_clock_at_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_clock(monkeypatch, training_module, tick=0.5)
    tasks = TaskList(["a"])
    tasks.checkpoint = Recorder(every=100, saved=saved_run(0, wall_time=0.0))
    log = run_meta_training(counting_step([]), tasks, None, iterations=2, rng=np.random.default_rng(0),
                            callback=None, agent=StatelessAgent())
    assert [r.wall_time for r in log.records] == [0.5, 1.0]


def test_checkpoints_are_saved_after_every_every_th_iteration() -> None:
    """every=3 over 7 iterations: saved after iterations 2 and 5 (curves of 3 and 6 records)."""
    tasks = TaskList(["a"])
    tasks.checkpoint = Recorder(every=3)
    run_meta_training(counting_step([]), tasks, None, iterations=7, rng=np.random.default_rng(0), callback=None,
                      agent=StatelessAgent())
    assert tasks.checkpoint.loads == 1
    assert [len(state["records"]) for state in tasks.checkpoint.states] == [3, 6]
    assert [state["env_steps"] for state in tasks.checkpoint.states] == [30, 60]


def test_a_callback_that_stops_the_run_still_gets_the_log_returned() -> None:
    log = run_meta_training(counting_step([]), ["a"], None, iterations=5, rng=np.random.default_rng(0),
                            callback=lambda record: record.iteration == 1)
    assert isinstance(log, TrainingLog)
    assert [r.iteration for r in log.records] == [0, 1]


def test_without_an_agent_a_checkpoint_on_the_tasks_is_neither_loaded_nor_saved() -> None:
    tasks = TaskList(["a"])
    tasks.checkpoint = Recorder(every=1, saved=saved_run(1, wall_time=1.0))
    log = run_meta_training(counting_step([]), tasks, None, iterations=2, rng=np.random.default_rng(0), callback=None)
    assert [r.iteration for r in log.records] == [0, 1]
    assert tasks.checkpoint.loads == 0 and tasks.checkpoint.states == []


def test_an_agent_on_a_plain_task_list_trains_without_checkpoints() -> None:
    log = run_meta_training(counting_step([]), ["a", "b"], None, iterations=2, rng=np.random.default_rng(0),
                            callback=None, agent=StatelessAgent())
    assert [r.env_steps for r in log.records] == [10, 20]


def test_a_task_batch_larger_than_the_set_is_drawn_with_replacement() -> None:
    batches: list[list[Any]] = []
    run_meta_training(counting_step(batches), ["a", "b"], 5, iterations=2, rng=np.random.default_rng(4), callback=None)
    replay = np.random.default_rng(4)
    expected = [[["a", "b"][int(i)] for i in replay.choice(2, size=5, replace=True)] for _ in range(2)]
    assert batches == expected
