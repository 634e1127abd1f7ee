"""Presets against their source code bases, value by value (docs/sources/code-bases.md): each
expected value below is written out from the source's own rule, not read from the preset."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import metarl_envs

NAV = "MetaRL/Navigation2D-v0"


# ----- SG-MRL's walled point env (SGMRL@7286d21 maml_zoo/envs/point_envs/point_env_2d_v2.py) -----
def sgmrl_point_step(state: np.ndarray, action: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """The source's step: clip the action to ±0.1, move, clip the state to [−0.5, 0.5]²."""
    state = np.clip(state + np.clip(action, -0.1, 0.1), -0.5, 0.5)
    reward = -float(np.sqrt(np.sum((goal - state) ** 2)))
    done = abs(state[0] - goal[0]) < 0.01 and abs(state[1] - goal[1]) < 0.01
    return state, reward, done


def test_sgmrl_preset_declares_the_walls_as_its_observation_box():
    env = gym.make(NAV, preset="sgmrl")
    assert env.observation_space == gym.spaces.Box(-0.5, 0.5, (2,), np.float32)
    assert env.action_space == gym.spaces.Box(-0.1, 0.1, (2,), np.float32)
    assert gym.make(NAV, preset="maml").observation_space == gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)


@pytest.mark.parametrize("vector", [False, True])
def test_sgmrl_preset_clips_the_position_like_the_source(vector):
    goal = np.array([0.45, -0.3])
    rng = np.random.default_rng(0)
    # push hard into the +x wall and the −y wall, then wander
    actions = [np.array([0.099, -0.099])] * 12 + [rng.uniform(-0.1, 0.1, 2) for _ in range(40)]
    if vector:
        env = gym.make_vec(NAV, num_envs=2, vectorization_mode="vector_entry_point", preset="sgmrl")
        env.unwrapped.set_tasks([{"goal": goal}, {"goal": [0.0, 0.0]}])
        obs, _ = env.reset(seed=0)
        obs = obs[0]
    else:
        env = gym.make(NAV, preset="sgmrl", task={"goal": goal})
        obs, _ = env.reset(seed=0)
    state = np.zeros(2)
    touched = False
    for action in actions:
        action32 = action.astype(np.float32)
        state, want_reward, want_done = sgmrl_point_step(state, action32.astype(np.float64), goal)
        if vector:
            obs, reward, terminated, _, _ = env.step(np.stack([action32, action32]))
            obs, reward, terminated = obs[0], reward[0], terminated[0]
        else:
            obs, reward, terminated, _, _ = env.step(action32)
        touched |= bool(np.any(np.abs(state) == 0.5))
        assert env.observation_space.contains(obs) if not vector else env.single_observation_space.contains(obs)
        np.testing.assert_array_equal(obs, state.astype(np.float32))
        assert reward == pytest.approx(want_reward, abs=1e-12)
        assert terminated == want_done
        if terminated:
            break
    assert touched, "the action sequence should reach a wall"


def test_maml_preset_has_no_walls():
    env = gym.make(NAV, preset="maml", task={"goal": [0.0, 0.0]})
    env.reset(seed=0)
    for _ in range(8):
        obs, *_ = env.step(np.array([0.1, 0.1], dtype=np.float32))
    np.testing.assert_allclose(obs, [0.8, 0.8], rtol=1e-6)


def test_sgmrl_and_maml_goal_sets_are_the_same_draws():
    for split in ("train", "test"):
        maml = metarl_envs.task_set(NAV, split, "maml")
        sgmrl = metarl_envs.task_set(NAV, split, "sgmrl")
        assert list(maml) == list(sgmrl) and maml.fingerprint != sgmrl.fingerprint


