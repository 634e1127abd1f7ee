"""Physics facts of the MuJoCo family: rewards recomputed from the raw simulation state with the
sources' coefficients, real Ant contact forces, the nominal-copy task rule, non-finite states,
threads, observation layouts and an SB3 smoke run. The contract itself is in test_contract.py."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs

mujoco = pytest.importorskip("mujoco")

# (id, preset) -> the sources' coefficients, written out here independently of the presets; "dt" is
# the source's seconds per env step (timestep × frame skip of its XML and env class) and "comvel"
# marks rllab's reward velocity, the torso subtree's COM velocity (`get_body_comvel`)
_MAML_CHEETAH = {"ctrl": 0.05, "obs": 20, "dt": 0.01, "comvel": True}  # rllab half_cheetah.xml, no frame_skip
_GYM_CHEETAH_20 = {"ctrl": 0.05, "obs": 20, "dt": 0.05}  # gym half_cheetah.xml, frame_skip 5
_MAML_ANT = {"ctrl": 0.005, "contact": 5e-4, "survive": 0.05, "z": (0.2, 1.0), "obs": 125, "dt": 0.02,
             "comvel": True}  # rllab ant.xml: timestep 0.02, no frame_skip
_TORCH_ANT = {"ctrl": 0.005, "contact": 5e-4, "survive": 0.05, "z": (0.2, 1.0), "obs": 125, "dt": 0.05}
SOURCE_COEFFICIENTS = {
    ("MetaRL/HalfCheetahVel-v0", "maml"): _MAML_CHEETAH,
    ("MetaRL/HalfCheetahVel-v0", "pytorch-maml-rl"): _GYM_CHEETAH_20,
    ("MetaRL/HalfCheetahVel-v0", "promp"): {"ctrl": 0.05, "obs": 17, "dt": 0.05},
    ("MetaRL/HalfCheetahVel-v0", "pearl"): _GYM_CHEETAH_20,
    ("MetaRL/HalfCheetahVel-v0", "pmeta"): _GYM_CHEETAH_20,
    ("MetaRL/HalfCheetahDir-v0", "maml"): _MAML_CHEETAH,
    ("MetaRL/HalfCheetahDir-v0", "pytorch-maml-rl"): _GYM_CHEETAH_20,
    ("MetaRL/HalfCheetahDir-v0", "promp"): {"ctrl": 0.05, "obs": 17, "dt": 0.05},
    ("MetaRL/HalfCheetahDir-v0", "pearl"): _GYM_CHEETAH_20,
    ("MetaRL/AntVel-v0", "maml"): _MAML_ANT,
    ("MetaRL/AntVel-v0", "pytorch-maml-rl"): _TORCH_ANT,
    ("MetaRL/AntDir-v0", "maml"): _MAML_ANT,
    ("MetaRL/AntDir-v0", "pytorch-maml-rl"): _TORCH_ANT,
    ("MetaRL/AntDir-v0", "promp"): {"ctrl": 0.5, "contact": 5e-4, "survive": 1.0, "z": (0.0, 1.0), "obs": 111,
                                    "dt": 0.05},
    ("MetaRL/AntDir-v0", "pearl"): {"ctrl": 0.5, "contact": 5e-4, "survive": 1.0, "z": (0.2, 1.0), "obs": 27,
                                    "dt": 0.05},
    # ProMP ant_rand_goal.py = oyster ant_goal.py: -L1(xy - goal), ctrl .1, contact .5e-3, survive 0, never done
    ("MetaRL/AntGoal-v0", "promp"): {"ctrl": 0.1, "contact": 5e-4, "survive": 0.0, "z": None, "obs": 113, "dt": 0.05},
    ("MetaRL/AntGoal-v0", "pearl"): {"ctrl": 0.1, "contact": 5e-4, "survive": 0.0, "z": None, "obs": 113, "dt": 0.05},
    # rand_param_envs: timestep 0.004 (its "increase env step" commit) × RandomEnv's frame_skip 4
    ("MetaRL/Walker2DParams-v0", "pearl"): {"ctrl": 1e-3, "survive": 1.0, "obs": 17, "dt": 0.016},
    ("MetaRL/HopperParams-v0", "pearl"): {"ctrl": 1e-3, "survive": 1.0, "obs": 11, "dt": 0.016},
}
CASES = sorted(SOURCE_COEFFICIENTS)
CASE_IDS = [f"{env_id.split('/')[1]}[{preset}]" for env_id, preset in CASES]
ENV_IDS = sorted({env_id for env_id, _ in CASES})


def test_every_mujoco_preset_is_covered():
    registered = {(env_id, preset) for env_id in metarl_envs.ENV_IDS if "mujoco" in gym.spec(env_id).entry_point
                  for preset in metarl_envs.task_sets.env_class(env_id).presets}
    assert registered == set(SOURCE_COEFFICIENTS)


def rllab_comvel(model, data, body: int) -> np.ndarray:
    """rllab's `MjModel.body_comvels[body]` (rllab/mujoco_py/mjcore.py `_compute_subtree`): every
    body's COM velocity × its mass, summed over the subtree, divided by the subtree's mass."""
    velocity = np.zeros((model.nbody, 6))
    for i in range(model.nbody):
        mujoco.mj_objectVelocity(model, data, mujoco.mjtObj.mjOBJ_BODY, i, velocity[i], 0)
    momentum = velocity[:, 3:] * model.body_mass[:, None]
    mass = model.body_mass.copy()
    for i in range(model.nbody - 1, 0, -1):
        momentum[model.body_parentid[i]] += momentum[i]
        mass[model.body_parentid[i]] += mass[i]
    return momentum[body] / mass[body]


def expected_reward(env_id: str, coef: dict, task, x_before, x_after, data, action, dt,
                    model=None) -> tuple[float, bool]:
    velocity = (x_after - x_before) / dt
    if coef.get("comvel"):
        velocity = rllab_comvel(model, data, 1)[0]  # body 1 = torso
    reward = -coef["ctrl"] * float(np.sum(np.square(action.astype(np.float64))))
    terminated = False
    if "Cheetah" in env_id or "Walker" in env_id or "Hopper" in env_id:
        forward = -abs(velocity - task.velocity) if "Vel" in env_id else velocity
        forward = task.direction * velocity if "Dir" in env_id else forward
        reward += forward + coef.get("survive", 0.0)
        if "Walker" in env_id:
            terminated = not (0.8 < data.qpos[1] < 2.0 and -1.0 < data.qpos[2] < 1.0)
        if "Hopper" in env_id:
            state = np.concatenate([data.qpos, data.qvel])
            terminated = not (np.all(np.abs(state[2:]) < 100) and data.qpos[1] > 0.7 and abs(data.qpos[2]) < 0.2)
    elif "Goal" in env_id:  # torso frame xy after the step (get_body_com("torso")[:2])
        contact = coef["contact"] * float(np.sum(np.square(np.clip(data.cfrc_ext, -1, 1))))
        goal_distance = abs(data.xpos[1][0] - task.goal[0]) + abs(data.xpos[1][1] - task.goal[1])
        reward += -goal_distance - contact + coef["survive"]
    else:
        forward = -abs(velocity - task.velocity) + 1.0 if "Vel" in env_id else task.direction * velocity
        contact = coef["contact"] * float(np.sum(np.square(np.clip(data.cfrc_ext, -1, 1))))
        reward += forward - contact + coef["survive"]
        terminated = not (coef["z"][0] <= data.qpos[2] <= coef["z"][1])
    return reward, terminated


@pytest.mark.parametrize(("env_id", "preset"), CASES, ids=CASE_IDS)
def test_reward_recomputed_from_raw_state(env_id, preset):
    coef = SOURCE_COEFFICIENTS[(env_id, preset)]
    task = metarl_envs.task_set(env_id, "test", preset)[-1]
    env = gym.make(env_id, preset=preset, task=task)
    obs, _ = env.reset(seed=1)
    sim = env.unwrapped
    assert obs.shape == (coef["obs"],)
    dt = coef["dt"]
    assert sim.dt == pytest.approx(dt, rel=1e-12)
    rng = np.random.default_rng(2)
    # Ant: the torso frame x (gym's get_body_com, Gymnasium v5's main body), which after mj_step
    # lags qpos by one substep; cheetah and walker: rootx = qpos[0]
    def x_of(data):
        return float(data.xpos[1][0] if "Ant" in env_id else data.qpos[0])

    for _ in range(25):
        action = rng.uniform(-1, 1, env.action_space.shape).astype(np.float32)
        x_before = x_of(sim.data)
        _, reward, terminated, _, info = env.step(action)
        want, want_terminated = expected_reward(env_id, coef, task, x_before, x_of(sim.data), sim.data, action, dt,
                                                sim.model)
        assert reward == pytest.approx(want, rel=1e-12, abs=1e-12)
        assert terminated == want_terminated
        assert sum(v for k, v in info.items() if k.startswith("reward_")) == pytest.approx(reward, abs=1e-12)
        if terminated:
            break


def test_ant_goal_distribution_is_uniform_in_the_disk_of_radius_3():
    cls = metarl_envs.task_sets.env_class("MetaRL/AntGoal-v0")
    goals = np.array([t.goal for t in cls.draw_tasks(cls.presets["pearl"], np.random.default_rng(0), 20000)])
    radius = np.hypot(goals[:, 0], goals[:, 1])
    assert radius.max() <= 3.0 and radius.max() > 2.99
    # uniform in the disk: P(r <= s) = (s/3)^2, so E[r^2] = 4.5 (r = 3*U would give 3.0)
    assert np.mean(radius**2) == pytest.approx(4.5, abs=0.05)
    assert np.mean(radius <= 1.5) == pytest.approx(0.25, abs=0.01)
    angle = np.arctan2(goals[:, 1], goals[:, 0])
    assert np.histogram(angle, bins=8, range=(-np.pi, np.pi))[0].min() > 20000 / 8 * 0.95
    env = gym.make("MetaRL/AntGoal-v0").unwrapped
    with pytest.raises(ValueError, match=r"AntGoalTask\.goal"):
        env.set_task({"goal": [2.5, 2.5]})
    with pytest.raises(ValueError, match=r"AntGoalTask\.goal\[1\]"):
        env.set_task({"goal": [0.0, float("nan")]})


def test_ant_goal_never_terminates_even_when_the_torso_leaves_the_healthy_range():
    env = gym.make("MetaRL/AntGoal-v0", preset="promp")
    env.reset(seed=0)
    env.unwrapped.data.qpos[2] = 1.5  # Ant-v5 and AntDir would terminate above z = 1.0
    _, _, terminated, truncated, _ = env.step(np.zeros(8, dtype=np.float32))
    assert env.unwrapped.data.qpos[2] > 1.0 and not terminated and not truncated
    steps = 1
    while not truncated:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated
        steps += 1
    assert steps == 100


def test_ant_contact_forces_are_real_while_standing():
    env = gym.make("MetaRL/AntDir-v0", preset="maml")
    obs, _ = env.reset(seed=0)
    for _ in range(10):
        obs, _, terminated, _, info = env.step(np.zeros(8, dtype=np.float32))
    data = env.unwrapped.data
    assert not terminated and 0.2 <= data.qpos[2] <= 1.0
    assert data.ncon > 0, "the ant should touch the floor"
    assert np.abs(data.cfrc_ext).sum() > 1.0
    assert info["reward_contact"] < 0.0
    contact_obs = obs[15 + 14: 15 + 14 + 84]
    np.testing.assert_array_equal(contact_obs, np.clip(data.cfrc_ext, -1, 1).ravel())
    assert np.count_nonzero(contact_obs) > 0


def model_snapshot(model) -> dict[str, np.ndarray]:
    out = {}
    for name in dir(model):
        value = getattr(model, name, None) if not name.startswith("_") else None
        if isinstance(value, np.ndarray):
            out[name] = value.copy()
    for struct in ("opt", "stat"):
        for name in dir(getattr(model, struct)):
            value = getattr(getattr(model, struct), name)
            if not name.startswith("_") and isinstance(value, (float, int, np.ndarray)):
                out[f"{struct}.{name}"] = np.array(value, copy=True)
    return out


def test_task_change_rewrites_from_the_nominal_copy():
    env = gym.make("MetaRL/Walker2DParams-v0").unwrapped
    task_a, task_b = metarl_envs.task_set("MetaRL/Walker2DParams-v0", "train")[:2]
    nominal = model_snapshot(env._sim.nominal)
    env.set_task(task_a)
    first_a = model_snapshot(env.model)
    np.testing.assert_array_equal(first_a["body_mass"], nominal["body_mass"] * np.asarray(task_a.body_mass))
    np.testing.assert_array_equal(first_a["geom_friction"], nominal["geom_friction"] * np.asarray(task_a.geom_friction))
    assert not np.array_equal(first_a["body_subtreemass"], nominal["body_subtreemass"]), "derived not recomputed"
    env.set_task(task_b)
    assert not np.array_equal(model_snapshot(env.model)["body_mass"], first_a["body_mass"])
    env.set_task(task_a)
    again = model_snapshot(env.model)
    assert again.keys() == first_a.keys()
    for name, value in first_a.items():
        np.testing.assert_array_equal(again[name], value, err_msg=name)


def test_walker_task_shape_and_range_errors_name_the_field():
    env = gym.make("MetaRL/Walker2DParams-v0").unwrapped
    valid = metarl_envs.task_set("MetaRL/Walker2DParams-v0", "test")[0].to_dict()
    with pytest.raises(ValueError, match="body_mass"):
        env.set_task({**valid, "body_mass": valid["body_mass"][:-1]})
    with pytest.raises(ValueError, match="body_inertia"):
        env.set_task({**valid, "body_inertia": [row[:2] for row in valid["body_inertia"]]})
    with pytest.raises(ValueError, match="dof_damping"):
        env.set_task({**valid, "dof_damping": [1.3**3.5] * len(valid["dof_damping"])})
    with pytest.raises(ValueError, match=r"geom_friction\[0\]\[1\]"):
        bad = [list(row) for row in valid["geom_friction"]]
        bad[0][1] = -1.0
        env.set_task({**valid, "geom_friction": bad})


@pytest.mark.parametrize("env_id", ["MetaRL/HalfCheetahVel-v0", "MetaRL/AntDir-v0", "MetaRL/Walker2DParams-v0"])
def test_non_finite_state_truncates_with_a_flag(env_id, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo writes its warning log (MUJOCO_LOG.TXT) to the cwd
    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    env.unwrapped.data.qvel[0] = np.nan
    obs, reward, terminated, truncated, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    assert truncated and not terminated and info["non_finite_state"]
    assert np.all(np.isfinite(obs)) and reward == 0.0
    assert np.all(np.isfinite(env.reset(seed=1)[0]))
    _, _, _, truncated, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    assert not truncated and not info["non_finite_state"]


def test_non_finite_state_in_one_vector_sub_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    venv = gym.make_vec("MetaRL/HalfCheetahVel-v0", num_envs=3, vectorization_mode="vector_entry_point")
    venv.reset(seed=0)
    venv.unwrapped._sim.datas[1].qvel[:] = np.inf
    obs, reward, terminated, truncated, info = venv.step(np.zeros((3, 6), dtype=np.float32))
    assert truncated.tolist() == [False, True, False] and not terminated.any()
    assert info["non_finite_state"].tolist() == [False, True, False]
    assert np.all(np.isfinite(obs)) and reward[1] == 0.0
    obs, reward, _, truncated, _ = venv.step(np.zeros((3, 6), dtype=np.float32))  # autoreset of sub-env 1
    assert np.all(np.isfinite(obs)) and reward[1] == 0.0 and not truncated.any()


@pytest.mark.parametrize("env_id", ["MetaRL/AntVel-v0", "MetaRL/Walker2DParams-v0"])
def test_threads_give_bit_identical_trajectories(env_id):
    tasks = list(metarl_envs.task_set(env_id, "test"))[:4]
    tasks = (tasks * 2)[:4]
    outs = []
    for threads in (1, 2):
        venv = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point", num_threads=threads)
        venv.unwrapped.set_tasks(tasks)
        trajectory = [venv.reset(seed=3)[0]]
        rng = np.random.default_rng(0)
        for _ in range(30):
            trajectory.append(venv.step(rng.uniform(-1, 1, venv.action_space.shape).astype(np.float32))[0])
        venv.close()
        outs.append(np.stack(trajectory))
    np.testing.assert_array_equal(outs[0], outs[1])


def test_importing_the_package_does_not_import_mujoco():
    code = "import sys, metarl_envs; print('mujoco' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_stable_baselines3_ppo_trains_on_a_fixed_task(env_id):
    from stable_baselines3 import PPO

    env = gym.make(env_id, task=metarl_envs.task_set(env_id, "train")[0])
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(128)
    assert model.num_timesteps == 128
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert env.action_space.contains(action)
