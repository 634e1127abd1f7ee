"""Suite-wide set-up: MuJoCo renders headless through EGL where no display is found and no backend
was asked for, as `.ci/run` sets it (read by mujoco when first imported, so it is set here, before
any test module imports it)."""

import os

from metarl_envs.rendering import has_display

if not has_display():
    os.environ.setdefault("MUJOCO_GL", "egl")
