"""The contract every MetaRL/ env keeps (DESIGN.md "Task API"), run over every id × preset."""

from __future__ import annotations

import inspect
import json
import pickle
import pydoc
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import metarl_envs
from metarl_envs.rendering import has_display
from metarl_envs.task_sets import env_class

from .cards import card_of, cell, section, statements, states, tables
from .conftest import make

CARD_HEADINGS = ("Description", "Task distribution", "Action Space", "Observation Space", "Rewards",
                 "Starting State", "Episode End", "Arguments", "Vectorized environment", "Sources",
                 "Version History")


# the checker's notes on the unbounded observation boxes (positions and velocities are unbounded,
# as in Gymnasium's own MuJoCo and point envs) are a design choice, not a defect
@pytest.mark.filterwarnings("ignore:.*Box observation space (minimum|maximum) value is -?infinity")
def test_gymnasium_env_checker(env_preset):
    env_id, preset = env_preset
    env = make(env_id, preset)
    # the render check opens every render mode, "human" too, which needs a display (headless, the
    # rgb_array frames are checked in test_rendering.py)
    check_env(env.unwrapped, skip_render_check=not has_display())
    env.close()


def test_close_shuts_the_human_window(monkeypatch):
    """`MetaEnv.close` closes the "human" window the env opened (SDL's dummy video driver stands in for
    a display, so this runs headless)."""
    pygame = pytest.importorskip("pygame")
    import metarl_envs.rendering

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setattr(metarl_envs.rendering, "has_display", lambda: True)
    env = make("MetaRL/Navigation2D-v0", "maml", render_mode="human")
    env.reset(seed=0)
    env.render()
    assert env.unwrapped._window is not None and pygame.display.get_init()
    env.close()
    assert env.unwrapped._window is None and not pygame.display.get_init()


def test_stable_baselines3_env_checker(env_preset):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env_id, preset = env_preset
    sb3_check_env(make(env_id, preset).unwrapped, warn=False)


def test_make_vec_and_spec_round_trip(env_preset):
    env_id, preset = env_preset
    env = make(env_id, preset)
    spec = gym.envs.registration.EnvSpec.from_json(env.spec.to_json())
    assert spec.kwargs["preset"] == preset
    venv = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", preset=preset)
    assert isinstance(venv.unwrapped, metarl_envs.MetaVectorEnv)
    assert venv.unwrapped.preset_name == preset
    assert venv.single_observation_space == env.observation_space
    assert venv.single_action_space == env.action_space


def test_sample_tasks_is_seeded_by_reset(env_preset):
    env_id, preset = env_preset
    first, second = make(env_id, preset).unwrapped, make(env_id, preset).unwrapped
    first.reset(seed=123)
    second.reset(seed=123)
    tasks = first.sample_tasks(7)
    assert tasks == second.sample_tasks(7)
    assert len(tasks) == 7 and all(isinstance(t, first.task_type) for t in tasks)


def test_task_values_round_trip(env_preset):
    env_id, preset = env_preset
    env = make(env_id, preset).unwrapped
    env.reset(seed=5)
    for task in env.sample_tasks(5):
        as_json = json.loads(json.dumps(task.to_dict()))
        assert env.task_type.from_dict(as_json) == task
        assert hash(env.task_type.from_dict(as_json)) == hash(task)
        assert pickle.loads(pickle.dumps(task)) == task
        with pytest.raises(dataclasses_frozen_error()):
            setattr(task, next(iter(task.to_dict())), 0)


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_set_task_get_task_and_reset_option(env_preset):
    env_id, preset = env_preset
    env = make(env_id, preset)
    env.reset(seed=0)
    task_a, task_b = metarl_envs.task_set(env_id, "test", preset)[:2]
    env.unwrapped.set_task(task_a)
    assert env.unwrapped.get_task() == task_a
    env.reset(options={"task": task_b.to_dict()})
    assert env.unwrapped.get_task() == task_b
    with pytest.raises(ValueError, match="unknown option"):
        env.reset(options={"tsak": task_a})


def test_step_before_reset_raises(env_preset):
    env_id, preset = env_preset
    env = make(env_id, preset).unwrapped
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.action_space.sample())


def rollout(env: gym.Env, seed: int, steps: int) -> list[tuple]:
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    out = [(np.asarray(obs).tolist(),)]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        out.append((np.asarray(obs).tolist(), float(reward), bool(terminated), bool(truncated)))
        if terminated or truncated:
            obs, _ = env.reset()
            out.append((np.asarray(obs).tolist(),))
    return out


