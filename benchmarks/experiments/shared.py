"""Agent configs that several experiments share, written once (this module defines no experiment)."""

from __future__ import annotations

from typing import Any

from benchmarks.experiments import AgentSpec

__all__ = ["sgmrl_released", "sgmrl_vs_maml"]


def sgmrl_released(tasks_per_iteration: int, action_scale: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """(SG-MRL, MAML) configs of the released SG-MRL code, which runs both algorithms with one config
    file (docs/sources/sgmrl.md §3): 20 trajectories per task, 100×100 tanh, α 0.1, GAE λ 0.997, Adam
    1e-3, surrogates as means over every sample of a task's batch; SG-MRL in its practical mode.
    `tasks_per_iteration` is 20 (2-D navigation) or 40 (MuJoCo); `action_scale` maps the policy's
    [−10, 10] normalised actions onto the env's box (docs/sources/sgmrl.md §2.1, §2.2)."""
    shared = {"hidden_sizes": [100, 100], "tasks_per_iteration": tasks_per_iteration, "episodes_per_task": 20,
              "inner_lr": 0.1, "action_scale": action_scale}
    maml = {**shared, "gae_lambda": 0.997, "outer_optimizer": "adam", "outer_lr": 1e-3, "reduction": "step_mean"}
    return {**shared, "mode": "practical"}, maml


def sgmrl_vs_maml(tasks_per_iteration: int, action_scale: float, inner_steps: tuple[int, ...] = (1, 2, 3)
                  ) -> tuple[AgentSpec, ...]:
    """SG-MRL Table 2's grid: "SG-MRL (ζ step)" and "MAML (ζ step)" for each ζ, each trained and tested
    with its own number of inner steps."""
    sgmrl, maml = sgmrl_released(tasks_per_iteration, action_scale)
    return tuple(AgentSpec(f"{label} ({steps} step)", agent, {**config, "inner_steps": steps})
                 for steps in inner_steps
                 for label, agent, config in (("SG-MRL", "baselines.sgmrl:SGMRL", sgmrl),
                                              ("MAML", "baselines.maml:MAML", maml)))
