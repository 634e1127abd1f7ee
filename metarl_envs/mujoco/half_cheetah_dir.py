"""HalfCheetah running forward or backward (MAML's "half-cheetah direction").

The env card (task distribution per preset, spaces, rewards, sources) is the docstring of
`HalfCheetahDirEnv`: `help(HalfCheetahDirEnv)` shows it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from metarl_envs.core import Task, check_choice
from metarl_envs.mujoco.base import MujocoMetaVectorEnv
from metarl_envs.mujoco.half_cheetah import RLLAB_CHEETAH, HalfCheetahMetaEnv, HalfCheetahPreset

__all__ = ["DirectionTask", "HalfCheetahDirEnv", "HalfCheetahDirVectorEnv"]


@dataclasses.dataclass(frozen=True, slots=True)
class DirectionTask(Task):
    """A direction along x: +1.0 forward, −1.0 backward."""

    direction: float

    def __post_init__(self) -> None:
        if isinstance(self.direction, (int, float)) and not isinstance(self.direction, bool):
            object.__setattr__(self, "direction", float(self.direction))
        check_choice("DirectionTask", "direction", self.direction, (-1.0, 1.0))


DIRECTIONS = (DirectionTask(-1.0), DirectionTask(1.0))


def draw_directions(rng: np.random.Generator, n: int) -> list[DirectionTask]:
    """±1 with probability 1/2 each (pytorch-maml-rl: 2·Binomial(1, 1/2) − 1); shared with AntDir."""
    return [DIRECTIONS[k] for k in rng.integers(0, 2, size=n).tolist()]


PRESETS: dict[str, HalfCheetahPreset] = {
    "maml": HalfCheetahPreset(
        horizon=200, n_train_tasks=2, n_test_tasks=2, finite_family=True, torso_com_in_obs=True,
        ctrl_cost_weight=0.05, **RLLAB_CHEETAH,
        source="cbfinn/maml_rl@9c8e2eb:rllab/envs/mujoco/half_cheetah_env_rand_direc.py",
    ),
    "pytorch-maml-rl": HalfCheetahPreset(
        horizon=100, n_train_tasks=2, n_test_tasks=2, finite_family=True, torso_com_in_obs=True,
        ctrl_cost_weight=0.05, source="tristandeleu/pytorch-maml-rl@21d4ba1:maml_rl/envs/mujoco/half_cheetah.py",
    ),
    "promp": HalfCheetahPreset(
        horizon=100, n_train_tasks=2, n_test_tasks=2, finite_family=True, torso_com_in_obs=False,
        ctrl_cost_weight=0.05,
        source="jonasrothfuss/ProMP@93ae339:meta_policy_search/envs/mujoco_envs/half_cheetah_rand_direc.py",
    ),
    "pearl": HalfCheetahPreset(
        horizon=200, n_train_tasks=2, n_test_tasks=2, finite_family=True, torso_com_in_obs=True,
        ctrl_cost_weight=0.05, source="katerakelly/oyster@44e20fd:rlkit/envs/half_cheetah_dir.py",
    ),
}


class DirectionTaskFamily:
    """The task half of every forward/backward env (HalfCheetahDir, AntDir): the family ±1, draws from
    it and the per-sub-env direction array; mixed in before the body's base."""

    task_type = DirectionTask

    @classmethod
    def draw_tasks(cls, preset: Any, rng: np.random.Generator, n: int) -> list[DirectionTask]:
        return draw_directions(rng, n)

    @classmethod
    def task_family(cls, preset: Any) -> Sequence[DirectionTask]:
        return DIRECTIONS

    def task_arrays(self, tasks: Sequence[DirectionTask]) -> dict[str, np.ndarray]:
        return {"direction": np.array([t.direction for t in tasks])}


