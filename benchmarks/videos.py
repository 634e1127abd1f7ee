"""Videos of a stored meta-policy before and after adaptation (`metarl-bench report --videos`).

For one results file: the agent is rebuilt from the record (class and config), its stored
meta-trained parameters are loaded (`benchmarks.results.load_parameters`, checked against their
sha256) with `set_parameters`, and the evaluator (`benchmarks.evaluate.meta_test`) meta-tests it on
the first test task with the record's protocol and seed, adapting exactly as it did for the result.
When R_0 is scored (the meta-policy) and when R_K is scored (after K adaptation rounds) one more
episode is played on a single env with `render_mode="rgb_array"` under
`gymnasium.wrappers.RecordVideo` (moviepy writes the mp4), the agent acting through the protocol's
`begin_episodes("evaluate")` / `actions` / `observe`. Evaluation episodes leave no trace in the agent,
so the recording changes nothing the evaluator scores. MuJoCo envs render headless through EGL
(`MUJOCO_GL=egl` unless set). Needs the `video` extra (moviepy).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Video", "record_before_after"]


@dataclasses.dataclass(frozen=True)
class Video:
    before: Path
    """the meta-policy's episode (k = 0)"""
    after: Path
    """the episode after K adaptation rounds"""
    returns: tuple[float, float]
    """the recorded episodes' returns (before, after)"""
    rounds: int
    """K"""


def _episode(agent: Any, env_id: str, env_kwargs: dict[str, Any], task: Any, path: Path, seed: int) -> float:
    """One rendered evaluation episode of `agent`'s current policy on `task`, written to `path` (mp4)."""
    import gymnasium as gym
    from gymnasium.wrappers import RecordVideo

    from baselines.common.sampler import Transition

    with tempfile.TemporaryDirectory() as folder:
        env = RecordVideo(gym.make(env_id, render_mode="rgb_array", **env_kwargs), str(Path(folder) / "video"),
                          name_prefix="episode",
                          episode_trigger=lambda _: True, disable_logger=True)
        rng = np.random.default_rng(seed)
        env.unwrapped.set_task(task)
        obs, _ = env.reset(seed=int(rng.integers(2**31 - 1)))
        agent.begin_episodes("evaluate", rng)
        total, done = 0.0, False
        box = isinstance(env.action_space, gym.spaces.Box)
        while not done:
            obs = np.asarray(obs, dtype=np.float32)
            raw = np.asarray(agent.actions(obs[None, None]))[0, 0]
            action = np.clip(raw, env.action_space.low, env.action_space.high) if box else raw
            next_obs, reward, terminated, truncated, _ = env.step(action.astype(env.action_space.dtype))
            done = bool(terminated or truncated)
            agent.observe(Transition(obs[None, None], raw[None, None], np.array([[reward]], dtype=float),
                                     np.array([[terminated]]), np.array([[truncated]]),
                                     np.asarray(next_obs, dtype=np.float32)[None, None], np.array([[True]])))
            total += float(reward)
            obs = next_obs
        env.close()
        written = sorted((Path(folder) / "video").glob("*.mp4"))
        if not written:
            raise RuntimeError(f"record_before_after: RecordVideo wrote no mp4 for {env_id}")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(written[0], path)
    return total


def record_before_after(result_path: str | Path, out_stem: str | Path, *, task_index: int = 0) -> Video:
    """Write `<out_stem>__before.mp4` and `<out_stem>__after.mp4` for the stored result at `result_path`."""
    os.environ.setdefault("MUJOCO_GL", "egl")
    import metarl_envs
    from benchmarks.evaluate import meta_test
    from benchmarks.experiments import AgentSpec
    from benchmarks.results import load_parameters, load_result
    from benchmarks.verify import torch_threads

    record = load_result(result_path)
    state = load_parameters(result_path, record)  # ResultError when absent or altered
    spec = AgentSpec(record.agent.label, record.agent.agent_class, dict(record.agent.config))
    agent = spec.build(record.env.id, dict(record.env.kwargs))
    if not hasattr(agent, "set_parameters"):
        raise TypeError(f"record_before_after: {record.agent.agent_class} has no set_parameters")
    agent.set_parameters(state)
    test = metarl_envs.task_set(record.env.id, "test", record.env.preset)
    if not 0 <= task_index < len(test):
        raise ValueError(f"record_before_after: task_index={task_index} outside the {len(test)}-task test set")
    task, rounds = test[task_index], record.protocol.adaptation_steps
    stem = Path(out_stem)
    paths = {0: Path(f"{stem}__before.mp4"), rounds: Path(f"{stem}__after.mp4")}
    returns: dict[int, float] = {}

    def on_scored(k: int) -> None:  # the evaluator scored R_k; adaptation round k + 1 has not started
        if k in paths and k not in returns:
            returns[k] = _episode(agent, record.env.id, dict(record.env.kwargs), task, paths[k], record.seed + k)

    # the recorded torch thread count, as verify uses: a HalfCheetah episode's return follows the last
    # bits of the policy's reductions, which change with the number of threads
    with torch_threads(record.machine.torch_threads):
        meta_test(agent, [task], record.protocol, seed=record.seed, progress=on_scored)
    if rounds == 0:
        paths[0].with_name(paths[0].name.replace("__before", "__after")).write_bytes(paths[0].read_bytes())
    return Video(Path(f"{stem}__before.mp4"), Path(f"{stem}__after.mp4"),
                 (returns[0], returns[rounds]), rounds)
