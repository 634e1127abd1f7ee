"""Ant running forward or backward (MAML's "ant direction"; PEARL's forward/backward ant-dir).

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`AntDirEnv`: `help(AntDirEnv)` shows it.
"""

from __future__ import annotations

from typing import ClassVar

from metarl_envs.mujoco.ant import RLLAB_ANT, AntMetaEnv, AntPreset
from metarl_envs.mujoco.base import MujocoMetaVectorEnv
from metarl_envs.mujoco.half_cheetah_dir import DirectionTask, DirectionTaskFamily

__all__ = ["AntDirEnv", "AntDirVectorEnv"]

PRESETS: dict[str, AntPreset] = {
    "maml": AntPreset(
        horizon=200, n_train_tasks=2, n_test_tasks=2, finite_family=True, obs_layout="rllab",
        ctrl_cost_weight=0.005, contact_cost_weight=0.0005, survive_reward=0.05,
        healthy_z_low=0.2, healthy_z_high=1.0, **RLLAB_ANT,
        source="cbfinn/maml_rl@9c8e2eb:rllab/envs/mujoco/ant_env_rand_direc.py",
    ),
    "pytorch-maml-rl": AntPreset(
        horizon=100, n_train_tasks=2, n_test_tasks=2, finite_family=True, obs_layout="rllab",
        ctrl_cost_weight=0.005, contact_cost_weight=0.0005, survive_reward=0.05,
        healthy_z_low=0.2, healthy_z_high=1.0, source="tristandeleu/pytorch-maml-rl@21d4ba1:maml_rl/envs/mujoco/ant.py",
    ),
    "promp": AntPreset(
        horizon=100, n_train_tasks=2, n_test_tasks=2, finite_family=True, obs_layout="promp",
        ctrl_cost_weight=0.5, contact_cost_weight=0.0005, survive_reward=1.0,
        healthy_z_low=0.0, healthy_z_high=1.0,
        source="jonasrothfuss/ProMP@93ae339:meta_policy_search/envs/mujoco_envs/ant_rand_direc.py",
    ),
    "pearl": AntPreset(
        horizon=200, n_train_tasks=2, n_test_tasks=2, finite_family=True, obs_layout="pearl",
        ctrl_cost_weight=0.5, contact_cost_weight=0.0005, survive_reward=1.0,
        healthy_z_low=0.2, healthy_z_high=1.0, source="katerakelly/oyster@44e20fd:rlkit/envs/ant_dir.py",
    ),
}


