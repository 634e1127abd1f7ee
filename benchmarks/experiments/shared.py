"""Agent configs that several experiments share, written once (this module defines no experiment)."""

from __future__ import annotations

from typing import Any

from benchmarks.evaluate import MetaTestProtocol
from benchmarks.experiments import AgentSpec, Experiment, Target

__all__ = ["MAML_NAV2D", "NAV2D_PROTOCOL", "bomrl_cheetah", "sgmrl_cheetah", "sgmrl_released", "sgmrl_vs_maml"]

MAML_NAV2D: dict[str, Any] = {"hidden_sizes": [100, 100], "activation": "relu", "action_scale": 0.1, "inner_lr": 0.5,
                              "tasks_per_iteration": 20, "episodes_per_task": 20,
                              "adaptation_lrs": [0.5, 0.25], "adaptation_reduction": "step_mean"}
"""MAML on 2-D navigation as the original code trained and tested it (maml-nav2d's card gives the sources)"""

NAV2D_PROTOCOL = MetaTestProtocol(adaptation_steps=3, evaluation_episodes=20, adaptation_episodes=40)
"""MAML's 2-D navigation meta-test: 3 adaptation rounds of 40 episodes, 20 evaluation episodes per R_k"""


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


def sgmrl_cheetah(name: str, task: str, env_id: str,
                  paper: dict[int, tuple[tuple[float, float], tuple[float, float]]]) -> Experiment:
    """One Half-Cheetah row of SG-MRL Table 2, `task` ("Random Direction", "Random Velocity") on
    `env_id`, with the settings both rows share (released-code settings, sgmrl_mujoco.json,
    docs/sources/sgmrl.md §3): `sgmrl_vs_maml` at 40 tasks per iteration and `action_scale` 0.1,
    ProMP's cheetah ("promp" preset) with the config's horizon 200, 400 iterations, 4 seeds, 3
    adaptation rounds of 20 episodes, R_k from 20 evaluation episodes. `paper` maps ζ to
    ((SG-MRL mean, ±), (MAML mean, ±)) of the ζ-step agents, the targets at k = ζ."""
    targets = tuple(Target("SG-MRL Table 2", f"{label} ({steps} step)", steps, *paper[steps][i])
                    for steps in sorted(paper) for i, label in enumerate(("SG-MRL", "MAML")))
    quick = {"iterations": 1, "seeds": 1, "max_test_tasks": 2,
             "config": {"tasks_per_iteration": 2, "episodes_per_task": 1, "hidden_sizes": [8]},
             "protocol": {"evaluation_episodes": 1, "adaptation_episodes": 1}}
    return Experiment(
        name=name,
        description=f"SG-MRL Table 2: Half-Cheetah {task}, SG-MRL vs MAML, 1-3 inner steps, 400 iterations",
        env_id=env_id,
        env_kwargs={"preset": "promp", "horizon": 200},
        agents=sgmrl_vs_maml(tasks_per_iteration=40, action_scale=0.1),
        iterations=400,
        seeds=4,
        protocol=MetaTestProtocol(adaptation_steps=3, evaluation_episodes=20, adaptation_episodes=20),
        targets=targets,
        quick=quick,
    )


def bomrl_cheetah(lam_alg2: float) -> dict[str, Any]:
    """The Experiment fields BO-MRL's two Half-Cheetah panels of Fig. 2 share (docs/sources/bomrl.md §3.2):
    "BO-MRL (i)" for Alg(1) (λ 0.5), Alg(2) (λ `lam_alg2`) and Alg(3) (λ 5.0, not reported), 500
    iterations, 3 seeds, 3 adaptation rounds of 20 episodes, R_k from 20 evaluation episodes."""
    agents = tuple(AgentSpec(f"BO-MRL ({i})", "baselines.bomrl_deep:DeepBOMRL", {"divergence": i, "lam": lam})
                   for i, lam in ((1, 0.5), (2, lam_alg2), (3, 5.0)))
    quick = {"iterations": 1, "seeds": 1, "max_test_tasks": 2,
             "config": {"tasks_per_iteration": 2, "episodes_per_task": 1, "hidden_sizes": [8], "inner_iterations": 3,
                        "hypergradient_cg_iterations": 2, "cg_iterations": 2},
             "protocol": {"evaluation_episodes": 1, "adaptation_episodes": 1}}
    return {"agents": agents, "iterations": 500, "seeds": 3, "quick": quick,
            "protocol": MetaTestProtocol(adaptation_steps=3, evaluation_episodes=20, adaptation_episodes=20)}
