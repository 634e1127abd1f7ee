"""Rendering of the MuJoCo meta-envs, with the task drawn into the scene.

`TaskRenderer` wraps Gymnasium's `MujocoRenderer` (MuJoCo's own OpenGL renderer: an offscreen
framebuffer for "rgb_array", a GLFW window for "human") over the env's `MjModel`/`MjData`, and
adds what the task is, where it can be seen:

- a target velocity (HalfCheetahVel, AntVel): a green arrow along +x whose length is the target
  (0.5 m per m/s), an orange arrow for the current x velocity, and both values as text;
- a direction (HalfCheetahDir, AntDir): a green arrow pointing forward (+1) or backward (-1);
- a goal (AntGoal): a red marker on the floor at the goal, the camera looking down on the disk
  the goals are drawn from;
- model parameters (Walker2DParams, HopperParams): the geometric-mean scale of mass, inertia,
  damping and friction, as text (the physics itself is not visible).

The free camera follows the torso (AntGoal's stays over the origin). Headless machines render
through EGL or OSMesa: set `MUJOCO_GL=egl` (or `osmesa`); without it Gymnasium tries GLFW, then
EGL, then OSMesa.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import mujoco
import numpy as np

from metarl_envs.core import check_choice, check_int
from metarl_envs.rendering import has_display

if TYPE_CHECKING:
    from metarl_envs.mujoco.base import MujocoMetaEnv

__all__ = ["DEFAULT_SIZE", "RENDER_MODES", "TaskRenderer", "task_markers"]

DEFAULT_SIZE = 480
"""frame width and height in pixels (Gymnasium's v5 MuJoCo envs use 480 × 480)"""
RENDER_MODES = ("human", "rgb_array")
_GREEN, _ORANGE, _RED = (0.1, 0.8, 0.2, 0.9), (1.0, 0.55, 0.0, 0.9), (0.9, 0.1, 0.1, 0.9)
_METRES_PER_VELOCITY = 0.5
"""length of a velocity arrow per m/s"""


@dataclasses.dataclass(frozen=True)
class _Camera:
    distance: float
    elevation: float
    lookat_z: float
    follow_torso: bool = True


# per asset, the views of Gymnasium's v5 envs (distance 4; walker and hopper from 1.15 m, -20°)
_CAMERAS = {
    "half_cheetah.xml": _Camera(distance=5.0, elevation=-20.0, lookat_z=0.0),
    "ant.xml": _Camera(distance=6.0, elevation=-35.0, lookat_z=0.0),
    "walker2d_v5.xml": _Camera(distance=4.0, elevation=-20.0, lookat_z=1.15),
    "hopper.xml": _Camera(distance=3.5, elevation=-20.0, lookat_z=1.15),
}
_GOAL_CAMERA = _Camera(distance=11.0, elevation=-60.0, lookat_z=0.0, follow_torso=False)


def _arrow(start: np.ndarray, direction: float, length: float, rgba: tuple[float, ...]) -> dict[str, Any]:
    """A marker (Gymnasium's `add_marker` keywords) for an arrow along ±x from `start`."""
    # an arrow geom points along its frame's z axis: rotate z onto ±x (about y by ±90°)
    sign = 1.0 if direction >= 0 else -1.0
    mat = np.array([[0.0, 0.0, sign], [0.0, 1.0, 0.0], [-sign, 0.0, 0.0]])
    return {"type": mujoco.mjtGeom.mjGEOM_ARROW, "pos": start, "mat": mat.flatten(),
            "size": np.array([0.04, 0.04, max(abs(length), 1e-3)]), "rgba": np.array(rgba)}


def task_markers(env: MujocoMetaEnv) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """The scene markers and the text lines (label, value) that show `env`'s active task."""
    task, data = env.get_task(), env.data
    torso = data.xpos[env._sim.body_id("torso")]
    above = torso + np.array([0.0, 0.0, 0.6])
    fields = task.to_dict()
    if "velocity" in fields:
        x_velocity = float(data.qvel[0])
        return ([_arrow(above, 1.0, task.velocity * _METRES_PER_VELOCITY, _GREEN),
                 _arrow(above + np.array([0.0, 0.0, 0.15]), x_velocity, x_velocity * _METRES_PER_VELOCITY, _ORANGE)],
                [("target velocity", f"{task.velocity:.2f} m/s"), ("x velocity", f"{x_velocity:.2f} m/s")])
    if "direction" in fields:
        word = "forward" if task.direction > 0 else "backward"
        return ([_arrow(above, task.direction, 1.0, _GREEN)], [("direction", f"{task.direction:+g} ({word})")])
    if "goal" in fields:
        goal = np.array([*task.goal, 0.05])
        marker = {"type": mujoco.mjtGeom.mjGEOM_CYLINDER, "pos": goal, "size": np.array([0.3, 0.3, 0.05]),
                  "rgba": np.array(_RED)}
        pole = {"type": mujoco.mjtGeom.mjGEOM_CAPSULE, "pos": goal + np.array([0.0, 0.0, 0.5]),
                "size": np.array([0.05, 0.05, 0.5]), "rgba": np.array(_RED)}
        return [marker, pole], [("goal", f"({task.goal[0]:.2f}, {task.goal[1]:.2f})"),
                                ("torso", f"({torso[0]:.2f}, {torso[1]:.2f})")]
    scales = [(name.replace("_", " "), np.exp(np.mean(np.log(np.asarray(value, dtype=np.float64)))))
              for name, value in fields.items()]
    return [], [(f"{name} x", f"{scale:.3f} (geometric mean)") for name, scale in scales]


class TaskRenderer:
    """Renders a `MujocoMetaEnv` with its task; built lazily, so an env that never renders needs no
    OpenGL. Arguments as Gymnasium's v5 MuJoCo envs take them."""

    def __init__(self, env: MujocoMetaEnv, render_mode: str | None = None, width: int = DEFAULT_SIZE,
                 height: int = DEFAULT_SIZE, camera_id: int | None = None, camera_name: str | None = None):
        owner = type(env).__name__
        self.render_mode = check_choice(owner, "render_mode", render_mode, (None, *RENDER_MODES))
        self.width = check_int(owner, "width", width, 1)
        self.height = check_int(owner, "height", height, 1)
        if camera_id is not None and camera_name is not None:
            raise ValueError(f"{owner}: give camera_id or camera_name, not both")
        self.camera_id = None if camera_id is None else check_int(owner, "camera_id", camera_id, -1)
        if camera_name is not None and not isinstance(camera_name, str):
            raise TypeError(f"{owner}.camera_name={camera_name!r}: must be a string")
        self.camera_name = camera_name
        self.env = env
        self._renderer = None

    def _camera(self) -> _Camera:
        return _GOAL_CAMERA if "goal" in self.env.get_task().to_dict() else _CAMERAS[self.env.xml_file]

    def _build(self):
        from gymnasium.envs.mujoco.mujoco_rendering import MujocoRenderer

        model = self.env.model
        # the offscreen framebuffer must hold the frame (as Gymnasium's MujocoEnv grows it)
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        camera = self._camera()
        config = {"distance": camera.distance, "elevation": camera.elevation, "azimuth": 90.0,
                  "lookat": np.array([0.0, 0.0, camera.lookat_z])}
        if self.camera_id is None and self.camera_name is None:
            camera_id = -1  # the free camera, placed by `config` and moved with the torso
        else:
            camera_id = self.camera_id
        return MujocoRenderer(model, self.env.data, default_cam_config=config, width=self.width,
                              height=self.height, camera_id=camera_id, camera_name=self.camera_name)

    def render(self) -> np.ndarray | None:
        """An (height, width, 3) uint8 frame for "rgb_array"; draws the window for "human"."""
        if self.render_mode is None:
            return None
        if self.render_mode == "human" and not has_display():
            # GLFW aborts the process (no monitor) rather than raising: say why instead
            raise RuntimeError(f'{type(self.env).__name__}: render_mode="human" needs a display (DISPLAY or '
                               'WAYLAND_DISPLAY); headless, use render_mode="rgb_array" with MUJOCO_GL=egl')
        if self._renderer is None:
            self._renderer = self._build()
        # Gymnasium exposes a mode's viewer (for markers and overlays) only through `_get_viewer`
        viewer = self._renderer._get_viewer(self.render_mode)
        camera = self._camera()
        if self._renderer.camera_id == -1 and camera.follow_torso:
            torso = self.env.data.xpos[self.env._sim.body_id("torso")]
            viewer.cam.lookat[:2] = torso[:2]
        markers, lines = task_markers(self.env)
        for marker in markers:
            viewer.add_marker(**marker)
        # the offscreen viewer keeps overlay text across frames (the window viewer clears it)
        viewer._overlays.clear()
        for label, value in lines:
            viewer.add_overlay(mujoco.mjtGridPos.mjGRID_TOPLEFT, label, value)
        return self._renderer.render(self.render_mode)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
