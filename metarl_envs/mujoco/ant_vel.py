"""Ant running at a hidden target velocity (MAML's "ant velocity").

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`AntVelEnv`: `help(AntVelEnv)` shows it.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from metarl_envs.mujoco.ant import RLLAB_ANT, AntMetaEnv, AntPreset
from metarl_envs.mujoco.base import MujocoMetaVectorEnv
from metarl_envs.mujoco.half_cheetah_vel import VelocityTask, VelocityTaskFamily

__all__ = ["AntVelEnv", "AntVelPreset", "AntVelVectorEnv"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class AntVelPreset(AntPreset):
    velocity_low: float
    velocity_high: float
    forward_offset: float
    """constant added to −|v − v*| (rllab: +1.0)"""


PRESETS: dict[str, AntVelPreset] = {
    "maml": AntVelPreset(
        horizon=200, n_train_tasks=1000, n_test_tasks=40, velocity_low=0.0, velocity_high=3.0,
        forward_offset=1.0, obs_layout="rllab", ctrl_cost_weight=0.005, contact_cost_weight=0.0005,
        survive_reward=0.05, healthy_z_low=0.2, healthy_z_high=1.0, **RLLAB_ANT,
        source="cbfinn/maml_rl@9c8e2eb:rllab/envs/mujoco/ant_env_rand.py",
    ),
    "pytorch-maml-rl": AntVelPreset(
        horizon=100, n_train_tasks=1000, n_test_tasks=40, velocity_low=0.0, velocity_high=3.0,
        forward_offset=1.0, obs_layout="rllab", ctrl_cost_weight=0.005, contact_cost_weight=0.0005,
        survive_reward=0.05, healthy_z_low=0.2, healthy_z_high=1.0,
        source="tristandeleu/pytorch-maml-rl@21d4ba1:maml_rl/envs/mujoco/ant.py",
    ),
}


class AntVelEnv(VelocityTaskFamily, AntMetaEnv):
    """Ant running at a hidden target velocity (MAML's "ant velocity").

    ## Description
    The quadruped Ant of Gymnasium's v5 model must run along +x at a target velocity it does not
    observe. Finn et al. (2017) §5.3 (rllab `ant_env_rand.py`); only MAML and its ports define it.

    ## Task distribution
    | preset          | velocity ~ | horizon | dt (s)   | obs   | ctrl / contact / survive | healthy z  | train / test |
    |-----------------|------------|---------|----------|-------|--------------------------|------------|--------------|
    | maml            | U[0, 3]    | 200     | 0.02 × 1 | 125-D | 0.005 / 0.0005 / 0.05    | [0.2, 1.0] | 1000 / 40    |
    | pytorch-maml-rl | U[0, 3]    | 100     | 0.01 × 5 | 125-D | 0.005 / 0.0005 / 0.05    | [0.2, 1.0] | 1000 / 40    |

    Both presets score the mean return of the post-adaptation batch (MAML's per-step average).

    dt = model time step × physics steps per env step.

    `maml` is the MAML paper's rllab code, whose ant.xml differs from Gymnasium's in its physics; the
    env makes those edits on Gymnasium's asset through `mujoco.MjSpec`: time step 0.02 (RK4) with one
    physics step per env step (a 200-step episode lasts 4 s), every geom's contact softness solref
    ".02 1" / solimp ".8 .8 .01" (margin 0.01, as Gymnasium's), and the start pose of the asset's
    `init_qpos` numeric (torso at 0.55, ankles at ±1 rad) instead of qpos0 (torso at 0.75, legs flat).
    `pytorch-maml-rl` is the later gym-based port: Gymnasium's model as it is (dt 0.05, 100 steps).

    ## Action Space
    `Box(-1, 1, (8,), float32)`: hip and ankle torques of the four legs (gear 150). An action outside
    the box raises `ValueError` (nothing is clipped).

    ## Observation Space
    `Box(-inf, inf, (125,), float64)`: qpos (15) ⊕ qvel (14) ⊕ clip(cfrc_ext, −1, 1) (14 bodies × 6)
    ⊕ torso rotation matrix `xmat` (9) ⊕ "the torso position" (3), the rllab layout. That position is
    the torso subtree's centre of mass `data.subtree_com["torso"]` (= the whole ant's) for `maml`, as
    rllab's `get_body_com` read it, and the torso frame origin `data.xpos["torso"]` for
    `pytorch-maml-rl` (gym's `get_body_com`).

    ## Rewards
    `reward = reward_forward + reward_ctrl + reward_contact + reward_survive` with
    `info["reward_forward"]` = −|v − task.velocity| + 1.0, v = the x velocity of the torso subtree's
    centre of mass after the step for `maml` (`data.subtree_linvel`, rllab's `get_body_comvel`), and
    (x' − x)/dt of the torso frame for `pytorch-maml-rl`;
    `info["reward_ctrl"]` = −0.005·‖a / action_scale‖² (action_scale = 1 here);
    `info["reward_contact"]` = −0.0005·‖clip(cfrc_ext, −1, 1)‖² (real contact wrenches: see below);
    `info["reward_survive"]` = 0.05 every step. Also `info["x_velocity"]`, `info["y_velocity"]` and
    `info["non_finite_state"]`.

    ## Starting State
    Drawn from the env's `np_random`, qpos first. `maml`: qpos = init_qpos + 0.01·N(0, 1)^15 (init_qpos
    = the asset's numeric: torso at (0, 0, 0.55), ankles at +1, −1, −1, +1 rad), qvel = 0.1·N(0, 1)^14
    (rllab's `reset_mujoco`). `pytorch-maml-rl`: qpos = qpos0 + U[−0.1, 0.1]^15, qvel = 0.1·N(0, 1)^14
    (gym's AntEnv).

    ## Episode End
    - Termination: the torso height qpos[2] leaves [0.2, 1.0].
    - Truncation: after `horizon` steps, or at once if the simulation state becomes non-finite (the
      last finite observation and reward 0 are returned, `info["non_finite_state"]` is True).

    ## Arguments
    | argument | default | meaning                                                                              |
    |----------|---------|--------------------------------------------------------------------------------------|
    | preset   | "maml"  | protocol preset (table above)                                                        |
    | task     | None    | initial task (`VelocityTask` or its dict); default: the first task drawn with seed 0 |
    | horizon  | None    | steps before truncation; None takes the preset's                                     |
    | render_kwargs | — | `render_mode` (None, "rgb_array", "human"), `width`, `height` (480), `camera_id`/`_name` |

    ## Vectorized environment
    `gym.make_vec("MetaRL/AntVel-v0", num_envs=n, vectorization_mode="vector_entry_point", num_threads=k)`
    gives `AntVelVectorEnv` (one task per sub-env, bit-identical to the single env).

    ## Sources
    - cbfinn/maml_rl@9c8e2eb:rllab/envs/mujoco/ant_env_rand.py, mujoco_env.py, vendor/mujoco_models/ant.xml,
      maml_examples/cluster_maml_trpo_ant.py (maml: task range, reward terms, 125-D obs with
      com_subtree, comvel reward, physics edits above, reset noise, horizon 200)
    - tristandeleu/pytorch-maml-rl@21d4ba1:maml_rl/envs/mujoco/ant.py (`AntVelEnv`), configs/maml/ant-vel.yaml
      (pytorch-maml-rl: gym's ant.xml, frame_skip 5, xpos, (x' − x)/dt, 100 steps)
    Details of each code base: docs/sources/code-bases.md. Differences from the originals: today's
    `mujoco` bindings (rllab ran MuJoCo 1.31; pytorch-maml-rl mujoco-py with MuJoCo 2.0). rllab's
    actuators take [−150, 150] at gear 1 where Gymnasium's take [−1, 1] at gear 150: the same torques,
    and rllab's control cost divides by its half-range, so the cost is the same. Under MuJoCo ≥ 2.0
    `cfrc_ext` stays all zeros unless `mj_rnePostConstraint` is called (openai/gym#1541), which
    silently removed the contact obs and cost from mujoco-py ports; here it is called after every step
    and at reset, so the contact terms are real, as they were under MuJoCo 1.31 in rllab.

    ## Version History
    - v0: initial release.
    - v0, presets revised: `maml` now runs the MAML code's physics (dt 0.02 with RK4 instead of 0.05,
      rllab's contact softness, init_qpos pose and start noise, com_subtree observation, subtree-COM
      velocity); the former definition is the new `pytorch-maml-rl` preset (100-step horizon). The maml
      task sets are unchanged.

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> env = gym.make("MetaRL/AntVel-v0")
        >>> obs, info = env.reset(seed=0, options={"task": {"velocity": 2.0}})
        >>> obs.shape
        (125,)
    """

    presets: ClassVar[dict[str, AntVelPreset]] = PRESETS

    def __init__(self, preset: str = "maml", task: VelocityTask | dict | None = None, horizon: int | None = None,
                 **render_kwargs: object):
        super().__init__(preset, task, horizon, **render_kwargs)  # render_mode, width, height, camera_id/_name

    def task_reward(self, before, after, xy_velocity, params):
        return -np.abs(xy_velocity[:, 0] - params["velocity"]) + self.preset.forward_offset


class AntVelVectorEnv(MujocoMetaVectorEnv):
    single_env_cls = AntVelEnv
