"""HalfCheetah running at a hidden target velocity (MAML's "half-cheetah velocity").

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`HalfCheetahVelEnv`: `help(HalfCheetahVelEnv)` shows it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from metarl_envs.core import Task, check_finite, task_field_error
from metarl_envs.mujoco.base import MujocoMetaVectorEnv
from metarl_envs.mujoco.half_cheetah import RLLAB_CHEETAH, HalfCheetahMetaEnv, HalfCheetahPreset

__all__ = ["HalfCheetahVelEnv", "HalfCheetahVelPreset", "HalfCheetahVelVectorEnv", "VelocityTask"]


@dataclasses.dataclass(frozen=True, slots=True)
class VelocityTask(Task):
    """A target forward velocity (m/s along x)."""

    velocity: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "velocity", check_finite("VelocityTask", "velocity", self.velocity))


@dataclasses.dataclass(frozen=True, kw_only=True)
class HalfCheetahVelPreset(HalfCheetahPreset):
    velocity_low: float
    velocity_high: float
    source_seed: int | None = None
    """oyster's `sample_tasks` seeds NumPy's global RNG with this and draws all n_train + n_test
    velocities at once; the stored sets are then exactly that list (first n_train train, last
    n_test test). None: the sets are drawn by the project's seeded builder."""


PRESETS: dict[str, HalfCheetahVelPreset] = {
    "maml": HalfCheetahVelPreset(
        horizon=200, n_train_tasks=1000, n_test_tasks=40, velocity_low=0.0, velocity_high=2.0,
        torso_com_in_obs=True, ctrl_cost_weight=0.05, **RLLAB_CHEETAH,
        source="cbfinn/maml_rl@9c8e2eb:rllab/envs/mujoco/half_cheetah_env_rand.py",
    ),
    "pytorch-maml-rl": HalfCheetahVelPreset(
        horizon=100, n_train_tasks=1000, n_test_tasks=40, velocity_low=0.0, velocity_high=2.0,
        torso_com_in_obs=True, ctrl_cost_weight=0.05,
        source="tristandeleu/pytorch-maml-rl@21d4ba1:maml_rl/envs/mujoco/half_cheetah.py",
    ),
    "promp": HalfCheetahVelPreset(
        horizon=100, n_train_tasks=1000, n_test_tasks=40, velocity_low=0.0, velocity_high=3.0,
        torso_com_in_obs=False, ctrl_cost_weight=0.05,
        source="jonasrothfuss/ProMP@93ae339:meta_policy_search/envs/mujoco_envs/half_cheetah_rand_vel.py",
    ),
    "pearl": HalfCheetahVelPreset(
        horizon=200, n_train_tasks=100, n_test_tasks=30, velocity_low=0.0, velocity_high=3.0,
        torso_com_in_obs=True, ctrl_cost_weight=0.05, source_seed=1337,
        source="katerakelly/oyster@44e20fd:rlkit/envs/half_cheetah_vel.py",
    ),
    "pmeta": HalfCheetahVelPreset(
        horizon=200, n_train_tasks=10, n_test_tasks=3, velocity_low=0.0, velocity_high=3.0,
        torso_com_in_obs=True, ctrl_cost_weight=0.05, source_seed=1337,
        source="katerakelly/oyster@44e20fd:rlkit/envs/half_cheetah_vel.py",
    ),
}


def oyster_velocities(preset: HalfCheetahVelPreset) -> np.ndarray:
    """oyster's cheetah-vel list: `np.random.seed(seed)` then one `uniform(low, high, n)` draw, i.e.
    the legacy RandomState(seed) stream (frozen by NumPy's compatibility policy)."""
    n = preset.n_train_tasks + preset.n_test_tasks
    return np.random.RandomState(preset.source_seed).uniform(preset.velocity_low, preset.velocity_high, n)


def check_velocity_in_preset(owner: str, task: VelocityTask, preset: Any, preset_name: str) -> None:
    """Shared by every velocity family (HalfCheetahVel, AntVel)."""
    if not preset.velocity_low <= task.velocity <= preset.velocity_high:
        raise task_field_error(owner, "velocity", task.velocity, preset_name,
                               f"U[{preset.velocity_low}, {preset.velocity_high}]")


def draw_velocities(preset: Any, rng: np.random.Generator, n: int) -> list[VelocityTask]:
    return [VelocityTask(velocity=v) for v in rng.uniform(preset.velocity_low, preset.velocity_high, n).tolist()]


