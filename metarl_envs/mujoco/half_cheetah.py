"""Shared parts of the HalfCheetah meta-tasks (`half_cheetah_vel.py`, `half_cheetah_dir.py`):
the preset fields both families pin, the observation layouts and the control cost."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from metarl_envs.mujoco.base import RLLAB, ModelBatch, MujocoMetaEnv, MujocoPreset

__all__ = ["RLLAB_CHEETAH", "HalfCheetahMetaEnv", "HalfCheetahPreset"]

RLLAB_CHEETAH = {**RLLAB, "timestep": 0.01}
"""rllab's half_cheetah.xml (cbfinn/maml_rl@9c8e2eb vendor/mujoco_models): Gymnasium's model with the
same time step 0.01 and Euler integrator, stepped once per env step (dt = 0.01)"""


@dataclasses.dataclass(frozen=True, kw_only=True)
class HalfCheetahPreset(MujocoPreset):
    torso_com_in_obs: bool
    """20-D observation qpos[1:] ⊕ qvel ⊕ torso position (`torso_point`) (True) or the 17-D qpos[1:] ⊕ qvel"""
    ctrl_cost_weight: float
    """weight of ‖a‖² (0.05 = 0.5 · 1e-1 in every source)"""


class HalfCheetahMetaEnv(MujocoMetaEnv):
    """HalfCheetah on Gymnasium's half_cheetah.xml (timestep 0.01; Gymnasium's frame_skip 5, dt 0.05;
    rllab's frame_skip 1, dt 0.01)."""

    xml_file: ClassVar[str] = "half_cheetah.xml"
    frame_skip: ClassVar[int] = 5
    reset_noise_scale: ClassVar[float] = 0.1
    preset: HalfCheetahPreset

    def observe(self, sim: ModelBatch, rows: Sequence[int] | None = None) -> np.ndarray:
        parts = [sim.qpos(rows)[:, 1:], sim.qvel(rows)]
        if self.preset.torso_com_in_obs:
            # gym's get_body_com("torso") = the torso body's frame origin, data.xpos (pytorch-maml-rl,
            # garage, oyster, varibad); rllab's get_body_com read data.com_subtree (maml preset)
            parts.append(sim.torso_point(self.preset.torso_point, rows))
        return np.concatenate(parts, axis=1)

    def probe(self, sim: ModelBatch) -> np.ndarray:
        return sim.qpos()[:, :1]  # rootx

    def forward_reward(self, x_velocity: np.ndarray, params: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def rewards(self, before, after, sim, actions, params):
        # finite-difference velocity of rootx as in every meta-RL source except rllab, which read
        # get_body_comvel("torso"): the torso subtree's (here: the whole cheetah's) COM velocity
        if self.preset.velocity == "subtree_com":
            x_velocity = sim.subtree_linvel(sim.body_id("torso"))[:, 0]
        else:
            x_velocity = (after[:, 0] - before[:, 0]) / sim.dt
        reward_forward = self.forward_reward(x_velocity, params)
        reward_ctrl = -self.preset.ctrl_cost_weight * np.sum(np.square(actions), axis=1)
        info = {"x_velocity": x_velocity, "reward_forward": reward_forward, "reward_ctrl": reward_ctrl}
        return reward_forward + reward_ctrl, np.zeros(len(x_velocity), dtype=bool), info
