"""Rendering shared by the classic and tabular envs: numpy drawing (no display, no extra package
for "rgb_array") and a pygame window for "human" (the `render` extra).

Each env draws its frame with numpy and hands it to `present`, which returns it for "rgb_array"
and shows it in a window for "human". The task is drawn into every frame: goals, holes and
landmarks as they are; physical parameters (CartPoleParams) as a row of gauges.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["RENDER_MODES", "close_window", "draw_disc", "draw_gauges", "draw_segment", "has_display", "present"]

RENDER_MODES = (None, "rgb_array", "human")
"""what every classic and tabular env accepts as `render_mode`"""


def has_display() -> bool:
    """Whether a window can be opened (always on macOS and Windows; on Linux, an X or Wayland display)."""
    return not sys.platform.startswith("linux") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def draw_disc(image: np.ndarray, x: float, y: float, radius: float, rgb: Sequence[int], *,
              ring: float = 0.0) -> None:
    """Fill the disc of `radius` pixels at pixel (x, y) (column, row), or only a ring of width
    `ring` pixels at its edge when `ring` > 0."""
    height, width = image.shape[:2]
    rows, cols = np.ogrid[0:height, 0:width]
    distance_sq = (cols + 0.5 - x) ** 2 + (rows + 0.5 - y) ** 2
    inside = distance_sq <= radius ** 2
    if ring > 0:
        inside &= distance_sq >= max(radius - ring, 0.0) ** 2
    image[inside] = rgb


def draw_segment(image: np.ndarray, start: Sequence[float], end: Sequence[float], rgb: Sequence[int],
                 thickness: float = 2.0) -> None:
    """A straight line of `thickness` pixels from pixel `start` to `end` ((column, row) each)."""
    height, width = image.shape[:2]
    length = float(np.hypot(end[0] - start[0], end[1] - start[1]))
    along = np.linspace(0.0, 1.0, max(int(length) * 2, 2))
    half = max(thickness / 2.0, 0.5)
    for offset in np.arange(-half, half + 1e-9, 0.5):
        dx, dy = (end[1] - start[1], start[0] - end[0]) if length else (0.0, 0.0)
        norm = length or 1.0
        cols = np.rint(start[0] + along * (end[0] - start[0]) + offset * dx / norm).astype(int)
        rows = np.rint(start[1] + along * (end[1] - start[1]) + offset * dy / norm).astype(int)
        keep = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
        image[rows[keep], cols[keep]] = rgb


def draw_gauges(image: np.ndarray, values: Sequence[float], low: Sequence[float], high: Sequence[float], *,
                origin: tuple[int, int] = (10, 10), size: tuple[int, int] = (120, 10)) -> None:
    """One horizontal gauge per value, top to bottom from `origin`: a grey track spanning
    [low, high] on a log scale and a filled part up to the value (clipped to the track)."""
    left, top = origin
    length, thickness = size
    for i, (value, lo, hi) in enumerate(zip(values, low, high, strict=True)):
        row = top + i * (thickness + 4)
        image[row:row + thickness, left:left + length] = (215, 215, 215)
        fraction = float(np.clip(np.log(value / lo) / np.log(hi / lo), 0.0, 1.0))
        image[row:row + thickness, left:left + max(round(fraction * length), 1)] = (70, 110, 200)


class _Window:
    """A pygame window showing RGB frames at the env's frame rate."""

    def __init__(self, width: int, height: int, title: str):
        try:
            import pygame
        except ImportError as error:
            from gymnasium.error import DependencyNotInstalled

            raise DependencyNotInstalled(
                'pygame is not installed: render_mode="human" needs `pip install "metarl-envs[render]"`') from error
        if not has_display():
            raise RuntimeError(f'{title}: render_mode="human" needs a display (DISPLAY or WAYLAND_DISPLAY); '
                               'headless, use render_mode="rgb_array"')
        self.pygame = pygame
        pygame.init()
        pygame.display.init()
        pygame.display.set_caption(title)
        self.screen = pygame.display.set_mode((width, height))
        self.clock = pygame.time.Clock()

    def show(self, frame: np.ndarray, fps: float) -> None:
        pygame = self.pygame
        pygame.event.pump()
        surface = pygame.surfarray.make_surface(np.transpose(frame, (1, 0, 2)))
        if surface.get_size() != self.screen.get_size():
            self.screen = pygame.display.set_mode(surface.get_size())
        self.screen.blit(surface, (0, 0))
        pygame.display.flip()
        self.clock.tick(fps)

    def close(self) -> None:
        self.pygame.display.quit()
        self.pygame.quit()


def present(env: Any, frame: np.ndarray) -> np.ndarray | None:
    """Return `frame` for render_mode "rgb_array"; show it in the env's window for "human"."""
    if env.render_mode != "human":
        return frame
    window = getattr(env, "_window", None)
    if window is None:
        window = env._window = _Window(frame.shape[1], frame.shape[0], type(env).__name__)
    window.show(frame, env.metadata.get("render_fps", 30))
    return None


def close_window(env: Any) -> None:
    """Close the env's "human" window, if it opened one."""
    window = getattr(env, "_window", None)
    if window is not None:
        window.close()
        env._window = None