# ----- PEARL's cheetah-vel list (oyster@44e20fd rlkit/envs/half_cheetah_vel.py, configs/cheetah-vel.json) -----
def test_pearl_cheetah_vel_sets_are_oysters_list_element_by_element():
    saved = np.random.get_state()  # noqa: NPY002
    try:  # oyster's sample_tasks, literally: seed the global RNG, one draw of n_tasks = 130
        np.random.seed(1337)  # noqa: NPY002
        velocities = np.random.uniform(0.0, 3.0, size=(130,))  # noqa: NPY002
    finally:
        np.random.set_state(saved)  # noqa: NPY002
    assert velocities[:3].round(3).tolist() == [0.786, 0.476, 0.834]
    train = metarl_envs.task_set("MetaRL/HalfCheetahVel-v0", "train", "pearl")
    test = metarl_envs.task_set("MetaRL/HalfCheetahVel-v0", "test", "pearl")
    # launch_experiment.py: train_tasks = tasks[:n_train_tasks], eval_tasks = tasks[-n_eval_tasks:]
    assert len(train) == 100 and len(test) == 30
    want = velocities[:100].tolist() + velocities[-30:].tolist()
    for stored, velocity in zip(list(train) + list(test), want, strict=True):
        assert stored.velocity == velocity


# ----- MuJoCo start states: the source's pose and noise law per preset -----
RLLAB_ANT_POSE = [0.0, 0.0, 0.55, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, -1.0, 0.0, -1.0, 0.0, 1.0]  # ant.xml init_qpos
# (id, preset) -> (pose, qpos noise, qvel noise): ("normal", σ) or ("uniform", half-width); pose None = qpos0
RLLAB_START = ("normal", 0.01), ("normal", 0.1)  # rllab mujoco_env.reset_mujoco
GYM_START = ("uniform", 0.1), ("normal", 0.1)  # gym HalfCheetahEnv / AntEnv.reset_model, inherited by
# pytorch-maml-rl, ProMP and oyster
START_LAWS = {
    ("MetaRL/HalfCheetahVel-v0", "maml"): (None, *RLLAB_START),
    ("MetaRL/HalfCheetahDir-v0", "maml"): (None, *RLLAB_START),
    ("MetaRL/AntVel-v0", "maml"): (RLLAB_ANT_POSE, *RLLAB_START),
    ("MetaRL/AntDir-v0", "maml"): (RLLAB_ANT_POSE, *RLLAB_START),
    ("MetaRL/HalfCheetahVel-v0", "pytorch-maml-rl"): (None, *GYM_START),
    ("MetaRL/HalfCheetahVel-v0", "promp"): (None, *GYM_START),
    ("MetaRL/HalfCheetahVel-v0", "pearl"): (None, *GYM_START),
    ("MetaRL/HalfCheetahVel-v0", "pmeta"): (None, *GYM_START),
    ("MetaRL/HalfCheetahDir-v0", "pytorch-maml-rl"): (None, *GYM_START),
    ("MetaRL/HalfCheetahDir-v0", "promp"): (None, *GYM_START),
    ("MetaRL/HalfCheetahDir-v0", "pearl"): (None, *GYM_START),
    ("MetaRL/AntVel-v0", "pytorch-maml-rl"): (None, *GYM_START),
    ("MetaRL/AntDir-v0", "pytorch-maml-rl"): (None, *GYM_START),
    ("MetaRL/AntDir-v0", "promp"): (None, *GYM_START),
    ("MetaRL/AntDir-v0", "pearl"): (None, *GYM_START),
    ("MetaRL/AntGoal-v0", "promp"): (None, *GYM_START),
    ("MetaRL/AntGoal-v0", "pearl"): (None, *GYM_START),
    # rand_param_envs walker2d_rand_params.py / hopper_rand_params.py reset_model
    ("MetaRL/Walker2DParams-v0", "pearl"): (None, ("uniform", 0.005), ("uniform", 0.005)),
    ("MetaRL/HopperParams-v0", "pearl"): (None, ("uniform", 0.005), ("uniform", 0.005)),
}


def check_noise_law(noise: np.ndarray, law: tuple[str, float], what: str) -> None:
    kind, scale = law
    if kind == "uniform":  # bounded by the half-width, std = half-width/√3
        assert np.abs(noise).max() <= scale * (1 + 1e-12) and np.abs(noise).max() > 0.95 * scale, what
        assert noise.std() == pytest.approx(scale / np.sqrt(3), rel=0.1), what
    else:  # Gaussian: std σ and tails beyond √3σ, which a uniform law never reaches
        assert noise.std() == pytest.approx(scale, rel=0.1), what
        assert np.mean(np.abs(noise) > 2 * scale) == pytest.approx(0.0455, abs=0.02), what


