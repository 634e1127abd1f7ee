"""Rendering: an rgb_array frame from every id × preset that shows the task, RecordVideo mp4s, and
"human" mode's three outcomes (no pygame, no display, a window).

MuJoCo frames need an OpenGL backend; headless machines use EGL or OSMesa. `tests/conftest.py` sets
`MUJOCO_GL=egl` where no display is found and none was asked for, as `.ci/run` does, so these cases run
on every machine the README's test command installs: a missing backend or package fails them, naming
what to install, rather than skipping them."""

from __future__ import annotations

import functools
import importlib
import sys

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs
import metarl_envs.rendering as classic_rendering
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
        return (f"no OpenGL backend for MuJoCo (MUJOCO_GL=egl needs Mesa's EGL: libegl1 libegl-mesa0 "
                f"libgl1-mesa-dri, as .ci/run installs): {error}")
    finally:
        renderer.close()
    return None


def require_module(name: str, extra: str) -> None:
    """Fail naming the extra when a package the README's test command installs is missing."""
    try:
        importlib.import_module(name)
    except ImportError as error:
        pytest.fail(f"{name} is not installed (the `{extra}` extra; the README's test command installs "
                    f"`.[all]`): {error}")


def make_rendering(env_id: str, preset: str, **kwargs) -> gym.Env:
    if is_mujoco(env_id):
        require_module("mujoco", "mujoco")
        if gl_backend_error():
            pytest.fail(gl_backend_error())
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


def test_classic_human_mode_without_pygame_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pygame", None)  # `import pygame` raises ImportError
    env = gym.make("MetaRL/GridNavigation-v0", render_mode="human")
    env.reset(seed=0)
    with pytest.raises(gym.error.DependencyNotInstalled, match=r"metarl-envs\[render\]"):
        env.render()


def test_classic_human_mode_without_a_display_says_why(monkeypatch):
    require_module("pygame", "render")
    monkeypatch.setattr(classic_rendering, "has_display", lambda: False)
    env = gym.make("MetaRL/GridNavigation-v0", render_mode="human")
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="needs a display"):
        env.render()


def test_classic_human_mode_with_a_display_opens_a_window_and_closes_it(monkeypatch):
    """SDL's dummy video driver stands in for a display, so the window path runs headless too."""
    require_module("pygame", "render")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setattr(classic_rendering, "has_display", lambda: True)
    env = gym.make("MetaRL/GridNavigation-v0", render_mode="human")
    env.reset(seed=0)
    assert env.render() is None                      # human mode draws, it returns nothing
    window = env.unwrapped._window
    assert window is not None and window.screen.get_size()[0] > 0
    env.step(env.action_space.sample())              # a step redraws into the same window
    assert env.unwrapped._window is window
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