class VelocityTaskFamily:
    """The task half of every target-velocity env (HalfCheetahVel, AntVel): sampling U[low, high] from
    the preset, the preset range check and the per-sub-env velocity array; mixed in before the body's base."""

    task_type = VelocityTask

    @classmethod
    def draw_tasks(cls, preset: Any, rng: np.random.Generator, n: int) -> list[VelocityTask]:
        return draw_velocities(preset, rng, n)

    def _check_task_in_preset(self, task: VelocityTask) -> None:
        check_velocity_in_preset("VelocityTask", task, self.preset, self.preset_name)

    def task_arrays(self, tasks: Sequence[VelocityTask]) -> dict[str, np.ndarray]:
        return {"velocity": np.array([t.velocity for t in tasks])}


class HalfCheetahVelEnv(VelocityTaskFamily, HalfCheetahMetaEnv):
    """HalfCheetah running at a hidden target velocity (MAML's "half-cheetah velocity").

    ## Description
    The planar HalfCheetah of Gymnasium's v5 model must run forward at a target velocity that it does
    not observe and must infer from rewards. Finn et al. (2017) §5.3; reused by ProMP, PEARL, VariBAD.

    ## Task distribution
    | preset          | velocity ~ | horizon | dt (s)   | obs  | velocity read | train / test sets | scored     |
    |-----------------|------------|---------|----------|------|---------------|-------------------|------------|
    | maml            | U[0, 2]    | 200     | 0.01 × 1 | 20-D | subtree COM   | 1000 / 40         | batch mean |
    | pytorch-maml-rl | U[0, 2]    | 100     | 0.01 × 5 | 20-D | (x' − x)/dt   | 1000 / 40         | batch mean |
    | promp           | U[0, 3]    | 100     | 0.01 × 5 | 17-D | (x' − x)/dt   | 1000 / 40         | batch mean |
    | pearl           | U[0, 3]    | 200     | 0.01 × 5 | 20-D | (x' − x)/dt   | 100 / 30 (oyster) | last of 3  |
    | pmeta           | U[0, 3]    | 200     | 0.01 × 5 | 20-D | (x' − x)/dt   | 10 / 3 (oyster)   | last of 3  |

    dt = model time step × physics steps per env step. "batch mean": the mean return of the
    post-adaptation batch; "last of 3": PEARL's last of three trajectories after exploring.
    ctrl_cost_weight is 0.05 (= 0.5 · 1e-1) in every preset.

    `maml` is the MAML paper's own code (rllab): one physics step of 0.01 s per env step, so a
    200-step episode lasts 2 s; `pytorch-maml-rl` is the later gym-based port many people run today
    (5 steps, 0.05 s per env step, 100-step episodes of 5 s). The pearl sets are oyster's exact list:
    its `sample_tasks` seeds NumPy's global RNG with 1337 and draws all 130 velocities at once, so the
    list is `RandomState(1337).uniform(0, 3, 130)` (0.786, 0.476, 0.834, …); train = the first 100,
    test = the last 30, as oyster's launch_experiment.py splits it. `pmeta` is pMeta-RL's setting
    (Wang et al. 2022, §V-A: 10 train and 3 test tasks, horizon 200, "the same domains as" PEARL):
    oyster's env and draw with those counts, `RandomState(1337).uniform(0, 3, 13)`, so its train tasks
    are pearl's first ten and its test tasks pearl's train tasks 11-13.

    ## Action Space
    `Box(-1, 1, (6,), float32)`: torques of bthigh, bshin, bfoot, fthigh, fshin, ffoot (gear 120, 90,
    60, 120, 60, 30). An action outside the box raises `ValueError` (nothing is clipped).

    ## Observation Space
    `Box(-inf, inf, (d,), float64)`: qpos[1:] (8: rootz, rooty, 6 joint angles) ⊕ qvel (9), and for the
    20-D layout "the torso position" (3): `data.subtree_com["torso"]`, the centre of mass of the torso's
    subtree (= the whole cheetah), for `maml` (rllab's `get_body_com` read `com_subtree`), and the
    torso frame origin `data.xpos["torso"]` for the others (gym's `get_body_com`). The target velocity
    is not observed.

    ## Rewards
    `reward = -|v − task.velocity| − ctrl_cost_weight · ‖a‖²`. v for `maml`: the x velocity of the torso
    subtree's centre of mass after the step (`data.subtree_linvel`, rllab's `get_body_comvel`, which
    summed the bodies' momenta); for the others v = (x' − x)/dt from rootx (qpos[0]).
    `info["reward_forward"]` = −|v − task.velocity|, `info["reward_ctrl"]` = −ctrl_cost_weight·‖a‖²,
    `info["x_velocity"]` = v, `info["non_finite_state"]` flags a simulation that diverged.

    ## Starting State
    Drawn from the env's `np_random`, qpos first. `maml`: qpos = qpos0 + 0.01·N(0, 1)^9, qvel =
    0.1·N(0, 1)^9 (rllab's `reset_mujoco`). Others: qpos = qpos0 + U[−0.1, 0.1]^9, qvel = 0.1·N(0, 1)^9
    (gym's HalfCheetahEnv).

    ## Episode End
    - Termination: never.
    - Truncation: after `horizon` steps, or at once if the simulation state becomes non-finite (the
      last finite observation and reward 0 are returned, `info["non_finite_state"]` is True).

    ## Arguments
    | argument | default | meaning |
    |----------|---------|---------|
    | preset   | "maml"  | protocol preset (table above) |
    | task     | None    | initial task (`VelocityTask` or its dict); default: the first task drawn with seed 0 |
    | horizon  | None    | steps before truncation; None takes the preset's |
    | render_kwargs | — | `render_mode` (None, "rgb_array", "human"), `width`, `height` (480), `camera_id`/`_name` |

    ## Vectorized environment
    `gym.make_vec("MetaRL/HalfCheetahVel-v0", num_envs=n, vectorization_mode="vector_entry_point",
    num_threads=k)` gives `HalfCheetahVelVectorEnv`: n model/data pairs, one task each (`set_tasks`),
    stepped by the single env's batched transition, optionally on k threads (bit-identical results).

    ## Sources
    - cbfinn/maml_rl@9c8e2eb:rllab/envs/mujoco/half_cheetah_env_rand.py, rllab/envs/mujoco/mujoco_env.py,
      vendor/mujoco_models/half_cheetah.xml (maml: U[0,2], 20-D with com_subtree, comvel reward, no
      frame_skip numeric so 1 step of 0.01 s, reset noise, horizon 200 of cluster_maml_trpo_cheetah.py)
    - tristandeleu/pytorch-maml-rl@21d4ba1:maml_rl/envs/mujoco/half_cheetah.py,
      configs/maml/halfcheetah-vel.yaml (pytorch-maml-rl: gym's frame_skip 5, xpos, (x' − x)/dt, 100 steps)
    - jonasrothfuss/ProMP@93ae339:meta_policy_search/envs/mujoco_envs/half_cheetah_rand_vel.py (promp)
    - katerakelly/oyster@44e20fd:rlkit/envs/half_cheetah_vel.py, configs/cheetah-vel.json,
      launch_experiment.py (pearl: the seeded list of 130, first 100 train, last 30 eval)
    Details of each code base: docs/sources/code-bases.md. Differences from the originals: today's
    `mujoco` bindings and Gymnasium's half_cheetah.xml (the same model as rllab's and gym's v2 asset,
    edited through `mujoco.MjSpec` where a preset says so); rllab ran MuJoCo 1.31, gym ports mujoco-py
    with MuJoCo 1.5/2.0; the sources clip actions, this env refuses out-of-range actions.

    ## Version History
    - v0: initial release.
    - v0, presets revised: `maml` now runs the MAML code's physics (dt 0.01 instead of 0.05, rllab's
      start noise, com_subtree observation, subtree-COM velocity); the former definition is the new
      `pytorch-maml-rl` preset (with that code's 100-step horizon); the `pearl` sets are oyster's exact
      list (fingerprint changed).

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> env = gym.make("MetaRL/HalfCheetahVel-v0")
        >>> obs, info = env.reset(seed=0, options={"task": {"velocity": 1.5}})
        >>> obs.shape
        (20,)
        >>> obs, reward, terminated, truncated, info = env.step(env.action_space.low * 0)
        >>> bool(reward == info["reward_forward"] == -abs(info["x_velocity"] - 1.5))
        True
    """

    presets: ClassVar[dict[str, HalfCheetahVelPreset]] = PRESETS

    def __init__(self, preset: str = "maml", task: VelocityTask | dict | None = None, horizon: int | None = None,
                 **render_kwargs: object):
        super().__init__(preset, task, horizon, **render_kwargs)  # render_mode, width, height, camera_id/_name

    @classmethod
    def fixed_split(cls, preset: HalfCheetahVelPreset) -> tuple[list[VelocityTask], list[VelocityTask]] | None:
        """oyster's own list and split for a preset with `source_seed` (used by `task_sets.split_tasks`):
        tasks[:n_train] train, tasks[-n_test:] eval, as oyster's launch_experiment.py takes them."""
        if preset.source_seed is None:
            return None
        tasks = [VelocityTask(velocity=v) for v in oyster_velocities(preset).tolist()]
        return tasks[: preset.n_train_tasks], tasks[len(tasks) - preset.n_test_tasks:]

    def forward_reward(self, x_velocity, params):
        return -np.abs(x_velocity - params["velocity"])


class HalfCheetahVelVectorEnv(MujocoMetaVectorEnv):
    single_env_cls = HalfCheetahVelEnv