def test_same_seed_same_trajectory(env_preset):
    env_id, preset = env_preset
    task = metarl_envs.task_set(env_id, "test", preset)[0]
    first = rollout(make(env_id, preset, task=task), seed=11, steps=60)
    assert first == rollout(make(env_id, preset, task=task), seed=11, steps=60)


def test_same_trajectory_in_a_fresh_process(env_preset):
    env_id, preset = env_preset
    code = (
        "import json, gymnasium as gym, metarl_envs, numpy as np\n"
        + inspect.getsource(rollout) +
        f"env = gym.make({env_id!r}, preset={preset!r}, task=metarl_envs.task_set({env_id!r}, 'test', {preset!r})[0])\n"
        "env.reset(seed=3)\n"
        "print(json.dumps([[t.to_dict() for t in env.unwrapped.sample_tasks(3)], rollout(env, 11, 30)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    env = make(env_id, preset, task=metarl_envs.task_set(env_id, "test", preset)[0])
    env.reset(seed=3)
    here = [[t.to_dict() for t in env.unwrapped.sample_tasks(3)], rollout(env, 11, 30)]
    assert json.loads(out.stdout) == json.loads(json.dumps(here))


def test_card_is_the_class_docstring(env_preset):
    """`help(EnvClass)` shows the card (pydoc renders the class docstring)."""
    env_id, _ = env_preset
    cls = env_class(env_id)
    card = card_of(cls)
    for heading in CARD_HEADINGS:
        assert f"## {heading}" in card, f"{cls.__name__} card lacks ## {heading}"
    shown = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    assert all(line.strip() in shown for line in section(card, "Task distribution").splitlines())


def test_signature_documented_in_card(env_preset):
    env_id, _ = env_preset
    cls = env_class(env_id)
    card = card_of(cls)
    arguments = section(card, "Arguments")
    for name in inspect.signature(cls.__init__).parameters:
        if name != "self":
            assert f"| {name} " in arguments, f"{cls.__name__}.__init__ argument {name!r} is not in the card"


def test_card_states_each_preset_as_the_code_defines_it(env_preset):
    """Field by field: the card's range, horizon and train / test sizes of the preset equal the
    values read from its spec (a card saying U[0, 2] over a preset drawing U[0, 3] fails)."""
    env_id, preset = env_preset
    cls = env_class(env_id)
    table = section(card_of(cls), "Task distribution")
    for row, column, expected, exact in statements(cls, preset):
        stated = cell(table, row, column)
        assert stated is not None, f"{cls.__name__} card: no Task distribution cell ({row!r}, {column!r})"
        assert states(stated, expected, exact), (
            f"{cls.__name__} card, preset {preset!r}: cell ({row!r}, {column!r}) says {stated!r}; "
            f"the code defines {expected!r}")


def test_documented_info_keys_present(env_preset):
    env_id, preset = env_preset
    env = make(env_id, preset)
    env.reset(seed=0)
    _, _, _, _, info = env.step(env.action_space.sample())
    card = card_of(env_class(env_id))
    documented = {word.split('"')[0] for word in card.split('info["')[1:]}
    assert documented <= set(info), f"documented info keys {documented - set(info)} missing after step"


def test_docs_envs_page_lists_the_preset(env_preset):
    """docs/envs.md has a row for every id × preset with the preset's horizon, set sizes and source."""
    from pathlib import Path

    env_id, preset = env_preset
    spec = env_class(env_id).presets[preset]
    page = (Path(__file__).resolve().parents[2] / "docs" / "envs.md").read_text()
    default = gym.spec(env_id).kwargs["preset"]
    name = f"{preset} (*default*)" if preset == default else preset
    rows = [cells for _, table in tables(section(page, "Every id × preset")) for cells in table
            if cells[:2] == [f"`{env_id}`", name]]
    assert len(rows) == 1, f"docs/envs.md: no single row for {env_id} × {preset}"
    _, _, horizon, sizes, source = rows[0]
    assert horizon == str(spec.horizon) and sizes == f"{spec.n_train_tasks} / {spec.n_test_tasks}"
    origin = spec.source.split("@")[0].split(" ")[0]  # the repository, or the paper's first author
    assert origin in source, f"docs/envs.md row for {env_id} × {preset} names no source like {spec.source!r}"
