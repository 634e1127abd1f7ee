"""Registration is a flat table of string entry points (STYLE R8); importing does not pull mujoco."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys

import gymnasium as gym

import metarl_envs


def test_every_id_has_string_entry_points_and_a_preset():
    for env_id in metarl_envs.ENV_IDS:
        spec = gym.spec(env_id)
        assert isinstance(spec.entry_point, str) and isinstance(spec.vector_entry_point, str)
        assert spec.kwargs["preset"] in metarl_envs.task_sets.env_class(env_id).presets


def test_registration_has_no_lambdas():
    tree = ast.parse(inspect.getsource(metarl_envs))
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Lambda)]


def test_import_does_not_import_mujoco():
    code = "import sys, metarl_envs; print('mujoco' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_module_prefixed_id_resolves_in_a_fresh_process():
    # Gymnasium 1.x loads no plugins; "module:id" imports the package, which registers the ids.
    code = "import gymnasium as gym; env = gym.make('metarl_envs:MetaRL/Navigation2D-v0'); print(env.spec.id)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "MetaRL/Navigation2D-v0"
