"""Hopper with hidden random physics (rand_param_envs' "HopperRandParams").

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`HopperParamsEnv`: `help(HopperParamsEnv)` shows it.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from metarl_envs.mujoco.base import MujocoMetaVectorEnv
from metarl_envs.mujoco.rand_params import ModelParamsTask, RandParamsMetaEnv, RandParamsPreset

__all__ = ["HopperParamsEnv", "HopperParamsVectorEnv", "ModelParamsTask"]

PRESETS: dict[str, RandParamsPreset] = {
    "pearl": RandParamsPreset(
        horizon=200, n_train_tasks=40, n_test_tasks=10, log_scale_limit=3.0, mass_base=1.5,
        inertia_base=1.5, damping_base=1.3, friction_base=1.5, ctrl_cost_weight=1e-3, healthy_reward=1.0,
        timestep=0.004,
        source="dennisl88/rand_param_envs@4d1529d:rand_param_envs/hopper_rand_params.py",
    ),
}


class HopperParamsEnv(RandParamsMetaEnv):
    """Hopper with hidden random physics (rand_param_envs' "HopperRandParams").

    ## Description
    The one-legged planar Hopper of Gymnasium's hopper.xml must hop forward while its body masses,
    inertias, joint damping and geom frictions are scaled by a hidden per-task factor (the scheme of
    `Walker2DParams-v0`, `rand_params.py`). Used by PEARL and VariBAD through rand_param_envs.

    ## Task distribution
    A task holds one multiplier per element of each model array (`ModelParamsTask`): body_mass (5),
    body_inertia (5×3), dof_damping (6), geom_friction (5×3), world body and floor included.

    | preset | mass, inertia, friction ~ | damping ~    | horizon | dt (s)    | obs  | ctrl cost | train / test |
    |--------|---------------------------|--------------|---------|-----------|------|-----------|--------------|
    | pearl  | 1.5^U[−3, 3]              | 1.3^U[−3, 3] | 200     | 0.004 × 4 | 11-D | 0.001     | 40 / 10      |

    Scored: the last of 3, PEARL's `AverageReturn_all_test_tasks`. log_scale_limit = 3.0.
    dt = 0.016 s, the source's: rand_param_envs' hopper.xml has time step 0.004 (its commit c662ac8 "increase env step"
    doubled it from gym's 0.002) and `RandomEnv` steps it 4 times; here the same frame skip 4 on
    Gymnasium's hopper.xml with its time step set to 0.004 through `mujoco.MjSpec`.

    ## Action Space
    `Box(-1, 1, (3,), float32)`: thigh, leg and foot torques (gear 200). Out-of-box actions raise.

    ## Observation Space
    `Box(-inf, inf, (11,), float64)`: qpos[1:] (5) ⊕ clip(qvel, −10, 10) (6). The physics is not observed.

    ## Rewards
    `reward = v + 1.0 − 0.001·‖a‖²`, v = (x' − x)/dt of rootx. `info["reward_forward"]` = v,
    `info["reward_survive"]` = 1.0 every step, `info["reward_ctrl"]` = −0.001·‖a‖²,
    `info["x_velocity"]` = v, `info["non_finite_state"]` flags a diverged simulation.

    ## Starting State
    qpos = qpos0 + U[−0.005, 0.005]^6, qvel = U[−0.005, 0.005]^6, drawn from the env's `np_random`.

    ## Episode End
    - Termination: unless height (qpos[1]) > 0.7, |angle (qpos[2])| < 0.2 and |s[2:]| < 100 for the
      state s = qpos ⊕ qvel (gym Hopper-v2's rule, copied by rand_param_envs).
    - Truncation: after `horizon` steps, or at once if the simulation state becomes non-finite (the
      last finite observation and reward 0 are returned, `info["non_finite_state"]` is True).

    ## Arguments
    | argument | default | meaning |
    |----------|---------|---------|
    | preset   | "pearl" | protocol preset (table above) |
    | task     | None    | initial task (`ModelParamsTask` or its dict); default: the first task drawn with seed 0 |
    | horizon  | None    | steps before truncation; None takes the preset's |
    | render_kwargs | — | `render_mode` (None, "rgb_array", "human"), `width`, `height` (480), `camera_id`/`_name` |

    ## Vectorized environment
    `gym.make_vec("MetaRL/HopperParams-v0", num_envs=n, vectorization_mode="vector_entry_point",
    num_threads=k)` gives `HopperParamsVectorEnv`: one model per sub-env carrying its task's physics.

    ## Sources
    - dennisl88/rand_param_envs@4d1529d:rand_param_envs/base.py (task scheme), hopper_rand_params.py
    - katerakelly/oyster@ea3daeeb:configs/hopper_rand_params.json (50 tasks: 40 train / 10 eval; H 200)
    Differences from the originals: they need MuJoCo 1.31 / mujoco-py 0.5.7; here today's `mujoco`
    and Gymnasium's hopper.xml with the source's time step 0.004 (frame_skip 4 as `RandomEnv`
    hard-codes, dt = 0.016); derived model constants are recomputed after a task change
    (`mj_setConst`). Details of each code base: docs/sources/code-bases.md.

    ## Version History
    - v0: initial release.
    - v0, preset revised: dt 0.016 s, the source's (time step 0.004; it was Gymnasium's 0.002, dt
      0.008); the task sets are unchanged.

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> gym.make("MetaRL/HopperParams-v0").reset(seed=0)[0].shape
        (11,)
    """

    xml_file: ClassVar[str] = "hopper.xml"
    frame_skip: ClassVar[int] = 4
    model_shapes: ClassVar[dict[str, tuple[int, ...]]] = {
        "body_mass": (5,), "body_inertia": (5, 3), "dof_damping": (6,), "geom_friction": (5, 3)}
    presets: ClassVar[dict[str, RandParamsPreset]] = PRESETS

    def __init__(self, preset: str = "pearl", task: ModelParamsTask | dict | None = None,
                 horizon: int | None = None,
                 **render_kwargs: object):
        super().__init__(preset, task, horizon, **render_kwargs)  # render_mode, width, height, camera_id/_name

    def is_healthy(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        height, angle = qpos[:, 1], qpos[:, 2]
        bounded = np.all(np.abs(np.concatenate([qpos, qvel], axis=1)[:, 2:]) < 100.0, axis=1)
        return bounded & (height > 0.7) & (np.abs(angle) < 0.2)


class HopperParamsVectorEnv(MujocoMetaVectorEnv):
    single_env_cls = HopperParamsEnv
