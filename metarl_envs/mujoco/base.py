"""Shared MuJoCo machinery of the meta-task family (not an env; the env cards live beside each env).

- `MujocoPreset`: the preset fields every MuJoCo family shares, which say how Gymnasium's asset is
  simulated: frame skip, the model edits a source needs (time step, integrator, contact softness,
  margin; made on the asset through `mujoco.MjSpec`, never by shipping another XML), the initial
  pose, the start noise, and the rllab readings (subtree centre of mass, its velocity).
- `ModelBatch`: N `MjModel`/`MjData` pairs compiled from one of Gymnasium's v5 assets, one task
  each. A task that changes the physics rewrites the model fields from a saved nominal copy
  (`set_model_scales`), so tasks never compound, then recomputes the derived constants with
  `mj_setConst`. `step` runs `mj_step` for every pair (threaded when asked: the bindings release
  the GIL) and `mj_rnePostConstraint` where contact forces are read, so `cfrc_ext` holds real
  values (openai/gym#1541: MuJoCo >= 2.0 no longer fills it by itself).
- `MujocoMetaEnv`: the single env. Its batched hooks (`observe`, `probe`, `rewards`) work on a
  `ModelBatch` of any size; `transition` chains them, and the single env and `MujocoMetaVectorEnv`
  both call it (n = 1 and n = num_envs), so the physics and the reward are written once.
- Non-finite state: MuJoCo's automatic reset on NaN/huge values is disabled, the state is checked
  after every step, and a sub-env whose state is not finite returns its last finite observation,
  reward 0 and `truncated=True` with `info["non_finite_state"] = True`.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import gymnasium
import mujoco
import numpy as np
from gymnasium import spaces

from metarl_envs.core import MetaEnv, MetaVectorEnv, Preset, Task, check_box_action, check_choice, check_int
from metarl_envs.mujoco.rendering import DEFAULT_SIZE, TaskRenderer

__all__ = ["ASSETS", "MODEL_FIELDS", "RLLAB", "ModelBatch", "MujocoMetaEnv", "MujocoMetaVectorEnv", "MujocoPreset"]

ASSETS = Path(gymnasium.__file__).resolve().parent / "envs" / "mujoco" / "assets"
"""Gymnasium's MuJoCo assets (half_cheetah.xml, ant.xml, walker2d_v5.xml, hopper.xml)"""
MODEL_FIELDS = ("body_mass", "body_inertia", "dof_damping", "geom_friction")
"""model fields a task may scale (rand_param_envs' RAND_PARAMS); everything else stays nominal"""
_MAX_VALUE = 1e10  # mjMAXVAL: MuJoCo's own bound for a "huge value" warning


_INTEGRATORS = {"Euler": mujoco.mjtIntegrator.mjINT_EULER, "RK4": mujoco.mjtIntegrator.mjINT_RK4}


@dataclasses.dataclass(frozen=True, kw_only=True)
class MujocoPreset(Preset):
    """How a preset simulates its Gymnasium asset. Every field's default keeps Gymnasium's v5 setting,
    so only a source that differs names a value."""

    frame_skip: int | None = None
    """physics steps per env step; None: the env family's Gymnasium value"""
    timestep: float | None = None
    """the model's `opt.timestep` in seconds; None: the asset's"""
    integrator: str | None = None
    """"Euler" or "RK4"; None: the asset's"""
    geom_solref: tuple[float, ...] | None = None
    geom_solimp: tuple[float, ...] | None = None
    geom_margin: float | None = None
    """contact softness (solref, solimp) and margin written on every geom; None: the asset's"""
    init_qpos: str = "qpos0"
    """the pose the start noise is added to: "qpos0" (the model's reference pose, Gymnasium's) or
    "numeric" (the asset's `init_qpos` custom numeric, which rllab read and Gymnasium ignores)"""
    start_noise: str = "gymnasium"
    """"gymnasium": the family's v5 reset noise; "rllab": qpos + 0.01·N(0, 1), qvel + 0.1·N(0, 1)"""
    torso_point: str = "xpos"
    """which point is "the torso position" in observations: "xpos" (the body frame origin, gym's
    `get_body_com`) or "com_subtree" (the centre of mass of the torso's subtree, rllab's `get_body_com`)"""
    velocity: str = "finite_difference"
    """forward velocity of the reward: "finite_difference" ((x' − x)/dt of a tracked position) or
    "subtree_com" (the torso subtree's centre-of-mass velocity after the step, rllab's `get_body_comvel`)"""
    forward_after_step: bool = False
    """run `mj_forward` after the substeps, so positions, contacts and velocities read after a step
    belong to the new state (rllab's `forward_dynamics`); Gymnasium reads them straight after `mj_step`"""

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if self.frame_skip is not None:
            check_int(owner, "frame_skip", self.frame_skip, 1)
        check_choice(owner, "integrator", self.integrator, (None, *_INTEGRATORS))
        check_choice(owner, "init_qpos", self.init_qpos, ("qpos0", "numeric"))
        check_choice(owner, "start_noise", self.start_noise, ("gymnasium", "rllab"))
        check_choice(owner, "torso_point", self.torso_point, ("xpos", "com_subtree"))
        check_choice(owner, "velocity", self.velocity, ("finite_difference", "subtree_com"))


