"""Shared parts of the Ant meta-tasks (`ant_vel.py`, `ant_dir.py`, `ant_goal.py`): the preset
fields the families pin, the three observation layouts and the rllab / Gymnasium-v5 reward terms."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from metarl_envs.mujoco.base import RLLAB, ModelBatch, MujocoMetaEnv, MujocoPreset

__all__ = ["OBS_LAYOUTS", "RLLAB_ANT", "AntMetaEnv", "AntPreset"]

RLLAB_ANT = {**RLLAB, "timestep": 0.02, "integrator": "RK4", "geom_solref": (0.02, 1.0),
             "geom_solimp": (0.8, 0.8, 0.01, 0.5, 2.0), "geom_margin": 0.01, "init_qpos": "numeric"}
"""rllab's ant.xml (cbfinn/maml_rl@9c8e2eb vendor/mujoco_models) as edits of Gymnasium's ant.xml:
time step 0.02 with RK4, stepped once per env step (dt = 0.02); every geom solref ".02 1", solimp
".8 .8 .01" (MuJoCo completes a 3-value solimp with midpoint 0.5, power 2) and margin 0.01; the start
pose is the asset's `init_qpos` numeric (torso at 0.55, ankles at ±1 rad), which Gymnasium also
ships but ignores. rllab's actuators take [−150, 150] with gear 1, Gymnasium's [−1, 1] with gear
150: the same torques, and rllab's cost divides the action by its half-range 150."""

OBS_LAYOUTS = {
    "rllab": "qpos (15) ⊕ qvel (14) ⊕ clip(cfrc_ext, −1, 1) (84) ⊕ torso xmat (9) ⊕ torso position (3) = 125-D",
    "promp": "qpos[2:] (13) ⊕ qvel (14) ⊕ clip(cfrc_ext, −1, 1) (84) = 111-D",
    "pearl": "qpos[2:] (13) ⊕ qvel (14) = 27-D",
    "full": "qpos (15) ⊕ qvel (14) ⊕ clip(cfrc_ext, −1, 1) (84) = 113-D",
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class AntPreset(MujocoPreset):
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
    """Ant on Gymnasium's ant.xml (timestep 0.01, frame_skip 5, dt 0.05; gear 150, ctrlrange ±1;
    rllab's model: timestep 0.02, frame_skip 1).
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
            parts += [sim.xmat(torso, rows), sim.torso_point(self.preset.torso_point, rows)]
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
        if preset.velocity == "subtree_com":  # rllab's get_body_comvel("torso")
            xy_velocity = sim.subtree_linvel(sim.body_id("torso"))[:, :2]
        else:
            xy_velocity = (after - before) / sim.dt
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
