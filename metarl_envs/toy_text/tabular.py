"""Shared pieces of the tabular envs (GridNavigation, FrozenLakeHoles): the exact model, the one
batched step, the single-env and vector-env plumbing, and a numpy grid renderer.

A task's dynamics are stored once, as *branch tables*: from state s under action a, branch k is
taken with probability `branch_prob[s, a, k]`, leads to `branch_next[s, a, k]` and pays
`R[s, a, branch_next[s, a, k]]`. A step of a stochastic model draws one uniform u from the env's
generator and takes the first branch whose cumulative probability exceeds u, which is Gymnasium's
`categorical_sample` rule (`gymnasium/envs/toy_text/utils.py`): a slippery FrozenLake task steps
exactly like Gymnasium's `FrozenLakeEnv` on the same map and seed. A deterministic model draws
nothing. The start state is drawn the same way from μ (one uniform per reset).

The exact model of a task is derived from the same tables, as the one `TabularModel` type that the
envs, the oracles, the agents and the evaluator share: `transition_matrix` P[s, a, s'] (float64,
rows sum to 1, terminal states absorbing), `reward_matrix` R[s, a, s'] (float64, the reward the
transition s → s' under a pays; zero from terminal states), `initial_distribution` μ[s],
`terminal_mask` bool[s] and `state_mask` bool[s] (the states that belong to the task; the others are
unreachable self-loops), and what the solvers read off them: `expected_reward` r[s, a] and
`live_transition` (P with terminal rows zeroed). All are read-only numpy arrays; `tensors` is the
same model as float64 torch tensors, for differentiable evaluation.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any, ClassVar, NamedTuple

import numpy as np

from metarl_envs.core import MetaEnv, MetaVectorEnv, Task, check_discrete_action
from metarl_envs.rendering import present

__all__ = ["ModelTensors", "TabularEnv", "TabularModel", "TabularVectorEnv", "build_model", "initial_state",
           "render_cells", "tabular_step"]


class ModelTensors(NamedTuple):
    """A `TabularModel` as float64 torch tensors (its `tensors`): what differentiable evaluation reads."""

    transition: Any
    """live P[s, a, s'] (S, A, S): terminal rows zero, so value stops flowing once an episode has ended"""
    reward: Any
    """expected reward r[s, a] (S, A), zero from terminal states"""
    initial: Any
    """μ[s] (S,)"""


@dataclasses.dataclass(frozen=True, eq=False)
class TabularModel:
    """The exact model of one task (every array read-only)."""

    transition_matrix: np.ndarray
    """P[s, a, s'] float64 (S, A, S); rows sum to one; terminal states are absorbing"""
    reward_matrix: np.ndarray
    """R[s, a, s'] float64 (S, A, S); zero in the rows of terminal and unreachable states"""
    initial_distribution: np.ndarray
    """μ[s] float64 (S,)"""
    terminal_mask: np.ndarray
    """bool (S,): entering such a state ends the episode"""
    state_mask: np.ndarray
    """bool (S,): the state belongs to the task (cells outside a smaller grid do not)"""
    branch_next: np.ndarray
    """int64 (S, A, K): next state of branch k"""
    branch_cum_prob: np.ndarray
    """float64 (S, A, K): cumulative branch probabilities (last entry exactly 1)"""
    branch_reward: np.ndarray
    """float64 (S, A, K): reward of branch k"""
    initial_cdf: np.ndarray
    """float64 (S,): cumulative μ, exactly 1 from the last state with μ > 0 on"""
    stochastic: bool
    """some branch has a probability strictly between 0 and 1 (steps then draw a uniform)"""

    @property
    def n_states(self) -> int:
        return int(self.transition_matrix.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.transition_matrix.shape[1])

    @classmethod
    def from_matrices(cls, transition_matrix: np.ndarray, reward_matrix: np.ndarray, initial_distribution: np.ndarray,
                      terminal_mask: np.ndarray, state_mask: np.ndarray | None = None) -> TabularModel:
        """The model of a dense P[s, a, s'], R[s, a, s'], μ[s] and terminal mask (a model written by
        hand rather than by an env): one branch per next state. A terminal state's row of P is
        replaced by its self-loop (terminal states are absorbing); raises `ValueError` on shapes or
        probabilities that do not fit."""
        transition = np.array(transition_matrix, dtype=np.float64)
        terminal = np.asarray(terminal_mask, dtype=bool)
        if transition.ndim != 3 or transition.shape[0] != transition.shape[2]:
            raise ValueError(f"TabularModel.transition_matrix: shape {transition.shape} must be (S, A, S)")
        n_states = transition.shape[0]
        if np.shape(reward_matrix) != transition.shape:
            raise ValueError(f"TabularModel.reward_matrix: shape {np.shape(reward_matrix)} must be {transition.shape}")
        if np.shape(initial_distribution) != (n_states,) or terminal.shape != (n_states,):
            raise ValueError(f"TabularModel: initial_distribution and terminal_mask must have shape ({n_states},)")
        branch_next = np.broadcast_to(np.arange(n_states), transition.shape).copy()
        branch_next[terminal] = np.flatnonzero(terminal)[:, None, None]
        transition[terminal] = 0.0
        transition[terminal, :, 0] = 1.0  # a terminal state's one certain branch: itself
        return build_model(branch_next, transition, np.asarray(reward_matrix, dtype=np.float64), terminal,
                           np.asarray(initial_distribution, dtype=np.float64), state_mask)

    @functools.cached_property
    def expected_reward(self) -> np.ndarray:
        """r[s, a] = Σ_s' P[s, a, s'] R[s, a, s'], zero from terminal states (computed once, read-only)."""
        r = np.einsum("ijk,ijk->ij", self.transition_matrix, self.reward_matrix)
        return _frozen(np.where(self.terminal_mask[:, None], 0.0, r))

    @functools.cached_property
    def live_transition(self) -> np.ndarray:
        """P with terminal rows zeroed: value stops flowing once the episode has ended (computed once, read-only)."""
        return _frozen(np.where(self.terminal_mask[:, None, None], 0.0, self.transition_matrix))

    @functools.cached_property
    def tensors(self) -> ModelTensors:
        """This model as float64 torch tensors (live P, r, μ), built on first use (torch is imported
        then; the envs themselves never need it). Copies: the tensors must not be written."""
        import torch

        return ModelTensors(torch.tensor(self.live_transition, dtype=torch.float64),
                            torch.tensor(self.expected_reward, dtype=torch.float64),
                            torch.tensor(self.initial_distribution, dtype=torch.float64))


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


def build_model(branch_next: np.ndarray, branch_prob: np.ndarray, reward_matrix: np.ndarray,
                terminal_mask: np.ndarray, initial_distribution: np.ndarray,
                state_mask: np.ndarray | None = None) -> TabularModel:
    """Assemble a `TabularModel` from branch tables (S, A, K), R (S, A, S), terminal mask and μ;
    raises `ValueError` if the pieces are inconsistent (a bug in the calling env, never user input)."""
    branch_next = np.asarray(branch_next, dtype=np.int64)
    branch_prob = np.asarray(branch_prob, dtype=np.float64)
    n_states, n_actions, _ = branch_next.shape
    states = np.arange(n_states)
    if branch_prob.shape != branch_next.shape or reward_matrix.shape != (n_states, n_actions, n_states):
        raise ValueError("build_model: branch tables must be (S, A, K) and the reward matrix (S, A, S)")
    if np.any(branch_prob < 0) or not np.allclose(branch_prob.sum(axis=2), 1.0):
        raise ValueError("build_model: branch probabilities must be nonnegative and sum to one")
    if np.any(branch_next[terminal_mask] != states[terminal_mask, None, None]):
        raise ValueError("build_model: terminal states must be absorbing")
    if not np.isclose(initial_distribution.sum(), 1.0) or np.any(initial_distribution < 0):
        raise ValueError("build_model: the initial distribution must be a probability vector")
    transition = np.zeros((n_states, n_actions, n_states))
    s_index, a_index, _ = np.indices(branch_next.shape)
    np.add.at(transition, (s_index, a_index, branch_next), branch_prob)
    reward = np.where(terminal_mask[:, None, None], 0.0, reward_matrix)
    cum_prob = np.cumsum(branch_prob, axis=2)
    cum_prob[..., -1] = 1.0  # guard against round-off: the last branch always catches u < 1
    initial_cdf = np.cumsum(initial_distribution)
    initial_cdf[np.flatnonzero(initial_distribution > 0)[-1]:] = 1.0
    return TabularModel(
        transition_matrix=_frozen(transition), reward_matrix=_frozen(reward),
        initial_distribution=_frozen(np.asarray(initial_distribution, dtype=np.float64)),
        terminal_mask=_frozen(np.asarray(terminal_mask, dtype=bool)),
        state_mask=_frozen(np.ones(n_states, bool) if state_mask is None else np.asarray(state_mask, bool)),
        branch_next=_frozen(branch_next), branch_cum_prob=_frozen(cum_prob),
        branch_reward=_frozen(np.take_along_axis(reward, branch_next, axis=2)),
        initial_cdf=_frozen(initial_cdf),
        stochastic=bool(np.any((branch_prob > 0) & (branch_prob < 1))),
    )


def initial_state(initial_cdf: np.ndarray, uniform: float) -> int:
    """The start state that the uniform draw `uniform` picks from μ (Gymnasium's `categorical_sample`)."""
    return int(np.argmax(initial_cdf > uniform))


def tabular_step(state: np.ndarray, action: np.ndarray, uniform: np.ndarray | None, model_index: np.ndarray,
                 branch_next: np.ndarray, branch_cum_prob: np.ndarray, branch_reward: np.ndarray,
                 terminal_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The batched step of every tabular env: (n,) states, actions, uniforms (None when no model is
    stochastic) and indices into stacked tables (M, S, A, K); returns (state', reward, terminated)."""
    if uniform is None:
        branch = np.zeros(state.shape, dtype=np.int64)
    else:
        branch = np.argmax(branch_cum_prob[model_index, state, action] > uniform[:, None], axis=1)
    next_state = branch_next[model_index, state, action, branch]
    reward = branch_reward[model_index, state, action, branch]
    return next_state, reward, terminal_mask[model_index, next_state]


class TabularEnv(MetaEnv):
    """Single-env plumbing shared by the tabular envs. Subclasses implement `task_model(task)`,
    `observe_states(states)` and `_render_image()`."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array", "human"], "render_fps": 4}

    def task_model(self, task: Task) -> TabularModel:
        """The exact model of a (validated) `task` under this env's preset and options, whatever task
        is active: a pure function of them (the envs cache the immutable result per task)."""
        raise NotImplementedError

    def observe_states(self, states: np.ndarray) -> np.ndarray:
        """The observations of an array of state indices (batched, a fresh array)."""
        raise NotImplementedError

    def _on_task_change(self) -> None:
        # The state index is kept: a task change mid-episode continues from the same cell (reset for
        # a clean episode), as the other envs keep their physical state.
        self._model = self.task_model(self._task)
        if not hasattr(self, "_state"):
            self._state: int | None = None

    # ----- the exact model of the active task -----------------------------------------------
    @property
    def model(self) -> TabularModel:
        return self._model

    @property
    def transition_matrix(self) -> np.ndarray:
        return self._model.transition_matrix

    @property
    def reward_matrix(self) -> np.ndarray:
        return self._model.reward_matrix

    @property
    def initial_distribution(self) -> np.ndarray:
        return self._model.initial_distribution

    @property
    def terminal_mask(self) -> np.ndarray:
        return self._model.terminal_mask

    def state_observations(self) -> np.ndarray:
        """The observation of every state index, in index order (what a policy over observations
        is evaluated on to score it exactly on the model)."""
        return self.observe_states(np.arange(self._model.transition_matrix.shape[0]))

    @property
    def state_mask(self) -> np.ndarray:
        return self._model.state_mask

    @property
    def state(self) -> int | None:
        """The integer state index (None before the first reset)."""
        return self._state

    # ----- Gymnasium API ---------------------------------------------------------------------
    def _single_observation(self, state: int) -> Any:
        obs = self.observe_states(np.array([state]))[0]
        return int(obs) if obs.ndim == 0 else obs

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed, options=options)
        self._state = initial_state(self._model.initial_cdf, self.np_random.random())
        return self._single_observation(self._state), {"state": self._state}

    def step(self, action: Any):
        self._require_reset()
        action = check_discrete_action(f"{type(self).__name__}.step", action, int(self.action_space.n))
        model = self._model
        uniform = np.array([self.np_random.random()]) if model.stochastic else None
        next_state, reward, terminated = tabular_step(
            np.array([self._state]), action[None], uniform, np.zeros(1, dtype=np.int64),
            model.branch_next[None], model.branch_cum_prob[None], model.branch_reward[None],
            model.terminal_mask[None])
        self._state = int(next_state[0])
        truncated = self._advance_clock(bool(terminated[0]))
        return (self._single_observation(self._state), float(reward[0]), bool(terminated[0]), truncated,
                {"state": self._state})

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            return None
        return present(self, self._render_image())

    def _render_image(self) -> np.ndarray:
        raise NotImplementedError


class TabularVectorEnv(MetaVectorEnv):
    """Native vector env of a `TabularEnv`: the per-task branch tables are stacked once per
    `set_tasks` (one copy per distinct task) and every step is one `tabular_step` call.

    Start and slip draws are exactly the single env's: the k-th uniform a sub-env uses is the k-th
    `random()` of its own generator. For speed they are drawn ahead in blocks (`rng.random(B)`
    yields the same values, in order, as B scalar calls); a block is discarded when `reset(seed=...)`
    replaces the sub-env's generator, and nothing else draws from these generators."""

    single_env_cls: ClassVar[type[TabularEnv]]
    uniform_block: ClassVar[int] = 64

    def _allocate_state(self) -> None:
        self._state = np.zeros(self.num_envs, dtype=np.int64)
        self._uniform_buffer = np.zeros((self.num_envs, self.uniform_block))
        self._uniform_position = np.full(self.num_envs, self.uniform_block)
        self._buffer_owner: list[np.random.Generator | None] = [None] * self.num_envs

    def _refill(self, i: int) -> None:
        self._uniform_buffer[i] = self._rngs[i].random(self.uniform_block)
        self._uniform_position[i] = 0
        self._buffer_owner[i] = self._rngs[i]

    def _next_uniforms(self, envs: np.ndarray) -> np.ndarray:
        """The next uniform of each sub-env in `envs` (distinct indices)."""
        for i in envs[self._uniform_position[envs] >= self.uniform_block]:
            self._refill(int(i))
        values = self._uniform_buffer[envs, self._uniform_position[envs]]
        self._uniform_position[envs] += 1
        return values

    def _on_tasks_change(self) -> None:
        distinct: dict[Task, int] = {}
        self._model_index = np.array([distinct.setdefault(t, len(distinct)) for t in self.tasks], dtype=np.int64)
        models = [self._template.task_model(t) for t in distinct]
        self._branch_next = np.stack([m.branch_next for m in models])
        self._branch_cum_prob = np.stack([m.branch_cum_prob for m in models])
        self._branch_reward = np.stack([m.branch_reward for m in models])
        self._terminal_mask = np.stack([m.terminal_mask for m in models])
        self._initial_cdf = np.stack([m.initial_cdf for m in models])
        self._stochastic = np.array([models[i].stochastic for i in self._model_index])

    def _reset_index(self, i: int, rng: np.random.Generator) -> None:
        position = int(self._uniform_position[i])
        if self._buffer_owner[i] is not rng or position >= self.uniform_block:
            self._refill(i)
            position = 0
        self._uniform_position[i] = position + 1
        self._state[i] = initial_state(self._initial_cdf[self._model_index[i]], self._uniform_buffer[i, position])

    def _reset_indices(self, indices: np.ndarray) -> None:
        """Batched resets: one uniform per sub-env from its own stream, then one vectorised lookup."""
        if len(indices) == 0:
            return
        for i in indices:
            if self._buffer_owner[i] is not self._rngs[i]:
                self._refill(int(i))
        uniform = self._next_uniforms(indices)
        cdf = self._initial_cdf[self._model_index[indices]]
        self._state[indices] = np.argmax(cdf > uniform[:, None], axis=1)

    def _step_batch(self, actions: np.ndarray):
        # Sub-envs restarting this step must not draw: their next uniform belongs to the reset.
        drawing = np.flatnonzero(self._stochastic & ~self._needs_reset)
        uniform = None
        if len(drawing):
            uniform = np.zeros(self.num_envs)
            uniform[drawing] = self._next_uniforms(drawing)
        self._state, reward, terminated = tabular_step(
            self._state, actions, uniform, self._model_index, self._branch_next, self._branch_cum_prob,
            self._branch_reward, self._terminal_mask)
        return reward, terminated, {}

    def _observations(self) -> np.ndarray:
        return self._template.observe_states(self._state)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        obs, info = super().reset(seed=seed, options=options)
        for i in range(self.num_envs):  # sub-envs reseeded but not reset (reset_mask) drop their block
            if self._buffer_owner[i] is not self._rngs[i]:
                self._uniform_position[i] = self.uniform_block
        return obs, {**info, "state": self._state.copy(), "_state": np.ones(self.num_envs, dtype=bool)}

    def step(self, actions: Any):
        # info["state"] is read after the autoreset, as SyncVectorEnv reports a restarted sub-env's reset info
        obs, reward, terminated, truncated, info = super().step(actions)
        info = {**info, "state": self._state.copy(), "_state": np.ones(self.num_envs, dtype=bool)}
        return obs, reward, terminated, truncated, info


def render_cells(colors: np.ndarray, cell_px: int | None = None,
                 markers: Sequence[tuple[int, int, tuple]] = ()) -> np.ndarray:
    """An RGB image (uint8) of a grid of cell colours (rows, cols, 3), one-pixel grey grid lines,
    and round markers (row, col, rgb) drawn in the given cells. Cells are `cell_px` pixels wide
    (default: the grid fills about 480 pixels, at least 32 per cell)."""
    colors = np.asarray(colors, dtype=np.uint8)
    if cell_px is None:
        cell_px = max(32, 480 // max(colors.shape[:2]))
    image = np.repeat(np.repeat(colors, cell_px, axis=0), cell_px, axis=1)
    image[::cell_px, :] = (128, 128, 128)
    image[:, ::cell_px] = (128, 128, 128)
    ys, xs = np.mgrid[0:cell_px, 0:cell_px]
    disc = (ys - cell_px / 2 + 0.5) ** 2 + (xs - cell_px / 2 + 0.5) ** 2 <= (cell_px * 0.3) ** 2
    for row, col, rgb in markers:
        patch = image[row * cell_px:(row + 1) * cell_px, col * cell_px:(col + 1) * cell_px]
        patch[disc] = rgb
    return image