RLLAB: dict[str, Any] = {"frame_skip": 1, "start_noise": "rllab", "torso_point": "com_subtree",
                         "velocity": "subtree_com", "forward_after_step": True}
"""The `MujocoPreset` fields shared by every rllab env of the MAML code (cbfinn/maml_rl@9c8e2eb
rllab/envs/mujoco/mujoco_env.py): one physics step per env step (no `frame_skip` numeric in its
XML files), qpos + 0.01·N(0, 1) and qvel + 0.1·N(0, 1) at reset, `get_body_com` = com_subtree,
`get_body_comvel` = the subtree COM velocity, `mj_forward` after stepping."""


def compile_asset(xml_file: str, preset: MujocoPreset) -> mujoco.MjModel:
    """Compile one of Gymnasium's assets with the model edits `preset` names, made on the parsed
    asset through `mujoco.MjSpec`. A deprecated `settotalmass` compiler attribute (half_cheetah.xml)
    is applied after compiling with `mj_setTotalmass` + `mj_setConst`, as MuJoCo's deprecation
    warning advises: the model is bit-identical, and MuJoCo does not append the warning to
    ./MUJOCO_LOG.TXT on every construction."""
    text = (ASSETS / xml_file).read_text()
    match = re.search(r'\s*settotalmass="([^"]+)"', text)
    spec = mujoco.MjSpec.from_string(text if match is None else text.replace(match.group(0), ""))
    if preset.timestep is not None:
        spec.option.timestep = preset.timestep
    if preset.integrator is not None:
        spec.option.integrator = _INTEGRATORS[preset.integrator]
    for geom in spec.geoms:
        if preset.geom_solref is not None:
            geom.solref = preset.geom_solref
        if preset.geom_solimp is not None:
            geom.solimp = preset.geom_solimp
        if preset.geom_margin is not None:
            geom.margin = preset.geom_margin
    model = spec.compile()
    if match is not None:
        mujoco.mj_setTotalmass(model, float(match.group(1)))
        mujoco.mj_setConst(model, mujoco.MjData(model))
    return model


def initial_qpos(model: mujoco.MjModel, source: str) -> np.ndarray:
    """The pose the start noise is added to (see `MujocoPreset.init_qpos`)."""
    if source == "qpos0":
        return model.qpos0.copy()
    numeric = model.numeric("init_qpos")
    if numeric.data.shape != (model.nq,):
        raise RuntimeError(f"init_qpos numeric has {numeric.data.shape[0]} values; the model has nq = {model.nq}")
    return numeric.data.copy()


