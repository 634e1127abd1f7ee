"""Walker2d with hidden random physics (rand_param_envs' "Walker2DRandParams").

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`Walker2DParamsEnv`: `help(Walker2DParamsEnv)` shows it.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from metarl_envs.mujoco.base import MujocoMetaVectorEnv
from metarl_envs.mujoco.rand_params import ModelParamsTask, RandParamsMetaEnv, RandParamsPreset

__all__ = ["ModelParamsTask", "Walker2DParamsEnv", "Walker2DParamsVectorEnv"]

PRESETS: dict[str, RandParamsPreset] = {
    "pearl": RandParamsPreset(
        horizon=200, n_train_tasks=40, n_test_tasks=10, log_scale_limit=3.0, mass_base=1.5,
        inertia_base=1.5, damping_base=1.3, friction_base=1.5, ctrl_cost_weight=1e-3, healthy_reward=1.0,
        timestep=0.004,
        source="dennisl88/rand_param_envs@4d1529d:rand_param_envs/walker2d_rand_params.py",
    ),
}


class Walker2DParamsEnv(RandParamsMetaEnv):
    """Walker2d with hidden random physics (rand_param_envs' "Walker2DRandParams").

    ## Description
    The planar biped of Gymnasium's walker2d_v5.xml must walk forward while its body masses, inertias,
    joint damping and geom frictions are scaled by a hidden per-task factor. Used by ProMP, PEARL and
    VariBAD through dennisl88/rand_param_envs.

    ## Task distribution
    A task holds one multiplier per element of each model array (`ModelParamsTask`): body_mass (8),
    body_inertia (8×3), dof_damping (9), geom_friction (8×3), world body and floor included as in
    the source.

    | preset | mass, inertia, friction ~ | damping ~    | horizon | dt (s)    | obs  | ctrl cost | train / test |
    |--------|---------------------------|--------------|---------|-----------|------|-----------|--------------|
    | pearl  | 1.5^U[−3, 3]              | 1.3^U[−3, 3] | 200     | 0.004 × 4 | 17-D | 0.001     | 40 / 10      |

    Scored: the last of 3, PEARL's `AverageReturn_all_test_tasks` (the last of three trajectories after
    exploration). log_scale_limit = 3.0. dt = 0.016 s, the source's: rand_param_envs' walker2d.xml has
    time step 0.004 (RK4) and `RandomEnv` steps it 4 times; here the same frame skip 4 on Gymnasium's
    walker2d_v5.xml with its time step set to 0.004 through `mujoco.MjSpec`.

    ## Action Space
    `Box(-1, 1, (6,), float32)`: thigh, leg, foot torques of the right and left legs (gear 100).
    An action outside the box raises `ValueError`.

    ## Observation Space
    `Box(-inf, inf, (17,), float64)`: qpos[1:] (8) ⊕ clip(qvel, −10, 10) (9). The physics is not observed.

    ## Rewards
    `reward = v + 1.0 − 0.001·‖a‖²`, v = (x' − x)/dt of rootx. `info["reward_forward"]` = v,
    `info["reward_survive"]` = 1.0 (every step, rand_param_envs' alive bonus), `info["reward_ctrl"]` =
    −0.001·‖a‖², `info["x_velocity"]` = v, `info["non_finite_state"]` flags a diverged simulation.

    ## Starting State
    qpos = qpos0 + U[−0.005, 0.005]^9, qvel = U[−0.005, 0.005]^9, drawn from the env's `np_random`.

    ## Episode End
    - Termination: unless 0.8 < height (qpos[1]) < 2.0 and −1 < angle (qpos[2]) < 1.
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
    `gym.make_vec("MetaRL/Walker2DParams-v0", num_envs=n, vectorization_mode="vector_entry_point",
    num_threads=k)` gives `Walker2DParamsVectorEnv`: one model per sub-env carrying its task's physics.

    ## Sources
    - dennisl88/rand_param_envs@4d1529d:rand_param_envs/base.py (`RandomEnv.sample_tasks`, scheme above)
    - dennisl88/rand_param_envs@4d1529d:rand_param_envs/walker2d_rand_params.py (reward, done, obs)
    - katerakelly/oyster@44e20fd:configs/walker_rand_params.json (50 tasks: 40 train / 10 eval, H 200)
    Differences from the originals: the originals need MuJoCo 1.31 / mujoco-py 0.5.7. Their
    `RandomEnv.__init__` hard-codes frame_skip 4 on an asset with timestep 0.004 (RK4), so dt = 0.016,
    and so does this env (Gymnasium's walker2d_v5.xml has timestep 0.002; the env sets 0.004, so an
    episode of 200 steps spans 3.2 s as in the source). walker2d_v5.xml gives both feet friction 1.9
    (the old asset: left foot 1.9, right foot 0.9; Gymnasium#477). After a task change the derived
    model constants are recomputed (`mj_setConst`); MuJoCo 1.31 left them at nominal values.
    Tasks drawn here come from the env's `np_random`, not the global RNG. Details of each code base:
    docs/sources/code-bases.md.

    ## Version History
    - v0: initial release.
    - v0, preset revised: dt 0.016 s, the source's (time step 0.004; it was Gymnasium's 0.002, dt
      0.008); the task sets are unchanged.

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> env = gym.make("MetaRL/Walker2DParams-v0")
        >>> env.reset(seed=0)[0].shape
        (17,)
        >>> task = env.unwrapped.sample_tasks(1)[0]
        >>> len(task.body_inertia), len(task.body_inertia[0])
        (8, 3)
    """

    xml_file: ClassVar[str] = "walker2d_v5.xml"
    frame_skip: ClassVar[int] = 4
    model_shapes: ClassVar[dict[str, tuple[int, ...]]] = {
        "body_mass": (8,), "body_inertia": (8, 3), "dof_damping": (9,), "geom_friction": (8, 3)}
    presets: ClassVar[dict[str, RandParamsPreset]] = PRESETS

    def __init__(self, preset: str = "pearl", task: ModelParamsTask | dict | None = None,
                 horizon: int | None = None,
                 **render_kwargs: object):
        super().__init__(preset, task, horizon, **render_kwargs)  # render_mode, width, height, camera_id/_name

    def is_healthy(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        height, angle = qpos[:, 1], qpos[:, 2]
        return (height > 0.8) & (height < 2.0) & (angle > -1.0) & (angle < 1.0)


class Walker2DParamsVectorEnv(MujocoMetaVectorEnv):
    single_env_cls = Walker2DParamsEnv
