"""Ant walking to a hidden goal position (ProMP's "AntRandGoal", PEARL's "ant-goal").

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`AntGoalEnv`: `help(AntGoalEnv)` shows it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from metarl_envs.core import Task, check_vector, task_field_error
from metarl_envs.mujoco.ant import AntMetaEnv, AntPreset
from metarl_envs.mujoco.base import MujocoMetaVectorEnv

__all__ = ["AntGoalEnv", "AntGoalPreset", "AntGoalTask", "AntGoalVectorEnv"]


@dataclasses.dataclass(frozen=True, slots=True)
class AntGoalTask(Task):
    """A goal position (x, y) of the torso on the floor, in metres from the origin."""

    goal: tuple[float, float]

    def __post_init__(self) -> None:
        object.__setattr__(self, "goal", check_vector("AntGoalTask", "goal", self.goal, 2))


@dataclasses.dataclass(frozen=True, kw_only=True)
class AntGoalPreset(AntPreset):
    goal_radius: float
    """goals are uniform in the disk of this radius: r = goal_radius·sqrt(U[0, 1])"""


def _preset(horizon: int, n_train: int, n_test: int, source: str) -> AntGoalPreset:
    # both sources share one definition; only the protocol (horizon, set sizes) differs
    return AntGoalPreset(
        horizon=horizon, n_train_tasks=n_train, n_test_tasks=n_test, obs_layout="full",
        ctrl_cost_weight=0.1, contact_cost_weight=0.0005, survive_reward=0.0,
        healthy_z_low=0.0, healthy_z_high=1.0, terminate_when_unhealthy=False, goal_radius=3.0, source=source,
    )


PRESETS: dict[str, AntGoalPreset] = {
    "promp": _preset(100, 1000, 40, "jonasrothfuss/ProMP@2716678:meta_policy_search/envs/mujoco_envs/ant_rand_goal.py"),
    "pearl": _preset(200, 150, 30, "katerakelly/oyster@818a5b9:rlkit/envs/ant_goal.py"),
}


def draw_goals(preset: AntGoalPreset, rng: np.random.Generator, n: int) -> list[AntGoalTask]:
    angle = rng.random(n) * 2 * np.pi  # the sources draw every angle first, then every radius
    radius = preset.goal_radius * rng.random(n) ** 0.5
    goals = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
    return [AntGoalTask(goal=tuple(goal)) for goal in goals.tolist()]


class AntGoalEnv(AntMetaEnv):
    """Ant walking to a hidden goal position (ProMP's "AntRandGoal", PEARL's "ant-goal").

    ## Description
    The quadruped Ant of Gymnasium's v5 model must bring its torso to a goal position on the floor
    that it does not observe and must infer from rewards. Rothfuss et al. (2019, ProMP) define it;
    PEARL (Rakelly et al., 2019) and VariBAD copy ProMP's task structure and reward verbatim.

    ## Task distribution
    goal = r·(cos a, sin a) with a ~ U[0, 2π) and r = 3·sqrt(U[0, 1]): uniform in the disk of radius 3
    around the start (all angles drawn first, then all radii, as in the sources).

    | preset | goal ~         | horizon | obs   | ctrl / contact / survive | terminates | train / test | scored     |
    |--------|----------------|---------|-------|--------------------------|------------|--------------|------------|
    | promp  | disk, radius 3 | 100     | 113-D | 0.1 / 0.0005 / 0.0       | never      | 1000 / 40    | batch mean |
    | pearl  | disk, radius 3 | 200     | 113-D | 0.1 / 0.0005 / 0.0       | never      | 150 / 30     | last of 3  |

    "batch mean": the mean return of the post-adaptation batch (ProMP, `max_path_length` 100 in
    `run_scripts/pro-mp_run_mujoco.py`, 40 tasks per meta-batch). "last of 3": PEARL's
    `AverageReturn_all_test_tasks`, the last of three trajectories of an evaluation of 600 steps at
    `max_path_length` 200 (oyster `configs/default.py`; `configs/ant-goal.json`: n_tasks 180,
    n_train_tasks 150, n_eval_tasks 30, num_exp_traj_eval 2). The promp sets use the 1000 / 40 sizes of
    the project's other continuous promp presets (ProMP draws fresh tasks every iteration).

    ## Action Space
    `Box(-1, 1, (8,), float32)`: hip and ankle torques of the four legs (gear 150). An action outside
    the box raises `ValueError` (nothing is clipped).

    ## Observation Space
    `Box(-inf, inf, (113,), float64)`: qpos (15, including the torso x, y) ⊕ qvel (14) ⊕
    clip(cfrc_ext, −1, 1) (14 bodies × 6), the sources' `_get_obs`. The goal is not observed.

    ## Rewards
    `reward = reward_forward + reward_ctrl + reward_contact + reward_survive` with
    `info["reward_forward"]` = −‖xy − task.goal‖₁, xy = the torso frame position after the step (the
    sources' `get_body_com("torso")[:2]`);
    `info["reward_ctrl"]` = −0.1·‖a‖²;
    `info["reward_contact"]` = −0.0005·‖clip(cfrc_ext, −1, 1)‖² (real contact wrenches: see Sources);
    `info["reward_survive"]` = 0.0 every step. Also `info["x_velocity"]`, `info["y_velocity"]` (the
    torso's (xy' − xy)/dt) and `info["non_finite_state"]`.

    ## Starting State
    qpos = qpos0 + U[−0.1, 0.1]^15, qvel = 0.1·N(0, 1)^14, drawn from the env's `np_random`.

    ## Episode End
    - Termination: never (the sources return `done = False`; their height check is commented out, so
      the healthy range [0.0, 1.0] kept in the preset is not applied).
    - Truncation: after `horizon` steps, or at once if the simulation state becomes non-finite (the
      last finite observation and reward 0 are returned, `info["non_finite_state"]` is True).

    ## Arguments
    | argument | default | meaning                                                                             |
    |----------|---------|-------------------------------------------------------------------------------------|
    | preset   | "pearl" | protocol preset (table above)                                                       |
    | task     | None    | initial task (`AntGoalTask` or its dict); default: the first task drawn with seed 0 |
    | horizon  | None    | steps before truncation; None takes the preset's                                    |
    | render_kwargs | — | `render_mode` (None, "rgb_array", "human"), `width`, `height` (480), `camera_id`/`_name` |

    ## Vectorized environment
    `gym.make_vec("MetaRL/AntGoal-v0", num_envs=n, vectorization_mode="vector_entry_point", num_threads=k)`
    gives `AntGoalVectorEnv` (one goal per sub-env via `set_tasks`, bit-identical to the single env).

    ## Sources
    - jonasrothfuss/ProMP@2716678:meta_policy_search/envs/mujoco_envs/ant_rand_goal.py (task, reward, obs)
    - jonasrothfuss/ProMP@2ad4591:run_scripts/pro-mp_run_mujoco.py (max_path_length 100)
    - katerakelly/oyster@818a5b9:rlkit/envs/ant_goal.py (the same task and reward; `goal_forward` info key)
    - katerakelly/oyster@ee4fe88:configs/ant-goal.json and @4a286ce:configs/default.py (150 / 30, H 200)
    Differences from the originals: today's `mujoco` bindings and Gymnasium's ant.xml (oyster ships
    its own asset copy). Under MuJoCo ≥ 2.0 `cfrc_ext` stays all zeros unless `mj_rnePostConstraint`
    runs (openai/gym#1541) — the 84 contact entries, most of this observation, were zeros in every
    mujoco-py port (varibad's README warns about AntGoal on mujoco200) and the contact cost vanished;
    here it is called after every step and at reset, so both are real. oyster's README says its
    ant-goal result "is currently not reproduced correctly". The sources sample goals from the global
    RNG; here they come from the env's `np_random` (angles first, then radii, like the sources).

    ## Version History
    - v0: initial release.

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> env = gym.make("MetaRL/AntGoal-v0")
        >>> obs, info = env.reset(seed=0, options={"task": {"goal": [1.0, -2.0]}})
        >>> obs.shape
        (113,)
        >>> obs, reward, terminated, truncated, info = env.step(env.action_space.low * 0)
        >>> x, y = env.unwrapped.data.xpos[1, :2]  # torso frame (obs[:2] is qpos, one substep ahead)
        >>> bool(info["reward_forward"] == -abs(x - 1.0) - abs(y + 2.0)), terminated
        (True, False)
    """

    task_type = AntGoalTask
    presets: ClassVar[dict[str, AntGoalPreset]] = PRESETS

    def __init__(self, preset: str = "pearl", task: AntGoalTask | dict | None = None, horizon: int | None = None,
                 **render_kwargs: object):
        super().__init__(preset, task, horizon, **render_kwargs)  # render_mode, width, height, camera_id/_name

    @classmethod
    def draw_tasks(cls, preset: AntGoalPreset, rng: np.random.Generator, n: int) -> list[AntGoalTask]:
        return draw_goals(preset, rng, n)

    def _check_task_in_preset(self, task: AntGoalTask) -> None:
        radius = self.preset.goal_radius
        if math.hypot(*task.goal) > radius * (1 + 1e-12):
            raise task_field_error("AntGoalTask", "goal", task.goal, self.preset_name,
                                   f"the disk of radius {radius} (r = {radius}·sqrt(U[0, 1]), angle ~ U[0, 2π))")

    def task_arrays(self, tasks: Sequence[AntGoalTask]) -> dict[str, np.ndarray]:
        return {"goal": np.array([t.goal for t in tasks], dtype=np.float64).reshape(len(tasks), 2)}

    def task_reward(self, before, after, xy_velocity, params):
        # −L1 distance of the torso frame (get_body_com("torso")[:2]) to the goal after the step
        return -np.sum(np.abs(after - params["goal"]), axis=1)


class AntGoalVectorEnv(MujocoMetaVectorEnv):
    single_env_cls = AntGoalEnv