class ModelBatch:
    """N model/data pairs of one XML file stepped together with `frame_skip` substeps each.
    `preset` (a `MujocoPreset`) names the model edits, the initial pose and the after-step reads."""

    def __init__(self, xml_file: str, num_envs: int, frame_skip: int, preset: MujocoPreset, *,
                 contact_forces: bool = False, num_threads: int = 1):
        nominal = compile_asset(xml_file, preset)
        # A NaN must reach our check instead of being silently reset to qpos0 by MuJoCo.
        nominal.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_AUTORESET)
        self.xml_file = xml_file
        self.nominal = nominal
        self.nominal_fields = {name: getattr(nominal, name).copy() for name in MODEL_FIELDS}
        self.models = [copy.deepcopy(nominal) for _ in range(num_envs)]
        self.datas = [mujoco.MjData(model) for model in self.models]
        self._scratch = mujoco.MjData(nominal)  # for mj_setConst, which runs forward at qpos0
        self._scaled = np.zeros(num_envs, dtype=bool)  # pairs whose model differs from nominal
        self._cache: dict[str, np.ndarray] = {}  # full-batch reads of the current state
        self._views: dict[str, list[np.ndarray]] = {}  # per-pair views onto MjData memory (see `views`)
        self._body_ids: dict[str, int] = {}
        self.num_envs = num_envs
        self.frame_skip = frame_skip
        self.contact_forces = contact_forces
        self.forward_after_step = preset.forward_after_step
        self.subtree_velocity = preset.velocity == "subtree_com"
        self.init_qpos = initial_qpos(nominal, preset.init_qpos)
        self.init_qvel = np.zeros(nominal.nv)
        self.dt = float(nominal.opt.timestep) * frame_skip
        self.num_threads = min(num_threads, num_envs)
        self._pool: ThreadPoolExecutor | None = None
        self._chunks = [range(k, num_envs, self.num_threads) for k in range(self.num_threads)]

    def body_id(self, name: str) -> int:
        body = self._body_ids.get(name)
        if body is None:
            body = self._body_ids[name] = mujoco.mj_name2id(self.nominal, mujoco.mjtObj.mjOBJ_BODY, name)
        return body

    def views(self, name: str) -> list[np.ndarray]:
        """`[data.<name> for data in datas]`, built once: the arrays are views onto each MjData's
        own buffer, which MuJoCo never reallocates, so they follow every step and reset (the
        bindings' attribute access builds a new view per call, a cost paid N times per step)."""
        views = self._views.get(name)
        if views is None:
            views = self._views[name] = [getattr(data, name) for data in self.datas]
        return views

    # ----- tasks -----------------------------------------------------------------------------
    def set_model_scales(self, i: int, scales: Mapping[str, np.ndarray] | None) -> None:
        """Model i := nominal fields × `scales` (None: nominal), then its derived constants."""
        if scales is None and not self._scaled[i]:
            return  # reward-only task on a nominal model: nothing to rewrite
        model = self.models[i]
        for name in MODEL_FIELDS:
            nominal = self.nominal_fields[name]
            factor = None if scales is None else scales.get(name)
            getattr(model, name)[:] = nominal if factor is None else nominal * factor
        mujoco.mj_setConst(model, self._scratch)
        self._scaled[i] = scales is not None

    # ----- simulation ------------------------------------------------------------------------
    def reset_index(self, i: int, qpos: np.ndarray, qvel: np.ndarray) -> None:
        self._cache.clear()
        model, data = self.models[i], self.datas[i]
        mujoco.mj_resetData(model, data)
        data.qpos[:] = qpos
        data.qvel[:] = qvel
        mujoco.mj_forward(model, data)
        self._after_state(model, data)

    def _after_state(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        """The quantities MuJoCo does not compute by itself: contact wrenches, subtree velocities."""
        if self.contact_forces:
            mujoco.mj_rnePostConstraint(model, data)
        if self.subtree_velocity:
            mujoco.mj_subtreeVel(model, data)

    def _step_rows(self, rows: Sequence[int], ctrl: np.ndarray) -> None:
        models, datas, nstep, controls = self.models, self.datas, self.frame_skip, self.views("ctrl")
        step, forward = mujoco.mj_step, self.forward_after_step
        for i in rows:
            controls[i][:] = ctrl[i]
            step(models[i], datas[i], nstep)
            if forward:
                mujoco.mj_forward(models[i], datas[i])
            self._after_state(models[i], datas[i])

    def step(self, ctrl: np.ndarray) -> None:
        """Apply ctrl[i] to pair i for `frame_skip` substeps (each pair is independent, so the
        result is bit-identical with or without threads)."""
        self._cache.clear()
        if self.num_threads <= 1:
            self._step_rows(range(self.num_envs), ctrl)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.num_threads - 1, thread_name_prefix="metarl-mujoco")
        # the calling thread steps the first slice itself: one hand-off fewer per step, and no
        # thread sits idle waiting (mj_step releases the GIL, so the slices run in parallel)
        futures = [self._pool.submit(self._step_rows, rows, ctrl) for rows in self._chunks[1:]]
        try:
            self._step_rows(self._chunks[0], ctrl)
        finally:
            for future in futures:
                future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_pool": None, "_views": {}}  # views belong to the unpickled datas

    # ----- batched reads (rows default to every pair; full reads are cached until the next change)
    def _gather(self, name: str, rows: Sequence[int] | None) -> np.ndarray:
        views = self.views(name)
        if rows is not None:
            return np.array([views[i] for i in rows])
        cached = self._cache.get(name)
        if cached is None:
            cached = self._cache[name] = np.array(views)
        return cached

    def qpos(self, rows: Sequence[int] | None = None) -> np.ndarray:
        return self._gather("qpos", rows)

    def qvel(self, rows: Sequence[int] | None = None) -> np.ndarray:
        return self._gather("qvel", rows)

    def xpos(self, body: int, rows: Sequence[int] | None = None) -> np.ndarray:
        return self._gather("xpos", None)[:, body] if rows is None else \
            np.array([self.views("xpos")[i][body] for i in rows])

    def com_subtree(self, body: int, rows: Sequence[int] | None = None) -> np.ndarray:
        """(n, 3) centre of mass of `body`'s subtree (rllab's `get_body_com`)."""
        views = self.views("subtree_com")
        return np.array([views[i][body] for i in self._rows(rows)])

    def subtree_linvel(self, body: int, rows: Sequence[int] | None = None) -> np.ndarray:
        """(n, 3) linear velocity of `body`'s subtree centre of mass (rllab's `get_body_comvel`;
        filled by `mj_subtreeVel` after every step when the preset asks for it)."""
        views = self.views("subtree_linvel")
        return np.array([views[i][body] for i in self._rows(rows)])

    def torso_point(self, kind: str, rows: Sequence[int] | None = None) -> np.ndarray:
        """(n, 3) "the torso position" of `MujocoPreset.torso_point`."""
        torso = self.body_id("torso")
        return self.xpos(torso, rows) if kind == "xpos" else self.com_subtree(torso, rows)

    def xmat(self, body: int, rows: Sequence[int] | None = None) -> np.ndarray:
        views = self.views("xmat")
        return np.array([views[i][body] for i in self._rows(rows)])

    def cfrc_ext(self, rows: Sequence[int] | None = None) -> np.ndarray:
        """(n, nbody, 6) external contact wrenches per body (computed by mj_rnePostConstraint)."""
        return self._gather("cfrc_ext", rows)

    def _rows(self, rows: Sequence[int] | None) -> Sequence[int]:
        return range(self.num_envs) if rows is None else rows

    def finite(self, rows: Sequence[int] | None = None) -> np.ndarray:
        # |x| < mjMAXVAL is False for NaN and ±inf too, so it alone is the finiteness check
        return (np.abs(self.qpos(rows)) < _MAX_VALUE).all(axis=1) & \
            (np.abs(self.qvel(rows)) < _MAX_VALUE).all(axis=1)


