"""HalfCheetah running at a hidden target velocity (MAML's "half-cheetah velocity").

## Description
The planar HalfCheetah of Gymnasium's v5 model must run forward at a target velocity that it does
not observe and must infer from rewards. Finn et al. (2017) §5.3; reused by ProMP, PEARL, VariBAD.

## Task distribution
| preset | velocity ~ | horizon | obs  | ctrl_cost_weight | train / test sets | scored episodes |
|--------|------------|---------|------|------------------|-------------------|-----------------|
| maml   | U[0, 2]    | 200     | 20-D | 0.05             | 1000 / 40         | post-adaptation batch mean |
| promp  | U[0, 3]    | 100     | 17-D | 0.05             | 1000 / 40         | post-adaptation batch mean |
| pearl  | U[0, 3]    | 200     | 20-D | 0.05             | 100 / 30          | last of 3 after exploring |

The pearl sets are drawn once with the project's seeded builder (oyster drew its 130 velocities
from the global RNG seeded with 1337; the values differ, the distribution and split sizes do not).

## Action Space
`Box(-1, 1, (6,), float32)`: torques of bthigh, bshin, bfoot, fthigh, fshin, ffoot (gear 120, 90,
60, 120, 60, 30). An action outside the box raises `ValueError` (nothing is clipped).

## Observation Space
`Box(-inf, inf, (d,), float64)`: qpos[1:] (8: rootz, rooty, 6 joint angles) ⊕ qvel (9), and for the
20-D layout the torso position `data.xpos["torso"]` (3). The target velocity is not observed.

## Rewards
`reward = -|v − task.velocity| − ctrl_cost_weight · ‖a‖²`, v = (x' − x)/dt from rootx (qpos[0]).
`info["reward_forward"]` = −|v − task.velocity|, `info["reward_ctrl"]` = −ctrl_cost_weight·‖a‖²,
`info["x_velocity"]` = v, `info["non_finite_state"]` flags a simulation that diverged.

## Starting State
qpos = qpos0 + U[−0.1, 0.1]^9, qvel = 0.1·N(0, 1)^9, drawn from the env's `np_random`.

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

## Vectorized environment
`gym.make_vec("MetaRL/HalfCheetahVel-v0", num_envs=n, vectorization_mode="vector_entry_point",
num_threads=k)` gives `HalfCheetahVelVectorEnv`: n model/data pairs, one task each (`set_tasks`),
stepped by the single env's batched transition, optionally on k threads (bit-identical results).

## Sources
- cbfinn/maml_rl@9c8e2eb:rllab/envs/mujoco/half_cheetah_env_rand.py (maml: U[0,2], 20-D, coefficients)
- tristandeleu/pytorch-maml-rl@21d4ba1:maml_rl/envs/mujoco/half_cheetah.py (finite-difference velocity)
- jonasrothfuss/ProMP@93ae339:meta_policy_search/envs/mujoco_envs/half_cheetah_rand_vel.py (promp)
- katerakelly/oyster@44e20fd:rlkit/envs/half_cheetah_vel.py, configs/cheetah-vel.json (pearl)
Differences from the originals: today's `mujoco` bindings and Gymnasium's half_cheetah.xml (the
same model as gym's v2 asset); rllab observed the torso subtree COM and rewarded its COM velocity
(`get_body_comvel`), every later source (and this env) uses the torso frame position and
(x' − x)/dt; the sources clip actions, this env refuses out-of-range actions.

## Version History
- v0: initial release.

>>> import gymnasium as gym, metarl_envs
>>> env = gym.make("MetaRL/HalfCheetahVel-v0")
>>> obs, info = env.reset(seed=0, options={"task": {"velocity": 1.5}})
>>> obs.shape
(20,)
>>> obs, reward, terminated, truncated, info = env.step(env.action_space.low * 0)
>>> bool(reward == info["reward_forward"] == -abs(info["x_velocity"] - 1.5))
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from metarl_envs.core import Task, check_finite, task_field_error
from metarl_envs.mujoco.base import MujocoMetaVectorEnv
from metarl_envs.mujoco.half_cheetah import HalfCheetahMetaEnv, HalfCheetahPreset

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


PRESETS: dict[str, HalfCheetahVelPreset] = {
    "maml": HalfCheetahVelPreset(
        horizon=200, n_train_tasks=1000, n_test_tasks=40, velocity_low=0.0, velocity_high=2.0,
        torso_com_in_obs=True, ctrl_cost_weight=0.05,
        source="cbfinn/maml_rl@9c8e2eb:rllab/envs/mujoco/half_cheetah_env_rand.py",
    ),
    "promp": HalfCheetahVelPreset(
        horizon=100, n_train_tasks=1000, n_test_tasks=40, velocity_low=0.0, velocity_high=3.0,
        torso_com_in_obs=False, ctrl_cost_weight=0.05,
        source="jonasrothfuss/ProMP@93ae339:meta_policy_search/envs/mujoco_envs/half_cheetah_rand_vel.py",
    ),
    "pearl": HalfCheetahVelPreset(
        horizon=200, n_train_tasks=100, n_test_tasks=30, velocity_low=0.0, velocity_high=3.0,
        torso_com_in_obs=True, ctrl_cost_weight=0.05,
        source="katerakelly/oyster@44e20fd:rlkit/envs/half_cheetah_vel.py",
    ),
}


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
    presets: ClassVar[dict[str, HalfCheetahVelPreset]] = PRESETS

    def __init__(self, preset: str = "maml", task: VelocityTask | dict | None = None, horizon: int | None = None):
        super().__init__(preset, task, horizon)

    def forward_reward(self, x_velocity, params):
        return -np.abs(x_velocity - params["velocity"])


class HalfCheetahVelVectorEnv(MujocoMetaVectorEnv):
    single_env_cls = HalfCheetahVelEnv
