"""Rendering: an rgb_array frame from every id × preset that shows the task, and RecordVideo mp4s.

MuJoCo frames need an OpenGL backend; headless machines use EGL or OSMesa (`MUJOCO_GL=egl`, as
`.ci/run` sets). Where none can be created the MuJoCo cases are skipped, saying so, unless `MUJOCO_GL`
names a backend: then that backend was asked for, and its absence fails the test instead of hiding it."""

from __future__ import annotations

import functools
import os

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs
from metarl_envs.rendering import has_display
from metarl_envs.task_sets import env_class

from .conftest import ENV_PRESETS, IDS


def is_mujoco(env_id: str) -> bool:
    return env_class(env_id).__module__.startswith("metarl_envs.mujoco")


@functools.cache
def gl_backend_error() -> str | None:
    """None if MuJoCo can render offscreen here (probed on an empty model, apart from our envs),
    else why not."""
    import mujoco
    from gymnasium.envs.mujoco.mujoco_rendering import MujocoRenderer

    model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='1'/></worldbody></mujoco>")
    renderer = MujocoRenderer(model, mujoco.MjData(model), width=16, height=16)
    try:
        renderer.render("rgb_array")
    except Exception as error:  # any backend failure (no EGL/OSMesa/GLFW library, no display)
        return f"no OpenGL backend for MuJoCo (set MUJOCO_GL=egl or osmesa with Mesa installed): {error}"
    finally:
        renderer.close()
    return None


def skip_unless_asked_for(reason: str) -> None:
    """Skip saying why; but where MUJOCO_GL names a backend (as in CI) rendering was asked for, and
    a missing backend or package is a failure."""
    if os.environ.get("MUJOCO_GL"):
        pytest.fail(f"MUJOCO_GL={os.environ['MUJOCO_GL']} is set, but {reason}")
    pytest.skip(reason)


def require_module(name: str, extra: str) -> None:
    try:
        __import__(name)
    except ImportError:
        skip_unless_asked_for(f"{name} is not installed (the `{extra}` extra)")


def make_rendering(env_id: str, preset: str, **kwargs) -> gym.Env:
    if is_mujoco(env_id):
        require_module("mujoco", "mujoco")
        if gl_backend_error():
            skip_unless_asked_for(gl_backend_error())
    return gym.make(env_id, preset=preset, render_mode="rgb_array", **kwargs)


def frame_after(env: gym.Env, task, seed: int = 0, steps: int = 3) -> np.ndarray:
    env.reset(seed=seed, options={"task": task})
    env.action_space.seed(seed)
    for _ in range(steps):
        env.step(env.action_space.sample())
    return env.render()


@pytest.mark.parametrize(("env_id", "preset"), ENV_PRESETS, ids=IDS)
def test_rgb_array_frame_shows_the_task(env_id, preset):
    env = make_rendering(env_id, preset)
    tasks = metarl_envs.task_set(env_id, "test", preset)
    frame = frame_after(env, tasks[0])
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    assert min(frame.shape[:2]) >= 200, f"frame {frame.shape} is too small to read"
    assert frame.std() > 0, "constant frame"
    # the same seed and actions under another task: the drawing of the task changes the frame
    assert not np.array_equal(frame, frame_after(env, tasks[1])), "the frame does not show the task"
    env.close()


def test_mujoco_frame_size_and_camera_arguments():
    env = make_rendering("MetaRL/AntGoal-v0", "pearl", width=320, height=200)
    env.reset(seed=0)
    assert env.render().shape == (200, 320, 3)
    assert env.metadata["render_fps"] == round(1 / env.unwrapped.dt)
    with pytest.raises(ValueError, match="render_mode"):
        env_class("MetaRL/AntGoal-v0")(render_mode="rgb")
    with pytest.raises(ValueError, match="camera_id or camera_name"):
        gym.make("MetaRL/AntGoal-v0", camera_id=0, camera_name="track")
    with pytest.raises(ValueError, match="width"):
        gym.make("MetaRL/AntGoal-v0", render_mode="rgb_array", width=0)


def test_mujoco_human_mode_without_a_display_says_why(monkeypatch):
    """Headless on every host: the display probe the MuJoCo renderer consults is made to find none."""
    require_module("mujoco", "mujoco")
    import metarl_envs.mujoco.rendering as mujoco_rendering

    monkeypatch.setattr(mujoco_rendering, "has_display", lambda: False)
    env = gym.make("MetaRL/HalfCheetahVel-v0", render_mode="human")
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="needs a display"):
        env.render()


def test_classic_human_mode_needs_pygame_and_a_display():
    """Without pygame: Gymnasium's DependencyNotInstalled naming the extra; headless: an error
    saying a display is needed; else a window, and render() returns None."""
    env = gym.make("MetaRL/GridNavigation-v0", render_mode="human")
    env.reset(seed=0)
    try:
        import pygame  # noqa: F401
    except ImportError:
        with pytest.raises(gym.error.DependencyNotInstalled, match=r"metarl-envs\[render\]"):
            env.render()
        return
    if not has_display():
        with pytest.raises(RuntimeError, match="needs a display"):
            env.render()
        return
    assert env.render() is None
    env.close()
    assert env.unwrapped._window is None


def test_rgb_array_without_render_mode_is_none():
    env = gym.make("MetaRL/CartPoleParams-v0")
    env.reset(seed=0)
    assert env.render() is None


VIDEO_CASES = [("MetaRL/CartPoleParams-v0", "pmeta", {}),
               ("MetaRL/HalfCheetahVel-v0", "maml", {"width": 240, "height": 240})]


@pytest.mark.parametrize(("env_id", "preset", "size"), VIDEO_CASES)
def test_record_video_writes_an_mp4(env_id, preset, size, tmp_path):
    """Gymnasium's RecordVideo (moviepy, the `video` extra) writes a playable mp4 of the episode."""
    require_module("moviepy", "video")
    from moviepy import VideoFileClip

    env = gym.wrappers.RecordVideo(make_rendering(env_id, preset, **size), str(tmp_path / "videos"),
                                   episode_trigger=lambda episode: True, name_prefix="clip", fps=30)
    env.reset(seed=0)
    env.action_space.seed(0)
    for _ in range(29):
        env.step(env.action_space.sample())
    env.close()
    (video,) = (tmp_path / "videos").glob("*.mp4")
    clip = VideoFileClip(str(video))
    frame = clip.get_frame(0.5)
    assert clip.duration == pytest.approx(30 / 30, abs=0.05)  # the reset frame and 29 steps at 30 fps
    assert frame.shape[2] == 3 and frame.std() > 0
    clip.close()
