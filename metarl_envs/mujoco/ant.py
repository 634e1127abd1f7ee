"""Shared parts of the Ant meta-tasks (`ant_vel.py`, `ant_dir.py`, `ant_goal.py`): the preset
fields the families pin, the three observation layouts and the rllab / Gymnasium-v5 reward terms."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from metarl_envs.core import Preset
from metarl_envs.mujoco.base import ModelBatch, MujocoMetaEnv

__all__ = ["OBS_LAYOUTS", "AntMetaEnv", "AntPreset"]

OBS_LAYOUTS = {
    "rllab": "qpos (15) ⊕ qvel (14) ⊕ clip(cfrc_ext, −1, 1) (84) ⊕ torso xmat (9) ⊕ torso xpos (3) = 125-D",
    "promp": "qpos[2:] (13) ⊕ qvel (14) ⊕ clip(cfrc_ext, −1, 1) (84) = 111-D",
    "pearl": "qpos[2:] (13) ⊕ qvel (14) = 27-D",
    "full": "qpos (15) ⊕ qvel (14) ⊕ clip(cfrc_ext, −1, 1) (84) = 113-D",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class AntPreset(Preset):
    obs_layout: str
    """a key of `OBS_LAYOUTS`"""
    ctrl_cost_weight: float
    """weight of ‖a / action_scale‖² (action_scale = half the ctrlrange width = 1 for ant.xml)"""
    contact_cost_weight: float
    """weight of ‖clip(cfrc_ext, −1, 1)‖²"""
    survive_reward: float
    """constant reward per step (every source adds it unconditionally)"""
    healthy_z_low: float
    healthy_z_high: float
    """the episode terminates when the torso height leaves [healthy_z_low, healthy_z_high]"""
    terminate_when_unhealthy: bool = True


class AntMetaEnv(MujocoMetaEnv):
    """Ant on Gymnasium's ant.xml (timestep 0.01, frame_skip 5, dt 0.05; gear 150, ctrlrange ±1).
    `mj_rnePostConstraint` runs after every step so `cfrc_ext` holds the real contact wrenches."""

    xml_file: ClassVar[str] = "ant.xml"
    frame_skip: ClassVar[int] = 5
    contact_forces: ClassVar[bool] = True
    reset_noise_scale: ClassVar[float] = 0.1
    preset: AntPreset

    def observe(self, sim: ModelBatch, rows: Sequence[int] | None = None) -> np.ndarray:
        layout = self.preset.obs_layout
        qpos, qvel = sim.qpos(rows), sim.qvel(rows)
        parts = [qpos if layout in ("rllab", "full") else qpos[:, 2:], qvel]
        if layout != "pearl":
            parts.append(np.clip(sim.cfrc_ext(rows), -1.0, 1.0).reshape(len(qpos), -1))
        if layout == "rllab":
            torso = sim.body_id("torso")
            parts += [sim.xmat(torso, rows), sim.xpos(torso, rows)]
        return np.concatenate(parts, axis=1)

    def probe(self, sim: ModelBatch) -> np.ndarray:
        # torso frame (x, y) as gym's get_body_com("torso") and Ant-v5's main body: after mj_step
        # it is the kinematics of the last substep's start, one substep behind qpos
        return sim.xpos(sim.body_id("torso"))[:, :2]

    def task_reward(self, before: np.ndarray, after: np.ndarray, xy_velocity: np.ndarray,
                    params: Mapping[str, np.ndarray]) -> np.ndarray:
        """The task's term (`reward_forward`) from the torso positions and velocity."""
        raise NotImplementedError

    def rewards(self, before, after, sim, actions, params):
        preset = self.preset
        xy_velocity = (after - before) / sim.dt  # finite difference (rllab read get_body_comvel)
        reward_forward = self.task_reward(before, after, xy_velocity, params)
        reward_ctrl = -preset.ctrl_cost_weight * np.sum(np.square(actions / self.action_scale), axis=1)
        contact = np.clip(sim.cfrc_ext(), -1.0, 1.0)
        reward_contact = -preset.contact_cost_weight * np.sum(np.square(contact), axis=(1, 2))
        reward_survive = np.full(len(actions), preset.survive_reward)
        height = sim.qpos()[:, 2]
        healthy = (height >= preset.healthy_z_low) & (height <= preset.healthy_z_high)
        terminated = ~healthy if preset.terminate_when_unhealthy else np.zeros(len(actions), dtype=bool)
        info = {"x_velocity": xy_velocity[:, 0], "y_velocity": xy_velocity[:, 1],
                "reward_forward": reward_forward, "reward_ctrl": reward_ctrl,
                "reward_contact": reward_contact, "reward_survive": reward_survive}
        return reward_forward + reward_ctrl + reward_contact + reward_survive, terminated, info