class MujocoMetaEnv(MetaEnv):
    """Single MuJoCo meta-env over a one-pair `ModelBatch`. Subclasses set the class variables
    and implement the batched hooks `observe`, `probe`, `rewards` and `task_arrays` (plus
    `model_scales` when the task changes the physics)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["human", "rgb_array"]}
    xml_file: ClassVar[str]
    frame_skip: ClassVar[int]
    """Gymnasium's frame skip for the family (a preset may set its own)"""
    contact_forces: ClassVar[bool] = False
    reset_noise_scale: ClassVar[float]
    reset_qvel_noise: ClassVar[str] = "normal"
    """"normal": qvel += scale·N(0,1) (gym HalfCheetah/Ant); "uniform": qvel += U[-scale, scale]
    (gym Walker2d/Hopper, rand_param_envs)"""

    def __init__(self, preset: str, task: Task | Mapping[str, Any] | None = None, horizon: int | None = None,
                 render_mode: str | None = None, width: int = DEFAULT_SIZE, height: int = DEFAULT_SIZE,
                 camera_id: int | None = None, camera_name: str | None = None):
        if not isinstance(preset, str) or preset not in self.presets:
            raise ValueError(f"{type(self).__name__}: unknown preset {preset!r}; choose from {list(self.presets)}")
        self.preset = self.presets[preset]
        self._sim = self.make_batch(1)
        low, high = self._sim.nominal.actuator_ctrlrange.T.astype(np.float32)
        self.action_space = spaces.Box(low, high, dtype=np.float32)
        self.action_scale = 0.5 * (high.astype(np.float64) - low)
        dim = self.observe(self._sim).shape[1]
        self.observation_space = spaces.Box(-np.inf, np.inf, (dim,), np.float64)
        self._last_obs = np.zeros((1, dim))
        self._init_meta(preset, task, horizon)
        self._init_rendering(render_mode, width, height, camera_id, camera_name)

    def make_batch(self, num_envs: int, num_threads: int = 1) -> ModelBatch:
        frame_skip = self.preset.frame_skip if self.preset.frame_skip is not None else self.frame_skip
        return ModelBatch(self.xml_file, num_envs, frame_skip, self.preset, contact_forces=self.contact_forces,
                          num_threads=num_threads)

    @property
    def dt(self) -> float:
        return self._sim.dt

    @property
    def model(self) -> mujoco.MjModel:
        return self._sim.models[0]

    @property
    def data(self) -> mujoco.MjData:
        return self._sim.datas[0]

    # ----- hooks (batched over a ModelBatch) -------------------------------------------------
    def observe(self, sim: ModelBatch, rows: Sequence[int] | None = None) -> np.ndarray:
        raise NotImplementedError

    def probe(self, sim: ModelBatch) -> np.ndarray:
        """(n, k) positions read before and after the step (the finite-difference velocity)."""
        raise NotImplementedError

    def rewards(self, before: np.ndarray, after: np.ndarray, sim: ModelBatch, actions: np.ndarray,
                params: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(reward, terminated, named reward terms) for every pair."""
        raise NotImplementedError

    def task_arrays(self, tasks: Sequence[Task]) -> dict[str, np.ndarray]:
        """The tasks' reward parameters as arrays of shape (n, …)."""
        raise NotImplementedError

    def model_scales(self, task: Task) -> dict[str, np.ndarray] | None:
        """Multipliers of the nominal `MODEL_FIELDS` for `task` (None: the task leaves the model nominal)."""
        return None

    # ----- shared transition -----------------------------------------------------------------
    def initial_state(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Starting (qpos, qvel): the initial pose plus noise drawn from `rng` (qpos first, then
        qvel), as Gymnasium's v5 envs draw it or, for `start_noise="rllab"`, as rllab's
        `MujocoEnv.reset_mujoco` did."""
        scale, sim = self.reset_noise_scale, self._sim
        if self.preset.start_noise == "rllab":
            qpos = sim.init_qpos + 0.01 * rng.standard_normal(sim.nominal.nq)
            return qpos, sim.init_qvel + 0.1 * rng.standard_normal(sim.nominal.nv)
        qpos = sim.init_qpos + rng.uniform(-scale, scale, size=sim.nominal.nq)
        if self.reset_qvel_noise == "normal":
            qvel = sim.init_qvel + scale * rng.standard_normal(sim.nominal.nv)
        else:
            qvel = sim.init_qvel + rng.uniform(-scale, scale, size=sim.nominal.nv)
        return qpos, qvel

    def transition(self, sim: ModelBatch, actions: np.ndarray, params: Mapping[str, np.ndarray],
                   last_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Step every pair of `sim`; returns (obs, reward, terminated, info arrays). Pairs whose
        state became non-finite keep `last_obs`, get reward 0 and are flagged in the info."""
        before = self.probe(sim)
        sim.step(actions)
        finite = sim.finite()
        after = self.probe(sim)
        obs = self.observe(sim)
        reward, terminated, info = self.rewards(before, after, sim, actions, params)
        if not finite.all():
            obs = np.where(finite[:, None], obs, last_obs)
            reward = np.where(finite, reward, 0.0)
            terminated = terminated & finite
            info = {key: np.where(finite, value, 0.0) for key, value in info.items()}
        info["non_finite_state"] = ~finite
        return obs, reward, terminated, info

    # ----- Gymnasium API ---------------------------------------------------------------------
    def _on_task_change(self) -> None:
        self._sim.set_model_scales(0, self.model_scales(self._task))
        self._params = self.task_arrays([self._task])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed, options=options)
        self._sim.reset_index(0, *self.initial_state(self.np_random))
        self._last_obs = self.observe(self._sim)
        return self._last_obs[0].copy(), {}

    def step(self, action: Any):
        self._require_reset()
        action = check_box_action(f"{type(self).__name__}.step", action, self.action_space)
        obs, reward, terminated, info = self.transition(self._sim, action[None], self._params, self._last_obs)
        self._last_obs = obs
        bad = bool(info["non_finite_state"][0])
        truncated = self._advance_clock(bool(terminated[0])) or bad
        step_info = {key: (bool(value[0]) if value.dtype == bool else float(value[0])) for key, value in info.items()}
        return obs[0].copy(), float(reward[0]), bool(terminated[0]), truncated, step_info

    def close(self) -> None:
        self._sim.close()
        self._renderer.close()

    # ----- rendering (metarl_envs.mujoco.rendering) --------------------------------------------
    def _init_rendering(self, render_mode: str | None, width: int, height: int, camera_id: int | None,
                        camera_name: str | None) -> None:
        self._renderer = TaskRenderer(self, render_mode, width, height, camera_id, camera_name)
        self.render_mode = self._renderer.render_mode
        self.metadata = {**type(self).metadata, "render_fps": int(np.round(1.0 / self.dt))}

    def render(self) -> np.ndarray | None:
        """The frame of Gymnasium's MuJoCo renderer with the task drawn in (`rendering.py`)."""
        return self._renderer.render()


class MujocoMetaVectorEnv(MetaVectorEnv):
    """Native vector env: N model/data pairs, one task each, stepped by the single env's
    `transition` with n = num_envs. `num_threads` > 1 steps disjoint slices of the pairs in a
    thread pool (the result is bit-identical to one thread)."""

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = None,
                 tasks: Sequence[Task] | None = None, num_threads: int = 1, **env_kwargs: Any):
        self.num_threads = check_int(type(self).__name__, "num_threads", num_threads, 1)
        super().__init__(num_envs, max_episode_steps, tasks, **env_kwargs)

    def _allocate_state(self) -> None:
        self._sim = self._template.make_batch(self.num_envs, self.num_threads)
        self._obs = np.zeros((self.num_envs, *self.single_observation_space.shape))

    def _on_tasks_change(self) -> None:
        for i, task in enumerate(self.tasks):
            self._sim.set_model_scales(i, self._template.model_scales(task))
        self._params = self._template.task_arrays(self.tasks)

    def _reset_index(self, i: int, rng: np.random.Generator) -> None:
        self._sim.reset_index(i, *self._template.initial_state(rng))
        self._obs[i] = self._template.observe(self._sim, [i])[0]

    def _step_batch(self, actions: np.ndarray):
        self._obs, reward, terminated, info = self._template.transition(self._sim, actions, self._params, self._obs)
        return reward, terminated, info

    def _observations(self) -> np.ndarray:
        return self._obs.copy()

    def step(self, actions: Any):
        obs, reward, terminated, truncated, info = super().step(actions)
        # a non-finite state ends the episode by truncation, as in the single env
        bad = info["non_finite_state"] & info["_non_finite_state"]
        truncated = truncated | (bad & ~terminated)
        self._needs_reset = self._needs_reset | truncated
        return obs, reward, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        self._sim.close()
        self._template.close()