@pytest.mark.parametrize(("env_id", "preset"), sorted(START_LAWS), ids=lambda v: str(v).split("/")[-1])
def test_start_state_follows_the_source(env_id, preset):
    pytest.importorskip("mujoco")
    pose, qpos_law, qvel_law = START_LAWS[(env_id, preset)]
    env = gym.make(env_id, preset=preset).unwrapped
    pose = env.model.qpos0.copy() if pose is None else np.asarray(pose)
    starts = []
    for seed in range(300):
        env.reset(seed=seed)
        starts.append((env.data.qpos.copy(), env.data.qvel.copy()))
    qpos_noise = np.array([q for q, _ in starts]) - pose
    qvel_noise = np.array([v for _, v in starts])
    check_noise_law(qpos_noise.ravel(), qpos_law, "qpos")
    check_noise_law(qvel_noise.ravel(), qvel_law, "qvel")
    assert np.abs(qpos_noise.mean(axis=0)).max() < 4 * qpos_noise.std() / np.sqrt(len(starts)) + 1e-12


def test_every_mujoco_preset_has_a_start_law():
    registered = {(env_id, preset) for env_id in metarl_envs.ENV_IDS if "mujoco" in gym.spec(env_id).entry_point
                  for preset in metarl_envs.task_sets.env_class(env_id).presets}
    assert registered == set(START_LAWS)


# ----- the maml presets against an independent rllab simulation -----
def rllab_model(env_id: str):
    """The MAML code's model, made here by editing Gymnasium's XML text (the env edits it through
    MjSpec): rllab's ant.xml has timestep 0.02 and geom solref ".02 1" / solimp ".8 .8 .01"."""
    import mujoco

    from metarl_envs.mujoco.base import ASSETS

    if "Cheetah" in env_id:
        return mujoco.MjModel.from_xml_path(str(ASSETS / "half_cheetah.xml"))  # same as rllab's
    text = (ASSETS / "ant.xml").read_text()
    text = text.replace('<option integrator="RK4" timestep="0.01"/>', '<option integrator="RK4" timestep="0.02"/>')
    text = text.replace('margin="0.01" rgba="0.8 0.6 0.4 1"/>',
                        'margin="0.01" rgba="0.8 0.6 0.4 1" solref=".02 1" solimp=".8 .8 .01"/>')
    assert text.count('timestep="0.02"') == 1 and text.count('solimp=".8 .8 .01"') == 1
    return mujoco.MjModel.from_xml_string(text)


@pytest.mark.parametrize("env_id", ["MetaRL/HalfCheetahVel-v0", "MetaRL/HalfCheetahDir-v0", "MetaRL/AntVel-v0",
                                    "MetaRL/AntDir-v0"])
