"""Shared parts of the HalfCheetah meta-tasks (`half_cheetah_vel.py`, `half_cheetah_dir.py`):
the preset fields both families pin, the observation layouts and the control cost."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from metarl_envs.core import Preset
from metarl_envs.mujoco.base import ModelBatch, MujocoMetaEnv

__all__ = ["HalfCheetahMetaEnv", "HalfCheetahPreset"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class HalfCheetahPreset(Preset):
    torso_com_in_obs: bool
    """20-D observation qpos[1:] ⊕ qvel ⊕ torso position (True) or the 17-D qpos[1:] ⊕ qvel"""
    ctrl_cost_weight: float
    """weight of ‖a‖² (0.05 = 0.5 · 1e-1 in every source)"""


class HalfCheetahMetaEnv(MujocoMetaEnv):
    """HalfCheetah on Gymnasium's half_cheetah.xml (timestep 0.01, frame_skip 5, dt 0.05)."""

    xml_file: ClassVar[str] = "half_cheetah.xml"
    frame_skip: ClassVar[int] = 5
    reset_noise_scale: ClassVar[float] = 0.1
    preset: HalfCheetahPreset

    def observe(self, sim: ModelBatch, rows: Sequence[int] | None = None) -> np.ndarray:
        parts = [sim.qpos(rows)[:, 1:], sim.qvel(rows)]
        if self.preset.torso_com_in_obs:
            # gym's get_body_com("torso") = the torso body's frame origin, data.xpos (pytorch-maml-rl,
            # garage, oyster, varibad); rllab's original read data.com_subtree (anchors §1.3)
            parts.append(sim.xpos(sim.body_id("torso"), rows))
        return np.concatenate(parts, axis=1)

    def probe(self, sim: ModelBatch) -> np.ndarray:
        return sim.qpos()[:, :1]  # rootx

    def forward_reward(self, x_velocity: np.ndarray, params: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def rewards(self, before, after, sim, actions, params):
        # finite-difference velocity as in every meta-RL source except rllab, which read
        # get_body_comvel("torso") (anchors §1)
        x_velocity = (after[:, 0] - before[:, 0]) / sim.dt
        reward_forward = self.forward_reward(x_velocity, params)
        reward_ctrl = -self.preset.ctrl_cost_weight * np.sum(np.square(actions), axis=1)
        info = {"x_velocity": x_velocity, "reward_forward": reward_forward, "reward_ctrl": reward_ctrl}
        return reward_forward + reward_ctrl, np.zeros(len(x_velocity), dtype=bool), info