class AntDirEnv(DirectionTaskFamily, AntMetaEnv):
    """Ant running forward or backward (MAML's "ant direction"; PEARL's forward/backward ant-dir).

    ## Description
    The quadruped Ant of Gymnasium's v5 model is rewarded for its torso velocity along a hidden
    direction, +1 (forward, +x) or −1 (backward), which it must infer from rewards.

    ## Task distribution
    The family is the two directions (`finite_family`): train = test = [−1, +1].

    | preset          | direction ~ | horizon | dt (s)   | obs   | ctrl/contact/survive | healthy z  | train / test |
    |-----------------|-------------|---------|----------|-------|----------------------|------------|--------------|
    | maml            | ±1, p = 1/2 | 200     | 0.02 × 1 | 125-D | 0.005/0.0005/0.05    | [0.2, 1.0] | 2 / 2        |
    | pytorch-maml-rl | ±1, p = 1/2 | 100     | 0.01 × 5 | 125-D | 0.005/0.0005/0.05    | [0.2, 1.0] | 2 / 2        |
    | promp           | ±1, p = 1/2 | 100     | 0.01 × 5 | 111-D | 0.5/0.0005/1.0       | [0.0, 1.0] | 2 / 2        |
    | pearl           | ±1, p = 1/2 | 200     | 0.01 × 5 | 27-D  | 0.5/0.0005/1.0       | [0.2, 1.0] | 2 / 2        |

    Scored: the post-adaptation batch mean (maml, pytorch-maml-rl, promp); the last of 3 (pearl).

    dt = model time step × physics steps per env step. `maml` is the MAML paper's rllab code, whose
    ant.xml differs from Gymnasium's; the env makes those edits on Gymnasium's asset through
    `mujoco.MjSpec`: time step 0.02 (RK4), one physics step per env step (a 200-step episode lasts
    4 s), every geom's solref ".02 1" / solimp ".8 .8 .01" (margin 0.01, as Gymnasium's), and the start
    pose of the asset's `init_qpos` numeric (torso at 0.55, ankles at ±1 rad). `pytorch-maml-rl`,
    promp and pearl use Gymnasium's model as it is.

    "last of 3": PEARL's `AverageReturn_all_test_tasks`, the last of three trajectories after
    exploration. The promp and
    pearl coefficients are Gymnasium Ant-v5's defaults (ctrl_cost_weight 0.5, contact_cost_weight
    5e-4, healthy_reward 1.0).

    ## Action Space
    `Box(-1, 1, (8,), float32)`: the eight hip/ankle torques (gear 150). Out-of-box actions raise.

    ## Observation Space
    `Box(-inf, inf, (d,), float64)` by preset: 125-D qpos ⊕ qvel ⊕ clip(cfrc_ext, −1, 1) ⊕ torso xmat
    ⊕ torso position (maml and pytorch-maml-rl, the rllab layout); 111-D qpos[2:] ⊕ qvel ⊕
    clip(cfrc_ext, −1, 1) (promp); 27-D qpos[2:] ⊕ qvel (pearl). The torso position is the torso
    subtree's centre of mass `data.subtree_com["torso"]` for `maml` (rllab's `get_body_com` read
    `com_subtree`) and the torso frame origin `data.xpos["torso"]` for `pytorch-maml-rl` (gym's).

    ## Rewards
    `reward = reward_forward + reward_ctrl + reward_contact + reward_survive` with
    `info["reward_forward"]` = task.direction · v, v = the x velocity of the torso subtree's centre of
    mass after the step for `maml` (`data.subtree_linvel`, rllab's `get_body_comvel`), and (x' − x)/dt
    of the torso frame for the others;
    `info["reward_ctrl"]` = −ctrl_cost_weight·‖a / action_scale‖² (action_scale = 1 here);
    `info["reward_contact"]` = −contact_cost_weight·‖clip(cfrc_ext, −1, 1)‖² with real contact forces;
    `info["reward_survive"]` = the preset's survive reward every step. Also `info["x_velocity"]`,
    `info["y_velocity"]`, `info["non_finite_state"]`.

    ## Starting State
    Drawn from the env's `np_random`, qpos first. `maml`: qpos = init_qpos + 0.01·N(0, 1)^15 (the
    asset's numeric: torso at (0, 0, 0.55), ankles at +1, −1, −1, +1 rad), qvel = 0.1·N(0, 1)^14
    (rllab's `reset_mujoco`). Others: qpos = qpos0 + U[−0.1, 0.1]^15, qvel = 0.1·N(0, 1)^14 (gym's AntEnv).

    ## Episode End
    - Termination: the torso height qpos[2] leaves the preset's healthy range.
    - Truncation: after `horizon` steps, or at once if the simulation state becomes non-finite (the
      last finite observation and reward 0 are returned, `info["non_finite_state"]` is True).

    ## Arguments
    | argument | default | meaning                                                                               |
    |----------|---------|---------------------------------------------------------------------------------------|
    | preset   | "maml"  | protocol preset (table above)                                                         |
    | task     | None    | initial task (`DirectionTask` or its dict); default: the first task drawn with seed 0 |
    | horizon  | None    | steps before truncation; None takes the preset's                                      |
    | render_kwargs | — | `render_mode` (None, "rgb_array", "human"), `width`, `height` (480), `camera_id`/`_name` |

    ## Vectorized environment
    `gym.make_vec("MetaRL/AntDir-v0", num_envs=n, vectorization_mode="vector_entry_point", num_threads=k)`
    gives `AntDirVectorEnv` (one task per sub-env, bit-identical to the single env).

    ## Sources
    - cbfinn/maml_rl@9c8e2eb:rllab/envs/mujoco/ant_env_rand_direc.py, mujoco_env.py,
      vendor/mujoco_models/ant.xml (maml; direction −1 if U[0,3] < 1.5 else +1; observation with
      com_subtree, comvel reward, the physics edits above, rllab's reset noise, horizon 200)
    - tristandeleu/pytorch-maml-rl@21d4ba1:maml_rl/envs/mujoco/ant.py (`AntDirEnv`), configs/maml/ant-dir.yaml
      (pytorch-maml-rl: 100 steps)
    - jonasrothfuss/ProMP@93ae339:meta_policy_search/envs/mujoco_envs/ant_rand_direc.py (promp)
    - katerakelly/oyster@44e20fd:rlkit/envs/ant_dir.py with `forward_backward=True` (pearl: goal angle
      0 or π, reward dot(Δxy/dt, (cos g, sin g)); here d·v_x, which drops the 1.2e-16·v_y of sin π)
    Details of each code base: docs/sources/code-bases.md. Differences from the originals: today's
    `mujoco` bindings and Gymnasium's ant.xml (rllab ran MuJoCo 1.31, the others mujoco-py); contact
    forces are real (`mj_rnePostConstraint` after every step; MuJoCo 2.x ports read zeros,
    openai/gym#1541). oyster's shipped `configs/ant-dir.json` does not set `forward_backward` and
    draws two random angles per run; the pearl preset is the forward/backward variant the paper names.
    The survive reward is added every step, as in all three sources (Gymnasium v5 pays it only while
    healthy, which differs on the terminal step).

    ## Version History
    - v0: initial release.
    - v0, presets revised: `maml` now runs the MAML code's physics (dt 0.02 with RK4 instead of 0.05,
      rllab's contact softness, init_qpos pose and start noise, com_subtree observation, subtree-COM
      velocity); the former definition is the new `pytorch-maml-rl` preset (100-step horizon). The task
      sets (±1) are unchanged.

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> env = gym.make("MetaRL/AntDir-v0", preset="pearl")
        >>> obs, info = env.reset(seed=0, options={"task": {"direction": 1.0}})
        >>> obs.shape
        (27,)
    """

    presets: ClassVar[dict[str, AntPreset]] = PRESETS

    def __init__(self, preset: str = "maml", task: DirectionTask | dict | None = None, horizon: int | None = None,
                 **render_kwargs: object):
        super().__init__(preset, task, horizon, **render_kwargs)  # render_mode, width, height, camera_id/_name

    def task_reward(self, before, after, xy_velocity, params):
        return params["direction"] * xy_velocity[:, 0]


class AntDirVectorEnv(MujocoMetaVectorEnv):
    single_env_cls = AntDirEnv