def test_maml_preset_rewards_equal_an_independent_rllab_rollout(env_id):
    mujoco = pytest.importorskip("mujoco")
    from tests.envs.test_mujoco_envs import rllab_comvel

    task = metarl_envs.task_set(env_id, "test", "maml")[-1]
    env = gym.make(env_id, preset="maml", task=task)
    obs, _ = env.reset(seed=5)
    model = rllab_model(env_id)
    data = mujoco.MjData(model)
    data.qpos[:], data.qvel[:] = env.unwrapped.data.qpos, env.unwrapped.data.qvel
    mujoco.mj_forward(model, data)
    nu = model.nu
    t = np.arange(60)[:, None]
    actions = (0.9 * np.sin(0.3 * t + np.arange(nu))).astype(np.float32)  # a fixed action sequence
    for action in actions:
        obs, reward, terminated, _, _ = env.step(action)
        # rllab forward_dynamics: ctrl, one mj_step (no frame_skip numeric), mj_forward; MuJoCo 1.31's
        # forward filled cfrc_ext, which MuJoCo >= 2 leaves to mj_rnePostConstraint
        data.ctrl[:] = action
        mujoco.mj_step(model, data)
        mujoco.mj_forward(model, data)
        mujoco.mj_rnePostConstraint(model, data)
        comvel = rllab_comvel(model, data, 1)
        a = action.astype(np.float64)
        if "Cheetah" in env_id:
            if "Vel" in env_id:  # half_cheetah_env_rand.py
                want = -(1e-1 * 0.5 * np.sum(a**2) + 1.0 * abs(comvel[0] - task.velocity))
            else:  # half_cheetah_env_rand_direc.py
                want = -(1e-1 * 0.5 * np.sum(a**2) + task.direction * -1 * comvel[0])
            want_done = False
        else:
            forward = -abs(comvel[0] - task.velocity) + 1.0 if "Vel" in env_id else task.direction * comvel[0]
            ctrl = 0.5 * 1e-2 * np.sum(np.square(a / 1.0))  # rllab: action/150 on its ±150 range
            contact = 0.5 * 1e-3 * np.sum(np.square(np.clip(data.cfrc_ext, -1, 1)))
            want = forward - ctrl - contact + 0.05
            want_done = not (np.isfinite(data.qpos).all() and 0.2 <= data.qpos[2] <= 1.0)
        torso_com = data.subtree_com[1]  # rllab's get_body_com("torso")
        if "Cheetah" in env_id:  # get_current_obs of half_cheetah_env_rand(_direc).py
            want_obs = np.concatenate([data.qpos[1:], data.qvel, torso_com])
        else:  # ant_env_rand(_direc).py
            want_obs = np.concatenate([data.qpos, data.qvel, np.clip(data.cfrc_ext, -1, 1).ravel(), data.xmat[1],
                                       torso_com])
        np.testing.assert_allclose(obs, want_obs, rtol=1e-9, atol=1e-9)
        assert reward == pytest.approx(want, rel=1e-9, abs=1e-9)
        assert terminated == want_done
        if terminated:
            break


# ----- BO-MRL's FrozenLake: the optimal values behind the deterministic choice (card, Task distribution) -----
def test_frozen_lake_optimal_values_stated_in_the_card():
    from baselines.common.oracles import optimal_return

    def optima(preset: str, slippery: bool, start: str) -> np.ndarray:
        env = gym.make("MetaRL/FrozenLakeHoles-v0", preset=preset, is_slippery=slippery,
                       start_distribution=start).unwrapped
        values = []
        for task in metarl_envs.task_set("MetaRL/FrozenLakeHoles-v0", "test", preset):
            env.set_task(task)
            values.append(optimal_return(env.unwrapped.model, 0.8))
        return np.array(values)

    for preset, uniform_mean, slippery_start, slippery_uniform in (("bomrl-high", 0.59, 0.011, 0.056),
                                                                   ("bomrl-low", 0.62, 0.047, 0.181)):
        np.testing.assert_allclose(optima(preset, False, "start"), 0.8**5, rtol=1e-9)
        assert optima(preset, False, "uniform").mean() == pytest.approx(uniform_mean, abs=0.005)
        assert optima(preset, True, "start").mean() == pytest.approx(slippery_start, abs=0.0005)
        slippery = optima(preset, True, "uniform")
        assert slippery.mean() == pytest.approx(slippery_uniform, abs=0.0005)
        assert 5 * slippery.mean() < 1.0  # below the figures' 1.5 axis even in the 1/(1−γ) scale


def test_varibad_preset_cites_the_master_commit_that_draws_u_0_pi():
    # lmzintgraf/varibad@57e1795 (master) semi_circle_goal_sampler: angle = random.uniform(0, np.pi)
    from metarl_envs.classic.sparse_point_robot import SparsePointRobotEnv

    assert SparsePointRobotEnv.presets["varibad"].source.startswith("lmzintgraf/varibad@57e1795:")
    cls = metarl_envs.task_sets.env_class("MetaRL/SparsePointRobot-v0")
    angles = np.array([t.angle for t in cls.draw_tasks(cls.presets["varibad"], np.random.default_rng(0), 4000)])
    assert angles.min() >= 0.0 and angles.max() <= np.pi
    assert np.histogram(angles, bins=4, range=(0, np.pi))[0].min() > 4000 / 4 * 0.9