class HalfCheetahDirEnv(DirectionTaskFamily, HalfCheetahMetaEnv):
    """HalfCheetah running forward or backward (MAML's "half-cheetah direction").

    ## Description
    The planar HalfCheetah of Gymnasium's v5 model is rewarded for its velocity along a hidden
    direction, +1 (forward) or −1 (backward), which it must infer from rewards. Finn et al. (2017)
    §5.3; reused by ProMP, PEARL and VariBAD.

    ## Task distribution
    The family is the two directions (`finite_family`): train = test = [−1, +1].

    | preset          | direction ~ | horizon | dt (s)   | obs  | velocity read | train / test sets  | scored     |
    |-----------------|-------------|---------|----------|------|---------------|--------------------|------------|
    | maml            | ±1, p = 1/2 | 200     | 0.01 × 1 | 20-D | subtree COM   | 2 / 2 (the family) | batch mean |
    | pytorch-maml-rl | ±1, p = 1/2 | 100     | 0.01 × 5 | 20-D | (x' − x)/dt   | 2 / 2 (the family) | batch mean |
    | promp           | ±1, p = 1/2 | 100     | 0.01 × 5 | 17-D | (x' − x)/dt   | 2 / 2 (the family) | batch mean |
    | pearl           | ±1, p = 1/2 | 200     | 0.01 × 5 | 20-D | (x' − x)/dt   | 2 / 2 (the family) | last of 3  |

    dt = model time step × physics steps per env step; ctrl_cost_weight is 0.05 in every preset.
    "batch mean": the mean return of the post-adaptation batch; "last of 3": PEARL's last of three
    trajectories after exploring. `maml` is the MAML paper's rllab code (dt 0.01, a 200-step episode
    lasts 2 s); `pytorch-maml-rl` is the later gym-based port (dt 0.05).

    ## Action Space
    `Box(-1, 1, (6,), float32)`: the six joint torques. An action outside the box raises `ValueError`.

    ## Observation Space
    `Box(-inf, inf, (d,), float64)`: qpos[1:] (8) ⊕ qvel (9), and for the 20-D layout "the torso
    position" (3): for `maml` the torso subtree's centre of mass `data.subtree_com["torso"]` (rllab's
    `get_body_com` read `com_subtree`), for the others the torso frame origin `data.xpos["torso"]`
    (gym's `get_body_com`). The direction is not observed.

    ## Rewards
    `reward = task.direction · v − ctrl_cost_weight · ‖a‖²`. v for `maml`: the x velocity of the torso
    subtree's centre of mass after the step (`data.subtree_linvel`, rllab's `get_body_comvel`); for
    the others v = (x' − x)/dt from rootx (qpos[0]).
    `info["reward_forward"]` = direction·v, `info["reward_ctrl"]` = −ctrl_cost_weight·‖a‖²,
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
    | task     | None    | initial task (`DirectionTask` or its dict); default: the first task drawn with seed 0 |
    | horizon  | None    | steps before truncation; None takes the preset's |
    | render_kwargs | — | `render_mode` (None, "rgb_array", "human"), `width`, `height` (480), `camera_id`/`_name` |

    ## Vectorized environment
    `gym.make_vec("MetaRL/HalfCheetahDir-v0", num_envs=n, vectorization_mode="vector_entry_point",
    num_threads=k)` gives `HalfCheetahDirVectorEnv` (one task per sub-env, bit-identical to the single env).

    ## Sources
    - cbfinn/maml_rl@9c8e2eb:rllab/envs/mujoco/half_cheetah_env_rand_direc.py, mujoco_env.py,
      vendor/mujoco_models/half_cheetah.xml (maml; it drew goal_vel ~ U[0,2] and set direction = −1 if
      goal_vel < 1 else +1: the same ±1 with p = 1/2; observation with com_subtree, comvel reward, one
      physics step per env step, rllab's reset noise)
    - tristandeleu/pytorch-maml-rl@21d4ba1:maml_rl/envs/mujoco/half_cheetah.py (`HalfCheetahDirEnv`),
      configs/maml/halfcheetah-dir.yaml (pytorch-maml-rl: 100 steps)
    - jonasrothfuss/ProMP@93ae339:meta_policy_search/envs/mujoco_envs/half_cheetah_rand_direc.py (promp)
    - katerakelly/oyster@44e20fd:rlkit/envs/half_cheetah_dir.py, configs/cheetah-dir.json (pearl: the
      fixed tasks [−1, 1], train = eval)
    Details of each code base: docs/sources/code-bases.md. Differences from the originals: today's
    `mujoco` bindings and Gymnasium's half_cheetah.xml (the same model as rllab's); rllab ran MuJoCo
    1.31, the gym ports mujoco-py.

    ## Version History
    - v0: initial release.
    - v0, presets revised: `maml` now runs the MAML code's physics (dt 0.01 instead of 0.05, rllab's
      start noise, com_subtree observation, subtree-COM velocity); the former definition is the new
      `pytorch-maml-rl` preset (100-step horizon). The task sets (±1) are unchanged.

    Examples:
        >>> import gymnasium as gym, metarl_envs
        >>> env = gym.make("MetaRL/HalfCheetahDir-v0", preset="promp")
        >>> [t.direction for t in env.unwrapped.task_family(env.unwrapped.preset)]
        [-1.0, 1.0]
        >>> obs, info = env.reset(seed=0, options={"task": {"direction": -1.0}})
        >>> obs.shape
        (17,)
    """

    presets: ClassVar[dict[str, HalfCheetahPreset]] = PRESETS

    def __init__(self, preset: str = "maml", task: DirectionTask | dict | None = None, horizon: int | None = None,
                 **render_kwargs: object):
        super().__init__(preset, task, horizon, **render_kwargs)  # render_mode, width, height, camera_id/_name

    def forward_reward(self, x_velocity, params):
        return params["direction"] * x_velocity


class HalfCheetahDirVectorEnv(MujocoMetaVectorEnv):
    single_env_cls = HalfCheetahDirEnv
